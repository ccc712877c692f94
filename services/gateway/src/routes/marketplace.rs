//! Creator marketplace (served by creator-marketplace): creator applications
//! and profiles, analytics, advertiser search, campaigns, collaborations
//! (invitations, applications), their threads, deliverables, escrowed
//! payment and reports. Roles (advertiser / creator / admin) and ownership
//! are checked by the service from the forwarded token. Enums travel as
//! lower-case strings without their proto prefix (`invite_only`,
//! `18_24`, `female`).

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use http::StatusCode;
use loop_platform::time::to_timestamp;
use loop_proto::creator_marketplace::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::dto::{Page, PageQuery, enum_from_str, enum_to_str, opt, ts};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, AuthUser};
use crate::routes::wallet::IdempotencyKey;

// --- shapes ------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct ShareDto {
    /// Age band (`18_24`), gender (`female`), country (`US`), category or hashtag.
    pub key: String,
    /// Fraction in [0, 1].
    pub share: f64,
}

fn shares(v: Vec<pb::Share>, prefix: &str) -> Vec<ShareDto> {
    v.into_iter()
        .map(|s| ShareDto {
            key: if prefix.is_empty() {
                s.key
            } else {
                enum_to_str(&s.key, prefix)
            },
            share: s.share,
        })
        .collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationDto {
    pub application_id: String,
    pub creator_id: String,
    pub categories: Vec<String>,
    pub rate_cents: i64,
    pub pitch: String,
    /// pending, approved or rejected.
    pub status: String,
    pub followers_at_application: u64,
    pub rejection_reason: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Rejected only: when the creator may apply again.
    pub reapply_after: Option<DateTime<Utc>>,
}

impl From<pb::CreatorApplication> for ApplicationDto {
    fn from(a: pb::CreatorApplication) -> Self {
        Self {
            status: enum_to_str(a.status().as_str_name(), "APPLICATION_STATUS_"),
            application_id: a.application_id,
            creator_id: a.creator_id,
            categories: a.categories,
            rate_cents: a.rate_cents,
            pitch: a.pitch,
            followers_at_application: a.followers_at_application,
            rejection_reason: opt(a.rejection_reason),
            created_at: ts(a.created_at),
            reviewed_at: ts(a.reviewed_at),
            reapply_after: ts(a.reapply_after),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarketProfileDto {
    pub creator_id: String,
    pub categories: Vec<String>,
    /// Brand categories accepted; empty means any.
    pub accepted_categories: Vec<String>,
    pub rate_cents: i64,
    pub pitch: String,
    pub open_to_offers: bool,
    pub listed: bool,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<pb::CreatorProfile> for MarketProfileDto {
    fn from(p: pb::CreatorProfile) -> Self {
        Self {
            creator_id: p.creator_id,
            categories: p.categories,
            accepted_categories: p.accepted_categories,
            rate_cents: p.rate_cents,
            pitch: p.pitch,
            open_to_offers: p.open_to_offers,
            listed: p.listed,
            updated_at: ts(p.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyticsDto {
    pub creator_id: String,
    pub followers: u64,
    pub avg_views_30d: u64,
    /// (likes + comments + shares) / views over the last 30 days.
    pub engagement_rate: f64,
    pub videos_30d: u32,
    pub audience_age_bands: Vec<ShareDto>,
    pub audience_genders: Vec<ShareDto>,
    pub audience_countries: Vec<ShareDto>,
    pub top_categories: Vec<ShareDto>,
    pub top_hashtags: Vec<ShareDto>,
    pub gifts_received_diamonds_30d: i64,
    pub computed_at: Option<DateTime<Utc>>,
}

impl From<pb::CreatorAnalytics> for AnalyticsDto {
    fn from(a: pb::CreatorAnalytics) -> Self {
        Self {
            creator_id: a.creator_id,
            followers: a.followers,
            avg_views_30d: a.avg_views_30d,
            engagement_rate: a.engagement_rate,
            videos_30d: a.videos_30d,
            audience_age_bands: shares(a.audience_age_bands, "AGE_BAND_"),
            audience_genders: shares(a.audience_genders, "GENDER_"),
            audience_countries: shares(a.audience_countries, ""),
            top_categories: shares(a.top_categories, ""),
            top_hashtags: shares(a.top_hashtags, ""),
            gifts_received_diamonds_30d: a.gifts_received_diamonds_30d,
            computed_at: ts(a.computed_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatorResultDto {
    pub creator_id: String,
    pub country: String,
    pub categories: Vec<String>,
    pub rate_cents: i64,
    pub followers: u64,
    pub avg_views_30d: u64,
    pub engagement_rate: f64,
    pub top_audience_countries: Vec<ShareDto>,
}

impl From<pb::CreatorSearchResult> for CreatorResultDto {
    fn from(r: pb::CreatorSearchResult) -> Self {
        Self {
            creator_id: r.creator_id,
            country: r.country,
            categories: r.categories,
            rate_cents: r.rate_cents,
            followers: r.followers,
            avg_views_30d: r.avg_views_30d,
            engagement_rate: r.engagement_rate,
            top_audience_countries: shares(r.top_audience_countries, ""),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarketCampaignDto {
    pub campaign_id: String,
    pub advertiser_id: String,
    pub title: String,
    pub brief: String,
    pub video_count: u32,
    pub required_hashtag: String,
    pub budget_per_creator_cents: i64,
    pub max_creators: u32,
    pub deadline: Option<DateTime<Utc>>,
    /// invite_only or public.
    pub visibility: String,
    /// draft, published or closed.
    pub status: String,
    pub accepted_creators: u32,
    pub created_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
}

impl From<pb::Campaign> for MarketCampaignDto {
    fn from(c: pb::Campaign) -> Self {
        let d = c.deliverables.clone().unwrap_or_default();
        Self {
            visibility: enum_to_str(c.visibility().as_str_name(), "CAMPAIGN_VISIBILITY_"),
            status: enum_to_str(c.status().as_str_name(), "CAMPAIGN_STATUS_"),
            campaign_id: c.campaign_id,
            advertiser_id: c.advertiser_id,
            title: c.title,
            brief: c.brief,
            video_count: d.video_count,
            required_hashtag: d.required_hashtag,
            budget_per_creator_cents: c.budget_per_creator_cents,
            max_creators: c.max_creators,
            deadline: ts(c.deadline),
            accepted_creators: c.accepted_creators,
            created_at: ts(c.created_at),
            published_at: ts(c.published_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CollaborationDto {
    pub collaboration_id: String,
    pub campaign_id: String,
    pub advertiser_id: String,
    pub creator_id: String,
    /// invited, applied, accepted, declined, submitted, changes_requested,
    /// approved, paid or expired_refunded.
    pub state: String,
    pub pitch: String,
    pub escrow_id: Option<String>,
    pub video_ids: Vec<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub change_request_note: Option<String>,
    pub paid_cents: i64,
    pub platform_fee_cents: i64,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<pb::Collaboration> for CollaborationDto {
    fn from(c: pb::Collaboration) -> Self {
        Self {
            state: enum_to_str(c.state().as_str_name(), "COLLABORATION_STATE_"),
            collaboration_id: c.collaboration_id,
            campaign_id: c.campaign_id,
            advertiser_id: c.advertiser_id,
            creator_id: c.creator_id,
            pitch: c.pitch,
            escrow_id: opt(c.escrow_id),
            video_ids: c.video_ids,
            submitted_at: ts(c.submitted_at),
            change_request_note: opt(c.change_request_note),
            paid_cents: c.paid_cents,
            platform_fee_cents: c.platform_fee_cents,
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ThreadMessageDto {
    pub message_id: String,
    pub collaboration_id: String,
    pub sender_id: String,
    pub body: String,
    pub created_at: Option<DateTime<Utc>>,
}

impl From<pb::ThreadMessage> for ThreadMessageDto {
    fn from(m: pb::ThreadMessage) -> Self {
        Self {
            message_id: m.message_id,
            collaboration_id: m.collaboration_id,
            sender_id: m.sender_id,
            body: m.body,
            created_at: ts(m.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SponsoredVideoDto {
    pub video_id: String,
    pub creator_id: String,
    pub collaboration_id: String,
    pub views: u64,
    pub likes: u64,
    pub comments: u64,
    pub shares: u64,
    pub engagement_rate: f64,
    pub published_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignReportDto {
    pub videos: Vec<SponsoredVideoDto>,
    pub total_views: u64,
    pub total_likes: u64,
    pub total_comments: u64,
    pub total_shares: u64,
    pub engagement_rate: f64,
    pub audience_age_bands: Vec<ShareDto>,
    pub audience_genders: Vec<ShareDto>,
    pub audience_countries: Vec<ShareDto>,
    pub paid_to_creators_cents: i64,
    pub platform_fees_cents: i64,
    pub computed_at: Option<DateTime<Utc>>,
}

impl From<pb::GetCampaignReportResponse> for CampaignReportDto {
    fn from(r: pb::GetCampaignReportResponse) -> Self {
        Self {
            videos: r
                .videos
                .into_iter()
                .map(|v| SponsoredVideoDto {
                    video_id: v.video_id,
                    creator_id: v.creator_id,
                    collaboration_id: v.collaboration_id,
                    views: v.views,
                    likes: v.likes,
                    comments: v.comments,
                    shares: v.shares,
                    engagement_rate: v.engagement_rate,
                    published_at: ts(v.published_at),
                })
                .collect(),
            total_views: r.total_views,
            total_likes: r.total_likes,
            total_comments: r.total_comments,
            total_shares: r.total_shares,
            engagement_rate: r.engagement_rate,
            audience_age_bands: shares(r.audience_age_bands, "AGE_BAND_"),
            audience_genders: shares(r.audience_genders, "GENDER_"),
            audience_countries: shares(r.audience_countries, ""),
            paid_to_creators_cents: r.paid_to_creators_cents,
            platform_fees_cents: r.platform_fees_cents,
            computed_at: ts(r.computed_at),
        }
    }
}

// --- creators ----------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatorApplicationBody {
    /// 1..5 content categories.
    pub categories: Vec<String>,
    /// Asking price per sponsored video, >= 100.
    pub rate_cents: i64,
    #[serde(default)]
    pub pitch: String,
}

/// Apply to be listed in the marketplace (role creator; 18+, follower minimum).
#[utoipa::path(post, path = "/v1/marketplace/creator/application", tag = "marketplace", security(("bearer" = [])),
    request_body = CreatorApplicationBody,
    responses((status = 201, body = ApplicationDto), (status = "4XX", body = ErrorBody)))]
pub async fn apply_as_creator(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<CreatorApplicationBody>,
) -> ApiResult<(StatusCode, Json<ApplicationDto>)> {
    let r = st
        .call(st.market().apply_as_creator(st.req(
            &user,
            pb::ApplyAsCreatorRequest {
                categories: b.categories,
                rate_cents: b.rate_cents,
                pitch: b.pitch,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.application
                .ok_or_else(|| ApiError::missing("application"))?
                .into(),
        ),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ApplicationQuery {
    /// Admins: the creator to look up; empty means the caller.
    pub creator_id: Option<String>,
}

/// The caller's latest application (admins may name a creator).
#[utoipa::path(get, path = "/v1/marketplace/creator/application", tag = "marketplace", security(("bearer" = [])),
    params(ApplicationQuery),
    responses((status = 200, body = ApplicationDto), (status = "4XX", body = ErrorBody)))]
pub async fn application_status(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ApplicationQuery>,
) -> ApiResult<Json<ApplicationDto>> {
    let r = st
        .call(st.market().get_application_status(st.req(
            &user,
            pb::GetApplicationStatusRequest {
                creator_id: q.creator_id.unwrap_or_default(),
            },
        )))
        .await?;
    Ok(Json(
        r.application
            .ok_or_else(|| ApiError::missing("application"))?
            .into(),
    ))
}

/// The caller's own marketplace profile.
#[utoipa::path(get, path = "/v1/marketplace/creator/profile", tag = "marketplace", security(("bearer" = [])),
    responses((status = 200, body = MarketProfileDto), (status = "4XX", body = ErrorBody)))]
pub async fn my_profile(
    State(st): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<MarketProfileDto>> {
    let r = st
        .call(st.market().get_creator_profile(st.req(
            &user,
            pb::GetCreatorProfileRequest {
                creator_id: String::new(),
            },
        )))
        .await?;
    Ok(Json(
        r.profile
            .ok_or_else(|| ApiError::missing("profile"))?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    pub categories: Option<Vec<String>>,
    pub accepted_categories: Option<Vec<String>>,
    pub rate_cents: Option<i64>,
    pub pitch: Option<String>,
    pub open_to_offers: Option<bool>,
}

/// Change rates, categories, accepted brand categories, pitch or availability.
#[utoipa::path(patch, path = "/v1/marketplace/creator/profile", tag = "marketplace", security(("bearer" = [])),
    request_body = ProfilePatch,
    responses((status = 200, body = MarketProfileDto), (status = "4XX", body = ErrorBody)))]
pub async fn update_profile(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<ProfilePatch>,
) -> ApiResult<Json<MarketProfileDto>> {
    let mut req = pb::UpdateCreatorProfileRequest::default();
    if let Some(v) = b.categories {
        req.categories = v;
        req.update_mask.push("categories".into());
    }
    if let Some(v) = b.accepted_categories {
        req.accepted_categories = v;
        req.update_mask.push("accepted_categories".into());
    }
    if let Some(v) = b.rate_cents {
        req.rate_cents = v;
        req.update_mask.push("rate_cents".into());
    }
    if let Some(v) = b.pitch {
        req.pitch = v;
        req.update_mask.push("pitch".into());
    }
    if let Some(v) = b.open_to_offers {
        req.open_to_offers = v;
        req.update_mask.push("open_to_offers".into());
    }
    let r = st
        .call(st.market().update_creator_profile(st.req(&user, req)))
        .await?;
    Ok(Json(
        r.profile
            .ok_or_else(|| ApiError::missing("profile"))?
            .into(),
    ))
}

/// A listed creator's marketplace profile.
#[utoipa::path(get, path = "/v1/marketplace/creators/{creator_id}", tag = "marketplace", security(("bearer" = [])),
    params(("creator_id" = String, Path)),
    responses((status = 200, body = MarketProfileDto), (status = "4XX", body = ErrorBody)))]
pub async fn creator_profile(
    State(st): State<AppState>,
    user: AuthUser,
    Path(creator_id): Path<String>,
) -> ApiResult<Json<MarketProfileDto>> {
    let r = st
        .call(
            st.market()
                .get_creator_profile(st.req(&user, pb::GetCreatorProfileRequest { creator_id })),
        )
        .await?;
    Ok(Json(
        r.profile
            .ok_or_else(|| ApiError::missing("profile"))?
            .into(),
    ))
}

/// A creator's analytics (the creator, advertisers for listed creators, admins).
#[utoipa::path(get, path = "/v1/marketplace/creators/{creator_id}/analytics", tag = "marketplace", security(("bearer" = [])),
    params(("creator_id" = String, Path)),
    responses((status = 200, body = AnalyticsDto), (status = "4XX", body = ErrorBody)))]
pub async fn creator_analytics(
    State(st): State<AppState>,
    user: AuthUser,
    Path(creator_id): Path<String>,
) -> ApiResult<Json<AnalyticsDto>> {
    let r = st
        .call(
            st.market().get_creator_analytics(
                st.req(&user, pb::GetCreatorAnalyticsRequest { creator_id }),
            ),
        )
        .await?;
    Ok(Json(
        r.analytics
            .ok_or_else(|| ApiError::missing("analytics"))?
            .into(),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ApplicationsQuery {
    /// pending (default), approved or rejected.
    pub status: Option<String>,
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

/// admin: the review queue, oldest first.
#[utoipa::path(get, path = "/v1/admin/marketplace/applications", tag = "marketplace", security(("bearer" = [])),
    params(ApplicationsQuery),
    responses((status = 200, body = Page<ApplicationDto>), (status = "4XX", body = ErrorBody)))]
pub async fn list_applications(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ApplicationsQuery>,
) -> ApiResult<Json<Page<ApplicationDto>>> {
    let status = enum_from_str(
        "status",
        q.status.as_deref().unwrap_or_default(),
        "APPLICATION_STATUS_",
        |s| pb::ApplicationStatus::from_str_name(s).map(|v| v as i32),
        &["pending", "approved", "rejected"],
    )?;
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = st
        .call(st.market().list_applications(st.req(
            &user,
            pb::ListApplicationsRequest {
                status,
                page: page.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.applications, r.page)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// approve or reject.
    pub decision: String,
    /// Required when rejecting.
    #[serde(default)]
    pub rejection_reason: String,
}

/// admin: approve (the creator becomes listed) or reject (reapply in 30 days).
#[utoipa::path(post, path = "/v1/admin/marketplace/applications/{application_id}/review", tag = "marketplace", security(("bearer" = [])),
    params(("application_id" = String, Path)), request_body = ReviewBody,
    responses((status = 200, body = ApplicationDto), (status = "4XX", body = ErrorBody)))]
pub async fn review_application(
    State(st): State<AppState>,
    user: AuthUser,
    Path(application_id): Path<String>,
    ApiJson(b): ApiJson<ReviewBody>,
) -> ApiResult<Json<ApplicationDto>> {
    let decision = enum_from_str(
        "decision",
        &b.decision,
        "REVIEW_DECISION_",
        |s| pb::ReviewDecision::from_str_name(s).map(|v| v as i32),
        &["approve", "reject"],
    )?;
    let r = st
        .call(st.market().review_application(st.req(
            &user,
            pb::ReviewApplicationRequest {
                application_id,
                decision,
                rejection_reason: b.rejection_reason,
            },
        )))
        .await?;
    Ok(Json(
        r.application
            .ok_or_else(|| ApiError::missing("application"))?
            .into(),
    ))
}

// --- search ------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Comma-separated ISO alpha-2 home countries.
    pub countries: Option<String>,
    pub follower_min: Option<u64>,
    pub follower_max: Option<u64>,
    pub min_avg_views: Option<u64>,
    /// In [0, 1].
    pub min_engagement_rate: Option<f64>,
    /// Comma-separated `dimension:value:min_share` (at most 5), e.g.
    /// `country:US:0.3,age_band:18_24:0.4,gender:female:0.5`.
    pub audience: Option<String>,
    pub category: Option<String>,
    pub max_rate_cents: Option<i64>,
    /// followers (default), avg_views or engagement_rate.
    pub sort: Option<String>,
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

fn audience(raw: &str) -> ApiResult<Vec<pb::AudienceFilter>> {
    raw.split(',')
        .filter(|s| !s.trim().is_empty())
        .enumerate()
        .map(|(i, part)| {
            let field = format!("audience[{i}]");
            let bits: Vec<&str> = part.trim().split(':').collect();
            let [dim, value, min] = bits.as_slice() else {
                return Err(ApiError::invalid(
                    field,
                    "must be dimension:value:min_share",
                ));
            };
            let min_share: f64 = min.parse().map_err(|_| {
                ApiError::invalid(format!("{field}.min_share"), "must be a number in [0, 1]")
            })?;
            let (dimension, value) = match *dim {
                "country" => (pb::AudienceDimension::Country, value.to_uppercase()),
                "age_band" => (
                    pb::AudienceDimension::AgeBand,
                    format!("AGE_BAND_{}", value.to_uppercase()),
                ),
                "gender" => (
                    pb::AudienceDimension::Gender,
                    format!("GENDER_{}", value.to_uppercase()),
                ),
                _ => {
                    return Err(ApiError::invalid(
                        format!("{field}.dimension"),
                        "must be country, age_band or gender",
                    ));
                }
            };
            Ok(pb::AudienceFilter {
                dimension: dimension as i32,
                value,
                min_share,
            })
        })
        .collect()
}

/// Advertisers: search listed creators by their analytics (keyset pages).
#[utoipa::path(get, path = "/v1/marketplace/creators", tag = "marketplace", security(("bearer" = [])),
    params(SearchQuery),
    responses((status = 200, body = Page<CreatorResultDto>), (status = "4XX", body = ErrorBody)))]
pub async fn search_creators(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<Page<CreatorResultDto>>> {
    let sort = match q.sort.as_deref().unwrap_or("followers") {
        "followers" => pb::CreatorSort::FollowersDesc,
        "avg_views" => pb::CreatorSort::AvgViewsDesc,
        "engagement_rate" => pb::CreatorSort::EngagementRateDesc,
        _ => {
            return Err(ApiError::invalid(
                "sort",
                "must be one of: followers, avg_views, engagement_rate",
            ));
        }
    };
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let req = pb::SearchCreatorsRequest {
        countries: q
            .countries
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        follower_min: q.follower_min.unwrap_or(0),
        follower_max: q.follower_max.unwrap_or(0),
        min_avg_views: q.min_avg_views.unwrap_or(0),
        min_engagement_rate: q.min_engagement_rate.unwrap_or(0.0),
        audience: audience(q.audience.as_deref().unwrap_or_default())?,
        category: q.category.unwrap_or_default(),
        max_rate_cents: q.max_rate_cents.unwrap_or(0),
        sort: sort as i32,
        page: page.to_proto(),
    };
    let r = st
        .call(st.market().search_creators(st.req(&user, req)))
        .await?;
    Ok(Json(Page::new(r.results, r.page)))
}

// --- campaigns ---------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketCampaignBody {
    pub title: String,
    pub brief: String,
    /// Sponsored videos per creator, 1..10.
    pub video_count: u32,
    /// Hashtag each video must carry.
    pub required_hashtag: String,
    /// Paid per creator on approval (held in escrow on acceptance), >= 1000.
    pub budget_per_creator_cents: i64,
    /// 1..1000.
    pub max_creators: u32,
    /// At least 24 h ahead.
    pub deadline: DateTime<Utc>,
    /// invite_only or public.
    pub visibility: String,
}

/// Advertisers: create a draft campaign.
#[utoipa::path(post, path = "/v1/marketplace/campaigns", tag = "marketplace", security(("bearer" = [])),
    request_body = MarketCampaignBody,
    responses((status = 201, body = MarketCampaignDto), (status = "4XX", body = ErrorBody)))]
pub async fn create_campaign(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<MarketCampaignBody>,
) -> ApiResult<(StatusCode, Json<MarketCampaignDto>)> {
    let visibility = enum_from_str(
        "visibility",
        &b.visibility,
        "CAMPAIGN_VISIBILITY_",
        |s| pb::CampaignVisibility::from_str_name(s).map(|v| v as i32),
        &["invite_only", "public"],
    )?;
    let r = st
        .call(st.market().create_campaign(st.req(
            &user,
            pb::CreateCampaignRequest {
                title: b.title,
                brief: b.brief,
                deliverables: Some(pb::Deliverables {
                    video_count: b.video_count,
                    required_hashtag: b.required_hashtag,
                }),
                budget_per_creator_cents: b.budget_per_creator_cents,
                max_creators: b.max_creators,
                deadline: Some(to_timestamp(b.deadline)),
                visibility,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.campaign
                .ok_or_else(|| ApiError::missing("campaign"))?
                .into(),
        ),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MarketCampaignsQuery {
    /// Creators: mine (default) or open.
    pub scope: Option<String>,
    /// draft, published or closed.
    pub status: Option<String>,
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

/// Advertisers: their campaigns. Creators: open campaigns or their own.
#[utoipa::path(get, path = "/v1/marketplace/campaigns", tag = "marketplace", security(("bearer" = [])),
    params(MarketCampaignsQuery),
    responses((status = 200, body = Page<MarketCampaignDto>), (status = "4XX", body = ErrorBody)))]
pub async fn list_campaigns(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<MarketCampaignsQuery>,
) -> ApiResult<Json<Page<MarketCampaignDto>>> {
    let scope = enum_from_str(
        "scope",
        q.scope.as_deref().unwrap_or_default(),
        "CAMPAIGN_LIST_SCOPE_",
        |s| pb::CampaignListScope::from_str_name(s).map(|v| v as i32),
        &["mine", "open"],
    )?;
    let status = enum_from_str(
        "status",
        q.status.as_deref().unwrap_or_default(),
        "CAMPAIGN_STATUS_",
        |s| pb::CampaignStatus::from_str_name(s).map(|v| v as i32),
        &["draft", "published", "closed"],
    )?;
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = st
        .call(st.market().list_campaigns(st.req(
            &user,
            pb::ListCampaignsRequest {
                scope,
                status,
                page: page.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.campaigns, r.page)))
}

#[utoipa::path(get, path = "/v1/marketplace/campaigns/{campaign_id}", tag = "marketplace", security(("bearer" = [])),
    params(("campaign_id" = String, Path)),
    responses((status = 200, body = MarketCampaignDto), (status = "4XX", body = ErrorBody)))]
pub async fn get_campaign(
    State(st): State<AppState>,
    user: AuthUser,
    Path(campaign_id): Path<String>,
) -> ApiResult<Json<MarketCampaignDto>> {
    let r = st
        .call(
            st.market()
                .get_campaign(st.req(&user, pb::GetCampaignRequest { campaign_id })),
        )
        .await?;
    Ok(Json(
        r.campaign
            .ok_or_else(|| ApiError::missing("campaign"))?
            .into(),
    ))
}

/// Draft -> published: invitations (and applications for public campaigns) open.
#[utoipa::path(post, path = "/v1/marketplace/campaigns/{campaign_id}/publish", tag = "marketplace", security(("bearer" = [])),
    params(("campaign_id" = String, Path)),
    responses((status = 200, body = MarketCampaignDto), (status = "4XX", body = ErrorBody)))]
pub async fn publish_campaign(
    State(st): State<AppState>,
    user: AuthUser,
    Path(campaign_id): Path<String>,
) -> ApiResult<Json<MarketCampaignDto>> {
    let r = st
        .call(
            st.market()
                .publish_campaign(st.req(&user, pb::PublishCampaignRequest { campaign_id })),
        )
        .await?;
    Ok(Json(
        r.campaign
            .ok_or_else(|| ApiError::missing("campaign"))?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    pub creator_id: String,
    #[serde(default)]
    pub pitch: String,
}

/// Advertisers: invite a listed creator.
#[utoipa::path(post, path = "/v1/marketplace/campaigns/{campaign_id}/invitations", tag = "marketplace", security(("bearer" = [])),
    params(("campaign_id" = String, Path)), request_body = InviteBody,
    responses((status = 201, body = CollaborationDto), (status = "4XX", body = ErrorBody)))]
pub async fn invite_creator(
    State(st): State<AppState>,
    user: AuthUser,
    Path(campaign_id): Path<String>,
    ApiJson(b): ApiJson<InviteBody>,
) -> ApiResult<(StatusCode, Json<CollaborationDto>)> {
    let r = st
        .call(st.market().invite_creator(st.req(
            &user,
            pb::InviteCreatorRequest {
                campaign_id,
                creator_id: b.creator_id,
                pitch: b.pitch,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.collaboration
                .ok_or_else(|| ApiError::missing("collaboration"))?
                .into(),
        ),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PitchBody {
    #[serde(default)]
    pub pitch: String,
}

/// Creators: apply to a published public campaign.
#[utoipa::path(post, path = "/v1/marketplace/campaigns/{campaign_id}/applications", tag = "marketplace", security(("bearer" = [])),
    params(("campaign_id" = String, Path)), request_body = PitchBody,
    responses((status = 201, body = CollaborationDto), (status = "4XX", body = ErrorBody)))]
pub async fn apply_to_campaign(
    State(st): State<AppState>,
    user: AuthUser,
    Path(campaign_id): Path<String>,
    ApiJson(b): ApiJson<PitchBody>,
) -> ApiResult<(StatusCode, Json<CollaborationDto>)> {
    let r = st
        .call(st.market().apply_to_campaign(st.req(
            &user,
            pb::ApplyToCampaignRequest {
                campaign_id,
                pitch: b.pitch,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.collaboration
                .ok_or_else(|| ApiError::missing("collaboration"))?
                .into(),
        ),
    ))
}

/// Advertisers: the sponsored videos' views, engagement and audience, and what was paid.
#[utoipa::path(get, path = "/v1/marketplace/campaigns/{campaign_id}/report", tag = "marketplace", security(("bearer" = [])),
    params(("campaign_id" = String, Path)),
    responses((status = 200, body = CampaignReportDto), (status = "4XX", body = ErrorBody)))]
pub async fn campaign_report(
    State(st): State<AppState>,
    user: AuthUser,
    Path(campaign_id): Path<String>,
) -> ApiResult<Json<CampaignReportDto>> {
    let r = st
        .call(
            st.market()
                .get_campaign_report(st.req(&user, pb::GetCampaignReportRequest { campaign_id })),
        )
        .await?;
    Ok(Json(r.into()))
}

// --- collaborations ----------------------------------------------------------------

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CollaborationsQuery {
    /// Required for advertisers.
    pub campaign_id: Option<String>,
    pub state: Option<String>,
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

#[utoipa::path(get, path = "/v1/marketplace/collaborations", tag = "marketplace", security(("bearer" = [])),
    params(CollaborationsQuery),
    responses((status = 200, body = Page<CollaborationDto>), (status = "4XX", body = ErrorBody)))]
pub async fn list_collaborations(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<CollaborationsQuery>,
) -> ApiResult<Json<Page<CollaborationDto>>> {
    let state = enum_from_str(
        "state",
        q.state.as_deref().unwrap_or_default(),
        "COLLABORATION_STATE_",
        |s| pb::CollaborationState::from_str_name(s).map(|v| v as i32),
        &[
            "invited",
            "applied",
            "accepted",
            "declined",
            "submitted",
            "changes_requested",
            "approved",
            "paid",
            "expired_refunded",
        ],
    )?;
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = st
        .call(st.market().list_collaborations(st.req(
            &user,
            pb::ListCollaborationsRequest {
                campaign_id: q.campaign_id.unwrap_or_default(),
                state,
                page: page.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.collaborations, r.page)))
}

#[utoipa::path(get, path = "/v1/marketplace/collaborations/{collaboration_id}", tag = "marketplace", security(("bearer" = [])),
    params(("collaboration_id" = String, Path)),
    responses((status = 200, body = CollaborationDto), (status = "4XX", body = ErrorBody)))]
pub async fn get_collaboration(
    State(st): State<AppState>,
    user: AuthUser,
    Path(collaboration_id): Path<String>,
) -> ApiResult<Json<CollaborationDto>> {
    let r = st
        .call(
            st.market()
                .get_collaboration(st.req(&user, pb::GetCollaborationRequest { collaboration_id })),
        )
        .await?;
    Ok(Json(
        r.collaboration
            .ok_or_else(|| ApiError::missing("collaboration"))?
            .into(),
    ))
}

fn collab(r: Option<pb::Collaboration>) -> ApiResult<Json<CollaborationDto>> {
    Ok(Json(
        r.ok_or_else(|| ApiError::missing("collaboration"))?.into(),
    ))
}

/// Creators: accept an invitation; the budget is held in escrow. Needs an
/// `Idempotency-Key` header (a retry returns the first result).
#[utoipa::path(post, path = "/v1/marketplace/collaborations/{collaboration_id}/accept-invitation", tag = "marketplace", security(("bearer" = [])),
    params(("collaboration_id" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = CollaborationDto), (status = "4XX", body = ErrorBody)))]
pub async fn accept_invitation(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(idempotency_key): IdempotencyKey,
    Path(collaboration_id): Path<String>,
) -> ApiResult<Json<CollaborationDto>> {
    let r = st
        .call(st.market().accept_invitation(st.req(
            &user,
            pb::AcceptInvitationRequest {
                idempotency_key,
                collaboration_id,
            },
        )))
        .await?;
    collab(r.collaboration)
}

/// Creators: decline an invitation.
#[utoipa::path(post, path = "/v1/marketplace/collaborations/{collaboration_id}/decline-invitation", tag = "marketplace", security(("bearer" = [])),
    params(("collaboration_id" = String, Path)),
    responses((status = 200, body = CollaborationDto), (status = "4XX", body = ErrorBody)))]
pub async fn decline_invitation(
    State(st): State<AppState>,
    user: AuthUser,
    Path(collaboration_id): Path<String>,
) -> ApiResult<Json<CollaborationDto>> {
    let r = st
        .call(
            st.market().decline_invitation(
                st.req(&user, pb::DeclineInvitationRequest { collaboration_id }),
            ),
        )
        .await?;
    collab(r.collaboration)
}

/// Advertisers: accept a creator's application; the budget is held in escrow.
#[utoipa::path(post, path = "/v1/marketplace/collaborations/{collaboration_id}/accept-application", tag = "marketplace", security(("bearer" = [])),
    params(("collaboration_id" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = CollaborationDto), (status = "4XX", body = ErrorBody)))]
pub async fn accept_application(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(idempotency_key): IdempotencyKey,
    Path(collaboration_id): Path<String>,
) -> ApiResult<Json<CollaborationDto>> {
    let r = st
        .call(st.market().accept_application(st.req(
            &user,
            pb::AcceptApplicationRequest {
                idempotency_key,
                collaboration_id,
            },
        )))
        .await?;
    collab(r.collaboration)
}

/// Advertisers: reject a creator's application.
#[utoipa::path(post, path = "/v1/marketplace/collaborations/{collaboration_id}/reject-application", tag = "marketplace", security(("bearer" = [])),
    params(("collaboration_id" = String, Path)),
    responses((status = 200, body = CollaborationDto), (status = "4XX", body = ErrorBody)))]
pub async fn reject_application(
    State(st): State<AppState>,
    user: AuthUser,
    Path(collaboration_id): Path<String>,
) -> ApiResult<Json<CollaborationDto>> {
    let r = st
        .call(
            st.market().reject_application(
                st.req(&user, pb::RejectApplicationRequest { collaboration_id }),
            ),
        )
        .await?;
    collab(r.collaboration)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    /// Exactly the campaign's video_count of the creator's published videos.
    pub video_ids: Vec<String>,
}

/// Creators: submit the sponsored videos.
#[utoipa::path(post, path = "/v1/marketplace/collaborations/{collaboration_id}/submit", tag = "marketplace", security(("bearer" = [])),
    params(("collaboration_id" = String, Path)), request_body = SubmitBody,
    responses((status = 200, body = CollaborationDto), (status = "4XX", body = ErrorBody)))]
pub async fn submit_deliverable(
    State(st): State<AppState>,
    user: AuthUser,
    Path(collaboration_id): Path<String>,
    ApiJson(b): ApiJson<SubmitBody>,
) -> ApiResult<Json<CollaborationDto>> {
    let r = st
        .call(st.market().submit_deliverable(st.req(
            &user,
            pb::SubmitDeliverableRequest {
                collaboration_id,
                video_ids: b.video_ids,
            },
        )))
        .await?;
    collab(r.collaboration)
}

/// Advertisers: approve the submission; the escrow is released to the
/// creator minus the platform fee. Needs an `Idempotency-Key` header.
#[utoipa::path(post, path = "/v1/marketplace/collaborations/{collaboration_id}/approve", tag = "marketplace", security(("bearer" = [])),
    params(("collaboration_id" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = CollaborationDto), (status = "4XX", body = ErrorBody)))]
pub async fn approve_deliverable(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(idempotency_key): IdempotencyKey,
    Path(collaboration_id): Path<String>,
) -> ApiResult<Json<CollaborationDto>> {
    let r = st
        .call(st.market().approve_deliverable(st.req(
            &user,
            pb::ApproveDeliverableRequest {
                idempotency_key,
                collaboration_id,
            },
        )))
        .await?;
    collab(r.collaboration)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangesBody {
    /// 1..2000 chars.
    pub note: String,
}

/// Advertisers: ask for changes before the deadline.
#[utoipa::path(post, path = "/v1/marketplace/collaborations/{collaboration_id}/request-changes", tag = "marketplace", security(("bearer" = [])),
    params(("collaboration_id" = String, Path)), request_body = ChangesBody,
    responses((status = 200, body = CollaborationDto), (status = "4XX", body = ErrorBody)))]
pub async fn request_changes(
    State(st): State<AppState>,
    user: AuthUser,
    Path(collaboration_id): Path<String>,
    ApiJson(b): ApiJson<ChangesBody>,
) -> ApiResult<Json<CollaborationDto>> {
    let r = st
        .call(st.market().request_changes(st.req(
            &user,
            pb::RequestChangesRequest {
                collaboration_id,
                note: b.note,
            },
        )))
        .await?;
    collab(r.collaboration)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// 1..4000 chars.
    pub body: String,
}

/// Post to the collaboration's thread (its advertiser or creator).
#[utoipa::path(post, path = "/v1/marketplace/collaborations/{collaboration_id}/messages", tag = "marketplace", security(("bearer" = [])),
    params(("collaboration_id" = String, Path)), request_body = MessageBody,
    responses((status = 201, body = ThreadMessageDto), (status = "4XX", body = ErrorBody)))]
pub async fn send_message(
    State(st): State<AppState>,
    user: AuthUser,
    Path(collaboration_id): Path<String>,
    ApiJson(b): ApiJson<MessageBody>,
) -> ApiResult<(StatusCode, Json<ThreadMessageDto>)> {
    let r = st
        .call(st.market().send_message(st.req(
            &user,
            pb::SendMessageRequest {
                collaboration_id,
                body: b.body,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.message
                .ok_or_else(|| ApiError::missing("message"))?
                .into(),
        ),
    ))
}

/// The thread, newest first.
#[utoipa::path(get, path = "/v1/marketplace/collaborations/{collaboration_id}/messages", tag = "marketplace", security(("bearer" = [])),
    params(("collaboration_id" = String, Path), PageQuery),
    responses((status = 200, body = Page<ThreadMessageDto>), (status = "4XX", body = ErrorBody)))]
pub async fn list_messages(
    State(st): State<AppState>,
    user: AuthUser,
    Path(collaboration_id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ThreadMessageDto>>> {
    let r = st
        .call(st.market().list_messages(st.req(
            &user,
            pb::ListMessagesRequest {
                collaboration_id,
                page: q.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.messages, r.page)))
}
