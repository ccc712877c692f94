//! Loop feed-ranking: the For You and Following feeds.
//!
//! Learns per-user interest vectors from `engagement.v1` (shared consumer
//! group, batched, committed after the state is written, idempotent per
//! event), keeps follows and sign-up profiles from `content.v1`, and serves
//! feeds from an in-process catalog + ANN index that each replica builds
//! from `content.v1`. State lives in Redis so every replica shares it.

pub mod ads;
pub mod catalog;
pub mod collab;
pub mod embed;
pub mod feed;
pub mod learn;
pub mod learned;
pub mod rank;
pub mod replay;
mod service;
pub mod snapshot;
pub mod social;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use loop_platform::cache::Redis;
use loop_platform::config::{
    AuthConfig, GrpcServerConfig, KafkaConfig, RedisConfig, TelemetryConfig, Validate,
};
use loop_platform::kafka::{ConsumerOptions, Producer, topics};
use loop_proto::ads_auction::v1::ads_auction_service_client::AdsAuctionServiceClient;
use loop_proto::content::v1::content_service_client::ContentServiceClient;
use loop_proto::feed_ranking::v1::feed_ranking_service_server::FeedRankingServiceServer;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use catalog::Catalog;
pub use feed::FeedConfig;
pub use learn::{LearningConfig, Weights};
pub use service::FeedService;

pub const SERVICE_NAME: &str = "loop.feed_ranking.v1.FeedRankingService";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub grpc: GrpcServerConfig,
    pub redis: RedisConfig,
    pub kafka: KafkaConfig,
    pub auth: AuthConfig,
    pub telemetry: TelemetryConfig,
    pub services: ServicesConfig,
    pub consumer: ConsumerConfig,
    pub learning: LearningConfig,
    pub feed: FeedConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServicesConfig {
    pub content_url: String,
    /// ads-auction, which fills the feed's ad slots; empty: no ads.
    pub ads_auction_url: String,
    /// How long a feed waits for its ads before serving organic items only.
    pub ads_deadline_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Consumer group shared by every replica (partitions are split among them).
    pub group_id: String,
    pub max_batch: usize,
    pub max_wait_ms: u64,
    /// How long the broker may hold an empty fetch (`fetch.wait.max.ms`):
    /// bounds how soon an event reaches the viewer's next feed.
    pub fetch_wait_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            grpc: GrpcServerConfig {
                listen_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 50062)),
            },
            redis: RedisConfig {
                key_prefix: "loop:ranker:".into(),
                ..RedisConfig::default()
            },
            kafka: KafkaConfig::default(),
            auth: AuthConfig::development("feed-ranking"),
            telemetry: TelemetryConfig::with_metrics_port(9462),
            services: ServicesConfig {
                content_url: "http://127.0.0.1:50061".into(),
                ads_auction_url: "http://127.0.0.1:50063".into(),
                ads_deadline_ms: 60,
            },
            consumer: ConsumerConfig {
                group_id: "feed-ranking".into(),
                max_batch: 500,
                max_wait_ms: 5,
                fetch_wait_ms: 20,
            },
            learning: LearningConfig::default(),
            feed: FeedConfig::default(),
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
        let mut problems = Vec::new();
        self.redis.validate_into(&mut problems);
        self.kafka.validate_into(&mut problems);
        self.auth.validate_into("feed-ranking", true, &mut problems);
        self.learning.validate_into(&mut problems);
        self.feed.validate_into(&mut problems);
        if self.consumer.group_id.trim().is_empty() {
            problems.push("consumer.group_id: must not be empty".into());
        }
        if !(1..=10_000).contains(&self.consumer.max_batch) {
            problems.push("consumer.max_batch: must be 1..=10000".into());
        }
        if !(1..=5_000).contains(&self.consumer.fetch_wait_ms) {
            problems.push("consumer.fetch_wait_ms: must be 1..=5000".into());
        }
        loop_platform::config::validate_service_url(
            "services.content_url",
            &self.services.content_url,
            &mut problems,
        );
        if !self.services.ads_auction_url.is_empty() {
            loop_platform::config::validate_service_url(
                "services.ads_auction_url",
                &self.services.ads_auction_url,
                &mut problems,
            );
        }
        if !(5..=5_000).contains(&self.services.ads_deadline_ms) {
            problems.push("services.ads_deadline_ms: must be 5..=5000".into());
        }
        problems
    }
}

/// The key naming the prefix that holds the live state (set by
/// `loopctl replay --rebuild --swap`), under the configured base prefix.
pub fn live_prefix_key(base: &Redis) -> String {
    base.key("live-prefix")
}

/// A handle on the live state: the swapped-in prefix if one was set, else
/// the configured prefix. Read at start-up: a swap takes effect as replicas restart.
pub async fn live_prefix(base: &Redis) -> anyhow::Result<Redis> {
    let mut conn = base.conn.clone();
    let pointer: Option<String> = redis::cmd("GET")
        .arg(live_prefix_key(base))
        .query_async(&mut conn)
        .await?;
    Ok(match pointer {
        Some(prefix) if !prefix.is_empty() => {
            tracing::info!(prefix, "using swapped-in ranker state");
            base.with_prefix(&prefix)
        }
        _ => base.clone(),
    })
}

