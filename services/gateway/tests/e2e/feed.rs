//! The For You feed learns from engagement through the whole pipeline:
//! gateway -> engagement.v1 -> feed-ranking -> next feed; likes take the
//! same way from the like route, their one path.

use std::collections::HashSet;
use std::time::Duration;

use loop_platform::auth::Role;
use loop_platform::testing;
use loop_proto::events::v1::EngagementKind;
use loop_proto::feed_ranking::v1 as pb;
use loop_proto::feed_ranking::v1::feed_ranking_service_client::FeedRankingServiceClient;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::Platform;

const FAMILIES: usize = 20;
const CREATORS_PER_FAMILY: usize = 4;
const VIDEOS_PER_CREATOR: usize = 7;

fn ranker(p: &Platform) -> FeedRankingServiceClient<tonic::transport::Channel> {
    FeedRankingServiceClient::new(
        loop_platform::grpc::channel(&format!("http://{}", p.ranker_addr)).expect("channel"),
    )
}

fn service_token() -> String {
    loop_platform::testing::TestKeys.issue(
        "service:feed-ranking",
        Role::Service,
        Duration::from_secs(600),
    )
}

/// Publishes `families` x `creators` x `videos` videos tagged `fam{f}` and
/// waits until the ranker's catalog holds them all.
async fn seed_catalog(p: &Platform, families: usize, creators: usize, videos: usize) {
    for f in 0..families {
        for c in 0..creators {
            let (token, _) = p.sign_up(&format!("c{f}_{c}"), "creator").await;
            for v in 0..videos {
                let (status, body) = p
                    .post("/v1/videos", Some(&token), json!({"caption": format!("clip {v} #fam{f}"), "category": format!("fam{f}"), "duration_ms": 10000, "media_url": "https://x.test/v"}))
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
            }
        }
    }
    let total = (families * creators * videos) as u64;
    let client = ranker(p);
    testing::wait_for(
        "ranker catalog holds every video",
        Duration::from_secs(60),
        || {
            let mut client = client.clone();
            async move {
                let req = loop_platform::grpc::request(
                    pb::GetRankerStatsRequest {},
                    Some(&service_token()),
                    Duration::from_secs(5),
                );
                let stats = client.get_ranker_stats(req).await.ok()?.into_inner();
                (stats.videos_indexed >= total).then_some(())
            }
        },
    )
    .await;
}

