//! The wallet boundary: escrow hold, release and refund with idempotency keys
//! derived from the collaboration (`mkt:hold:<id>`, `mkt:release:<id>`,
//! `mkt:refund:<id>`), so any retry — a repeated rpc, a crash between the
//! wallet call and our commit, another replica's sweeper — reaches the
//! wallet with the same key and the same body and gets the first result:
//! money moves at most once per step.

use std::time::Duration;

use loop_platform::auth::JwtKeys;
use loop_proto::wallet::Reason;
use loop_proto::wallet::v1 as wpb;
use loop_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use tonic::transport::Channel;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum EscrowError {
    /// The advertiser's available cents cannot cover the hold.
    #[error("insufficient funds")]
    InsufficientFunds,
    /// The escrow is no longer held (released or refunded before).
    #[error("escrow not held")]
    NotHeld,
    /// The wallet is unreachable or failed; the step may be retried.
    #[error("wallet unavailable: {0}")]
    Unavailable(String),
}

#[derive(Clone)]
pub struct Wallet {
    client: WalletServiceClient<Channel>,
    keys: JwtKeys,
    timeout: Duration,
}

/// What a settled escrow paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    pub payee_cents: i64,
    pub platform_fee_cents: i64,
}

fn map(status: tonic::Status) -> EscrowError {
    match loop_platform::error::reason_of::<Reason>(&status) {
        Some(Reason::InsufficientFunds) => EscrowError::InsufficientFunds,
        Some(Reason::EscrowNotHeld) => EscrowError::NotHeld,
        _ => EscrowError::Unavailable(format!("{:?}: {}", status.code(), status.message())),
    }
}

impl Wallet {
    pub fn new(channel: Channel, keys: JwtKeys, timeout: Duration) -> Self {
        Self {
            client: WalletServiceClient::new(channel),
            keys,
            timeout,
        }
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let token = self.keys.service_token(Duration::from_secs(60));
        loop_platform::grpc::request(message, Some(&token), self.timeout)
    }

    /// Holds `amount_cents` of the advertiser's cents for the collaboration.
    pub async fn hold(
        &self,
        collaboration: Uuid,
        payer: Uuid,
        payee: Uuid,
        amount_cents: i64,
    ) -> Result<Uuid, EscrowError> {
        let response = self
            .client
            .clone()
            .hold_escrow(self.request(wpb::HoldEscrowRequest {
                idempotency_key: format!("mkt:hold:{collaboration}"),
                payer_id: payer.to_string(),
                payee_id: payee.to_string(),
                amount_cents,
                reference: format!("marketplace:collaboration:{collaboration}"),
                receipt: None,
            }))
            .await
            .map_err(map)?
            .into_inner();
        response
            .escrow
            .and_then(|e| Uuid::parse_str(&e.escrow_id).ok())
            .ok_or_else(|| EscrowError::Unavailable("wallet returned no escrow".into()))
    }

    /// Releases the escrow to the creator minus `fee_bps`.
    pub async fn release(
        &self,
        collaboration: Uuid,
        escrow: Uuid,
        fee_bps: u32,
    ) -> Result<Settled, EscrowError> {
        let response = self
            .client
            .clone()
            .release_escrow(self.request(wpb::ReleaseEscrowRequest {
                idempotency_key: format!("mkt:release:{collaboration}"),
                escrow_id: escrow.to_string(),
                platform_fee_bps: fee_bps,
                split: None,
                keep_cents: 0,
            }))
            .await
            .map_err(map)?
            .into_inner();
        let e = response
            .escrow
            .ok_or_else(|| EscrowError::Unavailable("wallet returned no escrow".into()))?;
        Ok(Settled {
            payee_cents: e.payee_cents,
            platform_fee_cents: e.platform_fee_cents,
        })
    }

    /// Returns the escrow to the advertiser.
    pub async fn refund(&self, collaboration: Uuid, escrow: Uuid) -> Result<(), EscrowError> {
        self.client
            .clone()
            .refund_escrow(self.request(wpb::RefundEscrowRequest {
                idempotency_key: format!("mkt:refund:{collaboration}"),
                escrow_id: escrow.to_string(),
                amount_cents: 0,
            }))
            .await
            .map_err(map)?;
        Ok(())
    }
}
