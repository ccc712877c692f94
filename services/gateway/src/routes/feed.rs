//! The feeds: Following (content's videos of the creators you follow) and
//! For You with its controls (served by feed-ranking).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use loop_proto::common::v1 as common;
use loop_proto::content::v1 as content;
use loop_proto::feed_ranking::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{Page, PageQuery, VideoDto, enum_from_str, enum_to_str, ts};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, AuthUser};

/// The Following and For You feeds and the For You controls.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(following_feed))
        .routes(routes!(for_you))
        .routes(routes!(refresh))
        .routes(routes!(get_filters, set_filters))
        .routes(routes!(interests))
}

/// The Following feed: videos of creators you follow, newest first.
#[utoipa::path(get, path = "/v1/feed/following", tag = "feed", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Page<ServedVideoDto>)))]
pub async fn following_feed(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ServedVideoDto>>> {
    let listed = st
        .call(st.content().list_following_videos(st.req(
            &user,
            content::ListFollowingVideosRequest {
                user_id: String::new(),
                page: q.to_proto(),
            },
        )))
        .await?;
    let mut page: Page<ServedVideoDto> = Page::new(Vec::<ServedVideoDto>::new(), listed.page);
    page.items = listed
        .videos
        .into_iter()
        .enumerate()
        .map(|(i, v)| ServedVideoDto {
            serve_token: st.serve_tokens.sign(
                &user.user_id,
                &v.video_id,
                &v.creator_id,
                u32::try_from(i).unwrap_or(u32::MAX),
            ),
            video: v.into(),
        })
        .collect();
    Ok(Json(page))
}

/// A video served in a feed, with the proof it was served to you.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServedVideoDto {
    #[serde(flatten)]
    pub video: VideoDto,
    /// Send it back with engagement (`POST /v1/events`) so it counts.
    pub serve_token: String,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ForYouQuery {
    /// 1..=50, default 10.
    #[serde(default, deserialize_with = "for_you_page_size")]
    #[param(minimum = 1, maximum = 50)]
    pub page_size: Option<u32>,
    /// ISO 3166-1 alpha-2 of where the viewer is now (regional trends).
    #[param(schema_with = crate::constraints::country)]
    pub country: Option<String>,
    #[param(schema_with = crate::constraints::language_tag)]
    pub language: Option<String>,
    /// ios, android or web.
    #[param(schema_with = crate::constraints::device_os)]
    pub device_os: Option<String>,
    /// First page after the app opened.
    pub app_open: Option<bool>,
    /// Include ads (default true).
    pub ads: Option<bool>,
}

fn for_you_page_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    crate::dto::bounded(d, 1, 50)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VideoCardDto {
    pub video_id: String,
    pub creator_id: String,
    pub sound_id: Option<String>,
    pub hashtags: Vec<String>,
    pub caption: String,
    pub category: String,
    pub media_url: String,
    pub duration_ms: u32,
    pub published_at: Option<DateTime<Utc>>,
    /// HLS master playlist through a short-lived signed URL (videos published
    /// from an upload), as on `VideoDto`; refresh the page for fresh ones.
    pub playback_url: Option<String>,
    /// Poster image, signed like `playback_url`.
    pub poster_url: Option<String>,
}

impl From<pb::VideoCard> for VideoCardDto {
    fn from(v: pb::VideoCard) -> Self {
        let (playback_url, poster_url) = crate::playback::signed_urls(&v.media_url).unzip();
        Self {
            playback_url,
            poster_url,
            video_id: v.video_id,
            creator_id: v.creator_id,
            sound_id: (!v.sound_id.is_empty()).then_some(v.sound_id),
            hashtags: v.hashtags,
            caption: v.caption,
            category: v.category,
            media_url: v.media_url,
            duration_ms: v.duration_ms,
            published_at: ts(v.published_at),
        }
    }
}

/// A sponsored item: render it with a "Sponsored" label and report its
/// impression, click and view with `impression_token` to `POST /v1/ad-events`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdItemDto {
    pub ad_id: String,
    pub campaign_id: String,
    pub ad_group_id: String,
    pub advertiser_id: String,
    /// in_feed, topview or spark.
    pub format: String,
    pub call_to_action: String,
    pub landing_url: String,
    /// "Sponsored by" name (for Spark ads the creator's handle).
    pub display_name: String,
    pub impression_token: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub video: Option<VideoCardDto>,
}

