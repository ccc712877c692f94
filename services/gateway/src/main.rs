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
        match loop_platform::config::load("gateway", args.config.as_deref()) {
            Ok(c) => c,
            Err(err) => {
                eprintln!("loop-gateway: {err}");
                return std::process::ExitCode::from(2);
            }
        };
    if let Some(Command::Healthcheck) = args.command {
        return loop_gateway::healthcheck(config.http.listen_addr).await;
    }
    let _telemetry = match loop_platform::telemetry::init("gateway", &config.telemetry) {
        Ok(g) => g,
        Err(err) => {
            eprintln!("loop-gateway: telemetry: {err:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.http.listen_addr).await {
        Ok(l) => l,
        Err(err) => {
            tracing::error!(addr = %config.http.listen_addr, error = %err, "cannot bind");
            return std::process::ExitCode::FAILURE;
        }
    };
    match loop_gateway::run(config, listener, loop_platform::shutdown::on_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = ?err, "gateway failed");
            std::process::ExitCode::FAILURE
        }
    }
}
