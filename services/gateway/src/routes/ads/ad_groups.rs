//! Ad groups: budget, schedule, bid and targeting.

use super::*;

/// Ad groups.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_ad_group, list_ad_groups))
        .routes(routes!(get_ad_group, update_ad_group))
        .routes(routes!(pause_ad_group))
        .routes(routes!(resume_ad_group))
}

// --- ad groups --------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdGroupBody {
    /// 1..100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// in_feed, topview or spark.
    #[schema(schema_with = formats)]
    pub format: String,
    /// At least 2000 ($20) for in_feed and spark; absent for topview.
    #[serde(default)]
    #[schema(minimum = 2000, maximum = 100_000_000_000_i64)]
    pub daily_budget_cents: i64,
    /// cpm, cpc, cpv or ocpm; absent for topview.
    #[serde(default)]
    #[schema(schema_with = bid_types)]
    pub bid_type: String,
    /// Cents per 1000 impressions (cpm, ocpm), per click (cpc) or per
    /// 6-second view (cpv); absent for topview.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100_000_000_000_i64)]
    pub bid_cents: i64,
    pub schedule: ScheduleDto,
    #[serde(default)]
    pub targeting: TargetingDto,
    /// Impressions per user per day, at most 1000 (0 = the platform default).
    #[serde(default)]
    #[schema(maximum = 1000)]
    pub frequency_cap_per_day: u32,
}

fn bid_type(value: &str) -> ApiResult<i32> {
    enum_from_str(
        "bid_type",
        value,
        "BID_TYPE_",
        |s| pb::BidType::from_str_name(s).map(|v| v as i32),
        BID_TYPES,
    )
}

/// Create an ad group in one of your campaigns.
#[utoipa::path(post, path = "/v1/ads/campaigns/{campaign_id}/ad-groups", tag = "ads", security(("bearer" = [])),
    params(("campaign_id" = uuid::Uuid, Path)), request_body = AdGroupBody,
    responses((status = 201, body = AdGroupDto), Forbidden, NotFound, Unprocessable))]
pub async fn create_ad_group(
    State(st): State<AppState>,
    user: AuthUser,
    Path(campaign_id): Path<String>,
    ApiJson(b): ApiJson<AdGroupBody>,
) -> ApiResult<(StatusCode, Json<AdGroupDto>)> {
    let format = enum_from_str(
        "format",
        &b.format,
        "AD_FORMAT_",
        |s| pb::AdFormat::from_str_name(s).map(|v| v as i32),
        FORMATS,
    )?;
    let r = st
        .call(st.ads().create_ad_group(st.req(
            &user,
            pb::CreateAdGroupRequest {
                campaign_id,
                name: b.name,
                format,
                daily_budget_cents: b.daily_budget_cents,
                bid_type: bid_type(&b.bid_type)?,
                bid_cents: b.bid_cents,
                schedule: Some(b.schedule.to_proto()),
                targeting: Some(b.targeting.to_proto()?),
                frequency_cap_per_day: b.frequency_cap_per_day,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.ad_group
                .ok_or_else(|| ApiError::missing("ad group"))?
                .into(),
        ),
    ))
}

/// The ad groups of a campaign, newest first.
#[utoipa::path(get, path = "/v1/ads/campaigns/{campaign_id}/ad-groups", tag = "ads", security(("bearer" = [])),
    params(("campaign_id" = uuid::Uuid, Path), PageQuery),
    responses((status = 200, body = Page<AdGroupDto>), Forbidden, NotFound))]
