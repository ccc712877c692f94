//! Loop creator-marketplace: brands hire creators.
//!
//! - Analytics ([`analytics`]): one consumer group reads `engagement.v1`
//!   (views), `content.v1` (videos, follows, likes, comments, shares, viewer
//!   profiles) and `wallet.v1` (gifts), dedupes by event id and stores the
//!   facts; every number the API shows is a query over those facts, so it
//!   equals a recount of the raw events and a replay rebuilds it. A refresher
//!   copies each changed creator's metrics into the search projection.
//! - Search ([`search`]): one indexed table, keyset pagination.
//! - Creators ([`creators`]): applications (18+, follower minimum, reapply
//!   after 30 days), profiles, admin review.
//! - Campaigns ([`campaigns`]): campaigns, invitations, applications,
//!   threads, deliverables, reports; money moves through wallet escrow
//!   ([`escrow`]) with keys derived from the collaboration, so retries never
//!   pay twice. A sweeper ([`sweeper`]) refunds expired escrows, finishes
//!   interrupted releases and auto-approves stale submissions.

pub mod analytics;
mod campaigns;
mod creators;
pub mod error;
pub mod escrow;
mod model;
pub mod search;
mod service;
mod studio;
pub mod sweeper;

use std::sync::Arc;
use std::time::Duration;

use loop_platform::config::{
    AuthConfig, DatabaseConfig, GrpcServerConfig, KafkaConfig, TelemetryConfig, Validate,
    validate_service_url,
};
use loop_platform::kafka::{ConsumerOptions, Producer, topics};
use loop_proto::creator_marketplace::v1::creator_marketplace_service_server::CreatorMarketplaceServiceServer;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use service::MarketplaceService;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The fully-qualified gRPC service name (for health checks).
pub const SERVICE_NAME: &str = "loop.creator_marketplace.v1.CreatorMarketplaceService";

/// The identity this service presents to the wallet and content.
pub const SERVICE_SUBJECT: &str = "service:creator-marketplace";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub grpc: GrpcServerConfig,
    pub database: DatabaseConfig,
    pub kafka: KafkaConfig,
    pub auth: AuthConfig,
    pub telemetry: TelemetryConfig,
    pub services: ServicesConfig,
    pub consumer: ConsumerConfig,
    pub marketplace: MarketplaceConfig,
    pub jobs: JobsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServicesConfig {
    /// Content service (users' ages and followers, videos of deliverables).
    pub content_url: String,
    /// Wallet service (escrow).
    pub wallet_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Consumer group reading engagement.v1, content.v1 and wallet.v1 into
    /// the analytics (shared by every replica; a new group id replays).
    pub group_id: String,
    pub max_batch: usize,
    pub max_wait_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MarketplaceConfig {
    /// Followers a creator needs to apply.
    pub min_followers: u64,
    /// Minimum age to apply.
    pub min_age: i32,
    /// Days after a rejection before a creator may apply again.
    pub reapply_after_days: i64,
    /// Platform fee on released escrow, basis points (1000 = 10%).
    pub platform_fee_bps: u32,
    /// How far ahead a campaign deadline must be at creation.
    pub min_deadline_lead_secs: i64,
    /// A submission neither approved nor sent back within this long after
    /// the later of submission and deadline is approved automatically.
    pub auto_approve_after_secs: i64,
    /// Wallet call deadline.
    pub wallet_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// How often the refresher recomputes creators marked dirty.
    pub refresh_interval_ms: u64,
    /// Creators recomputed per refresher round.
    pub refresh_batch: i64,
    /// Recompute every creator whose projection is older than this (the
    /// 30-day window slides without events).
    pub stale_after_secs: u64,
    /// How often the sweeper looks for expired and unpaid collaborations.
    pub sweep_interval_ms: u64,
    /// How long consumed event ids are remembered (dedupe of redelivery).
    /// A consumer only redelivers from its committed offset, so this need
    /// only outlast replays: keep it at least the topics' retention (7 days
    /// by default), or a replay of older events counts them again.
    pub processed_retention_hours: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            grpc: GrpcServerConfig {
                listen_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 50065)),
            },
            database: DatabaseConfig::local("marketplace"),
            kafka: KafkaConfig::default(),
            auth: AuthConfig::development("creator-marketplace"),
            telemetry: TelemetryConfig::with_metrics_port(9465),
            services: ServicesConfig {
                content_url: "http://127.0.0.1:50061".into(),
                wallet_url: "http://127.0.0.1:50064".into(),
            },
            consumer: ConsumerConfig {
                group_id: "creator-marketplace-analytics".into(),
                max_batch: 500,
                max_wait_ms: 20,
            },
            marketplace: MarketplaceConfig {
                min_followers: 1000,
                min_age: 18,
                reapply_after_days: 30,
                platform_fee_bps: 1000,
                min_deadline_lead_secs: 24 * 3600,
                auto_approve_after_secs: 7 * 24 * 3600,
                wallet_timeout_ms: 5000,
            },
            jobs: JobsConfig {
                refresh_interval_ms: 500,
                refresh_batch: 500,
                stale_after_secs: 6 * 3600,
                sweep_interval_ms: 5000,
                processed_retention_hours: 7 * 24,
            },
        }
    }
}

