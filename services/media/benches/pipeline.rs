//! `make bench`: the media pipeline against ffmpeg alone, and the gateway's
//! signed segment serving against a plain static server, each baseline
//! measured in the same run on the same file.
//!
//! 1. Processing: a generated clip (LOOP_BENCH_MEDIA_SECONDS, 60 s of
//!    1280x720 test pattern + tone) is uploaded to a media service running
//!    in process (real Postgres, broker, local store); the time from its
//!    last chunk to `ready` is the pipeline's (assemble, probe, transcode,
//!    poster, store, commit). The baseline runs the same ffmpeg arguments
//!    (`loop_media::ffmpeg::{hls_args, poster_args}`) directly on the same
//!    file, once before the pipeline and once after (the baseline is their
//!    mean). Target: at most 1.2x, per minute of video.
//! 2. Serving: GETs of one processed segment through the gateway's signed
//!    URL (HMAC check, ReadObject from the media service, streamed back)
//!    against an axum handler returning the same file from disk, with the
//!    same concurrency (LOOP_BENCH_MEDIA_CONCURRENCY, 8) and request count.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::field_reassign_with_default
)]

use std::path::Path;
use std::time::{Duration, Instant};

use loop_platform::auth::Role;
use loop_platform::bench::{Figure, env_usize};
use loop_platform::testing::{self, TestDb, TestKeys};
use loop_proto::media::v1 as pb;
use loop_proto::media::v1::media_service_client::MediaServiceClient;
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn generate(path: &Path, seconds: usize) {
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!("testsrc=size=1280x720:rate=30:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=440:sample_rate=44100:duration={seconds}"
        ))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(path)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
}

/// ffmpeg alone: the pipeline's transcode and poster arguments, run directly.
fn ffmpeg_direct(config: &loop_media::Config, source: &Path, out: &Path, seconds: usize) -> f64 {
    let _ = std::fs::remove_dir_all(out);
    let probe = loop_media::ffmpeg::Probe {
        duration_ms: u32::try_from(seconds * 1000).unwrap(),
        width: 1280,
        height: 720,
        video_codec: "h264".into(),
        audio_codec: Some("aac".into()),
        format: "mov".into(),
    };
    let renditions = loop_media::ffmpeg::plan(&config.processing.renditions, 1280, 720);
    for r in &renditions {
        std::fs::create_dir_all(out.join(&r.name)).unwrap();
    }
    let started = Instant::now();
    let hls = loop_media::ffmpeg::hls_args(&config.processing, source, out, &renditions, &probe);
    assert!(
        std::process::Command::new("ffmpeg")
            .args(&hls)
            .status()
            .unwrap()
            .success()
    );
    let poster = loop_media::ffmpeg::poster_args(source, out, &probe, &renditions[0]);
    assert!(
        std::process::Command::new("ffmpeg")
            .args(&poster)
            .status()
            .unwrap()
            .success()
    );
    started.elapsed().as_secs_f64()
}

async fn serve_static(file: std::path::PathBuf) -> (String, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let app = axum::Router::new().route(
        "/seg.ts",
        axum::routing::get(move || {
            let file = file.clone();
            async move {
                let bytes = tokio::fs::read(&file).await.unwrap();
                ([(http_content_type(), "video/mp2t")], bytes)
            }
        }),
    );
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .unwrap();
    });
    (format!("http://{addr}/seg.ts"), shutdown)
}

fn http_content_type() -> axum::http::HeaderName {
    axum::http::header::CONTENT_TYPE
}

