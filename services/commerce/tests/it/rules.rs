//! Bad input and forbidden steps: each refused naming the field or rule,
//! with nothing changed (stock and money as before).

use super::*;

#[tokio::test]
async fn bad_orders_and_state_jumps_are_refused_and_change_nothing() {
    let p = Platform::start().await;
    let l = p.listing(&[("A", 700, 4)]).await;
    let other = p.listing(&[("B", 900, 4)]).await;
    let buyer = user();
    let sku = l.sku(0);

    let line = |sku: &str, quantity: u32| pb::OrderLine {
        sku_id: sku.into(),
        quantity,
    };
    let order_req = |items: Vec<pb::OrderLine>| pb::PlaceOrderRequest {
        idempotency_key: key(),
        shop_id: l.shop_id.clone(),
        items,
    };
    for (body, f) in [
        (order_req(vec![line(&sku, 0)]), "items[0].quantity"),
        (order_req(vec![line(&sku, 100)]), "items[0].quantity"),
        (order_req(vec![]), "items"),
        (order_req(vec![line("not-a-uuid", 1)]), "items[0].sku_id"),
        (
            pb::PlaceOrderRequest {
                idempotency_key: "short".into(),
                ..order_req(vec![line(&sku, 1)])
            },
            "idempotency_key",
        ),
    ] {
        let err = p
            .c()
            .place_order(p.req(&buyer, Role::Viewer, body))
            .await
            .expect_err(f);
        assert_eq!(
            (err.code(), field(&err)),
            (Code::InvalidArgument, f.to_owned())
        );
    }
    let err = p
        .place(&l.seller, &l.shop_id, &[(&sku, 1)])
        .await
        .expect_err("own shop");
    assert_eq!(reason(&err), "SELF_PURCHASE");
    let err = p
        .place(&buyer, &l.shop_id, &[(&sku, 1), (&other.sku(0), 1)])
        .await
        .expect_err("two shops");
    assert_eq!(reason(&err), "NOT_FOR_SALE");
    let err = p
        .place(&buyer, &l.shop_id, &[(&sku, 5)])
        .await
        .expect_err("too many");
    assert_eq!(reason(&err), "OUT_OF_STOCK");
    // Two lines of one SKU are one line: 3 + 2 > 4 left.
    let err = p
        .place(&buyer, &l.shop_id, &[(&sku, 3), (&sku, 2)])
        .await
        .expect_err("too many in two lines");
    assert_eq!(reason(&err), "OUT_OF_STOCK");
    assert_eq!((p.stock(&l, 0).await, p.stock(&other, 0).await), (4, 4));

    // The same key with another body is refused; with the same body, one order.
    let same = order_req(vec![line(&sku, 1)]);
    let first = p
        .c()
        .place_order(p.req(&buyer, Role::Viewer, same.clone()))
        .await
        .expect("place")
        .into_inner()
        .order
        .expect("order");
    let retry = p
        .c()
        .place_order(p.req(&buyer, Role::Viewer, same.clone()))
        .await
        .expect("retry")
        .into_inner()
        .order
        .expect("order");
    assert_eq!(first.order_id, retry.order_id);
    let err = p
        .c()
        .place_order(p.req(
            &buyer,
            Role::Viewer,
            pb::PlaceOrderRequest {
                items: vec![line(&sku, 2)],
                ..same.clone()
            },
        ))
        .await
        .expect_err("reused key");
    assert_eq!(reason(&err), "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(p.stock(&l, 0).await, 3);

    // State jumps: ship or deliver an unpaid order; strangers see nothing.
    let err = p
        .c()
        .ship_order(p.req(
            &l.seller,
            Role::Creator,
            pb::ShipOrderRequest {
                idempotency_key: key(),
                order_id: first.order_id.clone(),
                carrier: "UPS".into(),
                tracking_number: "1Z12345".into(),
            },
        ))
        .await
        .expect_err("unpaid");
    assert_eq!(reason(&err), "INVALID_TRANSITION");
    assert!(err.message().contains("UNPAID"), "{}", err.message());
    let err = p
        .c()
        .confirm_delivery(p.req(
            &buyer,
            Role::Viewer,
            pb::ConfirmDeliveryRequest {
                idempotency_key: key(),
                order_id: first.order_id.clone(),
            },
        ))
        .await
        .expect_err("unpaid");
    assert_eq!(reason(&err), "INVALID_TRANSITION");
    let err = p
        .c()
        .get_order(p.req(
            &user(),
            Role::Viewer,
            pb::GetOrderRequest {
                order_id: first.order_id.clone(),
            },
        ))
        .await
        .expect_err("stranger");
    assert_eq!(err.code(), Code::NotFound);

    // A bad receipt: refused naming it, the order stays UNPAID and payable.
    let mut forged = p.receipt(&first);
    forged.signature = "AAAA".into();
    let err = p
        .c()
        .pay_order(p.req(
            &buyer,
            Role::Viewer,
            pb::PayOrderRequest {
                idempotency_key: key(),
                order_id: first.order_id.clone(),
                receipt: Some(forged),
            },
        ))
        .await
        .expect_err("forged");
    assert_eq!(reason(&err), "PAYMENT_DECLINED");
    assert!(
        err.message().contains("receipt.signature"),
        "{}",
        err.message()
    );
    let wrong = p.receipts.sign(&TestReceipt {
        receipt_id: Uuid::now_v7().to_string(),
        product_id: format!("commerce:order:{}", first.order_id),
        amount_cents: first.total_cents - 1,
    });
    let err = p
        .c()
        .pay_order(p.req(
            &buyer,
            Role::Viewer,
            pb::PayOrderRequest {
                idempotency_key: key(),
                order_id: first.order_id.clone(),
                receipt: Some(wrong),
            },
        ))
        .await
        .expect_err("underpaid");
    assert_eq!(reason(&err), "PAYMENT_DECLINED");
    assert!(
        err.message().contains("receipt.receipt_data"),
        "{}",
        err.message()
    );
    assert_eq!(
        p.order(&first.order_id).await.status,
        pb::OrderStatus::Unpaid as i32
    );
    assert_eq!(p.cents(&buyer).await, (0, 0));
    let paid = p.pay(&buyer, &first).await;
    assert_eq!(paid.status, pb::OrderStatus::OnHold as i32);
    assert_eq!(p.cents(&buyer).await, (0, 700));

    // A refund before delivery is a jump too.
    let err = p
        .c()
        .refund_order(p.req(
            &l.seller,
            Role::Creator,
            pb::RefundOrderRequest {
                idempotency_key: key(),
                order_id: first.order_id.clone(),
                amount_cents: 100,
                reason: "why not".into(),
            },
        ))
        .await
        .expect_err("not delivered");
    assert_eq!(reason(&err), "INVALID_TRANSITION");
    assert_eq!(p.cents(&buyer).await, (0, 700));
    assert!(p.reconciles().await);
}

#[tokio::test]
async fn unpaid_orders_per_buyer_are_capped() {
    let p = Platform::start_with(|c| c.orders.max_unpaid_per_buyer = 3).await;
    let l = p.listing(&[("A", 500, 50)]).await;
    let buyer = user();
    // Three at once is the cap, even when they race.
    let sku = l.sku(0);
    let placed = futures::future::join_all(
        (0..6).map(|_| async { p.place(&buyer, &l.shop_id, &[(&sku, 2)]).await }),
    )
    .await;
    let (ok, refused): (Vec<_>, Vec<_>) = placed.into_iter().partition(Result::is_ok);
    assert_eq!(ok.len(), 3);
    for err in refused {
        let err = err.expect_err("capped");
        assert_eq!(reason(&err), "TOO_MANY_UNPAID_ORDERS", "{err:?}");
        assert!(err.message().contains("pay or cancel"), "{}", err.message());
    }
    assert_eq!(p.stock(&l, 0).await, 44, "refused checkouts hold nothing");
    // Paying one frees a place; another buyer is not affected.
    let first = ok[0].as_ref().expect("order").clone();
    p.pay(&buyer, &first).await;
    p.place(&buyer, &l.shop_id, &[(&l.sku(0), 1)])
        .await
        .expect("a place again");
    p.place(&user(), &l.shop_id, &[(&l.sku(0), 1)])
        .await
        .expect("another buyer");
}

/// A checkout repeated with its key (the answer was lost) is answered with
/// its order, exactly as first answered, even when the order it placed is
/// what now stands in the way: the last unit is gone, or the buyer is at
/// the unpaid cap. The key with another body is refused by name.
#[tokio::test]
async fn a_repeated_checkout_is_its_order_even_when_that_order_took_the_last_unit_or_slot() {
    let p = Platform::start_with(|c| c.orders.max_unpaid_per_buyer = 1).await;
    let l = p.listing(&[("A", 500, 2)]).await;
    let buyer = user();
    let body = pb::PlaceOrderRequest {
        idempotency_key: key(),
        shop_id: l.shop_id.clone(),
        items: vec![pb::OrderLine {
            sku_id: l.sku(0),
            quantity: 2,
        }],
    };
    let send = |body: pb::PlaceOrderRequest| {
        let mut c = p.c();
        let req = p.req(&buyer, Role::Viewer, body);
        async move { c.place_order(req).await.map(|r| r.into_inner().order) }
    };
    let first = send(body.clone()).await.expect("order").expect("order");
    assert_eq!(p.stock(&l, 0).await, 0, "the order took both units");
    // Sold out and at the cap, yet the repeat is the same order.
    let again = send(body.clone()).await.expect("repeat").expect("order");
    assert_eq!(again, first);
    assert_eq!(p.stock(&l, 0).await, 0, "a repeat takes nothing");
    // Another key is refused for the rule that now applies.
    let other = send(pb::PlaceOrderRequest {
        idempotency_key: key(),
        ..body.clone()
    })
    .await
    .expect_err("sold out");
    assert_eq!(reason(&other), "OUT_OF_STOCK", "{other:?}");
    // The same key with another body names the key.
    let reused = send(pb::PlaceOrderRequest {
        items: vec![pb::OrderLine {
            sku_id: l.sku(0),
            quantity: 1,
        }],
        ..body
    })
    .await
    .expect_err("key reused");
    assert_eq!(reason(&reused), "IDEMPOTENCY_KEY_REUSED", "{reused:?}");
    let mine = p
        .c()
        .list_orders(p.req(
            &buyer,
            Role::Viewer,
            pb::ListOrdersRequest {
                role: pb::OrderRole::Buyer as i32,
                ..Default::default()
            },
        ))
        .await
        .expect("orders")
        .into_inner()
        .orders;
    assert_eq!(mine, vec![first], "one order in all");
}

#[tokio::test]
async fn the_wrong_party_is_forbidden_and_the_wrong_state_is_a_transition_error() {
    let p = Platform::start().await;
    let l = p.listing(&[("A", 800, 5)]).await;
    let buyer = user();
    let order = p.paid_order(&l, &buyer, 1).await;
    let id = order.order_id.clone();
    let ship = |who: &str| {
        let mut c = p.c();
        let req = p.req(
            who,
            Role::Viewer,
            pb::ShipOrderRequest {
                idempotency_key: key(),
                order_id: id.clone(),
                carrier: "UPS".into(),
                tracking_number: "1Z0000009".into(),
            },
        );
        async move { c.ship_order(req).await }
    };
    let deliver = |who: &str| {
        let mut c = p.c();
        let req = p.req(
            who,
            Role::Viewer,
            pb::ConfirmDeliveryRequest {
                idempotency_key: key(),
                order_id: id.clone(),
            },
        );
        async move { c.confirm_delivery(req).await }
    };
    let refund = |who: &str, amount: i64| {
        let mut c = p.c();
        let req = p.req(
            who,
            Role::Viewer,
            pb::RefundOrderRequest {
                idempotency_key: key(),
                order_id: id.clone(),
                amount_cents: amount,
                reason: "broken".into(),
            },
        );
        async move { c.refund_order(req).await }
    };
    // The buyer shipping or refunding, the seller paying or confirming
    // delivery: 403 in any state, naming who does it.
    let err = ship(&buyer).await.expect_err("buyer ships");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(
        err.message().contains("only the seller"),
        "{}",
        err.message()
    );
    let err = refund(&buyer, 100).await.expect_err("buyer refunds");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = deliver(&l.seller).await.expect_err("seller delivers");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = p
        .c()
        .pay_order(p.req(
            &l.seller,
            Role::Creator,
            pb::PayOrderRequest {
                idempotency_key: key(),
                order_id: id.clone(),
                receipt: Some(p.receipt(&order)),
            },
        ))
        .await
        .expect_err("seller pays");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    // The right party in the wrong state: 422 INVALID_TRANSITION.
    let err = ship(&l.seller).await.expect_err("on hold");
    assert_eq!(reason(&err), "INVALID_TRANSITION");
    let err = deliver(&buyer).await.expect_err("not shipped");
    assert_eq!(reason(&err), "INVALID_TRANSITION");
    let err = refund(&l.seller, 100).await.expect_err("not delivered");
    assert_eq!(reason(&err), "INVALID_TRANSITION");
    // A refund above the schema's maximum is the request's shape.
    let err = refund(&l.seller, 100_000_000_001)
        .await
        .expect_err("too large");
    assert_eq!(
        (err.code(), field(&err)),
        (Code::InvalidArgument, "amount_cents".to_owned())
    );
    // Nothing changed.
    assert_eq!(p.order(&id).await.status, pb::OrderStatus::OnHold as i32);
    assert_eq!(p.cents(&buyer).await, (0, 800));
}
