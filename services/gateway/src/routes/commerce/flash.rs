//! Flash sales in a LIVE room (served by commerce): the host, selling the
//! pinned product from their own shop, announces a sale with a countdown;
//! viewers buy at the sale price while it runs (an order paid like any
//! other), never more than the sale's units, at most the per-buyer limit.

use super::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_flash_sale))
        .routes(routes!(get_flash_sale))
        .routes(routes!(buy_flash_sale))
}

pub(crate) const FLASH_SALE_STATES: &[&str] = &["scheduled", "live", "ended"];

crate::constraints::enum_schemas! {
    flash_sale_states => FLASH_SALE_STATES;
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlashSaleDto {
    pub sale_id: String,
    pub room_id: String,
    pub host_id: String,
    pub shop_id: String,
    pub product_id: String,
    pub sku_id: String,
    pub title: String,
    pub sku_name: String,
    /// The SKU's price when the sale was announced.
    pub list_price_cents: i64,
    pub sale_price_cents: i64,
    pub total_units: u32,
    /// Units not taken by an order (cancelled orders give theirs back while
    /// the sale runs).
    pub remaining_units: u32,
    pub per_buyer_limit: u32,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// scheduled (the countdown runs), live or ended.
    #[schema(schema_with = flash_sale_states)]
    pub state: String,
    /// Seconds until the start (scheduled) or the end (live); 0 when ended.
    pub seconds_left: u32,
}

impl From<pb::FlashSale> for FlashSaleDto {
    fn from(s: pb::FlashSale) -> Self {
        Self {
            state: enum_to_str(
                pb::FlashSaleState::try_from(s.state)
                    .unwrap_or(pb::FlashSaleState::Unspecified)
                    .as_str_name(),
                "FLASH_SALE_STATE_",
            ),
            sale_id: s.sale_id,
            room_id: s.room_id,
            host_id: s.host_id,
            shop_id: s.shop_id,
            product_id: s.product_id,
            sku_id: s.sku_id,
            title: s.title,
            sku_name: s.sku_name,
            list_price_cents: s.list_price_cents,
            sale_price_cents: s.sale_price_cents,
            total_units: s.total_units,
            remaining_units: s.remaining_units,
            per_buyer_limit: s.per_buyer_limit,
            starts_at: ts(s.starts_at),
            ends_at: ts(s.ends_at),
            seconds_left: s.seconds_left,
        }
    }
}

fn sale(s: Option<pb::FlashSale>) -> ApiResult<FlashSaleDto> {
    s.map(Into::into).ok_or_else(|| ApiError::missing("sale"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlashSaleBody {
    /// A SKU of the product pinned in the room, from your own shop.
    #[schema(schema_with = crate::constraints::uuid)]
    pub sku_id: String,
    /// Cents, 1..100000000 and below the SKU's price (422
    /// `FLASH_SALE_TERMS` otherwise).
    #[schema(minimum = 1, maximum = 100_000_000)]
    pub sale_price_cents: i64,
    /// The countdown before the sale starts, 10..300 seconds.
    #[schema(minimum = 10, maximum = 300)]
    pub countdown_seconds: u32,
    /// How long the sale runs, 60..1200 seconds (1 to 20 minutes).
    #[schema(minimum = 60, maximum = 1200)]
    pub duration_seconds: u32,
    /// Units on sale, 1..100000; they leave the SKU's stock at once (422
    /// `OUT_OF_STOCK` when fewer are in stock) and what is not sold returns.
    #[schema(minimum = 1, maximum = 100_000)]
    pub total_units: u32,
    /// Units one buyer may take, 1..99 and at most total_units (422
    /// `FLASH_SALE_TERMS` otherwise).
    #[schema(minimum = 1, maximum = 99)]
    pub per_buyer_limit: u32,
}

/// Announce a flash sale in your open LIVE room on the pinned product (you
/// host the room and sell the product). 403 otherwise; 422 `ROOM_NOT_LIVE`,
/// `NOT_PINNED`, `NOT_FOR_SALE`, `OUT_OF_STOCK`, `FLASH_SALE_TERMS`, or
/// `FLASH_SALE_RUNNING` (one sale per room at a time).
#[utoipa::path(post, path = "/v1/live/{room_id}/flash-sales", tag = "shop", security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path), IdempotencyKeyHeader), request_body = FlashSaleBody,
    responses((status = 201, body = FlashSaleDto), Forbidden, NotFound, Conflict, Unprocessable))]
pub async fn start_flash_sale(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    Path(room_id): Path<String>,
    ApiJson(b): ApiJson<FlashSaleBody>,
) -> ApiResult<(StatusCode, Json<FlashSaleDto>)> {
    let r = st
        .call(st.commerce().start_flash_sale(st.req(
            &user,
            pb::StartFlashSaleRequest {
                idempotency_key: key,
                room_id,
                sku_id: b.sku_id,
                sale_price_cents: b.sale_price_cents,
                countdown_seconds: b.countdown_seconds,
                duration_seconds: b.duration_seconds,
                total_units: b.total_units,
                per_buyer_limit: b.per_buyer_limit,
            },
        )))
        .await?;
    Ok((StatusCode::CREATED, Json(sale(r.sale)?)))
}

/// A flash sale: its state, countdown and units left.
#[utoipa::path(get, path = "/v1/flash-sales/{sale_id}", tag = "shop", security(("bearer" = [])),
    params(("sale_id" = uuid::Uuid, Path)),
    responses((status = 200, body = FlashSaleDto), NotFound))]
