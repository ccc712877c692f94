//! Loop's test harness. [`Sandbox`] starts the services one test needs in
//! process on ephemeral ports (each with its own test database, one Redis key
//! prefix and one Kafka topic prefix, so tests run in parallel and leave
//! nothing behind); [`fixtures`] seed data through the services' own rpcs;
//! [`Platform`] is the whole platform behind the gateway, for end-to-end
//! tests.
//!
//! Each service is a cargo feature of this crate (`content`, `wallet`,
//! `ads-auction`, `feed-ranking`, `creator-marketplace`, `gateway`), so a
//! suite compiles only the services it runs; a feature brings the services
//! its service calls.

#[cfg(feature = "media")]
pub mod clips;
pub mod fixtures;
#[cfg(feature = "content")]
mod killable;
#[cfg(feature = "content")]
mod sandbox;

#[cfg(feature = "content")]
pub use killable::Killable;

#[cfg(feature = "content")]
pub use sandbox::{Running, Sandbox, SandboxBuilder, Service, serving, wait_healthy};

#[cfg(feature = "gateway")]
mod platform;
#[cfg(feature = "gateway")]
pub use platform::Platform;
