//! Upload sessions: create, append a chunk at its offset, cancel, and the
//! sweeper that expires abandoned ones and purges what terminal sessions left.
//!
//! A chunk is checked against the session (owner, state, offset, size),
//! stored at a key of its own (`parts/<offset>-<write id>`) with no database
//! connection held (an S3 write can take a while; holding a connection and a
//! row lock across it would exhaust the pool), then committed only if the
//! session is still `uploading` at that offset (compare-and-set): of two
//! racing writes at one offset one commits, the other deletes its object and
//! is refused. The last chunk moves the session to `processing` and queues
//! `UploadCompleted`: the session row is the job.
//!
//! Deleting objects never happens inside a transaction: the state change
//! commits with `purge_pending`, then the objects go (inline, and the
//! sweeper retries whatever a crash or a store outage left).

use std::time::Duration;

use chrono::{DateTime, Utc};
use loop_platform::auth::{Caller, Role};
use loop_proto::events::v1 as ev;
use loop_proto::media::v1 as pb;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::{MediaError, MediaResult, Rule};
use crate::service::MediaService;
use crate::store::Store;

/// A rendition as stored in `uploads.renditions`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RenditionInfo {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub bandwidth: u32,
    pub playlist: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadRow {
    pub upload_id: Uuid,
    pub owner_id: Uuid,
    pub state: String,
    pub size_bytes: i64,
    pub received: i64,
    pub content_type: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub failure_reason: String,
    pub duration_ms: i32,
    pub width: i32,
    pub height: i32,
    pub video_codec: String,
    pub audio_codec: String,
    pub renditions: sqlx::types::Json<Vec<RenditionInfo>>,
    pub master_playlist: String,
    pub poster: String,
    pub processing_attempts: i32,
}

pub const COLUMNS: &str = "upload_id, owner_id, state, size_bytes, received, content_type, created_at, expires_at, failure_reason, duration_ms, width, height, video_codec, audio_codec, renditions, master_playlist, poster, processing_attempts";

