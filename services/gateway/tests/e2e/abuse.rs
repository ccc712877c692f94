//! The abuse suite: what an attacker with a client would try, through the
//! gateway against the real platform. Each test asserts the response and
//! that nothing was credited that should not be (docs/security.md).

use std::time::Duration;

use loop_platform::testing;
use loop_proto::events::v1::{EngagementCredit, EngagementEvent, EngagementKind};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Platform, error_field};

/// A creator with two videos, and a viewer following them: the Following
/// feed serves both videos with their serve tokens.
async fn served_world(p: &Platform) -> (String, String, String, Vec<Value>) {
    let (creator, creator_id) = p.sign_up("abused", "creator").await;
    for n in 0..2 {
        let (status, body) = p
            .post("/v1/videos", Some(&creator), json!({"caption": format!("clip {n} #dance"), "duration_ms": 10000, "media_url": "https://x.test/v"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (viewer, _) = p.sign_up("watcher", "viewer").await;
    let (status, _) = p
        .post(
            &format!("/v1/users/{creator_id}/follow"),
            Some(&viewer),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, page) = p.get("/v1/feed/following", &viewer).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 2, "{page}");
    assert!(items.iter().all(|i| i["serve_token"].is_string()), "{page}");
    (creator, creator_id, viewer, items)
}

async fn events(p: &Platform, token: &str, events: Value) -> (StatusCode, Value) {
    p.post("/v1/events", Some(token), json!({ "events": events }))
        .await
}

/// A like through the like route (the one path for likes), with the feed
/// item's serve token when given.
async fn like(
    p: &Platform,
    token: &str,
    video: &Value,
    served: Option<&Value>,
) -> (StatusCode, Value) {
    let body = served.map_or_else(|| json!({}), |t| json!({ "serve_token": t }));
    let video = video.as_str().expect("video id");
    p.post(&format!("/v1/videos/{video}/like"), Some(token), body)
        .await
}

/// A video's global trending score, as the ranker keeps it.
async fn trending(p: &Platform, video: &Value) -> Option<f64> {
    let client = redis::Client::open(p.redis.url.expose().clone()).expect("redis");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    redis::cmd("ZSCORE")
        .arg(format!("{}trending:global", p.redis.key_prefix))
        .arg(video.as_str().expect("id"))
        .query_async(&mut conn)
        .await
        .expect("zscore")
}

#[tokio::test]
async fn engagement_counts_only_when_served_once_and_never_for_oneself() {
    let p = Platform::start().await;
    let (creator, _, viewer, items) = served_world(&p).await;
    let (v1, t1) = (&items[0]["video_id"], &items[0]["serve_token"]);
    let (v2, t2) = (&items[1]["video_id"], &items[1]["serve_token"]);
    let view_id = uuid::Uuid::now_v7().to_string();

    let (status, first) = events(&p, &viewer, json!([
        {"kind": "impression", "video_id": v1, "serve_token": t1},
        {"kind": "view", "video_id": v1, "watch_ms": 9000, "serve_token": t1, "event_id": view_id},
    ])).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["credits"], json!(["counted", "counted"]));
    // Likes, through the like route: counted once with a serve token, a
    // repeat is a duplicate, and one without a token teaches the viewer only.
    let mut credits = Vec::new();
    for (video, served) in [(v1, Some(t1)), (v1, Some(t1)), (v2, None)] {
        let (status, liked) = like(&p, &viewer, video, served).await;
        assert_eq!(status, StatusCode::OK, "{liked}");
        credits.push(liked["credit"].clone());
    }
    assert_eq!(credits, ["counted", "duplicate", "unverified"]);
    // A client retrying the same view (same event id) is not its own duplicate.
    let (_, retry) = events(&p, &viewer, json!([
        {"kind": "view", "video_id": v1, "watch_ms": 9000, "serve_token": t1, "event_id": view_id},
    ])).await;
    assert_eq!(retry["credits"], json!(["counted"]));
    // The ranker applied them (impression, view, like; the unverified like
    // teaches the viewer only): v1 trends, v2 does not.
    testing::wait_for(
        "the ranker applied the first batch",
        Duration::from_secs(30),
        || async { (crate::feed::applied(&p, &viewer).await >= 4).then_some(()) },
    )
    .await;
    let v1_score = trending(&p, v1).await;
    assert!(v1_score.is_some_and(|s| s > 0.0), "{v1_score:?}");
    assert_eq!(trending(&p, v2).await, None);
    // Thirty more likes: all duplicates, and the like count stays at one.
    for _ in 0..30 {
        let (status, spam) = like(&p, &viewer, v1, Some(t1)).await;
        assert_eq!(status, StatusCode::OK, "{spam}");
        assert_eq!(
            spam,
            json!({"changed": false, "like_count": 1, "credit": "duplicate"})
        );
    }
    // The creator watching their own video, with or without a token.
    let views: Vec<Value> = (0..3)
        .map(|_| json!({"kind": "view", "video_id": v2, "watch_ms": 9000}))
        .collect();
    let (_, own) = events(&p, &creator, Value::Array(views)).await;
    assert_eq!(
        own["credits"],
        json!(["own_video", "own_video", "own_video"])
    );
    // A counted share on v2 after the spam: once the ranker has applied it,
    // it has seen the thirty likes before it (one user's events are in
    // order), and v1's trending score has not moved.
    let (_, share) = events(
        &p,
        &viewer,
        json!([
            {"kind": "share", "video_id": v2, "serve_token": t2},
        ]),
    )
    .await;
    assert_eq!(share["credits"], json!(["counted"]));
    testing::wait_for(
        "the ranker applied the share",
        Duration::from_secs(30),
        || async { (crate::feed::applied(&p, &viewer).await >= 5).then_some(()) },
    )
    .await;
    assert_eq!(
        trending(&p, v1).await,
        v1_score,
        "duplicates moved trending"
    );

    // Someone else's token, another video's token, a forged token: refused,
    // naming the field, and nothing is published (nor liked).
    let (intruder, _) = p.sign_up("replayer", "viewer").await;
    for (who, video, token) in [
        (&intruder, v1, t1.clone()),
        (&viewer, v2, t1.clone()),
        (
            &viewer,
            v1,
            json!(format!("{}x", t1.as_str().expect("token"))),
        ),
    ] {
        let (status, err) = events(
            &p,
            who,
            json!([
                {"kind": "share", "video_id": video, "serve_token": token},
            ]),
        )
        .await;
        assert_eq!(
            (status, error_field(&err)),
            (StatusCode::BAD_REQUEST, Some("events[0].serve_token")),
            "{err}"
        );
        let (status, err) = like(&p, who, video, Some(&token)).await;
        assert_eq!(
            (status, error_field(&err)),
            (StatusCode::BAD_REQUEST, Some("serve_token")),
            "{err}"
        );
    }

    // What consumers see: every accepted event and like with the credit it
    // was given (2 + 3 + 1 + 30 + 3 + 1 = 40), none of the refused ones.
    let published: Vec<EngagementEvent> = crate::engagement_events(&p, 40)
        .await
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    assert_eq!(published.len(), 40);
    let counted = published
        .iter()
        .filter(|e| e.credit() == EngagementCredit::Counted)
        .count();
    assert_eq!(counted, 5, "impression, view (and its retry), like, share");
    let own_views = published
        .iter()
        .filter(|e| e.kind() == EngagementKind::View && e.credit() == EngagementCredit::OwnVideo)
        .count();
    assert_eq!(own_views, 3);
    testing::clear_redis(&p.redis).await;
}

#[tokio::test]
async fn service_credentials_floods_and_guessing_are_refused() {
    let p = Platform::start_with(|c| {
        c.rate_limit.events_per_user_per_minute = 40;
    })
    .await;
    let (viewer, _) = p.sign_up("flooder", "viewer").await;

    // A service's credential is worth nothing at the public API.
    let service = loop_platform::testing::TestKeys.issue(
        "service:feed-ranking",
        loop_platform::auth::Role::Service,
        Duration::from_secs(60),
    );
    let (status, err) = p.get("/v1/users/me", &service).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("service credentials"),
        "{err}"
    );

    // Events per user per minute: the batch that crosses the cap is refused.
    let (creator, _) = p.sign_up("floodee", "creator").await;
    let (_, video) = p
        .post(
            "/v1/videos",
            Some(&creator),
            json!({"caption": "x #y", "duration_ms": 10000, "media_url": "https://x.test/v"}),
        )
        .await;
    let batch: Vec<Value> = (0..30)
        .map(|_| json!({"kind": "impression", "video_id": video["video_id"]}))
        .collect();
    // Batches of 30 against a cap of 40 a minute: the second is refused
    // (the third, should the minute have turned in between).
    let mut refused = None;
    for _ in 0..3 {
        let resp = p
            .http
            .post(format!("{}/v1/events", p.base))
            .bearer_auth(&viewer)
            .json(&json!({ "events": batch }))
            .send()
            .await
            .expect("request");
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(resp);
            break;
        }
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
    }
    let refused = refused.expect("the event cap refused a batch");
    assert!(refused.headers().get("retry-after").is_some());

    // Password guessing on one account backs off, even for the right password.
    for _ in 0..5 {
        let (status, _) = p
            .post(
                "/v1/auth/login",
                None,
                json!({"handle": "flooder", "password": "wrong password 1"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let resp = p
        .http
        .post(format!("{}/v1/auth/login", p.base))
        .json(&json!({"handle": "flooder", "password": "correct horse battery"}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().get("retry-after").is_some());

    // A huge hashtag list is refused before any work proportional to it.
    let tags: Vec<String> = (0..29_000).map(|i| format!("t{i}")).collect();
    let (status, err) = p
        .post("/v1/videos", Some(&creator), json!({"caption": "many", "duration_ms": 10000, "media_url": "https://x.test/v", "hashtags": tags}))
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("hashtags")),
        "{err}"
    );
    testing::clear_redis(&p.redis).await;
}

#[tokio::test]
async fn the_client_ip_is_the_one_the_trusted_proxy_appended() {
    let p = Platform::start_with(|c| {
        c.rate_limit.client_ip_header = "x-forwarded-for".into();
        c.rate_limit.auth_per_ip_per_minute = 3;
    })
    .await;
    let sign_up = |n: usize, forwarded: String| {
        let request = p
            .http
            .post(format!("{}/v1/auth/signup", p.base))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"handle": format!("proxied_{n}"), "password": "correct horse battery", "birth_date": "1998-02-03", "country": "US", "language": "en"}));
        async move { request.send().await.expect("request").status() }
    };
    crate::within_one_rate_window(Duration::from_secs(30)).await;
    // The client forges a different first entry every time; the proxy's
    // entry (the last) is the same client, so the limit holds.
    for n in 0..3 {
        assert_eq!(
            sign_up(n, format!("10.9.9.{n}, 203.0.113.9")).await,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        sign_up(3, "1.1.1.1, 203.0.113.9".into()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy has its own limit.
    assert_eq!(sign_up(4, "203.0.113.10".into()).await, StatusCode::CREATED);
    testing::clear_redis(&p.redis).await;
}

/// A TCP relay to the machine's Redis that can be cut, as a Redis outage.
async fn redis_relay(cut: tokio_util::sync::CancellationToken) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = cut.cancelled() => break,
                a = listener.accept() => a,
            };
            let Ok((mut inbound, _)) = accepted else {
                break;
            };
            let cut = cut.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect("127.0.0.1:6379").await
                else {
                    return;
                };
                tokio::select! {
                    () = cut.cancelled() => {}
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                }
            });
        }
    });
    format!("redis://{addr}")
}

