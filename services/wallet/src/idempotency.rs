//! Idempotency keys: the first successful result of (caller, rpc, key).
//!
//! The row is inserted last, in the same database transaction as the work
//! (so only successes are remembered). If the key was already used, that
//! insert conflicts, the work rolls back, and the caller answers with the
//! stored result. A concurrent duplicate blocks on the key's unique index
//! until the first commits, then answers the same way: a retry never moves
//! money twice and never sees a half-done first call.

use std::time::Duration;

use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::error::{Rule, WalletError, WalletResult};

/// A validated key with its scope and the hash of the request it came with.
#[derive(Debug, Clone)]
pub struct Key {
    pub scope: String,
    pub key: String,
    pub hash: Vec<u8>,
}

/// A stored first result.
#[derive(Debug, Clone)]
pub struct Stored {
    pub response: Vec<u8>,
    pub balance_after: Option<i64>,
}

/// Checks the contract's key format (`loop_platform::validate::idempotency_key`).
pub fn validate(key: &str) -> WalletResult<()> {
    loop_platform::validate::idempotency_key("idempotency_key", key)?;
    Ok(())
}

impl Key {
    /// `request` must already have its idempotency key cleared, so the hash
    /// covers exactly the body.
    pub fn new<M: Message>(caller: &str, rpc: &str, key: &str, request: &M) -> WalletResult<Self> {
        validate(key)?;
        let mut hasher = Sha256::new();
        hasher.update(rpc.as_bytes());
        hasher.update([0]);
        hasher.update(request.encode_to_vec());
        Ok(Self {
            scope: format!("{caller}/{rpc}"),
            key: key.to_owned(),
            hash: hasher.finalize().to_vec(),
        })
    }

    /// The stored result of this key, if any; the same key with another body
    /// is ALREADY_EXISTS IDEMPOTENCY_KEY_REUSED.
    pub async fn lookup(&self, pool: &PgPool) -> WalletResult<Option<Stored>> {
        let row: Option<(Vec<u8>, Vec<u8>, Option<i64>)> = sqlx::query_as(
            "SELECT request_hash, response, balance_after FROM idempotency_keys WHERE scope = $1 AND key = $2",
        )
        .bind(&self.scope)
        .bind(&self.key)
        .fetch_optional(pool)
        .await?;
        match row {
            None => Ok(None),
            Some((hash, _, _)) if hash != self.hash => Err(WalletError::rule(
                Rule::IdempotencyKeyReused,
                "this idempotency key was used with a different request; use a new key for a new request",
            )),
            Some((_, response, balance_after)) => Ok(Some(Stored {
                response,
                balance_after,
            })),
        }
    }

    /// Decodes the stored result of this key, if any.
    pub async fn replay<R: Message + Default>(&self, pool: &PgPool) -> WalletResult<Option<R>> {
        match self.lookup(pool).await? {
            None => Ok(None),
            Some(stored) => R::decode(stored.response.as_slice())
                .map(Some)
                .map_err(WalletError::internal),
        }
    }

    /// Remembers `response` in the open transaction; `false` when the key was
    /// used meanwhile (the caller must roll back and replay).
    pub async fn store<R: Message>(
        &self,
        tx: &mut PgConnection,
        response: &R,
    ) -> WalletResult<bool> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (scope, key, request_hash, response) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&self.scope)
        .bind(&self.key)
        .bind(&self.hash)
        .bind(response.encode_to_vec())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }
}

/// The error a transaction returns when its key turned out to be used.
pub fn key_used() -> WalletError {
    WalletError::App(loop_platform::AppError::AlreadyExists(
        "idempotency key already used".into(),
    ))
}

/// Runs an idempotent mutation: answers a retry from the store first; runs
/// `work` (which stores its result with [`Key::store`] in its transaction),
/// retrying deadlocks; and when `work` is refused by the state (funds, a
/// status, a used key), answers with the stored first result if there is one.
pub async fn run<R, F, Fut>(pool: &PgPool, key: &Key, mut work: F) -> WalletResult<R>
where
    R: Message + Default,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = WalletResult<R>>,
{
    if let Some(first) = key.replay::<R>(pool).await? {
        return Ok(first);
    }
    let mut attempt = 0;
    let result = loop {
        match work().await {
            Err(err) if crate::ledger::retryable(&err) && attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(5 * attempt)).await;
            }
            other => break other,
        }
    };
    match result {
        Err(err) if err.is_state_dependent() => match key.replay::<R>(pool).await? {
            Some(first) => Ok(first),
            None => Err(err),
        },
        other => other,
    }
}

/// Deletes keys older than `retention_days`, hourly, in small batches.
pub async fn run_pruner(
    pool: PgPool,
    retention_days: u32,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        loop {
            let deleted = sqlx::query(
                "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(days => $1) LIMIT 5000))",
            )
            .bind(i32::try_from(retention_days).unwrap_or(8))
            .execute(&pool)
            .await;
            match deleted {
                Ok(r) if r.rows_affected() > 0 => continue,
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "idempotency key pruning failed");
                    break;
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated_and_hashes_cover_the_body() {
        assert!(validate("short").is_err());
        assert!(validate("has space in it").is_err());
        assert!(validate("").is_err());
        assert!(validate(&"k".repeat(129)).is_err());
        assert!(validate("gift:2026-11-23.a_b-c").is_ok());
        let a = Key::new("u", "SendGift", "key-00001", &"a".to_string()).expect("key");
        let b = Key::new("u", "SendGift", "key-00001", &"b".to_string()).expect("key");
        let a2 = Key::new("u", "SendGift", "key-00001", &"a".to_string()).expect("key");
        assert_ne!(a.hash, b.hash);
        assert_eq!(a.hash, a2.hash);
        let other_rpc = Key::new("u", "PurchaseCoins", "key-00001", &"a".to_string()).expect("key");
        assert_ne!(a.scope, other_rpc.scope);
    }
}
