//! A hot SKU's single-line checkouts, batched: per SKU and process one task
//! takes every checkout waiting for that SKU (up to [`MAX_BATCH`]) and places
//! them with one call of `commerce_place_orders` (migration 0011): one round
//! trip and one commit for the batch, each order in its own subtransaction.
//!
//! Why: a checkout holds its SKU's row from taking the units until its
//! commit is flushed, so one SKU's checkouts otherwise flush one at a time,
//! each a database wake-up and a WAL flush (a TPC-B-like ceiling). Batched,
//! the row is held once per batch. What each order sees is unchanged: the
//! buyer's turn (lock, unpaid cap, attribution), the order and its event,
//! then its units, in queue order; one refused order leaves the others.
//!
//! The task answers each checkout with the raw outcome; the checkout maps
//! refusals to their reasons (reading the SKU or the key's order when it
//! must), so the task never waits on anything but the batch's statement.

use sqlx::Row;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::error::{CommerceError, CommerceResult, unavailable};
use crate::orders::{NewOrder, OrderRow, Reserved};
use crate::service::CommerceService;

/// Most checkouts placed by one call (each is a subtransaction: PostgreSQL
/// keeps 64 per transaction in its fast cache).
pub(crate) const MAX_BATCH: usize = 32;

/// One single-line checkout waiting for its SKU's task.
pub(crate) struct Checkout {
    pub buyer: Uuid,
    pub shop: Uuid,
    pub seller: Uuid,
    pub key: String,
    pub body_hash: Vec<u8>,
    /// The line's index in the request (for field names).
    pub index: usize,
    pub quantity: i64,
    /// Read the SKU afresh rather than from the memo.
    pub fresh: bool,
}

/// What became of one checkout of a batch.
pub(crate) enum Outcome {
    /// Placed: the order as stored, its line (with its rate).
    Placed(Box<OrderRow>, Reserved),
    /// Refused by the database: the SQLSTATE and DETAIL it raised.
    Raised(String, String),
}

type Job = crate::batching::Job<Checkout, Outcome>;

/// Per process: each SKU's batching task.
pub(crate) type HotSkus = crate::batching::Tasks<Uuid, Checkout, Outcome>;

/// Queues `checkout` on `sku`'s task (starting one if needed) and waits for
/// its outcome.
pub(crate) async fn submit(
    service: &CommerceService,
    sku: Uuid,
    checkout: Checkout,
) -> CommerceResult<Outcome> {
    service
        .hot_skus
        .submit(&sku, checkout, |rx| {
            tokio::spawn(run(service.clone(), sku, rx));
        })
        .await
}

async fn run(service: CommerceService, sku: Uuid, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(batch) = service.hot_skus.next_batch(&sku, &mut rx, MAX_BATCH).await {
        place(&service, sku, batch).await;
    }
}

