//! The shop's JSON shapes and their conversions from protobuf.

use super::*;

#[derive(Debug, Serialize, ToSchema)]
pub struct ShopDto {
    pub shop_id: String,
    pub seller_id: String,
    pub name: String,
    pub description: String,
    pub created_at: Option<DateTime<Utc>>,
}

impl From<pb::Shop> for ShopDto {
    fn from(s: pb::Shop) -> Self {
        Self {
            shop_id: s.shop_id,
            seller_id: s.seller_id,
            name: s.name,
            description: s.description,
            created_at: ts(s.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkuDto {
    pub sku_id: String,
    pub name: String,
    pub price_cents: i64,
    /// Units available now (0 in a past version).
    pub stock: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductDto {
    pub product_id: String,
    pub shop_id: String,
    pub seller_id: String,
    pub version: u32,
    /// pending_review, approved or rejected.
    #[schema(schema_with = product_statuses)]
    pub status: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub image_urls: Vec<String>,
    pub skus: Vec<SkuDto>,
    /// Rejected products, to their seller and admins.
    pub reject_reason: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Open to affiliates at this commission (basis points, 100..8000); 0: closed.
    pub affiliate_rate_bps: u32,
}

impl From<pb::Product> for ProductDto {
    fn from(p: pb::Product) -> Self {
        Self {
            product_id: p.product_id,
            shop_id: p.shop_id,
            seller_id: p.seller_id,
            version: p.version,
            status: enum_to_str(
                pb::ProductStatus::try_from(p.status)
                    .unwrap_or(pb::ProductStatus::Unspecified)
                    .as_str_name(),
                "PRODUCT_STATUS_",
            ),
            title: p.title,
            description: p.description,
            category: p.category,
            image_urls: p.image_urls,
            skus: p
                .skus
                .into_iter()
                .map(|s| SkuDto {
                    sku_id: s.sku_id,
                    name: s.name,
                    price_cents: s.price_cents,
                    stock: s.stock,
                })
                .collect(),
            reject_reason: opt(p.reject_reason),
            created_at: ts(p.created_at),
            updated_at: ts(p.updated_at),
            affiliate_rate_bps: p.affiliate_rate_bps,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderItemDto {
    pub product_id: String,
    /// The product version bought (`GET /v1/products/{id}?version=`).
    pub product_version: u32,
    pub sku_id: String,
    pub title: String,
    pub sku_name: String,
    pub unit_price_cents: i64,
    pub quantity: u32,
    pub line_cents: i64,
    /// The affiliate rate this line earns (basis points): the product's rate
    /// at checkout when the order's affiliate referred it, else 0.
    pub affiliate_rate_bps: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderDto {
    pub order_id: String,
    pub shop_id: String,
    pub seller_id: String,
    pub buyer_id: String,
    #[schema(schema_with = order_statuses)]
    pub status: String,
    pub items: Vec<OrderItemDto>,
    /// What the buyer pays.
    pub total_cents: i64,
    /// Returned to the buyer's card so far.
    pub refunded_cents: i64,
    /// Completed orders: the seller's payout and the referral fee.
    pub seller_cents: i64,
    pub fee_cents: i64,
    pub escrow_id: Option<String>,
    /// The creator the order is attributed to.
    pub affiliate_id: Option<String>,
    /// The affiliate's commission: locked at payment, cut pro rata by
    /// refunds, paid with the settlement (0 when cancelled or refunded).
    pub commission_cents: i64,
    /// Set when the wallet refused a money step of this order for good
    /// (a refund, the settlement): it waits for support, not retried.
    pub wallet_problem: Option<String>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub cancel_reason: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    /// The buyer may cancel freely until then.
    pub hold_until: Option<DateTime<Utc>>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// When the seller is (or was) paid.
    pub settle_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The buyer's latest return request, if any.
    pub return_request: Option<ReturnRequestDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnRequestDto {
    pub request_id: String,
    /// What the buyer asked back.
    pub amount_cents: i64,
    pub reason: String,
    #[schema(schema_with = return_statuses)]
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
    /// Approved by the service then, if nobody answered.
    pub answer_due: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    /// seller, admin or system (approved when nobody answered in time).
    pub answered_by: Option<String>,
    /// A rejection's reason, or an approval's remark.
    pub note: Option<String>,
}

impl From<pb::ReturnRequest> for ReturnRequestDto {
    fn from(r: pb::ReturnRequest) -> Self {
        Self {
            request_id: r.request_id,
            amount_cents: r.amount_cents,
            reason: r.reason,
            status: enum_to_str(
                pb::ReturnStatus::try_from(r.status)
                    .unwrap_or(pb::ReturnStatus::Unspecified)
                    .as_str_name(),
                "RETURN_STATUS_",
            ),
            created_at: ts(r.created_at),
            answer_due: ts(r.answer_due),
            answered_at: ts(r.answered_at),
            answered_by: opt(r.answered_by),
            note: opt(r.note),
        }
    }
}

impl From<pb::Order> for OrderDto {
    fn from(o: pb::Order) -> Self {
        Self {
            status: enum_to_str(
                pb::OrderStatus::try_from(o.status)
                    .unwrap_or(pb::OrderStatus::Unspecified)
                    .as_str_name(),
                "ORDER_STATUS_",
            ),
            items: o
                .items
                .into_iter()
                .map(|i| OrderItemDto {
                    product_id: i.product_id,
                    product_version: i.product_version,
                    sku_id: i.sku_id,
                    title: i.title,
                    sku_name: i.sku_name,
                    unit_price_cents: i.unit_price_cents,
                    quantity: i.quantity,
                    line_cents: i.line_cents,
                    affiliate_rate_bps: i.affiliate_rate_bps,
                })
                .collect(),
            order_id: o.order_id,
            shop_id: o.shop_id,
            seller_id: o.seller_id,
            buyer_id: o.buyer_id,
            total_cents: o.total_cents,
            refunded_cents: o.refunded_cents,
            seller_cents: o.seller_cents,
            fee_cents: o.fee_cents,
            escrow_id: opt(o.escrow_id),
            affiliate_id: opt(o.affiliate_id),
            commission_cents: o.commission_cents,
            wallet_problem: opt(o.wallet_problem),
            carrier: opt(o.carrier),
            tracking_number: opt(o.tracking_number),
            cancel_reason: opt(o.cancel_reason),
            created_at: ts(o.created_at),
            paid_at: ts(o.paid_at),
            hold_until: ts(o.hold_until),
            shipped_at: ts(o.shipped_at),
            delivered_at: ts(o.delivered_at),
            settle_at: ts(o.settle_at),
            closed_at: ts(o.closed_at),
            return_request: o.return_request.map(Into::into),
        }
    }
}

pub(crate) fn order(o: Option<pb::Order>) -> ApiResult<Json<OrderDto>> {
    Ok(Json(o.ok_or_else(|| ApiError::missing("order"))?.into()))
}

pub(crate) fn product(p: Option<pb::Product>) -> ApiResult<Json<ProductDto>> {
    Ok(Json(p.ok_or_else(|| ApiError::missing("product"))?.into()))
}
