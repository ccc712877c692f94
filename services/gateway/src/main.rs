#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = loop_platform::runtime::parse_args(
        "loop-gateway",
        "Loop API gateway: the HTTP/JSON API clients use (OpenAPI at /openapi.json)",
        "Examples:\n  loop-gateway\n  loop-gateway --config gateway.toml\n  loop-gateway healthcheck\n  LOOP_GATEWAY__HTTP__LISTEN_ADDR=0.0.0.0:8080 loop-gateway",
    );
    let config: loop_gateway::Config =
        match loop_platform::runtime::load_config("gateway", args.config.as_deref()) {
            Ok(config) => config,
            Err(code) => return code,
        };
    if args.healthcheck() {
        return loop_gateway::healthcheck(config.http.listen_addr).await;
    }
    let (telemetry, listen) = (config.telemetry.clone(), config.http.listen_addr);
    loop_platform::runtime::serve_main("gateway", &telemetry, listen, |l, s| {
        loop_gateway::run(config, l, s)
    })
    .await
}
