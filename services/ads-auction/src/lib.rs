//! Loop ads-auction: sells and serves ads.
//!
//! - Advertiser side (gRPC, through the gateway): campaigns, ad groups,
//!   creatives, TopView reservations, Branded Hashtag Challenges, Spark Ads,
//!   reports. State in the `ads` PostgreSQL database.
//! - Serving side (`FillAdSlots`, called by feed-ranking): an in-memory
//!   targeting index ([`index`]) finds eligible ad groups without scanning
//!   campaigns; one Redis Lua script per request checks frequency caps,
//!   pacing and budgets, runs the generalized second-price auction over the
//!   survivors and reserves what it serves ([`serving`]).
//! - Billing ([`billing`]): consumes the client-reported `ads.v1` events,
//!   verifies the signed impression tokens and records each billable action
//!   exactly once in Postgres (unique per impression and action), with
//!   `AdBilled` leaving through the transactional outbox.

pub mod auction;
pub mod billing;
mod campaigns;
mod challenges;
mod content_events;
mod creatives;
pub mod error;
mod idempotency;
pub mod index;
pub mod invalid;
mod model;
pub mod pacing;
pub mod predict;
mod reports;
mod service;
pub mod serving;
pub mod token;
mod topview;
pub mod validate;
pub mod wallet;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use loop_platform::cache::Redis;
use loop_platform::config::{
    AuthConfig, DatabaseConfig, GrpcServerConfig, KafkaConfig, RedisConfig, Secret,
    TelemetryConfig, Validate, validate_service_url,
};
use loop_platform::kafka::{ConsumerOptions, Producer, topics};
use loop_platform::outbox::{OutboxConfig, Relay};
use loop_proto::ads_auction::v1::ads_auction_service_server::AdsAuctionServiceServer;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use service::AdsService;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The fully-qualified gRPC service name (for health checks).
pub const SERVICE_NAME: &str = "loop.ads_auction.v1.AdsAuctionService";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub grpc: GrpcServerConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub kafka: KafkaConfig,
    pub auth: AuthConfig,
    pub telemetry: TelemetryConfig,
    pub services: ServicesConfig,
    pub outbox: OutboxConfig,
    pub consumer: ConsumerConfig,
    pub auction: AuctionConfig,
    pub pacing: PacingConfig,
    pub tokens: TokenConfig,
    pub billing: BillingConfig,
    pub prediction: predict::PredictionConfig,
    pub topview: TopViewConfig,
    pub challenge: ChallengeConfig,
    pub index: IndexConfig,
    pub wallet: WalletConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServicesConfig {
    /// Content service (videos of creatives, Spark codes, challenges).
    pub content_url: String,
    /// Wallet service (advertisers' cents), when `wallet.mode` is `grpc`.
    pub wallet_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Consumer group billing `ads.v1` (shared by every replica).
    pub billing_group_id: String,
    /// Consumer group following `content.v1` (removed videos).
    pub content_group_id: String,
    pub max_batch: usize,
    pub max_wait_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuctionConfig {
    /// Reserve price: the lowest eCPM (millicents per 1000 impressions) that
    /// may win a slot; the last winner pays at least this.
    pub reserve_ecpm_millicents: i64,
    /// Candidates checked in Redis per auction: `base + per_slot x slots`,
    /// best eCPM first (frequency caps and budgets remove some).
    pub candidates_base: usize,
    pub candidates_per_slot: usize,
    /// Impressions per user per campaign per UTC day when the ad group sets 0.
    pub default_frequency_cap: u32,
    /// Allow `FillAdSlotsRequest.debug`.
    pub debug_enabled: bool,
    /// How long a replica skips an ad group whose budget or pacing refused
    /// it, so exhausted ad groups do not take candidate places.
    pub exhausted_backoff_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PacingConfig {
    /// Spread daily budgets over the active hours of the day.
    pub enabled: bool,
    /// Spend allowed ahead of the even schedule, as a fraction of the daily
    /// budget (lets a fresh day start delivering at once).
    pub burst_fraction: f64,
}

/// Impression-token signing keys: `keys.<id> = "<secret>"`; new tokens are
/// signed with `active_key`, any listed key verifies (rotation).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub active_key: String,
    pub keys: BTreeMap<String, Secret<String>>,
    /// How long a served ad stays billable.
    pub ttl_secs: u64,
}

/// Accepted only when `LOOP_ENV=development`.
pub const DEV_TOKEN_SECRET: &str = "loop-ads-dev-token-key-change-me-0123456789";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BillingConfig {
    /// A served token keeps its budget reservation until billed or until
    /// `tokens.ttl_secs + reservation_grace_secs` (covers consumer lag).
    pub reservation_grace_secs: u64,
    /// Granularity of reservation expiry (Redis hash buckets).
    pub reservation_bucket_secs: u64,
    /// Hard cap on a day's billed spend above the daily budget, as a
    /// fraction of it; charges beyond it are written off (never billed).
    /// Campaign totals are capped at the total budget exactly.
    pub daily_overspend_fraction: f64,
    /// How often billed spend is settled against the wallet.
    pub settle_interval_secs: u64,
    /// A click sooner than this after its impression is not a person.
    pub min_click_delay_ms: u64,
    /// Clicks of one viewer on one campaign per day beyond this are invalid.
    pub max_clicks_per_user_per_campaign_per_day: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TopViewConfig {
    /// Rate card: fixed CPM of TopView.
    pub cpm_cents: i64,
    /// Impressions sellable per UTC day.
    pub daily_inventory: u64,
    pub max_days_ahead: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChallengeConfig {
    /// Rate card: fee per started UTC day of a Branded Hashtag Challenge.
    pub fee_cents_per_day: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    /// Poll for changed ad groups and learned rates (fallback to NOTIFY).
    pub refresh_interval_ms: u64,
    /// Rebuild the whole index this often (belt and braces).
    pub full_rebuild_secs: u64,
    /// How far back each poll looks beyond the previous one (commit lag).
    pub overlap_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WalletConfig {
    /// `grpc`: campaign budgets are reserved from the advertiser's wallet
    /// cents and billed spend is charged to it (`services.wallet_url`).
    /// `unmetered`: budgets are enforced here and movements only logged, no
    /// advertiser cash moves (tests of the auction alone). See `wallet`.
    pub mode: String,
}

impl Default for Config {
    fn default() -> Self {
        let mut keys = BTreeMap::new();
        keys.insert("k1".to_owned(), Secret::new(DEV_TOKEN_SECRET.to_owned()));
        Self {
            grpc: GrpcServerConfig {
                listen_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 50063)),
            },
            database: DatabaseConfig::local("ads"),
            redis: RedisConfig {
                key_prefix: "loop:ads:".into(),
                ..RedisConfig::default()
            },
            kafka: KafkaConfig::default(),
            auth: AuthConfig::development("ads-auction"),
            telemetry: TelemetryConfig::with_metrics_port(9463),
            services: ServicesConfig {
                content_url: "http://127.0.0.1:50061".into(),
                wallet_url: "http://127.0.0.1:50064".into(),
            },
            outbox: OutboxConfig::every_ms(1000),
            consumer: ConsumerConfig {
                billing_group_id: "ads-auction-billing".into(),
                content_group_id: "ads-auction-content".into(),
                max_batch: 500,
                max_wait_ms: 10,
            },
            auction: AuctionConfig {
                reserve_ecpm_millicents: 100_000,
                candidates_base: 4,
                candidates_per_slot: 2,
                default_frequency_cap: 3,
                debug_enabled: false,
                exhausted_backoff_ms: 500,
            },
            pacing: PacingConfig {
                enabled: true,
                burst_fraction: 0.02,
            },
            tokens: TokenConfig {
                active_key: "k1".into(),
                keys,
                ttl_secs: 3600,
            },
            billing: BillingConfig {
                reservation_grace_secs: 3600,
                reservation_bucket_secs: 300,
                daily_overspend_fraction: 0.05,
                settle_interval_secs: 60,
                min_click_delay_ms: 500,
                max_clicks_per_user_per_campaign_per_day: 3,
            },
            prediction: predict::PredictionConfig::default(),
            topview: TopViewConfig {
                cpm_cents: 1000,
                daily_inventory: 1_000_000,
                max_days_ahead: 90,
            },
            challenge: ChallengeConfig {
                fee_cents_per_day: 100_000,
            },
            index: IndexConfig {
                refresh_interval_ms: 1000,
                full_rebuild_secs: 300,
                overlap_secs: 5,
            },
            wallet: WalletConfig {
                mode: "grpc".into(),
            },
        }
    }
}

impl Validate for Config {
    fn development_only(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.auth.development_only(&mut out);
        for (id, key) in &self.tokens.keys {
            if key.expose() == DEV_TOKEN_SECRET {
                out.push(format!("tokens.keys.{id}"));
            }
        }
        out
    }

    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        self.database.validate_into(&mut p);
        self.redis.validate_into(&mut p);
        self.kafka.validate_into(&mut p);
        self.auth.validate_into("ads-auction", true, &mut p);
        self.prediction.validate_into(&mut p);
        validate_service_url("services.content_url", &self.services.content_url, &mut p);
        self.outbox.validate_into(&mut p);
        if self.consumer.billing_group_id.trim().is_empty() {
            p.push("consumer.billing_group_id: must not be empty".into());
        }
        if self.consumer.content_group_id.trim().is_empty() {
            p.push("consumer.content_group_id: must not be empty".into());
        }
        if !(1..=10_000).contains(&self.consumer.max_batch) {
            p.push("consumer.max_batch: must be 1..=10000".into());
        }
        if self.auction.reserve_ecpm_millicents < 1 {
            p.push("auction.reserve_ecpm_millicents: must be at least 1".into());
        }
        if !(1..=200).contains(&self.auction.candidates_base)
            || !(1..=50).contains(&self.auction.candidates_per_slot)
        {
            p.push(
                "auction.candidates_base / candidates_per_slot: must be 1..=200 / 1..=50".into(),
            );
        }
        if !(1..=1000).contains(&self.auction.default_frequency_cap) {
            p.push("auction.default_frequency_cap: must be 1..=1000".into());
        }
        if !(0.0..=1.0).contains(&self.pacing.burst_fraction) {
            p.push("pacing.burst_fraction: must be 0..=1".into());
        }
        if !self.tokens.keys.contains_key(&self.tokens.active_key) {
            p.push("tokens.active_key: must name one of tokens.keys".into());
        }
        for (id, key) in &self.tokens.keys {
            if key.expose().len() < 32 {
                p.push(format!("tokens.keys.{id}: must be at least 32 bytes"));
            }
        }
        if self.billing.min_click_delay_ms > 60_000 {
            p.push("billing.min_click_delay_ms: at most 60000".into());
        }
        if !(1..=1000).contains(&self.billing.max_clicks_per_user_per_campaign_per_day) {
            p.push("billing.max_clicks_per_user_per_campaign_per_day: must be 1..=1000".into());
        }
        if !(60..=7 * 24 * 3600).contains(&self.tokens.ttl_secs) {
            p.push("tokens.ttl_secs: must be 60..=604800".into());
        }
        if !(10..=3600).contains(&self.billing.reservation_bucket_secs) {
            p.push("billing.reservation_bucket_secs: must be 10..=3600".into());
        }
        if self.billing.reservation_grace_secs > 7 * 24 * 3600 {
            p.push("billing.reservation_grace_secs: at most 604800".into());
        }
        if !(0.0..=1.0).contains(&self.billing.daily_overspend_fraction) {
            p.push("billing.daily_overspend_fraction: must be 0..=1".into());
        }
        if !(1..=86_400).contains(&self.billing.settle_interval_secs) {
            p.push("billing.settle_interval_secs: must be 1..=86400".into());
        }
        if self.topview.cpm_cents < 1 || self.topview.daily_inventory == 0 {
            p.push("topview.cpm_cents / daily_inventory: must be positive".into());
        }
        if !(1..=366).contains(&self.topview.max_days_ahead) {
            p.push("topview.max_days_ahead: must be 1..=366".into());
        }
        if self.challenge.fee_cents_per_day < 1 {
            p.push("challenge.fee_cents_per_day: must be positive".into());
        }
        if !(10..=60_000).contains(&self.index.refresh_interval_ms) {
            p.push("index.refresh_interval_ms: must be 10..=60000".into());
        }
        if !(10..=86_400).contains(&self.index.full_rebuild_secs) {
            p.push("index.full_rebuild_secs: must be 10..=86400".into());
        }
        if self.index.overlap_secs > 600 {
            p.push("index.overlap_secs: at most 600".into());
        }
        match self.wallet.mode.as_str() {
            "grpc" => {
                validate_service_url("services.wallet_url", &self.services.wallet_url, &mut p)
            }
            "unmetered" => {}
            _ => p.push("wallet.mode: must be \"grpc\" or \"unmetered\"".into()),
        }
        p
    }
}

/// Connects, migrates, builds the targeting index, then serves gRPC, bills
/// `ads.v1`, follows `content.v1` and relays the outbox until `shutdown`.
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
    let redis = Redis::connect(&config.redis).await?;
    loop_platform::kafka::ensure_topics(&config.kafka, &[topics::ADS, topics::CONTENT]).await?;
    let producer = Producer::new(&config.kafka, "loop-ads-auction")?;
    let config = Arc::new(config);

    let index = Arc::new(index::Index::new(config.clone()));
    index::load_full(&pool, &index).await?;
    let wallet: Arc<dyn wallet::AdWallet> = if config.wallet.mode == "grpc" {
        Arc::new(wallet::GrpcWallet::new(
            loop_platform::grpc::channel(&config.services.wallet_url)?,
            config.auth.keys()?,
        ))
    } else {
        tracing::warn!("wallet.mode = unmetered: no advertiser cash moves");
        Arc::new(wallet::Unmetered)
    };
    let content_channel = loop_platform::grpc::channel(&config.services.content_url)?;
    let service = AdsService::new(
        pool.clone(),
        redis.clone(),
        index.clone(),
        config.auth.keys()?,
        wallet.clone(),
        content_channel,
        config.clone(),
    )?;

    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(index::run_refresher(
        pool.clone(),
        index.clone(),
        shutdown.clone(),
    )));
    if config.outbox.relay_enabled {
        let relay = Relay::new(pool.clone(), producer.clone(), &config.outbox);
        tasks.push(tokio::spawn(relay.run(shutdown.clone())));
    }
    {
        let mut opts = ConsumerOptions::new(&config.consumer.billing_group_id, &[topics::ADS]);
        opts.max_batch = config.consumer.max_batch;
        opts.max_wait = Duration::from_millis(config.consumer.max_wait_ms);
        let handler = billing::BillingHandler::new(pool.clone(), redis.clone(), config.clone())?;
        tasks.push(tokio::spawn(loop_platform::kafka::run_consumer(
            config.kafka.clone(),
            opts,
            producer.clone(),
            handler,
            shutdown.clone(),
        )));
    }
    {
        let mut opts = ConsumerOptions::new(&config.consumer.content_group_id, &[topics::CONTENT]);
        opts.max_batch = config.consumer.max_batch;
        opts.max_wait = Duration::from_millis(config.consumer.max_wait_ms);
        let handler = content_events::ContentHandler {
            pool: pool.clone(),
            index: index.clone(),
        };
        tasks.push(tokio::spawn(loop_platform::kafka::run_consumer(
            config.kafka.clone(),
            opts,
            producer.clone(),
            handler,
            shutdown.clone(),
        )));
    }
    tasks.push(tokio::spawn(billing::run_settlement(
        pool.clone(),
        redis.clone(),
        wallet,
        config.clone(),
        shutdown.clone(),
    )));

    let routes = tonic::service::Routes::new(AdsAuctionServiceServer::new(service));
    let served =
        loop_platform::grpc::serve(routes, &[SERVICE_NAME], listener, shutdown.clone()).await;
    shutdown.cancel();
    loop_platform::runtime::join_background(tasks).await;
    pool.close().await;
    served
}
