//! Invitations: a seller invites chosen creators to feature a product at a
//! rate of their own (which may differ from the open rate, also for
//! products not open to all affiliates); the creator accepts or declines;
//! an accepted invitation lets them feature it and earn the invited rate.

use super::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invite_creator))
        .routes(routes!(withdraw_invitation))
        .routes(routes!(list_invitations))
        .routes(routes!(accept_invitation))
        .routes(routes!(decline_invitation))
}

pub(crate) const INVITATION_STATUSES: &[&str] = &["pending", "accepted", "declined", "withdrawn"];

crate::constraints::enum_schemas! {
    invitation_statuses => INVITATION_STATUSES;
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationDto {
    pub invitation_id: String,
    pub product_id: String,
    pub product_title: String,
    pub seller_id: String,
    /// The seller's username; null when their profile could not be read.
    pub seller_handle: Option<String>,
    pub creator_id: String,
    /// The creator's username; null when their profile could not be read.
    pub creator_handle: Option<String>,
    /// Commission in basis points (100..8000) the creator earns on orders
    /// attributed to them.
    pub rate_bps: u32,
    pub message: String,
    #[schema(schema_with = invitation_statuses)]
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
}

impl From<pb::Invitation> for InvitationDto {
    fn from(i: pb::Invitation) -> Self {
        Self {
            invitation_id: i.invitation_id,
            product_id: i.product_id,
            product_title: i.product_title,
            seller_id: i.seller_id,
            seller_handle: None,
            creator_id: i.creator_id,
            creator_handle: None,
            rate_bps: i.rate_bps,
            message: i.message,
            status: enum_to_str(
                pb::InvitationStatus::try_from(i.status)
                    .unwrap_or(pb::InvitationStatus::Unspecified)
                    .as_str_name(),
                "INVITATION_STATUS_",
            ),
            created_at: ts(i.created_at),
            answered_at: ts(i.answered_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationBody {
    /// The creator invited (not yourself).
    #[schema(schema_with = crate::constraints::uuid)]
    pub creator_id: String,
    /// Commission in basis points of what the buyer pays: 100..8000 (1-80%).
    #[schema(minimum = 100, maximum = 8000)]
    pub rate_bps: u32,
    /// At most 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub message: Option<String>,
}

fn invitation(r: Option<pb::Invitation>) -> ApiResult<pb::Invitation> {
    r.ok_or_else(|| ApiError::missing("invitation"))
}

/// The invitations with their parties' usernames (one content lookup). A
/// lookup that fails leaves the handles null: the list is still served.
async fn with_handles(
    st: &AppState,
    user: &AuthUser,
    invitations: Vec<pb::Invitation>,
) -> Vec<InvitationDto> {
    let mut ids: Vec<String> = invitations
        .iter()
        .flat_map(|i| [i.seller_id.clone(), i.creator_id.clone()])
        .collect();
    ids.sort();
    ids.dedup();
    let handles: std::collections::HashMap<String, String> = if ids.is_empty() {
        Default::default()
    } else {
        match st
            .call(st.content().batch_get_users(st.req(
                user,
                loop_proto::content::v1::BatchGetUsersRequest { user_ids: ids },
            )))
            .await
        {
            Ok(r) => r.users.into_iter().map(|u| (u.user_id, u.handle)).collect(),
            Err(err) => {
                tracing::warn!(error = ?err, "the invitations' usernames could not be read; serving them without");
                Default::default()
            }
        }
    };
    invitations
        .into_iter()
        .map(|i| {
            let (seller, creator) = (
                handles.get(&i.seller_id).cloned(),
                handles.get(&i.creator_id).cloned(),
            );
            InvitationDto {
                seller_handle: seller,
                creator_handle: creator,
                ..i.into()
            }
        })
        .collect()
}

async fn one(
    st: &AppState,
    user: &AuthUser,
    i: Option<pb::Invitation>,
) -> ApiResult<InvitationDto> {
    let i = invitation(i)?;
    Ok(with_handles(st, user, vec![i]).await.remove(0))
}

/// Invite a creator to feature your approved product at a rate (sellers);
/// again: the new rate, pending again.
#[utoipa::path(post, path = "/v1/products/{product_id}/invitations", operation_id = "invite_creator_to_product", tag = "shop", security(("bearer" = [])),
    params(("product_id" = uuid::Uuid, Path)), request_body = InvitationBody,
    responses((status = 201, body = InvitationDto), Forbidden, NotFound, Unprocessable))]
pub async fn invite_creator(
    State(st): State<AppState>,
    user: AuthUser,
    Path(product_id): Path<String>,
    ApiJson(b): ApiJson<InvitationBody>,
) -> ApiResult<(StatusCode, Json<InvitationDto>)> {
    super::products::check_rate_bps(b.rate_bps)?;
    let r = st
        .call(st.commerce().invite_creator(st.req(
            &user,
            pb::InviteCreatorRequest {
                product_id,
                creator_id: b.creator_id,
                rate_bps: b.rate_bps,
                message: b.message.unwrap_or_default(),
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(one(&st, &user, r.invitation).await?),
    ))
}

/// Withdraw your invitation of a creator (sellers): the product leaves
/// their showcase unless it is open to all affiliates.
#[utoipa::path(delete, path = "/v1/products/{product_id}/invitations/{creator_id}", operation_id = "withdraw_product_invitation", tag = "shop", security(("bearer" = [])),
    params(("product_id" = uuid::Uuid, Path), ("creator_id" = uuid::Uuid, Path)),
    responses((status = 200, body = InvitationDto), Forbidden, NotFound))]
pub async fn withdraw_invitation(
    State(st): State<AppState>,
    user: AuthUser,
    Path((product_id, creator_id)): Path<(String, String)>,
) -> ApiResult<Json<InvitationDto>> {
    let r = st
        .call(st.commerce().invite_creator(st.req(
            &user,
            pb::InviteCreatorRequest {
                product_id,
                creator_id,
                rate_bps: 0,
                message: String::new(),
            },
        )))
        .await?;
    Ok(Json(one(&st, &user, r.invitation).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvitationsQuery {
    /// true: the invitations you sent as a seller; else those you received.
    pub sent: Option<bool>,
    /// 1..=100, default 20.
    #[serde(default, deserialize_with = "crate::dto::page_size")]
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

/// Your invitations, newest first: received as a creator, or sent as a seller.
#[utoipa::path(get, path = "/v1/invitations", operation_id = "list_product_invitations", tag = "shop", security(("bearer" = [])),
    params(InvitationsQuery), responses((status = 200, body = Page<InvitationDto>)))]
pub async fn list_invitations(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<InvitationsQuery>,
) -> ApiResult<Json<Page<InvitationDto>>> {
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = st
        .call(st.commerce().list_invitations(st.req(
            &user,
            pb::ListInvitationsRequest {
                sent: q.sent.unwrap_or(false),
                page: page.to_proto(),
            },
        )))
        .await?;
    let page = Page::<InvitationDto>::new(Vec::<InvitationDto>::new(), r.page);
    Ok(Json(Page {
        items: with_handles(&st, &user, r.invitations).await,
        ..page
    }))
}

async fn answer(
    st: &AppState,
    user: &AuthUser,
    invitation_id: String,
    accept: bool,
) -> ApiResult<Json<InvitationDto>> {
    let r = st
        .call(st.commerce().answer_invitation(st.req(
            user,
            pb::AnswerInvitationRequest {
                invitation_id,
                accept,
            },
        )))
        .await?;
    Ok(Json(one(st, user, r.invitation).await?))
}

/// Accept an invitation (creators): feature the product at the invited rate.
#[utoipa::path(post, path = "/v1/invitations/{invitation_id}/accept", operation_id = "accept_product_invitation", tag = "shop", security(("bearer" = [])),
    params(("invitation_id" = uuid::Uuid, Path)),
    responses((status = 200, body = InvitationDto), Forbidden, NotFound, Unprocessable))]
pub async fn accept_invitation(
    State(st): State<AppState>,
    user: AuthUser,
    Path(invitation_id): Path<String>,
) -> ApiResult<Json<InvitationDto>> {
    answer(&st, &user, invitation_id, true).await
}

/// Decline an invitation (creators).
#[utoipa::path(post, path = "/v1/invitations/{invitation_id}/decline", operation_id = "decline_product_invitation", tag = "shop", security(("bearer" = [])),
    params(("invitation_id" = uuid::Uuid, Path)),
    responses((status = 200, body = InvitationDto), Forbidden, NotFound, Unprocessable))]
pub async fn decline_invitation(
    State(st): State<AppState>,
    user: AuthUser,
    Path(invitation_id): Path<String>,
) -> ApiResult<Json<InvitationDto>> {
    answer(&st, &user, invitation_id, false).await
}
