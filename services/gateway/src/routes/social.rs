//! Follows, likes, comments, shares.
//!
//! A like is one call: `POST /v1/videos/{video_id}/like` records it in
//! content and publishes the `like` engagement the ranker learns from
//! (`events::publish_like`); `DELETE` does the same for `unlike`.

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use loop_proto::common::v1::ClientContext;
use loop_proto::content::v1 as pb;
use loop_proto::events::v1 as ev;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{CommentDto, Page, PageQuery, UserDto};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, AuthUser, OptionalJson};
use crate::responses::{Conflict, Forbidden, NotFound};
use crate::routes::events::{ClientContextBody, context, publish_like, served};

/// Follows, likes, comments and shares.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_followers))
        .routes(routes!(list_following))
        .routes(routes!(follow, unfollow))
        .routes(routes!(like, unlike))
        .routes(routes!(add_comment, list_comments))
        .routes(routes!(delete_comment))
        .routes(routes!(share))
}

/// Follow a user.
#[utoipa::path(post, path = "/v1/users/{user_id}/follow", tag = "social", security(("bearer" = [])),
    params(("user_id" = uuid::Uuid, Path)), responses((status = 204), NotFound, Conflict))]
pub async fn follow(
    State(st): State<AppState>,
    user: AuthUser,
    Path(user_id): Path<String>,
) -> ApiResult<StatusCode> {
    st.call(st.content().follow(st.req(
        &user,
        pb::FollowRequest {
            creator_id: user_id,
        },
    )))
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unfollow a user.
#[utoipa::path(delete, path = "/v1/users/{user_id}/follow", tag = "social", security(("bearer" = [])),
    params(("user_id" = uuid::Uuid, Path)), responses((status = 204), NotFound))]
pub async fn unfollow(
    State(st): State<AppState>,
    user: AuthUser,
    Path(user_id): Path<String>,
) -> ApiResult<StatusCode> {
    st.call(st.content().unfollow(st.req(
        &user,
        pb::UnfollowRequest {
            creator_id: user_id,
        },
    )))
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who follows a user, newest first.
#[utoipa::path(get, path = "/v1/users/{user_id}/followers", tag = "social", security(("bearer" = [])),
    params(("user_id" = uuid::Uuid, Path), PageQuery), responses((status = 200, body = Page<UserDto>), NotFound))]
