//! Products: sellers list and edit them (each edit a new version, reviewed
//! again), adjust stock; admins review; anyone reads approved ones.

use super::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product))
        .routes(routes!(get_product, update_product))
        .routes(routes!(shop_products))
        .routes(routes!(review_queue))
        .routes(routes!(adjust_stock))
        .routes(routes!(open_to_affiliates, close_to_affiliates))
        .routes(routes!(approve_product))
        .routes(routes!(reject_product))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkuBody {
    /// An existing SKU of the product (edits); absent for a new one.
    #[schema(schema_with = crate::constraints::uuid)]
    pub sku_id: Option<String>,
    /// 1..80 characters.
    #[schema(min_length = 1, max_length = 80, pattern = r"\S")]
    pub name: String,
    /// The price of one unit in cents, 1..100000000.
    #[schema(minimum = 1, maximum = 100_000_000)]
    pub price_cents: i64,
    /// Units in stock, 0..1000000, for a new SKU (an existing SKU's stock
    /// changes with `POST /v1/skus/{sku_id}/stock`; ignored here).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub stock: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductBody {
    /// 1..200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: String,
    /// At most 5000 characters.
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub description: String,
    /// 1..60 characters.
    #[schema(min_length = 1, max_length = 60, pattern = r"\S")]
    pub category: String,
    /// 1..9 http(s) URLs, each at most 2048 characters.
    #[schema(schema_with = image_urls)]
    pub image_urls: Vec<String>,
    /// 1..50 SKUs (variants).
    #[schema(min_items = 1, max_items = 50)]
    pub skus: Vec<SkuBody>,
}

/// The SKUs as commerce takes them; a `sku_id` that is not a UUID is 400
/// naming it (the document says UUID; a new product's are otherwise unused).
fn sku_inputs(skus: &[SkuBody]) -> ApiResult<Vec<pb::SkuInput>> {
    skus.iter()
        .enumerate()
        .map(|(i, s)| {
            if s.sku_id
                .as_deref()
                .is_some_and(|id| uuid::Uuid::parse_str(id).is_err())
            {
                return Err(ApiError::invalid(
                    format!("skus[{i}].sku_id"),
                    "must be a UUID",
                ));
            }
            Ok(pb::SkuInput {
                sku_id: s.sku_id.clone().unwrap_or_default(),
                name: s.name.clone(),
                price_cents: s.price_cents,
                stock: s.stock,
            })
        })
        .collect()
}

/// List a product in your shop; it waits for an admin's review.
#[utoipa::path(post, path = "/v1/products", tag = "shop", security(("bearer" = [])),
    request_body = ProductBody,
    responses((status = 201, body = ProductDto), Unprocessable))]
pub async fn create_product(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<ProductBody>,
) -> ApiResult<(StatusCode, Json<ProductDto>)> {
    let skus = sku_inputs(&b.skus)?;
    let r = st
        .call(st.commerce().create_product(st.req(
            &user,
            pb::CreateProductRequest {
                title: b.title,
                description: b.description,
                category: b.category,
                image_urls: b.image_urls,
                skus,
            },
        )))
        .await?;
    let Json(p) = product(r.product)?;
    Ok((StatusCode::CREATED, Json(p)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductEdit {
    /// The version you edit (the current one; 422 `VERSION_CONFLICT` otherwise).
    #[schema(minimum = 1)]
    pub expected_version: u32,
    /// 1..200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: String,
    /// At most 5000 characters.
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub description: String,
    /// 1..60 characters.
    #[schema(min_length = 1, max_length = 60, pattern = r"\S")]
    pub category: String,
    /// 1..9 http(s) URLs, each at most 2048 characters.
    #[schema(schema_with = image_urls)]
    pub image_urls: Vec<String>,
    /// 1..50 SKUs: existing ones by `sku_id`, new ones without; those left
    /// out are no longer sold.
    #[schema(min_items = 1, max_items = 50)]
    pub skus: Vec<SkuBody>,
}

/// Edit your product: a new version, reviewed again before sale.
#[utoipa::path(put, path = "/v1/products/{product_id}", tag = "shop", security(("bearer" = [])),
    params(("product_id" = uuid::Uuid, Path)), request_body = ProductEdit,
    responses((status = 200, body = ProductDto), Forbidden, NotFound, Unprocessable))]
pub async fn update_product(
    State(st): State<AppState>,
    user: AuthUser,
    Path(product_id): Path<String>,
    ApiJson(b): ApiJson<ProductEdit>,
) -> ApiResult<Json<ProductDto>> {
    let skus = sku_inputs(&b.skus)?;
    let r = st
        .call(st.commerce().update_product(st.req(
            &user,
            pb::UpdateProductRequest {
                product_id,
                expected_version: b.expected_version,
                title: b.title,
                description: b.description,
                category: b.category,
                image_urls: b.image_urls,
                skus,
            },
        )))
        .await?;
    product(r.product)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// A past version (what an order bought); absent: the current one.
    #[param(minimum = 1)]
    pub version: Option<u32>,
}

/// A product (approved ones for everyone; any to its seller and admins; the
/// version an order bought to its buyer).
#[utoipa::path(get, path = "/v1/products/{product_id}", tag = "shop", security(("bearer" = [])),
    params(("product_id" = uuid::Uuid, Path), VersionQuery),
    responses((status = 200, body = ProductDto), NotFound))]
