//! Shops and the catalog: products with SKUs (variants), stock per SKU,
//! admin review before sale, and versioned edits: every edit writes a new
//! `product_versions` row (append-only) and goes back to review, so an
//! order always points at exactly what it bought.

use chrono::{DateTime, Utc};
use loop_platform::auth::{Caller, Role};
use loop_platform::ids::parse_id;
use loop_proto::commerce::v1 as pb;
use loop_proto::events::v1 as ev;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{CommerceError, CommerceResult, Reason};
use crate::events;
use crate::service::CommerceService;

pub const PENDING: i16 = pb::ProductStatus::PendingReview as i16;
pub const APPROVED: i16 = pb::ProductStatus::Approved as i16;
pub const REJECTED: i16 = pb::ProductStatus::Rejected as i16;

/// Largest price of one unit: $1,000,000.
pub const MAX_PRICE_CENTS: i64 = 100_000_000;
pub const MAX_STOCK: i64 = 1_000_000;

#[derive(sqlx::FromRow)]
struct ShopRow {
    shop_id: Uuid,
    seller_id: Uuid,
    name: String,
    description: String,
    created_at: DateTime<Utc>,
}

impl ShopRow {
    fn to_proto(&self) -> pb::Shop {
        pb::Shop {
            shop_id: self.shop_id.to_string(),
            seller_id: self.seller_id.to_string(),
            name: self.name.clone(),
            description: self.description.clone(),
            created_at: Some(loop_platform::time::to_timestamp(self.created_at)),
        }
    }
}

#[derive(sqlx::FromRow, Clone)]
pub(crate) struct ProductRow {
    pub shop_id: Uuid,
    pub seller_id: Uuid,
    pub version: i32,
    pub status: i16,
    pub reject_reason: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub affiliate_rate_bps: i32,
}

const PRODUCT_COLUMNS: &str = "product_id, shop_id, seller_id, version, status, reject_reason, created_at, updated_at, affiliate_rate_bps";

/// Affiliate commission rates: 1% to 80% (basis points); 0 closes.
pub const AFFILIATE_RATE_BPS: std::ops::RangeInclusive<u32> = 100..=8000;

#[derive(sqlx::FromRow)]
struct VersionRow {
    title: String,
    description: String,
    category: String,
    image_urls: Vec<String>,
    skus: sqlx::types::Json<Vec<VersionSku>>,
}

/// A SKU as a version recorded it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct VersionSku {
    sku_id: Uuid,
    name: String,
    price_cents: i64,
}

#[derive(sqlx::FromRow)]
struct SkuRow {
    sku_id: Uuid,
    name: String,
    price_cents: i64,
    stock: i64,
}

/// A validated product body.
struct Draft {
    title: String,
    description: String,
    category: String,
    image_urls: Vec<String>,
    skus: Vec<pb::SkuInput>,
}

fn text(field: &str, value: &str, min: usize, max: usize) -> CommerceResult<String> {
    let v = value.trim();
    let n = v.chars().count();
    if n < min || n > max {
        return Err(CommerceError::invalid(
            field,
            format!("must be {min}..{max} characters"),
        ));
    }
    Ok(v.to_owned())
}

fn image_url(field: &str, value: &str) -> CommerceResult<String> {
    let v = value.trim();
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"));
    match rest {
        Some(host)
            if !host.is_empty()
                && v.chars().count() <= 2048
                && !v.chars().any(char::is_whitespace) =>
        {
            Ok(v.to_owned())
        }
        _ => Err(CommerceError::invalid(
            field,
            "must be an http(s) URL of at most 2048 characters",
        )),
    }
}

