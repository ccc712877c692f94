use std::path::PathBuf;

use clap::Parser;

/// Loop feed-ranking service (gRPC): For You and Following feeds that learn from engagement.
#[derive(Parser)]
#[command(
    version,
    about,
    after_help = "Examples:\n  loop-feed-ranking\n  loop-feed-ranking --config ranker.toml\n  loop-feed-ranking healthcheck\n  LOOP_FEED_RANKING__LEARNING__LEARNING_RATE=0.1 loop-feed-ranking"
)]
struct Args {
    /// Optional TOML config file; env vars LOOP_FEED_RANKING__<KEY> override it.
    #[arg(long, env = "LOOP_FEED_RANKING_CONFIG")]
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
    let config: loop_feed_ranking::Config =
        match loop_platform::runtime::load_config("feed-ranking", args.config.as_deref()) {
            Ok(config) => config,
            Err(code) => return code,
        };
    if let Some(Command::Healthcheck) = args.command {
        return loop_platform::grpc::healthcheck(
            config.grpc.listen_addr,
            loop_feed_ranking::SERVICE_NAME,
        )
        .await;
    }
    let (telemetry, listen) = (config.telemetry.clone(), config.grpc.listen_addr);
    loop_platform::runtime::serve_main("feed-ranking", &telemetry, listen, |listener, shutdown| {
        loop_feed_ranking::run(config, listener, shutdown)
    })
    .await
}
