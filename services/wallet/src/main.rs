#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = loop_platform::runtime::parse_args(
        "loop-wallet",
        "Loop wallet service (gRPC): coins, gifts, diamonds, payouts, escrow and ad budgets on a double-entry ledger",
        "Examples:\n  loop-wallet\n  loop-wallet --config wallet.toml\n  loop-wallet healthcheck\n  LOOP_WALLET__GRPC__LISTEN_ADDR=0.0.0.0:50064 loop-wallet",
    );
    let config: loop_wallet::Config =
        match loop_platform::runtime::load_config("wallet", args.config.as_deref()) {
            Ok(config) => config,
            Err(code) => return code,
        };
    if args.healthcheck() {
        return loop_platform::grpc::healthcheck(
            config.grpc.listen_addr,
            loop_wallet::SERVICE_NAME,
        )
        .await;
    }
    let (telemetry, listen) = (config.telemetry.clone(), config.grpc.listen_addr);
    loop_platform::runtime::serve_main("wallet", &telemetry, listen, |l, s| {
        loop_wallet::run(config, l, s)
    })
    .await
}
