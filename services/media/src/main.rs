#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = loop_platform::runtime::parse_args(
        "loop-media",
        "Loop media service (gRPC): resumable uploads, ffmpeg processing into HLS renditions and a poster, reads for signed playback",
        "Examples:\n  loop-media\n  loop-media --config media.toml\n  loop-media healthcheck\n  LOOP_MEDIA__STORAGE__LOCAL_DIR=/var/lib/loop/media loop-media",
    );
    let config: loop_media::Config =
        match loop_platform::runtime::load_config("media", args.config.as_deref()) {
            Ok(config) => config,
            Err(code) => return code,
        };
    if args.healthcheck() {
        return loop_platform::grpc::healthcheck(config.grpc.listen_addr, loop_media::SERVICE_NAME)
            .await;
    }
    let (telemetry, listen) = (config.telemetry.clone(), config.grpc.listen_addr);
    loop_platform::runtime::serve_main("media", &telemetry, listen, |l, s| {
        loop_media::run(config, l, s)
    })
    .await
}
