//! Campaigns: create, list, read, edit, pause and resume.

use super::*;

/// Ad campaigns.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_campaign, list_campaigns))
        .routes(routes!(get_campaign, update_campaign))
        .routes(routes!(pause_campaign))
        .routes(routes!(resume_campaign))
}

// --- campaigns -------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignBody {
    /// A retry with the same key returns the first campaign.
    #[schema(schema_with = crate::constraints::idempotency_key)]
    pub idempotency_key: String,
    /// 1..100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// reach, traffic, video_views or conversions.
    #[schema(schema_with = objectives)]
    pub objective: String,
    /// At least 5000 ($50).
    #[schema(minimum = 5000, maximum = 100_000_000_000_i64)]
    pub total_budget_cents: i64,
}

/// Create a campaign (advertisers); its budget is reserved in your wallet.
#[utoipa::path(post, path = "/v1/ads/campaigns", tag = "ads", security(("bearer" = [])), request_body = CampaignBody,
    responses((status = 201, body = CampaignDto), Forbidden, Conflict, Unprocessable))]
pub async fn create_campaign(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<CampaignBody>,
) -> ApiResult<(StatusCode, Json<CampaignDto>)> {
    let objective = enum_from_str(
        "objective",
        &b.objective,
        "CAMPAIGN_OBJECTIVE_",
        |s| pb::CampaignObjective::from_str_name(s).map(|v| v as i32),
        OBJECTIVES,
    )?;
    let r = st
        .call(st.ads().create_campaign(st.req(
            &user,
            pb::CreateCampaignRequest {
                idempotency_key: b.idempotency_key,
                name: b.name,
                objective,
                total_budget_cents: b.total_budget_cents,
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
pub struct CampaignsQuery {
    /// active or paused; all when absent.
    #[param(schema_with = active_or_paused)]
    pub status: Option<String>,
    /// 1..=100, default 20.
    #[serde(default, deserialize_with = "crate::dto::page_size")]
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

/// Your campaigns, newest first.
#[utoipa::path(get, path = "/v1/ads/campaigns", tag = "ads", security(("bearer" = [])), params(CampaignsQuery),
    responses((status = 200, body = Page<CampaignDto>), Forbidden))]
pub async fn list_campaigns(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<CampaignsQuery>,
) -> ApiResult<Json<Page<CampaignDto>>> {
    let status = enum_from_str(
        "status",
        q.status.as_deref().unwrap_or_default(),
        "CAMPAIGN_STATUS_",
        |s| pb::CampaignStatus::from_str_name(s).map(|v| v as i32),
        ACTIVE_OR_PAUSED,
    )?;
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = st
        .call(st.ads().list_campaigns(st.req(
            &user,
            pb::ListCampaignsRequest {
                page: page.to_proto(),
                status,
                advertiser_id: String::new(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.campaigns, r.page)))
}

/// One of your campaigns.
#[utoipa::path(get, path = "/v1/ads/campaigns/{campaign_id}", tag = "ads", security(("bearer" = [])),
    params(("campaign_id" = uuid::Uuid, Path)), responses((status = 200, body = CampaignDto), Forbidden, NotFound))]
pub async fn get_campaign(
    State(st): State<AppState>,
    user: AuthUser,
    Path(campaign_id): Path<String>,
) -> ApiResult<Json<CampaignDto>> {
    let r = st
        .call(
            st.ads()
                .get_campaign(st.req(&user, pb::GetCampaignRequest { campaign_id })),
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
pub struct CampaignPatch {
    /// 1..100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    /// Raising reserves the difference in your wallet; lowering (not below
    /// what is spent and committed) releases it. At least 5000.
    #[schema(minimum = 5000, maximum = 100_000_000_000_i64)]
    pub total_budget_cents: Option<i64>,
}

/// Rename a campaign or change its total budget.
#[utoipa::path(patch, path = "/v1/ads/campaigns/{campaign_id}", tag = "ads", security(("bearer" = [])),
    params(("campaign_id" = uuid::Uuid, Path)), request_body = CampaignPatch,
    responses((status = 200, body = CampaignDto), Forbidden, NotFound, Conflict, Unprocessable))]
pub async fn update_campaign(
    State(st): State<AppState>,
    user: AuthUser,
    Path(campaign_id): Path<String>,
    ApiJson(b): ApiJson<CampaignPatch>,
) -> ApiResult<Json<CampaignDto>> {
    let mut mask = Vec::new();
    if b.name.is_some() {
        mask.push("name".to_string());
    }
    if b.total_budget_cents.is_some() {
        mask.push("total_budget_cents".to_string());
    }
    let r = st
        .call(st.ads().update_campaign(st.req(
            &user,
            pb::UpdateCampaignRequest {
                campaign_id,
                name: b.name.unwrap_or_default(),
                total_budget_cents: b.total_budget_cents.unwrap_or_default(),
                update_mask: mask,
            },
        )))
        .await?;
    Ok(Json(
        r.campaign
            .ok_or_else(|| ApiError::missing("campaign"))?
            .into(),
    ))
}

/// Stop every ad group of a campaign (idempotent).
#[utoipa::path(post, path = "/v1/ads/campaigns/{campaign_id}/pause", tag = "ads", security(("bearer" = [])),
    params(("campaign_id" = uuid::Uuid, Path)), responses((status = 200, body = CampaignDto), Forbidden, NotFound))]
pub async fn pause_campaign(
    State(st): State<AppState>,
    user: AuthUser,
    Path(campaign_id): Path<String>,
) -> ApiResult<Json<CampaignDto>> {
    let r = st
        .call(
            st.ads()
                .pause_campaign(st.req(&user, pb::PauseCampaignRequest { campaign_id })),
        )
        .await?;
    Ok(Json(
        r.campaign
            .ok_or_else(|| ApiError::missing("campaign"))?
            .into(),
    ))
}

/// Resume a paused campaign (idempotent; budgets and schedules still apply).
#[utoipa::path(post, path = "/v1/ads/campaigns/{campaign_id}/resume", tag = "ads", security(("bearer" = [])),
    params(("campaign_id" = uuid::Uuid, Path)), responses((status = 200, body = CampaignDto), Forbidden, NotFound, Unprocessable))]
pub async fn resume_campaign(
    State(st): State<AppState>,
    user: AuthUser,
    Path(campaign_id): Path<String>,
) -> ApiResult<Json<CampaignDto>> {
    let r = st
        .call(
            st.ads()
                .resume_campaign(st.req(&user, pb::ResumeCampaignRequest { campaign_id })),
        )
        .await?;
    Ok(Json(
        r.campaign
            .ok_or_else(|| ApiError::missing("campaign"))?
            .into(),
    ))
}
