//! Reports (any user) and moderation (admins).

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use loop_proto::content::v1 as pb;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{Page, PageQuery, ReportDto, VideoDto, enum_from_str};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, AuthUser};
use crate::responses::{Conflict, Forbidden, NotFound, Unprocessable};

/// Reports and moderation.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(report_video))
        .routes(routes!(list_reports))
        .routes(routes!(moderate_video))
}

const REASONS: &[&str] = &[
    "spam",
    "harassment",
    "hate",
    "violence",
    "nudity",
    "misinformation",
    "minor_safety",
    "other",
];

crate::constraints::enum_schemas! {
    reasons => REASONS;
    report_statuses => REPORT_STATUSES;
    decisions => DECISIONS;
}

const REPORT_STATUSES: &[&str] = &["open", "resolved"];
const DECISIONS: &[&str] = &["approve", "reject", "remove"];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    /// spam, harassment, hate, violence, nudity, misinformation, minor_safety or other.
    #[schema(schema_with = reasons)]
    pub reason: String,
    /// At most 1000 characters.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub details: String,
}

/// Report a video for review.
#[utoipa::path(post, path = "/v1/videos/{video_id}/reports", tag = "moderation", security(("bearer" = [])), request_body = ReportBody,
    params(("video_id" = uuid::Uuid, Path)), responses((status = 201, body = ReportDto), NotFound, Conflict))]
pub async fn report_video(
    State(st): State<AppState>,
    user: AuthUser,
    Path(video_id): Path<String>,
    ApiJson(b): ApiJson<ReportBody>,
) -> ApiResult<(StatusCode, Json<ReportDto>)> {
    let reason = enum_from_str(
        "reason",
        &b.reason,
        "REPORT_REASON_",
        |s| pb::ReportReason::from_str_name(s).map(|v| v as i32),
        REASONS,
    )?;
    if reason == 0 {
        return Err(ApiError::invalid(
            "reason",
            format!("must be one of: {}", REASONS.join(", ")),
        ));
    }
    let r = st
        .call(st.content().report_video(st.req(
            &user,
            pb::ReportVideoRequest {
                video_id,
                reason,
                details: b.details,
            },
        )))
        .await?;
    let report = r.report.ok_or_else(|| ApiError::missing("report"))?;
    Ok((StatusCode::CREATED, Json(report.into())))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportsQuery {
    /// open (default) or resolved.
    #[param(schema_with = report_statuses)]
    pub status: Option<String>,
    /// 1..=100, default 20.
    #[serde(default, deserialize_with = "crate::dto::page_size")]
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

/// Reports awaiting review, oldest first (admins).
#[utoipa::path(get, path = "/v1/admin/reports", tag = "moderation", security(("bearer" = [])),
    params(ReportsQuery), responses((status = 200, body = Page<ReportDto>), Forbidden))]
pub async fn list_reports(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ReportsQuery>,
) -> ApiResult<Json<Page<ReportDto>>> {
    let status = enum_from_str(
        "status",
        q.status.as_deref().unwrap_or_default(),
        "REPORT_STATUS_",
        |s| pb::ReportStatus::from_str_name(s).map(|v| v as i32),
        REPORT_STATUSES,
    )?;
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = st
        .call(st.content().list_reports(st.req(
            &user,
            pb::ListReportsRequest {
                status,
                page: page.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.reports, r.page)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModerationBody {
    /// approve, reject or remove.
    #[schema(schema_with = decisions)]
    pub decision: String,
    /// At most 1000 characters.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub note: String,
}

/// Approve, reject or remove a video (admins). Rejected and removed videos are never served again.
#[utoipa::path(post, path = "/v1/admin/videos/{video_id}/moderation", tag = "moderation", security(("bearer" = [])), request_body = ModerationBody,
    params(("video_id" = uuid::Uuid, Path)), responses((status = 200, body = VideoDto), Forbidden, NotFound, Unprocessable))]
pub async fn moderate_video(
    State(st): State<AppState>,
    user: AuthUser,
    Path(video_id): Path<String>,
    ApiJson(b): ApiJson<ModerationBody>,
) -> ApiResult<Json<VideoDto>> {
    let decision = enum_from_str(
        "decision",
        &b.decision,
        "MODERATION_DECISION_",
        |s| pb::ModerationDecision::from_str_name(s).map(|v| v as i32),
        DECISIONS,
    )?;
    if decision == 0 {
        return Err(ApiError::invalid(
            "decision",
            "must be one of: approve, reject, remove",
        ));
    }
    let r = st
        .call(st.content().moderate_video(st.req(
            &user,
            pb::ModerateVideoRequest {
                video_id,
                decision,
                note: b.note,
            },
        )))
        .await?;
    let video = r.video.ok_or_else(|| ApiError::missing("video"))?;
    Ok(Json(video.into()))
}
