//! Affiliates, verified by commerce: a creator features products open to
//! affiliates in their showcase; the client records a buyer's visit to a
//! product from a creator's showcase (commerce checks the creator features
//! it); a checkout is attributed to the buyer's last visit within the
//! window, never to an id the client names. Creators read their
//! commissions.

use super::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_to_showcase, my_showcase))
        .routes(routes!(remove_from_showcase))
        .routes(routes!(creator_showcase))
        .routes(routes!(record_referral))
        .routes(routes!(my_commissions))
}

pub(crate) const REFERRAL_SOURCES: &[&str] = &["showcase", "video", "live"];
pub(crate) const COMMISSION_STATES: &[&str] = &["pending", "payable", "paid"];

crate::constraints::enum_schemas! {
    referral_sources => REFERRAL_SOURCES;
    commission_states => COMMISSION_STATES;
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShowcaseItemDto {
    pub product: ProductDto,
    pub added_at: Option<DateTime<Utc>>,
    /// In your own showcase: the commission you earn on orders you refer,
    /// in basis points (your accepted invitation's rate, else the product's
    /// open rate). Null in another creator's showcase.
    pub rate_bps: Option<u32>,
}

impl From<pb::ShowcaseItem> for ShowcaseItemDto {
    fn from(i: pb::ShowcaseItem) -> Self {
        Self {
            product: i.product.unwrap_or_default().into(),
            added_at: ts(i.added_at),
            rate_bps: (i.rate_bps > 0).then_some(i.rate_bps),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShowcaseBody {
    /// An approved product open to affiliates, not of your own shop.
    #[schema(schema_with = crate::constraints::uuid)]
    pub product_id: String,
}

/// Feature a product open to affiliates in your showcase (creators): buyers
/// who open it from there are attributed to you.
#[utoipa::path(post, path = "/v1/showcase", tag = "shop", security(("bearer" = [])),
    request_body = ShowcaseBody,
    responses((status = 201, body = ShowcaseItemDto), Forbidden, NotFound, Unprocessable))]
pub async fn add_to_showcase(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<ShowcaseBody>,
) -> ApiResult<(StatusCode, Json<ShowcaseItemDto>)> {
    let r = st
        .call(st.commerce().add_to_showcase(st.req(
            &user,
            pb::AddToShowcaseRequest {
                product_id: b.product_id,
            },
        )))
        .await?;
    let item = r.item.ok_or_else(|| ApiError::missing("item"))?;
    Ok((StatusCode::CREATED, Json(item.into())))
}

/// Your showcase, newest first.
#[utoipa::path(get, path = "/v1/showcase", tag = "shop", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Page<ShowcaseItemDto>)))]
pub async fn my_showcase(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ShowcaseItemDto>>> {
    showcase(&st, &user, String::new(), &page).await
}

/// A creator's showcase (approved products), newest first.
#[utoipa::path(get, path = "/v1/creators/{creator_id}/showcase", tag = "shop", security(("bearer" = [])),
    params(("creator_id" = uuid::Uuid, Path), PageQuery),
    responses((status = 200, body = Page<ShowcaseItemDto>)))]
pub async fn creator_showcase(
    State(st): State<AppState>,
    user: AuthUser,
    Path(creator_id): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ShowcaseItemDto>>> {
    showcase(&st, &user, creator_id, &page).await
}

async fn showcase(
    st: &AppState,
    user: &AuthUser,
    creator_id: String,
    page: &PageQuery,
) -> ApiResult<Json<Page<ShowcaseItemDto>>> {
    let r = st
        .call(st.commerce().list_showcase(st.req(
            user,
            pb::ListShowcaseRequest {
                creator_id,
                page: page.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.items, r.page)))
}

/// Stop featuring a product (visits already recorded keep their window).
#[utoipa::path(delete, path = "/v1/showcase/{product_id}", tag = "shop", security(("bearer" = [])),
    params(("product_id" = uuid::Uuid, Path)),
    responses((status = 204)))]
pub async fn remove_from_showcase(
    State(st): State<AppState>,
    user: AuthUser,
    Path(product_id): Path<String>,
) -> ApiResult<StatusCode> {
    st.call(
        st.commerce()
            .remove_from_showcase(st.req(&user, pb::RemoveFromShowcaseRequest { product_id })),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralBody {
    /// The creator whose showcase (video, LIVE) the product was opened from.
    #[schema(schema_with = crate::constraints::uuid)]
    pub creator_id: String,
    /// showcase, video or live.
    #[schema(schema_with = referral_sources)]
    pub source: String,
    /// The video or room id: required for video and live, absent for
    /// showcase (400 `source_id` otherwise).
    #[schema(schema_with = crate::constraints::uuid)]
    pub source_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralDto {
    pub product_id: String,
    pub creator_id: String,
    #[schema(schema_with = referral_sources)]
    pub source: String,
    pub source_id: Option<String>,
    pub visited_at: Option<DateTime<Utc>>,
    /// A checkout after this is no longer attributed to this visit.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Record that you opened a product from a creator's showcase (or video,
/// or LIVE): your checkouts of it within the attribution window (7 days)
/// earn that creator their commission, the last visit winning. 422
/// `NOT_FEATURED` when the creator does not feature it there,
/// `NOT_OPEN_TO_AFFILIATES` when the product is not open to affiliates.
#[utoipa::path(post, path = "/v1/products/{product_id}/referrals", tag = "shop", security(("bearer" = [])),
    params(("product_id" = uuid::Uuid, Path)), request_body = ReferralBody,
    responses((status = 201, body = ReferralDto), NotFound, Unprocessable))]
pub async fn record_referral(
    State(st): State<AppState>,
    user: AuthUser,
    Path(product_id): Path<String>,
    ApiJson(b): ApiJson<ReferralBody>,
) -> ApiResult<(StatusCode, Json<ReferralDto>)> {
    let source = enum_from_str(
        "source",
        &b.source,
        "REFERRAL_SOURCE_",
        |s| pb::ReferralSource::from_str_name(s).map(|r| r as i32),
        REFERRAL_SOURCES,
    )?;
    let r = st
        .call(st.commerce().record_referral(st.req(
            &user,
            pb::RecordReferralRequest {
                product_id,
                creator_id: b.creator_id,
                source,
                source_id: b.source_id.unwrap_or_default(),
            },
        )))
        .await?;
    let r = r.referral.ok_or_else(|| ApiError::missing("referral"))?;
    Ok((
        StatusCode::CREATED,
        Json(ReferralDto {
            product_id: r.product_id,
            creator_id: r.creator_id,
            source: enum_to_str(
                pb::ReferralSource::try_from(r.source)
                    .unwrap_or(pb::ReferralSource::Unspecified)
                    .as_str_name(),
                "REFERRAL_SOURCE_",
            ),
            source_id: opt(r.source_id),
            visited_at: ts(r.visited_at),
            expires_at: ts(r.expires_at),
        }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommissionDto {
    pub order_id: String,
    #[schema(schema_with = order_statuses)]
    pub status: String,
    /// pending (may still shrink: not delivered, or within the refund
    /// window), payable (final, held until it is paid, delivery +
    /// commission_after_days) or paid.
    #[schema(schema_with = commission_states)]
    pub state: String,
    pub commission_cents: i64,
    /// What the buyer paid, net of refunds.
    pub order_cents: i64,
    pub paid_at: Option<DateTime<Utc>>,
    /// When the commission is (or was) paid: delivery + commission_after_days (15).
    pub settle_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommissionsDto {
    pub pending_cents: i64,
    pub payable_cents: i64,
    pub paid_cents: i64,
    /// Attributed paid orders, newest first.
    pub items: Vec<CommissionDto>,
    pub next_page_token: Option<String>,
}

/// Your commissions as a creator: totals pending, payable and paid, and
/// the attributed orders (cancelled and fully refunded ones earn nothing).
#[utoipa::path(get, path = "/v1/commissions", tag = "shop", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = CommissionsDto)))]
pub async fn my_commissions(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<CommissionsDto>> {
    let r = st
        .call(st.commerce().list_commissions(st.req(
            &user,
            pb::ListCommissionsRequest {
                page: page.to_proto(),
            },
        )))
        .await?;
    Ok(Json(CommissionsDto {
        pending_cents: r.pending_cents,
        payable_cents: r.payable_cents,
        paid_cents: r.paid_cents,
        items: r
            .commissions
            .into_iter()
            .map(|c| CommissionDto {
                order_id: c.order_id,
                status: enum_to_str(
                    pb::OrderStatus::try_from(c.status)
                        .unwrap_or(pb::OrderStatus::Unspecified)
                        .as_str_name(),
                    "ORDER_STATUS_",
                ),
                state: enum_to_str(
                    pb::CommissionState::try_from(c.state)
                        .unwrap_or(pb::CommissionState::Unspecified)
                        .as_str_name(),
                    "COMMISSION_STATE_",
                ),
                commission_cents: c.commission_cents,
                order_cents: c.order_cents,
                paid_at: ts(c.paid_at),
                settle_at: ts(c.settle_at),
            })
            .collect(),
        next_page_token: r.page.and_then(|p| opt(p.next_page_token)),
    }))
}
