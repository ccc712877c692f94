//! The wallet boundary: every money step of an order is one escrow call
//! whose idempotency key is derived from the order (or the refund), so a
//! retry (a repeated rpc, a crash between the wallet's commit and ours, the
//! sweeper finishing the step) reaches the wallet with the same key and the
//! same body and gets the first result: money moves at most once per step.
//!
//! Keys: `commerce:pay:<order>` (card charge into escrow),
//! `commerce:cancel:<order>` (everything back to the card),
//! `commerce:refund:<refund>` (one partial refund),
//! `commerce:settle:<order>` (release: seller + referral fee).

use std::time::Duration;

use loop_platform::auth::JwtKeys;
use loop_proto::wallet::Reason as WalletReason;
use loop_proto::wallet::v1 as wpb;
use loop_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use tonic::transport::Channel;
use uuid::Uuid;

/// How a wallet step ended, when it did not succeed.
#[derive(Debug)]
pub enum WalletFailure {
    /// The wallet refused for good (a bad receipt, a receipt used before):
    /// the status to pass on to the caller.
    Refused(tonic::Status),
    /// The escrow is no longer held: the step was already done under
    /// another key, or something is wrong; logged, never retried blindly.
    NotHeld,
    /// Unreachable or failed: retry later with the same key.
    Unavailable(String),
}

#[derive(Clone)]
pub struct Wallet {
    client: WalletServiceClient<Channel>,
    keys: JwtKeys,
    timeout: Duration,
}

fn classify(status: tonic::Status) -> WalletFailure {
    match loop_platform::error::reason_of::<WalletReason>(&status) {
        Some(WalletReason::EscrowNotHeld) => return WalletFailure::NotHeld,
        Some(WalletReason::ReceiptAlreadyRedeemed) => return WalletFailure::Refused(status),
        _ => {}
    }
    match status.code() {
        tonic::Code::InvalidArgument => WalletFailure::Refused(status),
        code => WalletFailure::Unavailable(format!("{code:?}: {}", status.message())),
    }
}

pub fn order_reference(order: Uuid) -> String {
    format!("commerce:order:{order}")
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

    /// Charges the buyer's card `amount_cents` into an escrow for the order.
    pub async fn pay(
        &self,
        order: Uuid,
        buyer: Uuid,
        seller: Uuid,
        amount_cents: i64,
        receipt: wpb::PaymentReceipt,
    ) -> Result<Uuid, WalletFailure> {
        let response = self
            .client
            .clone()
            .hold_escrow(self.request(wpb::HoldEscrowRequest {
                idempotency_key: format!("commerce:pay:{order}"),
                payer_id: buyer.to_string(),
                payee_id: seller.to_string(),
                amount_cents,
                reference: order_reference(order),
                receipt: Some(receipt),
            }))
            .await
            .map_err(classify)?
            .into_inner();
        response
            .escrow
            .and_then(|e| Uuid::parse_str(&e.escrow_id).ok())
            .ok_or_else(|| WalletFailure::Unavailable("wallet returned no escrow".into()))
    }

    /// Returns `amount_cents` (0: all that is held) to the buyer's card.
    pub async fn refund(
        &self,
        key: String,
        escrow: Uuid,
        amount_cents: i64,
    ) -> Result<wpb::Escrow, WalletFailure> {
        self.client
            .clone()
            .refund_escrow(self.request(wpb::RefundEscrowRequest {
                idempotency_key: key,
                escrow_id: escrow.to_string(),
                amount_cents,
            }))
            .await
            .map_err(classify)?
            .into_inner()
            .escrow
            .ok_or_else(|| WalletFailure::Unavailable("wallet returned no escrow".into()))
    }

    /// Releases what the escrow holds: the referral fee to the platform, an
    /// affiliate's commission to the creator, the rest to the seller.
    pub async fn settle(
        &self,
        order: Uuid,
        escrow: Uuid,
        fee_cents: i64,
        affiliate: Option<(Uuid, i64)>,
    ) -> Result<wpb::Escrow, WalletFailure> {
        let (affiliate_id, affiliate_cents) = match affiliate {
            Some((a, cents)) if cents > 0 => (a.to_string(), cents),
            _ => (String::new(), 0),
        };
        self.client
            .clone()
            .release_escrow(self.request(wpb::ReleaseEscrowRequest {
                idempotency_key: format!("commerce:settle:{order}"),
                escrow_id: escrow.to_string(),
                platform_fee_bps: 0,
                split: Some(wpb::EscrowSplit {
                    platform_fee_cents: fee_cents,
                    affiliate_id,
                    affiliate_cents,
                }),
            }))
            .await
            .map_err(classify)?
            .into_inner()
            .escrow
            .ok_or_else(|| WalletFailure::Unavailable("wallet returned no escrow".into()))
    }
}
