//! Bad input names the rule and moves nothing; retries return the first result.

use super::*;

#[tokio::test]
async fn bad_gifts_name_the_rule_and_move_no_coins() {
    let p = Platform::start_with(|c| c.content.room_cache_ttl_ms = 0).await;
    let creator = p.creator().await;
    let other_creator = p.creator().await;
    let viewer = p.seed_users(1, "1995-01-01", Role::Viewer).await.remove(0);
    let room = p.go_live(&creator).await;
    let bought = p.buy(&viewer, "coins_100").await;
    assert_eq!(bought.coins_balance, 100);
    let mut c = p.client();
    let before = (p.balance(&viewer).await, p.balance(&creator).await);

    let cases: Vec<(pb::SendGiftRequest, Code, &str)> = vec![
        (
            gift_req(&key(), "dragon", &creator, &room, 1),
            Code::NotFound,
            "",
        ),
        (
            gift_req(&key(), "rose", &creator, &room, 0),
            Code::InvalidArgument,
            "count",
        ),
        (
            gift_req(&key(), "rose", &creator, &room, 1000),
            Code::InvalidArgument,
            "count",
        ),
        (
            gift_req(&key(), "doughnut", &creator, &room, 4),
            Code::FailedPrecondition,
            "INSUFFICIENT_FUNDS",
        ),
        (
            gift_req(&key(), "rose", &viewer, &room, 1),
            Code::InvalidArgument,
            "recipient_id",
        ),
        (
            gift_req(&key(), "rose", &other_creator, &room, 1),
            Code::FailedPrecondition,
            "RECIPIENT_MISMATCH",
        ),
        (
            gift_req(&key(), "rose", &creator, &Uuid::now_v7().to_string(), 1),
            Code::NotFound,
            "",
        ),
        (
            gift_req("short", "rose", &creator, &room, 1),
            Code::InvalidArgument,
            "idempotency_key",
        ),
        (
            pb::SendGiftRequest {
                target: None,
                ..gift_req(&key(), "rose", &creator, &room, 1)
            },
            Code::InvalidArgument,
            "target",
        ),
    ];
    for (req, code, what) in cases {
        let err = c
            .send_gift(p.req(&viewer, Role::Viewer, req.clone()))
            .await
            .expect_err("refused");
        assert_eq!(err.code(), code, "{req:?}: {err:?}");
        if !what.is_empty() {
            assert!(
                field(&err) == what || reason(&err) == what,
                "{req:?}: {err:?}"
            );
        }
        assert!(!err.message().is_empty());
    }

    // A gift to a room that ended.
    p.end_live(&creator, &room).await;
    let err = c
        .send_gift(p.req(
            &viewer,
            Role::Viewer,
            gift_req(&key(), "rose", &creator, &room, 1),
        ))
        .await
        .expect_err("room ended");
    assert_eq!(reason(&err), "ROOM_NOT_LIVE", "{err:?}");

    // No money moved.
    assert_eq!(
        (p.balance(&viewer).await, p.balance(&creator).await),
        before
    );
    assert!(p.reconcile().await.consistent);
}

