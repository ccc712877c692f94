//! What happens to an upload's outputs once content has used it: the
//! media service follows `content.v1`.
//!
//! - `VideoPublished` of a `loop-media:<upload_id>` video records the video
//!   on the upload, so the sweeper no longer expires it as unpublished.
//! - `VideoRemoved` ("must never be served again") moves that upload to
//!   `removed` and deletes its outputs (after the state commits; the
//!   sweeper retries a failed deletion).
//!
//! - `VideoPublished` of a duet or stitch (`remix_kind`) whose original was
//!   uploaded too queues a render of the two (`worker::render`). The two
//!   events may arrive in either order (different partitions): the remix
//!   upload remembers what it remixes, and the original's `VideoPublished`
//!   queues the renders waiting for it.
//!
//! All are idempotent (a redelivered event changes nothing more).

use loop_platform::kafka::{BatchHandler, Delivery};
use loop_proto::events::v1::{ContentEvent, content_event::Payload};
use prost::Message;
use sqlx::PgPool;
use uuid::Uuid;

use crate::service::ReadyCache;
use crate::store::Store;

/// What content stores as the media of a video published from an upload.
pub const MEDIA_SCHEME: &str = "loop-media:";

pub struct ContentHandler {
    pub pool: PgPool,
    pub store: Store,
    pub ready: ReadyCache,
    /// Woken when a render is queued.
    pub worker_wake: std::sync::Arc<tokio::sync::Notify>,
}

impl BatchHandler for ContentHandler {
    async fn handle(&self, batch: &[Delivery]) -> anyhow::Result<Vec<(usize, String)>> {
        let mut poison = Vec::new();
        let mut removed = Vec::new();
        for (i, d) in batch.iter().enumerate() {
            let event = match ContentEvent::decode(d.payload.as_slice()) {
                Ok(e) => e,
                Err(err) => {
                    poison.push((i, format!("undecodable ContentEvent: {err}")));
                    continue;
                }
            };
            match event.payload {
                Some(Payload::VideoPublished(p)) => {
                    let Some(video) = p.video else { continue };
                    let Some(upload_id) = video
                        .media_url
                        .strip_prefix(MEDIA_SCHEME)
                        .and_then(|id| Uuid::parse_str(id).ok())
                    else {
                        continue;
                    };
                    let Ok(video_id) = Uuid::parse_str(&video.video_id) else {
                        poison.push((i, "VideoPublished: video_id is not a UUID".into()));
                        continue;
                    };
                    let state: Option<String> = sqlx::query_scalar(
                        "UPDATE uploads SET video_id = $2, updated_at = now() \
                         WHERE upload_id = $1 AND (video_id IS NULL OR video_id = $2) RETURNING state",
                    )
                    .bind(upload_id)
                    .bind(video_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    if state.as_deref() != Some("ready") {
                        tracing::warn!(%upload_id, %video_id, state = ?state, "a video was published from an upload that is not ready");
                        continue;
                    }
                    // Renders that were waiting for this video as their original.
                    let mut queued = sqlx::query(
                        "INSERT INTO renders (upload_id, source_upload_id, kind) \
                         SELECT r.upload_id, $1, r.remix_kind FROM uploads r \
                         WHERE r.remix_of_video = $2 AND r.state = 'ready' \
                         ON CONFLICT (upload_id) DO NOTHING",
                    )
                    .bind(upload_id)
                    .bind(video_id)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    // A duet or stitch of an uploaded video: render it (now,
                    // or when its original's VideoPublished arrives).
                    let kind = video.remix_kind.as_str();
                    if let (Ok(source_video), "duet" | "stitch") =
                        (Uuid::parse_str(&video.remix_of_video_id), kind)
                    {
                        sqlx::query(
                            "UPDATE uploads SET remix_kind = $2, remix_of_video = $3 WHERE upload_id = $1",
                        )
                        .bind(upload_id)
                        .bind(kind)
                        .bind(source_video)
                        .execute(&self.pool)
                        .await?;
                        queued += sqlx::query(
                            "INSERT INTO renders (upload_id, source_upload_id, kind) \
                             SELECT $1, s.upload_id, $3 FROM uploads s WHERE s.video_id = $2 AND s.state = 'ready' \
                             ON CONFLICT (upload_id) DO NOTHING",
                        )
                        .bind(upload_id)
                        .bind(source_video)
                        .bind(kind)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                    }
                    if queued > 0 {
                        tracing::info!(%upload_id, %video_id, queued, "render queued");
                        self.worker_wake.notify_one();
                    }
                }
                Some(Payload::VideoRemoved(r)) => {
                    let Ok(video_id) = Uuid::parse_str(&r.video_id) else {
                        poison.push((i, "VideoRemoved: video_id is not a UUID".into()));
                        continue;
                    };
                    let ids: Vec<Uuid> = sqlx::query_scalar(
                        "UPDATE uploads SET state = 'removed', purge_pending = true, updated_at = now() \
                         WHERE video_id = $1 AND state = 'ready' RETURNING upload_id",
                    )
                    .bind(video_id)
                    .fetch_all(&self.pool)
                    .await?;
                    removed.extend(ids);
                }
                _ => {}
            }
        }
        for id in removed {
            self.ready.forget(id);
            crate::metrics::UPLOADS
                .with_label_values(&["removed"])
                .inc();
            tracing::info!(upload_id = %id, "a removed video's outputs are deleted");
            if let Err(err) = crate::uploads::purge(&self.pool, &self.store, id).await {
                tracing::warn!(error = ?err, upload_id = %id, "cannot delete a removed video's outputs yet");
            }
        }
        Ok(poison)
    }
}
