//! The persistence steps every collaboration change shares: row locks,
//! idempotency-key claims and the state history, so each handler records a
//! change the same way.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{MktError, MktResult, Reason};
use crate::model::{CAMPAIGN_COLUMNS, COLLAB_COLUMNS, CampaignRow, CollabRow};

pub(super) async fn history(
    tx: &mut PgConnection,
    collab: Uuid,
    from: i16,
    to: i16,
    actor: &str,
    note: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO collaboration_history (collaboration_id, from_state, to_state, actor, note) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(collab)
    .bind(from)
    .bind(to)
    .bind(actor)
    .bind(note)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub(super) async fn set_state(
    tx: &mut PgConnection,
    row: &CollabRow,
    to: i16,
    actor: &str,
    note: &str,
) -> MktResult<CollabRow> {
    let updated = sqlx::query_as::<_, CollabRow>(&format!(
        "UPDATE collaborations SET state = $2, updated_at = now() WHERE collaboration_id = $1 RETURNING {COLLAB_COLUMNS}"
    ))
    .bind(row.collaboration_id)
    .bind(to)
    .fetch_one(&mut *tx)
    .await?;
    history(tx, row.collaboration_id, row.state, to, actor, note).await?;
    Ok(updated)
}

/// Like `lock_collab`, but None when another transaction holds the row
/// (background steps skip it; another replica is on it).
pub(super) async fn try_lock_collab(
    tx: &mut PgConnection,
    id: Uuid,
) -> MktResult<Option<CollabRow>> {
    Ok(sqlx::query_as::<_, CollabRow>(&format!(
        "SELECT {COLLAB_COLUMNS} FROM collaborations WHERE collaboration_id = $1 FOR UPDATE SKIP LOCKED"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?)
}

pub(super) async fn lock_collab(tx: &mut PgConnection, id: Uuid) -> MktResult<Option<CollabRow>> {
    Ok(sqlx::query_as::<_, CollabRow>(&format!(
        "SELECT {COLLAB_COLUMNS} FROM collaborations WHERE collaboration_id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?)
}

pub(super) async fn lock_campaign(tx: &mut PgConnection, id: Uuid) -> MktResult<CampaignRow> {
    Ok(sqlx::query_as::<_, CampaignRow>(&format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE campaign_id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?)
}

/// The caller's use of an idempotency key: the first use binds it to
/// (method, collaboration); another use elsewhere is IDEMPOTENCY_KEY_REUSED.
pub(super) async fn claim_key(
    tx: &mut PgConnection,
    caller: &str,
    key: &str,
    method: &str,
    collab: Uuid,
) -> MktResult<()> {
    let bound: Option<(String, Uuid)> = sqlx::query_as(
        "INSERT INTO idempotency_keys (caller, key, method, collaboration_id) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (caller, key) DO UPDATE SET caller = idempotency_keys.caller \
         RETURNING method, collaboration_id",
    )
    .bind(caller)
    .bind(key)
    .bind(method)
    .bind(collab)
    .fetch_optional(&mut *tx)
    .await?;
    match bound {
        Some((m, c)) if m == method && c == collab => Ok(()),
        _ => Err(MktError::rule(
            Reason::IdempotencyKeyReused,
            "this idempotency key was used for another request",
        )),
    }
}
