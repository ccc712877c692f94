//! Hashtags, challenges and sounds.

use chrono::{DateTime, Utc};
use loop_platform::auth::Caller;
use loop_platform::ids::{new_id, parse_id, parse_opt_id};
use loop_platform::pagination;
use loop_platform::time::{from_timestamp, to_timestamp};
use loop_platform::{AppError, AppResult};
use loop_proto::common::v1::PageResponse;
use loop_proto::content::v1 as pb;
use loop_proto::events::v1 as ev;
use uuid::Uuid;

use crate::events::emit;
use crate::model::*;
use crate::service::ContentService;
use crate::validate;

type Cursor = (DateTime<Utc>, Uuid);

const CHALLENGE_COLUMNS: &str =
    "id, hashtag, description, starts_at, ends_at, sponsor_id, created_by";

/// The only service that may create challenges (after charging for them).
const CHALLENGE_SELLER: &str = "ads-auction";
/// Longest challenge period, whoever creates it.
pub const MAX_CHALLENGE_DAYS: i64 = 30;

impl ContentService {
    async fn active_challenge(&self, hashtag: &str) -> AppResult<Option<ChallengeRow>> {
        Ok(sqlx::query_as::<_, ChallengeRow>(&format!(
            "SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE hashtag = $1 AND starts_at <= now() AND ends_at > now() \
             ORDER BY starts_at DESC LIMIT 1"
        ))
        .bind(hashtag)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub(crate) async fn get_hashtag(
        &self,
        _caller: &Caller,
        req: pb::GetHashtagRequest,
    ) -> AppResult<pb::GetHashtagResponse> {
        let name = validate::hashtag("name", &req.name)?;
        let count: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM video_hashtags h JOIN videos v ON v.id = h.video_id \
             WHERE h.hashtag = $1 AND v.moderation_state = {STATE_APPROVED} AND v.visibility = {VISIBILITY_PUBLIC}"
        ))
        .bind(&name)
        .fetch_one(&self.pool)
        .await?;
        let challenge = self.active_challenge(&name).await?;
        if count == 0 && challenge.is_none() {
            return Err(AppError::not_found("hashtag not found"));
        }
        Ok(pb::GetHashtagResponse {
            hashtag: Some(pb::Hashtag {
                name,
                video_count: u64::try_from(count).unwrap_or(0),
                active_challenge: challenge.map(|c| c.to_proto()),
            }),
        })
    }

    pub(crate) async fn list_hashtag_videos(
        &self,
        _caller: &Caller,
        req: pb::ListHashtagVideosRequest,
    ) -> AppResult<pb::ListHashtagVideosResponse> {
        let name = validate::hashtag("name", &req.name)?;
        let page = req.page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let cursor: Option<Cursor> = pagination::decode(&page.page_token)?;
        let rows = sqlx::query_as::<_, VideoRow>(&format!(
            "{VIDEO_SELECT} JOIN video_hashtags h ON h.video_id = v.id AND h.hashtag = $1 \
             WHERE v.moderation_state = {STATE_APPROVED} AND v.visibility = {VISIBILITY_PUBLIC} \
             AND ($2::timestamptz IS NULL OR (h.published_at, h.video_id) < ($2, $3)) \
             ORDER BY h.published_at DESC, h.video_id DESC LIMIT $4"
        ))
        .bind(&name)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = pagination::finish(rows, limit, |v| (v.published_at, v.id));
        Ok(pb::ListHashtagVideosResponse {
            videos: rows.iter().map(VideoRow::to_proto).collect(),
            page: Some(PageResponse {
                next_page_token: next,
            }),
        })
    }

