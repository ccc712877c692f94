//! Upload sessions: create, append a chunk at its offset, cancel, and the
//! sweeper that expires abandoned ones.
//!
//! Each chunk is written while the session row is locked: the offset is
//! checked against `received`, the chunk is stored at a key named by its
//! offset (a retried chunk overwrites the same object), then its row and the
//! new offset commit together. The last chunk moves the session to
//! `processing` and queues `UploadCompleted`: the session row is the job.

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
            .fetch_one(&self.pool)
            .await?;
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
        let mut tx = self.pool.begin().await?;
        let row = load(&mut tx, id, true).await?;
        owner_only(caller, &row)?;
        if row.state != "uploading" {
            return Err(MediaError::rule(
                Rule::UploadNotActive,
                format!("the upload is {}; it takes no more bytes", row.state),
            ));
        }
        if row.expires_at < Utc::now() {
            return Err(MediaError::rule(
                Rule::UploadNotActive,
                "the upload expired; start a new one",
            ));
        }
        let received = to_u64(row.received);
        if r.offset != received {
            return Err(MediaError::rule(
                Rule::OffsetMismatch,
                format!(
                    "offset: the upload is at byte {received}; this chunk starts at {}",
                    r.offset
                ),
            ));
        }
        let len = r.data.len() as u64;
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
        self.store
            .put(&Store::part_key(id, r.offset), r.data)
            .await
            .map_err(MediaError::internal)?;
        let offset = row.received;
        let len_i = i64::try_from(len).map_err(MediaError::internal)?;
        sqlx::query(
            "INSERT INTO upload_parts (upload_id, part_offset, length) VALUES ($1, $2, $3) \
             ON CONFLICT (upload_id, part_offset) DO UPDATE SET length = EXCLUDED.length",
        )
        .bind(id)
        .bind(offset)
        .bind(len_i)
        .execute(&mut *tx)
        .await?;
        let complete = received + len == size;
        let sql = format!(
            "UPDATE uploads SET received = received + $2, updated_at = now(), \
             expires_at = now() + make_interval(secs => $3), \
             state = CASE WHEN $4 THEN 'processing' ELSE state END, \
             completed_at = CASE WHEN $4 THEN now() ELSE completed_at END \
             WHERE upload_id = $1 RETURNING {COLUMNS}"
        );
        let updated = sqlx::query_as::<_, UploadRow>(&sql)
            .bind(id)
            .bind(len_i)
            .bind(self.config.uploads.expire_after_secs as f64)
            .bind(complete)
            .fetch_one(&mut *tx)
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
        crate::metrics::UPLOAD_BYTES
            .with_label_values(&["append_chunk"])
            .inc_by(len);
        if complete {
            crate::metrics::UPLOADS
                .with_label_values(&["completed"])
                .inc();
            self.worker_wake.notify_one();
        }
        Ok(updated.into())
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
        if row.state != "uploading" {
            return Err(MediaError::rule(
                Rule::UploadNotActive,
                format!(
                    "the upload is {}; only an unfinished upload can be cancelled",
                    row.state
                ),
            ));
        }
        self.store
            .delete_prefix(&Store::upload_prefix(id))
            .await
            .map_err(MediaError::internal)?;
        sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let sql = format!(
            "UPDATE uploads SET state = 'cancelled', updated_at = now() WHERE upload_id = $1 RETURNING {COLUMNS}"
        );
        let updated = sqlx::query_as::<_, UploadRow>(&sql)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        crate::metrics::UPLOADS
            .with_label_values(&["cancelled"])
            .inc();
        Ok(updated.into())
    }
}

/// Expires uploads not completed in time: deletes their bytes, then marks
/// them expired, each while its row is locked (a chunk arriving meanwhile
/// waits and then finds the session expired).
pub async fn sweep_once(pool: &PgPool, store: &Store) -> anyhow::Result<usize> {
    let mut swept = 0;
    loop {
        let mut tx = pool.begin().await?;
        let id: Option<Uuid> = sqlx::query_scalar(
            "SELECT upload_id FROM uploads WHERE state = 'uploading' AND expires_at < now() \
             ORDER BY expires_at LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(swept);
        };
        store.delete_prefix(&Store::upload_prefix(id)).await?;
        sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE uploads SET state = 'expired', updated_at = now() WHERE upload_id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        crate::metrics::UPLOADS
            .with_label_values(&["expired"])
            .inc();
        tracing::info!(upload_id = %id, "abandoned upload expired");
        swept += 1;
    }
}

pub async fn run_sweeper(
    pool: PgPool,
    store: Store,
    interval: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
        if let Err(err) = sweep_once(&pool, &store).await {
            tracing::warn!(error = ?err, "sweeping abandoned uploads failed; retrying");
        }
    }
}
