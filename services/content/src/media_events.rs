//! Content follows `media.v1` (group [`MEDIA_GROUP`]): what the media
//! service measured becomes the video's.
//!
//! - `MediaRendered`: a duet or stitch was rendered, and its playback URLs
//!   now play the rendered video. The video's `duration_ms` becomes the
//!   rendered one (a stitch is the original's first seconds plus the new
//!   clip, not the new clip alone) and its frame size the rendered one (a
//!   duet is twice as wide).
//! - `MediaReady`: processing finished. A video is published only from a
//!   ready upload, with the duration and frame size read from the media
//!   service then, so this normally finds no video, or one that already
//!   holds these values; it corrects one that does not.
//!
//! A change is written with a `VideoUpdated` (`content.v1`, the new
//! duration and size in its snapshot: the ranker and analytics follow it)
//! in the same transaction. `videos.media_revision` orders the two
//! measurements (0 the upload's, 1 the render's): an older event
//! redelivered after a newer one changes nothing, and an event applied
//! again finds the values equal and changes nothing (no second
//! `VideoUpdated`). Removed and rejected videos are left alone.
//!
//! **Moderation hook.** A content classifier runs in the media service
//! (`loop_media::worker::Classifier`: it sees the probe and the poster
//! before the upload becomes ready); its labels travel in
//! `MediaReady.labels`. The `MediaReady` arm below is where content would
//! act on them (e.g. hold the upload's video for review). None is
//! configured, so the labels are always empty.

use loop_platform::kafka::{BatchHandler, Delivery};
use loop_proto::events::v1 as ev;
use loop_proto::events::v1::media_event::Payload;
use prost::Message;
use sqlx::PgPool;
use uuid::Uuid;

use crate::events::emit;
use crate::model::{STATE_REJECTED, STATE_REMOVED, VIDEO_SELECT, VideoRow};
use crate::videos::MEDIA_SCHEME;

/// The consumer group following `media.v1` (behind the topic prefix).
pub const MEDIA_GROUP: &str = "loop-content-media";

/// The upload's own measurement (at publication, or `MediaReady`).
const REVISION_UPLOAD: i16 = 0;
/// The rendered duet's or stitch's (`MediaRendered`).
const REVISION_RENDERED: i16 = 1;

pub struct MediaHandler {
    pub pool: PgPool,
}

/// What the media service measured of an upload's playable output.
struct Measured<'a> {
    upload_id: &'a str,
    duration_ms: u32,
    width: u32,
    height: u32,
    revision: i16,
}

impl BatchHandler for MediaHandler {
    async fn handle(&self, batch: &[Delivery]) -> anyhow::Result<Vec<(usize, String)>> {
        let mut poison = Vec::new();
        for (i, d) in batch.iter().enumerate() {
            let event = match ev::MediaEvent::decode(d.payload.as_slice()) {
                Ok(e) => e,
                Err(err) => {
                    poison.push((i, format!("undecodable MediaEvent: {err}")));
                    continue;
                }
            };
            let measured = match &event.payload {
                Some(Payload::MediaReady(r)) => {
                    // Moderation hook: `r.labels` (the media classifier's
                    // verdict) would be acted on here; see the module doc.
                    Measured {
                        upload_id: &r.upload_id,
                        duration_ms: r.duration_ms,
                        width: r.width,
                        height: r.height,
                        revision: REVISION_UPLOAD,
                    }
                }
                Some(Payload::MediaRendered(r)) => Measured {
                    upload_id: &r.upload_id,
                    duration_ms: r.duration_ms,
                    width: r.width,
                    height: r.height,
                    revision: REVISION_RENDERED,
                },
                _ => continue,
            };
            if let Err(reason) = self.apply(&measured).await? {
                poison.push((i, reason));
            }
        }
        Ok(poison)
    }
}

impl MediaHandler {
    /// Records `m` on the upload's video, if it has one and holds no newer
    /// or equal measurement; `Ok(Err(reason))` for an event that can never
    /// apply.
    async fn apply(&self, m: &Measured<'_>) -> anyhow::Result<Result<(), String>> {
        let Ok(upload_id) = Uuid::parse_str(m.upload_id) else {
            return Ok(Err(format!("upload_id {:?} is not a UUID", m.upload_id)));
        };
        let (Ok(duration_ms), Ok(width), Ok(height)) = (
            i32::try_from(m.duration_ms),
            i32::try_from(m.width),
            i32::try_from(m.height),
        ) else {
            return Ok(Err("duration_ms, width or height out of range".into()));
        };
        let mut tx = self.pool.begin().await?;
        // `media_url LIKE` lets the planner use the partial unique index
        // of videos published from uploads.
        let changed: Option<Uuid> = sqlx::query_scalar(
            "UPDATE videos SET duration_ms = $2, width = $3, height = $4, media_revision = $5, updated_at = now() \
             WHERE media_url = $1 AND media_url LIKE 'loop-media:%' AND media_revision <= $5 \
               AND moderation_state NOT IN ($6, $7) \
               AND (duration_ms, width, height, media_revision) IS DISTINCT FROM ($2, $3, $4, $5) \
             RETURNING id",
        )
        .bind(format!("{MEDIA_SCHEME}{upload_id}"))
        .bind(duration_ms)
        .bind(width)
        .bind(height)
        .bind(m.revision)
        .bind(STATE_REJECTED)
        .bind(STATE_REMOVED)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(video_id) = changed else {
            return Ok(Ok(()));
        };
        let video: VideoRow = sqlx::query_as(&format!("{VIDEO_SELECT} WHERE v.id = $1"))
            .bind(video_id)
            .fetch_one(&mut *tx)
            .await?;
        emit(
            &mut tx,
            &video_id.to_string(),
            ev::content_event::Payload::VideoUpdated(ev::VideoUpdated {
                video: Some(video.snapshot()),
            }),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(%upload_id, %video_id, duration_ms, width, height, revision = m.revision,
            "the video's measured duration and frame size changed");
        Ok(Ok(()))
    }
}
