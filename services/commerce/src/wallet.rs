//! The wallet boundary: every money step of an order is one escrow call
//! whose idempotency key is derived from the order (or the refund), so a
//! retry (a repeated rpc, a crash between the wallet's commit and ours, the
//! sweeper finishing the step) reaches the wallet with the same key and the
//! same body and gets the first result: money moves at most once per step.
//!
//! Keys: `commerce:pay:<order>` (card charge into escrow),
//! `commerce:cancel:<order>` (everything back to the card),
//! `commerce:refund:<refund>` (one partial refund),
//! `commerce:settle:<order>` (release: seller + referral fee, the
//! commission kept held when it is paid on its own day),
//! `commerce:commission:<order>` (release of the kept commission).

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
    /// The wallet refused what the caller brought (a receipt that does not
    /// verify, a receipt used before): the status to pass on to the caller.
    Declined(tonic::Status),
    /// The escrow is no longer held: the step was already done under
    /// another key, or something is wrong. Never retried blindly.
    NotHeld,
    /// The wallet refused for good for a reason that is not the caller's
    /// (this service is not an allowed escrow caller, an unknown escrow, a
    /// rule of the wallet): retrying with the same key cannot succeed.
    Permanent(String),
    /// Unreachable or failed on its side: retry later with the same key.
    Unavailable(String),
}

impl WalletFailure {
    /// For refunds and settlements, where the body is the service's own:
    /// anything but `Unavailable` needs a person.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, Self::Unavailable(_))
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Declined(s) => format!("{:?}: {}", s.code(), s.message()),
            Self::NotHeld => "the escrow is no longer held".into(),
            Self::Permanent(m) | Self::Unavailable(m) => m.clone(),
        }
    }
}

/// Wallet refusals that are final, by step and kind (alert on any).
pub static REFUSALS: std::sync::LazyLock<prometheus::IntCounterVec> = std::sync::LazyLock::new(
    || {
        loop_platform::metrics::counter_vec(
            "loop_commerce_wallet_refusals_total",
            "Wallet steps refused for good (not retried; the order needs a person), by step and kind",
            &["step", "kind"],
        )
    },
);

/// Counts and logs a final refusal of `step` for `order`.
pub fn alert(step: &str, order: Uuid, failure: &WalletFailure) {
    let kind = match failure {
        WalletFailure::Declined(_) => "declined",
        WalletFailure::NotHeld => "not_held",
        WalletFailure::Permanent(_) => "permanent",
        WalletFailure::Unavailable(_) => "unavailable",
    };
    REFUSALS.with_label_values(&[step, kind]).inc();
    tracing::error!(order = %order, step, kind, error = %failure.describe(), "the wallet refused a money step for good; the order needs a look");
}

/// Sorts a wallet status: only what may succeed on a retry is `Unavailable`.
fn classify(status: tonic::Status) -> WalletFailure {
    match loop_platform::error::reason_of::<WalletReason>(&status) {
        Some(WalletReason::EscrowNotHeld) => return WalletFailure::NotHeld,
        Some(WalletReason::ReceiptAlreadyRedeemed) => return WalletFailure::Declined(status),
        _ => {}
    }
    use tonic::Code as C;
    match status.code() {
        C::InvalidArgument => WalletFailure::Declined(status),
        C::PermissionDenied
        | C::FailedPrecondition
        | C::NotFound
        | C::AlreadyExists
        | C::OutOfRange
        | C::Unimplemented => {
            WalletFailure::Permanent(format!("{:?}: {}", status.code(), status.message()))
        }
        // Unavailable, DeadlineExceeded, Internal, Unknown, Aborted,
        // ResourceExhausted, Cancelled, DataLoss, Unauthenticated (a key
        // rotation in flight): the wallet did not decide; the same key later.
        code => WalletFailure::Unavailable(format!("{code:?}: {}", status.message())),
    }
}

#[derive(Clone)]
pub struct Wallet {
    client: WalletServiceClient<Channel>,
    keys: JwtKeys,
    timeout: Duration,
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

    /// A card hold of `amount_cents` into an escrow under `key`, whose
    /// receipt names `reference` (a LIVE auction bidder's authorisation).
    pub async fn hold(
        &self,
        key: String,
        payer: Uuid,
        payee: Uuid,
        amount_cents: i64,
        reference: String,
        receipt: wpb::PaymentReceipt,
    ) -> Result<Uuid, WalletFailure> {
        let response = self
            .client
            .clone()
            .hold_escrow(self.request(wpb::HoldEscrowRequest {
                idempotency_key: key,
                payer_id: payer.to_string(),
                payee_id: payee.to_string(),
                amount_cents,
                reference,
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

    /// An escrow as the wallet has it now.
    pub async fn escrow(&self, escrow: Uuid) -> Result<wpb::Escrow, WalletFailure> {
        self.client
            .clone()
            .get_escrow(self.request(wpb::GetEscrowRequest {
                escrow_id: escrow.to_string(),
            }))
            .await
            .map_err(classify)?
            .into_inner()
            .escrow
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

    /// Releases what the escrow holds but `keep_cents`: the referral fee to
    /// the platform, an affiliate's commission to the creator (when paid
    /// with the settlement), the rest to the seller. A commission paid on its
    /// own day is kept held (`keep_cents`) for [`Wallet::pay_commission`].
    pub async fn settle(
        &self,
        order: Uuid,
        escrow: Uuid,
        fee_cents: i64,
        affiliate: Option<(Uuid, i64)>,
        keep_cents: i64,
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
                keep_cents,
            }))
            .await
            .map_err(classify)?
            .into_inner()
            .escrow
            .ok_or_else(|| WalletFailure::Unavailable("wallet returned no escrow".into()))
    }
}

impl Wallet {
    /// Pays the commission a settlement kept held: all that is left of the
    /// escrow, to the affiliate (key `commerce:commission:<order>`).
    pub async fn pay_commission(
        &self,
        order: Uuid,
        escrow: Uuid,
        affiliate: Uuid,
        cents: i64,
    ) -> Result<wpb::Escrow, WalletFailure> {
        self.client
            .clone()
            .release_escrow(self.request(wpb::ReleaseEscrowRequest {
                idempotency_key: format!("commerce:commission:{order}"),
                escrow_id: escrow.to_string(),
                platform_fee_bps: 0,
                split: Some(wpb::EscrowSplit {
                    platform_fee_cents: 0,
                    affiliate_id: affiliate.to_string(),
                    affiliate_cents: cents,
                }),
                keep_cents: 0,
            }))
            .await
            .map_err(classify)?
            .into_inner()
            .escrow
            .ok_or_else(|| WalletFailure::Unavailable("wallet returned no escrow".into()))
    }
}
