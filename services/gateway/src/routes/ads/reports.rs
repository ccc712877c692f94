//! Reports and delivery.

use super::*;

/// Ad reports and the delivery view.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(report))
        .routes(routes!(delivery))
}

// --- reports and delivery ---------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// Report one campaign...
    #[param(schema_with = crate::constraints::uuid)]
    pub campaign_id: Option<String>,
    /// ...or one ad group (exactly one of the two).
    #[param(schema_with = crate::constraints::uuid)]
    pub ad_group_id: Option<String>,
    /// UTC days, YYYY-MM-DD, inclusive, at most 93.
    #[param(format = Date)]
    pub start_date: String,
    /// Not before start_date.
    #[param(format = Date)]
    pub end_date: String,
}

/// Daily impressions, clicks, 6-second views, CTR, spend and eCPM.
#[utoipa::path(get, path = "/v1/ads/reports", tag = "ads", security(("bearer" = [])), params(ReportQuery),
    responses((status = 200, body = ReportDto), Forbidden, NotFound))]
pub async fn report(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Json<ReportDto>> {
    let scope = match (q.campaign_id, q.ad_group_id) {
        (Some(c), None) => pb::get_report_request::Scope::CampaignId(c),
        (None, Some(g)) => pb::get_report_request::Scope::AdGroupId(g),
        _ => {
            return Err(ApiError::invalid(
                "campaign_id",
                "give exactly one of campaign_id and ad_group_id",
            ));
        }
    };
    let r = st
        .call(st.ads().get_report(st.req(
            &user,
            pb::GetReportRequest {
                scope: Some(scope),
                start_date: q.start_date,
                end_date: q.end_date,
            },
        )))
        .await?;
    Ok(Json(ReportDto {
        rows: r.rows.into_iter().map(Into::into).collect(),
        totals: r.totals.map(Into::into),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDto {
    pub ad_group: Option<AdGroupDto>,
    pub paced_target_today_millicents: i64,
    pub spent_today_millicents: i64,
    pub outstanding_tokens_today: u64,
    pub impressions_today: u64,
    pub clicks_today: u64,
    pub predicted_ctr: f64,
}

/// Live budget, pacing and delivery counters of an ad group (admins).
#[utoipa::path(get, path = "/v1/admin/ads/ad-groups/{ad_group_id}/delivery", tag = "ads", security(("bearer" = [])),
    params(("ad_group_id" = uuid::Uuid, Path)), responses((status = 200, body = DeliveryDto), Forbidden, NotFound))]
pub async fn delivery(
    State(st): State<AppState>,
    user: AuthUser,
    Path(ad_group_id): Path<String>,
) -> ApiResult<Json<DeliveryDto>> {
    let r = st
        .call(
            st.ads().get_ad_group_delivery(
                st.req(&user, pb::GetAdGroupDeliveryRequest { ad_group_id }),
            ),
        )
        .await?;
    Ok(Json(DeliveryDto {
        ad_group: r.ad_group.map(Into::into),
        paced_target_today_millicents: r.paced_target_today_millicents,
        spent_today_millicents: r.spent_today_millicents,
        outstanding_tokens_today: r.outstanding_tokens_today,
        impressions_today: r.impressions_today,
        clicks_today: r.clicks_today,
        predicted_ctr: r.predicted_ctr,
    }))
}