#[tokio::test]
async fn limits_hold_when_redis_is_down() {
    let cut = tokio_util::sync::CancellationToken::new();
    let url = redis_relay(cut.clone()).await;
    let p = Platform::start_with(|c| {
        c.redis.url = loop_platform::config::Secret::new(url);
        c.rate_limit.auth_per_ip_per_minute = 3;
    })
    .await;
    let (creator, _) = p.sign_up("outage_c", "creator").await;
    let (_, video) = p
        .post(
            "/v1/videos",
            Some(&creator),
            json!({"caption": "x #y", "duration_ms": 10000, "media_url": "https://x.test/v"}),
        )
        .await;
    let (viewer, _) = p.sign_up("outage_v", "viewer").await;
    // Redis goes away: the limiter decides in process, with the same quota
    // (counted afresh in this replica), instead of letting everything through.
    cut.cancel();
    let mut statuses = Vec::new();
    for n in 0..4 {
        let (status, _) = p
            .post(
                "/v1/auth/signup",
                None,
                json!({"handle": format!("outage_{n}"), "password": "correct horse battery", "birth_date": "1998-02-03", "country": "US", "language": "en"}),
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        vec![
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // Engagement cannot be deduplicated without Redis: nothing is credited.
    let (status, accepted) = events(
        &p,
        &viewer,
        json!([{"kind": "share", "video_id": video["video_id"]}]),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["credits"], json!(["unverified"]));
}
