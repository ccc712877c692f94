//! Loop content service.
//!
//! Owns the `content` PostgreSQL database. Every change other services care
//! about is written to the transactional outbox in the same transaction and
//! relayed to the `content.v1` topic.

mod catalog;
mod events;
mod live;
pub mod media_events;
mod model;
mod moderation;
mod service;
mod social;
mod users;
pub mod validate;
mod videos;

use std::sync::Arc;

use loop_platform::config::{
    AuthConfig, DatabaseConfig, GrpcServerConfig, KafkaConfig, Secret, TelemetryConfig, Validate,
};
use loop_platform::kafka::{ConsumerOptions, Producer, topics};
use loop_platform::outbox::{OutboxConfig, Relay};
use loop_proto::content::v1::content_service_server::ContentServiceServer;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use service::ContentService;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The fully-qualified gRPC service name (for health checks).
pub const SERVICE_NAME: &str = "loop.content.v1.ContentService";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub grpc: GrpcServerConfig,
    pub database: DatabaseConfig,
    pub kafka: KafkaConfig,
    pub auth: AuthConfig,
    pub telemetry: TelemetryConfig,
    pub outbox: OutboxConfig,
    pub moderation: ModerationConfig,
    pub bootstrap_admin: BootstrapAdminConfig,
    pub media: MediaConfig,
}

/// Where published videos' media comes from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// The media service: an upload is checked there (owner, ready,
    /// measured duration) when a video is published from it.
    pub url: String,
    pub timeout_ms: u64,
    /// Also accept a client-given `media_url` (with the client's
    /// duration) instead of an upload: the demo seed and older clients.
    /// Development only.
    pub allow_external_urls: bool,
}

/// An admin account created at start-up when missing (the first admin has to
/// come from somewhere). Leave the password empty to create none.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BootstrapAdminConfig {
    pub handle: String,
    pub password: Secret<String>,
}

/// Accepted only when `LOOP_ENV=development`.
pub const DEV_ADMIN_PASSWORD: &str = "loop-admin-dev-password";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModerationConfig {
    /// New videos wait in PENDING until an admin approves them.
    pub require_review: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            grpc: GrpcServerConfig {
                listen_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 50061)),
            },
            database: DatabaseConfig::local("content"),
            kafka: KafkaConfig::default(),
            auth: AuthConfig::development_verifier(),
            telemetry: TelemetryConfig::with_metrics_port(9461),
            outbox: OutboxConfig::every_ms(1000),
            moderation: ModerationConfig {
                require_review: false,
            },
            bootstrap_admin: BootstrapAdminConfig {
                handle: "admin".into(),
                password: Secret::new(DEV_ADMIN_PASSWORD.into()),
            },
            media: MediaConfig {
                url: "http://127.0.0.1:50067".into(),
                timeout_ms: 3000,
                allow_external_urls: true,
            },
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        self.database.validate_into(&mut problems);
        self.kafka.validate_into(&mut problems);
        self.auth.validate_into("content", false, &mut problems);
        self.outbox.validate_into(&mut problems);
        loop_platform::config::validate_service_url("media.url", &self.media.url, &mut problems);
        if !(50..=60_000).contains(&self.media.timeout_ms) {
            problems.push("media.timeout_ms: must be 50..=60000".into());
        }
        if !self.bootstrap_admin.password.expose().is_empty() {
            if let Err(err) = validate::handle(&self.bootstrap_admin.handle) {
                problems.push(format!("bootstrap_admin.{err}"));
            }
            if let Err(err) = validate::password(self.bootstrap_admin.password.expose()) {
                problems.push(format!("bootstrap_admin.{err}"));
            }
        }
        problems
    }

    fn development_only(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.auth.development_only(&mut out);
        if self.bootstrap_admin.password.expose() == DEV_ADMIN_PASSWORD {
            out.push("bootstrap_admin.password".into());
        }
        // Client-invented URLs and durations: nothing is checked.
        if self.media.allow_external_urls {
            out.push("media.allow_external_urls".into());
        }
        out
    }
}

/// Connects, migrates, creates topics, then serves gRPC, relays the outbox
/// and follows `media.v1` ([`media_events`]) until `shutdown`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let pool = loop_platform::db::connect(&config.database).await?;
    if config.database.migrate {
        MIGRATOR.run(&pool).await?;
    }
    loop_platform::outbox::ensure_schema(&pool).await?;
    if !config.bootstrap_admin.password.expose().is_empty() {
        users::ensure_bootstrap_admin(
            &pool,
            &config.bootstrap_admin.handle,
            config.bootstrap_admin.password.expose(),
        )
        .await?;
    }
    loop_platform::kafka::ensure_topics(&config.kafka, &[topics::CONTENT, topics::MEDIA]).await?;

    let producer = Producer::new(&config.kafka, "loop-content")?;
    let mut tasks = Vec::new();
    if config.outbox.relay_enabled {
        let relay = Relay::new(pool.clone(), producer.clone(), &config.outbox);
        tasks.push(tokio::spawn(relay.run(shutdown.clone())));
    }
    // What the media service measured (a rendered duet's or stitch's
    // duration and frame size) becomes the video's.
    tasks.push(tokio::spawn(loop_platform::kafka::run_consumer(
        config.kafka.clone(),
        ConsumerOptions::new(
            &config.kafka.topic(media_events::MEDIA_GROUP),
            &[topics::MEDIA],
        ),
        producer,
        media_events::MediaHandler { pool: pool.clone() },
        shutdown.clone(),
    )));

    let service = ContentService::new(pool.clone(), config.auth.keys()?, Arc::new(config));
    let routes = tonic::service::Routes::new(ContentServiceServer::new(service));
    let served =
        loop_platform::grpc::serve(routes, &[SERVICE_NAME], listener, shutdown.clone()).await;
    shutdown.cancel();
    loop_platform::runtime::join_background(tasks).await;
    pool.close().await;
    served
}
