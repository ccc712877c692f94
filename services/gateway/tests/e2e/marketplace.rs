//! The creator marketplace through the public API: an advertiser funds their
//! wallet, searches creators, invites one; the creator accepts (escrow),
//! posts a video with the campaign hashtag and submits it; the advertiser
//! approves, retries the approval, and the creator is paid exactly once
//! while the wallet ledger reconciles.

use std::time::Duration;

use loop_platform::testing;
use loop_testkit::fixtures::test_receipt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Platform, error_field};

async fn post_idem(
    p: &Platform,
    path: &str,
    token: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Value) {
    p.post_keyed(path, token, Some(key), body).await
}

#[tokio::test]
async fn an_advertiser_hires_a_creator_and_pays_exactly_once() {
    let p = Platform::start().await;
    let (brand, _) = p.sign_up("glowbrand", "advertiser").await;
    let (creator, creator_id) = p.sign_up("glowcreator", "creator").await;
    let (fan, _) = p.sign_up("glowfan", "viewer").await;
    let (status, _) = p
        .post(
            &format!("/v1/users/{creator_id}/follow"),
            Some(&fan),
            json!({}),
        )
        .await;
    assert!(status.is_success(), "{status}");

    // The creator applies; an admin approves the application.
    let (status, app) = p
        .post("/v1/marketplace/creator/application", Some(&creator), json!({"categories": ["beauty"], "rate_cents": 30000, "pitch": "skincare every morning"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    assert_eq!(app["status"], "pending");
    let (status, login) = p
        .post(
            "/v1/auth/login",
            None,
            json!({"handle": "admin", "password": "loop-admin-dev-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let admin = login["token"].as_str().expect("token").to_owned();
    let (status, _) = p.get("/v1/admin/marketplace/applications", &creator).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "creators cannot review");
    let (status, queue) = p.get("/v1/admin/marketplace/applications", &admin).await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let application_id = queue["items"][0]["application_id"]
        .as_str()
        .expect("queued")
        .to_owned();
    let (status, reviewed) = p
        .post(
            &format!("/v1/admin/marketplace/applications/{application_id}/review"),
            Some(&admin),
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(
        (status, reviewed["status"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{reviewed}"
    );

    // The advertiser funds the wallet.
    let (status, topped) = post_idem(
        &p,
        "/v1/wallet/top-ups",
        &brand,
        "fund-0001",
        json!({"amount_cents": 100_000, "receipt": test_receipt("loop.cents", 100_000)}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{topped}");

    // Search finds the creator with their analytics (one follower).
    let found = testing::wait_for("creator searchable with analytics", Duration::from_secs(60), || async {
        let (status, page) = p
            .get("/v1/marketplace/creators?countries=US&category=beauty&follower_min=1&sort=followers", &brand)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["creator_id"] == creator_id.as_str()).cloned())
    })
    .await;
    assert_eq!(found["followers"], 1);
    let (status, err) = p
        .get("/v1/marketplace/creators?audience=planet:mars:0.5", &brand)
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("audience[0].dimension")),
        "{err}"
    );
    let (status, _) = p.get("/v1/marketplace/creators", &creator).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "creators do not search creators"
    );

    // Campaign, published, invitation.
    let deadline = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
    let (status, campaign) = p
        .post("/v1/marketplace/campaigns", Some(&brand), json!({"title": "Glow summer", "brief": "Your morning routine with our SPF", "video_count": 1, "required_hashtag": "#glowsummer", "budget_per_creator_cents": 25_000, "max_creators": 3, "deadline": deadline, "visibility": "invite_only"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let campaign_id = campaign["campaign_id"].as_str().expect("id").to_owned();
    let (status, published) = p
        .post(
            &format!("/v1/marketplace/campaigns/{campaign_id}/publish"),
            Some(&brand),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, published["status"].as_str()),
        (StatusCode::OK, Some("published")),
        "{published}"
    );
    let (status, collab) = p
        .post(
            &format!("/v1/marketplace/campaigns/{campaign_id}/invitations"),
            Some(&brand),
            json!({"creator_id": creator_id, "pitch": "we love your routine"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{collab}");
    let id = collab["collaboration_id"].as_str().expect("id").to_owned();

    // A stranger cannot write in the thread; the two parties can.
    let (status, _) = p
        .post(
            &format!("/v1/marketplace/collaborations/{id}/messages"),
            Some(&fan),
            json!({"body": "hi"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = p
        .post(
            &format!("/v1/marketplace/collaborations/{id}/messages"),
            Some(&creator),
            json!({"body": "happy to!"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // The creator accepts: 25,000 cents move to escrow.
    let (status, accepted) = post_idem(
        &p,
        &format!("/v1/marketplace/collaborations/{id}/accept-invitation"),
        &creator,
        "accept-0001",
        json!({}),
    )
    .await;
    assert_eq!(
        (status, accepted["state"].as_str()),
        (StatusCode::OK, Some("accepted")),
        "{accepted}"
    );
    let (_, balance) = p.get("/v1/wallet/balance", &brand).await;
    assert_eq!(
        balance["cents"],
        json!({"available": 75_000, "held": 25_000}),
        "{balance}"
    );
    let (status, err) = post_idem(
        &p,
        &format!("/v1/marketplace/collaborations/{id}/accept-invitation"),
        &creator,
        "accept-0002",
        json!({}),
    )
    .await;
    assert_eq!(
        (status, err["error"]["reason"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("INVALID_STATE")),
        "{err}"
    );

    // The creator posts the sponsored video and submits it.
    let (status, video) = p
        .post("/v1/videos", Some(&creator), json!({"caption": "my morning #glowsummer", "duration_ms": 20000, "media_url": "https://cdn.loop.test/glow.mp4", "category": "beauty"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{video}");
    let video_id = video["video_id"].as_str().expect("id").to_owned();
    let (status, submitted) = p
        .post(
            &format!("/v1/marketplace/collaborations/{id}/submit"),
            Some(&creator),
            json!({"video_ids": [video_id]}),
        )
        .await;
    assert_eq!(
        (status, submitted["state"].as_str()),
        (StatusCode::OK, Some("submitted")),
        "{submitted}"
    );

    // Approve, and retry the approval (a client timeout): paid once.
    let approve = format!("/v1/marketplace/collaborations/{id}/approve");
    let (status, paid) = post_idem(&p, &approve, &brand, "approve-0001", json!({})).await;
    assert_eq!(
        (status, paid["state"].as_str()),
        (StatusCode::OK, Some("paid")),
        "{paid}"
    );
    assert_eq!(
        (
            paid["paid_cents"].as_i64(),
            paid["platform_fee_cents"].as_i64()
        ),
        (Some(22_500), Some(2_500))
    );
    let (status, again) = post_idem(&p, &approve, &brand, "approve-0001", json!({})).await;
    assert_eq!(
        (status, again["state"].as_str()),
        (StatusCode::OK, Some("paid")),
        "{again}"
    );
    let (status, err) = post_idem(&p, &approve, &brand, "approve-0002", json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");

    let (_, creator_balance) = p.get("/v1/wallet/balance", &creator).await;
    assert_eq!(
        creator_balance["cents"],
        json!({"available": 22_500, "held": 0}),
        "paid exactly once: {creator_balance}"
    );
    let (_, brand_balance) = p.get("/v1/wallet/balance", &brand).await;
    assert_eq!(
        brand_balance["cents"],
        json!({"available": 75_000, "held": 0}),
        "{brand_balance}"
    );
    let (status, report) = p.get("/v1/admin/wallet/reconcile", &admin).await;
    assert_eq!(
        (status, &report["consistent"]),
        (StatusCode::OK, &json!(true)),
        "{report}"
    );

    // The campaign report shows the sponsored video and the payment.
    let (status, report) = p
        .get(
            &format!("/v1/marketplace/campaigns/{campaign_id}/report"),
            &brand,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["videos"][0]["video_id"], video["video_id"]);
    assert_eq!(report["paid_to_creators_cents"], 22_500);

    // The API is documented.
    let doc: Value = p
        .http
        .get(format!("{}/openapi.json", p.base))
        .send()
        .await
        .expect("doc")
        .json()
        .await
        .expect("json");
    assert!(
        doc["paths"]["/v1/marketplace/collaborations/{collaboration_id}/approve"]["post"]
            .is_object()
    );
}