#[tokio::test]
async fn bad_purchases_name_the_rule_and_a_receipt_credits_once() {
    let p = Platform::start().await;
    let viewer = p.seed_users(1, "1995-01-01", Role::Viewer).await.remove(0);
    let minor = p
        .seed_users(
            1,
            &(chrono::Utc::now().date_naive() - chrono::Duration::days(17 * 365)).to_string(),
            Role::Viewer,
        )
        .await
        .remove(0);
    let mut c = p.client();
    let before = p.balance(&viewer).await;

    // Under-age buyer; replayed receipt; tampered receipt; wrong product.
    let receipt = p.receipt("loop.coins_100", 99);
    let err = c
        .purchase_coins(p.req(
            &minor,
            Role::Viewer,
            pb::PurchaseCoinsRequest {
                idempotency_key: key(),
                package_id: "coins_100".into(),
                receipt: Some(receipt.clone()),
            },
        ))
        .await
        .expect_err("minor");
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::FailedPrecondition, "AGE_RESTRICTED")
    );
    let first_key = key();
    c.purchase_coins(p.req(
        &viewer,
        Role::Viewer,
        pb::PurchaseCoinsRequest {
            idempotency_key: first_key.clone(),
            package_id: "coins_100".into(),
            receipt: Some(receipt.clone()),
        },
    ))
    .await
    .expect("the receipt's first use");
    let err = c
        .purchase_coins(p.req(
            &viewer,
            Role::Viewer,
            pb::PurchaseCoinsRequest {
                idempotency_key: key(),
                package_id: "coins_100".into(),
                receipt: Some(receipt.clone()),
            },
        ))
        .await
        .expect_err("replayed receipt");
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::AlreadyExists, "RECEIPT_ALREADY_REDEEMED")
    );
    let mut tampered = p.receipt("loop.coins_100", 99);
    tampered.signature = p.receipt("loop.coins_100", 99).signature;
    let err = c
        .purchase_coins(p.req(
            &viewer,
            Role::Viewer,
            pb::PurchaseCoinsRequest {
                idempotency_key: key(),
                package_id: "coins_100".into(),
                receipt: Some(tampered),
            },
        ))
        .await
        .expect_err("tampered");
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "receipt.signature")
    );
    let err = c
        .purchase_coins(p.req(
            &viewer,
            Role::Viewer,
            pb::PurchaseCoinsRequest {
                idempotency_key: key(),
                package_id: "coins_1000".into(),
                receipt: Some(p.receipt("loop.coins_100", 99)),
            },
        ))
        .await
        .expect_err("wrong product");
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "receipt.receipt_data")
    );
    // The same key with another body.
    let err = c
        .purchase_coins(p.req(
            &viewer,
            Role::Viewer,
            pb::PurchaseCoinsRequest {
                idempotency_key: first_key,
                package_id: "coins_500".into(),
                receipt: Some(p.receipt("loop.coins_500", 479)),
            },
        ))
        .await
        .expect_err("key reuse");
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::AlreadyExists, "IDEMPOTENCY_KEY_REUSED")
    );

    // The only change is the receipt's first use.
    let after = p.balance(&viewer).await;
    assert_eq!(
        after[0].0,
        before[0].0 + 100,
        "only the first use of the receipt credited"
    );
    assert_eq!(p.balance(&minor).await, [(0, 0); 3]);
    assert!(p.reconcile().await.consistent);
}

