//! A LIVE auction through the public API: the host of an open room starts
//! one for a unit of their approved product; viewers follow it as
//! Server-Sent Events; bidders authorise a card payment, then bid (named
//! refusals for the seller, a non-positive amount, a bid too low); the
//! close (commerce's clock moved) makes the winner's paid order.

use std::time::Duration;

use loop_platform::testing;
use loop_testkit::fixtures::test_receipt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::Platform;

async fn keyed(p: &Platform, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    with_key(p, path, token, &uuid::Uuid::now_v7().to_string(), body).await
}

async fn with_key(
    p: &Platform,
    path: &str,
    token: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Value) {
    p.post_keyed(path, token, Some(key), body).await
}

/// Reads the SSE response until `done` says the text so far suffices.
async fn read_events(resp: &mut reqwest::Response, text: &mut String, done: impl Fn(&str) -> bool) {
    tokio::time::timeout(Duration::from_secs(60), async {
        while !done(text) {
            let chunk = resp
                .chunk()
                .await
                .expect("chunk")
                .expect("the stream ended early");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("events not seen; so far:\n{text}"));
}

#[tokio::test]
async fn a_host_auctions_a_unit_live_and_the_winner_gets_a_paid_order() {
    let p = Platform::start().await;
    let (host, host_id) = p.sign_up("auctioneer", "creator").await;
    let (alice, alice_id) = p.sign_up("alicebids", "viewer").await;
    let (bob, _) = p.sign_up("bobbids", "viewer").await;
    let (status, login) = p
        .post(
            "/v1/auth/login",
            None,
            json!({"handle": "admin", "password": "loop-admin-dev-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let admin = login["token"].as_str().expect("token").to_owned();
    let (status, room) = p
        .post("/v1/live", Some(&host), json!({"title": "Auction night"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let room_id = room["room_id"].as_str().expect("room").to_owned();
    let (status, _) = p
        .post("/v1/shop", Some(&host), json!({"name": "Vases"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, product) = p
        .post(
            "/v1/products",
            Some(&host),
            json!({"title": "Vase", "category": "home", "image_urls": ["https://cdn.example/vase.jpg"],
                   "skus": [{"name": "Blue", "price_cents": 9000, "stock": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
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

    // The published increments.
    let (status, bands) = p.get("/v1/auction-increments", &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        bands["bands"][0],
        json!({"from_cents": 0, "increment_cents": 100})
    );
    assert_eq!(bands["bands"].as_array().map(Vec::len), Some(6));

    // A starting bid under $1 names the field; a viewer cannot start one.
    let start = format!("/v1/live/{room_id}/auctions");
    let (status, err) = keyed(
        &p,
        &start,
        &host,
        json!({"sku_id": sku, "starting_cents": 50, "duration_seconds": 60}),
    )
    .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("starting_cents")),
        "{err}"
    );
    let (status, _) = keyed(
        &p,
        &start,
        &alice,
        json!({"sku_id": sku, "starting_cents": 1000, "duration_seconds": 60}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, auction) = keyed(
        &p,
        &start,
        &host,
        json!({"sku_id": sku, "starting_cents": 1000, "duration_seconds": 60}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{auction}");
    assert_eq!(
        (
            auction["status"].as_str(),
            auction["next_min_cents"].as_i64()
        ),
        (Some("open"), Some(1000))
    );
    let id = auction["auction_id"].as_str().expect("id").to_owned();

    // A viewer follows the room's auction as Server-Sent Events.
    let mut events = p
        .http
        .get(format!("{}/v1/live/{room_id}/auction/events", p.base))
        .bearer_auth(&bob)
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), StatusCode::OK);
    assert!(
        events
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"))
    );
    let mut text = String::new();
    read_events(&mut events, &mut text, |t| t.contains("event: state")).await;

    // Bidding needs an authorised card; the seller never bids; amounts
    // must be positive; a bid must clear the price plus the increment.
    let bids = format!("/v1/auctions/{id}/bids");
    let (status, err) = keyed(&p, &bids, &alice, json!({"amount_cents": 1000})).await;
    assert_eq!(
        (status, err["error"]["reason"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("PAYMENT_NOT_AUTHORIZED")
        ),
        "{err}"
    );
    let auth = format!("/v1/auctions/{id}/authorization");
    let (status, none) = p.get(&auth, &alice).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{none}");
    for who in [&alice, &bob] {
        let (status, a) = p
            .post(&auth, Some(who), json!({"amount_cents": 20_000, "receipt": test_receipt(&format!("commerce:auction:{id}"), 20_000)}))
            .await;
        assert_eq!(status, StatusCode::OK, "{a}");
        assert_eq!(a["authorized_cents"], 20_000);
        // Read back as the bidder's own (a reloaded page).
        let (status, mine) = p.get(&auth, who).await;
        assert_eq!((status, &mine), (StatusCode::OK, &a));
    }
    let (status, err) = keyed(&p, &bids, &host, json!({"amount_cents": 5000})).await;
    assert_eq!(
        (status, err["error"]["reason"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("SELF_BID")),
        "{err}"
    );
    let (status, err) = keyed(&p, &bids, &alice, json!({"amount_cents": 0})).await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("amount_cents")),
        "{err}"
    );
    // A bid without an Idempotency-Key is refused naming the header.
    let (status, err) = p
        .post(&bids, Some(&alice), json!({"amount_cents": 1000}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(
        err["error"]["field"]
            .as_str()
            .is_some_and(|f| f.eq_ignore_ascii_case("idempotency-key")),
        "{err}"
    );
    let alice_key = uuid::Uuid::now_v7().to_string();
    let first_body = json!({"amount_cents": 1000, "max_cents": 3000});
    let (status, first) = with_key(&p, &bids, &alice, &alice_key, first_body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    // Her client lost the answer and sends it again: the same bid.
    let (status, again) = with_key(&p, &bids, &alice, &alice_key, first_body).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["bid"], first["bid"], "the bid the key placed");
    assert_eq!(again["auction"]["bids"], 1);
    assert_eq!(
        (first["leading"].as_bool(), first["bid"]["seq"].as_u64()),
        (Some(true), Some(1))
    );
    let (status, err) = keyed(&p, &bids, &bob, json!({"amount_cents": 1050})).await;
    assert_eq!(
        (status, err["error"]["reason"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("BID_TOO_LOW")),
        "{err}"
    );
    // Bob's $15 meets Alice's $30 maximum: she still leads, at $16.
    let (status, second) = keyed(&p, &bids, &bob, json!({"amount_cents": 1500})).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["leading"], false);
    assert_eq!(second["auction"]["price_cents"], 1600);
    assert_eq!(
        second["auction"]["leader_id"].as_str(),
        Some(alice_id.as_str())
    );
    read_events(&mut events, &mut text, |t| {
        t.matches("event: bid").count() >= 2
    })
    .await;
    assert!(text.contains("\"price_cents\":1600"), "{text}");

    // The close: Alice wins at $16 and holds a paid order.
    let clock = p._running.sandbox.commerce_clock().clone();
    clock.advance(Duration::from_secs(61));
    read_events(&mut events, &mut text, |t| t.contains("event: closed")).await;
    let sold = testing::wait_for("sold", Duration::from_secs(60), || async {
        let (_, a) = p.get(&format!("/v1/live/{room_id}/auction"), &bob).await;
        (a["status"] == "sold").then_some(a)
    })
    .await;
    assert_eq!(
        (sold["winner_id"].as_str(), sold["winning_cents"].as_i64()),
        (Some(alice_id.as_str()), Some(1600))
    );
    let order_id = sold["order_id"].as_str().expect("order").to_owned();
    let (status, order) = p.get(&format!("/v1/orders/{order_id}"), &alice).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(
        (order["status"].as_str(), order["total_cents"].as_i64()),
        (Some("on_hold"), Some(1600))
    );
    assert_eq!(order["seller_id"].as_str(), Some(host_id.as_str()));
    // After the close, bids are refused by name.
    let (status, err) = keyed(&p, &bids, &bob, json!({"amount_cents": 5000})).await;
    assert_eq!(
        (status, err["error"]["reason"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("AUCTION_CLOSED")),
        "{err}"
    );
}
