//! Shared runtime for every Loop service.
//!
//! One place for the things each service must do the same way: configuration
//! ([`config`]), telemetry ([`telemetry`]), the gRPC server bootstrap with
//! health, reflection and graceful shutdown ([`grpc`]), authentication
//! ([`auth`]), the error type that maps to `tonic::Status` ([`error`]),
//! PostgreSQL ([`db`]), Redis ([`cache`]), Kafka ([`kafka`]) and the
//! transactional outbox ([`outbox`]), Prometheus metrics ([`metrics`]).

pub mod auth;
pub mod bench;
pub mod cache;
pub mod config;
pub mod db;
pub mod error;
pub mod grpc;
pub mod ids;
pub mod kafka;
pub mod metrics;
pub mod money;
pub mod outbox;
pub mod pagination;
pub mod runtime;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;

pub use error::{AppError, AppResult};
