#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = loop_platform::runtime::parse_args(
        "loop-creator-marketplace",
        "Loop creator-marketplace service (gRPC): creator analytics, search, campaigns, escrowed payment",
        "Examples:\n  loop-creator-marketplace\n  loop-creator-marketplace --config marketplace.toml\n  loop-creator-marketplace healthcheck\n  LOOP_CREATOR_MARKETPLACE__MARKETPLACE__MIN_FOLLOWERS=500 loop-creator-marketplace",
    );
    let config: loop_creator_marketplace::Config =
        match loop_platform::runtime::load_config("creator-marketplace", args.config.as_deref()) {
            Ok(config) => config,
            Err(code) => return code,
        };
    if args.healthcheck() {
        return loop_platform::grpc::healthcheck(
            config.grpc.listen_addr,
            loop_creator_marketplace::SERVICE_NAME,
        )
        .await;
    }
    let (telemetry, listen) = (config.telemetry.clone(), config.grpc.listen_addr);
    loop_platform::runtime::serve_main("creator-marketplace", &telemetry, listen, |l, s| {
        loop_creator_marketplace::run(config, l, s)
    })
    .await
}
