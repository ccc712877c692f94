//! The creator studio's own numbers: per-video counters (views, unique
//! viewers, likes, comments, shares) newest first, and views per UTC day over
//! the analytics window. The daily buckets are written by the analytics
//! consumer in the same transaction as `video_stats.views`
//! ([`count_daily_view`]), behind the same `processed_events` check, so a
//! redelivered view moves neither.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use loop_platform::auth::Caller;
use loop_platform::pagination;
use loop_platform::time::to_timestamp;
use loop_proto::common::v1::PageResponse;
use loop_proto::creator_marketplace::v1 as pb;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::analytics::WINDOW_DAYS;
use crate::error::MktResult;
use crate::model::page_token;
use crate::service::{MarketplaceService, creator};

/// One counted view into its video's UTC-day bucket.
pub(crate) async fn count_daily_view(
    tx: &mut PgConnection,
    video: Uuid,
    creator: Uuid,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO video_views_daily (video_id, creator_id, day, views) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (video_id, day) DO UPDATE SET views = video_views_daily.views + 1",
    )
    .bind(video)
    .bind(creator)
    .bind(at.date_naive())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct VideoRow {
    video_id: Uuid,
    published_at: DateTime<Utc>,
    views: i64,
    unique_viewers: i64,
    likes: i64,
    comments: i64,
    shares: i64,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl VideoRow {
    fn to_proto(&self) -> pb::VideoStats {
        pb::VideoStats {
            video_id: self.video_id.to_string(),
            published_at: Some(to_timestamp(self.published_at)),
            views: count(self.views),
            unique_viewers: count(self.unique_viewers),
            likes: count(self.likes),
            comments: count(self.comments),
            shares: count(self.shares),
        }
    }
}

/// `WINDOW_DAYS` UTC days ending today, oldest first, missing days as 0.
pub fn fill_days(rows: &[(NaiveDate, i64)], today: NaiveDate) -> Vec<pb::DailyViews> {
    (0..WINDOW_DAYS)
        .rev()
        .map(|back| {
            let day = today - Duration::days(back);
            let views = rows
                .iter()
                .find(|(d, _)| *d == day)
                .map_or(0, |(_, n)| count(*n));
            pb::DailyViews {
                day: day.format("%Y-%m-%d").to_string(),
                views,
            }
        })
        .collect()
}

impl MarketplaceService {
    pub(crate) async fn list_creator_video_stats(
        &self,
        caller: &Caller,
        req: pb::ListCreatorVideoStatsRequest,
    ) -> MktResult<pb::ListCreatorVideoStatsResponse> {
        let me = creator(caller)?;
        let page = req.page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let after: Option<(DateTime<Utc>, Uuid)> = page_token(&page.page_token)?;
        let rows = sqlx::query_as::<_, VideoRow>(
            "SELECT v.video_id, v.published_at, COALESCE(s.views, 0) AS views, \
             (SELECT count(*) FROM video_viewers vv WHERE vv.video_id = v.video_id) AS unique_viewers, \
             COALESCE(s.likes, 0) AS likes, COALESCE(s.comments, 0) AS comments, COALESCE(s.shares, 0) AS shares \
             FROM videos v LEFT JOIN video_stats s ON s.video_id = v.video_id \
             WHERE v.creator_id = $1 AND NOT v.removed \
             AND ($2::timestamptz IS NULL OR (v.published_at, v.video_id) < ($2, $3)) \
             ORDER BY v.published_at DESC, v.video_id DESC LIMIT $4",
        )
        .bind(me)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = pagination::finish(rows, limit, |r| (r.published_at, r.video_id));
        let today = Utc::now().date_naive();
        let since = today - Duration::days(WINDOW_DAYS - 1);
        let days: Vec<(NaiveDate, i64)> = sqlx::query_as(
            "SELECT day, sum(views)::bigint FROM video_views_daily \
             WHERE creator_id = $1 AND day >= $2 GROUP BY day",
        )
        .bind(me)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(pb::ListCreatorVideoStatsResponse {
            videos: rows.iter().map(VideoRow::to_proto).collect(),
            page: Some(PageResponse {
                next_page_token: next,
            }),
            daily_views: fill_days(&days, today),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_days_oldest_first_with_gaps_as_zero() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default();
        let rows = vec![
            (today, 3),
            (NaiveDate::from_ymd_opt(2026, 2, 28).unwrap_or_default(), 2),
        ];
        let days = fill_days(&rows, today);
        assert_eq!(days.len(), 30);
        assert_eq!(days[29].day, "2026-03-02");
        assert_eq!(days[29].views, 3);
        assert_eq!(days[28].views, 0);
        assert_eq!(days[27].day, "2026-02-28");
        assert_eq!(days[27].views, 2);
        assert_eq!(days[0].day, "2026-02-01");
    }
}