impl Validate for Config {
    fn development_only(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.auth.development_only(&mut out);
        out
    }

    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        self.database.validate_into(&mut p);
        self.kafka.validate_into(&mut p);
        self.auth.validate_into("creator-marketplace", true, &mut p);
        validate_service_url("services.content_url", &self.services.content_url, &mut p);
        validate_service_url("services.wallet_url", &self.services.wallet_url, &mut p);
        if self.consumer.group_id.trim().is_empty() {
            p.push("consumer.group_id: must not be empty".into());
        }
        if !(1..=10_000).contains(&self.consumer.max_batch) {
            p.push("consumer.max_batch: must be 1..=10000".into());
        }
        if self.consumer.max_wait_ms > 10_000 {
            p.push("consumer.max_wait_ms: at most 10000".into());
        }
        let m = &self.marketplace;
        if !(13..=120).contains(&m.min_age) {
            p.push("marketplace.min_age: must be 13..=120".into());
        }
        if !(0..=3650).contains(&m.reapply_after_days) {
            p.push("marketplace.reapply_after_days: must be 0..=3650".into());
        }
        if m.platform_fee_bps > 10_000 {
            p.push("marketplace.platform_fee_bps: must be 0..=10000".into());
        }
        if !(0..=365 * 24 * 3600).contains(&m.min_deadline_lead_secs) {
            p.push("marketplace.min_deadline_lead_secs: must be 0..=31536000".into());
        }
        if !(60..=365 * 24 * 3600).contains(&m.auto_approve_after_secs) {
            p.push("marketplace.auto_approve_after_secs: must be 60..=31536000".into());
        }
        if !(50..=60_000).contains(&m.wallet_timeout_ms) {
            p.push("marketplace.wallet_timeout_ms: must be 50..=60000".into());
        }
        let j = &self.jobs;
        if !(10..=60_000).contains(&j.refresh_interval_ms) {
            p.push("jobs.refresh_interval_ms: must be 10..=60000".into());
        }
        if !(1..=100_000).contains(&j.refresh_batch) {
            p.push("jobs.refresh_batch: must be 1..=100000".into());
        }
        if !(60..=7 * 24 * 3600).contains(&j.stale_after_secs) {
            p.push("jobs.stale_after_secs: must be 60..=604800".into());
        }
        if !(10..=3_600_000).contains(&j.sweep_interval_ms) {
            p.push("jobs.sweep_interval_ms: must be 10..=3600000".into());
        }
        if !(1..=24 * 366).contains(&j.processed_retention_hours) {
            p.push("jobs.processed_retention_hours: must be 1..=8784".into());
        }
        p
    }
}

/// Connects, migrates, then serves gRPC, consumes the analytics topics and
/// runs the refresher and the sweeper until `shutdown`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let pool = loop_platform::db::connect(&config.database).await?;
    if config.database.migrate {
        MIGRATOR.run(&pool).await?;
    }
    // Retry: the broker may still be starting.
    let mut attempt = 0;
    loop {
        match loop_platform::kafka::ensure_topics(
            &config.kafka,
            &[
                topics::ENGAGEMENT,
                topics::CONTENT,
                topics::WALLET,
                topics::COMMERCE,
            ],
        )
        .await
        {
            Ok(()) => break,
            Err(err) if attempt < 30 && !shutdown.is_cancelled() => {
                attempt += 1;
                tracing::warn!(error = ?err, attempt, "topics not ready; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(err) => return Err(err),
        }
    }
    let producer = Producer::new(&config.kafka, "loop-creator-marketplace")?;
    let config = Arc::new(config);
    let keys = config.auth.keys()?;
    let service = MarketplaceService::new(pool.clone(), keys, config.clone())?;

    let mut tasks = Vec::new();
    {
        let mut opts = ConsumerOptions::new(
            &config.consumer.group_id,
            &[
                topics::ENGAGEMENT,
                topics::CONTENT,
                topics::WALLET,
                topics::COMMERCE,
            ],
        );
        opts.max_batch = config.consumer.max_batch;
        opts.max_wait = Duration::from_millis(config.consumer.max_wait_ms);
        let handler = analytics::AnalyticsHandler::new(pool.clone(), &config.kafka);
        tasks.push(tokio::spawn(loop_platform::kafka::run_consumer(
            config.kafka.clone(),
            opts,
            producer.clone(),
            handler,
            shutdown.clone(),
        )));
    }
    tasks.push(tokio::spawn(analytics::run_refresher(
        pool.clone(),
        config.clone(),
        shutdown.clone(),
    )));
    tasks.push(tokio::spawn(sweeper::run(
        service.clone(),
        shutdown.clone(),
    )));

    let routes = tonic::service::Routes::new(CreatorMarketplaceServiceServer::new(service));
    let served =
        loop_platform::grpc::serve(routes, &[SERVICE_NAME], listener, shutdown.clone()).await;
    shutdown.cancel();
    loop_platform::runtime::join_background(tasks).await;
    pool.close().await;
    served
}
