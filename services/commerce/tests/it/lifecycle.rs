//! The order lifecycle end to end, with the wallet's money checked at each
//! step: pay into escrow, the hold, ship, deliver, a partial refund,
//! settlement days later minus the fee; the books reconcile.

use super::*;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

#[tokio::test]
async fn an_order_is_paid_held_shipped_delivered_refunded_in_part_and_settled_once() {
    let p = Platform::start().await;
    let l = p.listing(&[("Blue", 1_999, 10), ("Red", 2_500, 3)]).await;
    let buyer = user();
    let order = p
        .place(&buyer, &l.shop_id, &[(&l.sku(0), 2), (&l.sku(1), 1)])
        .await
        .expect("place");
    assert_eq!(order.status, pb::OrderStatus::Unpaid as i32);
    assert_eq!(order.total_cents, 2 * 1_999 + 2_500);
    assert_eq!(order.items[0].product_version, 1);
    assert_eq!((p.stock(&l, 0).await, p.stock(&l, 1).await), (8, 2));

    // Pay; a retry of the payment with another receipt charges nothing more.
    let pay = pb::PayOrderRequest {
        idempotency_key: key(),
        order_id: order.order_id.clone(),
        receipt: Some(p.receipt(&order)),
    };
    let paid = p
        .c()
        .pay_order(p.req(&buyer, Role::Viewer, pay.clone()))
        .await
        .expect("pay")
        .into_inner()
        .order
        .expect("order");
    assert_eq!(paid.status, pb::OrderStatus::OnHold as i32);
    let again = p
        .c()
        .pay_order(p.req(&buyer, Role::Viewer, pay.clone()))
        .await
        .expect("retry")
        .into_inner()
        .order
        .expect("order");
    assert_eq!(again.escrow_id, paid.escrow_id);
    let err = p
        .c()
        .pay_order(p.req(
            &buyer,
            Role::Viewer,
            pb::PayOrderRequest {
                idempotency_key: key(),
                receipt: Some(p.receipt(&order)),
                ..pay.clone()
            },
        ))
        .await
        .expect_err("paid already");
    assert_eq!(reason(&err), "INVALID_TRANSITION");
    assert_eq!(p.cents(&buyer).await, (0, 6_498));

    // The seller may not ship during the hold; after it, yes.
    let ship = |k: String| pb::ShipOrderRequest {
        idempotency_key: k,
        order_id: order.order_id.clone(),
        carrier: "UPS".into(),
        tracking_number: "1Z999AA10123456784".into(),
    };
    let err = p
        .c()
        .ship_order(p.req(&l.seller, Role::Creator, ship(key())))
        .await
        .expect_err("on hold");
    assert_eq!(reason(&err), "INVALID_TRANSITION");
    p.advance_until(HOUR, &order.order_id, pb::OrderStatus::AwaitingShipment)
        .await;
    let k = key();
    let shipped = p
        .c()
        .ship_order(p.req(&l.seller, Role::Creator, ship(k.clone())))
        .await
        .expect("ship")
        .into_inner()
        .order
        .expect("order");
    p.c()
        .ship_order(p.req(&l.seller, Role::Creator, ship(k)))
        .await
        .expect("a retry of the same call");
    assert_eq!(shipped.status, pb::OrderStatus::Shipped as i32);
    assert_eq!(shipped.tracking_number, "1Z999AA10123456784");

    let delivered = p
        .c()
        .confirm_delivery(p.req(
            &buyer,
            Role::Viewer,
            pb::ConfirmDeliveryRequest {
                idempotency_key: key(),
                order_id: order.order_id.clone(),
            },
        ))
        .await
        .expect("deliver")
        .into_inner()
        .order
        .expect("order");
    assert_eq!(delivered.status, pb::OrderStatus::Delivered as i32);

    // A partial refund of 1,000 goes back to the card at once (retried: once).
    let refund = pb::RefundOrderRequest {
        idempotency_key: key(),
        order_id: order.order_id.clone(),
        amount_cents: 1_000,
        reason: "one mug arrived chipped".into(),
    };
    for _ in 0..2 {
        let o = p
            .c()
            .refund_order(p.req(&l.seller, Role::Creator, refund.clone()))
            .await
            .expect("refund")
            .into_inner()
            .order
            .expect("order");
        assert_eq!(
            (o.status, o.refunded_cents),
            (pb::OrderStatus::Delivered as i32, 1_000)
        );
    }
    testing::wait_for(
        "refund reached the wallet",
        Duration::from_secs(30),
        || async { (p.cents(&buyer).await == (0, 5_498)).then_some(()) },
    )
    .await;

    // Seven days later the seller is paid: 6% of 5,498 = 329.88 -> 329 fee.
    let done = p
        .advance_until(7 * DAY, &order.order_id, pb::OrderStatus::Completed)
        .await;
    assert_eq!((done.seller_cents, done.fee_cents), (5_169, 329));
    assert_eq!(p.cents(&l.seller).await, (5_169, 0));
    assert_eq!(p.cents(&buyer).await, (0, 0));
    let escrow = p.escrow(&done.escrow_id).await;
    assert_eq!(
        (
            escrow.status,
            escrow.refunded_cents,
            escrow.platform_fee_cents
        ),
        (wpb::EscrowStatus::Released as i32, 1_000, 329)
    );
    // Refunds after settlement are refused (the window closed before it,
    // whether or not a commission is still held); the books reconcile.
    let err = p
        .c()
        .refund_order(p.req(
            &l.seller,
            Role::Creator,
            pb::RefundOrderRequest {
                idempotency_key: key(),
                ..refund.clone()
            },
        ))
        .await
        .expect_err("settled");
    assert_eq!(reason(&err), "REFUND_WINDOW_CLOSED");
    assert!(p.reconciles().await);

    let kinds: Vec<&'static str> = p
        .events()
        .await
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::OrderPlaced(_)) => Some("placed"),
            Some(Payload::OrderPaid(_)) => Some("paid"),
            Some(Payload::OrderShipped(_)) => Some("shipped"),
            Some(Payload::OrderDelivered(_)) => Some("delivered"),
            Some(Payload::OrderRefunded(_)) => Some("refunded"),
            Some(Payload::OrderCompleted(c)) => {
                assert_eq!((c.seller_cents, c.fee_cents), (5_169, 329));
                Some("completed")
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "placed",
            "paid",
            "shipped",
            "delivered",
            "refunded",
            "completed"
        ]
    );
}

