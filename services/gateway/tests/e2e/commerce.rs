//! The shop through the public API: a seller opens a shop and lists a
//! product, an admin approves it, a buyer checks out and pays by card, the
//! seller ships after the hold, the buyer confirms delivery, a partial
//! refund, and a week later (commerce's clock moved) the seller is paid the
//! rest minus the 6% referral fee; the wallet's ledger reconciles.

use std::time::Duration;

use loop_platform::testing;
use loop_testkit::fixtures::test_receipt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::Platform;

async fn send(
    p: &Platform,
    path: &str,
    token: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Value) {
    let resp = p
        .http
        .post(format!("{}{path}", p.base))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn key() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test]
async fn a_buyer_orders_pays_and_the_seller_is_settled_minus_the_fee() {
    let p = Platform::start().await;
    let (seller, seller_id) = p.sign_up("mugseller", "creator").await;
    let (buyer, _) = p.sign_up("mugbuyer", "viewer").await;
    let (status, login) = p
        .post(
            "/v1/auth/login",
            None,
            json!({"handle": "admin", "password": "loop-admin-dev-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let admin = login["token"].as_str().expect("token").to_owned();

    let (status, shop) = p
        .post(
            "/v1/shop",
            Some(&seller),
            json!({"name": "Mugs", "description": "stoneware"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{shop}");
    let shop_id = shop["shop_id"].as_str().expect("shop").to_owned();
    let (status, product) = p
        .post(
            "/v1/products",
            Some(&seller),
            json!({"title": "Mug", "category": "home", "image_urls": ["https://cdn.example/mug.jpg"],
                   "skus": [{"name": "Blue", "price_cents": 2500, "stock": 3}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    assert_eq!(product["status"], "pending_review");
    let product_id = product["product_id"].as_str().expect("id").to_owned();
    let sku = product["skus"][0]["sku_id"]
        .as_str()
        .expect("sku")
        .to_owned();
    // Bad input names the field; the seller cannot review their own product.
    let (status, err) = p
        .post(
            "/v1/products",
            Some(&seller),
            json!({"title": "Free", "category": "home", "image_urls": ["https://cdn.example/x.jpg"],
                   "skus": [{"name": "A", "price_cents": 0, "stock": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let path = format!("/v1/admin/products/{product_id}/approve");
    let (status, _) = p
        .post(&path, Some(&seller), json!({"expected_version": 1}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, approved) = p
        .post(&path, Some(&admin), json!({"expected_version": 1}))
        .await;
    assert_eq!(
        (status, approved["status"].as_str()),
        (StatusCode::OK, Some("approved"))
    );

    // Checkout (a retry with the same key is the same order), then pay.
    let order_key = key();
    let body = json!({"shop_id": shop_id, "items": [{"sku_id": sku, "quantity": 2}]});
    let (status, order) = send(&p, "/v1/orders", &buyer, &order_key, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let (_, again) = send(&p, "/v1/orders", &buyer, &order_key, body).await;
    assert_eq!(again["order_id"], order["order_id"]);
    let order_id = order["order_id"].as_str().expect("order").to_owned();
    assert_eq!(
        (order["status"].as_str(), order["total_cents"].as_i64()),
        (Some("unpaid"), Some(5000))
    );
    let (status, err) = send(
        &p,
        "/v1/orders",
        &seller,
        &key(),
        json!({"shop_id": shop_id, "items": [{"sku_id": sku, "quantity": 1}]}),
    )
    .await;
    assert_eq!(
        (status, err["error"]["reason"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("SELF_PURCHASE"))
    );
    let pay = json!({"receipt": test_receipt(&format!("commerce:order:{order_id}"), 5000)});
    let (status, paid) = send(
        &p,
        &format!("/v1/orders/{order_id}/pay"),
        &buyer,
        &key(),
        pay,
    )
    .await;
    assert_eq!(
        (status, paid["status"].as_str()),
        (StatusCode::OK, Some("on_hold")),
        "{paid}"
    );

    // Shipping waits for the hour of free cancellation.
    let ship = json!({"carrier": "UPS", "tracking_number": "1Z999AA1012"});
    let ship_path = format!("/v1/orders/{order_id}/ship");
    let (status, err) = send(&p, &ship_path, &seller, &key(), ship.clone()).await;
    assert_eq!(
        (status, err["error"]["reason"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("INVALID_TRANSITION"))
    );
    let clock = p._running.sandbox.commerce_clock().clone();
    clock.advance(Duration::from_secs(3600));
    let (status, shipped) = send(&p, &ship_path, &seller, &key(), ship).await;
    assert_eq!(
        (status, shipped["status"].as_str()),
        (StatusCode::OK, Some("shipped")),
        "{shipped}"
    );
    let (status, delivered) = send(
        &p,
        &format!("/v1/orders/{order_id}/deliver"),
        &buyer,
        &key(),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, delivered["status"].as_str()),
        (StatusCode::OK, Some("delivered")),
        "{delivered}"
    );
    let (status, refunded) = send(
        &p,
        &format!("/v1/orders/{order_id}/refund"),
        &seller,
        &key(),
        json!({"amount_cents": 1000, "reason": "one arrived chipped"}),
    )
    .await;
    assert_eq!(
        (status, refunded["refunded_cents"].as_i64()),
        (StatusCode::OK, Some(1000)),
        "{refunded}"
    );

    // A week later: 4,000 left, fee floor(6% x 4000) = 240, seller 3,760.
    clock.advance(Duration::from_secs(7 * 24 * 3600));
    let done = testing::wait_for("settled", Duration::from_secs(60), || async {
        let (_, o) = p.get(&format!("/v1/orders/{order_id}"), &buyer).await;
        (o["status"] == "completed").then_some(o)
    })
    .await;
    assert_eq!(
        (done["seller_cents"].as_i64(), done["fee_cents"].as_i64()),
        (Some(3760), Some(240))
    );
    let (status, balance) = p
        .get(&format!("/v1/wallet/balance?user_id={seller_id}"), &admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{balance}");
    assert_eq!(balance["cents"]["available"].as_i64(), Some(3760));
    let (status, report) = p.get("/v1/admin/wallet/reconcile", &admin).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["consistent"], true, "{report}");
    let (status, mine) = p.get("/v1/orders?role=seller", &seller).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(1));
}
