#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = loop_platform::runtime::parse_args(
        "loop-ads-auction",
        "Loop ads-auction service (gRPC): campaigns, targeting, GSP auction, pacing, exactly-once billing",
        "Examples:\n  loop-ads-auction\n  loop-ads-auction --config ads.toml\n  loop-ads-auction healthcheck\n  LOOP_ADS_AUCTION__AUCTION__RESERVE_ECPM_MILLICENTS=200000 loop-ads-auction",
    );
    let config: loop_ads_auction::Config =
        match loop_platform::runtime::load_config("ads-auction", args.config.as_deref()) {
            Ok(config) => config,
            Err(code) => return code,
        };
    if args.healthcheck() {
        return loop_platform::grpc::healthcheck(
            config.grpc.listen_addr,
            loop_ads_auction::SERVICE_NAME,
        )
        .await;
    }
    let (telemetry, listen) = (config.telemetry.clone(), config.grpc.listen_addr);
    loop_platform::runtime::serve_main("ads-auction", &telemetry, listen, |l, s| {
        loop_ads_auction::run(config, l, s)
    })
    .await
}
