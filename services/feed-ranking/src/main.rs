#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = loop_platform::runtime::parse_args(
        "loop-feed-ranking",
        "Loop feed-ranking service (gRPC): For You and Following feeds that learn from engagement",
        "Examples:\n  loop-feed-ranking\n  loop-feed-ranking --config ranker.toml\n  loop-feed-ranking healthcheck\n  LOOP_FEED_RANKING__LEARNING__LEARNING_RATE=0.1 loop-feed-ranking",
    );
    let config: loop_feed_ranking::Config =
        match loop_platform::runtime::load_config("feed-ranking", args.config.as_deref()) {
            Ok(config) => config,
            Err(code) => return code,
        };
    if args.healthcheck() {
        return loop_platform::grpc::healthcheck(
            config.grpc.listen_addr,
            loop_feed_ranking::SERVICE_NAME,
        )
        .await;
    }
    let (telemetry, listen) = (config.telemetry.clone(), config.grpc.listen_addr);
    loop_platform::runtime::serve_main("feed-ranking", &telemetry, listen, |l, s| {
        loop_feed_ranking::run(config, l, s)
    })
    .await
}