#[tokio::test]
async fn bad_payouts_name_the_rule_and_only_the_valid_one_moves_diamonds() {
    let p = Platform::start_with(|c| {
        c.content.room_cache_ttl_ms = 0;
        c.money.daily_payout_cap_cents = 1500;
    })
    .await;
    let creator = p.creator().await;
    let other_creator = p.creator().await;
    let viewer = p.seed_users(1, "1995-01-01", Role::Viewer).await.remove(0);
    let room = p.go_live(&creator).await;
    // The creator earns 3000 diamonds (1500 cents) from a viewer.
    let rich = p.seed_users(1, "1980-01-01", Role::Viewer).await.remove(0);
    p.buy(&rich, "coins_5000").await;
    let mut c = p.client();
    c.send_gift(p.req(
        &rich,
        Role::Viewer,
        gift_req(&key(), "galaxy", &creator, &room, 3),
    ))
    .await
    .expect("gift");
    let before = (p.balance(&creator).await, p.balance(&rich).await);

    // Payouts: zero, negative, below the minimum, over the daily cap, more than held.
    let payout = |amount: pb::request_payout_request::Amount| {
        p.req(
            &creator,
            Role::Creator,
            pb::RequestPayoutRequest {
                idempotency_key: key(),
                amount: Some(amount),
            },
        )
    };
    use pb::request_payout_request::Amount::{Cents, Diamonds};
    let err = c
        .request_payout(payout(Diamonds(0)))
        .await
        .expect_err("zero");
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "diamonds")
    );
    let err = c
        .request_payout(payout(Cents(-5)))
        .await
        .expect_err("negative");
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "cents")
    );
    let err = c
        .request_payout(payout(Diamonds(1999)))
        .await
        .expect_err("below minimum");
    assert_eq!(reason(&err), "BELOW_MINIMUM_PAYOUT", "{err:?}");
    let err = c
        .request_payout(payout(Diamonds(3000 + 2)))
        .await
        .expect_err("over the cap");
    assert_eq!(reason(&err), "DAILY_PAYOUT_CAP", "{err:?}");
    c.request_payout(payout(Diamonds(2000)))
        .await
        .expect("within the cap");
    let err = c
        .request_payout(payout(Diamonds(2000)))
        .await
        .expect_err("cap reached");
    assert_eq!(reason(&err), "DAILY_PAYOUT_CAP", "{err:?}");
    let err = c
        .request_payout(p.req(
            &viewer,
            Role::Viewer,
            pb::RequestPayoutRequest {
                idempotency_key: key(),
                amount: Some(Diamonds(2000)),
            },
        ))
        .await
        .expect_err("viewers cannot cash out");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = c
        .request_payout(p.req(
            &other_creator,
            Role::Creator,
            pb::RequestPayoutRequest {
                idempotency_key: key(),
                amount: Some(Diamonds(2000)),
            },
        ))
        .await
        .expect_err("nothing to cash out");
    assert_eq!(reason(&err), "INSUFFICIENT_FUNDS", "{err:?}");

    let after = (p.balance(&creator).await, p.balance(&rich).await);
    assert_eq!(
        after.0[1],
        (before.0[1].0 - 2000, 2000),
        "only the valid payout moved diamonds"
    );
    assert_eq!(after.1, before.1);
    assert!(p.reconcile().await.consistent);
}

#[tokio::test]
async fn retries_return_the_first_result_even_after_the_state_moved_on() {
    let p = Platform::start_with(|c| c.content.room_cache_ttl_ms = 0).await;
    let creator = p.creator().await;
    let viewer = p.seed_users(1, "1995-01-01", Role::Viewer).await.remove(0);
    let room = p.go_live(&creator).await;
    p.buy(&viewer, "coins_100").await;
    let mut c = p.client();
    let k = key();
    let first = c
        .send_gift(p.req(
            &viewer,
            Role::Viewer,
            gift_req(&k, "doughnut", &creator, &room, 3),
        ))
        .await
        .expect("gift")
        .into_inner();
    assert_eq!(first.coins_balance, 10);
    // Now the viewer could not afford it, and the room ends: the retry still
    // gets the first result and nothing moves.
    p.end_live(&creator, &room).await;
    let retry = c
        .send_gift(p.req(
            &viewer,
            Role::Viewer,
            gift_req(&k, "doughnut", &creator, &room, 3),
        ))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(retry, first);
    // Concurrent duplicates of a new key: one transaction.
    p.buy(&viewer, "coins_100").await;
    let room2 = p.go_live(&creator).await;
    let k2 = key();
    let calls = (0..8).map(|_| {
        let mut c = p.client();
        let req = p.req(
            &viewer,
            Role::Viewer,
            gift_req(&k2, "rose", &creator, &room2, 5),
        );
        async move { c.send_gift(req).await.map(|r| r.into_inner()) }
    });
    let results = futures::future::join_all(calls).await;
    let ids: std::collections::HashSet<String> = results
        .into_iter()
        .map(|r| r.expect("duplicate").transaction_id)
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(p.balance(&viewer).await[0].0, 10 + 100 - 5);
    assert_eq!(p.balance(&creator).await[1].0, 90 + 5);
    let gifts: i64 = sqlx::query_scalar("SELECT count(*) FROM gifts")
        .fetch_one(&p.pool)
        .await
        .expect("count");
    assert_eq!(gifts, 2);
}