fn family_of(item: &Value) -> String {
    item["video"]["hashtags"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// One page, checked against the diversity rules.
async fn page(p: &Platform, token: &str, size: usize) -> Vec<Value> {
    let (status, feed) = p
        .get(&format!("/v1/feed/for-you?page_size={size}"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{feed}");
    let items = feed["items"].as_array().expect("items").clone();
    for pair in items.windows(2) {
        assert_ne!(
            pair[0]["video"]["creator_id"], pair[1]["video"]["creator_id"],
            "two in a row from one creator"
        );
    }
    for item in &items {
        assert!(
            !item["reason"].as_str().unwrap_or_default().is_empty(),
            "every item says why"
        );
    }
    items
}

async fn vector(p: &Platform, token: &str) -> Vec<f32> {
    let mut client = ranker(p);
    let req = loop_platform::grpc::request(
        pb::GetUserVectorRequest::default(),
        Some(token),
        Duration::from_secs(5),
    );
    client
        .get_user_vector(req)
        .await
        .expect("vector")
        .into_inner()
        .values
}

pub(crate) async fn applied(p: &Platform, token: &str) -> u64 {
    let mut client = ranker(p);
    let req = loop_platform::grpc::request(
        pb::GetUserVectorRequest::default(),
        Some(token),
        Duration::from_secs(5),
    );
    client
        .get_user_vector(req)
        .await
        .map(|r| r.into_inner().events_applied)
        .unwrap_or(0)
}

/// A viewer who completes and likes `family` videos and skips the rest,
/// for `budget` events (a like, through the like route, is one); returns
/// (events sent, videos seen).
async fn train(p: &Platform, token: &str, family: &str, budget: usize) -> (usize, HashSet<String>) {
    let mut sent = 0;
    let mut seen = HashSet::new();
    while sent < budget {
        let items = page(p, token, 10).await;
        assert!(!items.is_empty(), "the feed ran dry");
        let mut events = Vec::new();
        let mut likes = Vec::new();
        for item in &items {
            let video_id = item["video"]["video_id"].as_str().expect("id").to_owned();
            assert!(seen.insert(video_id.clone()), "a video was shown twice");
            let left = budget - sent - events.len() - likes.len();
            if left == 0 {
                break;
            }
            // As a real client: each event carries its item's serve token.
            let served = &item["serve_token"];
            assert!(
                served.is_string(),
                "a feed item without a serve token: {item}"
            );
            if family_of(item) == family {
                events.push(json!({"kind": "view", "video_id": video_id, "watch_ms": 10000, "serve_token": served}));
                if left > 1 {
                    likes.push((video_id, served.clone()));
                }
            } else {
                events.push(
                    json!({"kind": "quick_skip", "video_id": video_id, "serve_token": served}),
                );
            }
        }
        let (status, body) = p
            .post("/v1/events", Some(token), json!({"events": events}))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        for (video_id, served) in &likes {
            like(p, token, video_id, served).await;
        }
        sent += events.len() + likes.len();
        let target = sent as u64;
        testing::wait_for(
            "the ranker applied the events",
            Duration::from_secs(30),
            || async move { (applied(p, token).await >= target).then_some(()) },
        )
        .await;
    }
    (sent, seen)
}

/// Likes `video_id` the one way a client can: the like route, with the
/// feed item's serve token (the like is credited, so it counts).
async fn like(p: &Platform, token: &str, video_id: &str, served: &Value) {
    let (status, liked) = p
        .post(
            &format!("/v1/videos/{video_id}/like"),
            Some(token),
            json!({ "serve_token": served }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{liked}");
    assert_eq!(liked["credit"], "counted", "{liked}");
}

async fn share_of(
    p: &Platform,
    token: &str,
    family: &str,
    n: usize,
    seen: &mut HashSet<String>,
) -> f64 {
    let mut hits = 0;
    let mut total = 0;
    let mut reasons = Vec::new();
    while total < n {
        let items = page(p, token, 10).await;
        assert!(!items.is_empty(), "the feed ran dry");
        for item in items.iter().take(n - total) {
            reasons.push(format!(
                "{}:{}",
                family_of(item),
                item["reason_kind"].as_str().unwrap_or_default()
            ));
            assert!(
                seen.insert(item["video"]["video_id"].as_str().expect("id").to_owned()),
                "a video was shown twice"
            );
            if family_of(item) == family {
                hits += 1;
            }
            total += 1;
        }
    }
    // What the page was made of, for a failure's message.
    eprintln!("{family} share {hits}/{n}: {}", reasons.join(" "));
    hits as f64 / n as f64
}

#[tokio::test]
async fn the_feed_learns_each_viewers_taste_within_thirty_events() {
    // 80 creators sign up from one address: lift the per-IP sign-up limit.
    let p = Platform::start_with(|c| c.rate_limit.auth_per_ip_per_minute = 10_000).await;
    seed_catalog(&p, FAMILIES, CREATORS_PER_FAMILY, VIDEOS_PER_CREATOR).await;
    let (alice, _) = p.sign_up("alice_v", "viewer").await;
    let (bob, _) = p.sign_up("bob_v", "viewer").await;

    let (status, first) = p.get("/v1/feed/for-you", &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["cold_start"], true);

    let (sent, mut alice_seen) = train(&p, &alice, "fam3", 30).await;
    assert!(sent <= 30);
    let alice_share = share_of(&p, &alice, "fam3", 20, &mut alice_seen).await;
    assert!(
        alice_share >= 0.6,
        "alice saw fam3 in {alice_share:.2} of the next 20 items"
    );

    let alice_before = vector(&p, &alice).await;
    let (_, mut bob_seen) = train(&p, &bob, "fam11", 30).await;
    let bob_share = share_of(&p, &bob, "fam11", 20, &mut bob_seen).await;
    assert!(
        bob_share >= 0.6,
        "bob saw fam11 in {bob_share:.2} of the next 20 items"
    );

    // Alice's taste is untouched by Bob's training, and the two differ.
    let alice_after = vector(&p, &alice).await;
    assert_eq!(
        alice_before, alice_after,
        "bob's events changed alice's vector"
    );
    let bob_vector = vector(&p, &bob).await;
    let cosine = loop_feed_ranking::embed::cosine(&alice_after, &bob_vector);
    assert!(
        cosine < 0.5,
        "alice and bob look alike to the ranker: {cosine:.2}"
    );
    let (_, interests) = p.get("/v1/feed/interests", &alice).await;
    assert_eq!(interests["hashtags"][0]["name"], "fam3", "{interests}");

    // Refresh returns Alice to the cold state.
    let (status, _) = p.post("/v1/feed/refresh", Some(&alice), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, after) = p.get("/v1/feed/for-you", &alice).await;
    assert_eq!(after["cold_start"], true);
    testing::clear_redis(&p.redis).await;
}

/// A viewer the ranker knows nothing about is shown topics they have not
/// been shown first: with 20 topics and pages of 10, the first two pages
/// show every topic once (a taste for any of them can then be learned).
#[tokio::test]
async fn a_new_viewer_is_shown_every_topic_before_any_twice() {
    let p = Platform::start_with(|c| c.rate_limit.auth_per_ip_per_minute = 10_000).await;
    seed_catalog(&p, 20, 1, 2).await;
    let (viewer, _) = p.sign_up("sampler", "viewer").await;
    let mut families = Vec::new();
    for _ in 0..2 {
        let items = page(&p, &viewer, 10).await;
        assert_eq!(items.len(), 10, "a full page");
        families.extend(items.iter().map(family_of));
    }
    let distinct: HashSet<&String> = families.iter().collect();
    assert_eq!(
        distinct.len(),
        20,
        "the first 20 items showed {} topics: {families:?}",
        distinct.len()
    );
    testing::clear_redis(&p.redis).await;
}

/// Likes alone, sent only through the like route (never `POST /v1/events`),
/// teach the For You feed: the liked family's share of the feed rises and
/// it becomes the viewer's top interest.
#[tokio::test]
async fn the_feed_learns_from_likes_sent_only_through_the_like_route() {
    const LIKES: usize = 8;
    let p = Platform::start_with(|c| c.rate_limit.auth_per_ip_per_minute = 10_000).await;
    seed_catalog(&p, 6, 3, 10).await;
    let (viewer, viewer_id) = p.sign_up("liker", "viewer").await;
    let family = "fam4";
    let mut seen = HashSet::new();
    let before = share_of(&p, &viewer, family, 12, &mut seen).await;

    let mut liked = 0;
    for _ in 0..20 {
        if liked == LIKES {
            break;
        }
        let items = page(&p, &viewer, 10).await;
        assert!(!items.is_empty(), "the feed ran dry");
        for item in &items {
            let video_id = item["video"]["video_id"].as_str().expect("id");
            assert!(seen.insert(video_id.to_owned()), "a video was shown twice");
            if family_of(item) == family && liked < LIKES {
                like(&p, &viewer, video_id, &item["serve_token"]).await;
                liked += 1;
            }
        }
        let target = liked as u64;
        let (p, viewer) = (&p, &viewer);
        testing::wait_for(
            "the ranker applied the likes",
            Duration::from_secs(30),
            || async move { (applied(p, viewer).await >= target).then_some(()) },
        )
        .await;
    }
    assert_eq!(
        liked, LIKES,
        "the feed showed too few {family} videos to like"
    );

    let after = share_of(&p, &viewer, family, 12, &mut seen).await;
    assert!(
        after >= 0.5 && after > before,
        "{family} went from {before:.2} to {after:.2} of the feed"
    );
    let (_, interests) = p.get("/v1/feed/interests", &viewer).await;
    assert_eq!(interests["hashtags"][0]["name"], family, "{interests}");
    // The ranker heard nothing but the likes: the route is the whole path.
    let kinds: Vec<EngagementKind> = crate::engagement_events(&p, LIKES)
        .await
        .iter()
        .filter(|(key, _)| key == viewer_id.as_bytes())
        .map(|(_, e)| e.kind())
        .collect();
    assert_eq!(kinds, vec![EngagementKind::Like; LIKES]);
    testing::clear_redis(&p.redis).await;
}

#[tokio::test]
async fn not_interested_and_keyword_filters_hide_videos() {
    let p = Platform::start().await;
    let (maker, maker_id) = p.sign_up("spammy", "creator").await;
    let (other, _) = p.sign_up("other_c", "creator").await;
    for i in 0..6 {
        p.post("/v1/videos", Some(&maker), json!({"caption": format!("buy now {i} #deals"), "duration_ms": 5000, "media_url": "https://x.test/s"})).await;
        p.post("/v1/videos", Some(&other), json!({"caption": format!("nice {i} #garden"), "duration_ms": 5000, "media_url": "https://x.test/g"})).await;
    }
    let client = ranker(&p);
    testing::wait_for("catalog", Duration::from_secs(30), || {
        let mut client = client.clone();
        async move {
            let req = loop_platform::grpc::request(
                pb::GetRankerStatsRequest {},
                Some(&service_token()),
                Duration::from_secs(5),
            );
            (client
                .get_ranker_stats(req)
                .await
                .ok()?
                .into_inner()
                .videos_indexed
                >= 12)
                .then_some(())
        }
    })
    .await;
    let (viewer, _) = p.sign_up("picky", "viewer").await;
    let items = page(&p, &viewer, 4).await;
    let spam = items
        .iter()
        .find(|i| i["video"]["creator_id"] == maker_id.as_str())
        .expect("a spammy video in a mixed cold page");
    let (status, _) = p
        .post("/v1/events", Some(&viewer), json!({"events": [{"kind": "not_interested", "video_id": spam["video"]["video_id"], "target": "creator"}]}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    testing::wait_for("suppression applied", Duration::from_secs(30), || {
        let p = &p;
        let viewer = viewer.clone();
        let maker_id = maker_id.clone();
        async move {
            let (_, f) = p.get("/v1/feed/filters", &viewer).await;
            (f["suppressed_creators"][0]["id"] == maker_id.as_str()).then_some(())
        }
    })
    .await;
    let (status, filters) = p
        .call(
            Method::PUT,
            "/v1/feed/filters",
            Some(&viewer),
            Some(json!({"keywords": ["Nice 3"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{filters}");
    assert_eq!(filters["keywords"], json!(["nice 3"]));
    let rest = page(&p, &viewer, 20).await;
    assert!(
        rest.iter()
            .all(|i| i["video"]["creator_id"] != maker_id.as_str()),
        "suppressed creator shown"
    );
    assert!(
        rest.iter().all(|i| !i["video"]["caption"]
            .as_str()
            .unwrap_or_default()
            .contains("nice 3")),
        "keyword filter ignored"
    );
    let (status, err) = p
        .call(
            Method::PUT,
            "/v1/feed/filters",
            Some(&viewer),
            Some(json!({"keywords": [""]})),
        )
        .await;
    assert_eq!(
        (status, crate::error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("keywords"))
    );
    testing::clear_redis(&p.redis).await;
}

#[tokio::test]
async fn the_for_you_feed_carries_sponsored_items_in_its_ad_slots_never_two_in_a_row() {
    let p = Platform::start().await;
    // Organic videos from several creators, enough for a page of 12.
    for c in 0..4 {
        let (token, _) = p.sign_up(&format!("org{c}"), "creator").await;
        for v in 0..5 {
            let (status, body) = p
                .post("/v1/videos", Some(&token), json!({"caption": format!("clip {v} #fam{c}"), "duration_ms": 10000, "media_url": "https://x.test/v"}))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
    }
    // An advertiser buys an In-Feed campaign for everyone.
    let (brand, _) = p.sign_up("brand_feed", "advertiser").await;
    p.fund(&brand, 500_000).await;
    let (_, video) = p
        .post("/v1/videos", Some(&brand), json!({"caption": "our shoe", "duration_ms": 15000, "media_url": "https://cdn.loop.test/shoe.mp4", "visibility": "private"}))
        .await;
    let ad_video = video["video_id"].as_str().expect("id").to_owned();
    let (status, campaign) = p
        .post("/v1/ads/campaigns", Some(&brand), json!({"idempotency_key": "feed-ads-0001", "name": "Launch", "objective": "reach", "total_budget_cents": 10000}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let campaign_id = campaign["campaign_id"].as_str().expect("id");
    let (status, group) = p
        .post(
            &format!("/v1/ads/campaigns/{campaign_id}/ad-groups"),
            Some(&brand),
            json!({"name": "everyone", "format": "in_feed", "daily_budget_cents": 5000, "bid_type": "cpm", "bid_cents": 500,
                   "schedule": {"starts_at": (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339()}, "targeting": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["ad_group_id"].as_str().expect("id").to_owned();
    let (status, creative) = p
        .post(
            &format!("/v1/ads/ad-groups/{group_id}/creatives"),
            Some(&brand),
            json!({"video_id": ad_video, "display_name": "BrandCo", "call_to_action": "shop_now", "landing_url": "https://brand.test/shoe"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{creative}");
    let (viewer, _) = p.sign_up("ad_viewer", "viewer").await;
    let client = ranker(&p);
    testing::wait_for("ranker catalog", Duration::from_secs(60), || {
        let mut client = client.clone();
        async move {
            let req = loop_platform::grpc::request(
                pb::GetRankerStatsRequest {},
                Some(&service_token()),
                Duration::from_secs(5),
            );
            let stats = client.get_ranker_stats(req).await.ok()?.into_inner();
            (stats.videos_indexed >= 20).then_some(())
        }
    })
    .await;

    // Ads sit at the configured slots (4 and 11, 1-based) with the marker.
    let (status, feed) = p
        .get(
            "/v1/feed/for-you?page_size=12&country=US&device_os=android",
            &viewer,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{feed}");
    let items = feed["items"].as_array().expect("items");
    assert_eq!(items.len(), 12, "{feed}");
    let sponsored: Vec<u64> = items
        .iter()
        .filter(|i| i["sponsored"] == true)
        .map(|i| i["position"].as_u64().expect("position"))
        .collect();
    assert!(!sponsored.is_empty(), "no ad served: {feed}");
    for item in items.iter().filter(|i| i["sponsored"] == true) {
        let position = item["position"].as_u64().expect("position");
        assert!([3, 10].contains(&position), "ad at {position}: {feed}");
        assert_eq!(item["reason"], "Sponsored");
        assert_eq!(item["reason_kind"], "sponsored");
        assert_eq!(item["ad"]["ad_group_id"], group_id.as_str());
        assert_eq!(item["ad"]["video"]["video_id"], ad_video.as_str());
        assert!(
            !item["ad"]["impression_token"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
        );
    }
    for pair in items.windows(2) {
        assert!(
            !(pair[0]["sponsored"] == true && pair[1]["sponsored"] == true),
            "two ads in a row: {feed}"
        );
    }
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["position"].as_u64(), Some(i as u64));
    }
    // Surfaces that opt out get organic items only.
    let (_, organic) = p
        .get("/v1/feed/for-you?page_size=12&ads=false", &viewer)
        .await;
    assert!(
        organic["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["sponsored"] == false),
        "{organic}"
    );
    testing::clear_redis(&p.redis).await;
}

/// The claims of a serve token (its payload; the signature is the
/// gateway's business).
fn serve_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json claims")
}

/// The ranking model learns from what For You served: the ranker's
/// features of each item are sealed into its serve token, and engagement
/// reported with that token carries them on `engagement.v1`
/// (`served_features`); without a token it carries none.
#[tokio::test]
async fn for_you_seals_its_features_into_the_serve_token_and_engagement_carries_them() {
    use loop_proto::events::v1::EngagementCredit;
    let p = Platform::start().await;
    seed_catalog(&p, 2, 1, 3).await;
    let (viewer, viewer_id) = p.sign_up("feature_fan", "viewer").await;
    let items = page(&p, &viewer, 4).await;
    let item = items
        .iter()
        .find(|i| i["video"]["video_id"].is_string())
        .expect("an organic item");
    let video_id = item["video"]["video_id"].as_str().expect("id").to_owned();
    let token = item["serve_token"].as_str().expect("serve token");
    let claims = serve_claims(token);
    let sealed: Vec<f32> = serde_json::from_value(claims["f"].clone()).expect("features");
    // The six signals, then the hand-set weights' score of them.
    assert_eq!(sealed.len(), loop_feed_ranking::rank::FEATURES, "{claims}");
    let prior = loop_feed_ranking::FeedConfig::default()
        .scoring
        .signal_weights();
    let score: f32 = prior.iter().zip(&sealed).map(|(w, x)| w * x).sum();
    assert!(
        (score - sealed[loop_feed_ranking::rank::SIGNALS]).abs() < 2e-3,
        "{sealed:?}"
    );

    let (status, body) = p
        .post(
            "/v1/events",
            Some(&viewer),
            json!({"events": [
                {"kind": "impression", "video_id": video_id, "serve_token": token},
                {"kind": "view", "video_id": video_id, "watch_ms": 10000, "serve_token": token},
                {"kind": "share", "video_id": video_id},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let published: Vec<_> = crate::engagement_events(&p, 3)
        .await
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| e.user_id == viewer_id)
        .collect();
    assert_eq!(published.len(), 3, "{published:?}");
    for e in &published {
        if e.kind() == EngagementKind::Share {
            assert!(e.served_features.is_empty(), "no token, no features: {e:?}");
            assert_eq!(e.credit(), EngagementCredit::Unverified);
        } else {
            assert_eq!(e.served_features, sealed, "{:?}", e.kind());
            assert_eq!(e.credit(), EngagementCredit::Counted);
        }
    }
    testing::clear_redis(&p.redis).await;
}