#[tokio::test]
async fn cancellations_return_stock_and_money_exactly() {
    let p = Platform::start().await;
    let l = p.listing(&[("One size", 1_500, 10)]).await;
    let buyer = user();

    // Within the hour the buyer cancels freely: stock back, card refunded.
    let first = p.paid_order(&l, &buyer, 3).await;
    assert_eq!(p.stock(&l, 0).await, 7);
    let cancel = pb::CancelOrderRequest {
        idempotency_key: key(),
        order_id: first.order_id.clone(),
        reason: "changed my mind".into(),
    };
    for _ in 0..2 {
        let o = p
            .c()
            .cancel_order(p.req(&buyer, Role::Viewer, cancel.clone()))
            .await
            .expect("cancel (and its retry)")
            .into_inner()
            .order
            .expect("order");
        assert_eq!(o.status, pb::OrderStatus::Cancelled as i32);
    }
    assert_eq!(p.stock(&l, 0).await, 10);
    testing::wait_for("cancel refunded", Duration::from_secs(30), || async {
        let e = p.escrow(&first.escrow_id).await;
        (e.status == wpb::EscrowStatus::Refunded as i32).then_some(())
    })
    .await;
    assert_eq!(p.cents(&buyer).await, (0, 0));

    // After the hour the buyer may not; the seller may.
    let second = p.paid_order(&l, &buyer, 2).await;
    p.advance_until(HOUR, &second.order_id, pb::OrderStatus::AwaitingShipment)
        .await;
    let err = p
        .c()
        .cancel_order(p.req(
            &buyer,
            Role::Viewer,
            pb::CancelOrderRequest {
                idempotency_key: key(),
                order_id: second.order_id.clone(),
                reason: String::new(),
            },
        ))
        .await
        .expect_err("late");
    assert_eq!(reason(&err), "INVALID_TRANSITION");
    assert!(
        err.message().contains("ask the seller"),
        "{}",
        err.message()
    );
    assert_eq!(p.stock(&l, 0).await, 8);

    // Not shipped within 3 days: cancelled by the sweeper, refunded.
    let late = p
        .advance_until(3 * DAY, &second.order_id, pb::OrderStatus::Cancelled)
        .await;
    assert_eq!(late.refunded_cents, 3_000);
    assert_eq!(p.stock(&l, 0).await, 10);
    testing::wait_for("late cancel refunded", Duration::from_secs(30), || async {
        (p.cents(&buyer).await == (0, 0)).then_some(())
    })
    .await;

    // Never paid: cancelled after 30 minutes, stock back.
    let unpaid = p
        .place(&buyer, &l.shop_id, &[(&l.sku(0), 4)])
        .await
        .expect("place");
    assert_eq!(p.stock(&l, 0).await, 6);
    p.advance_until(
        Duration::from_secs(31 * 60),
        &unpaid.order_id,
        pb::OrderStatus::Cancelled,
    )
    .await;
    assert_eq!(p.stock(&l, 0).await, 10);
    assert!(p.reconciles().await);

    // Three orders on up to three partitions: compare without order.
    let mut cancels: Vec<(String, i64)> = p
        .events()
        .await
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::OrderCancelled(c)) => Some((c.by.clone(), c.refunded_cents)),
            _ => None,
        })
        .collect();
    cancels.sort();
    assert_eq!(
        cancels,
        [
            ("buyer".to_owned(), 4_500),
            ("not_shipped_in_time".to_owned(), 3_000),
            ("unpaid_timeout".to_owned(), 0),
        ]
    );
}

