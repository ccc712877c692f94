#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = loop_platform::runtime::parse_args(
        "loop-content",
        "Loop content service (gRPC): users, videos, social graph, moderation, LIVE rooms",
        "Examples:\n  loop-content\n  loop-content --config content.toml\n  loop-content healthcheck\n  LOOP_CONTENT__GRPC__LISTEN_ADDR=0.0.0.0:50061 loop-content",
    );
    let config: loop_content::Config =
        match loop_platform::runtime::load_config("content", args.config.as_deref()) {
            Ok(config) => config,
            Err(code) => return code,
        };
    if args.healthcheck() {
        return loop_platform::grpc::healthcheck(
            config.grpc.listen_addr,
            loop_content::SERVICE_NAME,
        )
        .await;
    }
    let (telemetry, listen) = (config.telemetry.clone(), config.grpc.listen_addr);
    loop_platform::runtime::serve_main("content", &telemetry, listen, |l, s| {
        loop_content::run(config, l, s)
    })
    .await
}
