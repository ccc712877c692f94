//! Hashtags, challenges, sounds.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use http::StatusCode;
use loop_platform::time::to_timestamp;
use loop_proto::content::v1 as pb;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{ChallengeDto, HashtagDto, Page, PageQuery, SoundDto, VideoDto};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, AuthUser};
use crate::responses::{Conflict, Forbidden, NotFound};

/// Hashtags, challenges and sounds.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_hashtag))
        .routes(routes!(hashtag_videos))
        .routes(routes!(create_challenge, list_challenges))
        .routes(routes!(create_sound))
        .routes(routes!(get_sound))
        .routes(routes!(sound_videos))
}

/// A hashtag: how many videos carry it, and its active challenge.
#[utoipa::path(get, path = "/v1/hashtags/{name}", tag = "discover", security(("bearer" = [])),
    params(("name" = String, Path, pattern = r"^#*[\p{L}\p{N}_]{1,100}$")), responses((status = 200, body = HashtagDto), NotFound))]
pub async fn get_hashtag(
    State(st): State<AppState>,
    user: AuthUser,
    Path(name): Path<String>,
) -> ApiResult<Json<HashtagDto>> {
    let r = st
        .call(
            st.content()
                .get_hashtag(st.req(&user, pb::GetHashtagRequest { name })),
        )
        .await?;
    let h = r.hashtag.ok_or_else(|| ApiError::missing("hashtag"))?;
    Ok(Json(HashtagDto {
        name: h.name,
        video_count: h.video_count,
        active_challenge: h.active_challenge.map(Into::into),
    }))
}

/// Videos with a hashtag, newest first.
#[utoipa::path(get, path = "/v1/hashtags/{name}/videos", tag = "discover", security(("bearer" = [])),
    params(("name" = String, Path, pattern = r"^#*[\p{L}\p{N}_]{1,100}$"), PageQuery), responses((status = 200, body = Page<VideoDto>)))]
pub async fn hashtag_videos(
    State(st): State<AppState>,
    user: AuthUser,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<VideoDto>>> {
    let r = st
        .call(st.content().list_hashtag_videos(st.req(
            &user,
            pb::ListHashtagVideosRequest {
                name,
                page: q.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.videos, r.page)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeBody {
    #[schema(schema_with = crate::constraints::hashtag)]
    pub hashtag: String,
    /// 1..1000 characters.
    #[schema(min_length = 1, max_length = 1000, pattern = r"\S")]
    pub description: String,
    /// Not in the past.
    pub starts_at: DateTime<Utc>,
    /// After starts_at, at most 30 days later.
    pub ends_at: DateTime<Utc>,
}

/// Start an editorial hashtag challenge (admins only; advertisers buy a Branded Hashtag Challenge at /v1/ads/branded-challenges). It may not start in the past and lasts at most 30 days.
#[utoipa::path(post, path = "/v1/challenges", tag = "discover", security(("bearer" = [])), request_body = ChallengeBody,
    responses((status = 201, body = ChallengeDto), Forbidden, Conflict))]
pub async fn create_challenge(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<ChallengeBody>,
) -> ApiResult<(StatusCode, Json<ChallengeDto>)> {
    let r = st
        .call(st.content().create_challenge(st.req(
            &user,
            pb::CreateChallengeRequest {
                hashtag: b.hashtag,
                description: b.description,
                starts_at: Some(to_timestamp(b.starts_at)),
                ends_at: Some(to_timestamp(b.ends_at)),
                sponsor_id: String::new(),
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.challenge
                .ok_or_else(|| ApiError::missing("challenge"))?
                .into(),
        ),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChallengesQuery {
    /// Only challenges running now (default true).
    pub active_only: Option<bool>,
    /// 1..=100, default 20.
    #[serde(default, deserialize_with = "crate::dto::page_size")]
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

/// Challenges, soonest-ending first.
#[utoipa::path(get, path = "/v1/challenges", tag = "discover", security(("bearer" = [])),
    params(ChallengesQuery), responses((status = 200, body = Page<ChallengeDto>)))]
pub async fn list_challenges(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ChallengesQuery>,
) -> ApiResult<Json<Page<ChallengeDto>>> {
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = st
        .call(st.content().list_challenges(st.req(
            &user,
            pb::ListChallengesRequest {
                active_only: q.active_only.unwrap_or(true),
                page: page.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.challenges, r.page)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SoundBody {
    /// 1..200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: String,
    /// 1..200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub artist: String,
    /// 1000..=600000 (1 s to 10 min).
    #[schema(minimum = 1000, maximum = 600000)]
    pub duration_ms: u32,
}

/// Upload a sound's metadata.
#[utoipa::path(post, path = "/v1/sounds", tag = "discover", security(("bearer" = [])), request_body = SoundBody,
    responses((status = 201, body = SoundDto)))]
pub async fn create_sound(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<SoundBody>,
) -> ApiResult<(StatusCode, Json<SoundDto>)> {
    let r = st
        .call(st.content().create_sound(st.req(
            &user,
            pb::CreateSoundRequest {
                title: b.title,
                artist: b.artist,
                duration_ms: b.duration_ms,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(r.sound.ok_or_else(|| ApiError::missing("sound"))?.into()),
    ))
}

/// A sound and how many videos use it.
#[utoipa::path(get, path = "/v1/sounds/{sound_id}", tag = "discover", security(("bearer" = [])),
    params(("sound_id" = uuid::Uuid, Path)), responses((status = 200, body = SoundDto), NotFound))]
pub async fn get_sound(
    State(st): State<AppState>,
    user: AuthUser,
    Path(sound_id): Path<String>,
) -> ApiResult<Json<SoundDto>> {
    let r = st
        .call(
            st.content()
                .get_sound(st.req(&user, pb::GetSoundRequest { sound_id })),
        )
        .await?;
    Ok(Json(
        r.sound.ok_or_else(|| ApiError::missing("sound"))?.into(),
    ))
}

/// Videos using a sound, newest first.
#[utoipa::path(get, path = "/v1/sounds/{sound_id}/videos", tag = "discover", security(("bearer" = [])),
    params(("sound_id" = uuid::Uuid, Path), PageQuery), responses((status = 200, body = Page<VideoDto>), NotFound))]
pub async fn sound_videos(
    State(st): State<AppState>,
    user: AuthUser,
    Path(sound_id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<VideoDto>>> {
    let r = st
        .call(st.content().list_sound_videos(st.req(
            &user,
            pb::ListSoundVideosRequest {
                sound_id,
                page: q.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.videos, r.page)))
}