pub async fn list_followers(
    State(st): State<AppState>,
    user: AuthUser,
    Path(user_id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<UserDto>>> {
    let r = st
        .call(st.content().list_followers(st.req(
            &user,
            pb::ListFollowersRequest {
                user_id,
                page: q.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.users, r.page)))
}

/// Whom a user follows, newest first.
#[utoipa::path(get, path = "/v1/users/{user_id}/following", tag = "social", security(("bearer" = [])),
    params(("user_id" = uuid::Uuid, Path), PageQuery), responses((status = 200, body = Page<UserDto>), NotFound))]
pub async fn list_following(
    State(st): State<AppState>,
    user: AuthUser,
    Path(user_id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<UserDto>>> {
    let r = st
        .call(st.content().list_following(st.req(
            &user,
            pb::ListFollowingRequest {
                user_id,
                page: q.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.users, r.page)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LikeDto {
    /// False when the call changed nothing (already liked / not liked).
    pub changed: bool,
    pub like_count: u64,
    /// What the engagement counts for, as in `POST /v1/events`: counted,
    /// unverified (no valid serve token: your own feed only), duplicate
    /// (already credited: ignored) or own_video.
    pub credit: &'static str,
}

/// The optional body of a like: where it was served and the client's context.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LikeBody {
    /// The `serve_token` of the For You / Following item liked. Without a
    /// valid one the like teaches only your own feed; with one it also
    /// counts toward the video's metrics and trending, once.
    #[schema(max_length = 2048)]
    pub serve_token: Option<String>,
    #[serde(default)]
    pub context: ClientContextBody,
}

/// Like a video (idempotent); the feed learns from it. Send the feed item's
/// `serve_token` so the like also counts toward the video's metrics.
#[utoipa::path(post, path = "/v1/videos/{video_id}/like", tag = "social", security(("bearer" = [])), request_body = Option<LikeBody>,
    params(("video_id" = uuid::Uuid, Path)), responses((status = 200, body = LikeDto), NotFound))]
pub async fn like(
    State(st): State<AppState>,
    user: AuthUser,
    Path(video_id): Path<String>,
    OptionalJson(b): OptionalJson<LikeBody>,
) -> ApiResult<Json<LikeDto>> {
    let ctx = context(&b.context)?;
    // Checked before the like is recorded, so a bad token changes nothing.
    let canonical =
        uuid::Uuid::parse_str(&video_id).map_or_else(|_| video_id.clone(), |u| u.to_string());
    let served = served(
        &st,
        &user,
        "serve_token".into(),
        b.serve_token.as_deref(),
        &canonical,
    )?
    .is_some();
    let r = st
        .call(st.content().like_video(st.req(
            &user,
            pb::LikeVideoRequest {
                video_id: video_id.clone(),
            },
        )))
        .await?;
    let video = liked_video(&st, &user, video_id).await?;
    let credit = publish_like(&st, &user, &video, ev::EngagementKind::Like, served, &ctx).await?;
    Ok(Json(LikeDto {
        changed: r.changed,
        like_count: r.like_count,
        credit: crate::credit::name(credit),
    }))
}

/// Remove your like (idempotent).
#[utoipa::path(delete, path = "/v1/videos/{video_id}/like", tag = "social", security(("bearer" = [])),
    params(("video_id" = uuid::Uuid, Path)), responses((status = 200, body = LikeDto), NotFound))]
pub async fn unlike(
    State(st): State<AppState>,
    user: AuthUser,
    Path(video_id): Path<String>,
) -> ApiResult<Json<LikeDto>> {
    let r = st
        .call(st.content().unlike_video(st.req(
            &user,
            pb::UnlikeVideoRequest {
                video_id: video_id.clone(),
            },
        )))
        .await?;
    let video = liked_video(&st, &user, video_id).await?;
    let ctx = ClientContext::default();
    let credit = publish_like(&st, &user, &video, ev::EngagementKind::Unlike, false, &ctx).await?;
    Ok(Json(LikeDto {
        changed: r.changed,
        like_count: r.like_count,
        credit: crate::credit::name(credit),
    }))
}

/// The video a like was just recorded on, for its engagement's features.
async fn liked_video(st: &AppState, user: &AuthUser, video_id: String) -> ApiResult<pb::Video> {
    st.call(
        st.content()
            .get_video(st.req(user, pb::GetVideoRequest { video_id })),
    )
    .await?
    .video
    .ok_or_else(|| ApiError::missing("video"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    /// 1..500 characters.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub text: String,
    /// Reply to this top-level comment.
    #[schema(schema_with = crate::constraints::uuid)]
    pub parent_comment_id: Option<String>,
}

/// Comment on a video (or reply to a top-level comment).
#[utoipa::path(post, path = "/v1/videos/{video_id}/comments", tag = "social", security(("bearer" = [])), request_body = CommentBody,
    params(("video_id" = uuid::Uuid, Path)), responses((status = 201, body = CommentDto), NotFound))]
pub async fn add_comment(
    State(st): State<AppState>,
    user: AuthUser,
    Path(video_id): Path<String>,
    ApiJson(b): ApiJson<CommentBody>,
) -> ApiResult<(StatusCode, Json<CommentDto>)> {
    let r = st
        .call(st.content().add_comment(st.req(
            &user,
            pb::AddCommentRequest {
                video_id,
                text: b.text,
                parent_comment_id: b.parent_comment_id.unwrap_or_default(),
            },
        )))
        .await?;
    let comment = r.comment.ok_or_else(|| ApiError::missing("comment"))?;
    Ok((StatusCode::CREATED, Json(comment.into())))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CommentsQuery {
    /// List the replies of this comment instead of the top-level comments.
    #[param(schema_with = crate::constraints::uuid)]
    pub parent_comment_id: Option<String>,
    /// 1..=100, default 20.
    #[serde(default, deserialize_with = "crate::dto::page_size")]
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

/// A video's comments, oldest first.
#[utoipa::path(get, path = "/v1/videos/{video_id}/comments", tag = "social", security(("bearer" = [])),
    params(("video_id" = uuid::Uuid, Path), CommentsQuery), responses((status = 200, body = Page<CommentDto>), NotFound))]
pub async fn list_comments(
    State(st): State<AppState>,
    user: AuthUser,
    Path(video_id): Path<String>,
    ApiQuery(q): ApiQuery<CommentsQuery>,
) -> ApiResult<Json<Page<CommentDto>>> {
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = st
        .call(st.content().list_comments(st.req(
            &user,
            pb::ListCommentsRequest {
                video_id,
                parent_comment_id: q.parent_comment_id.unwrap_or_default(),
                page: page.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.comments, r.page)))
}

/// Delete a comment (its author, the video's creator or an admin).
#[utoipa::path(delete, path = "/v1/comments/{comment_id}", tag = "social", security(("bearer" = [])),
    params(("comment_id" = uuid::Uuid, Path)), responses((status = 204), NotFound, Forbidden))]
pub async fn delete_comment(
    State(st): State<AppState>,
    user: AuthUser,
    Path(comment_id): Path<String>,
) -> ApiResult<StatusCode> {
    st.call(
        st.content()
            .delete_comment(st.req(&user, pb::DeleteCommentRequest { comment_id })),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareBody {
    /// Where it was shared: copy_link, whatsapp, ... (1..32 characters).
    #[schema(min_length = 1, max_length = 32, pattern = r"\S")]
    pub channel: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShareDto {
    pub share_count: u64,
}

/// Record a share.
#[utoipa::path(post, path = "/v1/videos/{video_id}/share", tag = "social", security(("bearer" = [])), request_body = ShareBody,
    params(("video_id" = uuid::Uuid, Path)), responses((status = 200, body = ShareDto), NotFound))]
pub async fn share(
    State(st): State<AppState>,
    user: AuthUser,
    Path(video_id): Path<String>,
    ApiJson(b): ApiJson<ShareBody>,
) -> ApiResult<Json<ShareDto>> {
    let r = st
        .call(st.content().share_video(st.req(
            &user,
            pb::ShareVideoRequest {
                video_id,
                channel: b.channel,
            },
        )))
        .await?;
    Ok(Json(ShareDto {
        share_count: r.share_count,
    }))
}
