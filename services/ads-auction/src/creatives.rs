//! Creatives and Spark Ads (codes issued by creators, turned into creatives
//! by advertisers; revoking a code stops its creatives at once).

use chrono::{DateTime, Utc};
use loop_platform::auth::{Caller, Role};
use loop_platform::error::is_unique_violation;
use loop_platform::ids::{new_id, parse_id};
use loop_platform::pagination;
use loop_proto::ads_auction::v1 as pb;
use loop_proto::common::v1::PageResponse;
use loop_proto::content::v1 as content;
use uuid::Uuid;

use crate::error::{AdsError, AdsResult, Reason};
use crate::index;
use crate::model::*;
use crate::service::{AdsService, advertiser};
use crate::validate;

type Cursor = (DateTime<Utc>, Uuid);

/// 24 characters of [A-Z0-9] from 244 random bits.
fn new_spark_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = Uuid::new_v4().as_bytes().to_vec();
    bytes.extend_from_slice(Uuid::new_v4().as_bytes());
    bytes
        .iter()
        .take(24)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

impl AdsService {
    /// A video from content as the caller sees it; NOT_FOUND when unknown or removed.
    async fn video(&self, caller: &Caller, field: &str, id: &str) -> AdsResult<content::Video> {
        parse_id(field, id)?;
        let response = self
            .content
            .clone()
            .get_video(self.as_caller(
                caller,
                content::GetVideoRequest {
                    video_id: id.to_owned(),
                },
            ))
            .await;
        let video = match response {
            Ok(r) => r.into_inner().video,
            Err(status) if status.code() == tonic::Code::NotFound => None,
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                return Err(AdsError::invalid(field, "must be a video id"));
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = %status.message(), "content GetVideo failed");
                return Err(AdsError::App(loop_platform::AppError::Unavailable(
                    "content service unavailable, retry".into(),
                )));
            }
        };
        video
            .filter(|v| {
                !matches!(
                    content::ModerationState::try_from(v.moderation_state),
                    Ok(content::ModerationState::Removed | content::ModerationState::Rejected)
                )
            })
            .ok_or_else(|| AdsError::not_found("video not found"))
    }

    pub(crate) async fn create_creative(
        &self,
        caller: &Caller,
        req: pb::CreateCreativeRequest,
    ) -> AdsResult<pb::CreateCreativeResponse> {
        advertiser(caller)?;
        let display_name = validate::text("display_name", &req.display_name, 1, 40)?;
        let cta = validate::call_to_action(req.call_to_action)?;
        let landing_url = validate::https_url("landing_url", &req.landing_url)?;
        let (g, _) = self
            .ad_group_for(caller, "ad_group_id", &req.ad_group_id)
            .await?;
        if g.format() == pb::AdFormat::Spark {
            return Err(AdsError::rule(
                Reason::SparkAdGroup,
                "creatives of a SPARK ad group come from Spark codes (CreateSparkAd)",
            ));
        }
        let video = self.video(caller, "video_id", &req.video_id).await?;
        if video.creator_id != g.advertiser_id.to_string() && !caller.is_admin() {
            return Err(AdsError::denied("the video is not yours"));
        }
        let video_id = parse_id("video_id", &video.video_id)?;
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query_as::<_, CreativeRow>(&format!(
            "INSERT INTO creatives (id, ad_group_id, campaign_id, advertiser_id, format, video_id, display_name, \
             call_to_action, landing_url, status, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             RETURNING {CREATIVE_COLUMNS}"
        ))
        .bind(new_id())
        .bind(g.id)
        .bind(g.campaign_id)
        .bind(g.advertiser_id)
        .bind(g.format)
        .bind(video_id)
        .bind(&display_name)
        .bind(cta as i16)
        .bind(&landing_url)
        .bind(CREATIVE_ACTIVE)
        .bind(i32::try_from(video.duration_ms).unwrap_or(0))
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE ad_groups SET updated_at = now() WHERE id = $1")
            .bind(g.id)
            .execute(&mut *tx)
            .await?;
        index::notify(&mut tx, &[g.id]).await?;
        tx.commit().await?;
        self.refresh(&[g.id]).await;
        Ok(pb::CreateCreativeResponse {
            creative: Some(row.to_proto()),
        })
    }

    pub(crate) async fn list_creatives(
        &self,
        caller: &Caller,
        req: pb::ListCreativesRequest,
    ) -> AdsResult<pb::ListCreativesResponse> {
        advertiser(caller)?;
        let (g, _) = self
            .ad_group_for(caller, "ad_group_id", &req.ad_group_id)
            .await?;
        let page = req.page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let cursor: Option<Cursor> = pagination::decode(&page.page_token)?;
        let rows = sqlx::query_as::<_, CreativeRow>(&format!(
            "SELECT {CREATIVE_COLUMNS} FROM creatives WHERE ad_group_id = $1 \
             AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) ORDER BY created_at DESC, id DESC LIMIT $4"
        ))
        .bind(g.id)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = pagination::finish(rows, limit, |c| (c.created_at, c.id));
        Ok(pb::ListCreativesResponse {
            creatives: rows.iter().map(CreativeRow::to_proto).collect(),
            page: Some(PageResponse {
                next_page_token: next,
            }),
        })
    }

    pub(crate) async fn update_creative(
        &self,
        caller: &Caller,
        req: pb::UpdateCreativeRequest,
    ) -> AdsResult<pb::UpdateCreativeResponse> {
        advertiser(caller)?;
        let allowed = ["display_name", "call_to_action", "landing_url", "status"];
        if req.update_mask.is_empty() {
            return Err(AdsError::invalid(
                "update_mask",
                format!("name at least one of: {}", allowed.join(", ")),
            ));
        }
        for (i, m) in req.update_mask.iter().enumerate() {
            if !allowed.contains(&m.as_str()) {
                return Err(AdsError::invalid(
                    format!("update_mask[{i}]"),
                    format!("\"{m}\" cannot be changed"),
                ));
            }
        }
        let id = parse_id("creative_id", &req.creative_id)?;
        let current = sqlx::query_as::<_, CreativeRow>(&format!(
            "SELECT {CREATIVE_COLUMNS} FROM creatives WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .filter(|c| caller.is_admin() || c.advertiser_id.to_string() == caller.subject)
        .ok_or_else(|| AdsError::not_found("creative not found"))?;
        let has = |f: &str| req.update_mask.iter().any(|m| m == f);
        let display_name = if has("display_name") {
            validate::text("display_name", &req.display_name, 1, 40)?
        } else {
            current.display_name.clone()
        };
        let cta = if has("call_to_action") {
            validate::call_to_action(req.call_to_action)? as i16
        } else {
            current.call_to_action
        };
        let landing_url = if has("landing_url") {
            validate::https_url("landing_url", &req.landing_url)?
        } else {
            current.landing_url.clone()
        };
        let status = if has("status") {
            let s = match pb::CreativeStatus::try_from(req.status) {
                Ok(pb::CreativeStatus::Active) => CREATIVE_ACTIVE,
                Ok(pb::CreativeStatus::Paused) => CREATIVE_PAUSED,
                _ => return Err(AdsError::invalid("status", "may only be ACTIVE or PAUSED")),
            };
            if matches!(current.status, CREATIVE_REVOKED | CREATIVE_VIDEO_REMOVED) {
                return Err(AdsError::rule(
                    Reason::CreativeTerminal,
                    "a revoked creative or one whose video was removed cannot serve again",
                ));
            }
            s
        } else {
            current.status
        };
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query_as::<_, CreativeRow>(&format!(
            "UPDATE creatives SET display_name = $2, call_to_action = $3, landing_url = $4, status = $5, \
             updated_at = now() WHERE id = $1 RETURNING {CREATIVE_COLUMNS}"
        ))
        .bind(id)
        .bind(&display_name)
        .bind(cta)
        .bind(&landing_url)
        .bind(status)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE ad_groups SET updated_at = now() WHERE id = $1")
            .bind(row.ad_group_id)
            .execute(&mut *tx)
            .await?;
        index::notify(&mut tx, &[row.ad_group_id]).await?;
        tx.commit().await?;
        self.refresh(&[row.ad_group_id]).await;
        Ok(pb::UpdateCreativeResponse {
            creative: Some(row.to_proto()),
        })
    }

    // --- Spark Ads ------------------------------------------------------------------

    pub(crate) async fn issue_spark_code(
        &self,
        caller: &Caller,
        req: pb::IssueSparkCodeRequest,
    ) -> AdsResult<pb::IssueSparkCodeResponse> {
        caller.require_role(&[Role::Creator])?;
        let me = caller.user_id()?;
        let days = match req.validity_days {
            0 => 30,
            d @ 7..=365 => d,
            _ => {
                return Err(AdsError::invalid(
                    "validity_days",
                    "must be 7..=365 (0 means 30)",
                ));
            }
        };
        let video = self.video(caller, "video_id", &req.video_id).await?;
        if video.creator_id != me.to_string() {
            return Err(AdsError::denied(
                "only the video's creator can authorize it",
            ));
        }
        let video_id = parse_id("video_id", &video.video_id)?;
        let row = sqlx::query_as::<_, SparkCodeRow>(&format!(
            "INSERT INTO spark_codes (code, video_id, creator_id, creator_handle, expires_at, duration_ms) \
             VALUES ($1, $2, $3, $4, now() + make_interval(days => $5), $6) RETURNING {SPARK_COLUMNS}"
        ))
        .bind(new_spark_code())
        .bind(video_id)
        .bind(me)
        .bind(&video.creator_handle)
        .bind(i32::try_from(days).unwrap_or(30))
        .bind(i32::try_from(video.duration_ms).unwrap_or(0))
        .fetch_one(&self.pool)
        .await?;
        Ok(pb::IssueSparkCodeResponse {
            spark_code: Some(row.to_proto()),
        })
    }

    pub(crate) async fn list_spark_codes(
        &self,
        caller: &Caller,
        req: pb::ListSparkCodesRequest,
    ) -> AdsResult<pb::ListSparkCodesResponse> {
        caller.require_role(&[Role::Creator])?;
        let me = caller.user_id()?;
        let page = req.page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let cursor: Option<(DateTime<Utc>, String)> = pagination::decode(&page.page_token)?;
        let rows = sqlx::query_as::<_, SparkCodeRow>(&format!(
            "SELECT {SPARK_COLUMNS} FROM spark_codes WHERE creator_id = $1 \
             AND ($2::timestamptz IS NULL OR (created_at, code) < ($2, $3)) ORDER BY created_at DESC, code DESC LIMIT $4"
        ))
        .bind(me)
        .bind(cursor.as_ref().map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = pagination::finish(rows, limit, |c| (c.created_at, c.code.clone()));
        Ok(pb::ListSparkCodesResponse {
            spark_codes: rows.iter().map(SparkCodeRow::to_proto).collect(),
            page: Some(PageResponse {
                next_page_token: next,
            }),
        })
    }

    pub(crate) async fn revoke_spark_code(
        &self,
        caller: &Caller,
        req: pb::RevokeSparkCodeRequest,
    ) -> AdsResult<pb::RevokeSparkCodeResponse> {
        caller.require_role(&[Role::Creator])?;
        let code = req.code.trim().to_uppercase();
        if code.is_empty() {
            return Err(AdsError::invalid("code", "is required"));
        }
        let mut tx = self.pool.begin().await?;
        let current = sqlx::query_as::<_, SparkCodeRow>(&format!(
            "SELECT {SPARK_COLUMNS} FROM spark_codes WHERE code = $1 FOR UPDATE"
        ))
        .bind(&code)
        .fetch_optional(&mut *tx)
        .await?
        .filter(|c| caller.is_admin() || c.creator_id.to_string() == caller.subject)
        .ok_or_else(|| AdsError::not_found("spark code not found"))?;
        if current.revoked_at.is_some() {
            return Ok(pb::RevokeSparkCodeResponse {
                spark_code: Some(current.to_proto()),
            });
        }
        let row = sqlx::query_as::<_, SparkCodeRow>(&format!(
            "UPDATE spark_codes SET revoked_at = now() WHERE code = $1 RETURNING {SPARK_COLUMNS}"
        ))
        .bind(&code)
        .fetch_one(&mut *tx)
        .await?;
        let groups: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE creatives SET status = $2, updated_at = now() WHERE spark_code = $1 AND status IN ($3, $4) \
             RETURNING ad_group_id",
        )
        .bind(&code)
        .bind(CREATIVE_REVOKED)
        .bind(CREATIVE_ACTIVE)
        .bind(CREATIVE_PAUSED)
        .fetch_all(&mut *tx)
        .await?;
        if !groups.is_empty() {
            sqlx::query("UPDATE ad_groups SET updated_at = now() WHERE id = ANY($1)")
                .bind(&groups)
                .execute(&mut *tx)
                .await?;
            index::notify(&mut tx, &groups).await?;
        }
        tx.commit().await?;
        // This replica stops serving before the call returns; the others on NOTIFY.
        self.refresh(&groups).await;
        Ok(pb::RevokeSparkCodeResponse {
            spark_code: Some(row.to_proto()),
        })
    }

    pub(crate) async fn create_spark_ad(
        &self,
        caller: &Caller,
        req: pb::CreateSparkAdRequest,
    ) -> AdsResult<pb::CreateSparkAdResponse> {
        advertiser(caller)?;
        let cta = validate::call_to_action(req.call_to_action)?;
        let landing_url = validate::https_url("landing_url", &req.landing_url)?;
        let (g, _) = self
            .ad_group_for(caller, "ad_group_id", &req.ad_group_id)
            .await?;
        if g.format() != pb::AdFormat::Spark {
            return Err(AdsError::rule(
                Reason::NotSparkAdGroup,
                "Spark ads go in an ad group of format SPARK",
            ));
        }
        let code = req.code.trim().to_uppercase();
        if code.is_empty() {
            return Err(AdsError::invalid("code", "is required"));
        }
        let spark = sqlx::query_as::<_, SparkCodeRow>(&format!(
            "SELECT {SPARK_COLUMNS} FROM spark_codes WHERE code = $1"
        ))
        .bind(&code)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| AdsError::not_found("spark code not found"))?;
        match spark.status(Utc::now()) {
            pb::SparkCodeStatus::Revoked => {
                return Err(AdsError::rule(
                    Reason::SparkCodeRevoked,
                    "the creator revoked this code",
                ));
            }
            pb::SparkCodeStatus::Expired => {
                return Err(AdsError::rule(
                    Reason::SparkCodeExpired,
                    "this code has expired",
                ));
            }
            _ => {}
        }
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query_as::<_, CreativeRow>(&format!(
            "INSERT INTO creatives (id, ad_group_id, campaign_id, advertiser_id, format, video_id, display_name, \
             call_to_action, landing_url, status, spark_code, spark_creator_id, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             (SELECT duration_ms FROM spark_codes WHERE code = $11)) RETURNING {CREATIVE_COLUMNS}"
        ))
        .bind(new_id())
        .bind(g.id)
        .bind(g.campaign_id)
        .bind(g.advertiser_id)
        .bind(pb::AdFormat::Spark as i16)
        .bind(spark.video_id)
        .bind(spark.creator_handle.chars().take(40).collect::<String>())
        .bind(cta as i16)
        .bind(&landing_url)
        .bind(CREATIVE_ACTIVE)
        .bind(&spark.code)
        .bind(spark.creator_id)
        .fetch_one(&mut *tx)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(err) if is_unique_violation(&err, Some("creatives_one_per_code")) => {
                return Err(AdsError::App(loop_platform::AppError::AlreadyExists(
                    "this ad group already has a creative for this code".into(),
                )));
            }
            Err(err) => return Err(err.into()),
        };
        sqlx::query("UPDATE ad_groups SET updated_at = now() WHERE id = $1")
            .bind(g.id)
            .execute(&mut *tx)
            .await?;
        index::notify(&mut tx, &[g.id]).await?;
        tx.commit().await?;
        self.refresh(&[g.id]).await;
        Ok(pb::CreateSparkAdResponse {
            creative: Some(row.to_proto()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_codes_are_24_upper_alphanumerics() {
        let a = new_spark_code();
        assert_eq!(a.len(), 24);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        assert_ne!(a, new_spark_code());
    }
}
