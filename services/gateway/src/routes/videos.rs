//! Publishing and reading videos, remix lineage.

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use loop_proto::content::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{Page, PageQuery, VideoDto, enum_from_str};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, AuthUser};
use crate::responses::{Conflict, Forbidden, NotFound, Unprocessable};

/// Videos: publishing, reading, editing, remix lineage.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_creator_videos))
        .routes(routes!(publish_video))
        .routes(routes!(get_video, update_video, delete_video))
        .routes(routes!(lineage))
}

const VISIBILITIES: &[&str] = &["public", "followers", "private"];

fn visibility(value: &str) -> ApiResult<i32> {
    enum_from_str(
        "visibility",
        value,
        "VISIBILITY_",
        |s| pb::Visibility::from_str_name(s).map(|v| v as i32),
        VISIBILITIES,
    )
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishVideoBody {
    /// 1..2200 characters; #tags in it become hashtags.
    #[schema(min_length = 1, max_length = 2200, pattern = r"\S")]
    pub caption: String,
    /// At most 30 (with the caption's #tags), each 1..100 letters, digits or '_'.
    #[serde(default)]
    #[schema(schema_with = crate::constraints::video_hashtags)]
    pub hashtags: Vec<String>,
    /// A sound (`POST /v1/sounds`).
    #[schema(schema_with = crate::constraints::uuid)]
    pub sound_id: Option<String>,
    /// A ready upload of yours (`POST /v1/uploads`): the video plays its
    /// renditions and takes its measured duration. Give this or media_url.
    #[schema(schema_with = crate::constraints::uuid)]
    pub upload_id: Option<String>,
    /// 1000..=600000 (1 s to 10 min), with media_url only (an upload's
    /// duration is measured).
    #[schema(minimum = 1000, maximum = 600000)]
    pub duration_ms: Option<u32>,
    /// http(s) URL of externally hosted media: development only (the demo
    /// seed, older clients); elsewhere give upload_id.
    #[schema(schema_with = crate::constraints::media_url)]
    pub media_url: Option<String>,
    /// public (default), followers or private.
    #[schema(schema_with = crate::constraints::visibility)]
    pub visibility: Option<String>,
    #[schema(schema_with = crate::constraints::category)]
    pub category: Option<String>,
    /// Makes this video a duet or stitch of another (give remix_kind with it).
    #[schema(schema_with = crate::constraints::uuid)]
    pub remix_of_video_id: Option<String>,
    /// duet or stitch (with remix_of_video_id).
    #[schema(schema_with = crate::constraints::remix_kind)]
    pub remix_kind: Option<String>,
}

/// Publish a video (creators).
#[utoipa::path(post, path = "/v1/videos", tag = "videos", security(("bearer" = [])), request_body = PublishVideoBody,
    responses((status = 201, body = VideoDto), Forbidden, Conflict, Unprocessable))]
pub async fn publish_video(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<PublishVideoBody>,
) -> ApiResult<(StatusCode, Json<VideoDto>)> {
    match (&b.upload_id, &b.media_url, b.duration_ms) {
        (Some(_), Some(_), _) => {
            return Err(ApiError::invalid(
                "media_url",
                "give upload_id or media_url, not both",
            ));
        }
        (Some(_), None, Some(_)) => {
            return Err(ApiError::invalid(
                "duration_ms",
                "is measured from the upload; leave it out",
            ));
        }
        (None, None, _) => {
            return Err(ApiError::invalid(
                "upload_id",
                "is required (upload the video first: POST /v1/uploads)",
            ));
        }
        (None, Some(_), None) => {
            return Err(ApiError::invalid(
                "duration_ms",
                "is required with media_url",
            ));
        }
        _ => {}
    }
    let request = pb::PublishVideoRequest {
        caption: b.caption,
        hashtags: b.hashtags,
        sound_id: b.sound_id.unwrap_or_default(),
        duration_ms: b.duration_ms.unwrap_or_default(),
        media_url: b.media_url.unwrap_or_default(),
        upload_id: b.upload_id.unwrap_or_default(),
        visibility: visibility(b.visibility.as_deref().unwrap_or_default())?,
        category: b.category.unwrap_or_default(),
        remix_of_video_id: b.remix_of_video_id.unwrap_or_default(),
        remix_kind: enum_from_str(
            "remix_kind",
            b.remix_kind.as_deref().unwrap_or_default(),
            "REMIX_KIND_",
            |s| pb::RemixKind::from_str_name(s).map(|v| v as i32),
            &["duet", "stitch"],
        )?,
    };
    let published = st
        .call(st.content().publish_video(st.req(&user, request)))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            published
                .video
                .ok_or_else(|| ApiError::missing("video"))?
                .into(),
        ),
    ))
}

