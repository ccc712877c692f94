//! Creator applications, profiles and analytics.

use super::*;

/// Creator applications, profiles and analytics.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(apply_as_creator, application_status))
        .routes(routes!(my_profile, update_profile))
        .routes(routes!(creator_profile))
        .routes(routes!(creator_analytics))
        .routes(routes!(list_applications))
        .routes(routes!(review_application))
}

// --- creators ----------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatorApplicationBody {
    /// 1..5 content categories.
    #[schema(schema_with = categories_1_5)]
    pub categories: Vec<String>,
    /// Asking price per sponsored video, >= 100.
    #[schema(minimum = 100, maximum = 100_000_000_000_i64)]
    pub rate_cents: i64,
    /// At most 1000 characters.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub pitch: String,
}

/// Apply to be listed in the marketplace (role creator; 18+, follower minimum).
#[utoipa::path(post, path = "/v1/marketplace/creator/application", tag = "marketplace", security(("bearer" = [])),
    request_body = CreatorApplicationBody,
    responses((status = 201, body = ApplicationDto), Forbidden, Conflict, Unprocessable))]
pub async fn apply_as_creator(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<CreatorApplicationBody>,
) -> ApiResult<(StatusCode, Json<ApplicationDto>)> {
    let r = st
        .call(st.market().apply_as_creator(st.req(
            &user,
            pb::ApplyAsCreatorRequest {
                categories: b.categories,
                rate_cents: b.rate_cents,
                pitch: b.pitch,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.application
                .ok_or_else(|| ApiError::missing("application"))?
                .into(),
        ),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApplicationQuery {
    /// Admins: the creator to look up; absent means the caller.
    #[param(schema_with = crate::constraints::uuid)]
    pub creator_id: Option<String>,
}

/// The caller's latest application (admins may name a creator).
#[utoipa::path(get, path = "/v1/marketplace/creator/application", tag = "marketplace", security(("bearer" = [])),
    params(ApplicationQuery),
    responses((status = 200, body = ApplicationDto), Forbidden, NotFound))]
pub async fn application_status(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ApplicationQuery>,
) -> ApiResult<Json<ApplicationDto>> {
    let r = st
        .call(st.market().get_application_status(st.req(
            &user,
            pb::GetApplicationStatusRequest {
                creator_id: q.creator_id.unwrap_or_default(),
            },
        )))
        .await?;
    Ok(Json(
        r.application
            .ok_or_else(|| ApiError::missing("application"))?
            .into(),
    ))
}

/// The caller's own marketplace profile.
#[utoipa::path(get, path = "/v1/marketplace/creator/profile", tag = "marketplace", security(("bearer" = [])),
    responses((status = 200, body = MarketProfileDto), Forbidden, NotFound))]
pub async fn my_profile(
    State(st): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<MarketProfileDto>> {
    let r = st
        .call(st.market().get_creator_profile(st.req(
            &user,
            pb::GetCreatorProfileRequest {
                creator_id: String::new(),
            },
        )))
        .await?;
    Ok(Json(
        r.profile
            .ok_or_else(|| ApiError::missing("profile"))?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    /// 1..5 content categories.
    #[schema(schema_with = categories_1_5)]
    pub categories: Option<Vec<String>>,
    /// Brand categories accepted, at most 20 (empty: any).
    #[schema(schema_with = categories_0_20)]
    pub accepted_categories: Option<Vec<String>>,
    /// At least 100.
    #[schema(minimum = 100, maximum = 100_000_000_000_i64)]
    pub rate_cents: Option<i64>,
    /// At most 1000 characters.
    #[schema(max_length = 1000)]
    pub pitch: Option<String>,
    pub open_to_offers: Option<bool>,
}

/// Change rates, categories, accepted brand categories, pitch or availability.
#[utoipa::path(patch, path = "/v1/marketplace/creator/profile", tag = "marketplace", security(("bearer" = [])),
    request_body = ProfilePatch,
    responses((status = 200, body = MarketProfileDto), Forbidden, NotFound, Unprocessable))]
pub async fn update_profile(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<ProfilePatch>,
) -> ApiResult<Json<MarketProfileDto>> {
    let mut req = pb::UpdateCreatorProfileRequest::default();
    if let Some(v) = b.categories {
        req.categories = v;
        req.update_mask.push("categories".into());
    }
    if let Some(v) = b.accepted_categories {
        req.accepted_categories = v;
        req.update_mask.push("accepted_categories".into());
    }
    if let Some(v) = b.rate_cents {
        req.rate_cents = v;
        req.update_mask.push("rate_cents".into());
    }
    if let Some(v) = b.pitch {
        req.pitch = v;
        req.update_mask.push("pitch".into());
    }
    if let Some(v) = b.open_to_offers {
        req.open_to_offers = v;
        req.update_mask.push("open_to_offers".into());
    }
    let r = st
        .call(st.market().update_creator_profile(st.req(&user, req)))
        .await?;
    Ok(Json(
        r.profile
            .ok_or_else(|| ApiError::missing("profile"))?
            .into(),
    ))
}

/// A listed creator's marketplace profile.
#[utoipa::path(get, path = "/v1/marketplace/creators/{creator_id}", tag = "marketplace", security(("bearer" = [])),
    params(("creator_id" = String, Path)),
    responses((status = 200, body = MarketProfileDto), Forbidden, NotFound))]
