//! The double-entry ledger: account names, postings, and the one way to write
//! them ([`post`], which calls the `ledger_post` SQL function).
//!
//! Account grammar (the contract's): `user:<id>` is a user's available
//! balance of an asset; `user:<id>#<n>` are shards of it that hot credits
//! (gift diamonds) spread over; `user:<id>:<hold>:<ref>` are holds (payout,
//! escrow, ads); `system:<name>#<n>` are platform accounts, always sharded.
//! Listings show shards as their account (`user:<id>`, `system:<name>`).

use loop_proto::wallet::v1 as pb;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{Rule, WalletError, WalletResult, db_code, sqlstate};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Asset {
    Coins = 1,
    Diamonds = 2,
    Cents = 3,
}

impl Asset {
    pub const ALL: [Asset; 3] = [Asset::Coins, Asset::Diamonds, Asset::Cents];

    pub fn id(self) -> i16 {
        self as i16
    }

    pub fn from_id(id: i16) -> Option<Self> {
        match id {
            1 => Some(Self::Coins),
            2 => Some(Self::Diamonds),
            3 => Some(Self::Cents),
            _ => None,
        }
    }

    pub fn to_proto(self) -> pb::Asset {
        match self {
            Self::Coins => pb::Asset::Coins,
            Self::Diamonds => pb::Asset::Diamonds,
            Self::Cents => pb::Asset::Cents,
        }
    }

    pub fn from_proto(value: i32) -> Option<Self> {
        match pb::Asset::try_from(value).ok()? {
            pb::Asset::Coins => Some(Self::Coins),
            pb::Asset::Diamonds => Some(Self::Diamonds),
            pb::Asset::Cents => Some(Self::Cents),
            pb::Asset::Unspecified => None,
        }
    }

    /// The plural unit, for messages ("coins").
    pub fn unit(self) -> &'static str {
        match self {
            Self::Coins => "coins",
            Self::Diamonds => "diamonds",
            Self::Cents => "cents",
        }
    }
}

/// Platform accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemAccount {
    /// Source of purchased coins.
    CoinIssuance,
    /// Where spent gift coins go.
    GiftSink,
    /// Source of creators' diamonds; retired diamonds return here.
    DiamondIssuance,
    /// What buyers paid for coins, escrow fees.
    Revenue,
    /// Settled ad spend.
    AdRevenue,
    /// Cash that left the platform (approved payouts).
    Payouts,
    /// Cash received from the stores (mirror of purchases and top-ups).
    PaymentProvider,
}

impl SystemAccount {
    pub fn name(self) -> &'static str {
        match self {
            Self::CoinIssuance => "system:coin_issuance",
            Self::GiftSink => "system:gift_sink",
            Self::DiamondIssuance => "system:diamond_issuance",
            Self::Revenue => "system:revenue",
            Self::AdRevenue => "system:ad_revenue",
            Self::Payouts => "system:payouts",
            Self::PaymentProvider => "system:payment_provider",
        }
    }
}

/// One account row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub owner: Option<Uuid>,
    pub holding: bool,
    pub system: bool,
}

/// What a hold sub-account holds.
#[derive(Debug, Clone, Copy)]
pub enum Hold {
    Payout,
    Escrow,
    Ads,
}

impl Account {
    /// A user's available balance (one row: debits are conditional updates on it).
    pub fn user(id: Uuid) -> Self {
        Self {
            name: format!("user:{id}"),
            owner: Some(id),
            holding: false,
            system: false,
        }
    }

    /// Shard `n` of a user's available balance (hot credits).
    pub fn user_shard(id: Uuid, n: u32) -> Self {
        Self {
            name: format!("user:{id}#{n}"),
            owner: Some(id),
            holding: false,
            system: false,
        }
    }

    pub fn hold(id: Uuid, hold: Hold, reference: &str) -> Self {
        let kind = match hold {
            Hold::Payout => "payout",
            Hold::Escrow => "escrow",
            Hold::Ads => "ads",
        };
        Self {
            name: format!("user:{id}:{kind}:{reference}"),
            owner: Some(id),
            holding: true,
            system: false,
        }
    }