/// One video.
#[utoipa::path(get, path = "/v1/videos/{video_id}", tag = "videos", security(("bearer" = [])),
    params(("video_id" = uuid::Uuid, Path)), responses((status = 200, body = VideoDto), NotFound, Forbidden))]
pub async fn get_video(
    State(st): State<AppState>,
    user: AuthUser,
    Path(video_id): Path<String>,
) -> ApiResult<Json<VideoDto>> {
    let got = st
        .call(
            st.content()
                .get_video(st.req(&user, pb::GetVideoRequest { video_id })),
        )
        .await?;
    Ok(Json(
        got.video.ok_or_else(|| ApiError::missing("video"))?.into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateVideoBody {
    /// 1..2200 characters.
    #[schema(min_length = 1, max_length = 2200, pattern = r"\S")]
    pub caption: Option<String>,
    #[schema(schema_with = crate::constraints::visibility)]
    pub visibility: Option<String>,
}

/// Edit your video's caption or visibility.
#[utoipa::path(patch, path = "/v1/videos/{video_id}", tag = "videos", security(("bearer" = [])), request_body = UpdateVideoBody,
    params(("video_id" = uuid::Uuid, Path)), responses((status = 200, body = VideoDto), NotFound, Forbidden))]
pub async fn update_video(
    State(st): State<AppState>,
    user: AuthUser,
    Path(video_id): Path<String>,
    ApiJson(b): ApiJson<UpdateVideoBody>,
) -> ApiResult<Json<VideoDto>> {
    let mut request = pb::UpdateVideoRequest {
        video_id,
        ..Default::default()
    };
    if let Some(caption) = b.caption {
        request.update_mask.push("caption".into());
        request.caption = caption;
    }
    if let Some(v) = b.visibility {
        request.update_mask.push("visibility".into());
        request.visibility = visibility(&v)?;
        if request.visibility == 0 {
            return Err(ApiError::invalid(
                "visibility",
                "must be one of: public, followers, private",
            ));
        }
    }
    if request.update_mask.is_empty() {
        return Err(ApiError::invalid("body", "give caption and/or visibility"));
    }
    let updated = st
        .call(st.content().update_video(st.req(&user, request)))
        .await?;
    Ok(Json(
        updated
            .video
            .ok_or_else(|| ApiError::missing("video"))?
            .into(),
    ))
}

/// Delete your video; it is never served again.
#[utoipa::path(delete, path = "/v1/videos/{video_id}", tag = "videos", security(("bearer" = [])),
    params(("video_id" = uuid::Uuid, Path)), responses((status = 204), NotFound, Forbidden))]
pub async fn delete_video(
    State(st): State<AppState>,
    user: AuthUser,
    Path(video_id): Path<String>,
) -> ApiResult<StatusCode> {
    st.call(
        st.content()
            .delete_video(st.req(&user, pb::DeleteVideoRequest { video_id })),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A creator's videos, newest first.
#[utoipa::path(get, path = "/v1/users/{user_id}/videos", tag = "videos", security(("bearer" = [])),
    params(("user_id" = uuid::Uuid, Path), PageQuery), responses((status = 200, body = Page<VideoDto>), NotFound, Forbidden))]
pub async fn list_creator_videos(
    State(st): State<AppState>,
    user: AuthUser,
    Path(user_id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<VideoDto>>> {
    let listed = st
        .call(st.content().list_creator_videos(st.req(
            &user,
            pb::ListCreatorVideosRequest {
                creator_id: user_id,
                page: q.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(listed.videos, listed.page)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LineageDto {
    /// Nearest first.
    pub ancestors: Vec<VideoDto>,
    pub remixes: Page<VideoDto>,
}

/// What a remix is built on, and its direct remixes.
#[utoipa::path(get, path = "/v1/videos/{video_id}/lineage", tag = "videos", security(("bearer" = [])),
    params(("video_id" = uuid::Uuid, Path), PageQuery), responses((status = 200, body = LineageDto), NotFound))]
pub async fn lineage(
    State(st): State<AppState>,
    user: AuthUser,
    Path(video_id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<LineageDto>> {
    let got = st
        .call(st.content().get_remix_lineage(st.req(
            &user,
            pb::GetRemixLineageRequest {
                video_id,
                remixes_page: q.to_proto(),
            },
        )))
        .await?;
    Ok(Json(LineageDto {
        ancestors: got.ancestors.into_iter().map(Into::into).collect(),
        remixes: Page::new(got.remixes, got.remixes_page),
    }))
}
