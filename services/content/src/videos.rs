//! Videos: publish, read, edit, delete, per-creator lists, the Following
//! source, and remix lineage.
//!
//! Visibility: a video is *servable* when PUBLIC and APPROVED. FOLLOWERS
//! videos are visible to followers, PRIVATE ones to their owner; PENDING ones
//! to their owner; REJECTED and REMOVED ones to admins only.

use chrono::{DateTime, Utc};
use loop_platform::auth::Caller;
use loop_platform::ids::{new_id, parse_id, parse_opt_id};
use loop_platform::pagination;
use loop_platform::{AppError, AppResult};
use loop_proto::common::v1::PageResponse;
use loop_proto::content::v1 as pb;
use loop_proto::events::v1 as ev;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::events::emit;
use crate::model::*;
use crate::service::ContentService;
use crate::validate;

type VideoCursor = (DateTime<Utc>, Uuid);

pub(crate) async fn fetch_video(pool: &PgPool, id: Uuid) -> AppResult<Option<VideoRow>> {
    Ok(
        sqlx::query_as::<_, VideoRow>(&format!("{VIDEO_SELECT} WHERE v.id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

pub(crate) async fn fetch_video_tx(tx: &mut PgConnection, id: Uuid) -> AppResult<Option<VideoRow>> {
    Ok(
        sqlx::query_as::<_, VideoRow>(&format!("{VIDEO_SELECT} WHERE v.id = $1 FOR UPDATE OF v"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?,
    )
}

pub(crate) async fn follows(pool: &PgPool, follower: Uuid, followee: Uuid) -> AppResult<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = $2)",
    )
    .bind(follower)
    .bind(followee)
    .fetch_one(pool)
    .await?)
}

/// The video if `caller` may see it; NOT_FOUND otherwise (hiding existence).
pub(crate) async fn visible_video(
    pool: &PgPool,
    caller: &Caller,
    field: &str,
    id: &str,
) -> AppResult<VideoRow> {
    let id = parse_id(field, id)?;
    let video = fetch_video(pool, id)
        .await?
        .ok_or_else(|| AppError::not_found("video not found"))?;
    if can_view(pool, caller, &video).await? {
        Ok(video)
    } else {
        Err(AppError::not_found("video not found"))
    }
}

pub(crate) async fn can_view(pool: &PgPool, caller: &Caller, video: &VideoRow) -> AppResult<bool> {
    if caller.is_privileged() {
        return Ok(true);
    }
    if video.is_gone() {
        return Ok(false);
    }
    let owner = caller.subject == video.creator_id.to_string();
    if owner {
        return Ok(true);
    }
    if video.moderation_state != STATE_APPROVED {
        return Ok(false);
    }
    Ok(match video.visibility {
        VISIBILITY_PUBLIC => true,
        VISIBILITY_FOLLOWERS => match caller.user_id() {
            Ok(me) => follows(pool, me, video.creator_id).await?,
            Err(_) => false,
        },
        _ => false,
    })
}

fn page_of(rows: Vec<VideoRow>, limit: i64) -> (Vec<pb::Video>, Option<PageResponse>) {
    let (rows, next) = pagination::finish(rows, limit, |v| (v.published_at, v.id));
    (
        rows.iter().map(VideoRow::to_proto).collect(),
        Some(PageResponse {
            next_page_token: next,
        }),
    )
}

fn visibility(value: i32) -> AppResult<i16> {
    match pb::Visibility::try_from(value) {
        Ok(pb::Visibility::Unspecified) => Ok(VISIBILITY_PUBLIC),
        Ok(v) => Ok(v as i16),
        Err(_) => Err(AppError::invalid("visibility", "unknown visibility")),
    }
}

/// What content stores as the media of a video published from an upload
/// (the gateway turns it into signed playback URLs).
pub const MEDIA_SCHEME: &str = "loop-media:";

/// A published video's media: where it plays, its duration and frame size
/// (measured by the media service; 0 x 0 for a client-given URL).
struct Media {
    duration_ms: i32,
    url: String,
    width: i32,
    height: i32,
}

impl ContentService {
    /// The video's duration and media: from a ready upload of the caller's
    /// (duration measured by the media service), or, where allowed
    /// (development), a client-given URL and duration.
    async fn media_of(&self, caller: &Caller, req: &pb::PublishVideoRequest) -> AppResult<Media> {
        let Some(upload_id) = parse_opt_id("upload_id", &req.upload_id)? else {
            if !self.config.media.allow_external_urls {
                return Err(AppError::invalid(
                    "upload_id",
                    "is required: upload the video first (POST /v1/uploads)",
                ));
            }
            return Ok(Media {
                duration_ms: validate::duration_ms("duration_ms", req.duration_ms)?,
                url: validate::media_url(&req.media_url)?,
                width: 0,
                height: 0,
            });
        };
        if !req.media_url.is_empty() {
            return Err(AppError::invalid(
                "media_url",
                "give upload_id or media_url, not both",
            ));
        }
        let mut client = self
            .media
            .clone()
            .ok_or_else(|| AppError::Unavailable("the media service is not configured".into()))?;
        let request = loop_platform::grpc::request(
            loop_proto::media::v1::GetUploadRequest {
                upload_id: upload_id.to_string(),
            },
            Some(&caller.token),
            std::time::Duration::from_millis(self.config.media.timeout_ms),
        );
        let upload = match client.get_upload(request).await {
            Ok(r) => r.into_inner(),
            Err(status) => {
                return Err(match status.code() {
                    tonic::Code::NotFound | tonic::Code::InvalidArgument => {
                        AppError::invalid("upload_id", "no such upload")
                    }
                    tonic::Code::PermissionDenied => {
                        AppError::PermissionDenied("the upload belongs to another user".into())
                    }
                    code => {
                        tracing::warn!(?code, message = %status.message(), "asking the media service about an upload failed");
                        AppError::Unavailable("the media service is unavailable; retry".into())
                    }
                });
            }
        };
        if upload.owner_id != caller.subject {
            return Err(AppError::PermissionDenied(
                "the upload belongs to another user".into(),
            ));
        }
        use loop_proto::media::v1::UploadState;
        match upload.state() {
            UploadState::Ready => {}
            UploadState::Failed => {
                return Err(AppError::FailedPrecondition(format!(
                    "upload_id: the upload could not be processed: {}",
                    upload.failure_reason
                )));
            }
            other => {
                return Err(AppError::FailedPrecondition(format!(
                    "upload_id: the upload is {}; publish it once it is ready",
                    other
                        .as_str_name()
                        .trim_start_matches("UPLOAD_STATE_")
                        .to_lowercase()
                )));
            }
        }
        // A ready upload never published expires (the media service deletes
        // its outputs); one about to is refused rather than published
        // unplayable (the media service learns of the video from the event).
        let deadline = upload.expires_at.map_or(i64::MAX, |t| t.seconds);
        if deadline < Utc::now().timestamp() + 600 {
            return Err(AppError::FailedPrecondition(
                "upload_id: the upload expired before it was published; upload the video again"
                    .into(),
            ));
        }
        // The server's measurement replaces whatever the client said.
        // (A duet's or stitch's rendered duration and size replace these
        // when `MediaRendered` arrives: `crate::media_events`.)
        Ok(Media {
            duration_ms: validate::duration_ms("duration_ms", upload.duration_ms)?,
            url: format!("{MEDIA_SCHEME}{upload_id}"),
            width: i32::try_from(upload.width).unwrap_or(0),
            height: i32::try_from(upload.height).unwrap_or(0),
        })
    }

    pub(crate) async fn publish_video(
        &self,
        caller: &Caller,
        req: pb::PublishVideoRequest,
    ) -> AppResult<pb::PublishVideoResponse> {
        let creator = caller.user_id()?;
        let caption = validate::text("caption", &req.caption, 1, 2200)?;
        let hashtags = validate::video_hashtags(&req.hashtags, &caption)?;
        let media = self.media_of(caller, &req).await?;
        let visibility = visibility(req.visibility)?;
        let sound_id = parse_opt_id("sound_id", &req.sound_id)?;
        let remix_of = parse_opt_id("remix_of_video_id", &req.remix_of_video_id)?;
        let remix_kind = match (remix_of, pb::RemixKind::try_from(req.remix_kind)) {
            (_, Err(_)) => return Err(AppError::invalid("remix_kind", "unknown remix kind")),
            (None, Ok(pb::RemixKind::Unspecified)) => 0i16,
            (None, Ok(_)) => {
                return Err(AppError::invalid(
                    "remix_of_video_id",
                    "is required with remix_kind",
                ));
            }
            (Some(_), Ok(pb::RemixKind::Unspecified)) => {
                return Err(AppError::invalid(
                    "remix_kind",
                    "must be DUET or STITCH for a remix",
                ));
            }
            (Some(_), Ok(kind)) => kind as i16,
        };
        let mut category = validate::category(&req.category)?;

        let profile: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT u.role, cp.category FROM users u LEFT JOIN creator_profiles cp ON cp.user_id = u.id WHERE u.id = $1",
        )
        .bind(creator)
        .fetch_optional(&self.pool)
        .await?;
        match &profile {
            None => return Err(AppError::Unauthenticated("account no longer exists".into())),
            // Advertisers publish the videos of their ad creatives (ads-auction
            // requires a creative's video to be the advertiser's own).
            Some((role, _)) if role != "creator" && role != "admin" && role != "advertiser" => {
                return Err(AppError::PermissionDenied(
                    "only creators can publish videos; create a creator profile first".into(),
                ));
            }
            Some((_, creator_category)) => {
                if category.is_empty() {
                    category = creator_category.clone().unwrap_or_default();
                }
            }
        }
        if let Some(sound) = sound_id {
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sounds WHERE id = $1)")
                    .bind(sound)
                    .fetch_one(&self.pool)
                    .await?;
            if !exists {
                return Err(AppError::invalid("sound_id", "no such sound"));
            }
        }
        if let Some(source) = remix_of {
            let source = fetch_video(&self.pool, source).await?;
            let visible = match &source {
                Some(v) => v.servable() || can_view(&self.pool, caller, v).await?,
                None => false,
            };
            if !visible {
                return Err(AppError::invalid("remix_of_video_id", "no such video"));
            }
        }

        let state = if self.config.moderation.require_review {
            STATE_PENDING
        } else {
            STATE_APPROVED
        };
        let id = new_id();
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO videos (id, creator_id, caption, hashtags, sound_id, duration_ms, media_url, visibility, moderation_state, \
             category, remix_of, remix_kind, published_at, updated_at, width, height) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15)",
        )
        .bind(id)
        .bind(creator)
        .bind(&caption)
        .bind(&hashtags)
        .bind(sound_id)
        .bind(media.duration_ms)
        .bind(&media.url)
        .bind(visibility)
        .bind(state)
        .bind(&category)
        .bind(remix_of)
        .bind(remix_kind)
        .bind(now)
        .bind(media.width)
        .bind(media.height)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.constraint() == Some("videos_upload_once") => {
                // A retried publish of the same upload (the first answer
                // was lost): the video it made, not an error.
                drop(tx);
                return self.published_from(creator, &media.url).await;
            }
            Err(other) => return Err(other.into()),
        }
        sqlx::query("INSERT INTO video_hashtags (hashtag, video_id, published_at) SELECT unnest($1::text[]), $2, $3")
            .bind(&hashtags)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let video = fetch_video_tx(&mut tx, id)
            .await?
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("video vanished")))?;
        emit(
            &mut tx,
            &id.to_string(),
            ev::content_event::Payload::VideoPublished(ev::VideoPublished {
                video: Some(video.snapshot()),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(pb::PublishVideoResponse {
            video: Some(video.to_proto()),
        })
    }

    /// The video already published from an upload (`media_url` is
    /// `loop-media:<upload_id>`, which the media service confirmed is the
    /// caller's): publishing an upload twice answers with the same video.
    async fn published_from(
        &self,
        creator: Uuid,
        media_url: &str,
    ) -> AppResult<pb::PublishVideoResponse> {
        let id: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM videos WHERE media_url = $1 AND creator_id = $2")
                .bind(media_url)
                .bind(creator)
                .fetch_optional(&self.pool)
                .await?;
        let video = match id {
            Some(id) => fetch_video(&self.pool, id).await?,
            None => None,
        };
        match video {
            Some(v) if !v.is_gone() => Ok(pb::PublishVideoResponse {
                video: Some(v.to_proto()),
            }),
            _ => Err(AppError::AlreadyExists(
                "upload_id: this upload's video was removed; upload the video again".into(),
            )),
        }
    }

    pub(crate) async fn get_video(
        &self,
        caller: &Caller,
        req: pb::GetVideoRequest,
    ) -> AppResult<pb::GetVideoResponse> {
        let video = visible_video(&self.pool, caller, "video_id", &req.video_id).await?;
        Ok(pb::GetVideoResponse {
            video: Some(video.to_proto()),
        })
    }

    pub(crate) async fn batch_get_videos(
        &self,
        caller: &Caller,
        req: pb::BatchGetVideosRequest,
    ) -> AppResult<pb::BatchGetVideosResponse> {
        if req.video_ids.len() > 500 {
            return Err(AppError::invalid("video_ids", "at most 500 ids"));
        }
        let ids = req
            .video_ids
            .iter()
            .map(|id| parse_id("video_ids", id))
            .collect::<AppResult<Vec<_>>>()?;
        let rows = sqlx::query_as::<_, VideoRow>(&format!("{VIDEO_SELECT} WHERE v.id = ANY($1)"))
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
        let mut videos = Vec::with_capacity(rows.len());
        for row in rows {
            // Batch reads serve feeds: only servable videos (or the caller's own).
            if row.servable() || (!row.is_gone() && caller.subject == row.creator_id.to_string()) {
                videos.push(row.to_proto());
            }
        }
        Ok(pb::BatchGetVideosResponse { videos })
    }

    pub(crate) async fn update_video(
        &self,
        caller: &Caller,
        req: pb::UpdateVideoRequest,
    ) -> AppResult<pb::UpdateVideoResponse> {
        let id = parse_id("video_id", &req.video_id)?;
        if req.update_mask.is_empty() {
            return Err(AppError::invalid(
                "update_mask",
                "name at least one field to change",
            ));
        }
        let mut caption = None;
        let mut new_visibility = None;
        for field in &req.update_mask {
            match field.as_str() {
                "caption" => caption = Some(validate::text("caption", &req.caption, 1, 2200)?),
                "visibility" => new_visibility = Some(visibility(req.visibility)?),
                other => {
                    return Err(AppError::invalid(
                        "update_mask",
                        format!("unknown field \"{other}\""),
                    ));
                }
            }
        }
        let mut tx = self.pool.begin().await?;
        let video = fetch_video_tx(&mut tx, id)
            .await?
            .ok_or_else(|| AppError::not_found("video not found"))?;
        if video.is_gone() && !caller.is_admin() {
            return Err(AppError::not_found("video not found"));
        }
        if caller.subject != video.creator_id.to_string() && !caller.is_admin() {
            return Err(AppError::PermissionDenied(
                "you can only edit your own videos".into(),
            ));
        }
        // A caption edit re-derives the caption's #tags but keeps the ones
        // given explicitly at publish (those not in the old caption).
        let hashtags = match &caption {
            Some(c) => {
                let in_old_caption = validate::caption_hashtags(&video.caption);
                let explicit: Vec<String> = video
                    .hashtags
                    .iter()
                    .filter(|t| !in_old_caption.contains(t))
                    .cloned()
                    .collect();
                Some(validate::video_hashtags(&explicit, c)?)
            }
            None => None,
        };
        sqlx::query(
            "UPDATE videos SET caption = COALESCE($2, caption), hashtags = COALESCE($3, hashtags), \
             visibility = COALESCE($4, visibility), updated_at = now() WHERE id = $1",
        )
        .bind(id)
        .bind(&caption)
        .bind(&hashtags)
        .bind(new_visibility)
        .execute(&mut *tx)
        .await?;
        if let Some(tags) = &hashtags {
            sqlx::query("DELETE FROM video_hashtags WHERE video_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO video_hashtags (hashtag, video_id, published_at) SELECT unnest($1::text[]), $2, $3")
                .bind(tags)
                .bind(id)
                .bind(video.published_at)
                .execute(&mut *tx)
                .await?;
        }
        let updated = fetch_video_tx(&mut tx, id)
            .await?
            .ok_or_else(|| AppError::not_found("video not found"))?;
        emit(
            &mut tx,
            &id.to_string(),
            ev::content_event::Payload::VideoUpdated(ev::VideoUpdated {
                video: Some(updated.snapshot()),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(pb::UpdateVideoResponse {
            video: Some(updated.to_proto()),
        })
    }

    pub(crate) async fn delete_video(
        &self,
        caller: &Caller,
        req: pb::DeleteVideoRequest,
    ) -> AppResult<pb::DeleteVideoResponse> {
        let id = parse_id("video_id", &req.video_id)?;
        let mut tx = self.pool.begin().await?;
        let video = fetch_video_tx(&mut tx, id)
            .await?
            .ok_or_else(|| AppError::not_found("video not found"))?;
        if video.is_gone() {
            return Err(AppError::not_found("video not found"));
        }
        if caller.subject != video.creator_id.to_string() && !caller.is_admin() {
            return Err(AppError::PermissionDenied(
                "you can only delete your own videos".into(),
            ));
        }
        sqlx::query("UPDATE videos SET moderation_state = $2, updated_at = now() WHERE id = $1")
            .bind(id)
            .bind(STATE_REMOVED)
            .execute(&mut *tx)
            .await?;
        emit(
            &mut tx,
            &id.to_string(),
            ev::content_event::Payload::VideoRemoved(ev::VideoRemoved {
                video_id: id.to_string(),
                creator_id: video.creator_id.to_string(),
                reason: ev::VideoRemovalReason::DeletedByOwner as i32,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(pb::DeleteVideoResponse {})
    }

    pub(crate) async fn list_creator_videos(
        &self,
        caller: &Caller,
        req: pb::ListCreatorVideosRequest,
    ) -> AppResult<pb::ListCreatorVideosResponse> {
        let creator = parse_id("creator_id", &req.creator_id)?;
        let page = req.page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let cursor: Option<VideoCursor> = pagination::decode(&page.page_token)?;
        let owner = caller.subject == creator.to_string() || caller.is_privileged();
        let follower = match caller.user_id() {
            Ok(me) if !owner => follows(&self.pool, me, creator).await?,
            _ => false,
        };
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)")
            .bind(creator)
            .fetch_one(&self.pool)
            .await?;
        if !exists {
            return Err(AppError::not_found("creator not found"));
        }
        let rows = sqlx::query_as::<_, VideoRow>(&format!(
            "{VIDEO_SELECT} WHERE v.creator_id = $1 \
             AND (v.moderation_state = {STATE_APPROVED} OR ($2 AND v.moderation_state = {STATE_PENDING})) \
             AND (v.visibility = {VISIBILITY_PUBLIC} OR $2 OR ($3 AND v.visibility = {VISIBILITY_FOLLOWERS})) \
             AND ($4::timestamptz IS NULL OR (v.published_at, v.id) < ($4, $5)) \
             ORDER BY v.published_at DESC, v.id DESC LIMIT $6"
        ))
        .bind(creator)
        .bind(owner)
        .bind(follower)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (videos, page) = page_of(rows, limit);
        Ok(pb::ListCreatorVideosResponse { videos, page })
    }

    pub(crate) async fn list_following_videos(
        &self,
        caller: &Caller,
        req: pb::ListFollowingVideosRequest,
    ) -> AppResult<pb::ListFollowingVideosResponse> {
        let user = if req.user_id.is_empty() {
            caller.user_id()?
        } else {
            let named = parse_id("user_id", &req.user_id)?;
            if named.to_string() != caller.subject && !caller.is_privileged() {
                return Err(AppError::PermissionDenied(
                    "you can only read your own Following feed".into(),
                ));
            }
            named
        };
        let page = req.page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let cursor: Option<VideoCursor> = pagination::decode(&page.page_token)?;
        let rows = sqlx::query_as::<_, VideoRow>(&format!(
            "{VIDEO_SELECT} JOIN follows f ON f.followee_id = v.creator_id AND f.follower_id = $1 \
             WHERE v.moderation_state = {STATE_APPROVED} AND v.visibility IN ({VISIBILITY_PUBLIC}, {VISIBILITY_FOLLOWERS}) \
             AND ($2::timestamptz IS NULL OR (v.published_at, v.id) < ($2, $3)) \
             ORDER BY v.published_at DESC, v.id DESC LIMIT $4"
        ))
        .bind(user)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (videos, page) = page_of(rows, limit);
        Ok(pb::ListFollowingVideosResponse { videos, page })
    }

    pub(crate) async fn get_remix_lineage(
        &self,
        caller: &Caller,
        req: pb::GetRemixLineageRequest,
    ) -> AppResult<pb::GetRemixLineageResponse> {
        let video = visible_video(&self.pool, caller, "video_id", &req.video_id).await?;
        // Walk up the chain (bounded, in case of corrupt data).
        let ancestors_rows = sqlx::query_as::<_, VideoRow>(&format!(
            "WITH RECURSIVE chain(id, depth) AS ( \
               SELECT remix_of, 1 FROM videos WHERE id = $1 AND remix_of IS NOT NULL \
               UNION ALL SELECT p.remix_of, c.depth + 1 FROM chain c JOIN videos p ON p.id = c.id \
               WHERE p.remix_of IS NOT NULL AND c.depth < 50) \
             {VIDEO_SELECT} JOIN chain ON chain.id = v.id ORDER BY chain.depth"
        ))
        .bind(video.id)
        .fetch_all(&self.pool)
        .await?;
        let mut ancestors = Vec::new();
        for row in ancestors_rows {
            if can_view(&self.pool, caller, &row).await? {
                ancestors.push(row.to_proto());
            }
        }
        let page = req.remixes_page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let cursor: Option<VideoCursor> = pagination::decode(&page.page_token)?;
        let rows = sqlx::query_as::<_, VideoRow>(&format!(
            "{VIDEO_SELECT} WHERE v.remix_of = $1 AND v.moderation_state = {STATE_APPROVED} AND v.visibility = {VISIBILITY_PUBLIC} \
             AND ($2::timestamptz IS NULL OR (v.published_at, v.id) > ($2, $3)) ORDER BY v.published_at, v.id LIMIT $4"
        ))
        .bind(video.id)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (remixes, remixes_page) = page_of(rows, limit);
        Ok(pb::GetRemixLineageResponse {
            ancestors,
            remixes,
            remixes_page,
        })
    }
}
