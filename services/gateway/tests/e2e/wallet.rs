//! The wallet through the gateway: buy coins, gift a LIVE room, cash out,
//! with idempotency keys, auth and field/rule errors as a client sees them.

use std::time::Duration;

use loop_platform::testing;
use loop_testkit::fixtures::test_receipt as receipt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Platform, error_field};

async fn post_idem(
    p: &Platform,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    p.post_keyed(path, token, key, body).await
}

fn key() -> String {
    format!("e2e-{}", uuid::Uuid::now_v7())
}

#[tokio::test]
async fn a_viewer_buys_coins_gifts_a_live_room_and_the_creator_cashes_out() {
    let p = Platform::start().await;
    let (creator, creator_id) = p.sign_up("gifted", "creator").await;
    let (viewer, viewer_id) = p.sign_up("fan_one", "viewer").await;
    let (status, room) = p
        .post("/v1/live", Some(&creator), json!({"title": "hello"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let room_id = room["room_id"].as_str().expect("room").to_owned();

    let (status, packages) = p.get("/v1/wallet/coin-packages", &viewer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        packages["items"][0],
        json!({"package_id": "coins_100", "coins": 100, "price_cents": 99, "display_name": "100 coins", "store_product_id": "loop.coins_100"})
    );

    // A purchase needs an Idempotency-Key and a valid receipt.
    let body = json!({"package_id": "coins_5000", "receipt": receipt("loop.coins_5000", 4599)});
    let (status, err) = post_idem(&p, "/v1/wallet/purchases", &viewer, None, body.clone()).await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("Idempotency-Key")),
        "{err}"
    );
    let buy_key = key();
    let (status, bought) = post_idem(
        &p,
        "/v1/wallet/purchases",
        &viewer,
        Some(&buy_key),
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{bought}");
    assert_eq!(bought["coins_balance"], 5000);
    assert_eq!(bought["transaction"]["kind"], "coin_purchase");
    let (_, again) = post_idem(&p, "/v1/wallet/purchases", &viewer, Some(&buy_key), body).await;
    assert_eq!(
        again["transaction"]["transaction_id"], bought["transaction"]["transaction_id"],
        "a retry buys nothing more"
    );

    // Gifts: one, its retry, and one the viewer cannot afford.
    let gift = json!({"gift_id": "galaxy", "recipient_id": creator_id, "live_room_id": room_id, "count": 2});
    let gift_key = key();
    let (status, sent) = post_idem(
        &p,
        "/v1/wallet/gifts",
        &viewer,
        Some(&gift_key),
        gift.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(
        (sent["coins_spent"].as_i64(), sent["coins_balance"].as_i64()),
        (Some(2000), Some(3000))
    );
    let (_, retried) = post_idem(
        &p,
        "/v1/wallet/gifts",
        &viewer,
        Some(&gift_key),
        gift.clone(),
    )
    .await;
    assert_eq!(retried, sent);
    let (status, err) = post_idem(
        &p,
        "/v1/wallet/gifts",
        &viewer,
        Some(&key()),
        json!({"gift_id": "universe", "recipient_id": creator_id, "live_room_id": room_id}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["reason"], "INSUFFICIENT_FUNDS");
    let (status, err) = post_idem(
        &p,
        "/v1/wallet/gifts",
        &viewer,
        Some(&key()),
        json!({"gift_id": "rose", "recipient_id": viewer_id, "live_room_id": room_id}),
    )
    .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("recipient_id")),
        "{err}"
    );
    let (status, err) = post_idem(
        &p,
        "/v1/wallet/gifts",
        &viewer,
        Some(&gift_key),
        json!({"gift_id": "rose", "recipient_id": creator_id, "live_room_id": room_id}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"]["reason"], "IDEMPOTENCY_KEY_REUSED");

    let (_, balance) = p.get("/v1/wallet/balance", &viewer).await;
    assert_eq!(balance["coins"], json!({"available": 3000, "held": 0}));
    let (status, _) = p
        .get(&format!("/v1/wallet/balance?user_id={creator_id}"), &viewer)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only you read your wallet");
    let (_, creator_balance) = p.get("/v1/wallet/balance", &creator).await;
    assert_eq!(creator_balance["diamonds"]["available"], 2000);
    assert_eq!(creator_balance["diamonds_cash_value_cents"], 1000);

    // The room's board.
    let board = testing::wait_for("room leaderboard", Duration::from_secs(30), || async {
        let (_, b) = p
            .get(&format!("/v1/live/{room_id}/leaderboard"), &viewer)
            .await;
        (b["entries"].as_array().is_some_and(|e| !e.is_empty())).then_some(b)
    })
    .await;
    assert_eq!(
        board["entries"][0],
        json!({"rank": 1, "user_id": viewer_id, "score": 2000})
    );
    assert_eq!(board["me"]["rank"], 1);

    // Cash out: the creator asks, a viewer cannot approve, the admin does.
    let (status, payout) = post_idem(
        &p,
        "/v1/wallet/payouts",
        &creator,
        Some(&key()),
        json!({"diamonds": 2000}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{payout}");
    assert_eq!(payout["status"], "pending");
    let payout_id = payout["payout_id"].as_str().expect("id").to_owned();
    let approve = format!("/v1/admin/payouts/{payout_id}/approve");
    let (status, _) = post_idem(&p, &approve, &viewer, Some(&key()), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, login) = p
        .post(
            "/v1/auth/login",
            None,
            json!({"handle": "admin", "password": "loop-admin-dev-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let admin = login["token"].as_str().expect("token").to_owned();
    let (status, queue) = p.get("/v1/wallet/payouts?status=pending", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(queue["items"][0]["payout_id"], payout_id.as_str());
    let (status, approved) = post_idem(&p, &approve, &admin, Some(&key()), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "approved");
    let (status, err) = post_idem(&p, &approve, &admin, Some(&key()), json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["reason"], "PAYOUT_NOT_PENDING");

    let (_, history) = p
        .get("/v1/wallet/transactions?page_size=10", &creator)
        .await;
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, vec!["payout_approval", "payout_request", "gift"]);
    let (status, report) = p.get("/v1/admin/wallet/reconcile", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["consistent"], true, "{report}");
    let (status, _) = p.get("/v1/admin/wallet/reconcile", &viewer).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let doc: Value = p
        .http
        .get(format!("{}/openapi.json", p.base))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    for path in [
        "/v1/wallet/gifts",
        "/v1/wallet/purchases",
        "/v1/admin/payouts/{payout_id}/approve",
        "/v1/live/{room_id}/leaderboard",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
    testing::clear_redis(&p.redis).await;
}
