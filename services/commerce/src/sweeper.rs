//! The sweeper drives time for orders (all of it read from the service's
//! [`crate::Clock`], so tests move time instead of waiting):
//!
//! - PAYING orders: the charge is sent again with its stored receipt and
//!   key (the wallet answers a repeat with its first result).
//! - UNPAID past `unpaid_cancel_minutes`: cancelled, stock back.
//! - ON_HOLD past the hold: stored as AWAITING_SHIPMENT.
//! - Paid but not shipped within `ship_within_days`: cancelled, stock back,
//!   refunded in full.
//! - SHIPPED and not confirmed by the buyer `auto_deliver_days` after
//!   shipping: confirmed delivered by the service (`automatic`).
//! - Return requests not answered by their `answer_due`: approved (the
//!   refund recorded and sent); while one is open the settlement waits.
//! - Refunds recorded but not confirmed by the wallet: sent again.
//! - DELIVERED past the settlement day: the seller is paid minus the fee
//!   (and the affiliate's commission, which stays held in the escrow).
//! - COMPLETED past `commission_after_days` after delivery with the
//!   commission still held: the affiliate is paid.
//! - Flash sales: `FlashSaleStarted` after the countdown; past the end,
//!   closed (units left back to the SKU's stock); sale orders unpaid for
//!   `flash_unpaid_cancel_seconds` cancelled (units back to the sale).
//! - A step the wallet refused for good is not retried: the order keeps
//!   the problem (`wallet_problem`), counted in
//!   `loop_commerce_wallet_refusals_total` and
//!   `loop_commerce_orders_needing_attention`, and its settlement waits.
//!
//! Every step locks the order and re-checks its state, so any number of
//! replicas may sweep at once.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::machine::Status;
use crate::service::CommerceService;

static NEEDS_ATTENTION: std::sync::LazyLock<prometheus::IntGauge> =
    std::sync::LazyLock::new(|| {
        loop_platform::metrics::gauge_vec(
            "loop_commerce_orders_needing_attention",
            "Orders with a money step the wallet refused for good (see the order's wallet_problem)",
            &[],
        )
        .with_label_values::<&str>(&[])
    });

pub async fn run(service: CommerceService, shutdown: CancellationToken) -> anyhow::Result<()> {
    let interval = Duration::from_millis(service.config.jobs.sweep_interval_ms);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
        if let Err(err) = sweep(&service).await {
            tracing::warn!(error = %err, "commerce sweep failed; next round retries");
        }
    }
}

