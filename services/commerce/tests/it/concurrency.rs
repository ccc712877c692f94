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
