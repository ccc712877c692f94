//! Affiliates: a seller opens a product at a commission rate, a creator
//! features it, a buyer's recorded visit from the creator's showcase
//! attributes their checkout (server-side, last visit within the window),
//! the commission is locked at payment, cut pro rata by a refund, fixed at
//! the seller's settlement (day 7) and paid on its own day (15) from what
//! the escrow kept; the creator sees it pending, payable and paid.

use super::*;

#[tokio::test]
async fn a_creator_earns_the_locked_commission_less_refunds_at_settlement() {
    let p = Platform::start().await;
    let l = p.listing(&[("Blue", 2_500, 10)]).await;
    let creator = user();
    let buyer = user();
    let rate = |subject: &str, bps: u32| {
        let mut c = p.c();
        let req = p.req(
            subject,
            Role::Creator,
            pb::SetAffiliateRateRequest {
                product_id: l.product.product_id.clone(),
                rate_bps: bps,
            },
        );
        async move { c.set_affiliate_rate(req).await }
    };
    for bad in [50, 8_001, 99] {
        let err = rate(&l.seller, bad).await.expect_err("out of 1-80%");
        assert_eq!(field(&err), "rate_bps");
    }
    let err = rate(&creator, 1_000).await.expect_err("not their product");
    assert_eq!(err.code(), Code::PermissionDenied);
    let opened = rate(&l.seller, 1_000)
        .await
        .expect("10%")
        .into_inner()
        .product
        .expect("product");
    assert_eq!(opened.affiliate_rate_bps, 1_000);

    // Attribution is the server's: a creator features the product in their
    // showcase (creators only, not the seller), the buyer's visit from
    // there is recorded, the checkout finds it.
    let err = p
        .c()
        .add_to_showcase(p.req(
            &creator,
            Role::Viewer,
            pb::AddToShowcaseRequest {
                product_id: l.product.product_id.clone(),
            },
        ))
        .await
        .expect_err("viewers have no showcase");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = p
        .c()
        .add_to_showcase(p.req(
            &l.seller,
            Role::Creator,
            pb::AddToShowcaseRequest {
                product_id: l.product.product_id.clone(),
            },
        ))
        .await
        .expect_err("own product");
    assert_eq!(field(&err), "product_id");
    p.showcase(&creator, &l.product.product_id).await;
    // A visit naming someone who does not feature it (a random id, a sock
    // puppet), the buyer or the seller, is refused and records nothing.
    for (who, why) in [
        (user(), "NOT_FEATURED"),
        (buyer.clone(), "creator_id"),
        (l.seller.clone(), "creator_id"),
    ] {
        let err = p
            .visit(&buyer, &l.product.product_id, &who)
            .await
            .expect_err("not featured");
        assert!(reason(&err) == why || field(&err) == why, "{why}: {err:?}");
    }
    let plain = p
        .place(&buyer, &l.shop_id, &[(&l.sku(0), 1)])
        .await
        .expect("no visit yet");
    assert_eq!(
        (
            plain.affiliate_id.as_str(),
            plain.items[0].affiliate_rate_bps
        ),
        ("", 0)
    );
    p.visit(&buyer, &l.product.product_id, &creator)
        .await
        .expect("visit from the showcase");
    let place = || pb::PlaceOrderRequest {
        idempotency_key: key(),
        shop_id: l.shop_id.clone(),
        items: vec![pb::OrderLine {
            sku_id: l.sku(0),
            quantity: 2,
        }],
    };
    let order = p
        .c()
        .place_order(p.req(&buyer, Role::Viewer, place()))
        .await
        .expect("from the creator's showcase")
        .into_inner()
        .order
        .expect("order");
    assert_eq!(order.affiliate_id, creator);
    assert_eq!(order.items[0].affiliate_rate_bps, 1_000);
    // The seller raising the rate after checkout changes nothing for it.
    rate(&l.seller, 8_000).await.expect("80%");
    let paid = p.pay(&buyer, &order).await;
    assert_eq!(
        (paid.affiliate_id.as_str(), paid.commission_cents),
        (creator.as_str(), 500)
    );

    // Ship after the hold, deliver, refund 1,000 of 5,000: commission 400.
    p.advance_until(
        Duration::from_secs(3600),
        &order.order_id,
        pb::OrderStatus::AwaitingShipment,
    )
    .await;
    p.c()
        .ship_order(p.req(
            &l.seller,
            Role::Creator,
            pb::ShipOrderRequest {
                idempotency_key: key(),
                order_id: order.order_id.clone(),
                carrier: "UPS".into(),
                tracking_number: "1Z0000001".into(),
            },
        ))
        .await
        .expect("ship");
    p.c()
        .confirm_delivery(p.req(
            &buyer,
            Role::Viewer,
            pb::ConfirmDeliveryRequest {
                idempotency_key: key(),
                order_id: order.order_id.clone(),
            },
        ))
        .await
        .expect("deliver");
    let refunded = p
        .c()
        .refund_order(p.req(
            &l.seller,
            Role::Creator,
            pb::RefundOrderRequest {
                idempotency_key: key(),
                order_id: order.order_id.clone(),
                amount_cents: 1_000,
                reason: "scratched".into(),
            },
        ))
        .await
        .expect("refund")
        .into_inner()
        .order
        .expect("order");
    assert_eq!(refunded.commission_cents, 400);

    // Settled: net 4,000; fee floor(6%) = 240; commission 400; seller 3,360.
    let done = p
        .advance_until(
            Duration::from_secs(7 * 24 * 3600),
            &order.order_id,
            pb::OrderStatus::Completed,
        )
        .await;
    assert_eq!(
        (done.seller_cents, done.fee_cents, done.commission_cents),
        (3_360, 240, 400)
    );
    // The seller and the fee are paid on day 7; the commission stays held
    // in the escrow (the buyer's held cents) until its own day, 15.
    assert_eq!(p.cents(&l.seller).await, (3_360, 0));
    assert_eq!(p.cents(&creator).await, (0, 0));
    assert_eq!(p.cents(&buyer).await, (0, 400));
    let escrow = p.escrow(&done.escrow_id).await;
    assert_eq!(
        (
            escrow.status,
            escrow.payee_cents,
            escrow.platform_fee_cents,
            escrow.affiliate_cents
        ),
        (wpb::EscrowStatus::Held as i32, 3_360, 240, 0)
    );
    assert!(p.reconciles().await);
    let mine = p.commissions(&creator).await;
    assert_eq!(
        (mine.pending_cents, mine.payable_cents, mine.paid_cents),
        (0, 400, 0)
    );
    // Day 10: the refund window closed with the settlement; a refund is
    // refused and changes nothing.
    p.clock().advance(Duration::from_secs(3 * 24 * 3600));
    let err = p
        .c()
        .refund_order(p.req(
            &l.seller,
            Role::Creator,
            pb::RefundOrderRequest {
                idempotency_key: key(),
                order_id: order.order_id.clone(),
                amount_cents: 100,
                reason: "late".into(),
            },
        ))
        .await
        .expect_err("window closed");
    assert_eq!(reason(&err), "REFUND_WINDOW_CLOSED");
    assert_eq!(p.cents(&buyer).await, (0, 400));
    assert_eq!(p.order(&order.order_id).await.refunded_cents, 1_000);
    // Day 15: the commission is paid, once.
    p.clock().advance(Duration::from_secs(5 * 24 * 3600));
    testing::wait_for("commission paid", Duration::from_secs(60), || async {
        (p.cents(&creator).await == (400, 0)).then_some(())
    })
    .await;
    assert_eq!(p.cents(&buyer).await, (0, 0));
    assert_eq!(p.cents(&l.seller).await, (3_360, 0));
    let escrow = p.escrow(&done.escrow_id).await;
    assert_eq!(
        (
            escrow.status,
            escrow.affiliate_cents,
            escrow.affiliate_id.as_str()
        ),
        (wpb::EscrowStatus::Released as i32, 400, creator.as_str())
    );
    let mine = p.commissions(&creator).await;
    assert_eq!(
        (mine.pending_cents, mine.payable_cents, mine.paid_cents),
        (0, 0, 400)
    );
    assert!(p.reconciles().await);
    let events = p.events().await;
    let completed: Vec<(String, i64)> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::OrderCompleted(c)) => Some((c.affiliate_id.clone(), c.affiliate_cents)),
            _ => None,
        })
        .collect();
    assert_eq!(completed, [(creator.clone(), 400)]);
    let commissions: Vec<(String, i64)> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::CommissionPaid(c)) => Some((c.affiliate_id.clone(), c.affiliate_cents)),
            _ => None,
        })
        .collect();
    assert_eq!(commissions, [(creator.clone(), 400)]);
    // The paid order names its source for the ranker and the marketplace.
    let sources: Vec<(i32, String)> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::OrderPaid(o)) if o.order_id == order.order_id => {
                Some((o.source, o.source_id.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        sources,
        [(pb::ReferralSource::Showcase as i32, String::new())]
    );

    // A cancelled attributed order pays no commission (a new visit: the
    // first one is past its window now).
    p.visit(&buyer, &l.product.product_id, &creator)
        .await
        .expect("visit again");
    let second = p
        .c()
        .place_order(p.req(&buyer, Role::Viewer, place()))
        .await
        .expect("place")
        .into_inner()
        .order
        .expect("order");
    let paid = p.pay(&buyer, &second).await;
    assert_eq!(paid.commission_cents, 4_000, "80% of 5,000 at the new rate");
    let cancelled = p
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
        .expect("cancel in the hold")
        .into_inner()
        .order
        .expect("order");
    assert_eq!(cancelled.commission_cents, 0);
}

#[tokio::test]
async fn the_last_visit_within_the_window_wins_and_creators_see_their_commissions() {
    let p = Platform::start_with(|c| c.orders.refund_window_days = 2).await;
    let l = p.listing(&[("Red", 1_000, 20)]).await;
    let other = p.listing(&[("Green", 3_000, 20)]).await;
    for listing in [&l, &other] {
        p.c()
            .set_affiliate_rate(p.req(
                &listing.seller,
                Role::Creator,
                pb::SetAffiliateRateRequest {
                    product_id: listing.product.product_id.clone(),
                    rate_bps: 2_000,
                },
            ))
            .await
            .expect("20%");
    }
    let (first, second, buyer) = (user(), user(), user());
    for creator in [&first, &second] {
        p.showcase(creator, &l.product.product_id).await;
    }
    // The first creator's visit, then the second's: the second wins.
    p.visit(&buyer, &l.product.product_id, &first)
        .await
        .expect("visit");
    p.clock().advance(Duration::from_secs(60));
    p.visit(&buyer, &l.product.product_id, &second)
        .await
        .expect("visit");
    let order = p.paid_order(&l, &buyer, 3).await;
    assert_eq!(
        (order.affiliate_id.as_str(), order.commission_cents),
        (second.as_str(), 600)
    );
    // The first creator visits again: last touch moves to them.
    p.clock().advance(Duration::from_secs(60));
    p.visit(&buyer, &l.product.product_id, &first)
        .await
        .expect("visit");
    let again = p.paid_order(&l, &buyer, 1).await;
    assert_eq!(again.affiliate_id, first);

    // A visit to one product does not earn on another shop's product.
    let elsewhere = p.paid_order(&other, &buyer, 1).await;
    assert_eq!(
        (elsewhere.affiliate_id.as_str(), elsewhere.commission_cents),
        ("", 0)
    );

    // The second creator sees 600 pending.
    let mine = p.commissions(&second).await;
    assert_eq!(
        (mine.pending_cents, mine.payable_cents, mine.paid_cents),
        (600, 0, 0)
    );
    assert_eq!(mine.commissions.len(), 1);
    assert_eq!(
        mine.commissions[0].state,
        pb::CommissionState::Pending as i32
    );

    // Delivered: pending during the refund window (2 days here), payable
    // after it, paid at the settlement.
    p.advance_until(
        Duration::from_secs(3600),
        &order.order_id,
        pb::OrderStatus::AwaitingShipment,
    )
    .await;
    p.c()
        .ship_order(p.req(
            &l.seller,
            Role::Creator,
            pb::ShipOrderRequest {
                idempotency_key: key(),
                order_id: order.order_id.clone(),
                carrier: "UPS".into(),
                tracking_number: "1Z0000002".into(),
            },
        ))
        .await
        .expect("ship");
    p.c()
        .confirm_delivery(p.req(
            &buyer,
            Role::Viewer,
            pb::ConfirmDeliveryRequest {
                idempotency_key: key(),
                order_id: order.order_id.clone(),
            },
        ))
        .await
        .expect("deliver");
    assert_eq!(p.commissions(&second).await.pending_cents, 600);
    p.clock().advance(Duration::from_secs(3 * 24 * 3600));
    let mine = p.commissions(&second).await;
    assert_eq!(
        (mine.pending_cents, mine.payable_cents, mine.paid_cents),
        (0, 600, 0)
    );
    assert_eq!(
        mine.commissions[0].state,
        pb::CommissionState::Payable as i32
    );
    p.advance_until(
        Duration::from_secs(4 * 24 * 3600),
        &order.order_id,
        pb::OrderStatus::Completed,
    )
    .await;
    // Past the window (7 days), the visits no longer attribute.
    let late = p.paid_order(&l, &buyer, 1).await;
    assert_eq!((late.affiliate_id.as_str(), late.commission_cents), ("", 0));
    // The seller is paid; the commission stays payable until its day.
    let mine = p.commissions(&second).await;
    assert_eq!(
        (mine.pending_cents, mine.payable_cents, mine.paid_cents),
        (0, 600, 0)
    );
    assert_eq!(p.cents(&second).await, (0, 0));
    p.clock().advance(Duration::from_secs(8 * 24 * 3600));
    // The wallet credits the creator before commerce records the payment
    // (it records what the wallet confirmed): wait for commerce's side.
    let mine = testing::wait_for("commission paid", Duration::from_secs(60), || async {
        let mine = p.commissions(&second).await;
        (mine.paid_cents == 600).then_some(mine)
    })
    .await;
    assert_eq!(
        (mine.pending_cents, mine.payable_cents, mine.paid_cents),
        (0, 0, 600)
    );
    assert_eq!(p.cents(&second).await, (600, 0));
    assert_eq!(mine.commissions[0].state, pb::CommissionState::Paid as i32);
    assert!(p.reconciles().await);
}