pub async fn list_ad_groups(
    State(st): State<AppState>,
    user: AuthUser,
    Path(campaign_id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<AdGroupDto>>> {
    let r = st
        .call(st.ads().list_ad_groups(st.req(
            &user,
            pb::ListAdGroupsRequest {
                campaign_id,
                page: q.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.ad_groups, r.page)))
}

/// One ad group with its delivery state.
#[utoipa::path(get, path = "/v1/ads/ad-groups/{ad_group_id}", tag = "ads", security(("bearer" = [])),
    params(("ad_group_id" = uuid::Uuid, Path)), responses((status = 200, body = AdGroupDto), Forbidden, NotFound))]
pub async fn get_ad_group(
    State(st): State<AppState>,
    user: AuthUser,
    Path(ad_group_id): Path<String>,
) -> ApiResult<Json<AdGroupDto>> {
    let r = st
        .call(
            st.ads()
                .get_ad_group(st.req(&user, pb::GetAdGroupRequest { ad_group_id })),
        )
        .await?;
    Ok(Json(
        r.ad_group
            .ok_or_else(|| ApiError::missing("ad group"))?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdGroupPatch {
    /// 1..100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    /// At least 2000 (in_feed and spark ad groups).
    #[schema(minimum = 2000, maximum = 100_000_000_000_i64)]
    pub daily_budget_cents: Option<i64>,
    /// At least 1 (in_feed and spark ad groups).
    #[schema(minimum = 1, maximum = 100_000_000_000_i64)]
    pub bid_cents: Option<i64>,
    /// Replaces the schedule.
    pub schedule: Option<ScheduleDto>,
    /// Replaces the targeting.
    pub targeting: Option<TargetingDto>,
    /// At most 1000 (0 = the platform default).
    #[schema(maximum = 1000)]
    pub frequency_cap_per_day: Option<u32>,
}

/// Edit an ad group (the fields present change; format and bid type cannot).
#[utoipa::path(patch, path = "/v1/ads/ad-groups/{ad_group_id}", tag = "ads", security(("bearer" = [])),
    params(("ad_group_id" = uuid::Uuid, Path)), request_body = AdGroupPatch,
    responses((status = 200, body = AdGroupDto), Forbidden, NotFound, Unprocessable))]
pub async fn update_ad_group(
    State(st): State<AppState>,
    user: AuthUser,
    Path(ad_group_id): Path<String>,
    ApiJson(b): ApiJson<AdGroupPatch>,
) -> ApiResult<Json<AdGroupDto>> {
    let mut mask = Vec::new();
    for (present, name) in [
        (b.name.is_some(), "name"),
        (b.daily_budget_cents.is_some(), "daily_budget_cents"),
        (b.bid_cents.is_some(), "bid_cents"),
        (b.schedule.is_some(), "schedule"),
        (b.targeting.is_some(), "targeting"),
        (b.frequency_cap_per_day.is_some(), "frequency_cap_per_day"),
    ] {
        if present {
            mask.push(name.to_string());
        }
    }
    let r = st
        .call(
            st.ads().update_ad_group(
                st.req(
                    &user,
                    pb::UpdateAdGroupRequest {
                        ad_group_id,
                        name: b.name.unwrap_or_default(),
                        daily_budget_cents: b.daily_budget_cents.unwrap_or_default(),
                        bid_cents: b.bid_cents.unwrap_or_default(),
                        schedule: b.schedule.as_ref().map(ScheduleDto::to_proto),
                        targeting: b
                            .targeting
                            .as_ref()
                            .map(TargetingDto::to_proto)
                            .transpose()?,
                        frequency_cap_per_day: b.frequency_cap_per_day.unwrap_or_default(),
                        update_mask: mask,
                    },
                ),
            ),
        )
        .await?;
    Ok(Json(
        r.ad_group
            .ok_or_else(|| ApiError::missing("ad group"))?
            .into(),
    ))
}

/// Pause an ad group (idempotent).
#[utoipa::path(post, path = "/v1/ads/ad-groups/{ad_group_id}/pause", tag = "ads", security(("bearer" = [])),
    params(("ad_group_id" = uuid::Uuid, Path)), responses((status = 200, body = AdGroupDto), Forbidden, NotFound))]
pub async fn pause_ad_group(
    State(st): State<AppState>,
    user: AuthUser,
    Path(ad_group_id): Path<String>,
) -> ApiResult<Json<AdGroupDto>> {
    let r = st
        .call(
            st.ads()
                .pause_ad_group(st.req(&user, pb::PauseAdGroupRequest { ad_group_id })),
        )
        .await?;
    Ok(Json(
        r.ad_group
            .ok_or_else(|| ApiError::missing("ad group"))?
            .into(),
    ))
}

/// Resume an ad group (idempotent).
#[utoipa::path(post, path = "/v1/ads/ad-groups/{ad_group_id}/resume", tag = "ads", security(("bearer" = [])),
    params(("ad_group_id" = uuid::Uuid, Path)), responses((status = 200, body = AdGroupDto), Forbidden, NotFound, Unprocessable))]
pub async fn resume_ad_group(
    State(st): State<AppState>,
    user: AuthUser,
    Path(ad_group_id): Path<String>,
) -> ApiResult<Json<AdGroupDto>> {
    let r = st
        .call(
            st.ads()
                .resume_ad_group(st.req(&user, pb::ResumeAdGroupRequest { ad_group_id })),
        )
        .await?;
    Ok(Json(
        r.ad_group
            .ok_or_else(|| ApiError::missing("ad group"))?
            .into(),
    ))
}
