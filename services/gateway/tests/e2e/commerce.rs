//! The shop through the public API: a seller opens a shop and lists a
//! product, an admin approves it, the seller opens it to affiliates, a
//! creator features it in their showcase, a buyer opens it from there (the
//! visit recorded), checks out (attributed to the creator by the server)
//! and pays by card, the seller ships after the hold, the buyer confirms
//! delivery, a partial refund, and a week later (commerce's clock moved)
//! the seller is paid the rest minus the 6% referral fee and the creator's
//! commission, which is paid on its own day (delivery + 15 days); the
//! wallet's ledger reconciles.

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
    p.post_keyed(path, token, Some(key), body).await
}

fn key() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test]
async fn a_buyer_orders_pays_and_the_seller_is_settled_minus_the_fee() {
    let p = Platform::start().await;
    let (seller, seller_id) = p.sign_up("mugseller", "creator").await;
    let (buyer, _) = p.sign_up("mugbuyer", "viewer").await;
    let (creator, creator_id) = p.sign_up("mugfan", "creator").await;
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
    // Admins find it in the review queue (others may not read the queue).
    let (status, queue) = p.get("/v1/admin/products", &admin).await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let queued = |page: &Value| {
        page["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|x| x["product_id"] == product_id.as_str()))
    };
    assert!(queued(&queue), "{queue}");
    let (status, _) = p.get("/v1/admin/products", &seller).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, err) = p.get("/v1/admin/products?status=sold", &admin).await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("status"))
    );
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
    let (_, queue) = p.get("/v1/admin/products", &admin).await;
    assert!(!queued(&queue), "approved: out of the queue {queue}");

    // An invitation names both parties by username, on both sides.
    let (guest, guest_id) = p.sign_up("mugguest", "creator").await;
    let (status, sent) = p
        .post(
            &format!("/v1/products/{product_id}/invitations"),
            Some(&seller),
            json!({"creator_id": guest_id, "rate_bps": 1500}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(
        (
            sent["creator_handle"].as_str(),
            sent["seller_handle"].as_str()
        ),
        (Some("mugguest"), Some("mugseller"))
    );
    let (status, mine) = p.get("/v1/invitations?sent=true", &seller).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["items"][0]["creator_handle"], "mugguest", "{mine}");
    let (_, received) = p.get("/v1/invitations", &guest).await;
    assert_eq!(
        (
            received["items"][0]["seller_handle"].as_str(),
            received["items"][0]["rate_bps"].as_u64()
        ),
        (Some("mugseller"), Some(1500)),
        "{received}"
    );

    // A rate outside 1-80% (0 too: closing is DELETE) is refused by its
    // field and the product stays closed.
    for bad in [0, 99, 8001] {
        let resp = p
            .http
            .put(format!("{}/v1/products/{product_id}/affiliate", p.base))
            .bearer_auth(&seller)
            .json(&json!({"rate_bps": bad}))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "rate {bad}");
        let err: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(err["error"]["field"], "rate_bps", "{err}");
    }
    let (_, closed) = p.get(&format!("/v1/products/{product_id}"), &seller).await;
    assert_eq!(closed["affiliate_rate_bps"], 0, "{closed}");

    // Open to affiliates at 10%; a creator features it; the buyer opens it
    // from the creator's showcase. A visit naming a creator who does not
    // feature it is refused (422), so the client cannot pick the affiliate.
    let resp = p
        .http
        .put(format!("{}/v1/products/{product_id}/affiliate", p.base))
        .bearer_auth(&seller)
        .json(&json!({"rate_bps": 1000}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, item) = p
        .post(
            "/v1/showcase",
            Some(&creator),
            json!({"product_id": product_id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    let referrals = format!("/v1/products/{product_id}/referrals");
    let (status, err) = p
        .post(
            &referrals,
            Some(&buyer),
            json!({"creator_id": uuid::Uuid::now_v7().to_string(), "source": "showcase"}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["reason"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("NOT_FEATURED")),
        "{err}"
    );
    let (status, visit) = p
        .post(
            &referrals,
            Some(&buyer),
            json!({"creator_id": creator_id, "source": "showcase"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{visit}");
    let (status, showcase) = p
        .get(&format!("/v1/creators/{creator_id}/showcase"), &buyer)
        .await;
    assert_eq!(status, StatusCode::OK, "{showcase}");
    assert_eq!(
        showcase["items"][0]["product"]["product_id"],
        product_id.as_str()
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
    assert_eq!(order["affiliate_id"], creator_id.as_str(), "{order}");
    // The client cannot name an affiliate.
    let (status, err) = send(
        &p,
        "/v1/orders",
        &buyer,
        &key(),
        json!({"shop_id": shop_id, "items": [{"sku_id": sku, "quantity": 1}], "affiliate_id": seller_id}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
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
    // The buyer never ships: 403, whatever the state; the seller too early: 422.
    let (status, err) = send(&p, &ship_path, &buyer, &key(), ship.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
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

    // A week later: 4,000 left, fee floor(6% x 4000) = 240, commission
    // floor(500 x 4000 / 5000) = 400, seller 3,360.
    clock.advance(Duration::from_secs(7 * 24 * 3600));
    let done = testing::wait_for("settled", Duration::from_secs(60), || async {
        let (_, o) = p.get(&format!("/v1/orders/{order_id}"), &buyer).await;
        (o["status"] == "completed").then_some(o)
    })
    .await;
    assert_eq!(
        (done["seller_cents"].as_i64(), done["fee_cents"].as_i64()),
        (Some(3360), Some(240))
    );
    assert_eq!(done["commission_cents"].as_i64(), Some(400));
    let (status, balance) = p
        .get(&format!("/v1/wallet/balance?user_id={seller_id}"), &admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{balance}");
    assert_eq!(balance["cents"]["available"].as_i64(), Some(3360));
    // The commission is paid on its own day (delivery + 15 days): payable,
    // still held in the escrow, until then.
    let (status, commissions) = p.get("/v1/commissions", &creator).await;
    assert_eq!(status, StatusCode::OK, "{commissions}");
    assert_eq!(
        (
            commissions["payable_cents"].as_i64(),
            commissions["items"][0]["state"].as_str()
        ),
        (Some(400), Some("payable")),
        "{commissions}"
    );
    let (status, report) = p.get("/v1/admin/wallet/reconcile", &admin).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["consistent"], true, "{report}");
    clock.advance(Duration::from_secs(8 * 24 * 3600));
    let commissions = testing::wait_for("commission paid", Duration::from_secs(60), || async {
        let (_, c) = p.get("/v1/commissions", &creator).await;
        (c["paid_cents"].as_i64() == Some(400)).then_some(c)
    })
    .await;
    assert_eq!(
        commissions["items"][0]["state"].as_str(),
        Some("paid"),
        "{commissions}"
    );
    let (_, balance) = p
        .get(&format!("/v1/wallet/balance?user_id={creator_id}"), &admin)
        .await;
    assert_eq!(balance["cents"]["available"].as_i64(), Some(400));
    let (status, report) = p.get("/v1/admin/wallet/reconcile", &admin).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["consistent"], true, "{report}");
    let (status, mine) = p.get("/v1/orders?role=seller", &seller).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(1));
}

/// Shoppable content and a flash sale through the public API: a creator
/// who sells anchors a product to their video (the product page lists the
/// video), goes LIVE, fills the bag and pins the product (the room shows
/// it), announces a flash sale (the room shows its countdown), and a
/// viewer buys at the sale price once it runs, within the limit, and pays.
#[tokio::test]
async fn a_host_pins_a_product_and_sells_it_in_a_flash_sale() {
    let p = Platform::start().await;
    let (host, _) = p.sign_up("flashhost", "creator").await;
    let (buyer, buyer_id) = p.sign_up("flashbuyer", "viewer").await;
    let (status, login) = p
        .post(
            "/v1/auth/login",
            None,
            json!({"handle": "admin", "password": "loop-admin-dev-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let admin = login["token"].as_str().expect("token").to_owned();
    let (status, _) = p
        .post(
            "/v1/shop",
            Some(&host),
            json!({"name": "Flash", "description": ""}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, product) = p
        .post(
            "/v1/products",
            Some(&host),
            json!({"title": "Lamp", "category": "home", "image_urls": ["https://cdn.example/lamp.jpg"],
                   "skus": [{"name": "White", "price_cents": 2000, "stock": 10}]}),
        )
        .await;
    let product_id = product["product_id"].as_str().expect("id").to_owned();
    let sku = product["skus"][0]["sku_id"]
        .as_str()
        .expect("sku")
        .to_owned();
    let (status, _) = p
        .post(
            &format!("/v1/admin/products/{product_id}/approve"),
            Some(&admin),
            json!({"expected_version": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Anchors on the host's own video; too many is a 400 naming the field;
    // someone else's video is a 403.
    let (status, video) = p
        .post(
            "/v1/videos",
            Some(&host),
            json!({"caption": "my lamp", "duration_ms": 10000, "media_url": "https://x.test/lamp"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{video}");
    let video_id = video["video_id"].as_str().expect("video").to_owned();
    let anchors = format!("/v1/videos/{video_id}/products");
    let (status, set) = p
        .call(
            reqwest::Method::PUT,
            &anchors,
            Some(&host),
            Some(json!({"product_ids": [product_id]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let four: Vec<String> = (0..4).map(|_| key()).collect();
    let (status, err) = p
        .call(
            reqwest::Method::PUT,
            &anchors,
            Some(&host),
            Some(json!({"product_ids": four})),
        )
        .await;
    assert_eq!(
        (status, crate::error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("product_ids")),
        "{err}"
    );
    let (status, _) = p
        .call(
            reqwest::Method::PUT,
            &anchors,
            Some(&buyer),
            Some(json!({"product_ids": []})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, listed) = p.get(&anchors, &buyer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["products"][0]["product_id"], product_id.as_str());

    // LIVE: bag, pin; the room shows the pin.
    let (status, room) = p
        .post("/v1/live", Some(&host), json!({"title": "lamps tonight"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let room_id = room["room_id"].as_str().expect("room").to_owned();
    let (status, bag) = p
        .post(
            &format!("/v1/live/{room_id}/bag"),
            Some(&host),
            json!({"product_id": product_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{bag}");
    let (status, _) = p
        .post(
            &format!("/v1/live/{room_id}/bag"),
            Some(&buyer),
            json!({"product_id": product_id}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, bag) = p
        .call(
            reqwest::Method::PUT,
            &format!("/v1/live/{room_id}/pin"),
            Some(&host),
            Some(json!({"product_id": product_id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{bag}");
    let (status, shown) = p.get(&format!("/v1/live/{room_id}"), &buyer).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["pinned_product"]["product_id"], product_id.as_str());
    assert_eq!(shown["shop_available"], true);
    assert_eq!(shown["title"], "lamps tonight");
    assert!(shown["flash_sale"].is_null(), "{shown}");
    let (status, features) = p
        .get(&format!("/v1/products/{product_id}/features"), &buyer)
        .await;
    assert_eq!(status, StatusCode::OK, "{features}");
    assert_eq!(features["videos"][0]["id"], video_id.as_str());
    assert_eq!(features["live_rooms"][0]["id"], room_id.as_str());

    // The flash sale: bad terms named, then announced.
    let sales = format!("/v1/live/{room_id}/flash-sales");
    let terms = json!({"sku_id": sku, "sale_price_cents": 1500, "countdown_seconds": 10,
                       "duration_seconds": 60, "total_units": 5, "per_buyer_limit": 2});
    let mut bad = terms.clone();
    bad["countdown_seconds"] = json!(5);
    let (status, err) = send(&p, &sales, &host, &key(), bad).await;
    assert_eq!(
        (status, crate::error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("countdown_seconds")),
        "{err}"
    );
    let mut bad = terms.clone();
    bad["sale_price_cents"] = json!(2000);
    let (status, err) = send(&p, &sales, &host, &key(), bad).await;
    assert_eq!(
        (status, err["error"]["reason"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("FLASH_SALE_TERMS")),
        "{err}"
    );
    let (status, err) = send(&p, &sales, &buyer, &key(), terms.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    let (status, sale) = send(&p, &sales, &host, &key(), terms).await;
    assert_eq!(status, StatusCode::CREATED, "{sale}");
    assert_eq!(sale["state"], "scheduled");
    let sale_id = sale["sale_id"].as_str().expect("sale").to_owned();
    let (_, shown) = p.get(&format!("/v1/live/{room_id}"), &buyer).await;
    assert_eq!(shown["flash_sale"]["sale_id"], sale_id.as_str(), "{shown}");
    assert!(shown["flash_sale"]["seconds_left"].as_u64() <= Some(10));

    // Before the start: refused by name. Then the buyer takes 2 at 1500.
    let buy = format!("/v1/flash-sales/{sale_id}/orders");
    let (status, err) = send(&p, &buy, &buyer, &key(), json!({"quantity": 1})).await;
    assert_eq!(
        (status, err["error"]["reason"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("FLASH_SALE_NOT_STARTED")
        ),
        "{err}"
    );
    p._running
        .sandbox
        .commerce_clock()
        .advance(Duration::from_secs(10));
    let (status, bought) = send(&p, &buy, &buyer, &key(), json!({"quantity": 2})).await;
    assert_eq!(status, StatusCode::CREATED, "{bought}");
    assert_eq!(bought["order"]["total_cents"].as_i64(), Some(3000));
    assert_eq!(bought["order"]["buyer_id"], buyer_id.as_str());
    assert_eq!(bought["sale"]["remaining_units"].as_u64(), Some(3));
    let (status, err) = send(&p, &buy, &buyer, &key(), json!({"quantity": 1})).await;
    assert_eq!(
        (status, err["error"]["reason"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("FLASH_SALE_LIMIT")),
        "{err}"
    );
    let order_id = bought["order"]["order_id"]
        .as_str()
        .expect("order")
        .to_owned();
    let pay = json!({"receipt": test_receipt(&format!("commerce:order:{order_id}"), 3000)});
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
    let (status, now) = p.get(&format!("/v1/flash-sales/{sale_id}"), &buyer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (now["state"].as_str(), now["remaining_units"].as_u64()),
        (Some("live"), Some(3))
    );
}
