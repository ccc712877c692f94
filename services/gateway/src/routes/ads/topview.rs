//! TopView: reserved first-screen impressions.

use super::*;

/// TopView quotes and reservations.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(topview_quote))
        .routes(routes!(reserve_topview, list_topview))
        .routes(routes!(get_topview))
        .routes(routes!(cancel_topview))
}

// --- TopView --------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QuoteQuery {
    /// UTC day, YYYY-MM-DD: today or later, within the booking window.
    #[param(format = Date)]
    pub date: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuoteDto {
    pub date: String,
    pub cpm_cents: i64,
    pub available_impressions: u64,
}

/// TopView price and inventory left for one UTC day.
#[utoipa::path(get, path = "/v1/ads/topview/quote", tag = "ads", security(("bearer" = [])), params(QuoteQuery),
    responses((status = 200, body = QuoteDto), Forbidden))]
pub async fn topview_quote(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<QuoteQuery>,
) -> ApiResult<Json<QuoteDto>> {
    let r = st
        .call(
            st.ads()
                .get_top_view_quote(st.req(&user, pb::GetTopViewQuoteRequest { date: q.date })),
        )
        .await?;
    Ok(Json(QuoteDto {
        date: r.date,
        cpm_cents: r.cpm_cents,
        available_impressions: r.available_impressions,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopViewBody {
    #[schema(schema_with = crate::constraints::idempotency_key)]
    pub idempotency_key: String,
    /// A creative of a topview ad group.
    #[schema(schema_with = crate::constraints::uuid)]
    pub creative_id: String,
    /// UTC day, YYYY-MM-DD, today or later, within the booking window.
    #[schema(format = Date)]
    pub date: String,
    /// 1000..=1000000000000.
    #[schema(minimum = 1000, maximum = 1_000_000_000_000_i64)]
    pub impressions: u64,
    /// The CPM from the quote (0: any); refused if the rate changed.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub expected_cpm_cents: i64,
}

/// Reserve TopView impressions for one day at the fixed CPM.
#[utoipa::path(post, path = "/v1/ads/topview/reservations", tag = "ads", security(("bearer" = [])), request_body = TopViewBody,
    responses((status = 201, body = TopViewReservationDto), Forbidden, NotFound, Conflict, Unprocessable))]
pub async fn reserve_topview(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<TopViewBody>,
) -> ApiResult<(StatusCode, Json<TopViewReservationDto>)> {
    let r = st
        .call(st.ads().reserve_top_view(st.req(
            &user,
            pb::ReserveTopViewRequest {
                idempotency_key: b.idempotency_key,
                creative_id: b.creative_id,
                date: b.date,
                impressions: b.impressions,
                expected_cpm_cents: b.expected_cpm_cents,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.reservation
                .ok_or_else(|| ApiError::missing("reservation"))?
                .into(),
        ),
    ))
}

/// Your TopView reservations, newest first.
#[utoipa::path(get, path = "/v1/ads/topview/reservations", tag = "ads", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<TopViewReservationDto>), Forbidden))]
pub async fn list_topview(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<TopViewReservationDto>>> {
    let r = st
        .call(st.ads().list_top_view_reservations(st.req(
            &user,
            pb::ListTopViewReservationsRequest {
                page: q.to_proto(),
                advertiser_id: String::new(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.reservations, r.page)))
}

/// One TopView reservation.
#[utoipa::path(get, path = "/v1/ads/topview/reservations/{reservation_id}", tag = "ads", security(("bearer" = [])),
    params(("reservation_id" = uuid::Uuid, Path)),
    responses((status = 200, body = TopViewReservationDto), Forbidden, NotFound))]
pub async fn get_topview(
    State(st): State<AppState>,
    user: AuthUser,
    Path(reservation_id): Path<String>,
) -> ApiResult<Json<TopViewReservationDto>> {
    let r = st
        .call(st.ads().get_top_view_reservation(
            st.req(&user, pb::GetTopViewReservationRequest { reservation_id }),
        ))
        .await?;
    Ok(Json(
        r.reservation
            .ok_or_else(|| ApiError::missing("reservation"))?
            .into(),
    ))
}

/// Cancel a reservation before its day starts (UTC).
#[utoipa::path(post, path = "/v1/ads/topview/reservations/{reservation_id}/cancel", tag = "ads", security(("bearer" = [])),
    params(("reservation_id" = uuid::Uuid, Path)),
    responses((status = 200, body = TopViewReservationDto), Forbidden, NotFound, Unprocessable))]
pub async fn cancel_topview(
    State(st): State<AppState>,
    user: AuthUser,
    Path(reservation_id): Path<String>,
) -> ApiResult<Json<TopViewReservationDto>> {
    let r = st
        .call(st.ads().cancel_top_view_reservation(st.req(
            &user,
            pb::CancelTopViewReservationRequest { reservation_id },
        )))
        .await?;
    Ok(Json(
        r.reservation
            .ok_or_else(|| ApiError::missing("reservation"))?
            .into(),
    ))
}