fn draft(
    title: &str,
    description: &str,
    category: &str,
    images: &[String],
    skus: &[pb::SkuInput],
    creating: bool,
) -> CommerceResult<Draft> {
    let title = text("title", title, 1, 200)?;
    let description = text("description", description, 0, 5000)?;
    let category = text("category", category, 1, 60)?;
    if images.is_empty() || images.len() > 9 {
        return Err(CommerceError::invalid("image_urls", "must list 1..9 URLs"));
    }
    let image_urls = images
        .iter()
        .enumerate()
        .map(|(i, u)| image_url(&format!("image_urls[{i}]"), u))
        .collect::<CommerceResult<Vec<_>>>()?;
    if skus.is_empty() || skus.len() > 50 {
        return Err(CommerceError::invalid("skus", "must list 1..50 SKUs"));
    }
    // SKUs are told apart by id; names are labels (two may read alike).
    let mut out = Vec::with_capacity(skus.len());
    for (i, s) in skus.iter().enumerate() {
        let name = text(&format!("skus[{i}].name"), &s.name, 1, 80)?;
        if !(1..=MAX_PRICE_CENTS).contains(&s.price_cents) {
            return Err(CommerceError::invalid(
                format!("skus[{i}].price_cents"),
                format!("must be 1..{MAX_PRICE_CENTS} (a positive price in cents)"),
            ));
        }
        let new = creating || s.sku_id.is_empty();
        if new && !(0..=MAX_STOCK).contains(&s.stock) {
            return Err(CommerceError::invalid(
                format!("skus[{i}].stock"),
                format!("must be 0..{MAX_STOCK}"),
            ));
        }
        // An existing SKU's stock is not edited here (AdjustStock): ignored.
        out.push(pb::SkuInput {
            sku_id: if creating {
                String::new()
            } else {
                s.sku_id.clone()
            },
            name,
            price_cents: s.price_cents,
            stock: s.stock,
        });
    }
    Ok(Draft {
        title,
        description,
        category,
        image_urls,
        skus: out,
    })
}

pub(crate) async fn product_for_update(
    tx: &mut PgConnection,
    id: Uuid,
) -> CommerceResult<ProductRow> {
    sqlx::query_as::<_, ProductRow>(&format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE product_id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| CommerceError::not_found("product not found (product_id)"))
}

fn own(caller: &Caller, product: &ProductRow) -> CommerceResult<()> {
    if caller.subject == product.seller_id.to_string() {
        Ok(())
    } else {
        Err(CommerceError::denied(
            "product_id: the product belongs to another seller's shop",
        ))
    }
}

impl CommerceService {
    pub(crate) async fn open_shop(
        &self,
        caller: &Caller,
        req: pb::OpenShopRequest,
    ) -> CommerceResult<pb::OpenShopResponse> {
        let me = caller.user_id()?;
        // Sellers are business accounts or creators (who open a shop).
        if !matches!(caller.role, Role::Creator | Role::Advertiser) {
            return Err(CommerceError::denied(
                "opening a shop needs a creator or business account (become a creator first)",
            ));
        }
        let name = text("name", &req.name, 1, 80)?;
        let description = text("description", &req.description, 0, 2000)?;
        let inserted = sqlx::query_as::<_, ShopRow>(
            "INSERT INTO shops (shop_id, seller_id, name, description) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (seller_id) DO NOTHING RETURNING shop_id, seller_id, name, description, created_at",
        )
        .bind(loop_platform::ids::new_id())
        .bind(me)
        .bind(&name)
        .bind(&description)
        .fetch_optional(&self.pool)
        .await?;
        let shop = match inserted {
            Some(shop) => shop,
            None => {
                let shop = self.shop_of(me).await?.ok_or_else(|| {
                    CommerceError::internal(anyhow::anyhow!("shop conflict without a shop"))
                })?;
                if shop.name != name {
                    return Err(CommerceError::rule(
                        Reason::ShopExists,
                        format!("the caller already has a shop ({})", shop.shop_id),
                    ));
                }
                shop
            }
        };
        Ok(pb::OpenShopResponse {
            shop: Some(shop.to_proto()),
        })
    }