    pub(crate) async fn create_challenge(
        &self,
        caller: &Caller,
        req: pb::CreateChallengeRequest,
    ) -> AppResult<pb::CreateChallengeResponse> {
        // A challenge pins a hashtag in Discover and blocks others from it:
        // a paid product (the Branded Hashtag Challenge, created here by
        // ads-auction once the fee is charged) or an editorial one (admins).
        let creator = match caller.service() {
            Some(CHALLENGE_SELLER) => None,
            _ if caller.is_admin() => Some(caller.user_id()?),
            _ => {
                return Err(AppError::PermissionDenied(
                    "challenges are created by admins, or bought as a Branded Hashtag Challenge (POST /v1/ads/challenges)".into(),
                ));
            }
        };
        let hashtag = validate::hashtag("hashtag", &req.hashtag)?;
        let description = validate::text("description", &req.description, 1, 1000)?;
        let starts_at = from_timestamp("starts_at", req.starts_at.as_ref())?;
        let ends_at = from_timestamp("ends_at", req.ends_at.as_ref())?;
        if starts_at < Utc::now() - chrono::Duration::minutes(5) {
            return Err(AppError::invalid("starts_at", "must not be in the past"));
        }
        if ends_at <= starts_at {
            return Err(AppError::invalid("ends_at", "must be after starts_at"));
        }
        if ends_at - starts_at > chrono::Duration::days(MAX_CHALLENGE_DAYS) {
            return Err(AppError::invalid(
                "ends_at",
                format!("the period is at most {MAX_CHALLENGE_DAYS} days"),
            ));
        }
        let sponsor = parse_opt_id("sponsor_id", &req.sponsor_id)?;
        let created_by = creator
            .or(sponsor)
            .ok_or_else(|| AppError::invalid("sponsor_id", "is required for service callers"))?;
        let mut tx = self.pool.begin().await?;
        // Serialise challenge creation per hashtag so the overlap check holds.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('challenge:' || $1))")
            .bind(&hashtag)
            .execute(&mut *tx)
            .await?;
        let overlapping: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM challenges WHERE hashtag = $1 AND starts_at < $3 AND ends_at > $2)",
        )
        .bind(&hashtag)
        .bind(starts_at)
        .bind(ends_at)
        .fetch_one(&mut *tx)
        .await?;
        if overlapping {
            return Err(AppError::AlreadyExists(format!(
                "a challenge on #{hashtag} already runs in that period"
            )));
        }
        let id = new_id();
        let row = sqlx::query_as::<_, ChallengeRow>(&format!(
            "INSERT INTO challenges (id, hashtag, description, starts_at, ends_at, sponsor_id, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {CHALLENGE_COLUMNS}"
        ))
        .bind(id)
        .bind(&hashtag)
        .bind(&description)
        .bind(starts_at)
        .bind(ends_at)
        .bind(sponsor)
        .bind(created_by)
        .fetch_one(&mut *tx)
        .await?;
        emit(
            &mut tx,
            &hashtag,
            ev::content_event::Payload::ChallengeCreated(ev::ChallengeCreated {
                challenge_id: id.to_string(),
                hashtag: hashtag.clone(),
                starts_at: Some(to_timestamp(starts_at)),
                ends_at: Some(to_timestamp(ends_at)),
                sponsor_id: sponsor.map(|s| s.to_string()).unwrap_or_default(),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(pb::CreateChallengeResponse {
            challenge: Some(row.to_proto()),
        })
    }

    pub(crate) async fn list_challenges(
        &self,
        _caller: &Caller,
        req: pb::ListChallengesRequest,
    ) -> AppResult<pb::ListChallengesResponse> {
        let page = req.page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let cursor: Option<Cursor> = pagination::decode(&page.page_token)?;
        let rows = sqlx::query_as::<_, ChallengeRow>(&format!(
            "SELECT {CHALLENGE_COLUMNS} FROM challenges \
             WHERE (NOT $1 OR (starts_at <= now() AND ends_at > now())) \
             AND ($2::timestamptz IS NULL OR (ends_at, id) > ($2, $3)) ORDER BY ends_at, id LIMIT $4"
        ))
        .bind(req.active_only)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = pagination::finish(rows, limit, |c| (c.ends_at, c.id));
        Ok(pb::ListChallengesResponse {
            challenges: rows.iter().map(ChallengeRow::to_proto).collect(),
            page: Some(PageResponse {
                next_page_token: next,
            }),
        })
    }

    pub(crate) async fn create_sound(
        &self,
        caller: &Caller,
        req: pb::CreateSoundRequest,
    ) -> AppResult<pb::CreateSoundResponse> {
        let me = caller.user_id()?;
        let title = validate::text("title", &req.title, 1, 200)?;
        let artist = validate::text("artist", &req.artist, 1, 200)?;
        let duration = validate::duration_ms("duration_ms", req.duration_ms)?;
        let row = sqlx::query_as::<_, SoundRow>(
            "INSERT INTO sounds (id, title, artist, duration_ms, created_by) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id, title, artist, duration_ms, created_at, 0::bigint AS video_count",
        )
        .bind(new_id())
        .bind(title)
        .bind(artist)
        .bind(duration)
        .bind(me)
        .fetch_one(&self.pool)
        .await?;
        Ok(pb::CreateSoundResponse {
            sound: Some(row.to_proto()),
        })
    }

    pub(crate) async fn get_sound(
        &self,
        _caller: &Caller,
        req: pb::GetSoundRequest,
    ) -> AppResult<pb::GetSoundResponse> {
        let id = parse_id("sound_id", &req.sound_id)?;
        let row = sqlx::query_as::<_, SoundRow>(&format!(
            "SELECT s.id, s.title, s.artist, s.duration_ms, s.created_at, \
             (SELECT count(*) FROM videos v WHERE v.sound_id = s.id AND v.moderation_state = {STATE_APPROVED} \
              AND v.visibility = {VISIBILITY_PUBLIC}) AS video_count FROM sounds s WHERE s.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| AppError::not_found("sound not found"))?;
        Ok(pb::GetSoundResponse {
            sound: Some(row.to_proto()),
        })
    }

    pub(crate) async fn list_sound_videos(
        &self,
        _caller: &Caller,
        req: pb::ListSoundVideosRequest,
    ) -> AppResult<pb::ListSoundVideosResponse> {
        let id = parse_id("sound_id", &req.sound_id)?;
        let page = req.page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let cursor: Option<Cursor> = pagination::decode(&page.page_token)?;
        let rows = sqlx::query_as::<_, VideoRow>(&format!(
            "{VIDEO_SELECT} WHERE v.sound_id = $1 AND v.moderation_state = {STATE_APPROVED} AND v.visibility = {VISIBILITY_PUBLIC} \
             AND ($2::timestamptz IS NULL OR (v.published_at, v.id) < ($2, $3)) ORDER BY v.published_at DESC, v.id DESC LIMIT $4"
        ))
        .bind(id)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = pagination::finish(rows, limit, |v| (v.published_at, v.id));
        Ok(pb::ListSoundVideosResponse {
            videos: rows.iter().map(VideoRow::to_proto).collect(),
            page: Some(PageResponse {
                next_page_token: next,
            }),
        })
    }
}
