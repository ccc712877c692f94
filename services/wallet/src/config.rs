//! The wallet's configuration: defaults in code, then a TOML file, then
//! `LOOP_WALLET__SECTION__KEY`. Validated at start-up; every problem names
//! its key.

use std::collections::HashSet;
use std::net::SocketAddr;

use loop_platform::config::{
    AuthConfig, DatabaseConfig, GrpcServerConfig, KafkaConfig, RedisConfig, Secret,
    TelemetryConfig, Validate, validate_service_url,
};
use loop_platform::outbox::OutboxConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub grpc: GrpcServerConfig,
    pub database: DatabaseConfig,
    /// Leaderboards.
    pub redis: RedisConfig,
    pub kafka: KafkaConfig,
    pub auth: AuthConfig,
    pub telemetry: TelemetryConfig,
    pub services: ServicesConfig,
    pub outbox: OutboxConfig,
    pub ledger: LedgerConfig,
    pub money: MoneyConfig,
    pub payments: PaymentsConfig,
    pub content: ContentLookupConfig,
    pub leaderboards: LeaderboardConfig,
    pub internal: InternalConfig,
    /// Coin packages for sale.
    pub coin_packages: Vec<CoinPackageConfig>,
    /// The gift catalog.
    pub gifts: Vec<GiftConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServicesConfig {
    /// The content service (videos, LIVE rooms, users' birth dates).
    pub content_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// Rows a hot account (a creator's diamonds, platform accounts) is spread
    /// over; each credit picks one, so concurrent gifts rarely share a row lock.
    pub shards: u32,
    /// Idempotency keys are kept at least this long (the contract says 7 days).
    pub idempotency_retention_days: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MoneyConfig {
    /// Diamonds a creator receives per gift coin.
    pub diamonds_per_coin: i64,
    /// Cash value of one diamond in thousandths of a cent (500 = half a cent).
    pub diamond_value_millicents: i64,
    /// Smallest payout, by cash value.
    pub min_payout_cents: i64,
    /// Most a creator may request per UTC day (pending + approved), by cash value.
    pub daily_payout_cap_cents: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PaymentsConfig {
    /// Accept PAYMENT_PROVIDER_TEST receipts (development and tests only:
    /// refused unless LOOP_ENV=development).
    pub test_provider_enabled: bool,
    /// HMAC-SHA256 key of test receipts.
    pub test_secret: Secret<String>,
}

/// The development key of test receipts.
pub const DEV_TEST_RECEIPT_SECRET: &str = "loop-test-receipts-dev-secret";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ContentLookupConfig {
    /// Deadline of each content-service call.
    pub timeout_ms: u64,
    /// How long an open room is trusted to still be open (a room that ended
    /// is remembered for good: rooms never reopen).
    pub room_cache_ttl_ms: u64,
    /// How long a video's creator is cached (it never changes; the TTL
    /// bounds how long a removed video keeps receiving gifts).
    pub video_cache_ttl_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LeaderboardConfig {
    pub enabled: bool,
    /// Daily boards older than this are gone (and rebuilt no further back).
    pub retention_days: u32,
    /// How often the projector looks for new gifts when not woken.
    pub projector_interval_ms: u64,
}

/// Which service identities may call the internal rpcs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InternalConfig {
    /// JWT subjects (role service) allowed to hold/release/refund escrow.
    pub escrow_callers: Vec<String>,
    /// JWT subjects (role service) allowed to reserve/charge/release ad budgets.
    pub ad_budget_callers: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CoinPackageConfig {
    pub package_id: String,
    pub coins: i64,
    pub price_cents: i64,
    pub display_name: String,
    pub store_product_id: String,
    pub active: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GiftConfig {
    pub gift_id: String,
    pub name: String,
    pub coins: i64,
    pub icon_url: String,
    pub animation_url: String,
    pub active: bool,
}

fn package(id: &str, coins: i64, price_cents: i64) -> CoinPackageConfig {
    CoinPackageConfig {
        package_id: id.into(),
        coins,
        price_cents,
        display_name: format!("{coins} coins"),
        store_product_id: format!("loop.{id}"),
        active: true,
    }
}

fn gift(id: &str, name: &str, coins: i64, animated: bool) -> GiftConfig {
    GiftConfig {
        gift_id: id.into(),
        name: name.into(),
        coins,
        icon_url: format!("https://cdn.loop.example/gifts/{id}.png"),
        animation_url: if animated {
            format!("https://cdn.loop.example/gifts/{id}.webm")
        } else {
            String::new()
        },
        active: true,
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            grpc: GrpcServerConfig {
                listen_addr: SocketAddr::from(([127, 0, 0, 1], 50064)),
            },
            database: DatabaseConfig::local("wallet"),
            redis: RedisConfig {
                key_prefix: "loop:wallet:".into(),
                ..RedisConfig::default()
            },
            kafka: KafkaConfig::default(),
            auth: AuthConfig::development_verifier(),
            telemetry: TelemetryConfig::with_metrics_port(9464),
            services: ServicesConfig {
                content_url: "http://127.0.0.1:50061".into(),
            },
            outbox: OutboxConfig::every_ms(100),
            ledger: LedgerConfig {
                shards: 16,
                idempotency_retention_days: 8,
            },
            money: MoneyConfig {
                diamonds_per_coin: 1,
                diamond_value_millicents: 500,
                min_payout_cents: 1000,
                daily_payout_cap_cents: 100_000,
            },
            payments: PaymentsConfig {
                test_provider_enabled: true,
                test_secret: Secret::new(DEV_TEST_RECEIPT_SECRET.into()),
            },
            content: ContentLookupConfig {
                timeout_ms: 2000,
                room_cache_ttl_ms: 1000,
                video_cache_ttl_ms: 300_000,
            },
            leaderboards: LeaderboardConfig {
                enabled: true,
                retention_days: 30,
                projector_interval_ms: 200,
            },
            internal: InternalConfig {
                escrow_callers: vec![
                    "service:creator-marketplace".into(),
                    "service:commerce".into(),
                ],
                ad_budget_callers: vec!["service:ads-auction".into()],
            },
            coin_packages: vec![
                package("coins_100", 100, 99),
                package("coins_500", 500, 479),
                package("coins_1000", 1000, 949),
                package("coins_5000", 5000, 4599),
                package("coins_10000", 10000, 8999),
            ],
            gifts: vec![
                gift("rose", "Rose", 1, false),
                gift("finger_heart", "Finger Heart", 5, false),
                gift("perfume", "Perfume", 20, false),
                gift("doughnut", "Doughnut", 30, false),
                gift("hand_hearts", "Hand Hearts", 100, true),
                gift("corgi", "Corgi", 299, true),
                gift("money_gun", "Money Gun", 500, true),
                gift("galaxy", "Galaxy", 1000, true),
                gift("lion", "Lion", 29_999, true),
                gift("universe", "Universe", 34_999, true),
            ],
        }
    }
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl Validate for Config {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        self.database.validate_into(&mut p);
        self.redis.validate_into(&mut p);
        self.kafka.validate_into(&mut p);
        self.auth.validate_into("wallet", false, &mut p);
        validate_service_url("services.content_url", &self.services.content_url, &mut p);
        self.outbox.validate_into(&mut p);
        if !(1..=256).contains(&self.ledger.shards) {
            p.push("ledger.shards: must be 1..=256".into());
        }
        if self.ledger.idempotency_retention_days < 7 {
            p.push("ledger.idempotency_retention_days: must be at least 7 (the contract keeps keys 7 days)".into());
        }
        let m = &self.money;
        if !(1..=1000).contains(&m.diamonds_per_coin) {
            p.push("money.diamonds_per_coin: must be 1..=1000".into());
        }
        if !(1..=100_000).contains(&m.diamond_value_millicents) {
            p.push("money.diamond_value_millicents: must be 1..=100000".into());
        }
        if m.min_payout_cents < 1 {
            p.push("money.min_payout_cents: must be positive".into());
        }
        if m.daily_payout_cap_cents < m.min_payout_cents {
            p.push("money.daily_payout_cap_cents: must be at least money.min_payout_cents".into());
        }
        if self.payments.test_provider_enabled && self.payments.test_secret.expose().len() < 16 {
            p.push("payments.test_secret: must be at least 16 bytes".into());
        }
        if self.content.timeout_ms == 0 || self.content.timeout_ms > 60_000 {
            p.push("content.timeout_ms: must be 1..=60000".into());
        }
        if self.content.room_cache_ttl_ms > 60_000 {
            p.push("content.room_cache_ttl_ms: must be at most 60000".into());
        }
        if self.content.video_cache_ttl_ms > 86_400_000 {
            p.push("content.video_cache_ttl_ms: must be at most 86400000".into());
        }
        if !(1..=366).contains(&self.leaderboards.retention_days) {
            p.push("leaderboards.retention_days: must be 1..=366".into());
        }
        if !(10..=60_000).contains(&self.leaderboards.projector_interval_ms) {
            p.push("leaderboards.projector_interval_ms: must be 10..=60000".into());
        }
        let mut seen = HashSet::new();
        for (i, pkg) in self.coin_packages.iter().enumerate() {
            let key = format!("coin_packages[{i}]");
            if !valid_id(&pkg.package_id) || !seen.insert(pkg.package_id.clone()) {
                p.push(format!(
                    "{key}.package_id: must be a unique id of [A-Za-z0-9_.-], 1..64 chars"
                ));
            }
            if !(1..=10_000_000).contains(&pkg.coins) {
                p.push(format!("{key}.coins: must be 1..=10000000"));
            }
            if !(1..=100_000_000).contains(&pkg.price_cents) {
                p.push(format!("{key}.price_cents: must be 1..=100000000"));
            }
            // The platform must never pay out more for the diamonds than the coins cost.
            let payout_millicents = i128::from(pkg.coins)
                * i128::from(m.diamonds_per_coin)
                * i128::from(m.diamond_value_millicents);
            if i128::from(pkg.price_cents) * 1000 < payout_millicents {
                p.push(format!(
                    "{key}.price_cents: below the cash value of the diamonds its coins become"
                ));
            }
            if pkg.store_product_id.is_empty() {
                p.push(format!("{key}.store_product_id: must not be empty"));
            }
        }
        if !self.coin_packages.iter().any(|c| c.active) {
            p.push("coin_packages: at least one active package is required".into());
        }
        let mut seen = HashSet::new();
        for (i, g) in self.gifts.iter().enumerate() {
            let key = format!("gifts[{i}]");
            if !valid_id(&g.gift_id) || !seen.insert(g.gift_id.clone()) {
                p.push(format!(
                    "{key}.gift_id: must be a unique id of [A-Za-z0-9_.-], 1..64 chars"
                ));
            }
            if !(1..=1_000_000).contains(&g.coins) {
                p.push(format!("{key}.coins: must be 1..=1000000"));
            }
            if g.name.trim().is_empty() {
                p.push(format!("{key}.name: must not be empty"));
            }
        }
        for (key, list) in [
            ("internal.escrow_callers", &self.internal.escrow_callers),
            (
                "internal.ad_budget_callers",
                &self.internal.ad_budget_callers,
            ),
        ] {
            if list.iter().any(|s| !s.starts_with("service:")) {
                p.push(format!("{key}: subjects look like service:<name>"));
            }
        }
        p
    }

    fn development_only(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.auth.development_only(&mut out);
        // Test receipts are signed with a key anyone can hold: free coins.
        if self.payments.test_provider_enabled {
            out.push("payments.test_provider_enabled".into());
        }
        out
    }
}

impl Config {
    /// Cash value in cents (rounded down) of `diamonds`.
    pub fn diamonds_cash_cents(&self, diamonds: i64) -> i64 {
        let v = i128::from(diamonds) * i128::from(self.money.diamond_value_millicents) / 1000;
        i64::try_from(v).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_priced_above_payout_value() {
        let c = Config::default();
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        assert_eq!(c.coin_packages[0].coins, 100);
        assert_eq!(c.coin_packages[0].price_cents, 99);
        assert_eq!(c.gifts[0].coins, 1);
        assert_eq!(c.gifts.last().map(|g| g.coins), Some(34_999));
        assert_eq!(c.diamonds_cash_cents(1999), 999);
    }

    #[test]
    fn problems_name_their_keys() {
        let mut c = Config::default();
        c.ledger.shards = 0;
        c.coin_packages[1].price_cents = 10;
        c.gifts[2].gift_id = "rose".into();
        let problems = c.validate().join("\n");
        assert!(problems.contains("ledger.shards"), "{problems}");
        assert!(
            problems.contains("coin_packages[1].price_cents"),
            "{problems}"
        );
        assert!(problems.contains("gifts[2].gift_id"), "{problems}");
    }
}