    async fn shop_of(&self, seller: Uuid) -> CommerceResult<Option<ShopRow>> {
        Ok(sqlx::query_as::<_, ShopRow>(
            "SELECT shop_id, seller_id, name, description, created_at FROM shops WHERE seller_id = $1",
        )
        .bind(seller)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub(crate) async fn get_shop(
        &self,
        caller: &Caller,
        req: pb::GetShopRequest,
    ) -> CommerceResult<pb::GetShopResponse> {
        let shop = if req.shop_id.is_empty() {
            self.shop_of(caller.user_id()?).await?
        } else {
            let id = parse_id("shop_id", &req.shop_id)?;
            sqlx::query_as::<_, ShopRow>(
                "SELECT shop_id, seller_id, name, description, created_at FROM shops WHERE shop_id = $1",
            )
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        };
        let shop = shop.ok_or_else(|| CommerceError::not_found("shop not found (shop_id)"))?;
        Ok(pb::GetShopResponse {
            shop: Some(shop.to_proto()),
        })
    }

    pub(crate) async fn create_product(
        &self,
        caller: &Caller,
        req: pb::CreateProductRequest,
    ) -> CommerceResult<pb::CreateProductResponse> {
        let me = caller.user_id()?;
        let d = draft(
            &req.title,
            &req.description,
            &req.category,
            &req.image_urls,
            &req.skus,
            true,
        )?;
        let shop = self.shop_of(me).await?.ok_or_else(|| {
            CommerceError::rule(Reason::NoShop, "open a shop before listing products")
        })?;
        let product_id = loop_platform::ids::new_id();
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO products (product_id, shop_id, seller_id) VALUES ($1, $2, $3)")
            .bind(product_id)
            .bind(shop.shop_id)
            .bind(me)
            .execute(&mut *tx)
            .await?;
        let mut recorded = Vec::new();
        for (i, s) in d.skus.iter().enumerate() {
            let sku_id = loop_platform::ids::new_id();
            sqlx::query(
                "INSERT INTO skus (sku_id, product_id, name, price_cents, stock, position) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(sku_id)
            .bind(product_id)
            .bind(&s.name)
            .bind(s.price_cents)
            .bind(s.stock)
            .bind(i32::try_from(i).unwrap_or(0))
            .execute(&mut *tx)
            .await?;
            recorded.push(VersionSku {
                sku_id,
                name: s.name.clone(),
                price_cents: s.price_cents,
            });
        }
        write_version(&mut tx, product_id, 1, &d, &recorded).await?;
        tx.commit().await?;
        Ok(pb::CreateProductResponse {
            product: Some(self.product(product_id, None, true).await?),
        })
    }

    pub(crate) async fn update_product(
        &self,
        caller: &Caller,
        req: pb::UpdateProductRequest,
    ) -> CommerceResult<pb::UpdateProductResponse> {
        let id = parse_id("product_id", &req.product_id)?;
        let d = draft(
            &req.title,
            &req.description,
            &req.category,
            &req.image_urls,
            &req.skus,
            false,
        )?;
        let mut tx = self.pool.begin().await?;
        let product = product_for_update(&mut tx, id).await?;
        own(caller, &product)?;
        if u32::try_from(product.version).ok() != Some(req.expected_version) {
            return Err(CommerceError::rule(
                Reason::VersionConflict,
                format!(
                    "expected_version: the product is at version {}",
                    product.version
                ),
            ));
        }
        let existing: Vec<Uuid> =
            sqlx::query_scalar("SELECT sku_id FROM skus WHERE product_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        let mut kept = Vec::new();
        let mut recorded = Vec::new();
        for (i, s) in d.skus.iter().enumerate() {
            let position = i32::try_from(i).unwrap_or(0);
            let sku_id = if s.sku_id.is_empty() {
                let sku_id = loop_platform::ids::new_id();
                sqlx::query(
                    "INSERT INTO skus (sku_id, product_id, name, price_cents, stock, position) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(sku_id)
                .bind(id)
                .bind(&s.name)
                .bind(s.price_cents)
                .bind(s.stock)
                .bind(position)
                .execute(&mut *tx)
                .await?;
                sku_id
            } else {
                let field = format!("skus[{i}].sku_id");
                let sku_id = parse_id(&field, &s.sku_id)?;
                if !existing.contains(&sku_id) {
                    return Err(CommerceError::not_found(format!(
                        "SKU not found ({field}: not a SKU of this product)"
                    )));
                }
                if kept.contains(&sku_id) {
                    return Err(CommerceError::invalid(field, "is listed twice"));
                }
                sqlx::query(
                    "UPDATE skus SET name = $2, price_cents = $3, position = $4, retired = false WHERE sku_id = $1",
                )
                .bind(sku_id)
                .bind(&s.name)
                .bind(s.price_cents)
                .bind(position)
                .execute(&mut *tx)
                .await?;
                sku_id
            };
            kept.push(sku_id);
            recorded.push(VersionSku {
                sku_id,
                name: s.name.clone(),
                price_cents: s.price_cents,
            });
        }
        sqlx::query(
            "UPDATE skus SET retired = true WHERE product_id = $1 AND NOT (sku_id = ANY($2))",
        )
        .bind(id)
        .bind(&kept)
        .execute(&mut *tx)
        .await?;
        let version = product.version + 1;
        sqlx::query(
            "UPDATE products SET version = $2, status = $3, reject_reason = '', updated_at = now() WHERE product_id = $1",
        )
        .bind(id)
        .bind(version)
        .bind(PENDING)
        .execute(&mut *tx)
        .await?;
        write_version(&mut tx, id, version, &d, &recorded).await?;
        tx.commit().await?;
        Ok(pb::UpdateProductResponse {
            product: Some(self.product(id, None, true).await?),
        })
    }

    pub(crate) async fn adjust_stock(
        &self,
        caller: &Caller,
        req: pb::AdjustStockRequest,
    ) -> CommerceResult<pb::AdjustStockResponse> {
        let sku = parse_id("sku_id", &req.sku_id)?;
        if req.delta == 0 || req.delta.abs() > MAX_STOCK {
            return Err(CommerceError::invalid(
                "delta",
                format!("must be non-zero and at most {MAX_STOCK} either way"),
            ));
        }
        let seller: Option<Uuid> = sqlx::query_scalar(
            "SELECT p.seller_id FROM skus s JOIN products p USING (product_id) WHERE s.sku_id = $1",
        )
        .bind(sku)
        .fetch_optional(&self.pool)
        .await?;
        match seller {
            None => return Err(CommerceError::not_found("SKU not found (sku_id)")),
            Some(s) if s.to_string() != caller.subject => {
                return Err(CommerceError::denied(
                    "sku_id: the SKU belongs to another seller's shop",
                ));
            }
            Some(_) => {}
        }
        let row = sqlx::query_as::<_, SkuRow>(
            "UPDATE skus SET stock = stock + $2 WHERE sku_id = $1 AND stock + $2 >= 0 AND stock + $2 <= $3 \
             RETURNING sku_id, name, price_cents, stock",
        )
        .bind(sku)
        .bind(req.delta)
        .bind(MAX_STOCK)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| {
            CommerceError::rule(
                Reason::OutOfStock,
                format!("delta: the SKU's stock cannot become negative or exceed {MAX_STOCK}"),
            )
        })?;
        Ok(pb::AdjustStockResponse {
            sku: Some(pb::Sku {
                sku_id: row.sku_id.to_string(),
                name: row.name,
                price_cents: row.price_cents,
                stock: row.stock,
            }),
        })
    }

    pub(crate) async fn review_product(
        &self,
        caller: &Caller,
        req: pb::ReviewProductRequest,
    ) -> CommerceResult<pb::ReviewProductResponse> {
        caller.require_role(&[Role::Admin])?;
        let id = parse_id("product_id", &req.product_id)?;
        let reason = if req.approve {
            String::new()
        } else {
            text("reason", &req.reason, 1, 500)?
        };
        let mut tx = self.pool.begin().await?;
        let product = product_for_update(&mut tx, id).await?;
        if product.status != PENDING {
            return Err(CommerceError::rule(
                Reason::NotPendingReview,
                "the product is not waiting for review",
            ));
        }
        if u32::try_from(product.version).ok() != Some(req.expected_version) {
            return Err(CommerceError::rule(
                Reason::VersionConflict,
                format!(
                    "expected_version: version {} is under review",
                    product.version
                ),
            ));
        }
        let status = if req.approve { APPROVED } else { REJECTED };
        sqlx::query(
            "UPDATE products SET status = $2, reject_reason = $3, updated_at = now() WHERE product_id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(&reason)
        .execute(&mut *tx)
        .await?;
        if req.approve {
            let v = version_row(&mut tx, id, product.version).await?;
            events::emit(
                &mut tx,
                &id.to_string(),
                self.clock.now(),
                ev::commerce_event::Payload::ProductPublished(ev::ProductPublished {
                    product_id: id.to_string(),
                    shop_id: product.shop_id.to_string(),
                    seller_id: product.seller_id.to_string(),
                    version: u32::try_from(product.version).unwrap_or(0),
                    title: v.title.clone(),
                    category: v.category.clone(),
                    min_price_cents: v.skus.0.iter().map(|s| s.price_cents).min().unwrap_or(0),
                }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(pb::ReviewProductResponse {
            product: Some(self.product(id, None, true).await?),
        })
    }

    pub(crate) async fn get_product(
        &self,
        caller: &Caller,
        req: pb::GetProductRequest,
    ) -> CommerceResult<pb::GetProductResponse> {
        let id = parse_id("product_id", &req.product_id)?;
        let version = (req.version > 0)
            .then(|| i32::try_from(req.version))
            .transpose()
            .map_err(|_| CommerceError::invalid("version", "is too large"))?;
        let row = self.product_row(id).await?;
        let privileged = caller.is_admin() || caller.subject == row.seller_id.to_string();
        // Buyers may read the versions their orders bought.
        let bought = match version {
            Some(v) if !privileged => {
                sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (SELECT 1 FROM order_items i JOIN orders o USING (order_id) \
                 WHERE i.product_id = $1 AND i.product_version = $2 AND o.buyer_id::text = $3)",
                )
                .bind(id)
                .bind(v)
                .bind(&caller.subject)
                .fetch_one(&self.pool)
                .await?
            }
            _ => false,
        };
        if !(privileged || bought || (row.status == APPROVED && version.is_none())) {
            return Err(CommerceError::not_found("product not found (product_id)"));
        }
        Ok(pb::GetProductResponse {
            product: Some(self.product(id, version, privileged).await?),
        })
    }

    pub(crate) async fn list_products(
        &self,
        caller: &Caller,
        req: pb::ListProductsRequest,
    ) -> CommerceResult<pb::ListProductsResponse> {
        let status = match pb::ProductStatus::try_from(req.status) {
            Ok(pb::ProductStatus::Unspecified) => None,
            Ok(s) => Some(s as i16),
            Err(_) => return Err(CommerceError::invalid("status", "is not a product status")),
        };
        let page = req.page.unwrap_or_default();
        let limit = loop_platform::pagination::page_size(page.page_size);
        let after: Option<Uuid> = loop_platform::pagination::decode(&page.page_token)?;
        // No shop, a status: every shop's products in it (the admins' review queue).
        let (shop, privileged) = if req.shop_id.is_empty() && status.is_some() {
            caller.require_role(&[Role::Admin])?;
            (None, true)
        } else {
            let shop = parse_id("shop_id", &req.shop_id)?;
            let seller: Option<Uuid> =
                sqlx::query_scalar("SELECT seller_id FROM shops WHERE shop_id = $1")
                    .bind(shop)
                    .fetch_optional(&self.pool)
                    .await?;
            let seller =
                seller.ok_or_else(|| CommerceError::not_found("shop not found (shop_id)"))?;
            (
                Some(shop),
                caller.is_admin() || caller.subject == seller.to_string(),
            )
        };
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT product_id FROM products WHERE ($1::uuid IS NULL OR shop_id = $1) \
             AND ($2 OR status = $3) AND ($6::smallint IS NULL OR status = $6) \
             AND ($4::uuid IS NULL OR product_id < $4) ORDER BY product_id DESC LIMIT $5",
        )
        .bind(shop)
        .bind(privileged)
        .bind(APPROVED)
        .bind(after)
        .bind(limit + 1)
        .bind(status)
        .fetch_all(&self.pool)
        .await?;
        let (ids, next) = loop_platform::pagination::finish(ids, limit, |id| *id);
        let mut products = Vec::with_capacity(ids.len());
        for id in ids {
            products.push(self.product(id, None, privileged).await?);
        }
        Ok(pb::ListProductsResponse {
            products,
            page: Some(loop_proto::common::v1::PageResponse {
                next_page_token: next,
            }),
        })
    }

    pub(crate) async fn product_row(&self, id: Uuid) -> CommerceResult<ProductRow> {
        sqlx::query_as::<_, ProductRow>(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE product_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| CommerceError::not_found("product not found (product_id)"))
    }

    /// A product at `version` (None: current, with live SKUs and stock).
    pub(crate) async fn product(
        &self,
        id: Uuid,
        version: Option<i32>,
        privileged: bool,
    ) -> CommerceResult<pb::Product> {
        let row = self.product_row(id).await?;
        let at = version.unwrap_or(row.version);
        let mut conn = self.pool.acquire().await?;
        let v = version_row(&mut conn, id, at).await?;
        let skus = if version.is_some_and(|v| v != row.version) {
            v.skus
                .0
                .iter()
                .map(|s| pb::Sku {
                    sku_id: s.sku_id.to_string(),
                    name: s.name.clone(),
                    price_cents: s.price_cents,
                    stock: 0,
                })
                .collect()
        } else {
            sqlx::query_as::<_, SkuRow>(
                "SELECT sku_id, name, price_cents, stock FROM skus WHERE product_id = $1 AND NOT retired ORDER BY position",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|s| pb::Sku {
                sku_id: s.sku_id.to_string(),
                name: s.name,
                price_cents: s.price_cents,
                stock: s.stock,
            })
            .collect()
        };
        Ok(pb::Product {
            product_id: id.to_string(),
            shop_id: row.shop_id.to_string(),
            seller_id: row.seller_id.to_string(),
            version: u32::try_from(at).unwrap_or(0),
            status: i32::from(row.status),
            title: v.title,
            description: v.description,
            category: v.category,
            image_urls: v.image_urls,
            skus,
            reject_reason: if privileged {
                row.reject_reason
            } else {
                String::new()
            },
            created_at: Some(loop_platform::time::to_timestamp(row.created_at)),
            updated_at: Some(loop_platform::time::to_timestamp(row.updated_at)),
            affiliate_rate_bps: u32::try_from(row.affiliate_rate_bps).unwrap_or(0),
        })
    }

    pub(crate) async fn set_affiliate_rate(
        &self,
        caller: &Caller,
        req: pb::SetAffiliateRateRequest,
    ) -> CommerceResult<pb::SetAffiliateRateResponse> {
        let id = parse_id("product_id", &req.product_id)?;
        if req.rate_bps != 0 && !AFFILIATE_RATE_BPS.contains(&req.rate_bps) {
            return Err(CommerceError::invalid(
                "rate_bps",
                "must be 100..8000 (a commission of 1-80%), or 0 to close the product to affiliates",
            ));
        }
        let mut tx = self.pool.begin().await?;
        let product = product_for_update(&mut tx, id).await?;
        own(caller, &product)?;
        sqlx::query(
            "UPDATE products SET affiliate_rate_bps = $2, updated_at = now() WHERE product_id = $1",
        )
        .bind(id)
        .bind(i32::try_from(req.rate_bps).unwrap_or(0))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(pb::SetAffiliateRateResponse {
            product: Some(self.product(id, None, true).await?),
        })
    }
}

async fn write_version(
    tx: &mut PgConnection,
    product: Uuid,
    version: i32,
    d: &Draft,
    skus: &[VersionSku],
) -> CommerceResult<()> {
    sqlx::query(
        "INSERT INTO product_versions (product_id, version, title, description, category, image_urls, skus) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(product)
    .bind(version)
    .bind(&d.title)
    .bind(&d.description)
    .bind(&d.category)
    .bind(&d.image_urls)
    .bind(sqlx::types::Json(skus))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn version_row(
    conn: &mut PgConnection,
    product: Uuid,
    version: i32,
) -> CommerceResult<VersionRow> {
    sqlx::query_as::<_, VersionRow>(
        "SELECT title, description, category, image_urls, skus FROM product_versions WHERE product_id = $1 AND version = $2",
    )
    .bind(product)
    .bind(version)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| CommerceError::not_found("product version not found (version)"))
}
