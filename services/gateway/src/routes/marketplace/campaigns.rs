//! Campaigns, invitations and applications.

use super::*;

/// Marketplace campaigns.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_campaign, list_campaigns))
        .routes(routes!(get_campaign))
        .routes(routes!(publish_campaign))
        .routes(routes!(invite_creator))
        .routes(routes!(apply_to_campaign))
        .routes(routes!(campaign_report))
}

// --- campaigns ---------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketCampaignBody {
    /// 1..100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub title: String,
    /// 1..5000 characters.
    #[schema(min_length = 1, max_length = 5000, pattern = r"\S")]
    pub brief: String,
    /// Sponsored videos per creator, 1..=10.
    #[schema(minimum = 1, maximum = 10)]
    pub video_count: u32,
    /// Hashtag each video must carry.
    #[schema(schema_with = crate::constraints::hashtag)]
    pub required_hashtag: String,
    /// Paid per creator on approval (held in escrow on acceptance), >= 1000.
    #[schema(minimum = 1000, maximum = 100_000_000_000_i64)]
    pub budget_per_creator_cents: i64,
    /// 1..=1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub max_creators: u32,
    /// At least 24 h ahead.
    pub deadline: DateTime<Utc>,
    /// invite_only or public.
    #[schema(schema_with = visibilities)]
    pub visibility: String,
}

/// Advertisers: create a draft campaign.
#[utoipa::path(post, path = "/v1/marketplace/campaigns", operation_id = "create_market_campaign", tag = "marketplace", security(("bearer" = [])),
    request_body = MarketCampaignBody,
    responses((status = 201, body = MarketCampaignDto), Forbidden))]
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
        VISIBILITIES,
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
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MarketCampaignsQuery {
    /// Creators: mine (default) or open.
    #[param(schema_with = scopes)]
    pub scope: Option<String>,
    /// draft, published or closed.
    #[param(schema_with = campaign_statuses)]
    pub status: Option<String>,
    /// 1..=100, default 20.
    #[serde(default, deserialize_with = "crate::dto::page_size")]
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

/// Advertisers: their campaigns. Creators: open campaigns or their own.
#[utoipa::path(get, path = "/v1/marketplace/campaigns", operation_id = "list_market_campaigns", tag = "marketplace", security(("bearer" = [])),
    params(MarketCampaignsQuery),
    responses((status = 200, body = Page<MarketCampaignDto>), Forbidden))]
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
        SCOPES,
    )?;
    let status = enum_from_str(
        "status",
        q.status.as_deref().unwrap_or_default(),
        "CAMPAIGN_STATUS_",
        |s| pb::CampaignStatus::from_str_name(s).map(|v| v as i32),
        CAMPAIGN_STATUSES,
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

#[utoipa::path(get, path = "/v1/marketplace/campaigns/{campaign_id}", operation_id = "get_market_campaign", tag = "marketplace", security(("bearer" = [])),
    params(("campaign_id" = uuid::Uuid, Path)),
    responses((status = 200, body = MarketCampaignDto), Forbidden, NotFound))]
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
    params(("campaign_id" = uuid::Uuid, Path)),
    responses((status = 200, body = MarketCampaignDto), Forbidden, NotFound, Unprocessable))]
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
    #[schema(schema_with = crate::constraints::uuid)]
    pub creator_id: String,
    /// At most 1000 characters.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub pitch: String,
}

/// Advertisers: invite a listed creator.
#[utoipa::path(post, path = "/v1/marketplace/campaigns/{campaign_id}/invitations", tag = "marketplace", security(("bearer" = [])),
    params(("campaign_id" = uuid::Uuid, Path)), request_body = InviteBody,
    responses((status = 201, body = CollaborationDto), Forbidden, NotFound, Conflict, Unprocessable))]
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
    /// At most 1000 characters.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub pitch: String,
}

/// Creators: apply to a published public campaign.
#[utoipa::path(post, path = "/v1/marketplace/campaigns/{campaign_id}/applications", tag = "marketplace", security(("bearer" = [])),
    params(("campaign_id" = uuid::Uuid, Path)), request_body = PitchBody,
    responses((status = 201, body = CollaborationDto), Forbidden, NotFound, Conflict, Unprocessable))]
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
    params(("campaign_id" = uuid::Uuid, Path)),
    responses((status = 200, body = CampaignReportDto), Forbidden, NotFound))]
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
