//! Collaborations: acceptance (escrow), threads, deliverables, approval and payment, reports.

use super::*;

/// Collaborations: invitations, applications, deliverables.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_collaborations))
        .routes(routes!(get_collaboration))
        .routes(routes!(accept_invitation))
        .routes(routes!(decline_invitation))
        .routes(routes!(accept_application))
        .routes(routes!(reject_application))
        .routes(routes!(submit_deliverable))
        .routes(routes!(approve_deliverable))
        .routes(routes!(request_changes))
        .routes(routes!(send_message, list_messages))
}

// --- collaborations ----------------------------------------------------------------

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CollaborationsQuery {
    /// Required for advertisers.
    #[param(schema_with = crate::constraints::uuid)]
    pub campaign_id: Option<String>,
    #[param(schema_with = collaboration_states)]
    pub state: Option<String>,
    /// 1..=100, default 20.
    #[serde(default, deserialize_with = "crate::dto::page_size")]
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

#[utoipa::path(get, path = "/v1/marketplace/collaborations", tag = "marketplace", security(("bearer" = [])),
    params(CollaborationsQuery),
    responses((status = 200, body = Page<CollaborationDto>), Forbidden, NotFound))]
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
        COLLABORATION_STATES,
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
    params(("collaboration_id" = uuid::Uuid, Path)),
    responses((status = 200, body = CollaborationDto), Forbidden, NotFound))]
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

pub(crate) fn collab(r: Option<pb::Collaboration>) -> ApiResult<Json<CollaborationDto>> {
    Ok(Json(
        r.ok_or_else(|| ApiError::missing("collaboration"))?.into(),
    ))
}

/// Creators: accept an invitation; the budget is held in escrow. Needs an
/// `Idempotency-Key` header (a retry returns the first result).
#[utoipa::path(post, path = "/v1/marketplace/collaborations/{collaboration_id}/accept-invitation", tag = "marketplace", security(("bearer" = [])),
    params(("collaboration_id" = uuid::Uuid, Path), IdempotencyKeyHeader),
    responses((status = 200, body = CollaborationDto), Forbidden, NotFound, Conflict, Unprocessable))]
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
    params(("collaboration_id" = uuid::Uuid, Path)),
    responses((status = 200, body = CollaborationDto), Forbidden, NotFound, Unprocessable))]
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
    params(("collaboration_id" = uuid::Uuid, Path), IdempotencyKeyHeader),
    responses((status = 200, body = CollaborationDto), Forbidden, NotFound, Conflict, Unprocessable))]
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
    params(("collaboration_id" = uuid::Uuid, Path)),
    responses((status = 200, body = CollaborationDto), Forbidden, NotFound, Unprocessable))]
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

fn video_ids() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::ArrayBuilder;
    ArrayBuilder::new()
        .items(crate::constraints::uuid())
        .min_items(Some(1))
        .max_items(Some(10))
        .unique_items(true)
        .build()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    /// Exactly the campaign's video_count of the creator's published videos, each once.
    #[schema(schema_with = video_ids)]
    pub video_ids: Vec<String>,
}

/// Creators: submit the sponsored videos.
#[utoipa::path(post, path = "/v1/marketplace/collaborations/{collaboration_id}/submit", tag = "marketplace", security(("bearer" = [])),
    params(("collaboration_id" = uuid::Uuid, Path)), request_body = SubmitBody,
    responses((status = 200, body = CollaborationDto), Forbidden, NotFound, Unprocessable))]
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
    params(("collaboration_id" = uuid::Uuid, Path), IdempotencyKeyHeader),
    responses((status = 200, body = CollaborationDto), Forbidden, NotFound, Conflict, Unprocessable))]
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
    /// 1..2000 characters.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub note: String,
}

/// Advertisers: ask for changes before the deadline.
#[utoipa::path(post, path = "/v1/marketplace/collaborations/{collaboration_id}/request-changes", tag = "marketplace", security(("bearer" = [])),
    params(("collaboration_id" = uuid::Uuid, Path)), request_body = ChangesBody,
    responses((status = 200, body = CollaborationDto), Forbidden, NotFound, Unprocessable))]
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
    /// 1..4000 characters.
    #[schema(min_length = 1, max_length = 4000, pattern = r"\S")]
    pub body: String,
}

/// Post to the collaboration's thread (its advertiser or creator).
#[utoipa::path(post, path = "/v1/marketplace/collaborations/{collaboration_id}/messages", tag = "marketplace", security(("bearer" = [])),
    params(("collaboration_id" = uuid::Uuid, Path)), request_body = MessageBody,
    responses((status = 201, body = ThreadMessageDto), Forbidden, NotFound))]
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
    params(("collaboration_id" = uuid::Uuid, Path), PageQuery),
    responses((status = 200, body = Page<ThreadMessageDto>), Forbidden, NotFound))]
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