    /// Shard `n` of a platform account.
    pub fn system(account: SystemAccount, n: u32) -> Self {
        Self {
            name: format!("{}#{n}", account.name()),
            owner: None,
            holding: false,
            system: true,
        }
    }
}

/// The account name listings show: shards as their account.
pub fn display_account(name: &str) -> &str {
    name.split_once('#').map_or(name, |(base, _)| base)
}

/// A shard for one posting: spreads concurrent credits over `shards` rows.
pub fn pick_shard(shards: u32) -> u32 {
    if shards <= 1 {
        0
    } else {
        rand::random_range(0..shards)
    }
}

/// One balanced ledger transaction, before it is written.
#[derive(Debug, Clone)]
pub struct Posting {
    pub transaction_id: Uuid,
    pub kind: pb::TransactionKind,
    pub reference: String,
    pub legs: Vec<(Account, Asset, i64)>,
}

/// The arrays `ledger_post` takes.
pub struct Columns {
    pub accounts: Vec<String>,
    pub assets: Vec<i16>,
    pub amounts: Vec<i64>,
    pub owners: Vec<Option<Uuid>>,
    pub holding: Vec<bool>,
    pub system: Vec<bool>,
}

impl Posting {
    pub fn new(kind: pb::TransactionKind, reference: impl Into<String>) -> Self {
        Self {
            transaction_id: loop_platform::ids::new_id(),
            kind,
            reference: reference.into(),
            legs: Vec::new(),
        }
    }

    /// Adds a leg (positive credits, negative debits); zero legs are dropped.
    pub fn leg(mut self, account: Account, asset: Asset, amount: i64) -> Self {
        if amount != 0 {
            self.legs.push((account, asset, amount));
        }
        self
    }

    /// Whether the legs sum to zero per asset (the database checks it too).
    pub fn is_balanced(&self) -> bool {
        Asset::ALL.iter().all(|asset| {
            self.legs
                .iter()
                .filter(|(_, a, _)| a == asset)
                .map(|(_, _, m)| i128::from(*m))
                .sum::<i128>()
                == 0
        })
    }

    pub fn columns(&self) -> Columns {
        Columns {
            accounts: self.legs.iter().map(|(a, _, _)| a.name.clone()).collect(),
            assets: self.legs.iter().map(|(_, s, _)| s.id()).collect(),
            amounts: self.legs.iter().map(|(_, _, m)| *m).collect(),
            owners: self.legs.iter().map(|(a, _, _)| a.owner).collect(),
            holding: self.legs.iter().map(|(a, _, _)| a.holding).collect(),
            system: self.legs.iter().map(|(a, _, _)| a.system).collect(),
        }
    }

    /// Index (1-based, as SQL arrays) of the leg on `account`.
    pub fn leg_index(&self, account: &Account) -> i32 {
        self.legs
            .iter()
            .position(|(a, _, _)| a == account)
            .map_or(1, |i| i32::try_from(i + 1).unwrap_or(1))
    }

    pub fn kind_id(&self) -> i16 {
        i16::try_from(self.kind as i32).unwrap_or(0)
    }
}

/// Ledger transactions committed, by kind.
static COMMITTED: std::sync::LazyLock<prometheus::IntCounterVec> = std::sync::LazyLock::new(|| {
    loop_platform::metrics::counter_vec(
        "loop_wallet_ledger_transactions_total",
        "Ledger transactions committed, by kind (gift, coin_purchase, payout_request, ...)",
        &["kind"],
    )
});

/// Counts a committed ledger transaction; call after the commit.
pub fn count_committed(kind: pb::TransactionKind) {
    let name = kind.as_str_name();
    let label = name
        .strip_prefix("TRANSACTION_KIND_")
        .unwrap_or(name)
        .to_ascii_lowercase();
    COMMITTED.with_label_values(&[label.as_str()]).inc();
}

