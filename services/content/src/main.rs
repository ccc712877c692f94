use std::path::PathBuf;

use clap::Parser;

/// Loop content service (gRPC): users, videos, social graph, moderation, LIVE rooms.
#[derive(Parser)]
#[command(
    version,
    about,
    after_help = "Examples:\n  loop-content\n  loop-content --config content.toml\n  loop-content healthcheck\n  LOOP_CONTENT__GRPC__LISTEN_ADDR=0.0.0.0:50061 loop-content"
)]
struct Args {
    /// Optional TOML config file; env vars LOOP_CONTENT__<KEY> override it.
    #[arg(long, env = "LOOP_CONTENT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Exit 0 when the running service reports SERVING (for container health checks).
    Healthcheck,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let config: loop_content::Config =
        match loop_platform::runtime::load_config("content", args.config.as_deref()) {
            Ok(config) => config,
            Err(code) => return code,
        };
    if let Some(Command::Healthcheck) = args.command {
        return loop_platform::grpc::healthcheck(
            config.grpc.listen_addr,
            loop_content::SERVICE_NAME,
        )
        .await;
    }
    let (telemetry, listen) = (config.telemetry.clone(), config.grpc.listen_addr);
    loop_platform::runtime::serve_main("content", &telemetry, listen, |listener, shutdown| {
        loop_content::run(config, listener, shutdown)
    })
    .await
}