/// Bytes per second fetching `url` `requests` times, `concurrency` at once.
async fn throughput(url: &str, requests: usize, concurrency: usize) -> f64 {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers = (0..concurrency).map(|_| {
        let (client, next, url) = (client.clone(), next.clone(), url.to_owned());
        tokio::spawn(async move {
            let mut bytes = 0usize;
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                let r = client.get(&url).send().await.unwrap();
                assert!(r.status().is_success(), "{}", r.status());
                bytes += r.bytes().await.unwrap().len();
            }
            bytes
        })
    });
    let mut total = 0;
    for w in workers {
        total += w.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn signed(upload_id: &str, file: &str) -> String {
    let key = loop_platform::playback::DEV_URL_KEY.as_bytes();
    let expires = loop_platform::playback::now_secs() + 600;
    let sig = loop_platform::playback::sign(key, upload_id, expires);
    format!("/media/{upload_id}/{expires}/{sig}/{file}")
}

fn request<T>(token: &str, message: T) -> tonic::Request<T> {
    loop_platform::grpc::request(message, Some(token), Duration::from_secs(30))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let seconds = env_usize("LOOP_BENCH_MEDIA_SECONDS", 60);
    let concurrency = env_usize("LOOP_BENCH_MEDIA_CONCURRENCY", 8);
    let requests = env_usize("LOOP_BENCH_MEDIA_REQUESTS", 400);
    testing::init_telemetry();
    let prefix = testing::unique("mediabench");
    let root = std::env::temp_dir().join(format!("loop-{prefix}"));
    std::fs::create_dir_all(&root).unwrap();
    let source = root.join("clip.mp4");
    generate(&source, seconds);

    // The media service and a gateway in front of it.
    let db = TestDb::create("mediabench").await;
    let mut config = loop_media::Config::default();
    config.database = db.config.clone();
    config.kafka = testing::kafka_config(&prefix);
    config.storage.local_dir = root.join("store");
    config.processing.work_dir = root.join("work");
    config.processing.poll_interval_ms = 20;
    config.outbox.poll_interval_ms = 50;
    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let media_addr = listener.local_addr().unwrap();
    let media = tokio::spawn(loop_media::run(config.clone(), listener, shutdown.clone()));
    let mut gateway = loop_gateway::Config::default();
    gateway.services.media_url = format!("http://{media_addr}");
    gateway.redis = testing::redis_config(&prefix);
    gateway.kafka = config.kafka.clone();
    gateway.rate_limit.enabled = false;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway_addr = listener.local_addr().unwrap();
    let gw = tokio::spawn(loop_gateway::run(gateway, listener, shutdown.clone()));

    let channel = loop_platform::grpc::channel(&format!("http://{media_addr}")).unwrap();
    let mut client = MediaServiceClient::new(channel);
    let token = TestKeys.issue(
        &uuid::Uuid::now_v7().to_string(),
        Role::Creator,
        Duration::from_secs(3600),
    );
    let bytes = std::fs::read(&source).unwrap();
    // ffmpeg alone runs once before the pipeline and once after (same file,
    // same arguments); the baseline is their mean, so a machine whose load
    // drifts during the run does not favour either side.
    let direct_before = ffmpeg_direct(&config, &source, &root.join("direct"), seconds);
    let upload = testing::wait_for("media serving", Duration::from_secs(120), || {
        let mut client = client.clone();
        let r = request(
            &token,
            pb::CreateUploadRequest {
                size_bytes: bytes.len() as u64,
                content_type: "video/mp4".into(),
                filename: String::new(),
            },
        );
        async move { client.create_upload(r).await.ok().map(|r| r.into_inner()) }
    })
    .await;
    let chunk = config.uploads.max_chunk_bytes as usize;
    for (i, piece) in bytes.chunks(chunk).enumerate() {
        client
            .append_chunk(request(
                &token,
                pb::AppendChunkRequest {
                    upload_id: upload.upload_id.clone(),
                    offset: (i * chunk) as u64,
                    data: bytes::Bytes::copy_from_slice(piece),
                },
            ))
            .await
            .unwrap();
    }
    let completed = Instant::now();
    let ready = testing::wait_for("processing", Duration::from_secs(1800), || {
        let mut client = client.clone();
        let r = request(
            &token,
            pb::GetUploadRequest {
                upload_id: upload.upload_id.clone(),
            },
        );
        async move {
            let u = client.get_upload(r).await.ok()?.into_inner();
            (u.state() != pb::UploadState::Processing).then_some(u)
        }
    })
    .await;
    let pipeline = completed.elapsed().as_secs_f64();
    assert_eq!(
        ready.state(),
        pb::UploadState::Ready,
        "{}",
        ready.failure_reason
    );
    let direct_after = ffmpeg_direct(&config, &source, &root.join("direct"), seconds);
    let direct = (direct_before + direct_after) / 2.0;
    let minutes = seconds as f64 / 60.0;

    // Serving one 720p segment.
    let segment = root.join("direct/720p/seg_00001.ts");
    let (static_url, stop_static) = serve_static(segment.clone()).await;
    let gateway_url = format!(
        "http://{gateway_addr}{}",
        signed(&upload.upload_id, "720p/seg_00001.ts")
    );
    testing::wait_for("gateway serving", Duration::from_secs(60), || async {
        reqwest::get(&gateway_url)
            .await
            .ok()
            .filter(|r| r.status().is_success())
            .map(|_| ())
    })
    .await;
    let warm = requests / 10;
    throughput(&gateway_url, warm, concurrency).await;
    throughput(&static_url, warm, concurrency).await;
    let via_gateway = throughput(&gateway_url, requests, concurrency).await;
    let via_static = throughput(&static_url, requests, concurrency).await;
    let segment_bytes = std::fs::metadata(&segment).unwrap().len();

    let mib = 1024.0 * 1024.0;
    let figures = vec![
        Figure::new(
            "processing time per minute of video",
            pipeline / minutes,
            "s",
        )
        .against("ffmpeg run directly on the same file", direct / minutes)
        .at_most(1.2),
        Figure::new(
            format!(
                "segment serving through signed URLs ({} KiB, {concurrency} at once)",
                segment_bytes / 1024
            ),
            via_gateway / mib,
            "MiB/s",
        )
        .against("a plain static server, same file", via_static / mib),
    ];
    loop_platform::bench::report(
        "media",
        &format!("{seconds} s 1280x720 clip -> 720p + 360p HLS + poster (preset {}), {requests} segment GETs", config.processing.preset),
        &figures,
        json!({"pipeline_s": pipeline, "ffmpeg_direct_s": direct, "ffmpeg_direct_before_s": direct_before, "ffmpeg_direct_after_s": direct_after, "video_s": seconds, "gateway_bytes_per_s": via_gateway, "static_bytes_per_s": via_static}),
    )
    .expect("write report");
    stop_static.cancel();
    shutdown.cancel();
    let _ = media.await;
    let _ = gw.await;
    testing::clear_redis(&testing::redis_config(&prefix)).await;
    drop(db);
    let _ = std::fs::remove_dir_all(&root);
}