impl From<pb::AdCard> for AdItemDto {
    fn from(a: pb::AdCard) -> Self {
        let p = a.placement.unwrap_or_default();
        Self {
            format: enum_to_str(p.format().as_str_name(), "AD_FORMAT_"),
            call_to_action: enum_to_str(p.call_to_action().as_str_name(), "CALL_TO_ACTION_"),
            ad_id: p.ad_id,
            campaign_id: p.campaign_id,
            ad_group_id: p.ad_group_id,
            advertiser_id: p.advertiser_id,
            landing_url: p.landing_url,
            display_name: p.display_name,
            impression_token: p.impression_token,
            expires_at: ts(p.expires_at),
            video: a.video.map(Into::into),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedItemDto {
    pub position: u32,
    pub video: Option<VideoCardDto>,
    /// Set on sponsored items (then `video` is absent and `sponsored` is true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ad: Option<AdItemDto>,
    /// The "Sponsored" marker.
    pub sponsored: bool,
    /// Why this video, in words.
    pub reason: String,
    /// interest_match, trending, fresh, following, challenge, cold_start_interest, regional_popular or sponsored.
    pub reason_kind: String,
    pub score: f32,
    /// Proof this video was served to you: send it back with engagement
    /// (`POST /v1/events`) so it counts. Absent on sponsored items (they
    /// have their impression token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serve_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ForYouDto {
    pub items: Vec<FeedItemDto>,
    pub request_id: String,
    /// True while the feed knows nothing about you beyond what you declared.
    pub cold_start: bool,
}

/// Your personalised For You feed; videos shown are never shown again.
#[utoipa::path(get, path = "/v1/feed/for-you", tag = "feed", security(("bearer" = [])),
    params(ForYouQuery), responses((status = 200, body = ForYouDto)))]
pub async fn for_you(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ForYouQuery>,
) -> ApiResult<Json<ForYouDto>> {
    let device_os = enum_from_str(
        "device_os",
        q.device_os.as_deref().unwrap_or_default(),
        "DEVICE_OS_",
        |s| common::DeviceOs::from_str_name(s).map(|v| v as i32),
        &["ios", "android", "web"],
    )?;
    let country = q
        .country
        .as_deref()
        .map(|c| crate::dto::country("country", c))
        .transpose()?;
    let language = q
        .language
        .as_deref()
        .map(|l| crate::dto::language_tag("language", l))
        .transpose()?;
    let request = pb::GetForYouFeedRequest {
        page_size: q.page_size.unwrap_or(0),
        context: Some(common::ClientContext {
            country: country.unwrap_or_default(),
            language: language.unwrap_or_default(),
            device_os,
            app_version: String::new(),
        }),
        app_open: q.app_open.unwrap_or(false),
        include_ads: q.ads.unwrap_or(true),
    };
    let feed = st
        .call(st.ranker().get_for_you_feed(st.req(&user, request)))
        .await?;
    Ok(Json(ForYouDto {
        items: feed
            .items
            .into_iter()
            .map(|i| FeedItemDto {
                serve_token: match &i.item {
                    Some(pb::feed_item::Item::Video(v)) => Some(st.serve_tokens.sign_with(
                        &user.user_id,
                        &v.video_id,
                        &v.creator_id,
                        i.position,
                        &i.features,
                    )),
                    _ => None,
                },
                position: i.position,
                reason_kind: enum_to_str(i.reason_kind().as_str_name(), "REASON_KIND_"),
                reason: i.reason,
                score: i.score,
                sponsored: matches!(i.item, Some(pb::feed_item::Item::Ad(_))),
                ad: match &i.item {
                    Some(pb::feed_item::Item::Ad(a)) => Some(a.clone().into()),
                    _ => None,
                },
                video: match i.item {
                    Some(pb::feed_item::Item::Video(v)) => Some(v.into()),
                    _ => None,
                },
            })
            .collect(),
        request_id: feed.request_id,
        cold_start: feed.cold_start,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshDto {
    pub reset_at: Option<DateTime<Utc>>,
}

/// Start over: forget learned interests and what you have seen (follows and filters stay).
#[utoipa::path(post, path = "/v1/feed/refresh", tag = "feed", security(("bearer" = [])),
    responses((status = 200, body = RefreshDto)))]
pub async fn refresh(State(st): State<AppState>, user: AuthUser) -> ApiResult<Json<RefreshDto>> {
    let r = st
        .call(
            st.ranker()
                .refresh_feed(st.req(&user, pb::RefreshFeedRequest {})),
        )
        .await?;
    Ok(Json(RefreshDto {
        reset_at: ts(r.reset_at),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressionDto {
    pub id: String,
    pub suppressed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FiltersDto {
    pub keywords: Vec<String>,
    /// Creators you marked "not interested".
    pub suppressed_creators: Vec<SuppressionDto>,
    pub suppressed_sounds: Vec<SuppressionDto>,
}

fn filters_dto(f: Option<pb::FeedFilters>) -> FiltersDto {
    let f = f.unwrap_or_default();
    let sup = |items: Vec<pb::Suppression>| {
        items
            .into_iter()
            .map(|s| SuppressionDto {
                id: s.id,
                suppressed_at: ts(s.suppressed_at),
            })
            .collect()
    };
    FiltersDto {
        keywords: f.keywords,
        suppressed_creators: sup(f.suppressed_creators),
        suppressed_sounds: sup(f.suppressed_sounds),
    }
}

/// Your keyword filters and "not interested" suppressions.
#[utoipa::path(get, path = "/v1/feed/filters", tag = "feed", security(("bearer" = [])),
    responses((status = 200, body = FiltersDto)))]
pub async fn get_filters(
    State(st): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<FiltersDto>> {
    let r = st
        .call(
            st.ranker()
                .get_feed_filters(st.req(&user, pb::GetFeedFiltersRequest {})),
        )
        .await?;
    Ok(Json(filters_dto(r.filters)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FiltersBody {
    /// Replaces your keyword filters (at most 200, each 1..50 characters):
    /// videos whose caption or hashtags contain one are hidden.
    #[serde(default)]
    #[schema(schema_with = keywords)]
    pub keywords: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = crate::constraints::uuids)]
    pub unsuppress_creator_ids: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = crate::constraints::uuids)]
    pub unsuppress_sound_ids: Vec<String>,
    #[serde(default)]
    pub clear_all_suppressions: bool,
}

fn keywords() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let keyword = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(50))
        .pattern(Some(r"\S"));
    ArrayBuilder::new()
        .items(keyword)
        .max_items(Some(200))
        .build()
}

/// Replace keyword filters and lift suppressions.
#[utoipa::path(put, path = "/v1/feed/filters", tag = "feed", security(("bearer" = [])), request_body = FiltersBody,
    responses((status = 200, body = FiltersDto)))]
pub async fn set_filters(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<FiltersBody>,
) -> ApiResult<Json<FiltersDto>> {
    crate::dto::uuids("unsuppress_creator_ids", &b.unsuppress_creator_ids, 100)?;
    crate::dto::uuids("unsuppress_sound_ids", &b.unsuppress_sound_ids, 100)?;
    let r = st
        .call(st.ranker().set_feed_filters(st.req(
            &user,
            pb::SetFeedFiltersRequest {
                keywords: b.keywords,
                unsuppress_creator_ids: b.unsuppress_creator_ids,
                unsuppress_sound_ids: b.unsuppress_sound_ids,
                clear_all_suppressions: b.clear_all_suppressions,
            },
        )))
        .await?;
    Ok(Json(filters_dto(r.filters)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InterestDto {
    pub name: String,
    pub weight: f32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InterestsDto {
    pub hashtags: Vec<InterestDto>,
    pub cold_start: bool,
}

/// What the feed thinks you like (top hashtags).
#[utoipa::path(get, path = "/v1/feed/interests", tag = "feed", security(("bearer" = [])),
    responses((status = 200, body = InterestsDto)))]
pub async fn interests(
    State(st): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<InterestsDto>> {
    let r = st
        .call(
            st.ranker()
                .get_user_interests(st.req(&user, pb::GetUserInterestsRequest { limit: 10 })),
        )
        .await?;
    Ok(Json(InterestsDto {
        hashtags: r
            .hashtags
            .into_iter()
            .map(|i| InterestDto {
                name: i.name,
                weight: i.weight,
            })
            .collect(),
        cold_start: r.cold_start,
    }))
}