/// One round over every kind of due order.
pub async fn sweep(service: &CommerceService) -> anyhow::Result<()> {
    let now = service.clock.now();
    let o = &service.config.orders;
    let batch = service.config.jobs.sweep_batch;
    let pool = service.pool();

    let ids = |sql: &'static str| async move {
        sqlx::query_scalar::<_, Uuid>(sql)
            .bind(batch)
            .fetch_all(pool)
            .await
    };

    for id in ids("SELECT order_id FROM orders WHERE status = 2 ORDER BY order_id LIMIT $1").await?
    {
        if let Err(err) = service.charge(id).await {
            tracing::debug!(order = %id, error = %err, "payment retry");
        }
    }

    let unpaid_before = now - chrono::Duration::minutes(o.unpaid_cancel_minutes);
    let stale: Vec<Uuid> = sqlx::query_scalar(
        "SELECT order_id FROM orders WHERE status = $1 AND created_at <= $2 ORDER BY created_at LIMIT $3",
    )
    .bind(Status::Unpaid.id())
    .bind(unpaid_before)
    .bind(batch)
    .fetch_all(pool)
    .await?;
    for id in stale {
        if let Err(err) = service.cancel(id, None, "unpaid_timeout").await {
            tracing::debug!(order = %id, error = %err, "unpaid cancel skipped");
        }
    }

    let shipped_before = now - chrono::Duration::days(o.auto_deliver_days);
    let unconfirmed: Vec<Uuid> = sqlx::query_scalar(
        "SELECT order_id FROM orders WHERE status = $1 AND shipped_at <= $2 ORDER BY shipped_at LIMIT $3",
    )
    .bind(Status::Shipped.id())
    .bind(shipped_before)
    .bind(batch)
    .fetch_all(pool)
    .await?;
    for id in unconfirmed {
        if let Err(err) = service.auto_deliver(id).await {
            tracing::debug!(order = %id, error = %err, "automatic delivery skipped");
        }
    }

    sqlx::query("UPDATE orders SET status = $1 WHERE status = $2 AND hold_until <= $3")
        .bind(Status::AwaitingShipment.id())
        .bind(Status::OnHold.id())
        .bind(now)
        .execute(pool)
        .await?;

    let ship_before = now - chrono::Duration::days(o.ship_within_days);
    let late: Vec<Uuid> = sqlx::query_scalar(
        "SELECT order_id FROM orders WHERE status IN ($1, $2) AND paid_at <= $3 ORDER BY paid_at LIMIT $4",
    )
    .bind(Status::OnHold.id())
    .bind(Status::AwaitingShipment.id())
    .bind(ship_before)
    .bind(batch)
    .fetch_all(pool)
    .await?;
    for id in late {
        if let Err(err) = service.cancel(id, None, "not_shipped_in_time").await {
            tracing::debug!(order = %id, error = %err, "late cancel skipped");
        }
    }

    let unanswered: Vec<Uuid> = sqlx::query_scalar(
        "SELECT order_id FROM return_requests WHERE status = $1 AND answer_due <= $2 ORDER BY answer_due LIMIT $3",
    )
    .bind(crate::returns::REQUESTED)
    .bind(now)
    .bind(batch)
    .fetch_all(pool)
    .await?;
    for id in unanswered {
        if let Err(err) = service.approve_unanswered_return(id).await {
            tracing::warn!(order = %id, error = %err, "approving an unanswered return failed; next round retries");
        }
    }

    for id in
        ids("SELECT order_id FROM orders WHERE refund_all_due ORDER BY order_id LIMIT $1").await?
    {
        service.refund_all(id).await;
    }
    for id in ids(
        "SELECT refund_id FROM order_refunds WHERE NOT done AND NOT failed ORDER BY created_at LIMIT $1",
    )
        .await?
    {
        service.send_refund(id).await;
    }

    let due: Vec<Uuid> = sqlx::query_scalar(
        "SELECT order_id FROM orders WHERE status = $1 AND (settle_due OR settle_at <= $2) AND wallet_problem = '' \
         AND NOT EXISTS (SELECT 1 FROM return_requests r WHERE r.order_id = orders.order_id AND r.status = 1) \
         ORDER BY settle_at LIMIT $3",
    )
    .bind(Status::Delivered.id())
    .bind(now)
    .bind(batch)
    .fetch_all(pool)
    .await?;
    for id in due {
        if let Err(err) = service.settle(id).await {
            tracing::warn!(order = %id, error = %err, "settlement not finished; next round retries");
        }
    }

    // Commissions kept held by the settlement, on their own day.
    let commissions: Vec<Uuid> = sqlx::query_scalar(
        "SELECT order_id FROM orders WHERE status = $1 AND affiliate_cents > 0 AND commission_paid_at IS NULL \
         AND commission_at <= $2 AND wallet_problem = '' ORDER BY commission_at LIMIT $3",
    )
    .bind(Status::Completed.id())
    .bind(now)
    .bind(batch)
    .fetch_all(pool)
    .await?;
    for id in commissions {
        if let Err(err) = service.pay_commission(id).await {
            tracing::warn!(order = %id, error = %err, "commission not paid; next round retries");
        }
    }
    crate::auction::close::sweep(service).await?;
    service.sweep_flash().await?;

    // Orders whose money step the wallet refused for good wait for a
    // person: never silently (this gauge, the refusal counter, the logs).
    let stuck: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE wallet_problem <> ''")
        .fetch_one(pool)
        .await?;
    NEEDS_ATTENTION.set(stuck);
    Ok(())
}
