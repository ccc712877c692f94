//! loopctl: operations for a Loop deployment. The binary is a thin clap
//! front-end; each command is a library function so it can be tested.

pub mod dlq;
pub mod eval;
pub mod offsets;
pub mod replay;
pub mod seed;
pub mod simulate;
pub mod wallet;

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use loop_platform::config::KafkaConfig;

/// Broker options every Kafka command takes.
#[derive(clap::Args, Debug, Clone)]
pub struct BrokerArgs {
    /// Kafka bootstrap servers.
    #[arg(
        long,
        env = "LOOP_KAFKA_BROKERS",
        default_value = "127.0.0.1:9092",
        global = true
    )]
    pub brokers: String,
    /// Prefix of every topic name (as configured in the services).
    #[arg(
        long,
        env = "LOOP_KAFKA_TOPIC_PREFIX",
        default_value = "",
        global = true
    )]
    pub topic_prefix: String,
}

impl BrokerArgs {
    pub fn kafka(&self) -> KafkaConfig {
        KafkaConfig {
            brokers: self.brokers.clone(),
            topic_prefix: self.topic_prefix.clone(),
            ..KafkaConfig::default()
        }
    }
}

/// Where to start reading: `beginning`, `offset:<n>` or `time:<RFC 3339>`.
pub fn parse_start(value: &str) -> anyhow::Result<loop_feed_ranking::replay::Start> {
    use loop_feed_ranking::replay::Start;
    if value == "beginning" || value == "earliest" {
        return Ok(Start::Beginning);
    }
    if let Some(n) = value.strip_prefix("offset:") {
        return Ok(Start::Offset(n.parse().map_err(|_| {
            anyhow::anyhow!("--from offset:<n> needs a number, got {n:?}")
        })?));
    }
    if let Some(t) = value.strip_prefix("time:") {
        let at = chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|e| anyhow::anyhow!("--from time:<RFC 3339>: {e}"))?;
        return Ok(Start::TimeMs(at.timestamp_millis()));
    }
    anyhow::bail!("--from must be beginning, offset:<n> or time:<RFC 3339>, got {value:?}")
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
