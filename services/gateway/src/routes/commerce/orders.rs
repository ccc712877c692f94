//! Checkout and the order lifecycle: place (stock reserved at once), pay by
//! card (held in escrow), cancel, ship, confirm delivery, refund; reads.
//! The service decides who may take which step in which state: 403 for a
//! party to the order whose step it never is (the buyer shipping, the
//! seller paying), 422 `INVALID_TRANSITION` naming the rule for the right
//! party in the wrong state.

use super::*;
use crate::routes::wallet::ReceiptBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(place_order, list_orders))
        .routes(routes!(get_order))
        .routes(routes!(pay_order))
        .routes(routes!(cancel_order))
        .routes(routes!(ship_order))
        .routes(routes!(confirm_delivery))
        .routes(routes!(refund_order))
        .routes(routes!(request_return))
        .routes(routes!(approve_return))
        .routes(routes!(reject_return))
        .routes(routes!(orders_needing_attention))
        .routes(routes!(retry_wallet_step))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLineBody {
    #[schema(schema_with = crate::constraints::uuid)]
    pub sku_id: String,
    /// 1..99 (lines of the same SKU are added up).
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    /// The shop every SKU belongs to (one order, one shop).
    #[schema(schema_with = crate::constraints::uuid)]
    pub shop_id: String,
    /// 1..20 lines. The order is attributed to the creator of your last
    /// recorded visit (`POST /v1/products/{id}/referrals`) within the window;
    /// clients do not name the affiliate.
    #[schema(min_items = 1, max_items = 20)]
    pub items: Vec<OrderLineBody>,
}

/// Check out SKUs of one shop: stock is reserved at once (all or nothing);
/// pay within 30 minutes or the order is cancelled. 422
/// `TOO_MANY_UNPAID_ORDERS` when you already hold the most unpaid orders
/// allowed at once (5): pay or cancel one.
#[utoipa::path(post, path = "/v1/orders", tag = "shop", security(("bearer" = [])),
    params(IdempotencyKeyHeader), request_body = OrderBody,
    responses((status = 201, body = OrderDto), NotFound, Conflict, Unprocessable))]
pub async fn place_order(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(b): ApiJson<OrderBody>,
) -> ApiResult<(StatusCode, Json<OrderDto>)> {
    let r = st
        .call(
            st.commerce().place_order(
                st.req(
                    &user,
                    pb::PlaceOrderRequest {
                        idempotency_key: key,
                        shop_id: b.shop_id,
                        items: b
                            .items
                            .into_iter()
                            .map(|l| pb::OrderLine {
                                sku_id: l.sku_id,
                                quantity: l.quantity,
                            })
                            .collect(),
                    },
                ),
            ),
        )
        .await?;
    let Json(o) = order(r.order)?;
    Ok((StatusCode::CREATED, Json(o)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayBody {
    /// A card payment of the order's `total_cents` for product
    /// `commerce:order:<order_id>`.
    pub receipt: ReceiptBody,
}

/// Pay an unpaid order by card; the money is held until the seller is paid.
/// A declined payment is 422 `PAYMENT_DECLINED` and the order stays unpaid.
#[utoipa::path(post, path = "/v1/orders/{order_id}/pay", tag = "shop", security(("bearer" = [])),
    params(("order_id" = uuid::Uuid, Path), IdempotencyKeyHeader), request_body = PayBody,
    responses((status = 200, body = OrderDto), Forbidden, NotFound, Conflict, Unprocessable))]
pub async fn pay_order(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    Path(order_id): Path<String>,
    ApiJson(b): ApiJson<PayBody>,
) -> ApiResult<Json<OrderDto>> {
    let receipt = b.receipt.to_proto()?;
    let r = st
        .call(st.commerce().pay_order(st.req(
            &user,
            pb::PayOrderRequest {
                idempotency_key: key,
                order_id,
                receipt: Some(receipt),
            },
        )))
        .await?;
    order(r.order)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// At most 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub reason: String,
}

/// Cancel: the buyer while unpaid or within the hour after paying; the
/// seller until shipped. Stock returns; a paid order is refunded in full.
#[utoipa::path(post, path = "/v1/orders/{order_id}/cancel", tag = "shop", security(("bearer" = [])),
    params(("order_id" = uuid::Uuid, Path), IdempotencyKeyHeader), request_body = CancelBody,
    responses((status = 200, body = OrderDto), Forbidden, NotFound, Conflict, Unprocessable))]