/// How the engagement consumer group reads (the service and its benchmark).
pub fn engagement_consumer_options(config: &Config) -> ConsumerOptions {
    // Gifts (wallet.v1) and purchases from a video or LIVE (commerce.v1)
    // are engagement too; the group reads the three topics.
    batched(
        config,
        ConsumerOptions::new(
            &config.consumer.group_id,
            &[topics::ENGAGEMENT, topics::WALLET, topics::COMMERCE],
        ),
    )
}

/// How the co-engagement consumer group reads: `engagement.v1` alone, in a
/// group of its own (`<group_id>-co`), batched like the taste path.
pub fn co_engagement_consumer_options(config: &Config) -> ConsumerOptions {
    batched(
        config,
        ConsumerOptions::new(
            &format!("{}-co", config.consumer.group_id),
            &[topics::ENGAGEMENT],
        ),
    )
}

fn batched(config: &Config, mut opts: ConsumerOptions) -> ConsumerOptions {
    opts.max_batch = config.consumer.max_batch;
    opts.max_wait = Duration::from_millis(config.consumer.max_wait_ms);
    // A viewer's next feed waits on these consumers.
    opts.fetch_wait = Duration::from_millis(config.consumer.fetch_wait_ms);
    opts
}

/// Connects, creates topics, starts the catalog and the consumers, and
/// serves gRPC until `shutdown`; consumers commit what they applied first.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // The live state: the configured prefix, or the one a rebuild swapped in.
    let redis = live_prefix(&Redis::connect(&config.redis).await?).await?;
    // Background work gets connections of its own: a consumer batch is one
    // large script, and feed requests must not queue behind it on a shared
    // (multiplexed) connection.
    let background = Redis::connect(&config.redis)
        .await?
        .with_prefix(&redis.prefix);
    loop_platform::kafka::ensure_topics(
        &config.kafka,
        &[
            topics::ENGAGEMENT,
            topics::CONTENT,
            topics::WALLET,
            topics::COMMERCE,
        ],
    )
    .await?;
    let producer = Producer::new(&config.kafka, "loop-feed-ranking")?;
    let catalog = Arc::new(Catalog::new(config.learning.dim));

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(catalog::follow_content(
        catalog.clone(),
        config.kafka.clone(),
        background.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(learned::follow_learned(
        catalog.clone(),
        background.clone(),
        Duration::from_millis(config.feed.learned_refresh_ms),
        shutdown.clone(),
    ));
    let engagement = learn::EngagementHandler::new(
        background.clone(),
        config.learning.clone(),
        Some(catalog.clone()),
    );
    tasks.spawn(loop_platform::kafka::run_consumer(
        config.kafka.clone(),
        engagement_consumer_options(&config),
        producer.clone(),
        engagement,
        shutdown.clone(),
    ));
    if config.learning.co_window > 0 {
        let co =
            learn::EngagementHandler::co_engagement(background.clone(), config.learning.clone());
        tasks.spawn(loop_platform::kafka::run_consumer(
            config.kafka.clone(),
            co_engagement_consumer_options(&config),
            producer.clone(),
            co,
            shutdown.clone(),
        ));
    }
    let social = social::ContentStateHandler { redis: background };
    let opts = ConsumerOptions::new(
        &format!("{}-content", config.consumer.group_id),
        &[topics::CONTENT],
    );
    tasks.spawn(loop_platform::kafka::run_consumer(
        config.kafka.clone(),
        opts,
        producer.clone(),
        social,
        shutdown.clone(),
    ));

    let keys = config.auth.keys()?;
    let content =
        ContentServiceClient::new(loop_platform::grpc::channel(&config.services.content_url)?);
    let ads = if config.services.ads_auction_url.is_empty() {
        None
    } else {
        Some(ads::AdsClient {
            ads: AdsAuctionServiceClient::new(loop_platform::grpc::channel(
                &config.services.ads_auction_url,
            )?),
            content: content.clone(),
            keys: keys.clone(),
            deadline: Duration::from_millis(config.services.ads_deadline_ms),
            cards: Arc::default(),
        })
    };
    let service = FeedService {
        redis,
        catalog,
        keys,
        ads,
        config: Arc::new(config),
    };
    let routes = tonic::service::Routes::new(FeedRankingServiceServer::new(service));
    let serve = loop_platform::grpc::serve(routes, &[SERVICE_NAME], listener, shutdown.clone());
    tokio::pin!(serve);
    // A background task (catalog, learned vectors, a consumer) that stops
    // stops the ranker: serving feeds that no longer learn or no longer see
    // new videos is worse than restarting.
    let mut failed = false;
    let served = loop {
        tokio::select! {
            served = &mut serve => break served,
            Some(result) = tasks.join_next() => {
                log_task_end(result);
                if !shutdown.is_cancelled() {
                    tracing::error!("a feed-ranking background task stopped; shutting down");
                    failed = true;
                    shutdown.cancel();
                }
            }
        }
    };
    shutdown.cancel();
    while let Some(result) = tasks.join_next().await {
        log_task_end(result);
    }
    producer.flush(Duration::from_secs(5));
    if failed {
        anyhow::bail!("a background task stopped (see the log)");
    }
    served
}

fn log_task_end(result: Result<anyhow::Result<()>, tokio::task::JoinError>) {
    match result {
        Ok(Err(err)) => tracing::error!(error = ?err, "feed-ranking task failed"),
        Err(err) => tracing::error!(error = %err, "feed-ranking task panicked"),
        Ok(Ok(())) => {}
    }
}