#[tokio::test]
async fn a_full_refund_after_delivery_returns_everything_and_the_window_closes() {
    let p = Platform::start().await;
    let l = p.listing(&[("Set", 4_000, 5)]).await;
    let buyer = user();
    let deliver = |o: &pb::Order| pb::ConfirmDeliveryRequest {
        idempotency_key: key(),
        order_id: o.order_id.clone(),
    };
    let ship = |o: &pb::Order| pb::ShipOrderRequest {
        idempotency_key: key(),
        order_id: o.order_id.clone(),
        carrier: "DHL".into(),
        tracking_number: "JD0146000012".into(),
    };
    let a = p.paid_order(&l, &buyer, 1).await;
    let b = p.paid_order(&l, &buyer, 1).await;
    p.advance_until(HOUR, &b.order_id, pb::OrderStatus::AwaitingShipment)
        .await;
    for o in [&a, &b] {
        p.c()
            .ship_order(p.req(&l.seller, Role::Creator, ship(o)))
            .await
            .expect("ship");
        p.c()
            .confirm_delivery(p.req(&buyer, Role::Viewer, deliver(o)))
            .await
            .expect("deliver");
    }
    let refunded = p
        .c()
        .refund_order(p.admin(pb::RefundOrderRequest {
            idempotency_key: key(),
            order_id: a.order_id.clone(),
            amount_cents: 0,
            reason: "never arrived in fact".into(),
        }))
        .await
        .expect("full refund")
        .into_inner()
        .order
        .expect("order");
    assert_eq!(
        (refunded.status, refunded.refunded_cents),
        (pb::OrderStatus::Refunded as i32, 4_000)
    );
    testing::wait_for(
        "full refund reached the wallet",
        Duration::from_secs(30),
        || async {
            let e = p.escrow(&a.escrow_id).await;
            (e.status == wpb::EscrowStatus::Refunded as i32).then_some(())
        },
    )
    .await;
    // The window (7 days) is over for b: refused, and b settles in full.
    p.clock().advance(7 * DAY);
    let err = p
        .c()
        .refund_order(p.req(
            &l.seller,
            Role::Creator,
            pb::RefundOrderRequest {
                idempotency_key: key(),
                order_id: b.order_id.clone(),
                amount_cents: 100,
                reason: "late".into(),
            },
        ))
        .await
        .expect_err("window closed");
    assert!(
        ["REFUND_WINDOW_CLOSED", "INVALID_TRANSITION"].contains(&reason(&err).as_str()),
        "{err:?}"
    );
    let settled = p
        .advance_until(
            Duration::from_secs(1),
            &b.order_id,
            pb::OrderStatus::Completed,
        )
        .await;
    assert_eq!((settled.seller_cents, settled.fee_cents), (3_760, 240));
    assert_eq!(p.cents(&l.seller).await, (3_760, 0));
    assert_eq!(p.cents(&buyer).await, (0, 0));
    assert!(p.reconciles().await);
}

