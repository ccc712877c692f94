//! The boundary to the advertiser's money.
//!
//! Advertiser cash lives in the wallet service (`loop.wallet.v1`:
//! `ReserveAdBudget`, `ChargeAdSpend`, `ReleaseAdBudget`). Ads-auction keeps
//! the authoritative billing ledger itself (the `ad_actions` table, spend
//! per ad group and day, campaign spend) and talks to the wallet only through
//! this trait, with idempotency keys derived from its own rows so a retry
//! never moves money twice:
//!
//! - `reserve` / `release`: `campaign:<id>:v1` when a campaign is created,
//!   `campaign:<id>:v<version>:<budget>` when its total budget changes to
//!   `budget` at version `version`; a release of a reserve whose campaign
//!   never committed: `campaign:<id>:orphan-release`;
//! - `charge`: `settle:<campaign_id>:<cumulative settled cents>` from the
//!   settlement loop (`billing::run_settlement`), which settles whole cents of
//!   billed spend per campaign.
//!
//! `wallet.mode` picks the implementation: [`GrpcWallet`] (`grpc`, the
//! default: advertisers pay from their wallet cents, and a campaign whose
//! budget the balance cannot cover is refused with `INSUFFICIENT_FUNDS`), or
//! [`Unmetered`] (`unmetered`: budgets are enforced here and every movement
//! is only logged; for tests of the auction alone).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use loop_platform::auth::JwtKeys;
use loop_proto::wallet::Reason;
use loop_proto::wallet::v1 as wpb;
use loop_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use tonic::transport::Channel;
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

/// The wallet service (`loop.wallet.v1`), called as `service:ads-auction`.
#[derive(Clone)]
pub struct GrpcWallet {
    client: WalletServiceClient<Channel>,
    keys: JwtKeys,
}

/// The subject the wallet allows to move ad budgets.
pub const SERVICE_SUBJECT: &str = "service:ads-auction";

fn wallet_status(status: tonic::Status) -> WalletError {
    match loop_platform::error::reason_of::<Reason>(&status) {
        Some(Reason::InsufficientFunds) => WalletError::InsufficientFunds,
        _ => WalletError::Unavailable(format!("{:?}: {}", status.code(), status.message())),
    }
}

impl GrpcWallet {
    pub fn new(channel: Channel, keys: JwtKeys) -> Self {
        Self {
            client: WalletServiceClient::new(channel),
            keys,
        }
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let token = self.keys.service_token(Duration::from_secs(60));
        loop_platform::grpc::request(message, Some(&token), Duration::from_secs(5))
    }
}

impl AdWallet for GrpcWallet {
    fn reserve<'a>(&'a self, m: Movement<'a>) -> WalletFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .clone()
                .reserve_ad_budget(self.request(wpb::ReserveAdBudgetRequest {
                    idempotency_key: m.idempotency_key.to_owned(),
                    advertiser_id: m.advertiser_id.to_string(),
                    campaign_id: m.campaign_id.to_string(),
                    amount_cents: m.amount_cents,
                }))
                .await
                .map_err(wallet_status)?;
            Ok(())
        })
    }

    fn charge<'a>(&'a self, m: Movement<'a>) -> WalletFuture<'a, Charged> {
        Box::pin(async move {
            let r = self
                .client
                .clone()
                .charge_ad_spend(self.request(wpb::ChargeAdSpendRequest {
                    idempotency_key: m.idempotency_key.to_owned(),
                    advertiser_id: m.advertiser_id.to_string(),
                    campaign_id: m.campaign_id.to_string(),
                    amount_cents: m.amount_cents,
                }))
                .await
                .map_err(wallet_status)?
                .into_inner();
            Ok(Charged {
                charged_cents: r.charged_cents,
                written_off_cents: r.written_off_cents,
            })
        })
    }

    fn release<'a>(&'a self, m: Movement<'a>) -> WalletFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .clone()
                .release_ad_budget(self.request(wpb::ReleaseAdBudgetRequest {
                    idempotency_key: m.idempotency_key.to_owned(),
                    advertiser_id: m.advertiser_id.to_string(),
                    campaign_id: m.campaign_id.to_string(),
                    amount_cents: m.amount_cents,
                }))
                .await
                .map_err(wallet_status)?;
            Ok(())
        })
    }
}
