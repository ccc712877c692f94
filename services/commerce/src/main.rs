#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = loop_platform::runtime::parse_args(
        "loop-commerce",
        "Loop commerce service (gRPC): shops, products, orders, escrowed payment, refunds, settlement",
        "Examples:\n  loop-commerce\n  loop-commerce --config commerce.toml\n  loop-commerce healthcheck\n  LOOP_COMMERCE__ORDERS__SETTLE_AFTER_DAYS=7 loop-commerce",
    );
    let config: loop_commerce::Config =
        match loop_platform::runtime::load_config("commerce", args.config.as_deref()) {
            Ok(config) => config,
            Err(code) => return code,
        };
    if args.healthcheck() {
        return loop_platform::grpc::healthcheck(
            config.grpc.listen_addr,
            loop_commerce::SERVICE_NAME,
        )
        .await;
    }
    let (telemetry, listen) = (config.telemetry.clone(), config.grpc.listen_addr);
    loop_platform::runtime::serve_main("commerce", &telemetry, listen, |l, s| {
        loop_commerce::run(config, l, s)
    })
    .await
}
