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
    pub auctions: AuctionsConfig,
}

/// LIVE auctions (`crate::auction`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuctionsConfig {
    /// Anti-sniping: a bid within this many seconds of the close...
    pub extend_within_seconds: u32,
    /// ...moves the close to this many seconds after the bid (not for a
    /// sudden-death auction).
    pub extend_by_seconds: u32,
    /// The shortest and longest auction a host may start.
    pub min_duration_seconds: u32,
    pub max_duration_seconds: u32,
    /// Bids one auction writes per transaction at most (group commit).
    pub max_batch: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServicesConfig {
    /// The wallet (escrow: payment, refunds, settlement).
    pub wallet_url: String,
    /// Deadline of each wallet call.
    pub wallet_timeout_ms: u64,
    /// Content (who made a video, who hosts a LIVE room).
    pub content_url: String,
    pub content_timeout_ms: u64,
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
    /// A shipped order the buyer has not confirmed this many days after
    /// shipping is confirmed delivered by the service (the carrier window:
    /// without it a buyer who never confirms would hold the seller's money
    /// in escrow for ever).
    pub auto_deliver_days: i64,
    /// Refunds are possible for this many days after delivery (at most settle_after_days).
    pub refund_window_days: i64,
    /// A buyer's return request the seller has not answered this many hours
    /// after it was made is approved by the service.
    pub return_answer_hours: i64,
    /// The seller is paid this many days after delivery.
    pub settle_after_days: i64,
    /// An affiliate's commission is paid this many days after delivery (at
    /// least settle_after_days: until then it stays held in the escrow).
    pub commission_after_days: i64,
    /// The platform's referral fee, basis points of what the buyer paid
    /// (net of refunds), rounded down to whole cents.
    pub referral_fee_bps: u32,
    /// A buyer may hold at most this many orders UNPAID or PAYING at once
    /// (each holds stock off sale until paid or cancelled).
    pub max_unpaid_per_buyer: i64,
    /// A checkout is attributed to the buyer's last visit from a creator's
    /// showcase, video or LIVE within this many hours.
    pub attribution_window_hours: i64,
    /// Product anchors a creator may attach to one video.
    pub max_anchors_per_video: usize,
    /// A flash-sale order not paid within this many seconds is cancelled
    /// (its units go back to the sale while it runs).
    pub flash_unpaid_cancel_seconds: i64,
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
                content_url: "http://127.0.0.1:50061".into(),
                content_timeout_ms: 3000,
            },
            outbox: OutboxConfig::every_ms(500),
            orders: OrdersConfig {
                unpaid_cancel_minutes: 30,
                hold_minutes: 60,
                ship_within_days: 3,
                auto_deliver_days: 10,
                refund_window_days: 7,
                return_answer_hours: 48,
                settle_after_days: 7,
                commission_after_days: 15,
                referral_fee_bps: 600,
                max_unpaid_per_buyer: 5,
                attribution_window_hours: 7 * 24,
                max_anchors_per_video: 3,
                flash_unpaid_cancel_seconds: 300,
            },
            jobs: JobsConfig {
                sweep_interval_ms: 5000,
                sweep_batch: 200,
            },
            auctions: AuctionsConfig {
                extend_within_seconds: 10,
                extend_by_seconds: 15,
                min_duration_seconds: 10,
                max_duration_seconds: 3600,
                max_batch: 256,
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
        validate_service_url("services.content_url", &self.services.content_url, &mut p);
        if !(50..=60_000).contains(&self.services.content_timeout_ms) {
            p.push("services.content_timeout_ms: must be 50..=60000".into());
        }
        if !(1..=10).contains(&self.orders.max_anchors_per_video) {
            p.push("orders.max_anchors_per_video: must be 1..=10".into());
        }
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
        if !(1..=90).contains(&o.auto_deliver_days) {
            p.push("orders.auto_deliver_days: must be 1..=90".into());
        }
        if !(1..=720).contains(&o.return_answer_hours) {
            p.push("orders.return_answer_hours: must be 1..=720".into());
        }
        if !(1..=90).contains(&o.settle_after_days) {
            p.push("orders.settle_after_days: must be 1..=90".into());
        }
        if !(o.settle_after_days..=365).contains(&o.commission_after_days) {
            p.push(
                "orders.commission_after_days: must be orders.settle_after_days..=365 (the commission is held until the seller's settlement at least)"
                    .into(),
            );
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
        if !(1..=100).contains(&o.max_unpaid_per_buyer) {
            p.push("orders.max_unpaid_per_buyer: must be 1..=100".into());
        }
        if !(1..=90 * 24).contains(&o.attribution_window_hours) {
            p.push("orders.attribution_window_hours: must be 1..=2160".into());
        }
        if !(10..=3600).contains(&o.flash_unpaid_cancel_seconds) {
            p.push("orders.flash_unpaid_cancel_seconds: must be 10..=3600".into());
        }
        if !(10..=3_600_000).contains(&self.jobs.sweep_interval_ms) {
            p.push("jobs.sweep_interval_ms: must be 10..=3600000".into());
        }
        if !(1..=10_000).contains(&self.jobs.sweep_batch) {
            p.push("jobs.sweep_batch: must be 1..=10000".into());
        }
        let a = &self.auctions;
        if !(1..=300).contains(&a.extend_within_seconds) {
            p.push("auctions.extend_within_seconds: must be 1..=300".into());
        }
        if !(1..=600).contains(&a.extend_by_seconds) {
            p.push("auctions.extend_by_seconds: must be 1..=600".into());
        }
        if !(1..=a.max_duration_seconds).contains(&a.min_duration_seconds) {
            p.push(
                "auctions.min_duration_seconds: must be 1..=auctions.max_duration_seconds".into(),
            );
        }
        if !(1..=24 * 3600).contains(&a.max_duration_seconds) {
            p.push("auctions.max_duration_seconds: must be 1..=86400".into());
        }
        if !(1..=10_000).contains(&a.max_batch) {
            p.push("auctions.max_batch: must be 1..=10000".into());
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
        bad.orders.max_unpaid_per_buyer = 0;
        bad.orders.attribution_window_hours = 0;
        bad.orders.commission_after_days = 6;
        let problems = bad.validate().join("\n");
        for key in [
            "orders.refund_window_days",
            "orders.referral_fee_bps",
            "orders.max_unpaid_per_buyer",
            "orders.attribution_window_hours",
            "orders.commission_after_days",
            "jobs.sweep_batch",
        ] {
            assert!(problems.contains(key), "{key} in {problems}");
        }
    }
}
