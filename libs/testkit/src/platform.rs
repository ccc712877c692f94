//! The whole platform behind the gateway: a [`Sandbox`] of every service,
//! with the gateway's base URL and each service's address at hand.

use std::net::SocketAddr;

use loop_platform::config::{KafkaConfig, RedisConfig};

use crate::Sandbox;

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
    /// Every running service; dropping the platform stops them.
    pub sandbox: Sandbox,
}

impl Platform {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts every service, lets `tune` adjust the gateway's config, and
    /// returns once the gateway's `/readyz` answers 200.
    pub async fn start_with(tune: impl FnOnce(&mut loop_gateway::Config)) -> Self {
        Self::start_tuned(tune, |_| {}).await
    }

    /// [`Platform::start_with`], also letting `ranker` adjust the ranker's
    /// config (e.g. `feed.learned_scoring`, to compare rankings).
    pub async fn start_tuned(
        tune: impl FnOnce(&mut loop_gateway::Config),
        ranker: impl FnOnce(&mut loop_feed_ranking::Config),
    ) -> Self {
        Self::start_from(Self::builder(tune, ranker)).await
    }

    /// [`Platform::start_with`], also letting `commerce` adjust commerce's
    /// config (e.g. a short hold after payment, so a browser test's seller
    /// can ship the order it just sold).
    pub async fn start_with_commerce(
        tune: impl FnOnce(&mut loop_gateway::Config),
        commerce: impl FnOnce(&mut loop_commerce::Config),
    ) -> Self {
        Self::start_from(Self::builder(tune, |_| {}).commerce_with(commerce)).await
    }

    fn builder<'a>(
        tune: impl FnOnce(&mut loop_gateway::Config) + 'a,
        ranker: impl FnOnce(&mut loop_feed_ranking::Config) + 'a,
    ) -> crate::SandboxBuilder<'a> {
        Sandbox::builder()
            .name("gw")
            .market_with(|c| {
                // Small test worlds: one follower makes a creator eligible.
                c.marketplace.min_followers = 1;
                c.jobs.refresh_interval_ms = 100;
                c.jobs.sweep_interval_ms = 200;
            })
            .ranker_with(ranker)
            .gateway_with(tune)
    }

    async fn start_from(builder: crate::SandboxBuilder<'_>) -> Self {
        let sandbox = builder.start().await;
        Self {
            base: sandbox.gateway().url(),
            kafka: sandbox.kafka.clone(),
            redis: sandbox.redis.clone(),
            content_addr: sandbox.content().addr,
            ranker_addr: sandbox.ranker().addr,
            wallet_addr: sandbox.wallet().addr,
            ads_addr: sandbox.ads().addr,
            market_addr: sandbox.market().addr,
            gateway: sandbox.gateway().config.clone(),
            sandbox,
        }
    }
}