pub async fn get_flash_sale(
    State(st): State<AppState>,
    user: AuthUser,
    Path(sale_id): Path<String>,
) -> ApiResult<Json<FlashSaleDto>> {
    let r = st
        .call(st.commerce().get_flash_sale(st.req(
            &user,
            pb::GetFlashSaleRequest {
                sale_id,
                room_id: String::new(),
            },
        )))
        .await?;
    Ok(Json(sale(r.sale)?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlashBuyBody {
    /// 1..99, and your units in this sale at most its per-buyer limit (422
    /// `FLASH_SALE_LIMIT`).
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlashPurchaseDto {
    /// Unpaid, at the sale price: pay it with `POST /v1/orders/{order_id}/pay`
    /// within 5 minutes or its units go back to the sale.
    pub order: OrderDto,
    pub sale: FlashSaleDto,
}

/// Buy during a flash sale: one order at the sale price, paid like any
/// order. 422 `FLASH_SALE_NOT_STARTED`, `FLASH_SALE_ENDED`,
/// `FLASH_SALE_SOLD_OUT`, `FLASH_SALE_LIMIT`, `SELF_PURCHASE`,
/// `TOO_MANY_UNPAID_ORDERS`.
#[utoipa::path(post, path = "/v1/flash-sales/{sale_id}/orders", tag = "shop", security(("bearer" = [])),
    params(("sale_id" = uuid::Uuid, Path), IdempotencyKeyHeader), request_body = FlashBuyBody,
    responses((status = 201, body = FlashPurchaseDto), NotFound, Conflict, Unprocessable))]
pub async fn buy_flash_sale(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    Path(sale_id): Path<String>,
    ApiJson(b): ApiJson<FlashBuyBody>,
) -> ApiResult<(StatusCode, Json<FlashPurchaseDto>)> {
    let r = st
        .call(st.commerce().buy_flash_sale(st.req(
            &user,
            pb::BuyFlashSaleRequest {
                idempotency_key: key,
                sale_id,
                quantity: b.quantity,
            },
        )))
        .await?;
    let order = r.order.ok_or_else(|| ApiError::missing("order"))?;
    Ok((
        StatusCode::CREATED,
        Json(FlashPurchaseDto {
            order: order.into(),
            sale: sale(r.sale)?,
        }),
    ))
}