/// Places one batch and answers each of its checkouts.
async fn place(service: &CommerceService, sku: Uuid, batch: Vec<Job>) {
    if batch.iter().any(|(c, _)| c.fresh) {
        service.sku_lines.forget(&sku);
    }
    // Each checkout's line (from the memo after the first read); a line
    // refused on reading (another shop's SKU, not for sale, too few) is
    // answered at once.
    let mut ready = Vec::with_capacity(batch.len());
    for (checkout, reply) in batch {
        match service
            .lines(
                checkout.shop,
                &[(checkout.index, sku, checkout.quantity)],
                false,
            )
            .await
        {
            Ok(mut items) => match items.pop() {
                Some(item) => ready.push((checkout, reply, item)),
                None => {
                    let _ = reply.send(Err(unavailable("the checkout read no line; retry")));
                }
            },
            Err(err) => {
                let _ = reply.send(Err(err));
            }
        }
    }
    let Some((first, _, line)) = ready.first() else {
        return;
    };
    let now = service.clock.now();
    let (shop, seller) = (first.shop, first.seller);
    let line = line.clone();
    // One line for the whole batch (the statement takes its price, name and
    // version for every order): a checkout whose memo read differed (a
    // concurrent re-read after an edit) is written at the batch's line, its
    // total and event computed from it, and refused by the statement if
    // that line is stale.
    let ready: Vec<_> = ready
        .into_iter()
        .map(|(c, reply, item)| {
            let item = Reserved {
                quantity: item.quantity,
                ..line.clone()
            };
            (c, reply, item)
        })
        .collect();
    let orders: Vec<(Uuid, crate::events::OutboxRow, i64)> = ready
        .iter()
        .map(|(c, _, item)| {
            let order_id = loop_platform::ids::new_id();
            let items = std::slice::from_ref(item);
            let o = NewOrder {
                order_id,
                shop: c.shop,
                seller: c.seller,
                buyer: c.buyer,
                key: &c.key,
                body_hash: &c.body_hash,
                now,
                affiliate: None,
                origin: None,
                flash_sale: None,
                items,
            };
            (order_id, crate::orders::placed_event(&o), o.total_cents())
        })
        .collect();
    let since = now - chrono::Duration::hours(service.config.orders.attribution_window_hours);
    let (events, totals): (Vec<_>, Vec<_>) = orders.iter().map(|(_, e, t)| (e, *t)).unzip();
    let result = sqlx::query(&PLACE_ORDERS)
        .bind(orders.iter().map(|(id, _, _)| *id).collect::<Vec<_>>())
        .bind(ready.iter().map(|(c, _, _)| c.buyer).collect::<Vec<_>>())
        .bind(totals)
        .bind(
            ready
                .iter()
                .map(|(c, _, _)| c.key.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            ready
                .iter()
                .map(|(c, _, _)| c.body_hash.clone())
                .collect::<Vec<_>>(),
        )
        .bind(ready.iter().map(|(_, _, i)| i.quantity).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.payload.clone()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.headers.clone()).collect::<Vec<_>>())
        .bind(shop)
        .bind(seller)
        .bind(crate::machine::Status::Unpaid.id())
        .bind(now)
        .bind(line.product_id)
        .bind(line.product_version)
        .bind(sku)
        .bind(line.title.clone())
        .bind(line.sku_name.clone())
        .bind(line.unit_price_cents)
        .bind(loop_platform::kafka::topics::COMMERCE)
        .bind(crate::events::EVENT_TYPE)
        .bind(since)
        .bind(service.config.orders.max_unpaid_per_buyer)
        .bind(crate::invitations::ACCEPTED)
        .bind(crate::catalog::APPROVED)
        .fetch_all(&service.pool)
        .await;
    // One row per order, in order (the function answers every order or
    // fails as a whole).
    let rows = match result {
        Ok(rows) => rows,
        Err(err) => {
            // The statement's outcome is unknown to each checkout: a retry
            // with its key finds its order if it was placed.
            tracing::warn!(sku = %sku, error = %err, "a checkout batch failed; the buyers may retry");
            for (_, reply, _) in ready {
                let _ = reply.send(Err(unavailable(
                    "the checkout's outcome is unknown; retry with the same idempotency_key",
                )));
            }
            return;
        }
    };
    service.relay_wake.notify_one();
    for ((_, reply, item), row) in ready.into_iter().zip(rows) {
        let _ = reply.send(outcome(&row, item));
    }
}

/// One answer row of `commerce_place_orders`.
fn outcome(row: &sqlx::postgres::PgRow, item: Reserved) -> CommerceResult<Outcome> {
    let code: Option<String> = row.try_get("o_code").map_err(CommerceError::from)?;
    if let Some(code) = code {
        let detail: Option<String> = row.try_get("o_detail").map_err(CommerceError::from)?;
        return Ok(Outcome::Raised(code, detail.unwrap_or_default()));
    }
    let order = <OrderRow as sqlx::FromRow<_>>::from_row(row).map_err(CommerceError::from)?;
    let rates: Vec<i32> = row.try_get("o_rates").map_err(CommerceError::from)?;
    let item = Reserved {
        affiliate_rate_bps: rates.first().copied().unwrap_or(0),
        ..item
    };
    Ok(Outcome::Placed(Box::new(order), item))
}

/// Calls `commerce_place_orders` (25 parameters): per order, the SQLSTATE
/// and DETAIL of its refusal, or the order's columns and its rates.
static PLACE_ORDERS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT r.o_code, r.o_detail, {}, r.o_rates FROM commerce_place_orders({}) r",
        crate::orders::ORDER_COLUMNS
            .split(", ")
            .map(|c| format!("(r.o_placed).{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        crate::orders::placeholders(25)
    )
});