pub async fn get_product(
    State(st): State<AppState>,
    user: AuthUser,
    Path(product_id): Path<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<Json<ProductDto>> {
    if q.version == Some(0) {
        return Err(ApiError::invalid(
            "version",
            "must be 1 or more (absent: the current one)",
        ));
    }
    let r = st
        .call(st.commerce().get_product(st.req(
            &user,
            pb::GetProductRequest {
                product_id,
                version: q.version.unwrap_or(0),
            },
        )))
        .await?;
    product(r.product)
}

/// A shop's products, newest first (others see approved ones).
#[utoipa::path(get, path = "/v1/shops/{shop_id}/products", tag = "shop", security(("bearer" = [])),
    params(("shop_id" = uuid::Uuid, Path), PageQuery),
    responses((status = 200, body = Page<ProductDto>), NotFound))]
pub async fn shop_products(
    State(st): State<AppState>,
    user: AuthUser,
    Path(shop_id): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ProductDto>>> {
    let r = st
        .call(st.commerce().list_products(st.req(
            &user,
            pb::ListProductsRequest {
                shop_id,
                page: page.to_proto(),
                status: 0,
            },
        )))
        .await?;
    Ok(Json(Page::new(r.products, r.page)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReviewQueueQuery {
    /// Default pending_review (the queue); approved or rejected to look back.
    #[param(schema_with = product_statuses)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "crate::dto::page_size")]
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

/// Every shop's products in a review status, newest first (admins): the
/// queue of products awaiting review.
#[utoipa::path(get, path = "/v1/admin/products", tag = "shop", security(("bearer" = [])),
    params(ReviewQueueQuery), responses((status = 200, body = Page<ProductDto>), Forbidden))]
pub async fn review_queue(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ReviewQueueQuery>,
) -> ApiResult<Json<Page<ProductDto>>> {
    let status = enum_from_str(
        "status",
        q.status.as_deref().unwrap_or("pending_review"),
        "PRODUCT_STATUS_",
        |s| pb::ProductStatus::from_str_name(s).map(|r| r as i32),
        PRODUCT_STATUSES,
    )?;
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = st
        .call(st.commerce().list_products(st.req(
            &user,
            pb::ListProductsRequest {
                shop_id: String::new(),
                page: page.to_proto(),
                status,
            },
        )))
        .await?;
    Ok(Json(Page::new(r.products, r.page)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockBody {
    /// add or remove.
    #[schema(schema_with = stock_changes)]
    pub change: String,
    /// 1..1000000 units.
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub units: i64,
}

const STOCK_CHANGES: &[&str] = &["add", "remove"];

crate::constraints::enum_schemas! {
    stock_changes => STOCK_CHANGES;
}

/// 1..9 http(s) URLs.
fn image_urls() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let url = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(r"^https?://\S+$"))
        .max_length(Some(2048));
    ArrayBuilder::new()
        .items(url)
        .min_items(Some(1))
        .max_items(Some(9))
        .build()
}

/// Add or remove units of a SKU of your shop (removing more than is
/// available is refused: 422 `OUT_OF_STOCK`).
#[utoipa::path(post, path = "/v1/skus/{sku_id}/stock", tag = "shop", security(("bearer" = [])),
    params(("sku_id" = uuid::Uuid, Path)), request_body = StockBody,
    responses((status = 200, body = SkuDto), Forbidden, NotFound, Unprocessable))]
pub async fn adjust_stock(
    State(st): State<AppState>,
    user: AuthUser,
    Path(sku_id): Path<String>,
    ApiJson(b): ApiJson<StockBody>,
) -> ApiResult<Json<SkuDto>> {
    if !(1..=1_000_000).contains(&b.units) {
        return Err(ApiError::invalid("units", "must be 1..1000000"));
    }
    let delta = match b.change.as_str() {
        "add" => b.units,
        "remove" => -b.units,
        _ => {
            return Err(ApiError::invalid(
                "change",
                format!("must be one of: {}", STOCK_CHANGES.join(", ")),
            ));
        }
    };
    let r = st
        .call(
            st.commerce()
                .adjust_stock(st.req(&user, pb::AdjustStockRequest { sku_id, delta })),
        )
        .await?;
    let s = r.sku.ok_or_else(|| ApiError::missing("sku"))?;
    Ok(Json(SkuDto {
        sku_id: s.sku_id,
        name: s.name,
        price_cents: s.price_cents,
        stock: s.stock,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The version under review.
    #[schema(minimum = 1)]
    pub expected_version: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectProductBody {
    /// The version under review.
    #[schema(minimum = 1)]
    pub expected_version: u32,
    /// 1..500 characters, shown to the seller.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub reason: String,
}

async fn review(
    st: &AppState,
    user: &AuthUser,
    req: pb::ReviewProductRequest,
) -> ApiResult<Json<ProductDto>> {
    let r = st
        .call(st.commerce().review_product(st.req(user, req)))
        .await?;
    product(r.product)
}

/// Approve a product version: it goes on sale (admins).
#[utoipa::path(post, path = "/v1/admin/products/{product_id}/approve", tag = "shop", security(("bearer" = [])),
    params(("product_id" = uuid::Uuid, Path)), request_body = ApproveBody,
    responses((status = 200, body = ProductDto), Forbidden, NotFound, Unprocessable))]
pub async fn approve_product(
    State(st): State<AppState>,
    user: AuthUser,
    Path(product_id): Path<String>,
    ApiJson(b): ApiJson<ApproveBody>,
) -> ApiResult<Json<ProductDto>> {
    let req = pb::ReviewProductRequest {
        product_id,
        expected_version: b.expected_version,
        approve: true,
        reason: String::new(),
    };
    review(&st, &user, req).await
}

/// Reject a product version with a reason (admins).
#[utoipa::path(post, path = "/v1/admin/products/{product_id}/reject", tag = "shop", security(("bearer" = [])),
    params(("product_id" = uuid::Uuid, Path)), request_body = RejectProductBody,
    responses((status = 200, body = ProductDto), Forbidden, NotFound, Unprocessable))]
pub async fn reject_product(
    State(st): State<AppState>,
    user: AuthUser,
    Path(product_id): Path<String>,
    ApiJson(b): ApiJson<RejectProductBody>,
) -> ApiResult<Json<ProductDto>> {
    let req = pb::ReviewProductRequest {
        product_id,
        expected_version: b.expected_version,
        approve: false,
        reason: b.reason,
    };
    review(&st, &user, req).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AffiliateBody {
    /// Commission in basis points of what the buyer pays for the product:
    /// 100..8000 (1-80%). Orders keep the rate of their checkout.
    #[schema(minimum = 100, maximum = 8000)]
    pub rate_bps: u32,
}

async fn affiliate_rate(
    st: &AppState,
    user: &AuthUser,
    product_id: String,
    rate_bps: u32,
) -> ApiResult<Json<ProductDto>> {
    let r = st
        .call(st.commerce().set_affiliate_rate(st.req(
            user,
            pb::SetAffiliateRateRequest {
                product_id,
                rate_bps,
            },
        )))
        .await?;
    product(r.product)
}

/// Open your product to affiliates at a commission rate (or change it).
/// 400 `rate_bps` outside 100..8000 (close with DELETE).
#[utoipa::path(put, path = "/v1/products/{product_id}/affiliate", tag = "shop", security(("bearer" = [])),
    params(("product_id" = uuid::Uuid, Path)), request_body = AffiliateBody,
    responses((status = 200, body = ProductDto), Forbidden, NotFound))]
pub async fn open_to_affiliates(
    State(st): State<AppState>,
    user: AuthUser,
    Path(product_id): Path<String>,
    ApiJson(b): ApiJson<AffiliateBody>,
) -> ApiResult<Json<ProductDto>> {
    // 0 would close the product (the service's meaning of 0): closing is DELETE.
    check_rate_bps(b.rate_bps)?;
    affiliate_rate(&st, &user, product_id, b.rate_bps).await
}

/// A commission rate a seller may set: 100..8000 basis points (1-80%).
pub(crate) fn check_rate_bps(rate_bps: u32) -> ApiResult<()> {
    if (100..=8000).contains(&rate_bps) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "rate_bps",
            "must be 100..8000 (a commission of 1-80%)",
        ))
    }
}

/// Close your product to affiliates (orders already placed keep their rate).
#[utoipa::path(delete, path = "/v1/products/{product_id}/affiliate", tag = "shop", security(("bearer" = [])),
    params(("product_id" = uuid::Uuid, Path)),
    responses((status = 200, body = ProductDto), Forbidden, NotFound))]
pub async fn close_to_affiliates(
    State(st): State<AppState>,
    user: AuthUser,
    Path(product_id): Path<String>,
) -> ApiResult<Json<ProductDto>> {
    affiliate_rate(&st, &user, product_id, 0).await
}
