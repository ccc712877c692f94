//! The creator studio's own numbers: the caller's videos with their views,
//! unique viewers, likes, comments and shares (newest first, keyset pages),
//! and the caller's views per UTC day over the last 30 days.

use super::*;

/// The creator studio's views.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(my_video_stats))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VideoStatsDto {
    pub video_id: String,
    pub published_at: Option<DateTime<Utc>>,
    /// Counted views (served, once per session, never the creator's own).
    pub views: u64,
    /// Distinct viewers of this video.
    pub unique_viewers: u64,
    pub likes: u64,
    pub comments: u64,
    pub shares: u64,
}

impl From<pb::VideoStats> for VideoStatsDto {
    fn from(v: pb::VideoStats) -> Self {
        Self {
            video_id: v.video_id,
            published_at: ts(v.published_at),
            views: v.views,
            unique_viewers: v.unique_viewers,
            likes: v.likes,
            comments: v.comments,
            shares: v.shares,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DailyViewsDto {
    /// UTC day, YYYY-MM-DD.
    pub day: String,
    pub views: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatorVideoStatsDto {
    /// The caller's videos, newest first.
    pub items: Vec<VideoStatsDto>,
    /// Pass as `page_token` to get the next page; absent on the last page.
    pub next_page_token: Option<String>,
    /// The last 30 UTC days, oldest first, every day present (0 when none);
    /// the same on every page.
    pub daily_views: Vec<DailyViewsDto>,
}

/// Creators: their own videos' views, unique viewers, likes, comments and
/// shares, newest first, and their views per day over the last 30 days.
#[utoipa::path(get, path = "/v1/marketplace/creator/videos", tag = "marketplace", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = CreatorVideoStatsDto), Forbidden))]
pub async fn my_video_stats(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<CreatorVideoStatsDto>> {
    let r = st
        .call(st.market().list_creator_video_stats(st.req(
            &user,
            pb::ListCreatorVideoStatsRequest {
                page: page.to_proto(),
            },
        )))
        .await
        .map_err(|mut e| {
            // The query parameter the caller sent, not the rpc's nesting.
            if e.field.as_deref() == Some("page.page_token") {
                e.field = Some("page_token".into());
            }
            e
        })?;
    Ok(Json(CreatorVideoStatsDto {
        items: r.videos.into_iter().map(Into::into).collect(),
        next_page_token: r.page.and_then(|p| opt(p.next_page_token)),
        daily_views: r
            .daily_views
            .into_iter()
            .map(|d| DailyViewsDto {
                day: d.day,
                views: d.views,
            })
            .collect(),
    }))
}
