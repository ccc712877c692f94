//! Orders: checkout with atomic stock reservation, payment into a wallet
//! escrow, the lifecycle ([`crate::machine`] decides, this module loads,
//! locks and stores), cancellations that return stock and money, refunds
//! after delivery and settlement.
//!
//! Stock and money are each moved once:
//! - Stock leaves with a conditional UPDATE in the checkout transaction and
//!   comes back in the transaction that cancels the order (the order row is
//!   locked and its state checked, so only one cancellation can happen).
//! - Money steps are recorded as due in the order's transaction (PAYING with
//!   the receipt, `refund_all_due`, an `order_refunds` row, `settle_due` with
//!   the split), then sent to the wallet with a key derived from the order;
//!   the wallet answers a repeated key with its first result, so the
//!   sweeper may finish any step a crash interrupted.

use chrono::{DateTime, Utc};
use loop_platform::auth::{Caller, Role};
use loop_platform::ids::parse_id;
use loop_proto::commerce::v1 as pb;
use loop_proto::events::v1 as ev;
use loop_proto::wallet::v1 as wpb;
use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::catalog::APPROVED;
use crate::error::{CommerceError, CommerceResult, Reason, unavailable};
use crate::events;
use crate::machine::{self, Actor, Refusal, Status, Step, Times};
use crate::service::CommerceService;
use crate::wallet::{self, WalletFailure};

#[derive(sqlx::FromRow, Clone, Debug)]
pub(crate) struct OrderRow {
    pub order_id: Uuid,
    pub shop_id: Uuid,
    pub seller_id: Uuid,
    pub buyer_id: Uuid,
    pub status: i16,
    pub total_cents: i64,
    pub refunded_cents: i64,
    pub receipt: Option<Vec<u8>>,
    pub escrow_id: Option<Uuid>,
    pub carrier: String,
    pub tracking_number: String,
    pub cancel_reason: String,
    pub seller_cents: i64,
    pub fee_cents: i64,
    pub settle_due: bool,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub hold_until: Option<DateTime<Utc>>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub settle_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub affiliate_id: Option<Uuid>,
    pub commission_cents: i64,
    pub affiliate_cents: i64,
    pub wallet_problem: String,
    pub commission_at: Option<DateTime<Utc>>,
    pub commission_paid_at: Option<DateTime<Utc>>,
    pub source: i16,
    pub source_id: String,
}

pub(crate) const ORDER_COLUMNS: &str = "order_id, shop_id, seller_id, buyer_id, status, total_cents, refunded_cents, receipt, escrow_id, carrier, tracking_number, cancel_reason, seller_cents, fee_cents, settle_due, created_at, paid_at, hold_until, shipped_at, delivered_at, settle_at, closed_at, affiliate_id, commission_cents, affiliate_cents, wallet_problem, commission_at, commission_paid_at, source, source_id";

/// The largest partial refund one call may ask for ($1,000,000,000), as the
/// HTTP schema says; 0 refunds everything left whatever the total.
pub const MAX_REFUND_CENTS: i64 = 100_000_000_000;

#[derive(sqlx::FromRow)]
struct ItemRow {
    product_id: Uuid,
    product_version: i32,
    sku_id: Uuid,
    title: String,
    sku_name: String,
    unit_price_cents: i64,
    quantity: i32,
    affiliate_rate_bps: i32,
}

impl OrderRow {
    pub fn status(&self) -> Status {
        Status::from_id(self.status).unwrap_or(Status::Cancelled)
    }

    pub(crate) fn actor(&self, caller: &Caller) -> Option<Actor> {
        // A party to the order acts as that party, even when an admin: an
        // admin who bought something must not refund their own order.
        if caller.subject == self.buyer_id.to_string() {
            Some(Actor::Buyer)
        } else if caller.subject == self.seller_id.to_string() {
            Some(Actor::Seller)
        } else if caller.is_admin() {
            Some(Actor::Admin)
        } else {
            None
        }
    }
}

/// Orders by state change, for dashboards.
static STEPS: std::sync::LazyLock<prometheus::IntCounterVec> = std::sync::LazyLock::new(|| {
    loop_platform::metrics::counter_vec(
        "loop_commerce_order_steps_total",
        "Order state changes committed, by the state reached",
        &["status"],
    )
});

pub(crate) fn count(status: Status) {
    STEPS.with_label_values(&[status.name()]).inc();
}

pub(crate) fn hash<M: Message>(rpc: &str, body: &M) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(rpc.as_bytes());
    h.update([0]);
    h.update(body.encode_to_vec());
    h.finalize().to_vec()
}

pub(crate) fn refusal(r: Refusal) -> CommerceError {
    match r {
        Refusal::NotYourStep(m) => CommerceError::denied(m),
        Refusal::Transition(m) => CommerceError::rule(Reason::InvalidTransition, m),
        Refusal::RefundWindowClosed => CommerceError::rule(
            Reason::RefundWindowClosed,
            "the refund window after delivery has closed",
        ),
    }
}

pub(crate) fn not_found() -> CommerceError {
    CommerceError::not_found("order not found (order_id)")
}

/// A wallet refusal, passed on to the caller naming the same field or rule.
pub(crate) fn wallet_refusal(status: &tonic::Status) -> CommerceError {
    if loop_platform::error::status_reason(status).as_deref() == Some("RECEIPT_ALREADY_REDEEMED") {
        return CommerceError::rule(
            Reason::ReceiptAlreadyRedeemed,
            "this store receipt paid for something else before",
        );
    }
    // A declined payment is about this receipt and this order, not the
    // request's shape: FAILED_PRECONDITION naming the receipt's field.
    let field = loop_platform::error::status_field(status).unwrap_or_else(|| "receipt".into());
    let message = status
        .message()
        .split_once(": ")
        .map_or(status.message(), |(_, m)| m);
    CommerceError::rule(Reason::PaymentDeclined, format!("{field} {message}"))
}

/// Why a charge failed for good, to the buyer: their receipt's fault
/// (PAYMENT_DECLINED, RECEIPT_ALREADY_REDEEMED) or the wallet's refusal for
/// another reason (PAYMENT_FAILED; counted and logged for a person).
fn payment_refusal(order: Uuid, failure: &WalletFailure) -> CommerceError {
    match failure {
        WalletFailure::Declined(status) => wallet_refusal(status),
        other => {
            wallet::alert("pay", order, other);
            payment_failed()
        }
    }
}

fn payment_failed() -> CommerceError {
    CommerceError::rule(
        Reason::PaymentFailed,
        "the payment service refused the charge (not because of the receipt); the order is unpaid again: try again later",
    )
}

/// Stores the order DELIVERED at `now`, to be settled `settle_days` later,
/// with its `OrderDelivered` (`automatic`: confirmed by the service).
async fn delivered(
    tx: &mut PgConnection,
    order: Uuid,
    now: DateTime<Utc>,
    settle_days: i64,
    automatic: bool,
) -> CommerceResult<Status> {
    let settle_at = now + chrono::Duration::days(settle_days);
    sqlx::query(
        "UPDATE orders SET status = $2, delivered_at = $3, settle_at = $4 WHERE order_id = $1",
    )
    .bind(order)
    .bind(Status::Delivered.id())
    .bind(now)
    .bind(settle_at)
    .execute(&mut *tx)
    .await?;
    events::emit(
        tx,
        &order.to_string(),
        now,
        ev::commerce_event::Payload::OrderDelivered(ev::OrderDelivered {
            order_id: order.to_string(),
            settle_at: Some(loop_platform::time::to_timestamp(settle_at)),
            automatic,
        }),
    )
    .await?;
    Ok(Status::Delivered)
}

