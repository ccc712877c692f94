//! Many buyers at once for the last units: never oversold, every loser
//! refused before paying, stock exact afterwards.

use super::*;

#[tokio::test]
async fn concurrent_buyers_for_the_last_units_never_oversell() {
    let p = Platform::start().await;
    let l = p.listing(&[("Last ones", 1_000, 12)]).await;
    let sku = l.sku(0);
    // 60 buyers, each for 1 or 2 units, all at once: at most 12 units go.
    let attempts = futures::future::join_all((0..60u32).map(|i| {
        let p = &p;
        let sku = sku.clone();
        let shop = l.shop_id.clone();
        async move {
            let buyer = user();
            let quantity = 1 + i % 2;
            (quantity, p.place(&buyer, &shop, &[(&sku, quantity)]).await)
        }
    }))
    .await;
    let mut sold = 0;
    let mut refused = 0;
    for (quantity, outcome) in &attempts {
        match outcome {
            Ok(order) => {
                assert_eq!(order.items[0].quantity, *quantity);
                sold += i64::from(*quantity);
            }
            Err(err) => {
                assert_eq!(reason(err), "OUT_OF_STOCK", "{err:?}");
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "60 buyers cannot all be served from 12 units");
    // 30 one-unit buyers alone want more than 12 units, and a one-unit
    // order fails only at 0 left: everything is sold, nothing more.
    assert_eq!(p.stock(&l, 0).await, 0);
    assert_eq!(sold, 12, "exactly the stock was sold");
}

/// One SKU's checkouts are placed in batches, each order in its own
/// subtransaction: sent all at once, a buyer's repeated request (same key)
/// is the buyer's one order, sold-out requests are refused alone, and the
/// stock is exact.
#[tokio::test]
async fn checkouts_sent_together_stay_each_their_own() {
    let p = Platform::start().await;
    let l = p.listing(&[("Batched", 700, 10)]).await;
    let sku = l.sku(0);
    let buyers: Vec<(String, String)> = (0..16).map(|_| (user(), key())).collect();
    // Every buyer twice with the same key, all 32 requests at once.
    let sent = futures::future::join_all(buyers.iter().chain(&buyers).map(|(buyer, k)| {
        let body = pb::PlaceOrderRequest {
            idempotency_key: k.clone(),
            shop_id: l.shop_id.clone(),
            items: vec![pb::OrderLine {
                sku_id: sku.clone(),
                quantity: 1,
            }],
        };
        let (mut client, req) = (p.c(), p.req(buyer, Role::Viewer, body));
        async move { (buyer.clone(), client.place_order(req).await) }
    }))
    .await;
    let mut orders: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut refused = 0;
    for (buyer, outcome) in sent {
        match outcome {
            Ok(r) => orders
                .entry(buyer)
                .or_default()
                .push(r.into_inner().order.expect("order").order_id),
            Err(err) => {
                assert_eq!(reason(&err), "OUT_OF_STOCK", "{err:?}");
                refused += 1;
            }
        }
    }
    // Ten buyers got the ten units, each answered twice with one order
    // (whichever request ran second found the first's); the other six
    // buyers were refused twice.
    assert_eq!(orders.len(), 10, "{orders:?}");
    for (buyer, ids) in &orders {
        assert_eq!(ids.len(), 2, "{buyer}: {ids:?}");
        assert_eq!(ids[0], ids[1], "{buyer}");
    }
    assert_eq!(refused, 12);
    assert_eq!(p.stock(&l, 0).await, 0);
}
