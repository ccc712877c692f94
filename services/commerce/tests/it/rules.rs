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
        affiliate_id: String::new(),
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
