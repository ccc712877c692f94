//! The whole platform in one process, for end-to-end tests: content,
//! feed-ranking, wallet, ads-auction, creator-marketplace and the gateway, each on an ephemeral
//! port, with their own test databases, one Redis key prefix and one Kafka
//! topic prefix, so tests run in parallel and leave nothing behind. Dropping
//! the [`Platform`] stops every service.

#![allow(clippy::field_reassign_with_default)] // configs are tuned field by field

use std::net::SocketAddr;
use std::time::Duration;

use loop_platform::config::{KafkaConfig, RedisConfig};
use loop_platform::testing::{self, TestDb};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct Platform {
    /// The gateway's base URL (`http://127.0.0.1:port`).
    pub base: String,
    pub kafka: KafkaConfig,
    pub redis: RedisConfig,
    pub content_addr: SocketAddr,
    pub ranker_addr: SocketAddr,
    pub wallet_addr: SocketAddr,
    pub ads_addr: SocketAddr,
    pub market_addr: SocketAddr,
    pub gateway: loop_gateway::Config,
    shutdown: CancellationToken,
    _dbs: Vec<TestDb>,
}

async fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    (l, addr)
}

impl Platform {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts every service, lets `tune` adjust the gateway's config, and
    /// returns once the gateway's `/readyz` answers 200.
    pub async fn start_with(tune: impl FnOnce(&mut loop_gateway::Config)) -> Self {
        testing::init_telemetry();
        let prefix = testing::unique("gw");
        let shutdown = CancellationToken::new();
        let kafka = testing::kafka_config(&prefix);
        let redis = testing::redis_config(&prefix);

        let content_db = TestDb::create("gw").await;
        let mut content = loop_content::Config::default();
        content.database = content_db.config.clone();
        content.kafka = kafka.clone();
        content.outbox.poll_interval_ms = 50;
        let (content_listener, content_addr) = listener().await;
        tokio::spawn(loop_content::run(
            content,
            content_listener,
            shutdown.clone(),
        ));

        // Bound first: the ranker fills its feeds' ad slots from ads-auction.
        let (ads_listener, ads_addr) = listener().await;

        let mut ranker = loop_feed_ranking::Config::default();
        ranker.redis = redis.clone();
        ranker.kafka = kafka.clone();
        ranker.services.content_url = format!("http://{content_addr}");
        ranker.services.ads_auction_url = format!("http://{ads_addr}");
        // A loaded test machine: give ads time (production keeps it short).
        ranker.services.ads_deadline_ms = 2_000;
        ranker.consumer.group_id = format!("{prefix}-ranker");
        let (ranker_listener, ranker_addr) = listener().await;
        tokio::spawn(loop_feed_ranking::run(
            ranker,
            ranker_listener,
            shutdown.clone(),
        ));

        let wallet_db = TestDb::create("gwwallet").await;
        let mut wallet = loop_wallet::Config::default();
        wallet.database = wallet_db.config.clone();
        wallet.kafka = kafka.clone();
        wallet.redis = redis.clone();
        wallet.services.content_url = format!("http://{content_addr}");
        let (wallet_listener, wallet_addr) = listener().await;
        tokio::spawn(loop_wallet::run(wallet, wallet_listener, shutdown.clone()));

        let ads_db = TestDb::create("gwads").await;
        let mut ads = loop_ads_auction::Config::default();
        ads.database = ads_db.config.clone();
        ads.kafka = kafka.clone();
        ads.redis = testing::redis_config(&format!("{prefix}:ads"));
        ads.services.content_url = format!("http://{content_addr}");
        ads.services.wallet_url = format!("http://{wallet_addr}");
        ads.consumer.billing_group_id = format!("{prefix}-ads-billing");
        ads.consumer.content_group_id = format!("{prefix}-ads-content");
        ads.outbox.poll_interval_ms = 50;
        ads.pacing.burst_fraction = 1.0;
        tokio::spawn(loop_ads_auction::run(ads, ads_listener, shutdown.clone()));

        let market_db = TestDb::create("gwmarket").await;
        let mut market = loop_creator_marketplace::Config::default();
        market.database = market_db.config.clone();
        market.kafka = kafka.clone();
        market.services.content_url = format!("http://{content_addr}");
        market.services.wallet_url = format!("http://{wallet_addr}");
        market.consumer.group_id = format!("{prefix}-market");
        // Small test worlds: one follower makes a creator eligible.
        market.marketplace.min_followers = 1;
        market.jobs.refresh_interval_ms = 100;
        market.jobs.sweep_interval_ms = 200;
        let (market_listener, market_addr) = listener().await;
        tokio::spawn(loop_creator_marketplace::run(
            market,
            market_listener,
            shutdown.clone(),
        ));

        let mut gateway = loop_gateway::Config::default();
        gateway.services.content_url = format!("http://{content_addr}");
        gateway.services.feed_ranking_url = format!("http://{ranker_addr}");
        gateway.services.wallet_url = format!("http://{wallet_addr}");
        gateway.services.ads_auction_url = format!("http://{ads_addr}");
        gateway.services.creator_marketplace_url = format!("http://{market_addr}");
        gateway.redis = redis.clone();
        gateway.kafka = kafka.clone();
        tune(&mut gateway);
        let (gateway_listener, gateway_addr) = listener().await;
        tokio::spawn(loop_gateway::run(
            gateway.clone(),
            gateway_listener,
            shutdown.clone(),
        ));

        let base = format!("http://{gateway_addr}");
        let http = reqwest::Client::new();
        let ready = format!("{base}/readyz");
        testing::wait_for("gateway ready", Duration::from_secs(30), || {
            let (http, ready) = (http.clone(), ready.clone());
            async move {
                http.get(&ready)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status() == reqwest::StatusCode::OK)
            }
        })
        .await;
        Self {
            base,
            kafka,
            redis,
            content_addr,
            ranker_addr,
            wallet_addr,
            ads_addr,
            market_addr,
            gateway,
            shutdown,
            _dbs: vec![content_db, wallet_db, ads_db, market_db],
        }
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
