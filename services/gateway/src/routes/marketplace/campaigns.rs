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