pub(crate) async fn order_for_update(tx: &mut PgConnection, id: Uuid) -> CommerceResult<OrderRow> {
    sqlx::query_as::<_, OrderRow>(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(not_found)
}

/// A refund's (or a return's) `amount_cents`: 0 for everything not yet
/// refunded, or 1..MAX_REFUND_CENTS.
pub(crate) fn refund_amount(cents: i64) -> CommerceResult<()> {
    if (0..=MAX_REFUND_CENTS).contains(&cents) {
        Ok(())
    } else {
        Err(CommerceError::invalid(
            "amount_cents",
            "must be 0 (everything not yet refunded) or 1..100000000000",
        ))
    }
}

/// A keyed change of one order begun: the transaction holding the order's
/// row, the order and the caller's part in it; or, when the key was used
/// already, the order as it is now (the change is not made again).
// Made once per request and matched at once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Begun {
    Fresh(sqlx::Transaction<'static, sqlx::Postgres>, OrderRow, Actor),
    Repeat(pb::Order),
}

impl CommerceService {
    /// Locks order `id` for a change under `key` by `caller` (NOT_FOUND to
    /// anyone who is no party to it).
    pub(crate) async fn begin_keyed(
        &self,
        id: Uuid,
        caller: &Caller,
        key: &Key,
    ) -> CommerceResult<Begun> {
        let mut tx = self.pool.begin().await?;
        let order = order_for_update(&mut tx, id).await?;
        let actor = order.actor(caller).ok_or_else(not_found)?;
        if key.recall(&mut tx).await?.is_some() {
            drop(tx);
            return Ok(Begun::Repeat(self.order(id).await?));
        }
        Ok(Begun::Fresh(tx, order, actor))
    }
}

/// A mutating call's idempotency key.
pub(crate) struct Key {
    pub(crate) scope: String,
    pub(crate) key: String,
    hash: Vec<u8>,
}

impl Key {
    pub(crate) fn new<M: Message>(
        caller: &Caller,
        rpc: &str,
        key: &str,
        body: &M,
    ) -> CommerceResult<Self> {
        loop_platform::validate::idempotency_key("idempotency_key", key)?;
        Ok(Self {
            scope: format!("{}/{rpc}", caller.subject),
            key: key.to_owned(),
            hash: hash(rpc, body),
        })
    }

    /// The order of a call already done with this key; another body is refused.
    pub(crate) async fn recall(&self, conn: &mut PgConnection) -> CommerceResult<Option<Uuid>> {
        let row: Option<(Vec<u8>, Uuid)> =
            sqlx::query_as("SELECT hash, order_id FROM request_keys WHERE scope = $1 AND key = $2")
                .bind(&self.scope)
                .bind(&self.key)
                .fetch_optional(&mut *conn)
                .await?;
        match row {
            Some((h, order)) if h == self.hash => Ok(Some(order)),
            Some(_) => Err(CommerceError::rule(
                Reason::IdempotencyKeyReused,
                "idempotency_key was used with another request",
            )),
            None => Ok(None),
        }
    }

    pub(crate) async fn remember(&self, tx: &mut PgConnection, order: Uuid) -> CommerceResult<()> {
        sqlx::query(
            "INSERT INTO request_keys (scope, key, hash, order_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&self.scope)
        .bind(&self.key)
        .bind(&self.hash)
        .bind(order)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

impl CommerceService {
    pub(crate) fn times(&self, o: &OrderRow, now: DateTime<Utc>) -> Times {
        Times {
            now: Some(now),
            hold_until: o.hold_until,
            refund_until: o
                .delivered_at
                .map(|d| d + chrono::Duration::days(self.config.orders.refund_window_days)),
            settle_at: o.settle_at,
        }
    }

    pub(crate) async fn place_order(
        &self,
        caller: &Caller,
        req: pb::PlaceOrderRequest,
    ) -> CommerceResult<pb::PlaceOrderResponse> {
        let me = caller.user_id()?;
        let shop = parse_id("shop_id", &req.shop_id)?;
        if req.items.is_empty() || req.items.len() > 20 {
            return Err(CommerceError::invalid("items", "must list 1..20 SKUs"));
        }
        let mut lines = Vec::with_capacity(req.items.len());
        for (i, line) in req.items.iter().enumerate() {
            let sku = parse_id(&format!("items[{i}].sku_id"), &line.sku_id)?;
            if !(1..=99).contains(&line.quantity) {
                return Err(CommerceError::invalid(
                    format!("items[{i}].quantity"),
                    "must be 1..99",
                ));
            }
            // Lines naming the same SKU are one line.
            match lines.iter_mut().find(|(_, s, _)| *s == sku) {
                Some((_, _, q)) => *q += i64::from(line.quantity),
                None => lines.push((i, sku, i64::from(line.quantity))),
            }
        }
        loop_platform::validate::idempotency_key("idempotency_key", &req.idempotency_key)?;
        let body_hash = hash(
            "PlaceOrder",
            &pb::PlaceOrderRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        );
        // A repeat of a placed order is found when its insert collides with
        // the key (or, if the repeat is refused first, by the lookup below):
        // the happy path makes no lookup of its own.
        let seller = self.seller_of_shop(shop).await?;
        if seller == me {
            return Err(CommerceError::rule(
                Reason::SelfPurchase,
                "a seller cannot buy from their own shop",
            ));
        }
        // Lock SKU rows in one global order so checkouts never deadlock.
        lines.sort_by_key(|(_, sku, _)| *sku);
        match self
            .checkout(me, shop, seller, &lines, &req.idempotency_key, &body_hash)
            .await
        {
            Ok(order) => Ok(pb::PlaceOrderResponse { order: Some(order) }),
            Err(refused) if refused.is_state_dependent() => {
                // Perhaps refused because this key's order holds the stock or
                // the unpaid slot: then that order is the answer.
                match self.placed(me, &req.idempotency_key, &body_hash).await {
                    Ok(Some(order)) => Ok(pb::PlaceOrderResponse { order: Some(order) }),
                    Err(reused) if reused.reason() == Some(Reason::IdempotencyKeyReused) => {
                        Err(reused)
                    }
                    _ => Err(refused),
                }
            }
            Err(err) => Err(err),
        }
    }

    /// One checkout in one statement (`commerce_place_order`, autocommit:
    /// see migration 0011): the buyer's turn, the order and its event, then
    /// the units. A single-line checkout is placed by its SKU's batching
    /// task with the others waiting for that SKU ([`crate::hot_sku`]). The
    /// lines come from [`Self::lines`] (this process's memo of each SKU, or
    /// a fresh read); the statement refuses a line whose SKU or product
    /// changed since, and the checkout then reads it again once.
    async fn checkout(
        &self,
        me: Uuid,
        shop: Uuid,
        seller: Uuid,
        lines: &[(usize, Uuid, i64)],
        key: &str,
        body_hash: &[u8],
    ) -> CommerceResult<pb::Order> {
        for fresh in [false, true] {
            let placed = match lines {
                [(index, sku, quantity)] => {
                    let checkout = crate::hot_sku::Checkout {
                        buyer: me,
                        shop,
                        seller,
                        key: key.to_owned(),
                        body_hash: body_hash.to_vec(),
                        index: *index,
                        quantity: *quantity,
                        fresh,
                    };
                    match crate::hot_sku::submit(self, *sku, checkout).await? {
                        crate::hot_sku::Outcome::Placed(row, item) => {
                            count(Status::Unpaid);
                            Placed::Order(Box::new(self.proto_of(
                                *row,
                                vec![ItemRow::from(&item)],
                                None,
                            )))
                        }
                        crate::hot_sku::Outcome::Raised(code, detail) => {
                            self.refused(&code, &detail, me, key, body_hash, lines)
                                .await?
                        }
                    }
                }
                _ => {
                    let items = self.lines(shop, lines, fresh).await?;
                    let order = NewOrder {
                        order_id: loop_platform::ids::new_id(),
                        shop,
                        seller,
                        buyer: me,
                        key,
                        body_hash,
                        now: self.clock.now(),
                        affiliate: None,
                        origin: None,
                        flash_sale: None,
                        items: &items,
                    };
                    self.place(&order, lines).await?
                }
            };
            match placed {
                Placed::Order(placed) => return Ok(*placed),
                Placed::Changed => {
                    for (_, sku, _) in lines {
                        self.sku_lines.forget(sku);
                    }
                }
            }
        }
        Err(unavailable(
            "the product changed during the checkout; retry",
        ))
    }

    /// What a checkout the database refused with `code` (and `detail`)
    /// comes to: its reason, the key's order (a concurrent duplicate
    /// committed first), or [`Placed::Changed`] when a line's SKU or product
    /// changed since it was read.
    async fn refused(
        &self,
        code: &str,
        detail: &str,
        buyer: Uuid,
        key: &str,
        body_hash: &[u8],
        lines: &[(usize, Uuid, i64)],
    ) -> CommerceResult<Placed> {
        match code {
            UNIQUE_VIOLATION => match self.placed(buyer, key, body_hash).await? {
                Some(order) => Ok(Placed::Order(Box::new(order))),
                None => Err(unavailable("retry the order")),
            },
            TOO_MANY_UNPAID => {
                // A line that cannot be had at all is the better answer
                // (paying an order would not help).
                for (index, sku, quantity) in lines {
                    let field = format!("items[{index}].sku_id");
                    if let Some(refused) = why_not(&self.pool, &field, *sku, *quantity).await {
                        return Err(refused);
                    }
                }
                Err(self.too_many_unpaid(detail))
            }
            LINE_NOT_TAKEN => {
                let Some((index, sku, quantity)) = detail
                    .parse::<usize>()
                    .ok()
                    .and_then(|k| lines.get(k.wrapping_sub(1)))
                else {
                    return Err(unavailable("the checkout was refused; retry"));
                };
                let field = format!("items[{index}].sku_id");
                match why_not(&self.pool, &field, *sku, *quantity).await {
                    Some(refused) => Err(refused),
                    None => Ok(Placed::Changed),
                }
            }
            _ => Err(unavailable("the checkout was refused; retry")),
        }
    }

    /// Runs [`Self::checkout`]'s statement for `o`.
    async fn place(
        &self,
        o: &NewOrder<'_>,
        lines: &[(usize, Uuid, i64)],
    ) -> CommerceResult<Placed> {
        let since = o.now - chrono::Duration::hours(self.config.orders.attribution_window_hours);
        // Few checkouts of this process queue on a hot row's lock at once
        // (the rest wait here, cheaply): a convoy of waiters on one row
        // costs the database more than it serves.
        let mut turns = Vec::with_capacity(lines.len());
        for (_, sku, _) in lines {
            turns.push(self.hot_rows.turn(*sku).await);
        }
        let event = placed_event(o);
        let placed = bind_order(sqlx::query_as::<_, PlacedRow>(&PLACE_ORDER), o, event)
            .bind(since)
            .bind(self.config.orders.max_unpaid_per_buyer)
            .bind(crate::invitations::ACCEPTED)
            .bind(APPROVED)
            .fetch_one(&self.pool)
            .await;
        drop(turns);
        let placed = match placed {
            Ok(placed) => placed,
            Err(err) => {
                for code in [UNIQUE_VIOLATION, TOO_MANY_UNPAID, LINE_NOT_TAKEN] {
                    if let Some(detail) = raised(&err, code) {
                        return self
                            .refused(code, &detail, o.buyer, o.key, o.body_hash, lines)
                            .await;
                    }
                }
                return Err(err.into());
            }
        };
        self.relay_wake.notify_one();
        count(Status::Unpaid);
        let items = o
            .items
            .iter()
            .zip(&placed.rates)
            .map(|(item, rate)| ItemRow {
                affiliate_rate_bps: *rate,
                ..ItemRow::from(item)
            })
            .collect();
        Ok(Placed::Order(Box::new(self.proto_of(
            placed.order,
            items,
            None,
        ))))
    }

    /// The checkout's lines: from this process's memo of each SKU unless
    /// `fresh` (or unknown), else read (without locks) and checked to be
    /// sellable by `shop`, in stock at the time of reading.
    pub(crate) async fn lines(
        &self,
        shop: Uuid,
        lines: &[(usize, Uuid, i64)],
        fresh: bool,
    ) -> CommerceResult<Vec<Reserved>> {
        let known: Option<Vec<SkuLine>> = if fresh {
            None
        } else {
            lines
                .iter()
                .map(|(_, sku, _)| self.sku_lines.get(sku).filter(|l| l.shop_id == shop))
                .collect()
        };
        let known = match known {
            Some(known) => known,
            None => {
                let read = read_lines(&self.pool, shop, lines).await?;
                for ((_, sku, _), line) in lines.iter().zip(&read) {
                    self.sku_lines.insert(*sku, line.clone());
                }
                read
            }
        };
        Ok(lines
            .iter()
            .zip(known)
            .map(|((_, sku, quantity), line)| Reserved {
                product_id: line.product_id,
                product_version: line.version,
                sku_id: *sku,
                title: line.title,
                sku_name: line.sku_name,
                unit_price_cents: line.price_cents,
                quantity: i32::try_from(*quantity).unwrap_or(0),
                affiliate_rate_bps: 0,
            })
            .collect())
    }

    /// The seller of `shop` (a shop's seller never changes: cached).
    pub(crate) async fn seller_of_shop(&self, shop: Uuid) -> CommerceResult<Uuid> {
        if let Some(seller) = self.shop_sellers.get(&shop) {
            return Ok(seller);
        }
        let seller: Option<Uuid> =
            sqlx::query_scalar("SELECT seller_id FROM shops WHERE shop_id = $1")
                .bind(shop)
                .fetch_optional(&self.pool)
                .await?;
        let seller = seller.ok_or_else(|| CommerceError::not_found("shop not found (shop_id)"))?;
        self.shop_sellers.insert(shop, seller);
        Ok(seller)
    }

    fn too_many_unpaid(&self, unpaid: &str) -> CommerceError {
        let cap = self.config.orders.max_unpaid_per_buyer;
        CommerceError::rule(
            Reason::TooManyUnpaidOrders,
            format!(
                "you have {unpaid} unpaid orders (at most {cap} at once, each holds stock): pay or cancel one first"
            ),
        )
    }

    /// The buyer's turn in a purchase's transaction (`commerce_buyer_turn`,
    /// migration 0011): their checkout lock, the cap on unpaid orders
    /// (refused past it) and attribution, which sets each item's rate.
    pub(crate) async fn buyer_turn(
        &self,
        tx: &mut PgConnection,
        buyer: Uuid,
        seller: Uuid,
        now: DateTime<Utc>,
        items: &mut [Reserved],
    ) -> CommerceResult<Option<Attribution>> {
        let since = now - chrono::Duration::hours(self.config.orders.attribution_window_hours);
        /// The creator attributed, the source and its id, each item's rate.
        type Turn = (Option<Uuid>, Option<i16>, Option<String>, Vec<i32>);
        let turn: Result<Turn, sqlx::Error> = sqlx::query_as(
            "SELECT o_creator, o_source, o_source_id, o_rates \
                 FROM commerce_buyer_turn($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(buyer)
        .bind(seller)
        .bind(items.iter().map(|i| i.product_id).collect::<Vec<_>>())
        .bind(since)
        .bind(now)
        .bind(self.config.orders.max_unpaid_per_buyer)
        .bind(crate::invitations::ACCEPTED)
        .fetch_one(&mut *tx)
        .await;
        let (creator, source, source_id, rates) = match turn {
            Ok(turn) => turn,
            Err(err) => {
                return Err(match raised(&err, TOO_MANY_UNPAID) {
                    Some(unpaid) => self.too_many_unpaid(&unpaid),
                    None => err.into(),
                });
            }
        };
        for (item, rate) in items.iter_mut().zip(rates) {
            item.affiliate_rate_bps = rate;
        }
        Ok(creator.map(|creator| Attribution {
            creator,
            source: source.unwrap_or_default(),
            source_id: source_id.unwrap_or_default(),
        }))
    }

    /// The order a PlaceOrder key already created, if any.
    pub(crate) async fn placed(
        &self,
        buyer: Uuid,
        key: &str,
        body_hash: &[u8],
    ) -> CommerceResult<Option<pb::Order>> {
        let row: Option<(Uuid, Vec<u8>)> = sqlx::query_as(
            "SELECT order_id, place_hash FROM orders WHERE buyer_id = $1 AND place_key = $2",
        )
        .bind(buyer)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some((id, h)) if h == body_hash => Ok(Some(self.order(id).await?)),
            Some(_) => Err(CommerceError::rule(
                Reason::IdempotencyKeyReused,
                "idempotency_key was used with another request",
            )),
        }
    }

    pub(crate) async fn pay_order(
        &self,
        caller: &Caller,
        req: pb::PayOrderRequest,
    ) -> CommerceResult<pb::PayOrderResponse> {
        let id = parse_id("order_id", &req.order_id)?;
        let receipt = req
            .receipt
            .clone()
            .ok_or_else(|| CommerceError::invalid("receipt", "is required"))?;
        let key = Key::new(
            caller,
            "PayOrder",
            &req.idempotency_key,
            &pb::PayOrderRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        let mut tx = self.pool.begin().await?;
        let order = order_for_update(&mut tx, id).await?;
        if order.actor(caller) != Some(Actor::Buyer) {
            return Err(if order.actor(caller).is_some() {
                CommerceError::denied("only the buyer pays an order")
            } else {
                not_found()
            });
        }
        if key.recall(&mut tx).await?.is_some() && order.status() != Status::Paying {
            drop(tx);
            return Ok(pb::PayOrderResponse {
                order: Some(self.order(id).await?),
            });
        }
        if order.status() != Status::Paying {
            machine::next(
                order.status(),
                Step::Pay,
                Actor::Buyer,
                &self.times(&order, self.clock.now()),
            )
            .map_err(refusal)?;
            sqlx::query("UPDATE orders SET status = $2, receipt = $3 WHERE order_id = $1")
                .bind(id)
                .bind(Status::Paying.id())
                .bind(receipt.encode_to_vec())
                .execute(&mut *tx)
                .await?;
        }
        key.remember(&mut tx, id).await?;
        tx.commit().await?;
        self.charge(id).await?;
        Ok(pb::PayOrderResponse {
            order: Some(self.order(id).await?),
        })
    }

    /// Sends a PAYING order's stored receipt to the wallet and records the
    /// outcome: ON_HOLD, or back to UNPAID when the wallet refuses it.
    pub(crate) async fn charge(&self, id: Uuid) -> CommerceResult<()> {
        let order = sqlx::query_as::<_, OrderRow>(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(not_found)?;
        let (Status::Paying, Some(bytes)) = (order.status(), order.receipt.clone()) else {
            return Ok(());
        };
        let receipt = wpb::PaymentReceipt::decode(bytes.as_slice())
            .map_err(|e| CommerceError::internal(anyhow::anyhow!("stored receipt: {e}")))?;
        let outcome = self
            .wallet
            .pay(
                id,
                order.buyer_id,
                order.seller_id,
                order.total_cents,
                receipt,
            )
            .await;
        let mut tx = self.pool.begin().await?;
        let order = order_for_update(&mut tx, id).await?;
        if order.status() != Status::Paying || order.receipt.as_deref() != Some(bytes.as_slice()) {
            // Another replica or the sweeper recorded the outcome first (the
            // wallet gave it the same answer): report that outcome.
            return match outcome {
                // Reported, not counted again: the recorder counted it.
                Err(WalletFailure::Declined(status)) => Err(wallet_refusal(&status)),
                Err(WalletFailure::Permanent(_)) => Err(payment_failed()),
                _ => Ok(()),
            };
        }
        let now = self.clock.now();
        match outcome {
            Ok(escrow) => {
                machine::next(
                    Status::Paying,
                    Step::PaymentConfirmed,
                    Actor::System,
                    &self.times(&order, now),
                )
                .map_err(refusal)?;
                let hold_until = now + chrono::Duration::minutes(self.config.orders.hold_minutes);
                // The commission is locked now, at the rates of the checkout.
                let commission = match order.affiliate_id {
                    None => 0,
                    Some(_) => {
                        let lines: Vec<(i64, i32)> = sqlx::query_as(
                            "SELECT unit_price_cents * quantity, affiliate_rate_bps FROM order_items WHERE order_id = $1",
                        )
                        .bind(id)
                        .fetch_all(&mut *tx)
                        .await?;
                        let lines: Vec<(i64, u32)> = lines
                            .into_iter()
                            .map(|(c, r)| (c, u32::try_from(r).unwrap_or(0)))
                            .collect();
                        machine::commission(&lines)
                    }
                };
                sqlx::query(
                    "UPDATE orders SET status = $2, escrow_id = $3, paid_at = $4, hold_until = $5, commission_cents = $6 WHERE order_id = $1",
                )
                .bind(id)
                .bind(Status::OnHold.id())
                .bind(escrow)
                .bind(now)
                .bind(hold_until)
                .bind(commission)
                .execute(&mut *tx)
                .await?;
                events::emit(
                    &mut tx,
                    &id.to_string(),
                    now,
                    ev::commerce_event::Payload::OrderPaid(ev::OrderPaid {
                        order_id: id.to_string(),
                        seller_id: order.seller_id.to_string(),
                        buyer_id: order.buyer_id.to_string(),
                        total_cents: order.total_cents,
                        escrow_id: escrow.to_string(),
                        affiliate_id: order
                            .affiliate_id
                            .map(|a| a.to_string())
                            .unwrap_or_default(),
                        commission_cents: commission,
                        source: i32::from(order.source),
                        source_id: order.source_id.clone(),
                    }),
                )
                .await?;
                tx.commit().await?;
                count(Status::OnHold);
                Ok(())
            }
            Err(
                failure @ (WalletFailure::Declined(_)
                | WalletFailure::Permanent(_)
                | WalletFailure::NotHeld),
            ) => {
                sqlx::query("UPDATE orders SET status = $2, receipt = NULL WHERE order_id = $1")
                    .bind(id)
                    .bind(Status::Unpaid.id())
                    .execute(&mut *tx)
                    .await?;
                // The refused attempt's keys go too, so the buyer may pay again.
                sqlx::query(
                    "DELETE FROM request_keys WHERE order_id = $1 AND scope LIKE '%/PayOrder'",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Err(payment_refusal(id, &failure))
            }
            Err(failure) => {
                tracing::warn!(order = %id, error = ?failure, "payment not confirmed; the sweeper retries");
                Err(unavailable(
                    "the payment is being confirmed; the order shows PAYING until it is",
                ))
            }
        }
    }

    pub(crate) async fn cancel_order(
        &self,
        caller: &Caller,
        req: pb::CancelOrderRequest,
    ) -> CommerceResult<pb::CancelOrderResponse> {
        let id = parse_id("order_id", &req.order_id)?;
        let reason = req.reason.trim().to_owned();
        if reason.chars().count() > 500 {
            return Err(CommerceError::invalid(
                "reason",
                "must be at most 500 characters",
            ));
        }
        let key = Key::new(
            caller,
            "CancelOrder",
            &req.idempotency_key,
            &pb::CancelOrderRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        self.cancel(id, Some((caller, &key)), &reason).await?;
        Ok(pb::CancelOrderResponse {
            order: Some(self.order(id).await?),
        })
    }

    /// Cancels `id` as the caller (or as the system, with `reason` naming
    /// why): stock back in the same transaction, the escrow refunded after.
    pub(crate) async fn cancel(
        &self,
        id: Uuid,
        by: Option<(&Caller, &Key)>,
        reason: &str,
    ) -> CommerceResult<()> {
        let mut tx = self.pool.begin().await?;
        let order = order_for_update(&mut tx, id).await?;
        let actor = match by {
            Some((caller, key)) => {
                let actor = order.actor(caller).ok_or_else(not_found)?;
                if key.recall(&mut tx).await?.is_some() {
                    return Ok(());
                }
                actor
            }
            None => Actor::System,
        };
        let now = self.clock.now();
        machine::next(
            order.status(),
            Step::Cancel,
            actor,
            &self.times(&order, now),
        )
        .map_err(refusal)?;
        return_stock(&mut tx, id).await?;
        let paid = order.escrow_id.is_some();
        let by_name = match actor {
            Actor::Buyer => "buyer",
            Actor::Seller => "seller",
            Actor::Admin => "admin",
            Actor::System => reason,
        };
        sqlx::query(
            "UPDATE orders SET status = $2, refund_all_due = $3, refunded_cents = CASE WHEN $3 THEN total_cents ELSE 0 END, \
             cancel_reason = $4, cancelled_by = $5, closed_at = $6 WHERE order_id = $1",
        )
        .bind(id)
        .bind(Status::Cancelled.id())
        .bind(paid)
        .bind(if actor == Actor::System { "" } else { reason })
        .bind(by_name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        events::emit(
            &mut tx,
            &id.to_string(),
            now,
            ev::commerce_event::Payload::OrderCancelled(ev::OrderCancelled {
                order_id: id.to_string(),
                seller_id: order.seller_id.to_string(),
                buyer_id: order.buyer_id.to_string(),
                refunded_cents: if paid { order.total_cents } else { 0 },
                by: by_name.to_owned(),
            }),
        )
        .await?;
        if let Some((_, key)) = by {
            key.remember(&mut tx, id).await?;
        }
        tx.commit().await?;
        count(Status::Cancelled);
        if paid {
            self.refund_all(id).await;
        }
        Ok(())
    }

    /// Returns everything a cancelled order's escrow holds to the card.
    pub(crate) async fn refund_all(&self, id: Uuid) {
        let escrow: Option<Option<Uuid>> = match sqlx::query_scalar(
            "SELECT escrow_id FROM orders WHERE order_id = $1 AND refund_all_due",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        {
            Ok(e) => e,
            Err(err) => {
                tracing::warn!(order = %id, error = %err, "loading a due refund failed");
                return;
            }
        };
        let Some(Some(escrow)) = escrow else { return };
        match self
            .wallet
            .refund(format!("commerce:cancel:{id}"), escrow, 0)
            .await
        {
            Ok(_) => {
                if let Err(err) =
                    sqlx::query("UPDATE orders SET refund_all_due = false WHERE order_id = $1")
                        .bind(id)
                        .execute(&self.pool)
                        .await
                {
                    tracing::warn!(order = %id, error = %err, "recording a refund failed; the sweeper retries");
                }
            }
            Err(failure) if failure.is_permanent() => {
                // Not retried: the flag goes, the problem stays on the order.
                wallet::alert("cancel_refund", id, &failure);
                let problem = format!(
                    "refunding the cancelled order's escrow {escrow}: {}",
                    failure.describe()
                );
                if let Err(err) = sqlx::query(
                    "UPDATE orders SET refund_all_due = false, wallet_problem = $2 WHERE order_id = $1",
                )
                .bind(id)
                .bind(problem)
                .execute(&self.pool)
                .await
                {
                    tracing::warn!(order = %id, error = %err, "recording a wallet refusal failed; the sweeper retries");
                }
            }
            Err(err) => {
                tracing::warn!(order = %id, error = ?err, "refund not confirmed; the sweeper retries");
            }
        }
    }

    pub(crate) async fn ship_order(
        &self,
        caller: &Caller,
        req: pb::ShipOrderRequest,
    ) -> CommerceResult<pb::ShipOrderResponse> {
        let id = parse_id("order_id", &req.order_id)?;
        let carrier = req.carrier.trim().to_owned();
        if carrier.is_empty() || carrier.chars().count() > 60 {
            return Err(CommerceError::invalid(
                "carrier",
                "must be 1..60 characters",
            ));
        }
        let tracking = req.tracking_number.trim().to_owned();
        if !(4..=64).contains(&tracking.len())
            || !tracking
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(CommerceError::invalid(
                "tracking_number",
                "must be 4..64 characters of A-Z, a-z, 0-9 and -",
            ));
        }
        let key = Key::new(
            caller,
            "ShipOrder",
            &req.idempotency_key,
            &pb::ShipOrderRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        self.step(id, caller, &key, Step::Ship, |tx, order, now| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE orders SET status = $2, carrier = $3, tracking_number = $4, shipped_at = $5 WHERE order_id = $1",
                )
                .bind(order.order_id)
                .bind(Status::Shipped.id())
                .bind(&carrier)
                .bind(&tracking)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                events::emit(
                    tx,
                    &order.order_id.to_string(),
                    now,
                    ev::commerce_event::Payload::OrderShipped(ev::OrderShipped {
                        order_id: order.order_id.to_string(),
                        carrier: carrier.clone(),
                        tracking_number: tracking.clone(),
                    }),
                )
                .await?;
                Ok(Status::Shipped)
            })
        })
        .await?;
        Ok(pb::ShipOrderResponse {
            order: Some(self.order(id).await?),
        })
    }

    pub(crate) async fn confirm_delivery(
        &self,
        caller: &Caller,
        req: pb::ConfirmDeliveryRequest,
    ) -> CommerceResult<pb::ConfirmDeliveryResponse> {
        let id = parse_id("order_id", &req.order_id)?;
        let key = Key::new(
            caller,
            "ConfirmDelivery",
            &req.idempotency_key,
            &pb::ConfirmDeliveryRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        let settle_days = self.config.orders.settle_after_days;
        self.step(id, caller, &key, Step::Deliver, |tx, order, now| {
            Box::pin(async move { delivered(tx, order.order_id, now, settle_days, false).await })
        })
        .await?;
        Ok(pb::ConfirmDeliveryResponse {
            order: Some(self.order(id).await?),
        })
    }

    /// Confirms delivery of a SHIPPED order its buyer has not confirmed
    /// `orders.auto_deliver_days` after shipping (the sweeper's carrier
    /// window); any other order is left as it is.
    pub(crate) async fn auto_deliver(&self, id: Uuid) -> CommerceResult<()> {
        let o = &self.config.orders;
        let mut tx = self.pool.begin().await?;
        let order = order_for_update(&mut tx, id).await?;
        let now = self.clock.now();
        let due = order
            .shipped_at
            .is_some_and(|at| now >= at + chrono::Duration::days(o.auto_deliver_days));
        if order.status() != Status::Shipped || !due {
            return Ok(());
        }
        machine::next(
            order.status(),
            Step::Deliver,
            Actor::System,
            &self.times(&order, now),
        )
        .map_err(refusal)?;
        let reached = delivered(&mut tx, id, now, o.settle_after_days, true).await?;
        tx.commit().await?;
        count(reached);
        Ok(())
    }

    /// One step by a caller: lock, check the key and the state machine, apply.
    async fn step<F>(
        &self,
        id: Uuid,
        caller: &Caller,
        key: &Key,
        step: Step,
        apply: F,
    ) -> CommerceResult<()>
    where
        F: for<'t> FnOnce(
            &'t mut PgConnection,
            OrderRow,
            DateTime<Utc>,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = CommerceResult<Status>> + Send + 't>,
        >,
    {
        let Begun::Fresh(mut tx, order, actor) = self.begin_keyed(id, caller, key).await? else {
            return Ok(());
        };
        let now = self.clock.now();
        machine::next(order.status(), step, actor, &self.times(&order, now)).map_err(refusal)?;
        let reached = apply(&mut tx, order, now).await?;
        key.remember(&mut tx, id).await?;
        tx.commit().await?;
        count(reached);
        Ok(())
    }

    pub(crate) async fn refund_order(
        &self,
        caller: &Caller,
        req: pb::RefundOrderRequest,
    ) -> CommerceResult<pb::RefundOrderResponse> {
        let id = parse_id("order_id", &req.order_id)?;
        let reason = crate::returns::text("reason", &req.reason, true)?;
        refund_amount(req.amount_cents)?;
        let key = Key::new(
            caller,
            "RefundOrder",
            &req.idempotency_key,
            &pb::RefundOrderRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        let (mut tx, order, actor) = match self.begin_keyed(id, caller, &key).await? {
            Begun::Fresh(tx, order, actor) => (tx, order, actor),
            Begun::Repeat(order) => {
                return Ok(pb::RefundOrderResponse { order: Some(order) });
            }
        };
        if crate::returns::pending(&mut tx, id).await? {
            return Err(crate::returns::return_pending());
        }
        let now = self.clock.now();
        let (refund_id, to) = self
            .record_refund(
                &mut tx,
                &order,
                actor,
                req.amount_cents,
                &reason,
                format!("{}/{}", key.scope, key.key),
                now,
            )
            .await?;
        key.remember(&mut tx, id).await?;
        tx.commit().await?;
        count(to);
        self.send_refund(refund_id).await;
        Ok(pb::RefundOrderResponse {
            order: Some(self.order(id).await?),
        })
    }

    /// Records a refund of `amount` (0: everything not yet refunded) of the
    /// locked `order` by `actor`, with its `OrderRefunded`: the refund row
    /// (sent to the wallet after the commit) and the state reached. The
    /// window is checked at `asked_at` (a return requested in time is
    /// honoured after it).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn record_refund(
        &self,
        tx: &mut PgConnection,
        order: &OrderRow,
        actor: Actor,
        amount: i64,
        reason: &str,
        request_key: String,
        asked_at: DateTime<Utc>,
    ) -> CommerceResult<(Uuid, Status)> {
        let id = order.order_id;
        let refundable = order.total_cents - order.refunded_cents;
        let amount = if amount == 0 { refundable } else { amount };
        let full = amount >= refundable;
        let now = self.clock.now();
        let to = machine::next(
            order.status(),
            Step::Refund { full },
            actor,
            &Times {
                now: Some(asked_at),
                ..self.times(order, now)
            },
        )
        .map_err(refusal)?;
        if amount > refundable {
            return Err(CommerceError::rule(
                Reason::RefundTooLarge,
                format!("amount_cents: at most the {refundable} cents not yet refunded"),
            ));
        }
        if order.settle_due {
            return Err(refusal(Refusal::RefundWindowClosed));
        }
        let refund_id = loop_platform::ids::new_id();
        sqlx::query(
            "INSERT INTO order_refunds (refund_id, order_id, amount_cents, reason, request_key) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(refund_id)
        .bind(id)
        .bind(amount)
        .bind(reason)
        .bind(request_key)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE orders SET status = $2, refunded_cents = refunded_cents + $3, \
             closed_at = CASE WHEN $4 THEN $5 ELSE closed_at END WHERE order_id = $1",
        )
        .bind(id)
        .bind(to.id())
        .bind(amount)
        .bind(full)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        events::emit(
            tx,
            &id.to_string(),
            now,
            ev::commerce_event::Payload::OrderRefunded(ev::OrderRefunded {
                order_id: id.to_string(),
                amount_cents: amount,
                refunded_cents: order.refunded_cents + amount,
                full,
            }),
        )
        .await?;
        Ok((refund_id, to))
    }

    /// Sends one recorded refund to the wallet; marks it done once confirmed.
    pub(crate) async fn send_refund(&self, refund: Uuid) {
        let row: Result<Option<(Uuid, i64, Option<Uuid>)>, _> = sqlx::query_as(
            "SELECT r.order_id, r.amount_cents, o.escrow_id FROM order_refunds r JOIN orders o USING (order_id) \
             WHERE r.refund_id = $1 AND NOT r.done",
        )
        .bind(refund)
        .fetch_optional(&self.pool)
        .await;
        let (order, amount, escrow) = match row {
            Ok(Some((o, a, Some(e)))) => (o, a, e),
            Ok(_) => return,
            Err(err) => {
                tracing::warn!(refund = %refund, error = %err, "loading a refund failed");
                return;
            }
        };
        match self
            .wallet
            .refund(format!("commerce:refund:{refund}"), escrow, amount)
            .await
        {
            Ok(_) => {
                if let Err(err) =
                    sqlx::query("UPDATE order_refunds SET done = true WHERE refund_id = $1")
                        .bind(refund)
                        .execute(&self.pool)
                        .await
                {
                    tracing::warn!(refund = %refund, error = %err, "recording a refund failed; the sweeper retries");
                }
            }
            Err(failure) if failure.is_permanent() => {
                // Marked failed (not resent) and put on the order, whose
                // settlement then waits for a person instead of silently
                // paying the seller what the buyer was promised back.
                wallet::alert("refund", order, &failure);
                let why = failure.describe();
                let marked = async {
                    let mut tx = self.pool.begin().await?;
                    sqlx::query(
                        "UPDATE order_refunds SET failed = true, failure = $2 WHERE refund_id = $1",
                    )
                    .bind(refund)
                    .bind(&why)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE orders SET wallet_problem = $2 WHERE order_id = $1")
                        .bind(order)
                        .bind(format!("refund {refund} of {amount} cents: {why}"))
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await
                };
                if let Err(err) = marked.await {
                    tracing::warn!(refund = %refund, error = %err, "recording a wallet refusal failed; the sweeper retries");
                }
            }
            Err(err) => {
                tracing::warn!(order = %order, refund = %refund, error = ?err, "refund not confirmed; the sweeper retries");
            }
        }
    }

    /// Pays the seller of a DELIVERED order whose settlement day has come
    /// (and whose refunds have all gone through): fixes the split, then
    /// releases the escrow with it.
    pub(crate) async fn settle(&self, id: Uuid) -> CommerceResult<()> {
        let mut tx = self.pool.begin().await?;
        let order = order_for_update(&mut tx, id).await?;
        let pending: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM order_refunds WHERE order_id = $1 AND NOT done)",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if pending
            || !order.wallet_problem.is_empty()
            || crate::returns::pending(&mut tx, id).await?
        {
            // A refund still on its way, one the wallet refused for good
            // (then the order carries the problem, counted and logged), or
            // a return request waiting for its answer.
            return Ok(());
        }
        let now = self.clock.now();
        let (seller_cents, fee_cents, affiliate_cents, commission_at) = if order.settle_due {
            (
                order.seller_cents,
                order.fee_cents,
                order.affiliate_cents,
                order.commission_at,
            )
        } else {
            machine::next(
                order.status(),
                Step::Settle,
                Actor::System,
                &self.times(&order, now),
            )
            .map_err(refusal)?;
            let split = machine::settlement(
                order.total_cents,
                order.refunded_cents,
                self.config.orders.referral_fee_bps,
                order.commission_cents,
            );
            let commission_at = order
                .delivered_at
                .map(|d| d + chrono::Duration::days(self.config.orders.commission_after_days));
            sqlx::query(
                "UPDATE orders SET settle_due = true, seller_cents = $2, fee_cents = $3, affiliate_cents = $4, commission_at = $5 WHERE order_id = $1",
            )
            .bind(id)
            .bind(split.0)
            .bind(split.1)
            .bind(split.2)
            .bind(commission_at)
            .execute(&mut *tx)
            .await?;
            (split.0, split.1, split.2, commission_at)
        };
        tx.commit().await?;
        let escrow = order.escrow_id.ok_or_else(|| {
            CommerceError::internal(anyhow::anyhow!("delivered order {id} has no escrow"))
        })?;
        // A commission due after the settlement stays held in the escrow
        // (fixed with the split, so a retry sends the same body).
        let held_back = affiliate_cents > 0
            && order.affiliate_id.is_some()
            && commission_at
                .zip(order.settle_at)
                .is_some_and(|(c, s)| c > s);
        let (affiliate, keep) = if held_back {
            (None, affiliate_cents)
        } else {
            (order.affiliate_id.map(|a| (a, affiliate_cents)), 0)
        };
        let released = match self
            .wallet
            .settle(id, escrow, fee_cents, affiliate, keep)
            .await
        {
            Ok(e) => e,
            Err(WalletFailure::Unavailable(why)) => return Err(unavailable(why)),
            Err(failure) => {
                wallet::alert("settle", id, &failure);
                sqlx::query("UPDATE orders SET wallet_problem = $2 WHERE order_id = $1")
                    .bind(id)
                    .bind(format!("settling: {}", failure.describe()))
                    .execute(&self.pool)
                    .await?;
                return Err(CommerceError::internal(anyhow::anyhow!(
                    "settling order {id}: {failure:?}"
                )));
            }
        };
        if released.payee_cents != seller_cents
            || released.platform_fee_cents != fee_cents
            || released.affiliate_cents != if held_back { 0 } else { affiliate_cents }
        {
            tracing::error!(order = %id, payee = released.payee_cents, seller_cents, "the wallet released another split than the order fixed");
        }
        let mut tx = self.pool.begin().await?;
        let order = order_for_update(&mut tx, id).await?;
        if !order.settle_due {
            return Ok(());
        }
        let paid_now = affiliate_cents > 0 && !held_back;
        sqlx::query(
            "UPDATE orders SET status = $2, settle_due = false, closed_at = $3, \
             commission_paid_at = CASE WHEN $4 THEN $3 END WHERE order_id = $1",
        )
        .bind(id)
        .bind(Status::Completed.id())
        .bind(now)
        .bind(paid_now)
        .execute(&mut *tx)
        .await?;
        events::emit(
            &mut tx,
            &id.to_string(),
            now,
            ev::commerce_event::Payload::OrderCompleted(ev::OrderCompleted {
                order_id: id.to_string(),
                seller_id: order.seller_id.to_string(),
                seller_cents,
                fee_cents,
                affiliate_id: order
                    .affiliate_id
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                affiliate_cents,
            }),
        )
        .await?;
        if paid_now {
            emit_commission_paid(&mut tx, &order, now).await?;
        }
        tx.commit().await?;
        count(Status::Completed);
        Ok(())
    }

    /// Pays the commission a settlement kept held in the escrow, once its
    /// day (`commission_at`, delivery + `commission_after_days`) has come.
    /// The amount was fixed at the settlement, so a retry (another replica,
    /// the sweeper after a crash) sends the same body under the same key.
    pub(crate) async fn pay_commission(&self, id: Uuid) -> CommerceResult<()> {
        let order = sqlx::query_as::<_, OrderRow>(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(not_found)?;
        let now = self.clock.now();
        let due = order.status() == Status::Completed
            && order.affiliate_cents > 0
            && order.commission_paid_at.is_none()
            && order.wallet_problem.is_empty()
            && order.commission_at.is_some_and(|at| at <= now);
        let (true, Some(affiliate), Some(escrow)) = (due, order.affiliate_id, order.escrow_id)
        else {
            return Ok(());
        };
        match self
            .wallet
            .pay_commission(id, escrow, affiliate, order.affiliate_cents)
            .await
        {
            Ok(_) => {}
            Err(WalletFailure::Unavailable(why)) => return Err(unavailable(why)),
            Err(failure) => {
                wallet::alert("commission", id, &failure);
                sqlx::query("UPDATE orders SET wallet_problem = $2 WHERE order_id = $1")
                    .bind(id)
                    .bind(format!("paying the commission: {}", failure.describe()))
                    .execute(&self.pool)
                    .await?;
                return Err(CommerceError::internal(anyhow::anyhow!(
                    "paying the commission of order {id}: {failure:?}"
                )));
            }
        }
        let mut tx = self.pool.begin().await?;
        let order = order_for_update(&mut tx, id).await?;
        if order.commission_paid_at.is_some() {
            return Ok(());
        }
        sqlx::query("UPDATE orders SET commission_paid_at = $2 WHERE order_id = $1")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        emit_commission_paid(&mut tx, &order, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn get_order(
        &self,
        caller: &Caller,
        req: pb::GetOrderRequest,
    ) -> CommerceResult<pb::GetOrderResponse> {
        let id = parse_id("order_id", &req.order_id)?;
        let row = sqlx::query_as::<_, OrderRow>(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(not_found)?;
        if row.actor(caller).is_none() {
            return Err(not_found());
        }
        Ok(pb::GetOrderResponse {
            order: Some(self.to_proto(row).await?),
        })
    }

    pub(crate) async fn list_orders(
        &self,
        caller: &Caller,
        req: pb::ListOrdersRequest,
    ) -> CommerceResult<pb::ListOrdersResponse> {
        let me = caller.user_id()?;
        let column = match pb::OrderRole::try_from(req.role) {
            Ok(pb::OrderRole::Seller) => "seller_id",
            Ok(_) => "buyer_id",
            Err(_) => return Err(CommerceError::invalid("role", "is not an order role")),
        };
        // Admins' queue: every order with a wallet problem.
        let (filter, party) = if req.needs_attention {
            caller.require_role(&[Role::Admin])?;
            ("$1::uuid IS NULL AND wallet_problem <> ''".to_owned(), None)
        } else {
            (format!("{column} = $1"), Some(me))
        };
        let status = match req.status {
            0 => None,
            s => Some(
                i16::try_from(s)
                    .ok()
                    .and_then(Status::from_id)
                    .ok_or_else(|| CommerceError::invalid("status", "is not an order status"))?
                    .id(),
            ),
        };
        let page = req.page.unwrap_or_default();
        let limit = loop_platform::pagination::page_size(page.page_size);
        let after: Option<Uuid> = loop_platform::pagination::decode(&page.page_token)?;
        let rows = sqlx::query_as::<_, OrderRow>(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE {filter} AND ($2::smallint IS NULL OR status = $2) \
             AND ($3::uuid IS NULL OR order_id < $3) ORDER BY order_id DESC LIMIT $4"
        ))
        .bind(party)
        .bind(status)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = loop_platform::pagination::finish(rows, limit, |r| r.order_id);
        let mut orders = Vec::with_capacity(rows.len());
        for row in rows {
            orders.push(self.to_proto(row).await?);
        }
        Ok(pb::ListOrdersResponse {
            orders,
            page: Some(loop_proto::common::v1::PageResponse {
                next_page_token: next,
            }),
        })
    }

    pub(crate) async fn retry_wallet_step(
        &self,
        caller: &Caller,
        req: pb::RetryWalletStepRequest,
    ) -> CommerceResult<pb::RetryWalletStepResponse> {
        caller.require_role(&[Role::Admin])?;
        let admin = caller.user_id()?;
        let id = parse_id("order_id", &req.order_id)?;
        let note = req.note.trim();
        if note.is_empty() || note.chars().count() > 500 {
            return Err(CommerceError::invalid(
                "note",
                "must be 1..500 characters (what was fixed)",
            ));
        }
        let mut tx = self.pool.begin().await?;
        let order = order_for_update(&mut tx, id).await?;
        if order.wallet_problem.is_empty() {
            return Err(CommerceError::rule(
                Reason::NothingToRetry,
                "order_id: the order has no wallet step to retry",
            ));
        }
        sqlx::query(
            "INSERT INTO order_interventions (intervention_id, order_id, admin_id, problem, note, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(loop_platform::ids::new_id())
        .bind(id)
        .bind(admin)
        .bind(&order.wallet_problem)
        .bind(note)
        .bind(self.clock.now())
        .execute(&mut *tx)
        .await?;
        // The failed refunds go again with their keys; a cancelled order's
        // refund of everything held is due again (its only money step).
        sqlx::query(
            "UPDATE order_refunds SET failed = false WHERE order_id = $1 AND failed AND NOT done",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE orders SET wallet_problem = '', \
             refund_all_due = refund_all_due OR (status = $2 AND escrow_id IS NOT NULL) WHERE order_id = $1",
        )
        .bind(id)
        .bind(Status::Cancelled.id())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::warn!(order = %id, admin = %admin, problem = %order.wallet_problem, note, "an admin retries a wallet step");
        Ok(pb::RetryWalletStepResponse {
            order: Some(self.order(id).await?),
        })
    }

    pub(crate) async fn order(&self, id: Uuid) -> CommerceResult<pb::Order> {
        let row = sqlx::query_as::<_, OrderRow>(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(not_found)?;
        self.to_proto(row).await
    }

    async fn to_proto(&self, o: OrderRow) -> CommerceResult<pb::Order> {
        let items = sqlx::query_as::<_, ItemRow>(
            "SELECT product_id, product_version, sku_id, title, sku_name, unit_price_cents, quantity, affiliate_rate_bps \
             FROM order_items WHERE order_id = $1 ORDER BY idx",
        )
        .bind(o.order_id)
        .fetch_all(&self.pool)
        .await?;
        let return_request = if o.delivered_at.is_some() {
            crate::returns::latest(&self.pool, o.order_id).await?
        } else {
            None
        };
        Ok(self.proto_of(o, items, return_request))
    }

    /// An order as clients see it, from its row, its lines and its latest
    /// return request.
    fn proto_of(
        &self,
        o: OrderRow,
        items: Vec<ItemRow>,
        return_request: Option<pb::ReturnRequest>,
    ) -> pb::Order {
        let ts = |t: Option<DateTime<Utc>>| loop_platform::time::opt_timestamp(t);
        let status = machine::effective(o.status(), &self.times(&o, self.clock.now()));
        pb::Order {
            return_request,
            order_id: o.order_id.to_string(),
            shop_id: o.shop_id.to_string(),
            seller_id: o.seller_id.to_string(),
            buyer_id: o.buyer_id.to_string(),
            status: status.to_proto() as i32,
            items: items
                .into_iter()
                .map(|i| pb::OrderItem {
                    product_id: i.product_id.to_string(),
                    product_version: u32::try_from(i.product_version).unwrap_or(0),
                    sku_id: i.sku_id.to_string(),
                    title: i.title,
                    sku_name: i.sku_name,
                    unit_price_cents: i.unit_price_cents,
                    quantity: u32::try_from(i.quantity).unwrap_or(0),
                    line_cents: i.unit_price_cents * i64::from(i.quantity),
                    affiliate_rate_bps: u32::try_from(i.affiliate_rate_bps).unwrap_or(0),
                })
                .collect(),
            total_cents: o.total_cents,
            refunded_cents: o.refunded_cents,
            seller_cents: if o.status() == Status::Completed {
                o.seller_cents
            } else {
                0
            },
            fee_cents: if o.status() == Status::Completed {
                o.fee_cents
            } else {
                0
            },
            escrow_id: o.escrow_id.map(|e| e.to_string()).unwrap_or_default(),
            affiliate_id: o.affiliate_id.map(|a| a.to_string()).unwrap_or_default(),
            commission_cents: match o.status() {
                Status::Completed => o.affiliate_cents,
                Status::Cancelled | Status::Refunded => 0,
                _ => machine::commission_after_refunds(
                    o.commission_cents,
                    o.total_cents,
                    o.refunded_cents,
                ),
            },
            wallet_problem: o.wallet_problem,
            carrier: o.carrier,
            tracking_number: o.tracking_number,
            cancel_reason: o.cancel_reason,
            created_at: ts(Some(o.created_at)),
            paid_at: ts(o.paid_at),
            hold_until: ts(o.hold_until),
            shipped_at: ts(o.shipped_at),
            delivered_at: ts(o.delivered_at),
            settle_at: ts(o.settle_at),
            closed_at: ts(o.closed_at),
        }
    }
}

/// `CommissionPaid` for an order's affiliate, in the open transaction.
async fn emit_commission_paid(
    tx: &mut PgConnection,
    order: &OrderRow,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    events::emit(
        tx,
        &order.order_id.to_string(),
        now,
        ev::commerce_event::Payload::CommissionPaid(ev::CommissionPaid {
            order_id: order.order_id.to_string(),
            affiliate_id: order
                .affiliate_id
                .map(|a| a.to_string())
                .unwrap_or_default(),
            affiliate_cents: order.affiliate_cents,
        }),
    )
    .await
}

/// Whom a checkout is attributed to, and from where (the last visit).
#[derive(Debug, Clone)]
pub(crate) struct Attribution {
    pub creator: Uuid,
    /// loop.commerce.v1.ReferralSource.
    pub source: i16,
    pub source_id: String,
}

/// One reserved line of a checkout.
#[derive(Clone)]
pub(crate) struct Reserved {
    pub product_id: Uuid,
    pub product_version: i32,
    pub sku_id: Uuid,
    pub title: String,
    pub sku_name: String,
    pub unit_price_cents: i64,
    pub quantity: i32,
    pub affiliate_rate_bps: i32,
}

impl From<&Reserved> for ItemRow {
    fn from(r: &Reserved) -> Self {
        Self {
            product_id: r.product_id,
            product_version: r.product_version,
            sku_id: r.sku_id,
            title: r.title.clone(),
            sku_name: r.sku_name.clone(),
            unit_price_cents: r.unit_price_cents,
            quantity: r.quantity,
            affiliate_rate_bps: r.affiliate_rate_bps,
        }
    }
}

/// A new UNPAID order with its reserved lines.
pub(crate) struct NewOrder<'a> {
    pub order_id: Uuid,
    pub shop: Uuid,
    pub seller: Uuid,
    pub buyer: Uuid,
    pub key: &'a str,
    pub body_hash: &'a [u8],
    pub now: DateTime<Utc>,
    pub affiliate: Option<Attribution>,
    /// Where the order was placed when no affiliate's visit says so (a LIVE
    /// sale: `ReferralSource::Live` and the room), for the ranker.
    pub origin: Option<(i16, String)>,
    /// The flash sale the order was bought in.
    pub flash_sale: Option<Uuid>,
    pub items: &'a [Reserved],
}

impl NewOrder<'_> {
    pub(crate) fn total_cents(&self) -> i64 {
        self.items
            .iter()
            .map(|it| it.unit_price_cents * i64::from(it.quantity))
            .sum()
    }
}

/// Writes the order, its lines and its `OrderPlaced` in a purchase's
/// transaction with one statement (`commerce_insert_order`, migration 0011;
/// quietly: the caller wakes the relay after its commit) and returns the
/// order as stored. A unique violation is a concurrent duplicate of the key.
pub(crate) async fn insert_order(
    tx: &mut PgConnection,
    o: &NewOrder<'_>,
) -> Result<OrderRow, sqlx::Error> {
    let event = placed_event(o);
    bind_order(sqlx::query_as::<_, OrderRow>(&INSERT_ORDER), o, event)
        .bind(
            o.items
                .iter()
                .map(|i| i.affiliate_rate_bps)
                .collect::<Vec<_>>(),
        )
        .bind(o.affiliate.as_ref().map(|a| a.creator))
        .bind(o.affiliate.as_ref().map_or_else(
            || o.origin.as_ref().map_or(0, |(source, _)| *source),
            |a| a.source,
        ))
        .bind(o.affiliate.as_ref().map_or_else(
            || {
                o.origin
                    .as_ref()
                    .map_or("", |(_, id)| id.as_str())
                    .to_owned()
            },
            |a| a.source_id.clone(),
        ))
        .bind(o.flash_sale)
        .fetch_one(&mut *tx)
        .await
}

/// `$1, $2, ... $n`.
pub(crate) fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Calls `commerce_insert_order` (27 parameters), returning the order.
static INSERT_ORDER: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {ORDER_COLUMNS} FROM commerce_insert_order({})",
        placeholders(27)
    )
});

/// Calls `commerce_place_order` (26 parameters), returning the order and
/// each line's commission rate.
static PLACE_ORDER: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let columns: Vec<String> = ORDER_COLUMNS
        .split(", ")
        .map(|c| format!("(r.placed).{c}"))
        .collect();
    format!(
        "SELECT {}, r.rates FROM commerce_place_order({}) r",
        columns.join(", "),
        placeholders(26)
    )
});

/// The `OrderPlaced` outbox row of `o`.
pub(crate) fn placed_event(o: &NewOrder<'_>) -> events::OutboxRow {
    events::outbox_row(
        &o.order_id.to_string(),
        o.now,
        ev::commerce_event::Payload::OrderPlaced(ev::OrderPlaced {
            order_id: o.order_id.to_string(),
            shop_id: o.shop.to_string(),
            seller_id: o.seller.to_string(),
            buyer_id: o.buyer.to_string(),
            total_cents: o.total_cents(),
            units: o
                .items
                .iter()
                .map(|i| u32::try_from(i.quantity).unwrap_or(0))
                .sum(),
        }),
    )
}

/// Binds the 22 parameters `commerce_insert_order` and
/// `commerce_place_order` share (the order, its lines, its event), in
/// their order.
fn bind_order<'q, O>(
    q: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    o: &NewOrder<'_>,
    event: events::OutboxRow,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    let its = o.items;
    q.bind(o.order_id)
        .bind(o.shop)
        .bind(o.seller)
        .bind(o.buyer)
        .bind(Status::Unpaid.id())
        .bind(o.total_cents())
        .bind(o.key.to_owned())
        .bind(o.body_hash.to_vec())
        .bind(o.now)
        .bind(its.iter().map(|i| i.product_id).collect::<Vec<_>>())
        .bind(its.iter().map(|i| i.product_version).collect::<Vec<_>>())
        .bind(its.iter().map(|i| i.sku_id).collect::<Vec<_>>())
        .bind(its.iter().map(|i| i.title.clone()).collect::<Vec<_>>())
        .bind(its.iter().map(|i| i.sku_name.clone()).collect::<Vec<_>>())
        .bind(its.iter().map(|i| i.unit_price_cents).collect::<Vec<_>>())
        .bind(its.iter().map(|i| i.quantity).collect::<Vec<_>>())
        .bind(event.event_id)
        .bind(event.topic)
        .bind(event.key)
        .bind(event.event_type)
        .bind(event.payload)
        .bind(event.headers)
}

/// SQLSTATEs the checkout's functions raise (migration 0011); the DETAIL
/// of each is [`raised`]'s answer.
/// The buyer's unpaid orders are at the cap (DETAIL: how many).
const TOO_MANY_UNPAID: &str = "LC001";
/// A line could not be taken (DETAIL: its 1-based position).
const LINE_NOT_TAKEN: &str = "LC002";
/// A unique violation: another checkout of the key committed first.
const UNIQUE_VIOLATION: &str = "23505";

/// The DETAIL of `err` when the database raised `code`.
fn raised(err: &sqlx::Error, code: &str) -> Option<String> {
    let db = err.as_database_error()?;
    if db.code().as_deref() != Some(code) {
        return None;
    }
    let detail = db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .and_then(|e| e.detail())
        .unwrap_or_default();
    Some(detail.to_owned())
}

/// What [`CommerceService::place`] came to.
enum Placed {
    Order(Box<pb::Order>),
    /// A line's SKU or product changed since it was read: read again.
    Changed,
}

/// `commerce_place_order`'s answer.
#[derive(sqlx::FromRow)]
struct PlacedRow {
    #[sqlx(flatten)]
    order: OrderRow,
    rates: Vec<i32>,
}

/// Why `quantity` units of `sku` cannot be taken: gone, retired, or too
/// few; `None` when they could be now (the SKU or product changed).
async fn why_not(
    pool: &sqlx::PgPool,
    field: &str,
    sku: Uuid,
    quantity: i64,
) -> Option<CommerceError> {
    let known: Result<Option<(bool, i64)>, sqlx::Error> =
        sqlx::query_as("SELECT retired, stock FROM skus WHERE sku_id = $1")
            .bind(sku)
            .fetch_optional(pool)
            .await;
    match known {
        Err(err) => Some(err.into()),
        Ok(None) => Some(CommerceError::not_found(format!("SKU not found ({field})"))),
        Ok(Some((true, _))) => Some(CommerceError::rule(
            Reason::NotForSale,
            format!("{field}: the SKU is no longer sold"),
        )),
        Ok(Some((false, stock))) if stock < quantity => Some(CommerceError::rule(
            Reason::OutOfStock,
            format!("{field}: only {stock} left, {quantity} asked"),
        )),
        Ok(Some(_)) => None,
    }
}

/// What a checkout needs of a sellable SKU (memoised per process in
/// `CommerceService::sku_lines`; the checkout's statement checks price,
/// name and the product's version and status again).
#[derive(Clone)]
pub(crate) struct SkuLine {
    product_id: Uuid,
    version: i32,
    shop_id: Uuid,
    title: String,
    sku_name: String,
    price_cents: i64,
}

/// A checkout line as [`read_lines`] reads it.
#[derive(sqlx::FromRow)]
struct LineRow {
    sku_id: Option<Uuid>,
    product_id: Option<Uuid>,
    name: Option<String>,
    price_cents: Option<i64>,
    stock: Option<i64>,
    retired: Option<bool>,
    status: Option<i16>,
    version: Option<i32>,
    shop_id: Option<Uuid>,
    title: Option<String>,
}

/// Reads every line of a checkout (in one statement, without locks),
/// checking each can be sold by `shop`: `lines` are (index in the request,
/// SKU, quantity). The checkout's statement takes the units, checking stock
/// and what was read again.
async fn read_lines(
    pool: &sqlx::PgPool,
    shop: Uuid,
    lines: &[(usize, Uuid, i64)],
) -> CommerceResult<Vec<SkuLine>> {
    let skus: Vec<Uuid> = lines.iter().map(|(_, sku, _)| *sku).collect();
    let rows: Vec<LineRow> = sqlx::query_as(
        "SELECT s.sku_id, s.product_id, s.name, s.price_cents, s.stock, s.retired, \
                p.status, p.version, p.shop_id, v.title \
         FROM unnest($1::uuid[]) WITH ORDINALITY AS q(sku_id, n) \
         LEFT JOIN skus s ON s.sku_id = q.sku_id \
         LEFT JOIN products p ON p.product_id = s.product_id \
         LEFT JOIN product_versions v ON v.product_id = p.product_id AND v.version = p.version \
         ORDER BY q.n",
    )
    .bind(&skus)
    .fetch_all(pool)
    .await?;
    let mut read = Vec::with_capacity(lines.len());
    for ((index, _, quantity), row) in lines.iter().zip(rows) {
        let field = format!("items[{index}].sku_id");
        let (
            Some(_),
            Some(product_id),
            Some(sku_name),
            Some(price_cents),
            Some(stock),
            Some(retired),
            Some(status),
            Some(version),
            Some(shop_id),
            Some(title),
        ) = (
            row.sku_id,
            row.product_id,
            row.name,
            row.price_cents,
            row.stock,
            row.retired,
            row.status,
            row.version,
            row.shop_id,
            row.title,
        )
        else {
            return Err(CommerceError::not_found(format!("SKU not found ({field})")));
        };
        if retired {
            return Err(CommerceError::rule(
                Reason::NotForSale,
                format!("{field}: the SKU is no longer sold"),
            ));
        }
        if stock < *quantity {
            return Err(CommerceError::rule(
                Reason::OutOfStock,
                format!("{field}: only {stock} left, {quantity} asked"),
            ));
        }
        if shop_id != shop {
            return Err(CommerceError::rule(
                Reason::NotForSale,
                format!("{field}: the SKU belongs to another shop (one order, one shop)"),
            ));
        }
        if status != APPROVED {
            return Err(CommerceError::rule(
                Reason::NotForSale,
                format!("{field}: the product is not approved for sale"),
            ));
        }
        read.push(SkuLine {
            product_id,
            version,
            shop_id,
            title,
            sku_name,
            price_cents,
        });
    }
    Ok(read)
}

/// Gives a cancelled order's units back, in the cancelling transaction.
/// A flash-sale order's units go back to its sale while it runs.
async fn return_stock(tx: &mut PgConnection, order: Uuid) -> CommerceResult<()> {
    if crate::flash::return_units(tx, order).await? {
        return Ok(());
    }
    let items: Vec<(Uuid, i32)> = sqlx::query_as(
        "SELECT sku_id, quantity FROM order_items WHERE order_id = $1 ORDER BY sku_id",
    )
    .bind(order)
    .fetch_all(&mut *tx)
    .await?;
    for (sku, quantity) in items {
        sqlx::query("UPDATE skus SET stock = stock + $2 WHERE sku_id = $1")
            .bind(sku)
            .bind(i64::from(quantity))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