fn state_of(state: &str) -> pb::UploadState {
    match state {
        "uploading" => pb::UploadState::Uploading,
        "processing" => pb::UploadState::Processing,
        "ready" => pb::UploadState::Ready,
        "failed" => pb::UploadState::Failed,
        "expired" => pb::UploadState::Expired,
        "cancelled" => pb::UploadState::Cancelled,
        "removed" => pb::UploadState::Removed,
        _ => pb::UploadState::Unspecified,
    }
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_u32(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

impl From<UploadRow> for pb::Upload {
    fn from(r: UploadRow) -> Self {
        Self {
            upload_id: r.upload_id.to_string(),
            owner_id: r.owner_id.to_string(),
            state: state_of(&r.state) as i32,
            size_bytes: to_u64(r.size_bytes),
            offset: to_u64(r.received),
            content_type: r.content_type,
            created_at: Some(loop_platform::time::to_timestamp(r.created_at)),
            expires_at: Some(loop_platform::time::to_timestamp(r.expires_at)),
            failure_reason: r.failure_reason,
            duration_ms: to_u32(r.duration_ms),
            width: to_u32(r.width),
            height: to_u32(r.height),
            video_codec: r.video_codec,
            audio_codec: r.audio_codec,
            renditions: r
                .renditions
                .0
                .into_iter()
                .map(|x| pb::Rendition {
                    name: x.name,
                    width: x.width,
                    height: x.height,
                    bandwidth: x.bandwidth,
                    playlist: x.playlist,
                })
                .collect(),
            master_playlist: r.master_playlist,
            poster: r.poster,
            processing_attempts: to_u32(r.processing_attempts),
        }
    }
}

/// Loads a session, locked when `lock` (inside a transaction).
pub async fn load(
    conn: &mut sqlx::PgConnection,
    upload_id: Uuid,
    lock: bool,
) -> MediaResult<UploadRow> {
    let sql = format!(
        "SELECT {COLUMNS} FROM uploads WHERE upload_id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    sqlx::query_as::<_, UploadRow>(&sql)
        .bind(upload_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| MediaError::not_found(format!("upload {upload_id} not found")))
}

fn owner_only(caller: &Caller, row: &UploadRow) -> MediaResult<()> {
    if caller.subject == row.owner_id.to_string() {
        Ok(())
    } else {
        Err(MediaError::denied("this upload belongs to another user"))
    }
}

impl MediaService {
    pub(crate) async fn create_upload(
        &self,
        caller: &Caller,
        r: pb::CreateUploadRequest,
    ) -> MediaResult<pb::Upload> {
        caller.require_role(&[Role::Creator, Role::Admin])?;
        let owner = caller.user_id()?;
        let limits = &self.config.uploads;
        if r.size_bytes == 0 {
            return Err(MediaError::invalid("size_bytes", "must be at least 1"));
        }
        if r.size_bytes > limits.max_bytes {
            return Err(MediaError::rule(
                Rule::UploadTooLarge,
                format!(
                    "size_bytes: {} bytes is over the limit of {} bytes",
                    r.size_bytes, limits.max_bytes
                ),
            ));
        }
        let content_type = r.content_type.trim().to_ascii_lowercase();
        if !limits.content_types.contains(&content_type) {
            return Err(MediaError::invalid(
                "content_type",
                format!("must be one of {}", limits.content_types.join(", ")),
            ));
        }
        if r.filename.chars().count() > 255 || r.filename.chars().any(char::is_control) {
            return Err(MediaError::invalid(
                "filename",
                "at most 255 characters, no control characters",
            ));
        }
        let id = loop_platform::ids::new_id();
        let size = i64::try_from(r.size_bytes)
            .map_err(|_| MediaError::invalid("size_bytes", "too large"))?;
        let mut tx = self.pool.begin().await?;
        // One creator's sessions are counted one at a time (two racing
        // creates cannot both take the last place).
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 17))")
            .bind(owner)
            .execute(&mut *tx)
            .await?;
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM uploads WHERE owner_id = $1 AND state = 'uploading' AND expires_at > now()",
        )
        .bind(owner)
        .fetch_one(&mut *tx)
        .await?;
        if open >= i64::from(limits.max_open_per_user) {
            return Err(MediaError::rule(
                Rule::TooManyUploads,
                format!(
                    "you have {open} unfinished uploads (the limit is {}); finish or cancel one first",
                    limits.max_open_per_user
                ),
            ));
        }
        let sql = format!(
            "INSERT INTO uploads (upload_id, owner_id, size_bytes, content_type, filename, expires_at) \
             VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6)) RETURNING {COLUMNS}"
        );
        let row = sqlx::query_as::<_, UploadRow>(&sql)
            .bind(id)
            .bind(owner)
            .bind(size)
            .bind(&content_type)
            .bind(&r.filename)
            .bind(limits.expire_after_secs as f64)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        crate::metrics::UPLOADS
            .with_label_values(&["created"])
            .inc();
        Ok(row.into())
    }

    pub(crate) async fn get_upload(
        &self,
        caller: &Caller,
        r: pb::GetUploadRequest,
    ) -> MediaResult<pb::Upload> {
        let id = loop_platform::ids::parse_id("upload_id", &r.upload_id)?;
        let mut conn = self.pool.acquire().await?;
        let row = load(&mut conn, id, false).await?;
        if !(caller.role == Role::Service || caller.is_admin()) {
            owner_only(caller, &row)?;
        }
        Ok(row.into())
    }

    pub(crate) async fn append_chunk(
        &self,
        caller: &Caller,
        r: pb::AppendChunkRequest,
    ) -> MediaResult<pb::Upload> {
        let id = loop_platform::ids::parse_id("upload_id", &r.upload_id)?;
        if r.data.is_empty() {
            return Err(MediaError::invalid("data", "must not be empty"));
        }
        let max_chunk = self.config.uploads.max_chunk_bytes as usize;
        if r.data.len() > max_chunk {
            return Err(MediaError::invalid(
                "data",
                format!("at most {max_chunk} bytes per chunk"),
            ));
        }
        let len = r.data.len() as u64;
        // 1. Check (no lock: the commit below compares again).
        let row = {
            let mut conn = self.pool.acquire().await?;
            load(&mut conn, id, false).await?
        };
        check_append(caller, &row, r.offset, len)?;
        // 2. Store the bytes, holding no connection.
        let key = Store::part_write_key(id, r.offset, loop_platform::ids::new_id());
        self.store
            .put(&key, r.data)
            .await
            .map_err(MediaError::internal)?;
        // 3. Commit if the session is still where it was.
        match self.commit_chunk(id, &row, r.offset, len, &key).await {
            Ok(Some(updated)) => {
                crate::metrics::UPLOAD_BYTES
                    .with_label_values(&["append_chunk"])
                    .inc_by(len);
                if updated.state == "processing" {
                    crate::metrics::UPLOADS
                        .with_label_values(&["completed"])
                        .inc();
                    self.worker_wake.notify_one();
                }
                Ok(updated.into())
            }
            outcome => {
                // Refused (another write won the offset, the session ended
                // meanwhile) or not committed: this object is nobody's.
                if let Err(err) = self.store.delete(&key).await {
                    tracing::warn!(error = %err, "cannot delete a chunk that did not commit");
                }
                outcome?;
                // Say why, from the session as it is now.
                let mut conn = self.pool.acquire().await?;
                let now = load(&mut conn, id, false).await?;
                check_append(caller, &now, r.offset, len)?;
                Err(MediaError::rule(
                    Rule::OffsetMismatch,
                    format!(
                        "offset: the upload is at byte {}; this chunk starts at {}",
                        now.received, r.offset
                    ),
                ))
            }
        }
    }

    /// Commits a stored chunk: `None` when the session is no longer
    /// `uploading` at `offset`.
    async fn commit_chunk(
        &self,
        id: Uuid,
        row: &UploadRow,
        offset: u64,
        len: u64,
        key: &object_store::path::Path,
    ) -> MediaResult<Option<UploadRow>> {
        let size = to_u64(row.size_bytes);
        let complete = offset + len == size;
        let offset_i = i64::try_from(offset).map_err(MediaError::internal)?;
        let len_i = i64::try_from(len).map_err(MediaError::internal)?;
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "UPDATE uploads SET received = received + $2, updated_at = now(), \
             expires_at = now() + make_interval(secs => $3), \
             state = CASE WHEN $4 THEN 'processing' ELSE state END, \
             completed_at = CASE WHEN $4 THEN now() ELSE completed_at END \
             WHERE upload_id = $1 AND state = 'uploading' AND received = $5 AND expires_at > now() \
             RETURNING {COLUMNS}"
        );
        let Some(updated) = sqlx::query_as::<_, UploadRow>(&sql)
            .bind(id)
            .bind(len_i)
            .bind(self.config.uploads.expire_after_secs as f64)
            .bind(complete)
            .bind(offset_i)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        sqlx::query(
            "INSERT INTO upload_parts (upload_id, part_offset, length, object_key) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(offset_i)
        .bind(len_i)
        .bind(key.as_ref())
        .execute(&mut *tx)
        .await?;
        if complete {
            crate::events::emit(
                &mut tx,
                id,
                ev::media_event::Payload::UploadCompleted(ev::UploadCompleted {
                    upload_id: id.to_string(),
                    owner_id: row.owner_id.to_string(),
                    size_bytes: size,
                    content_type: row.content_type.clone(),
                }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some(updated))
    }

    pub(crate) async fn cancel_upload(
        &self,
        caller: &Caller,
        r: pb::CancelUploadRequest,
    ) -> MediaResult<pb::Upload> {
        let id = loop_platform::ids::parse_id("upload_id", &r.upload_id)?;
        let mut tx = self.pool.begin().await?;
        let row = load(&mut tx, id, true).await?;
        owner_only(caller, &row)?;
        gone_check(&row)?;
        if row.state != "uploading" {
            return Err(MediaError::rule(
                Rule::UploadNotActive,
                format!(
                    "the upload is {}; only an unfinished upload can be cancelled",
                    row.state
                ),
            ));
        }
        let sql = format!(
            "UPDATE uploads SET state = 'cancelled', purge_pending = true, updated_at = now() \
             WHERE upload_id = $1 RETURNING {COLUMNS}"
        );
        let updated = sqlx::query_as::<_, UploadRow>(&sql)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        // The bytes go once the state is committed (a failure here leaves
        // purge_pending for the sweeper).
        if let Err(err) = purge(&self.pool, &self.store, id).await {
            tracing::warn!(error = ?err, upload_id = %id, "cannot delete a cancelled upload's bytes yet");
        }
        crate::metrics::UPLOADS
            .with_label_values(&["cancelled"])
            .inc();
        Ok(updated.into())
    }
}

/// An expired or cancelled session (or one past its deadline the sweeper
/// has not reached yet): `UPLOAD_GONE`.
fn gone_check(row: &UploadRow) -> MediaResult<()> {
    let expired =
        row.state == "expired" || (row.state == "uploading" && row.expires_at < Utc::now());
    if expired || row.state == "cancelled" {
        return Err(MediaError::rule(
            Rule::UploadGone,
            format!(
                "the upload {}; start a new one",
                if expired { "expired" } else { "was cancelled" }
            ),
        ));
    }
    Ok(())
}

/// Whether `len` bytes at `offset` may be appended to `row` by `caller`.
fn check_append(caller: &Caller, row: &UploadRow, offset: u64, len: u64) -> MediaResult<()> {
    owner_only(caller, row)?;
    gone_check(row)?;
    if row.state != "uploading" {
        return Err(MediaError::rule(
            Rule::UploadNotActive,
            format!("the upload is {}; it takes no more bytes", row.state),
        ));
    }
    let received = to_u64(row.received);
    if offset != received {
        return Err(MediaError::rule(
            Rule::OffsetMismatch,
            format!("offset: the upload is at byte {received}; this chunk starts at {offset}"),
        ));
    }
    let size = to_u64(row.size_bytes);
    if received + len > size {
        return Err(MediaError::rule(
            Rule::UploadTooLarge,
            format!(
                "the chunk ends at byte {}, past the declared size of {size} bytes",
                received + len
            ),
        ));
    }
    Ok(())
}

/// Deletes what a session in a terminal state left: its chunks (objects and
/// rows) and, unless it is ready, its outputs; then clears `purge_pending`.
/// Idempotent (the sweeper retries it).
pub async fn purge(pool: &PgPool, store: &Store, id: Uuid) -> anyhow::Result<()> {
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM uploads WHERE upload_id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    let Some(state) = state else {
        return Ok(());
    };
    anyhow::ensure!(
        state != "uploading" && state != "processing",
        "upload {id} is {state}: nothing to purge"
    );
    store.delete_prefix(&Store::upload_prefix(id)).await?;
    if state != "ready" {
        store.delete_prefix(&Store::media_prefix(id)).await?;
    }
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE uploads SET purge_pending = false WHERE upload_id = $1 AND state = $2")
        .bind(id)
        .bind(&state)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// One pass of the sweeper: expires sessions not completed in time and
/// ready uploads never published (each a committed state change with
/// `purge_pending`), then purges every session still pending. No
/// transaction is open while objects are deleted.
pub async fn sweep_once(
    pool: &PgPool,
    store: &Store,
    ready: &crate::service::ReadyCache,
) -> anyhow::Result<usize> {
    let abandoned: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE uploads SET state = 'expired', purge_pending = true, updated_at = now() \
         WHERE state = 'uploading' AND expires_at < now() RETURNING upload_id",
    )
    .fetch_all(pool)
    .await?;
    for id in &abandoned {
        crate::metrics::UPLOADS
            .with_label_values(&["expired"])
            .inc();
        tracing::info!(upload_id = %id, "abandoned upload expired");
    }
    let unpublished: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE uploads SET state = 'expired', purge_pending = true, updated_at = now(), \
         failure_reason = 'the video was not published in time; upload it again' \
         WHERE state = 'ready' AND video_id IS NULL AND expires_at < now() RETURNING upload_id",
    )
    .fetch_all(pool)
    .await?;
    for id in &unpublished {
        ready.forget(*id);
        crate::metrics::UPLOADS
            .with_label_values(&["expired_unpublished"])
            .inc();
        tracing::info!(upload_id = %id, "ready upload never published expired");
    }
    let pending: Vec<Uuid> = sqlx::query_scalar(
        "SELECT upload_id FROM uploads WHERE purge_pending ORDER BY updated_at LIMIT 200",
    )
    .fetch_all(pool)
    .await?;
    for id in pending {
        if let Err(err) = purge(pool, store, id).await {
            tracing::warn!(error = ?err, upload_id = %id, "purging an upload failed; retrying later");
        }
    }
    Ok(abandoned.len() + unpublished.len())
}

pub async fn run_sweeper(
    pool: PgPool,
    store: Store,
    ready: crate::service::ReadyCache,
    interval: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
        if let Err(err) = sweep_once(&pool, &store, &ready).await {
            tracing::warn!(error = ?err, "sweeping abandoned uploads failed; retrying");
        }
    }
}
