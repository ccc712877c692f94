//! Loop wallet service.
//!
//! Owns the `wallet` PostgreSQL database: a double-entry ledger of coins,
//! diamonds and cents (see `docs/wallet.md`). Every committed transaction
//! writes its `wallet.v1` event to the outbox in the same database
//! transaction; the platform's outbox relay publishes it exactly once. Gift leaderboards live in
//! Redis and are projected from the ledger ([`leaderboard`]), so they can be
//! rebuilt from it.

pub mod config;
pub mod content;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod leaderboard;
pub mod ledger;
pub mod payments;
pub mod reconcile;

mod ads;
mod balances;
mod escrow;
mod gifts;
mod payouts;
mod purchases;
mod service;

use std::sync::Arc;
use std::time::Duration;

use loop_platform::cache::Redis;
use loop_platform::kafka::{Producer, topics};
use loop_platform::outbox::Relay;
use loop_proto::wallet::v1::wallet_service_server::WalletServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use service::WalletService;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The fully-qualified gRPC service name (for health checks).
pub const SERVICE_NAME: &str = "loop.wallet.v1.WalletService";

/// Connects, migrates, creates the topic, then serves gRPC, relays the outbox
/// and projects the leaderboards until `shutdown`.
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
    let redis = Redis::connect(&config.redis).await?;
    // The broker may be slow or still starting: keep trying for a while
    // rather than exit (the orchestrator's startup probe allows for it).
    let mut attempt = 0u32;
    while let Err(err) = loop_platform::kafka::ensure_topics(&config.kafka, &[topics::WALLET]).await
    {
        attempt += 1;
        if attempt >= 10 || shutdown.is_cancelled() {
            return Err(err.context("creating the wallet.v1 topic"));
        }
        tracing::warn!(error = %err, attempt, "cannot create the wallet.v1 topic yet; retrying");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    let projector_wake = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    // Gifts skip NOTIFY (it would serialise every commit on one lock), so
    // the service wakes the relay in process after each commit.
    let relay_wake = if config.outbox.relay_enabled {
        let producer = Producer::new(&config.kafka, "loop-wallet")?;
        let relay = Relay::new(pool.clone(), producer, &config.outbox);
        let wake = relay.waker();
        tasks.push(tokio::spawn(relay.run(shutdown.clone())));
        wake
    } else {
        Arc::new(tokio::sync::Notify::new())
    };
    if config.leaderboards.enabled {
        tasks.push(tokio::spawn(leaderboard::run_projector(
            pool.clone(),
            redis.clone(),
            config.leaderboards.clone(),
            projector_wake.clone(),
            shutdown.clone(),
        )));
    }
    tasks.push(tokio::spawn(idempotency::run_pruner(
        pool.clone(),
        config.ledger.idempotency_retention_days,
        shutdown.clone(),
    )));

    let service = WalletService::new(
        pool.clone(),
        redis,
        config.auth.keys()?,
        Arc::new(config),
        relay_wake,
        projector_wake,
    )?;
    let routes = tonic::service::Routes::new(WalletServiceServer::new(service));
    let served =
        loop_platform::grpc::serve(routes, &[SERVICE_NAME], listener, shutdown.clone()).await;
    shutdown.cancel();
    loop_platform::runtime::join_background(tasks).await;
    pool.close().await;
    served
}
