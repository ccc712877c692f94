//! Affiliates: a seller opens a product at a commission rate, an order from
//! a creator's video carries the attribution, the commission is locked at
//! payment, cut pro rata by a refund and paid with the settlement.

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

    // Attribution to the buyer or the seller is refused.
    let place = |affiliate: &str| pb::PlaceOrderRequest {
        idempotency_key: key(),
        shop_id: l.shop_id.clone(),
        items: vec![pb::OrderLine {
            sku_id: l.sku(0),
            quantity: 2,
        }],
        affiliate_id: affiliate.into(),
    };
    for who in [&buyer, &l.seller] {
        let err = p
            .c()
            .place_order(p.req(&buyer, Role::Viewer, place(who)))
            .await
            .expect_err("self attribution");
        assert_eq!(field(&err), "affiliate_id");
    }
    let order = p
        .c()
        .place_order(p.req(&buyer, Role::Viewer, place(&creator)))
        .await
        .expect("from the creator's video")
        .into_inner()
        .order
        .expect("order");
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
    assert_eq!(p.cents(&creator).await, (400, 0));
    assert_eq!(p.cents(&l.seller).await, (3_360, 0));
    assert_eq!(p.cents(&buyer).await, (0, 0));
    assert!(p.reconciles().await);
    let completed: Vec<(String, i64)> = p
        .events()
        .await
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::OrderCompleted(c)) => Some((c.affiliate_id.clone(), c.affiliate_cents)),
            _ => None,
        })
        .collect();
    assert_eq!(completed, [(creator.clone(), 400)]);

    // A cancelled attributed order pays no commission.
    let second = p
        .c()
        .place_order(p.req(&buyer, Role::Viewer, place(&creator)))
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
