//! The boundary to the advertiser's money.
//!
//! Advertiser cash lives in the wallet service (`loop.wallet.v1`:
//! `ReserveAdBudget`, `ChargeAdSpend`, `ReleaseAdBudget`). Ads-auction keeps
//! the authoritative billing ledger itself (the `ad_actions` table, spend
//! per ad group and day, campaign spend) and talks to the wallet only through
//! this trait, with idempotency keys derived from its own rows so a retry
//! never moves money twice:
//!
//! - `reserve` / `release`: `campaign:<id>:v<version>` (campaign created or
//!   its total budget changed to version `version`);
//! - `charge`: `settle:<campaign_id>:<cumulative settled cents>` from the
//!   settlement loop (`billing::run_settlement`), which settles whole cents of
//!   billed spend per campaign.
//!
//! The wallet client is not wired yet (the wallet is being built in
//! parallel): [`Unmetered`] accepts every call and logs it. Wiring the gRPC
//! client is a new implementation of [`AdWallet`] selected by
//! `wallet.mode`; nothing else changes.

use std::future::Future;
use std::pin::Pin;

use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The advertiser's available cents cannot cover the amount.
    #[error("insufficient funds")]
    InsufficientFunds,
    #[error("wallet unavailable: {0}")]
    Unavailable(String),
}

/// One money movement for one campaign.
#[derive(Debug, Clone)]
pub struct Movement<'a> {
    pub idempotency_key: &'a str,
    pub advertiser_id: Uuid,
    pub campaign_id: Uuid,
    pub amount_cents: i64,
}

/// What a charge settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charged {
    pub charged_cents: i64,
    /// Beyond the reserve (bounded overspend): not charged.
    pub written_off_cents: i64,
}

pub type WalletFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, WalletError>> + Send + 'a>>;

pub trait AdWallet: Send + Sync {
    /// Moves cents from the advertiser's balance into the campaign's reserve.
    fn reserve<'a>(&'a self, m: Movement<'a>) -> WalletFuture<'a, ()>;
    /// Settles billed spend from the campaign's reserve to ad revenue.
    fn charge<'a>(&'a self, m: Movement<'a>) -> WalletFuture<'a, Charged>;
    /// Returns unused cents of the reserve to the advertiser.
    fn release<'a>(&'a self, m: Movement<'a>) -> WalletFuture<'a, ()>;
}

/// No wallet yet: budgets are enforced by ads-auction alone and every
/// movement is accepted (and logged for the later wiring).
pub struct Unmetered;

impl AdWallet for Unmetered {
    fn reserve<'a>(&'a self, m: Movement<'a>) -> WalletFuture<'a, ()> {
        Box::pin(async move {
            tracing::debug!(key = m.idempotency_key, campaign = %m.campaign_id, cents = m.amount_cents, "wallet reserve (unmetered)");
            Ok(())
        })
    }

    fn charge<'a>(&'a self, m: Movement<'a>) -> WalletFuture<'a, Charged> {
        Box::pin(async move {
            tracing::debug!(key = m.idempotency_key, campaign = %m.campaign_id, cents = m.amount_cents, "wallet charge (unmetered)");
            Ok(Charged {
                charged_cents: m.amount_cents,
                written_off_cents: 0,
            })
        })
    }

    fn release<'a>(&'a self, m: Movement<'a>) -> WalletFuture<'a, ()> {
        Box::pin(async move {
            tracing::debug!(key = m.idempotency_key, campaign = %m.campaign_id, cents = m.amount_cents, "wallet release (unmetered)");
            Ok(())
        })
    }
}