pub async fn cancel_order(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    Path(order_id): Path<String>,
    ApiJson(b): ApiJson<CancelBody>,
) -> ApiResult<Json<OrderDto>> {
    let r = st
        .call(st.commerce().cancel_order(st.req(
            &user,
            pb::CancelOrderRequest {
                idempotency_key: key,
                order_id,
                reason: b.reason,
            },
        )))
        .await?;
    order(r.order)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipBody {
    /// 1..60 characters.
    #[schema(min_length = 1, max_length = 60, pattern = r"\S")]
    pub carrier: String,
    /// 4..64 of A-Z, a-z, 0-9 and -.
    #[schema(pattern = "^[A-Za-z0-9-]{4,64}$", min_length = 4, max_length = 64)]
    pub tracking_number: String,
}

/// Ship an order awaiting shipment (its seller).
#[utoipa::path(post, path = "/v1/orders/{order_id}/ship", tag = "shop", security(("bearer" = [])),
    params(("order_id" = uuid::Uuid, Path), IdempotencyKeyHeader), request_body = ShipBody,
    responses((status = 200, body = OrderDto), Forbidden, NotFound, Conflict, Unprocessable))]
pub async fn ship_order(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    Path(order_id): Path<String>,
    ApiJson(b): ApiJson<ShipBody>,
) -> ApiResult<Json<OrderDto>> {
    let r = st
        .call(st.commerce().ship_order(st.req(
            &user,
            pb::ShipOrderRequest {
                idempotency_key: key,
                order_id,
                carrier: b.carrier,
                tracking_number: b.tracking_number,
            },
        )))
        .await?;
    order(r.order)
}

/// Confirm delivery of a shipped order (its buyer, or an admin).
#[utoipa::path(post, path = "/v1/orders/{order_id}/deliver", tag = "shop", security(("bearer" = [])),
    params(("order_id" = uuid::Uuid, Path), IdempotencyKeyHeader),
    responses((status = 200, body = OrderDto), Forbidden, NotFound, Conflict, Unprocessable))]
pub async fn confirm_delivery(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    Path(order_id): Path<String>,
) -> ApiResult<Json<OrderDto>> {
    let r = st
        .call(st.commerce().confirm_delivery(st.req(
            &user,
            pb::ConfirmDeliveryRequest {
                idempotency_key: key,
                order_id,
            },
        )))
        .await?;
    order(r.order)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// Cents back to the buyer's card; 0 or absent: everything not yet
    /// refunded. More than that is 422 `REFUND_TOO_LARGE`; above the
    /// maximum, 400 naming the field.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100_000_000_000_i64)]
    pub amount_cents: i64,
    /// 1..500 characters.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub reason: String,
}

/// Refund a delivered order, in full or in part, within the refund window
/// (its seller, or an admin).
#[utoipa::path(post, path = "/v1/orders/{order_id}/refund", tag = "shop", security(("bearer" = [])),
    params(("order_id" = uuid::Uuid, Path), IdempotencyKeyHeader), request_body = RefundBody,
    responses((status = 200, body = OrderDto), Forbidden, NotFound, Conflict, Unprocessable))]
