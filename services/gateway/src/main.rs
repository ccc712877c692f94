use std::path::PathBuf;

use clap::Parser;

/// Loop API gateway: the HTTP/JSON API clients use (OpenAPI at /openapi.json).
#[derive(Parser)]
#[command(
    version,
    about,
    after_help = "Examples:\n  loop-gateway\n  loop-gateway --config gateway.toml\n  loop-gateway healthcheck\n  LOOP_GATEWAY__HTTP__LISTEN_ADDR=0.0.0.0:8080 loop-gateway"
)]
struct Args {
    /// Optional TOML config file; env vars LOOP_GATEWAY__<KEY> override it.
    #[arg(long, env = "LOOP_GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Exit 0 when the running gateway answers GET /healthz (for container health checks).
    Healthcheck,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let config: loop_gateway::Config =
        match loop_platform::runtime::load_config("gateway", args.config.as_deref()) {
            Ok(config) => config,
            Err(code) => return code,
        };
    if let Some(Command::Healthcheck) = args.command {
        return loop_gateway::healthcheck(config.http.listen_addr).await;
    }
    let (telemetry, listen) = (config.telemetry.clone(), config.http.listen_addr);
    loop_platform::runtime::serve_main("gateway", &telemetry, listen, |listener, shutdown| {
        loop_gateway::run(config, listener, shutdown)
    })
    .await
}