/// Maps a ledger write error: WL001 becomes INSUFFICIENT_FUNDS with
/// `insufficient` as its message.
pub fn map_post_error(err: sqlx::Error, insufficient: impl FnOnce() -> String) -> WalletError {
    match db_code(&err).as_deref() {
        Some(sqlstate::INSUFFICIENT_FUNDS) => {
            WalletError::rule(Rule::InsufficientFunds, insufficient())
        }
        _ => err.into(),
    }
}

/// Writes `posting` in the caller's transaction; returns each leg's balance after.
pub async fn post(
    conn: &mut PgConnection,
    posting: &Posting,
    insufficient: impl FnOnce() -> String,
) -> WalletResult<Vec<i64>> {
    if !posting.is_balanced() {
        return Err(WalletError::internal(anyhow::anyhow!(
            "refusing an unbalanced posting: {posting:?}"
        )));
    }
    let c = posting.columns();
    sqlx::query_scalar::<_, Vec<i64>>("SELECT ledger_post($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(posting.transaction_id)
        .bind(posting.kind_id())
        .bind(&posting.reference)
        .bind(&c.accounts)
        .bind(&c.assets)
        .bind(&c.amounts)
        .bind(&c.owners)
        .bind(&c.holding)
        .bind(&c.system)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| map_post_error(e, insufficient))
}

/// Whether an error is a deadlock or serialization failure worth retrying.
pub fn retryable(err: &WalletError) -> bool {
    let WalletError::App(loop_platform::AppError::Internal(cause)) = err else {
        return false;
    };
    cause
        .downcast_ref::<sqlx::Error>()
        .and_then(db_code)
        .is_some_and(|c| c == sqlstate::DEADLOCK || c == sqlstate::SERIALIZATION)
}

/// A user's available and held balance of every asset.
pub async fn balances(conn: &mut PgConnection, user: Uuid) -> WalletResult<Vec<(Asset, i64, i64)>> {
    let rows: Vec<(i16, bool, i64)> = sqlx::query_as(
        "SELECT asset, holding, sum(balance)::BIGINT FROM accounts WHERE owner_id = $1 GROUP BY asset, holding",
    )
    .bind(user)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Asset::ALL
        .iter()
        .map(|asset| {
            let pick = |held: bool| {
                rows.iter()
                    .filter(|(a, h, _)| *a == asset.id() && *h == held)
                    .map(|(_, _, b)| *b)
                    .sum::<i64>()
            };
            (*asset, pick(false), pick(true))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_follow_the_contract() {
        let id = Uuid::nil();
        assert_eq!(Account::user(id).name, format!("user:{id}"));
        assert_eq!(Account::user_shard(id, 3).name, format!("user:{id}#3"));
        assert_eq!(
            Account::hold(id, Hold::Escrow, "e1").name,
            format!("user:{id}:escrow:e1")
        );
        assert_eq!(
            Account::system(SystemAccount::Revenue, 5).name,
            "system:revenue#5"
        );
        assert_eq!(display_account("system:revenue#5"), "system:revenue");
        assert_eq!(display_account(&format!("user:{id}")), format!("user:{id}"));
    }

    #[test]
    fn balance_is_checked_per_asset() {
        let u = Uuid::now_v7();
        let ok = Posting::new(pb::TransactionKind::Gift, "rose")
            .leg(Account::user(u), Asset::Coins, -5)
            .leg(Account::system(SystemAccount::GiftSink, 0), Asset::Coins, 5)
            .leg(Account::user_shard(u, 1), Asset::Diamonds, 5)
            .leg(
                Account::system(SystemAccount::DiamondIssuance, 1),
                Asset::Diamonds,
                -5,
            );
        assert!(ok.is_balanced());
        let bad = Posting::new(pb::TransactionKind::Gift, "rose")
            .leg(Account::user(u), Asset::Coins, -5)
            .leg(Account::user_shard(u, 1), Asset::Diamonds, 5);
        assert!(!bad.is_balanced());
        assert_eq!(ok.leg_index(&Account::user(u)), 1);
    }
}
