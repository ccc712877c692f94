//! The advertiser's campaign report: sponsored videos' engagement and their
//! audience, from the same facts the creator analytics count.

use chrono::{DateTime, Utc};
use loop_platform::auth::Caller;
use loop_proto::creator_marketplace::v1 as pb;

use crate::analytics;
use crate::error::MktResult;
use crate::model::{COLLAB_COLUMNS, CollabRow, state};
use crate::service::{MarketplaceService, advertiser};

impl MarketplaceService {
    pub(crate) async fn get_campaign_report(
        &self,
        caller: &Caller,
        req: pb::GetCampaignReportRequest,
    ) -> MktResult<pb::GetCampaignReportResponse> {
        advertiser(caller)?;
        let campaign = self
            .own_campaign(caller, "campaign_id", &req.campaign_id)
            .await?;
        let collabs = sqlx::query_as::<_, CollabRow>(&format!(
            "SELECT {COLLAB_COLUMNS} FROM collaborations WHERE campaign_id = $1 AND state = ANY($2) ORDER BY created_at"
        ))
        .bind(campaign.campaign_id)
        .bind([state::SUBMITTED, state::APPROVED, state::PAID].to_vec())
        .fetch_all(&self.pool)
        .await?;
        let mut out = pb::GetCampaignReportResponse::default();
        let mut all_videos = Vec::new();
        for c in &collabs {
            out.paid_to_creators_cents += c.paid_cents;
            out.platform_fees_cents += c.platform_fee_cents;
            for v in &c.video_ids {
                let stats: Option<(i64, i64, i64, i64)> = sqlx::query_as(
                    "SELECT views, likes, comments, shares FROM video_stats WHERE video_id = $1",
                )
                .bind(v)
                .fetch_optional(&self.pool)
                .await?;
                let published: Option<DateTime<Utc>> =
                    sqlx::query_scalar("SELECT published_at FROM videos WHERE video_id = $1")
                        .bind(v)
                        .fetch_optional(&self.pool)
                        .await?;
                let (views, likes, comments, shares) = stats.unwrap_or_default();
                let n = |x: i64| u64::try_from(x).unwrap_or(0);
                out.total_views += n(views);
                out.total_likes += n(likes);
                out.total_comments += n(comments);
                out.total_shares += n(shares);
                out.videos.push(pb::SponsoredVideoStats {
                    video_id: v.to_string(),
                    creator_id: c.creator_id.to_string(),
                    collaboration_id: c.collaboration_id.to_string(),
                    views: n(views),
                    likes: n(likes),
                    comments: n(comments),
                    shares: n(shares),
                    engagement_rate: rate(likes + comments + shares, views),
                    published_at: published.map(loop_platform::time::to_timestamp),
                });
                all_videos.push(*v);
            }
        }
        out.engagement_rate = rate(
            i64::try_from(out.total_likes + out.total_comments + out.total_shares).unwrap_or(0),
            i64::try_from(out.total_views).unwrap_or(0),
        );
        let rows = analytics::videos_audience(&self.pool, &all_videos).await?;
        let aud = analytics::audience(&rows, Utc::now().date_naive());
        out.audience_age_bands = analytics::age_shares(&aud.age_bands);
        out.audience_genders = analytics::gender_shares(&aud.genders);
        out.audience_countries = analytics::top(&aud.countries, 10);
        out.computed_at = Some(loop_platform::time::to_timestamp(Utc::now()));
        Ok(out)
    }
}

fn rate(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        0.0
    } else {
        (part as f64 / whole as f64).clamp(0.0, 1.0)
    }
}
