//! The commerce configuration: defaults in code, then a TOML file, then
//! `LOOP_COMMERCE__SECTION__KEY`. Validated at start-up; every problem names
//! its key.

use loop_platform::config::{
    AuthConfig, DatabaseConfig, GrpcServerConfig, KafkaConfig, TelemetryConfig, Validate,
    validate_service_url,
};
use loop_platform::outbox::OutboxConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub grpc: GrpcServerConfig,
    pub database: DatabaseConfig,
    pub kafka: KafkaConfig,
    pub auth: AuthConfig,
    pub telemetry: TelemetryConfig,
    pub services: ServicesConfig,
    pub outbox: OutboxConfig,
    pub orders: OrdersConfig,
    pub jobs: JobsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServicesConfig {
    /// The wallet (escrow: payment, refunds, settlement).
    pub wallet_url: String,
    /// Deadline of each wallet call.
    pub wallet_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OrdersConfig {
    /// An order not paid within this many minutes is cancelled and its stock returned.
    pub unpaid_cancel_minutes: i64,
    /// After payment the buyer may cancel freely for this long (the hold).
    pub hold_minutes: i64,
    /// A paid order not shipped within this many days of payment is cancelled and refunded.
    pub ship_within_days: i64,
    /// Refunds are possible for this many days after delivery (at most settle_after_days).
    pub refund_window_days: i64,
    /// The seller is paid this many days after delivery.
    pub settle_after_days: i64,
    /// The platform's referral fee, basis points of what the buyer paid
    /// (net of refunds), rounded down to whole cents.
    pub referral_fee_bps: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// How often the sweeper looks for due orders.
    pub sweep_interval_ms: u64,
    /// Orders handled per sweep and kind.
    pub sweep_batch: i64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            grpc: GrpcServerConfig {
                listen_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 50066)),
            },
            database: DatabaseConfig::local("commerce"),
            kafka: KafkaConfig::default(),
            auth: AuthConfig::development("commerce"),
            telemetry: TelemetryConfig::with_metrics_port(9466),
            services: ServicesConfig {
                wallet_url: "http://127.0.0.1:50064".into(),
                wallet_timeout_ms: 5000,
            },
            outbox: OutboxConfig::every_ms(500),
            orders: OrdersConfig {
                unpaid_cancel_minutes: 30,
                hold_minutes: 60,
                ship_within_days: 3,
                refund_window_days: 7,
                settle_after_days: 7,
                referral_fee_bps: 600,
            },
            jobs: JobsConfig {
                sweep_interval_ms: 5000,
                sweep_batch: 200,
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
        self.auth.validate_into("commerce", true, &mut p);
        self.outbox.validate_into(&mut p);
        validate_service_url("services.wallet_url", &self.services.wallet_url, &mut p);
        if !(50..=60_000).contains(&self.services.wallet_timeout_ms) {
            p.push("services.wallet_timeout_ms: must be 50..=60000".into());
        }
        let o = &self.orders;
        if !(1..=7 * 24 * 60).contains(&o.unpaid_cancel_minutes) {
            p.push("orders.unpaid_cancel_minutes: must be 1..=10080".into());
        }
        if !(0..=7 * 24 * 60).contains(&o.hold_minutes) {
            p.push("orders.hold_minutes: must be 0..=10080".into());
        }
        if !(1..=60).contains(&o.ship_within_days) {
            p.push("orders.ship_within_days: must be 1..=60".into());
        }
        if !(1..=90).contains(&o.settle_after_days) {
            p.push("orders.settle_after_days: must be 1..=90".into());
        }
        if !(0..=o.settle_after_days).contains(&o.refund_window_days) {
            p.push(
                "orders.refund_window_days: must be 0..=orders.settle_after_days (refunds come out of the escrow, before the seller is paid)"
                    .into(),
            );
        }
        if o.referral_fee_bps > 10_000 {
            p.push("orders.referral_fee_bps: must be 0..=10000".into());
        }
        if !(10..=3_600_000).contains(&self.jobs.sweep_interval_ms) {
            p.push("jobs.sweep_interval_ms: must be 10..=3600000".into());
        }
        if !(1..=10_000).contains(&self.jobs.sweep_batch) {
            p.push("jobs.sweep_batch: must be 1..=10000".into());
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_problems_name_their_keys() {
        let c = Config::default();
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        let mut bad = Config::default();
        bad.orders.refund_window_days = 8;
        bad.orders.referral_fee_bps = 10_001;
        bad.jobs.sweep_batch = 0;
        let problems = bad.validate().join("\n");
        for key in [
            "orders.refund_window_days",
            "orders.referral_fee_bps",
            "jobs.sweep_batch",
        ] {
            assert!(problems.contains(key), "{key} in {problems}");
        }
    }
}