/// A buyer who never confirms delivery does not hold the seller's money for
/// ever: `auto_deliver_days` (10) after shipping the service confirms it
/// (`OrderDelivered.automatic`), once, and the settlement follows on its day.
/// A day earlier nothing happens, and an order the buyer confirmed himself
/// keeps its own delivery time.
#[tokio::test]
async fn a_shipped_order_nobody_confirms_is_delivered_after_the_carrier_window_and_settles() {
    let p = Platform::start().await;
    let l = p.listing(&[("Lamp", 4_000, 5)]).await;
    let (quiet, prompt) = (user(), user());
    let a = p.paid_order(&l, &quiet, 1).await;
    let b = p.paid_order(&l, &prompt, 1).await;
    for o in [&a, &b] {
        p.advance_until(HOUR, &o.order_id, pb::OrderStatus::AwaitingShipment)
            .await;
        p.ship(&l.seller, &o.order_id).await;
    }
    let shipped_at = p.order(&a.order_id).await.shipped_at;
    p.confirm_delivered(&prompt, &b.order_id).await;
    let b_delivered = p.order(&b.order_id).await.delivered_at;

    // Nine days: still shipped (a sweep has run since the clock moved).
    p.clock().advance(9 * DAY);
    let marker = p.paid_order(&l, &user(), 1).await;
    p.advance_until(HOUR, &marker.order_id, pb::OrderStatus::AwaitingShipment)
        .await;
    assert_eq!(
        p.order(&a.order_id).await.status,
        pb::OrderStatus::Shipped as i32
    );

    // Past ten days after shipping: delivered by the service.
    let auto = p
        .advance_until(DAY, &a.order_id, pb::OrderStatus::Delivered)
        .await;
    let delivered_at = time_of(auto.delivered_at);
    assert!(delivered_at >= time_of(shipped_at) + chrono::Duration::days(10));
    assert_eq!(
        time_of(auto.settle_at),
        delivered_at + chrono::Duration::days(7)
    );
    assert_eq!(p.order(&b.order_id).await.delivered_at, b_delivered);

    // The settlement follows on its day; the books reconcile.
    let done = p
        .advance_until(7 * DAY, &a.order_id, pb::OrderStatus::Completed)
        .await;
    assert_eq!((done.seller_cents, done.fee_cents), (3_760, 240));
    assert!(p.reconciles().await);
    // Events are ordered per order (its partition), not across orders.
    let mut delivered: Vec<(String, bool)> = p
        .events()
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(Payload::OrderDelivered(d))
                if d.order_id == a.order_id || d.order_id == b.order_id =>
            {
                Some((d.order_id, d.automatic))
            }
            _ => None,
        })
        .collect();
    delivered.sort();
    let mut expected = vec![(b.order_id.clone(), false), (a.order_id.clone(), true)];
    expected.sort();
    assert_eq!(
        delivered, expected,
        "one OrderDelivered each; only the unconfirmed one automatic"
    );
}

fn time_of(t: Option<prost_types::Timestamp>) -> chrono::DateTime<chrono::Utc> {
    let t = t.expect("timestamp");
    chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).expect("nanos"))
        .expect("time")
}
