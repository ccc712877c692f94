//! Payment receipts: a provider interface a real store integration
//! implements (App Store, Google Play, Stripe), and the local test provider.
//!
//! A verified receipt names the store's receipt id (the redemption key: a
//! receipt credits once, whatever the idempotency key), the product and the
//! amount paid.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use loop_proto::wallet::v1 as pb;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{WalletError, WalletResult};

/// What a store vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReceipt {
    pub provider: pb::PaymentProvider,
    pub receipt_id: String,
    pub product_id: String,
    pub amount_cents: i64,
}

/// Why a receipt was refused (each names the request field at fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptError {
    /// The signature does not verify.
    BadSignature,
    /// The receipt data is not what this store issues.
    Malformed(String),
    /// The store cannot be reached; the caller may retry.
    Unavailable(String),
}

impl From<ReceiptError> for WalletError {
    fn from(err: ReceiptError) -> Self {
        match err {
            ReceiptError::BadSignature => {
                WalletError::invalid("receipt.signature", "does not verify for this receipt")
            }
            ReceiptError::Malformed(why) => WalletError::invalid("receipt.receipt_data", why),
            ReceiptError::Unavailable(why) => {
                WalletError::App(loop_platform::AppError::Unavailable(why))
            }
        }
    }
}

/// A store integration. Verification must be pure with respect to the
/// ledger: redemption (exactly once) is the wallet's job.
#[async_trait::async_trait]
pub trait PaymentProvider: Send + Sync {
    fn provider(&self) -> pb::PaymentProvider;
    async fn verify(
        &self,
        receipt_data: &str,
        signature: &str,
    ) -> Result<VerifiedReceipt, ReceiptError>;
}

/// The receipt body of the test provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TestReceipt {
    pub receipt_id: String,
    pub product_id: String,
    pub amount_cents: i64,
}

/// Development and tests: `signature = base64url(HMAC-SHA256(secret, receipt_data))`.
pub struct TestProvider {
    secret: Vec<u8>,
}

impl TestProvider {
    pub fn new(secret: &str) -> Self {
        Self {
            secret: secret.as_bytes().to_vec(),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        #[allow(clippy::expect_used)]
        Hmac::<Sha256>::new_from_slice(&self.secret).expect("hmac accepts any key")
    }

    /// Signs a receipt as the test store would (tools and tests use this).
    pub fn sign(&self, receipt: &TestReceipt) -> pb::PaymentReceipt {
        let data = serde_json::to_string(receipt).unwrap_or_default();
        let mut mac = self.mac();
        mac.update(data.as_bytes());
        pb::PaymentReceipt {
            provider: pb::PaymentProvider::Test as i32,
            signature: URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()),
            receipt_data: data,
        }
    }
}

#[async_trait::async_trait]
impl PaymentProvider for TestProvider {
    fn provider(&self) -> pb::PaymentProvider {
        pb::PaymentProvider::Test
    }

    async fn verify(
        &self,
        receipt_data: &str,
        signature: &str,
    ) -> Result<VerifiedReceipt, ReceiptError> {
        let sig = URL_SAFE_NO_PAD
            .decode(signature.trim_end_matches('='))
            .map_err(|_| ReceiptError::BadSignature)?;
        let mut mac = self.mac();
        mac.update(receipt_data.as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| ReceiptError::BadSignature)?;
        let receipt: TestReceipt = serde_json::from_str(receipt_data).map_err(|_| {
            ReceiptError::Malformed(
                "must be JSON {\"receipt_id\",\"product_id\",\"amount_cents\"}".into(),
            )
        })?;
        if receipt.receipt_id.is_empty() || receipt.receipt_id.len() > 200 {
            return Err(ReceiptError::Malformed(
                "receipt_id must be 1..200 chars".into(),
            ));
        }
        Ok(VerifiedReceipt {
            provider: pb::PaymentProvider::Test,
            receipt_id: receipt.receipt_id,
            product_id: receipt.product_id,
            amount_cents: receipt.amount_cents,
        })
    }
}

/// The providers this deployment accepts.
#[derive(Clone, Default)]
pub struct Providers {
    by_kind: HashMap<i32, Arc<dyn PaymentProvider>>,
}

impl Providers {
    pub fn with(mut self, provider: Arc<dyn PaymentProvider>) -> Self {
        self.by_kind.insert(provider.provider() as i32, provider);
        self
    }

    /// Verifies `receipt` with its provider; unknown or disabled providers and
    /// oversized receipts are INVALID_ARGUMENT naming the field.
    pub async fn verify(
        &self,
        receipt: Option<&pb::PaymentReceipt>,
    ) -> WalletResult<VerifiedReceipt> {
        let receipt = receipt.ok_or_else(|| WalletError::invalid("receipt", "is required"))?;
        if receipt.receipt_data.is_empty() {
            return Err(WalletError::invalid("receipt.receipt_data", "is required"));
        }
        if receipt.receipt_data.len() > 64 * 1024 {
            return Err(WalletError::invalid(
                "receipt.receipt_data",
                "must be at most 64 KiB",
            ));
        }
        if receipt.signature.is_empty() {
            return Err(WalletError::invalid("receipt.signature", "is required"));
        }
        let provider = self.by_kind.get(&receipt.provider).ok_or_else(|| {
            WalletError::invalid(
                "receipt.provider",
                "is not a payment provider this deployment accepts",
            )
        })?;
        Ok(provider
            .verify(&receipt.receipt_data, &receipt.signature)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> TestReceipt {
        TestReceipt {
            receipt_id: "r-1".into(),
            product_id: "loop.coins_100".into(),
            amount_cents: 99,
        }
    }

    #[tokio::test]
    async fn signed_test_receipts_verify_and_tampered_ones_do_not() {
        let p = TestProvider::new("0123456789abcdef");
        let providers = Providers::default().with(Arc::new(TestProvider::new("0123456789abcdef")));
        let signed = p.sign(&receipt());
        let ok = providers.verify(Some(&signed)).await.expect("verifies");
        assert_eq!(ok.receipt_id, "r-1");
        assert_eq!(ok.amount_cents, 99);

        let mut tampered = signed.clone();
        tampered.receipt_data = tampered.receipt_data.replace("99", "1");
        let err = providers
            .verify(Some(&tampered))
            .await
            .expect_err("tampered");
        assert!(err.to_string().contains("receipt.signature"), "{err}");

        let mut other = signed.clone();
        other.provider = pb::PaymentProvider::AppleAppStore as i32;
        let err = providers.verify(Some(&other)).await.expect_err("disabled");
        assert!(err.to_string().contains("receipt.provider"), "{err}");

        let forged = TestProvider::new("another-secret-key").sign(&receipt());
        assert!(providers.verify(Some(&forged)).await.is_err());
    }
}
