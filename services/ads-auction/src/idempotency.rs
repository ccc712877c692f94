//! Idempotency keys for the rpcs that commit money (CreateCampaign,
//! ReserveTopView, CreateBrandedChallenge).
//!
//! The key row is inserted in the same transaction as the work, and its
//! response is written before the commit: a retry after success returns the
//! stored response; a retry while the first call runs waits on the row lock
//! and then returns the first result; a failed call rolls its key back, so it
//! may be retried. The same key with another request is ALREADY_EXISTS
//! `IDEMPOTENCY_KEY_REUSED`.

use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use crate::error::{AdsError, AdsResult, Reason};

/// SHA-256 of the request with its idempotency key cleared.
pub fn request_hash<M: Message>(request: &M) -> Vec<u8> {
    Sha256::digest(request.encode_to_vec()).to_vec()
}

/// Claims `key` for this call. `Ok(Some(response))` when an earlier call
/// with the same key and request already succeeded.
pub async fn begin<R: Message + Default>(
    tx: &mut PgConnection,
    caller: &str,
    key: &str,
    operation: &str,
    hash: &[u8],
) -> AdsResult<Option<R>> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency (caller, key, operation, request_hash, response) VALUES ($1, $2, $3, $4, '') \
         ON CONFLICT DO NOTHING",
    )
    .bind(caller)
    .bind(key)
    .bind(operation)
    .bind(hash)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(None);
    }
    let (op, stored_hash, response): (String, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT operation, request_hash, response FROM idempotency WHERE caller = $1 AND key = $2",
    )
    .bind(caller)
    .bind(key)
    .fetch_one(&mut *tx)
    .await?;
    if op != operation || stored_hash != hash {
        return Err(AdsError::rule(
            Reason::IdempotencyKeyReused,
            "this idempotency_key was used for a different request",
        ));
    }
    R::decode(response.as_slice())
        .map(Some)
        .map_err(|e| AdsError::internal(anyhow::anyhow!("stored response undecodable: {e}")))
}

/// Stores the successful response (inside the same transaction).
pub async fn finish<R: Message>(
    tx: &mut PgConnection,
    caller: &str,
    key: &str,
    response: &R,
) -> AdsResult<()> {
    sqlx::query("UPDATE idempotency SET response = $3 WHERE caller = $1 AND key = $2")
        .bind(caller)
        .bind(key)
        .bind(response.encode_to_vec())
        .execute(&mut *tx)
        .await?;
    Ok(())
}
