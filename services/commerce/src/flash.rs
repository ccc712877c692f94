//! Flash sales in a LIVE room (docs/commerce.md, "Flash sales").
//!
//! The host of an open room, selling the pinned product from their own
//! shop, announces a sale of one SKU: a countdown, a duration, a sale price
//! below the SKU's, a number of units and a per-buyer limit.
//!
//! Postgres is the truth for every unit (no Redis counter that a crash
//! could leave out of step with the orders):
//! - Announcing moves the sale's units out of the SKU's stock into
//!   `flash_sales.remaining` in one transaction.
//! - A purchase writes the order (at the sale price, through the normal
//!   order and payment path), adds the units to the buyer's count
//!   (`flash_buyers`, conditional on the limit) and, last, takes the units
//!   with `UPDATE flash_sales SET remaining = remaining - q WHERE
//!   remaining >= q AND <on sale now>`, all in one transaction: the last unit goes to
//!   exactly one buyer (the row lock orders them, `CHECK remaining >= 0`
//!   backs it), and a crash before the commit leaves neither the unit taken
//!   nor the order. The hot row is locked only from that last statement to
//!   the commit.
//! - Cancelling a sale order (the buyer, the seller, or the sweeper after
//!   `orders.flash_unpaid_cancel_seconds` unpaid) gives the units back to
//!   the sale while it is not closed, to the SKU's stock after.
//! - Closing (the sweeper, once: the row is locked and `closed` checked)
//!   moves what is left back to the SKU's stock and writes `FlashSaleEnded`.
//!
//! Lock order, the same everywhere: the buyer's checkout lock, the buyer's
//! `flash_buyers` row, the `flash_sales` row, the SKU row.

use chrono::{DateTime, Utc};
use loop_platform::auth::Caller;
use loop_platform::ids::parse_id;
use loop_proto::commerce::v1 as pb;
use loop_proto::events::v1 as ev;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::catalog::APPROVED;
use crate::error::{CommerceError, CommerceResult, Reason, unavailable};
use crate::events;
use crate::machine::Status;
use crate::orders::{NewOrder, Reserved, count, hash, insert_order};
use crate::service::CommerceService;

/// The countdown before a sale starts, seconds.
pub const COUNTDOWN_SECONDS: std::ops::RangeInclusive<u32> = 10..=300;
/// How long a sale runs, seconds (1 to 20 minutes).
pub const DURATION_SECONDS: std::ops::RangeInclusive<u32> = 60..=1200;
/// Units one sale may offer.
pub const MAX_UNITS: u32 = 100_000;
/// The highest sale price (as a SKU's), cents.
pub const MAX_PRICE_CENTS: i64 = 100_000_000;
/// Units one buyer may be allowed at most.
pub const MAX_PER_BUYER: u32 = 99;

#[derive(sqlx::FromRow, Clone, Debug)]
struct SaleRow {
    sale_id: Uuid,
    room_id: Uuid,
    host_id: Uuid,
    shop_id: Uuid,
    product_id: Uuid,
    sku_id: Uuid,
    list_price_cents: i64,
    sale_price_cents: i64,
    total_units: i32,
    remaining: i32,
    per_buyer_limit: i32,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    closed: bool,
    title: String,
    sku_name: String,
}

const SALE_SELECT: &str = "SELECT f.sale_id, f.room_id, f.host_id, f.shop_id, f.product_id, f.sku_id, f.list_price_cents, \
     f.sale_price_cents, f.total_units, f.remaining, f.per_buyer_limit, f.starts_at, f.ends_at, f.closed, \
     v.title, s.name AS sku_name \
     FROM flash_sales f JOIN skus s ON s.sku_id = f.sku_id JOIN products p ON p.product_id = f.product_id \
     JOIN product_versions v ON v.product_id = p.product_id AND v.version = p.version";

/// Where a sale stands at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Scheduled,
    Live,
    Ended,
}

/// The state at `now`: pure, so every rule reads it the same way.
pub fn state(
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    closed: bool,
    now: DateTime<Utc>,
) -> State {
    if closed || now >= ends_at {
        State::Ended
    } else if now < starts_at {
        State::Scheduled
    } else {
        State::Live
    }
}