pub async fn refund_order(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    Path(order_id): Path<String>,
    ApiJson(b): ApiJson<RefundBody>,
) -> ApiResult<Json<OrderDto>> {
    let r = st
        .call(st.commerce().refund_order(st.req(
            &user,
            pb::RefundOrderRequest {
                idempotency_key: key,
                order_id,
                amount_cents: b.amount_cents,
                reason: b.reason,
            },
        )))
        .await?;
    order(r.order)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnBody {
    /// Cents to get back; 0 or absent: everything not yet refunded. More
    /// than that is 422 `REFUND_TOO_LARGE`.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100_000_000_000_i64)]
    pub amount_cents: i64,
    /// Why (1..500 characters).
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub reason: String,
}

/// Ask for a return and refund of your delivered order within the refund
/// window (buyers). The seller answers; one not answered within 48 hours is
/// approved, and the seller is not paid while it is open. 422
/// `RETURN_PENDING` (one is open), `REFUND_WINDOW_CLOSED`,
/// `REFUND_TOO_LARGE`, `INVALID_TRANSITION` (not delivered).
#[utoipa::path(post, path = "/v1/orders/{order_id}/return", tag = "shop", security(("bearer" = [])),
    params(("order_id" = uuid::Uuid, Path), IdempotencyKeyHeader), request_body = ReturnBody,
    responses((status = 200, body = OrderDto), Forbidden, NotFound, Unprocessable))]
pub async fn request_return(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    Path(order_id): Path<String>,
    ApiJson(b): ApiJson<ReturnBody>,
) -> ApiResult<Json<OrderDto>> {
    let r = st
        .call(st.commerce().request_return(st.req(
            &user,
            pb::RequestReturnRequest {
                idempotency_key: key,
                order_id,
                amount_cents: b.amount_cents,
                reason: b.reason,
            },
        )))
        .await?;
    order(r.order)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnApprovalBody {
    /// An optional remark for the buyer (at most 500 characters).
    #[serde(default)]
    #[schema(max_length = 500)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRejectionBody {
    /// Why, shown to the buyer (1..500 characters).
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub note: String,
}

async fn answer(
    st: &AppState,
    user: &AuthUser,
    key: String,
    order_id: String,
    approve: bool,
    note: String,
) -> ApiResult<Json<OrderDto>> {
    let r = st
        .call(st.commerce().answer_return(st.req(
            user,
            pb::AnswerReturnRequest {
                idempotency_key: key,
                order_id,
                approve,
                note,
            },
        )))
        .await?;
    order(r.order)
}

/// Approve the buyer's open return request (the seller, or an admin): what
/// they asked is refunded, even after the window, since they asked in time.
/// 422 `NO_RETURN_PENDING`.
#[utoipa::path(post, path = "/v1/orders/{order_id}/return/approve", tag = "shop", security(("bearer" = [])),
    params(("order_id" = uuid::Uuid, Path), IdempotencyKeyHeader), request_body = ReturnApprovalBody,
    responses((status = 200, body = OrderDto), Forbidden, NotFound, Unprocessable))]
pub async fn approve_return(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    Path(order_id): Path<String>,
    ApiJson(b): ApiJson<ReturnApprovalBody>,
) -> ApiResult<Json<OrderDto>> {
    answer(&st, &user, key, order_id, true, b.note.unwrap_or_default()).await
}

/// Reject the buyer's open return request with a reason they see (the
/// seller, or an admin); they may ask again while the window is open. 422
/// `NO_RETURN_PENDING`.
#[utoipa::path(post, path = "/v1/orders/{order_id}/return/reject", tag = "shop", security(("bearer" = [])),
    params(("order_id" = uuid::Uuid, Path), IdempotencyKeyHeader), request_body = ReturnRejectionBody,
    responses((status = 200, body = OrderDto), Forbidden, NotFound, Unprocessable))]
pub async fn reject_return(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    Path(order_id): Path<String>,
    ApiJson(b): ApiJson<ReturnRejectionBody>,
) -> ApiResult<Json<OrderDto>> {
    answer(&st, &user, key, order_id, false, b.note).await
}