pub async fn creator_profile(
    State(st): State<AppState>,
    user: AuthUser,
    Path(creator_id): Path<String>,
) -> ApiResult<Json<MarketProfileDto>> {
    let r = st
        .call(
            st.market()
                .get_creator_profile(st.req(&user, pb::GetCreatorProfileRequest { creator_id })),
        )
        .await?;
    Ok(Json(
        r.profile
            .ok_or_else(|| ApiError::missing("profile"))?
            .into(),
    ))
}

/// A creator's analytics (the creator, advertisers for listed creators, admins).
#[utoipa::path(get, path = "/v1/marketplace/creators/{creator_id}/analytics", tag = "marketplace", security(("bearer" = [])),
    params(("creator_id" = String, Path)),
    responses((status = 200, body = AnalyticsDto), Forbidden, NotFound))]
pub async fn creator_analytics(
    State(st): State<AppState>,
    user: AuthUser,
    Path(creator_id): Path<String>,
) -> ApiResult<Json<AnalyticsDto>> {
    let r = st
        .call(
            st.market().get_creator_analytics(
                st.req(&user, pb::GetCreatorAnalyticsRequest { creator_id }),
            ),
        )
        .await?;
    Ok(Json(
        r.analytics
            .ok_or_else(|| ApiError::missing("analytics"))?
            .into(),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApplicationsQuery {
    /// pending (default), approved or rejected.
    #[param(schema_with = application_statuses)]
    pub status: Option<String>,
    /// 1..=100, default 20.
    #[serde(default, deserialize_with = "crate::dto::page_size")]
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

/// admin: the review queue, oldest first.
#[utoipa::path(get, path = "/v1/admin/marketplace/applications", tag = "marketplace", security(("bearer" = [])),
    params(ApplicationsQuery),
    responses((status = 200, body = Page<ApplicationDto>), Forbidden))]
pub async fn list_applications(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ApplicationsQuery>,
) -> ApiResult<Json<Page<ApplicationDto>>> {
    let status = enum_from_str(
        "status",
        q.status.as_deref().unwrap_or_default(),
        "APPLICATION_STATUS_",
        |s| pb::ApplicationStatus::from_str_name(s).map(|v| v as i32),
        APPLICATION_STATUSES,
    )?;
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = st
        .call(st.market().list_applications(st.req(
            &user,
            pb::ListApplicationsRequest {
                status,
                page: page.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.applications, r.page)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// approve or reject.
    #[schema(schema_with = review_decisions)]
    pub decision: String,
    /// 1..500 characters, required when rejecting.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub rejection_reason: String,
}

/// admin: approve (the creator becomes listed) or reject (reapply in 30 days).
#[utoipa::path(post, path = "/v1/admin/marketplace/applications/{application_id}/review", tag = "marketplace", security(("bearer" = [])),
    params(("application_id" = uuid::Uuid, Path)), request_body = ReviewBody,
    responses((status = 200, body = ApplicationDto), Forbidden, NotFound, Unprocessable))]
pub async fn review_application(
    State(st): State<AppState>,
    user: AuthUser,
    Path(application_id): Path<String>,
    ApiJson(b): ApiJson<ReviewBody>,
) -> ApiResult<Json<ApplicationDto>> {
    let decision = enum_from_str(
        "decision",
        &b.decision,
        "REVIEW_DECISION_",
        |s| pb::ReviewDecision::from_str_name(s).map(|v| v as i32),
        REVIEW_DECISIONS,
    )?;
    let r = st
        .call(st.market().review_application(st.req(
            &user,
            pb::ReviewApplicationRequest {
                application_id,
                decision,
                rejection_reason: b.rejection_reason,
            },
        )))
        .await?;
    Ok(Json(
        r.application
            .ok_or_else(|| ApiError::missing("application"))?
            .into(),
    ))
}