fn not_found() -> CommerceError {
    CommerceError::not_found("flash sale not found (sale_id)")
}

fn seconds(d: chrono::Duration) -> u32 {
    let ms = d.num_milliseconds().max(0);
    u32::try_from((ms + 999) / 1000).unwrap_or(u32::MAX)
}

impl SaleRow {
    fn to_proto(&self, now: DateTime<Utc>) -> pb::FlashSale {
        let st = state(self.starts_at, self.ends_at, self.closed, now);
        let (proto_state, left) = match st {
            State::Scheduled => (pb::FlashSaleState::Scheduled, seconds(self.starts_at - now)),
            State::Live => (pb::FlashSaleState::Live, seconds(self.ends_at - now)),
            State::Ended => (pb::FlashSaleState::Ended, 0),
        };
        let u = |v: i32| u32::try_from(v).unwrap_or(0);
        pb::FlashSale {
            sale_id: self.sale_id.to_string(),
            room_id: self.room_id.to_string(),
            host_id: self.host_id.to_string(),
            shop_id: self.shop_id.to_string(),
            product_id: self.product_id.to_string(),
            sku_id: self.sku_id.to_string(),
            list_price_cents: self.list_price_cents,
            sale_price_cents: self.sale_price_cents,
            total_units: u(self.total_units),
            remaining_units: u(self.remaining),
            per_buyer_limit: u(self.per_buyer_limit),
            starts_at: Some(loop_platform::time::to_timestamp(self.starts_at)),
            ends_at: Some(loop_platform::time::to_timestamp(self.ends_at)),
            state: proto_state as i32,
            seconds_left: left,
            title: self.title.clone(),
            sku_name: self.sku_name.clone(),
        }
    }
}

/// Why a purchase cannot take `quantity` units of `sale` at `now`, if it cannot.
fn refusal(sale: &SaleRow, quantity: i32, now: DateTime<Utc>) -> Option<CommerceError> {
    match state(sale.starts_at, sale.ends_at, sale.closed, now) {
        State::Scheduled => Some(CommerceError::rule(
            Reason::FlashSaleNotStarted,
            format!(
                "sale_id: the flash sale starts in {} s",
                seconds(sale.starts_at - now)
            ),
        )),
        State::Ended => Some(CommerceError::rule(
            Reason::FlashSaleEnded,
            "sale_id: the flash sale is over",
        )),
        State::Live if sale.remaining < quantity => Some(CommerceError::rule(
            Reason::FlashSaleSoldOut,
            format!(
                "quantity: {} of the sale's units left, {quantity} asked",
                sale.remaining
            ),
        )),
        State::Live => None,
    }
}

impl CommerceService {
    async fn sale_row(&self, conn: &mut PgConnection, id: Uuid) -> CommerceResult<SaleRow> {
        sqlx::query_as::<_, SaleRow>(&format!("{SALE_SELECT} WHERE f.sale_id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(not_found)
    }

    /// The room's sale that has not closed, if any (shown with its bag).
    pub(crate) async fn open_flash_sale(
        &self,
        room: Uuid,
    ) -> CommerceResult<Option<pb::FlashSale>> {
        let row = sqlx::query_as::<_, SaleRow>(&format!(
            "{SALE_SELECT} WHERE f.room_id = $1 AND NOT f.closed"
        ))
        .bind(room)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.to_proto(self.clock.now())))
    }

