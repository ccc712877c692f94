//! Loop media service.
//!
//! Owns the `media` PostgreSQL database (upload sessions, which are also the
//! processing jobs) and an object store (a local folder by default, any
//! S3-compatible store by configuration). Creators upload in resumable
//! chunks (the gateway speaks tus 1.0 over HTTP; this service owns the
//! state); a completed upload is probed and transcoded to HLS renditions
//! and a poster by the [`worker`], then `media.v1` events leave through the
//! transactional outbox. See docs/media.md.

pub mod config;
pub mod error;
pub mod events;
pub mod ffmpeg;
pub mod metrics;
pub mod store;
pub mod uploads;
pub mod videos;
pub mod worker;

mod service;

use std::sync::Arc;
use std::time::Duration;

use loop_platform::kafka::{ConsumerOptions, Producer, topics};
use loop_platform::outbox::Relay;
use loop_proto::media::v1::media_service_server::MediaServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use service::{MAX_READ_BYTES, MediaService, ReadyCache};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The consumer group following `content.v1` (published and removed
/// videos), behind the topic prefix like the topics.
pub const CONTENT_GROUP: &str = "loop-media-content";

/// The fully-qualified gRPC service name (for health checks).
pub const SERVICE_NAME: &str = "loop.media.v1.MediaService";

/// Connects, migrates, creates the topic, then serves gRPC, relays the
/// outbox, processes uploads and sweeps abandoned ones until `shutdown`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let pool = loop_platform::db::connect(&config.database).await?;
    loop_platform::outbox::ensure_schema(&pool).await?;
    if config.database.migrate {
        MIGRATOR.run(&pool).await?;
    }
    let store = store::Store::open(&config.storage)?;
    let mut attempt = 0u32;
    while let Err(err) =
        loop_platform::kafka::ensure_topics(&config.kafka, &[topics::MEDIA, topics::CONTENT]).await
    {
        attempt += 1;
        if attempt >= 10 || shutdown.is_cancelled() {
            return Err(err.context("creating the media.v1 and content.v1 topics"));
        }
        tracing::warn!(error = %err, attempt, "cannot create the media.v1 topic yet; retrying");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let config = Arc::new(config);
    let worker_wake = Arc::new(tokio::sync::Notify::new());
    let ready = ReadyCache::default();
    let mut tasks = Vec::new();
    let producer = Producer::new(&config.kafka, "loop-media")?;
    if config.outbox.relay_enabled {
        let relay = Relay::new(pool.clone(), producer.clone(), &config.outbox);
        tasks.push(tokio::spawn(relay.run(shutdown.clone())));
    }
    // Published and removed videos: which outputs are kept.
    tasks.push(tokio::spawn(loop_platform::kafka::run_consumer(
        config.kafka.clone(),
        ConsumerOptions::new(&config.kafka.topic(CONTENT_GROUP), &[topics::CONTENT]),
        producer,
        videos::ContentHandler {
            pool: pool.clone(),
            store: store.clone(),
            ready: ready.clone(),
            worker_wake: worker_wake.clone(),
        },
        shutdown.clone(),
    )));
    if config.processing.enabled {
        tokio::fs::create_dir_all(&config.processing.work_dir).await?;
        let worker = worker::Worker::new(
            pool.clone(),
            store.clone(),
            config.clone(),
            worker_wake.clone(),
        )
        .with_ready_cache(ready.clone());
        tasks.push(tokio::spawn(worker.run(shutdown.clone())));
    }
    tasks.push(tokio::spawn(uploads::run_sweeper(
        pool.clone(),
        store.clone(),
        ready.clone(),
        Duration::from_millis(config.uploads.sweep_interval_ms),
        shutdown.clone(),
    )));
    let service = MediaService::new(
        pool.clone(),
        store,
        config.auth.keys()?,
        config.clone(),
        worker_wake,
        ready,
    );
    let routes = tonic::service::Routes::new(MediaServiceServer::new(service));
    let served =
        loop_platform::grpc::serve(routes, &[SERVICE_NAME], listener, shutdown.clone()).await;
    shutdown.cancel();
    loop_platform::runtime::join_background(tasks).await;
    pool.close().await;
    served
}
