//! Ads through the public API: an advertiser buys an In-Feed campaign, the
//! ranker (here: a service token, as feed-ranking will) fills a slot, the
//! viewer reports the impression through the gateway, and ads-auction bills
//! it exactly once into the advertiser's report. Spark codes and errors too.

use std::time::Duration;

use loop_platform::auth::Role;
use loop_platform::testing;
use loop_proto::ads_auction::v1 as pb;
use loop_proto::ads_auction::v1::ads_auction_service_client::AdsAuctionServiceClient;
use loop_proto::common::v1 as common;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{Platform, error_field};

async fn fill(p: &Platform, viewer_id: &str) -> pb::FillAdSlotsResponse {
    let mut client = AdsAuctionServiceClient::new(
        loop_platform::grpc::channel(&format!("http://{}", p.ads_addr)).expect("channel"),
    );
    let token = loop_platform::testing::TestKeys.issue(
        "service:feed-ranking",
        Role::Service,
        Duration::from_secs(60),
    );
    client
        .fill_ad_slots(loop_platform::grpc::request(
            pb::FillAdSlotsRequest {
                user_id: viewer_id.into(),
                context: Some(common::ClientContext {
                    country: "US".into(),
                    language: "en".into(),
                    device_os: common::DeviceOs::Android as i32,
                    app_version: String::new(),
                }),
                profile: Some(pb::UserAdProfile {
                    age_band: common::AgeBand::AgeBand2534 as i32,
                    ..Default::default()
                }),
                slot_positions: vec![4],
                request_id: "feed-1".into(),
                ..Default::default()
            },
            Some(&token),
            Duration::from_secs(10),
        ))
        .await
        .expect("fill")
        .into_inner()
}

fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

