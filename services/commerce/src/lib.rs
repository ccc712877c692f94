//! Loop commerce: the in-app shop (see `docs/commerce.md`).
//!
//! - Catalog ([`catalog`]): shops, products with SKUs, stock, admin review,
//!   versioned edits (an order keeps the version it bought).
//! - Orders ([`orders`]): checkout reserves stock atomically; payment is a
//!   card charge into a wallet escrow ([`wallet`]); the lifecycle is a pure
//!   state machine ([`machine`]) that the service only loads, locks and
//!   stores. Every wallet call carries a key derived from the order, so a
//!   retry or a crash never moves money twice.
//! - The sweeper ([`sweeper`]) drives time: unpaid and unshipped orders are
//!   cancelled, holds end, due settlements are paid, interrupted wallet
//!   steps are finished. Time comes from a [`Clock`] that tests move.
//! - Events `commerce.v1` leave through the platform's outbox relay.

pub mod affiliates;
pub mod auction;
mod batching;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod content;
pub mod error;
pub mod events;
pub mod flash;
mod hot_sku;
pub mod invitations;
pub mod machine;
pub mod orders;
pub mod returns;
mod service;
pub mod shoppable;
pub mod sweeper;
pub mod wallet;

use std::sync::Arc;
use std::time::Duration;

use loop_platform::kafka::{Producer, topics};
use loop_platform::outbox::Relay;
use loop_proto::commerce::v1::commerce_service_server::CommerceServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use clock::Clock;
pub use config::Config;
pub use service::CommerceService;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The fully-qualified gRPC service name (for health checks).
pub const SERVICE_NAME: &str = "loop.commerce.v1.CommerceService";

/// The identity this service presents to the wallet.
pub const SERVICE_SUBJECT: &str = "service:commerce";

/// [`run_with_clock`] on the system clock.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    run_with_clock(config, listener, shutdown, Clock::system()).await
}

/// Connects, migrates, creates the topic, then serves gRPC, relays the
/// outbox and sweeps until `shutdown`. Every time rule reads `clock`.
pub async fn run_with_clock(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
    clock: Clock,
) -> anyhow::Result<()> {
    let pool = loop_platform::db::connect(&config.database).await?;
    loop_platform::outbox::ensure_schema(&pool).await?;
    if config.database.migrate {
        MIGRATOR.run(&pool).await?;
    }
    let mut attempt = 0u32;
    while let Err(err) =
        loop_platform::kafka::ensure_topics(&config.kafka, &[topics::COMMERCE]).await
    {
        attempt += 1;
        if attempt >= 30 || shutdown.is_cancelled() {
            return Err(err.context("creating the commerce.v1 topic"));
        }
        tracing::warn!(error = %err, attempt, "cannot create the commerce.v1 topic yet; retrying");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let mut tasks = Vec::new();
    // Bids skip NOTIFY (it takes a cluster-wide lock through each commit's
    // WAL flush), so the writer wakes the relay in process; and they commit
    // without waiting for the flush (their rows say so: the relay fences).
    let relay_wake = if config.outbox.relay_enabled {
        let producer = Producer::new(&config.kafka, "loop-commerce")?;
        let relay = Relay::new(pool.clone(), producer, &config.outbox);
        let wake = relay.waker();
        tasks.push(tokio::spawn(relay.run(shutdown.clone())));
        wake
    } else {
        Arc::default()
    };
    let config = Arc::new(config);
    let service = CommerceService::new(pool.clone(), config.auth.keys()?, config.clone(), clock)?
        .with_relay_waker(relay_wake);
    tasks.push(tokio::spawn(sweeper::run(
        service.clone(),
        shutdown.clone(),
    )));
    let routes = tonic::service::Routes::new(CommerceServiceServer::new(service));
    let served =
        loop_platform::grpc::serve(routes, &[SERVICE_NAME], listener, shutdown.clone()).await;
    shutdown.cancel();
    loop_platform::runtime::join_background(tasks).await;
    pool.close().await;
    served
}