/// An order (its buyer, its seller, admins).
#[utoipa::path(get, path = "/v1/orders/{order_id}", tag = "shop", security(("bearer" = [])),
    params(("order_id" = uuid::Uuid, Path)),
    responses((status = 200, body = OrderDto), NotFound))]
pub async fn get_order(
    State(st): State<AppState>,
    user: AuthUser,
    Path(order_id): Path<String>,
) -> ApiResult<Json<OrderDto>> {
    let r = st
        .call(
            st.commerce()
                .get_order(st.req(&user, pb::GetOrderRequest { order_id })),
        )
        .await?;
    order(r.order)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrdersQuery {
    /// buyer (default: orders you placed) or seller (your shop's).
    #[param(schema_with = order_roles)]
    pub role: Option<String>,
    #[param(schema_with = order_statuses)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "crate::dto::page_size")]
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

/// Your orders as buyer or seller, newest first (keyset pages).
#[utoipa::path(get, path = "/v1/orders", tag = "shop", security(("bearer" = [])),
    params(OrdersQuery), responses((status = 200, body = Page<OrderDto>)))]
pub async fn list_orders(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<OrdersQuery>,
) -> ApiResult<Json<Page<OrderDto>>> {
    let role = enum_from_str(
        "role",
        q.role.as_deref().unwrap_or_default(),
        "ORDER_ROLE_",
        |s| pb::OrderRole::from_str_name(s).map(|r| r as i32),
        ORDER_ROLES,
    )?;
    let status = enum_from_str(
        "status",
        q.status.as_deref().unwrap_or_default(),
        "ORDER_STATUS_",
        |s| pb::OrderStatus::from_str_name(s).map(|r| r as i32),
        ORDER_STATUSES,
    )?;
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = st
        .call(st.commerce().list_orders(st.req(
            &user,
            pb::ListOrdersRequest {
                role,
                status,
                page: page.to_proto(),
                needs_attention: false,
            },
        )))
        .await?;
    Ok(Json(Page::new(r.orders, r.page)))
}

/// Every shop's orders with a money step the wallet refused for good
/// (`wallet_problem` says what), newest first (admins).
#[utoipa::path(get, path = "/v1/admin/orders/attention", tag = "shop", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Page<OrderDto>), Forbidden))]
pub async fn orders_needing_attention(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<OrderDto>>> {
    let r = st
        .call(st.commerce().list_orders(st.req(
            &user,
            pb::ListOrdersRequest {
                needs_attention: true,
                page: page.to_proto(),
                ..Default::default()
            },
        )))
        .await?;
    Ok(Json(Page::new(r.orders, r.page)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    /// What was fixed (1..500 characters), kept with the retry.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub note: String,
}

/// Try again the money step the wallet refused for good, once its cause is
/// fixed (admins): the problem is cleared and the step queued with its
/// original wallet key, so money never moves twice; the retry is recorded
/// with your note. 422 `NOTHING_TO_RETRY` when the order has no problem.
#[utoipa::path(post, path = "/v1/admin/orders/{order_id}/retry-wallet-step", tag = "shop", security(("bearer" = [])),
    params(("order_id" = uuid::Uuid, Path)), request_body = RetryBody,
    responses((status = 200, body = OrderDto), Forbidden, NotFound, Unprocessable))]
pub async fn retry_wallet_step(
    State(st): State<AppState>,
    user: AuthUser,
    Path(order_id): Path<String>,
    ApiJson(b): ApiJson<RetryBody>,
) -> ApiResult<Json<OrderDto>> {
    let r = st
        .call(st.commerce().retry_wallet_step(st.req(
            &user,
            pb::RetryWalletStepRequest {
                order_id,
                note: b.note,
            },
        )))
        .await?;
    Ok(Json(
        r.order.ok_or_else(|| ApiError::missing("order"))?.into(),
    ))
}