#[tokio::test]
async fn an_advertiser_buys_an_ad_and_each_reported_impression_is_billed_once() {
    let p = Platform::start().await;
    let (brand, _) = p.sign_up("brandco", "advertiser").await;
    p.fund(&brand, 500_000).await;
    let (viewer, viewer_id) = p.sign_up("watcher", "viewer").await;
    let (status, video) = p
        .post("/v1/videos", Some(&brand), json!({"caption": "our new shoe", "duration_ms": 15000, "media_url": "https://cdn.loop.test/shoe.mp4", "visibility": "private"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{video}");
    let video_id = video["video_id"].as_str().expect("id");

    // Bad input names the field and creates nothing.
    let (status, err) = p
        .post("/v1/ads/campaigns", Some(&brand), json!({"idempotency_key": "launch-0001", "name": "Launch", "objective": "traffic", "total_budget_cents": 4999}))
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("total_budget_cents")),
        "{err}"
    );
    let (status, err) = p
        .post("/v1/ads/campaigns", Some(&brand), json!({"idempotency_key": "launch-0001", "name": "Launch", "objective": "fame", "total_budget_cents": 5000}))
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("objective"))
    );
    let (status, campaign) = p
        .post("/v1/ads/campaigns", Some(&brand), json!({"idempotency_key": "launch-0001", "name": "Launch", "objective": "traffic", "total_budget_cents": 5000}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    assert_eq!(campaign["status"], "active");
    let campaign_id = campaign["campaign_id"].as_str().expect("id").to_owned();
    let (status, again) = p
        .post("/v1/ads/campaigns", Some(&brand), json!({"idempotency_key": "launch-0001", "name": "Launch", "objective": "traffic", "total_budget_cents": 5000}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        again["campaign_id"],
        campaign_id.as_str(),
        "idempotent retry"
    );
    // The budget is reserved from the brand's wallet cents, once.
    let (status, balance) = p.get("/v1/wallet/balance", &brand).await;
    assert_eq!(status, StatusCode::OK, "{balance}");
    assert_eq!(
        (&balance["cents"]["available"], &balance["cents"]["held"]),
        (&json!(495_000), &json!(5_000)),
        "{balance}"
    );
    let (status, err) = p
        .post("/v1/ads/campaigns", Some(&brand), json!({"idempotency_key": "launch-0001", "name": "Other", "objective": "traffic", "total_budget_cents": 5000}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["error"]["reason"], "IDEMPOTENCY_KEY_REUSED");

    let group_body = json!({
        "name": "US adults", "format": "in_feed", "daily_budget_cents": 2000, "bid_type": "cpm", "bid_cents": 300,
        "schedule": {"starts_at": (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339()},
        "targeting": {"countries": ["US"], "age_bands": ["25_34", "35_44"], "device_os": ["android"]}
    });
    let (status, err) = p
        .post(
            &format!("/v1/ads/campaigns/{campaign_id}/ad-groups"),
            Some(&brand),
            json!({"name": "x", "format": "in_feed", "daily_budget_cents": 2000, "bid_type": "cpm", "bid_cents": 300,
                   "schedule": {"starts_at": chrono::Utc::now().to_rfc3339()}, "targeting": {"age_bands": ["18_24", "teen"]}}),
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("targeting.age_bands[1]")),
        "{err}"
    );
    let (status, group) = p
        .post(
            &format!("/v1/ads/campaigns/{campaign_id}/ad-groups"),
            Some(&brand),
            group_body,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    assert_eq!(group["targeting"]["age_bands"], json!(["25_34", "35_44"]));
    assert_eq!(group["delivery_state"], "no_active_creative");
    let group_id = group["ad_group_id"].as_str().expect("id").to_owned();
    let (status, creative) = p
        .post(
            &format!("/v1/ads/ad-groups/{group_id}/creatives"),
            Some(&brand),
            json!({"video_id": video_id, "display_name": "BrandCo", "call_to_action": "shop_now", "landing_url": "https://brand.test/shoe"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{creative}");
    let (_, group) = p
        .get(&format!("/v1/ads/ad-groups/{group_id}"), &brand)
        .await;
    assert_eq!(group["delivery_state"], "delivering", "{group}");

    // Viewers are not advertisers; Spark ads need a spark ad group (reason surfaces).
    let (status, _) = p.get("/v1/ads/campaigns", &viewer).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, err) = p
        .post(
            &format!("/v1/ads/ad-groups/{group_id}/spark-ads"),
            Some(&brand),
            json!({"code": "ABC", "call_to_action": "learn_more", "landing_url": "https://brand.test"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["reason"], "NOT_SPARK_AD_GROUP");

    // The ranker fills a slot; the viewer's client reports what it showed.
    let filled = fill(&p, &viewer_id).await;
    assert_eq!(filled.slots.len(), 1, "{filled:?}");
    let placement = filled.slots[0].placement.clone().expect("placement");
    assert_eq!(placement.ad_group_id, group_id);
    let event_id = uuid::Uuid::now_v7().to_string();
    // As a client reports them: the impression when it was shown, a click
    // seconds later (a click within half a second of its impression is not
    // a person, and is filtered as invalid traffic).
    let shown_at = chrono::Utc::now() - chrono::Duration::seconds(5);
    let report_body = |kind: &str, id: &str| {
        let at = if kind == "impression" {
            shown_at
        } else {
            chrono::Utc::now()
        };
        json!({"context": {"country": "US", "device_os": "android"}, "events": [
            {"event_id": id, "kind": kind, "impression_token": placement.impression_token, "ad_id": placement.ad_id, "occurred_at": at}
        ]})
    };
    let (status, err) = p
        .post(
            "/v1/ad-events",
            Some(&viewer),
            json!({"events": [{"kind": "stare", "impression_token": "x"}]}),
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("events[0].kind"))
    );
    for _ in 0..2 {
        let (status, accepted) = p
            .post(
                "/v1/ad-events",
                Some(&viewer),
                report_body("impression", &event_id),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    }
    let click_id = uuid::Uuid::now_v7().to_string();
    let (status, _) = p
        .post(
            "/v1/ad-events",
            Some(&viewer),
            report_body("click", &click_id),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let path = format!(
        "/v1/ads/reports?ad_group_id={group_id}&start_date={}&end_date={}",
        today(),
        today()
    );
    let report: Value = testing::wait_for(
        "the report counts the impression",
        Duration::from_secs(45),
        || {
            let path = path.clone();
            let brand = brand.clone();
            let p = &p;
            async move {
                let (status, report) = p.get(&path, &brand).await;
                (status == StatusCode::OK
                    && report["totals"]["impressions"] == 1
                    && report["totals"]["clicks"] == 1)
                    .then_some(report)
            }
        },
    )
    .await;
    assert_eq!(report["rows"][0]["date"], today().as_str());
    assert_eq!(report["totals"]["ctr"], 1.0);
    // Alone in its targeting, the $3 CPM pays the reserve: 101 millicents, 0 whole cents.
    assert_eq!(report["totals"]["spend_cents"], 0);

    // A click on an ad whose impression was never reported is invalid
    // traffic: shown in the report, never counted as a click or billed.
    let orphan = fill(&p, &viewer_id).await;
    assert_eq!(orphan.slots.len(), 1, "{orphan:?}");
    let orphan = orphan.slots[0].placement.clone().expect("placement");
    let (status, _) = p
        .post(
            "/v1/ad-events",
            Some(&viewer),
            json!({"events": [{"event_id": uuid::Uuid::now_v7().to_string(), "kind": "click", "impression_token": orphan.impression_token}]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let report: Value = testing::wait_for(
        "the report shows the invalid click",
        Duration::from_secs(45),
        || {
            let path = path.clone();
            let brand = brand.clone();
            let p = &p;
            async move {
                let (_, report) = p.get(&path, &brand).await;
                (report["totals"]["invalid_events"] == 1).then_some(report)
            }
        },
    )
    .await;
    assert_eq!(
        (
            &report["totals"]["clicks"],
            &report["totals"]["impressions"]
        ),
        (&json!(1), &json!(1)),
        "{report}"
    );
    let (status, err) = p
        .get(
            &format!(
                "/v1/ads/reports?start_date={}&end_date={}",
                today(),
                today()
            ),
            &brand,
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("campaign_id"))
    );

    // Pausing the campaign stops delivery at once.
    let (status, paused) = p
        .post(
            &format!("/v1/ads/campaigns/{campaign_id}/pause"),
            Some(&brand),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(paused["status"], "paused");
    assert!(fill(&p, &viewer_id).await.slots.is_empty());
    testing::clear_redis(&p.redis).await;
}

#[tokio::test]
async fn creators_issue_and_revoke_spark_codes_and_everything_is_documented() {
    let p = Platform::start().await;
    let (creator, _) = p.sign_up("dancer", "creator").await;
    let (brand, _) = p.sign_up("brandco", "advertiser").await;
    p.fund(&brand, 500_000).await;
    let (status, video) = p
        .post("/v1/videos", Some(&creator), json!({"caption": "my moves #dance", "duration_ms": 12000, "media_url": "https://cdn.loop.test/d.mp4"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, err) = p
        .post(
            "/v1/spark-codes",
            Some(&creator),
            json!({"video_id": video["video_id"], "validity_days": 400}),
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("validity_days"))
    );
    let (status, code) = p
        .post(
            "/v1/spark-codes",
            Some(&creator),
            json!({"video_id": video["video_id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{code}");
    assert_eq!(code["status"], "active");
    let code_value = code["code"].as_str().expect("code").to_owned();
    let (_, listed) = p.get("/v1/spark-codes", &creator).await;
    assert_eq!(listed["items"][0]["code"], code_value.as_str());

    let (_, campaign) = p
        .post("/v1/ads/campaigns", Some(&brand), json!({"idempotency_key": "spark-0001", "name": "Boost", "objective": "video_views", "total_budget_cents": 5000}))
        .await;
    let (status, group) = p
        .post(
            &format!("/v1/ads/campaigns/{}/ad-groups", campaign["campaign_id"].as_str().expect("id")),
            Some(&brand),
            json!({"name": "boost", "format": "spark", "daily_budget_cents": 2000, "bid_type": "cpv", "bid_cents": 2,
                   "schedule": {"starts_at": chrono::Utc::now().to_rfc3339()}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let (status, ad) = p
        .post(
            &format!("/v1/ads/ad-groups/{}/spark-ads", group["ad_group_id"].as_str().expect("id")),
            Some(&brand),
            json!({"code": code_value, "call_to_action": "watch_more", "landing_url": "https://brand.test"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ad}");
    assert_eq!(ad["display_name"], "dancer");
    let (status, revoked) = p
        .post(
            &format!("/v1/spark-codes/{code_value}/revoke"),
            Some(&creator),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    let (_, creatives) = p
        .get(
            &format!(
                "/v1/ads/ad-groups/{}/creatives",
                group["ad_group_id"].as_str().expect("id")
            ),
            &brand,
        )
        .await;
    assert_eq!(creatives["items"][0]["status"], "revoked");
    // Someone else's code is not yours to revoke.
    let (status, _) = p
        .call(
            Method::POST,
            &format!("/v1/spark-codes/{code_value}/revoke"),
            Some(&brand),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let resp = p
        .http
        .get(format!("{}/openapi.json", p.base))
        .send()
        .await
        .expect("openapi");
    let doc: Value = resp.json().await.expect("json");
    for path in [
        "/v1/ad-events",
        "/v1/ads/campaigns",
        "/v1/ads/campaigns/{campaign_id}/ad-groups",
        "/v1/ads/ad-groups/{ad_group_id}/creatives",
        "/v1/ads/ad-groups/{ad_group_id}/spark-ads",
        "/v1/spark-codes",
        "/v1/spark-codes/{code}/revoke",
        "/v1/ads/topview/quote",
        "/v1/ads/topview/reservations",
        "/v1/ads/branded-challenges",
        "/v1/discover/challenges",
        "/v1/ads/reports",
        "/v1/admin/ads/ad-groups/{ad_group_id}/delivery",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
    testing::clear_redis(&p.redis).await;
}