    pub(crate) async fn start_flash_sale(
        &self,
        caller: &Caller,
        req: pb::StartFlashSaleRequest,
    ) -> CommerceResult<pb::StartFlashSaleResponse> {
        let me = caller.user_id()?;
        let room = parse_id("room_id", &req.room_id)?;
        let sku = parse_id("sku_id", &req.sku_id)?;
        if !(1..=MAX_PRICE_CENTS).contains(&req.sale_price_cents) {
            return Err(CommerceError::invalid(
                "sale_price_cents",
                "must be 1..100000000 (cents) and below the SKU's price",
            ));
        }
        if !COUNTDOWN_SECONDS.contains(&req.countdown_seconds) {
            return Err(CommerceError::invalid(
                "countdown_seconds",
                "must be 10..300",
            ));
        }
        if !DURATION_SECONDS.contains(&req.duration_seconds) {
            return Err(CommerceError::invalid(
                "duration_seconds",
                "must be 60..1200 (1 to 20 minutes)",
            ));
        }
        if !(1..=MAX_UNITS).contains(&req.total_units) {
            return Err(CommerceError::invalid(
                "total_units",
                format!("must be 1..{MAX_UNITS}"),
            ));
        }
        if !(1..=MAX_PER_BUYER).contains(&req.per_buyer_limit) {
            return Err(CommerceError::invalid(
                "per_buyer_limit",
                format!("must be 1..{MAX_PER_BUYER}"),
            ));
        }
        if req.per_buyer_limit > req.total_units {
            return Err(CommerceError::rule(
                Reason::FlashSaleTerms,
                "per_buyer_limit: must be at most total_units",
            ));
        }
        loop_platform::validate::idempotency_key("idempotency_key", &req.idempotency_key)?;
        let body_hash = hash(
            "StartFlashSale",
            &pb::StartFlashSaleRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        );
        if let Some(sale) = self.started(me, &req.idempotency_key, &body_hash).await? {
            return Ok(pb::StartFlashSaleResponse { sale: Some(sale) });
        }
        self.host(caller, room).await?;
        let found: Option<(Uuid, Uuid, Uuid, i16, i64, bool)> = sqlx::query_as(
            "SELECT s.product_id, p.shop_id, p.seller_id, p.status, s.price_cents, s.retired \
             FROM skus s JOIN products p USING (product_id) WHERE s.sku_id = $1",
        )
        .bind(sku)
        .fetch_optional(&self.pool)
        .await?;
        let Some((product, shop, seller, status, price, retired)) = found else {
            return Err(CommerceError::not_found("SKU not found (sku_id)"));
        };
        if seller != me {
            return Err(CommerceError::denied(
                "sku_id: only the product's seller runs a flash sale on it",
            ));
        }
        if status != APPROVED || retired {
            return Err(CommerceError::rule(
                Reason::NotForSale,
                "sku_id: the SKU is not on sale (product not approved, or SKU retired)",
            ));
        }
        if req.sale_price_cents >= price {
            return Err(CommerceError::rule(
                Reason::FlashSaleTerms,
                format!("sale_price_cents: must be below the SKU's price of {price} cents"),
            ));
        }
        let pinned: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM live_pins WHERE room_id = $1 AND product_id = $2)",
        )
        .bind(room)
        .bind(product)
        .fetch_one(&self.pool)
        .await?;
        if !pinned {
            return Err(CommerceError::rule(
                Reason::NotPinned,
                "sku_id: pin the SKU's product in the room before its flash sale",
            ));
        }
        let now = self.clock.now();
        let starts_at = now + chrono::Duration::seconds(i64::from(req.countdown_seconds));
        let ends_at = starts_at + chrono::Duration::seconds(i64::from(req.duration_seconds));
        let total = i64::from(req.total_units);
        let sale_id = loop_platform::ids::new_id();
        let mut tx = self.pool.begin().await?;
        let left: Option<i64> = sqlx::query_scalar(
            "UPDATE skus SET stock = stock - $2 WHERE sku_id = $1 AND stock >= $2 AND NOT retired RETURNING stock",
        )
        .bind(sku)
        .bind(total)
        .fetch_optional(&mut *tx)
        .await?;
        if left.is_none() {
            let stock: i64 = sqlx::query_scalar("SELECT stock FROM skus WHERE sku_id = $1")
                .bind(sku)
                .fetch_one(&mut *tx)
                .await?;
            return Err(CommerceError::rule(
                Reason::OutOfStock,
                format!("total_units: only {stock} in stock, {total} asked"),
            ));
        }
        let inserted = sqlx::query(
            "INSERT INTO flash_sales (sale_id, room_id, host_id, shop_id, product_id, sku_id, list_price_cents, sale_price_cents, \
             total_units, remaining, per_buyer_limit, starts_at, ends_at, created_at, start_key, start_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(sale_id)
        .bind(room)
        .bind(me)
        .bind(shop)
        .bind(product)
        .bind(sku)
        .bind(price)
        .bind(req.sale_price_cents)
        .bind(i32::try_from(req.total_units).unwrap_or(i32::MAX))
        .bind(i32::try_from(req.per_buyer_limit).unwrap_or(i32::MAX))
        .bind(starts_at)
        .bind(ends_at)
        .bind(now)
        .bind(&req.idempotency_key)
        .bind(&body_hash)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(err)
                if loop_platform::error::is_unique_violation(
                    &err,
                    Some("flash_sales_room_open"),
                ) =>
            {
                return Err(CommerceError::rule(
                    Reason::FlashSaleRunning,
                    "room_id: the room already has a flash sale that has not closed",
                ));
            }
            Err(err) if loop_platform::error::is_unique_violation(&err, None) => {
                // A concurrent retry with the same key committed first.
                drop(tx);
                return match self.started(me, &req.idempotency_key, &body_hash).await? {
                    Some(sale) => Ok(pb::StartFlashSaleResponse { sale: Some(sale) }),
                    None => Err(unavailable("retry the flash sale")),
                };
            }
            Err(err) => return Err(err.into()),
        }
        events::emit(
            &mut tx,
            &room.to_string(),
            now,
            ev::commerce_event::Payload::FlashSaleScheduled(ev::FlashSaleScheduled {
                sale_id: sale_id.to_string(),
                room_id: room.to_string(),
                host_id: me.to_string(),
                product_id: product.to_string(),
                sku_id: sku.to_string(),
                sale_price_cents: req.sale_price_cents,
                total_units: req.total_units,
                per_buyer_limit: req.per_buyer_limit,
                starts_at: Some(loop_platform::time::to_timestamp(starts_at)),
                ends_at: Some(loop_platform::time::to_timestamp(ends_at)),
            }),
        )
        .await?;
        tx.commit().await?;
        let mut conn = self.pool.acquire().await?;
        let sale = self.sale_row(&mut conn, sale_id).await?;
        Ok(pb::StartFlashSaleResponse {
            sale: Some(sale.to_proto(self.clock.now())),
        })
    }

    /// The sale a StartFlashSale key already created, if any.
    async fn started(
        &self,
        host: Uuid,
        key: &str,
        body_hash: &[u8],
    ) -> CommerceResult<Option<pb::FlashSale>> {
        let row: Option<(Uuid, Vec<u8>)> = sqlx::query_as(
            "SELECT sale_id, start_hash FROM flash_sales WHERE host_id = $1 AND start_key = $2",
        )
        .bind(host)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some((id, h)) if h == body_hash => {
                let mut conn = self.pool.acquire().await?;
                Ok(Some(
                    self.sale_row(&mut conn, id)
                        .await?
                        .to_proto(self.clock.now()),
                ))
            }
            Some(_) => Err(CommerceError::rule(
                Reason::IdempotencyKeyReused,
                "idempotency_key was used with another request",
            )),
        }
    }

    pub(crate) async fn buy_flash_sale(
        &self,
        caller: &Caller,
        req: pb::BuyFlashSaleRequest,
    ) -> CommerceResult<pb::BuyFlashSaleResponse> {
        let me = caller.user_id()?;
        let sale_id = parse_id("sale_id", &req.sale_id)?;
        if !(1..=MAX_PER_BUYER).contains(&req.quantity) {
            return Err(CommerceError::invalid(
                "quantity",
                format!("must be 1..{MAX_PER_BUYER} (and at most the sale's per-buyer limit)"),
            ));
        }
        let quantity = i32::try_from(req.quantity).unwrap_or(i32::MAX);
        loop_platform::validate::idempotency_key("idempotency_key", &req.idempotency_key)?;
        let body_hash = hash(
            "BuyFlashSale",
            &pb::BuyFlashSaleRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        );
        if let Some(order) = self.placed(me, &req.idempotency_key, &body_hash).await? {
            let mut conn = self.pool.acquire().await?;
            let sale = self.sale_row(&mut conn, sale_id).await?;
            return Ok(pb::BuyFlashSaleResponse {
                order: Some(order),
                sale: Some(sale.to_proto(self.clock.now())),
            });
        }
        let now = self.clock.now();
        let (sale, seller, version): (SaleRow, Uuid, i32) = {
            let mut conn = self.pool.acquire().await?;
            let sale = self.sale_row(&mut conn, sale_id).await?;
            let (seller, version): (Uuid, i32) =
                sqlx::query_as("SELECT seller_id, version FROM products WHERE product_id = $1")
                    .bind(sale.product_id)
                    .fetch_one(&mut *conn)
                    .await?;
            (sale, seller, version)
        };
        if seller == me {
            return Err(CommerceError::rule(
                Reason::SelfPurchase,
                "a seller cannot buy from their own flash sale",
            ));
        }
        if quantity > sale.per_buyer_limit {
            return Err(CommerceError::rule(
                Reason::FlashSaleLimit,
                format!(
                    "quantity: at most {} units per buyer in this sale",
                    sale.per_buyer_limit
                ),
            ));
        }
        // Refused at once, without a transaction, when the sale is not on
        // or has too few units left (the usual answer to most of a crowd).
        if let Some(err) = refusal(&sale, quantity, now) {
            return Err(err);
        }
        let order_id = loop_platform::ids::new_id();
        let mut items = vec![Reserved {
            product_id: sale.product_id,
            product_version: version,
            sku_id: sale.sku_id,
            title: sale.title.clone(),
            sku_name: sale.sku_name.clone(),
            unit_price_cents: sale.sale_price_cents,
            quantity,
            // Set by the buyer's turn (attribution).
            affiliate_rate_bps: 0,
        }];
        let mut tx = self.pool.begin().await?;
        let affiliate = self
            .buyer_turn(&mut tx, me, seller, now, &mut items)
            .await?;
        let units: Option<i32> = sqlx::query_scalar(
            "INSERT INTO flash_buyers (sale_id, buyer_id, units) VALUES ($1, $2, $3) \
             ON CONFLICT (sale_id, buyer_id) DO UPDATE SET units = flash_buyers.units + EXCLUDED.units \
             WHERE flash_buyers.units + EXCLUDED.units <= $4 RETURNING units",
        )
        .bind(sale_id)
        .bind(me)
        .bind(quantity)
        .bind(sale.per_buyer_limit)
        .fetch_optional(&mut *tx)
        .await?;
        if units.is_none() {
            let held: i32 = sqlx::query_scalar(
                "SELECT units FROM flash_buyers WHERE sale_id = $1 AND buyer_id = $2",
            )
            .bind(sale_id)
            .bind(me)
            .fetch_one(&mut *tx)
            .await?;
            return Err(CommerceError::rule(
                Reason::FlashSaleLimit,
                format!(
                    "quantity: you hold {held} of this sale's units; at most {} per buyer",
                    sale.per_buyer_limit
                ),
            ));
        }
        let inserted = insert_order(
            &mut tx,
            &NewOrder {
                order_id,
                shop: sale.shop_id,
                seller,
                buyer: me,
                key: &req.idempotency_key,
                body_hash: &body_hash,
                now,
                affiliate,
                origin: Some((pb::ReferralSource::Live as i16, sale.room_id.to_string())),
                flash_sale: Some(sale_id),
                items: &items,
            },
        )
        .await;
        match inserted {
            Ok(_) => {}
            Err(err) if loop_platform::error::is_unique_violation(&err, None) => {
                drop(tx);
                return match self.placed(me, &req.idempotency_key, &body_hash).await? {
                    Some(order) => Ok(pb::BuyFlashSaleResponse {
                        order: Some(order),
                        sale: Some(sale.to_proto(self.clock.now())),
                    }),
                    None => Err(unavailable("retry the purchase")),
                };
            }
            Err(err) => return Err(err.into()),
        }
        // Last, so the hot row stays locked only until the commit.
        let taken: Option<i32> = sqlx::query_scalar(
            "UPDATE flash_sales SET remaining = remaining - $2 \
             WHERE sale_id = $1 AND NOT closed AND starts_at <= $3 AND ends_at > $3 AND remaining >= $2 \
             RETURNING remaining",
        )
        .bind(sale_id)
        .bind(quantity)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if taken.is_none() {
            drop(tx);
            let mut conn = self.pool.acquire().await?;
            let sale = self.sale_row(&mut conn, sale_id).await?;
            return Err(refusal(&sale, quantity, now).unwrap_or_else(|| {
                CommerceError::rule(
                    Reason::FlashSaleSoldOut,
                    "quantity: the sale's last units went to other buyers",
                )
            }));
        }
        tx.commit().await?;
        self.relay_wake.notify_one();
        count(Status::Unpaid);
        UNITS.inc_by(u64::try_from(quantity).unwrap_or(0));
        let order = self.order(order_id).await?;
        let mut conn = self.pool.acquire().await?;
        let sale = self.sale_row(&mut conn, sale_id).await?;
        Ok(pb::BuyFlashSaleResponse {
            order: Some(order),
            sale: Some(sale.to_proto(self.clock.now())),
        })
    }

    pub(crate) async fn get_flash_sale(
        &self,
        _caller: &Caller,
        req: pb::GetFlashSaleRequest,
    ) -> CommerceResult<pb::GetFlashSaleResponse> {
        let mut conn = self.pool.acquire().await?;
        let sale = match (req.sale_id.is_empty(), req.room_id.is_empty()) {
            (false, true) => {
                self.sale_row(&mut conn, parse_id("sale_id", &req.sale_id)?)
                    .await?
            }
            (true, false) => {
                let room = parse_id("room_id", &req.room_id)?;
                sqlx::query_as::<_, SaleRow>(&format!(
                    "{SALE_SELECT} WHERE f.room_id = $1 ORDER BY f.closed, f.created_at DESC LIMIT 1"
                ))
                .bind(room)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| CommerceError::not_found("no flash sale in this room (room_id)"))?
            }
            _ => {
                return Err(CommerceError::invalid(
                    "sale_id",
                    "name exactly one of sale_id and room_id",
                ));
            }
        };
        Ok(pb::GetFlashSaleResponse {
            sale: Some(sale.to_proto(self.clock.now())),
        })
    }

    /// The sweeper's part: `FlashSaleStarted` once the countdown is over,
    /// closing sales past their end (units left back to the SKU's stock,
    /// `FlashSaleEnded`), cancelling sale orders left unpaid too long.
    pub(crate) async fn sweep_flash(&self) -> anyhow::Result<()> {
        let now = self.clock.now();
        let batch = self.config.jobs.sweep_batch;
        let due: Vec<Uuid> = sqlx::query_scalar(
            "SELECT sale_id FROM flash_sales WHERE NOT started AND NOT closed AND starts_at <= $1 ORDER BY starts_at LIMIT $2",
        )
        .bind(now)
        .bind(batch)
        .fetch_all(&self.pool)
        .await?;
        for id in due {
            let mut tx = self.pool.begin().await?;
            mark_started(&mut tx, id, now).await?;
            tx.commit().await?;
        }
        let unpaid_before =
            now - chrono::Duration::seconds(self.config.orders.flash_unpaid_cancel_seconds);
        let unpaid: Vec<Uuid> = sqlx::query_scalar(
            "SELECT order_id FROM orders WHERE flash_sale_id IS NOT NULL AND status = $1 AND created_at <= $2 \
             ORDER BY created_at LIMIT $3",
        )
        .bind(Status::Unpaid.id())
        .bind(unpaid_before)
        .bind(batch)
        .fetch_all(&self.pool)
        .await?;
        for id in unpaid {
            if let Err(err) = self.cancel(id, None, "unpaid_timeout").await {
                tracing::debug!(order = %id, error = %err, "flash unpaid cancel skipped");
            }
        }
        let ended: Vec<Uuid> = sqlx::query_scalar(
            "SELECT sale_id FROM flash_sales WHERE NOT closed AND ends_at <= $1 ORDER BY ends_at LIMIT $2",
        )
        .bind(now)
        .bind(batch)
        .fetch_all(&self.pool)
        .await?;
        for id in ended {
            self.close_flash_sale(id, now).await?;
        }
        Ok(())
    }

    async fn close_flash_sale(&self, id: Uuid, now: DateTime<Utc>) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(Uuid, Uuid, i32, i32, bool)> = sqlx::query_as(
            "SELECT room_id, sku_id, total_units, remaining, closed FROM flash_sales WHERE sale_id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((room, sku, total, remaining, false)) = row else {
            return Ok(());
        };
        mark_started(&mut tx, id, now).await?;
        sqlx::query("UPDATE skus SET stock = stock + $2 WHERE sku_id = $1")
            .bind(sku)
            .bind(i64::from(remaining))
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE flash_sales SET closed = true, closed_at = $2 WHERE sale_id = $1")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        events::emit(
            &mut tx,
            &room.to_string(),
            now,
            ev::commerce_event::Payload::FlashSaleEnded(ev::FlashSaleEnded {
                sale_id: id.to_string(),
                room_id: room.to_string(),
                sold_units: u32::try_from(total - remaining).unwrap_or(0),
                returned_units: u32::try_from(remaining).unwrap_or(0),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Writes `FlashSaleStarted` once (the flag is set in the same transaction).
async fn mark_started(tx: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> anyhow::Result<()> {
    let room: Option<Uuid> = sqlx::query_scalar(
        "UPDATE flash_sales SET started = true WHERE sale_id = $1 AND NOT started RETURNING room_id",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(room) = room {
        events::emit(
            tx,
            &room.to_string(),
            now,
            ev::commerce_event::Payload::FlashSaleStarted(ev::FlashSaleStarted {
                sale_id: id.to_string(),
                room_id: room.to_string(),
            }),
        )
        .await?;
    }
    Ok(())
}

/// Gives a cancelled sale order's units back to its sale, in the
/// cancelling transaction (the order row is locked), while the sale is not
/// closed: `true` when it did, `false` when the order is no sale order or
/// the sale has closed (then the units go to the SKU's stock as usual).
pub(crate) async fn return_units(tx: &mut PgConnection, order: Uuid) -> CommerceResult<bool> {
    let row: Option<(Option<Uuid>, Uuid)> =
        sqlx::query_as("SELECT flash_sale_id, buyer_id FROM orders WHERE order_id = $1")
            .bind(order)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((Some(sale), buyer)) = row else {
        return Ok(false);
    };
    let units: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(quantity), 0)::bigint FROM order_items WHERE order_id = $1",
    )
    .bind(order)
    .fetch_one(&mut *tx)
    .await?;
    let units = i32::try_from(units).unwrap_or(0);
    // The buyer's row before the sale's (the purchase's lock order).
    sqlx::query(
        "UPDATE flash_buyers SET units = GREATEST(units - $3, 0) WHERE sale_id = $1 AND buyer_id = $2",
    )
    .bind(sale)
    .bind(buyer)
    .bind(units)
    .execute(&mut *tx)
    .await?;
    let back = sqlx::query(
        "UPDATE flash_sales SET remaining = remaining + $2 WHERE sale_id = $1 AND NOT closed",
    )
    .bind(sale)
    .bind(units)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(back > 0)
}

/// Units sold in flash sales (orders written; cancellations not subtracted).
static UNITS: std::sync::LazyLock<prometheus::IntCounter> = std::sync::LazyLock::new(|| {
    loop_platform::metrics::counter_vec(
        "loop_commerce_flash_units_sold_total",
        "Flash-sale units taken by orders",
        &[],
    )
    .with_label_values::<&str>(&[])
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_follows_the_clock() {
        let t0 = Utc::now();
        let start = t0 + chrono::Duration::seconds(10);
        let end = start + chrono::Duration::seconds(60);
        assert_eq!(state(start, end, false, t0), State::Scheduled);
        assert_eq!(state(start, end, false, start), State::Live);
        assert_eq!(
            state(start, end, false, end - chrono::Duration::milliseconds(1)),
            State::Live
        );
        assert_eq!(state(start, end, false, end), State::Ended);
        assert_eq!(state(start, end, true, start), State::Ended);
        assert_eq!(seconds(chrono::Duration::milliseconds(1001)), 2);
        assert_eq!(seconds(chrono::Duration::milliseconds(-5)), 0);
    }
}
