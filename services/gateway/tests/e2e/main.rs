#![allow(clippy::field_reassign_with_default)] // tests tweak a default config field by field
//! End-to-end: the content service and the gateway run in-process on
//! ephemeral ports (own database, Redis prefix and topics); the tests drive
//! the public HTTP API the way a client does.

use std::time::Duration;

use loop_platform::kafka::topics;
use loop_platform::testing;
use loop_proto::events::v1::{ContentEvent, EngagementEvent, content_event::Payload};
use prost::Message;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Waits, if needed, until at least `need` is left in the current minute:
/// the gateway's limits count in fixed one-minute windows (the minute's
/// number is in the key), so requests a test expects to share one window
/// must not straddle a minute boundary (under load, a few password hashes
/// can take seconds).
pub(crate) async fn within_one_rate_window(need: Duration) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    let left = Duration::from_secs(60) - Duration::from_millis((now.as_millis() % 60_000) as u64);
    if left < need {
        tokio::time::sleep(left + Duration::from_millis(50)).await;
    }
}

mod abuse;
mod ads;
mod auctions;
mod commerce;
mod endpoints;
mod events;
mod feed;
mod marketplace;
mod media;
mod session;
mod studio;
mod wallet;

pub(crate) struct Platform {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) kafka: loop_platform::config::KafkaConfig,
    pub(crate) redis: loop_platform::config::RedisConfig,
    pub(crate) ranker_addr: std::net::SocketAddr,
    pub(crate) ads_addr: std::net::SocketAddr,
    _running: loop_testkit::Platform,
}

impl Platform {
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub(crate) async fn start_with(tune: impl FnOnce(&mut loop_gateway::Config)) -> Self {
        let running = loop_testkit::Platform::start_with(tune).await;
        Self {
            base: running.base.clone(),
            http: reqwest::Client::new(),
            kafka: running.kafka.clone(),
            redis: running.redis.clone(),
            ranker_addr: running.ranker_addr,
            ads_addr: running.ads_addr,
            _running: running,
        }
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.request(method, path, token, None, body).await
    }

    /// A POST with an `Idempotency-Key` (money and order changes take one;
    /// `None` leaves the header out, to see it refused).
    pub(crate) async fn post_keyed(
        &self,
        path: &str,
        token: &str,
        key: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        self.request(reqwest::Method::POST, path, Some(token), key, Some(body))
            .await
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            },
        )
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// Tops up the advertiser behind `token` with `cents` (a signed test
    /// receipt): campaign budgets are reserved from wallet cents.
    pub(crate) async fn fund(&self, token: &str, cents: i64) {
        let resp = self
            .http
            .post(format!("{}/v1/wallet/top-ups", self.base))
            .bearer_auth(token)
            .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
            .json(&json!({"amount_cents": cents, "receipt": loop_testkit::fixtures::test_receipt("loop.cents", cents)}))
            .send()
            .await
            .expect("top up");
        assert_eq!(resp.status(), StatusCode::CREATED, "top up");
    }

    pub(crate) async fn sign_up(&self, handle: &str, role: &str) -> (String, String) {
        let (status, body) = self
            .post(
                "/v1/auth/signup",
                None,
                json!({"handle": handle, "password": "correct horse battery", "birth_date": "1998-02-03", "country": "US", "language": "en", "interests": ["dance"], "role": role}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["token"].as_str().expect("token").to_owned(),
            body["user"]["user_id"].as_str().expect("id").to_owned(),
        )
    }
}

/// What `engagement.v1` holds once it has at least `n` events: each
/// event's message key and the event, in order.
pub(crate) async fn engagement_events(p: &Platform, n: usize) -> Vec<(Vec<u8>, EngagementEvent)> {
    let topic = p.kafka.topic(topics::ENGAGEMENT);
    let mut reader = testing::TopicReader::new(&p.kafka, &topic);
    reader
        .read_until(Duration::from_secs(30), |s| s.len() >= n)
        .await;
    testing::read_all(&p.kafka, &topic)
        .await
        .into_iter()
        .map(|d| {
            let event = EngagementEvent::decode(d.payload.as_slice()).expect("event");
            (d.key, event)
        })
        .collect()
}

pub(crate) fn error_field(body: &Value) -> Option<&str> {
    body["error"]["field"].as_str()
}

#[tokio::test]
async fn a_client_signs_up_publishes_follows_likes_comments_and_lists() {
    let p = Platform::start().await;
    let (creator, creator_id) = p.sign_up("dancer", "creator").await;
    let (viewer, viewer_id) = p.sign_up("watcher", "viewer").await;

    let (status, login) = p
        .post(
            "/v1/auth/login",
            None,
            json!({"handle": "dancer", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert_eq!(login["user"]["role"], "creator");

    let (status, video) = p
        .post("/v1/videos", Some(&creator), json!({"caption": "my first #Dance", "duration_ms": 12000, "media_url": "https://cdn.loop.test/a.mp4", "hashtags": ["fun"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{video}");
    assert_eq!(video["hashtags"], json!(["fun", "dance"]));
    assert_eq!(video["visibility"], "public");
    let video_id = video["video_id"].as_str().expect("id").to_owned();

    let (status, _) = p
        .post(
            &format!("/v1/users/{creator_id}/follow"),
            Some(&viewer),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, like) = p
        .post(
            &format!("/v1/videos/{video_id}/like"),
            Some(&viewer),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        like,
        json!({"changed": true, "like_count": 1, "credit": "unverified"})
    );
    let (status, comment) = p
        .post(
            &format!("/v1/videos/{video_id}/comments"),
            Some(&viewer),
            json!({"text": "great moves"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{comment}");
    assert_eq!(comment["author_handle"], "watcher");

    let (status, listed) = p
        .get(&format!("/v1/users/{creator_id}/videos"), &viewer)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["items"][0]["video_id"], video_id.as_str());
    assert_eq!(listed["items"][0]["like_count"], 1);
    assert_eq!(listed["items"][0]["comment_count"], 1);
    let (_, feed) = p.get("/v1/feed/following", &viewer).await;
    assert_eq!(feed["items"][0]["video_id"], video_id.as_str());
    let (_, comments) = p
        .get(&format!("/v1/videos/{video_id}/comments"), &creator)
        .await;
    assert_eq!(comments["items"][0]["text"], "great moves");
    let (_, me) = p.get("/v1/users/me", &viewer).await;
    assert_eq!(me["user_id"], viewer_id.as_str());
    assert_eq!(me["following_count"], 1);

    // A content.v1 event for each change: 2 sign-ups, publish, follow, like, comment.
    let topic = p.kafka.topic(topics::CONTENT);
    let mut reader = testing::TopicReader::new(&p.kafka, &topic);
    let seen = reader
        .read_until(Duration::from_secs(30), |s| s.len() >= 6)
        .await;
    let kinds: Vec<&'static str> = seen
        .iter()
        .map(|d| {
            match ContentEvent::decode(d.payload.as_slice())
                .expect("event")
                .payload
            {
                Some(Payload::UserRegistered(_)) => "registered",
                Some(Payload::VideoPublished(_)) => "published",
                Some(Payload::UserFollowed(_)) => "followed",
                Some(Payload::VideoLiked(_)) => "liked",
                Some(Payload::CommentAdded(_)) => "commented",
                _ => "other",
            }
        })
        .collect();
    let mut sorted = kinds.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        vec![
            "commented",
            "followed",
            "liked",
            "published",
            "registered",
            "registered"
        ]
    );
    testing::clear_redis(&p.redis).await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let p = Platform::start().await;
    let (creator, creator_id) = p.sign_up("maker", "creator").await;
    let (viewer, _) = p.sign_up("looker", "viewer").await;

    let cases = [
        (
            json!({"caption": "", "duration_ms": 12000, "media_url": "https://x.test/a"}),
            "caption",
        ),
        (
            json!({"caption": "x".repeat(2201), "duration_ms": 12000, "media_url": "https://x.test/a"}),
            "caption",
        ),
        (
            json!({"caption": "ok", "duration_ms": "long", "media_url": "https://x.test/a"}),
            "duration_ms",
        ),
        (
            json!({"caption": "ok", "media_url": "https://x.test/a"}),
            "duration_ms",
        ),
        (
            json!({"caption": "ok", "duration_ms": 12000, "media_url": "https://x.test/a", "visibility": "secret"}),
            "visibility",
        ),
        (
            json!({"caption": "ok", "duration_ms": 12000, "media_url": "https://x.test/a", "colour": "red"}),
            "colour",
        ),
    ];
    for (body, field) in cases {
        let (status, err) = p.post("/v1/videos", Some(&creator), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {err}");
        assert_eq!(error_field(&err), Some(field), "{body} -> {err}");
        assert_eq!(err["error"]["code"], "invalid_argument");
    }
    // Malformed JSON and a wrong content type.
    let resp = p
        .http
        .post(format!("{}/v1/videos", p.base))
        .bearer_auth(&creator)
        .header("content-type", "application/json")
        .body("{\"caption\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_json");
    let resp = p
        .http
        .post(format!("{}/v1/videos", p.base))
        .bearer_auth(&creator)
        .body("caption=x")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (_, listed) = p
        .get(&format!("/v1/users/{creator_id}/videos"), &creator)
        .await;
    assert_eq!(listed["items"], json!([]), "nothing was published");

    // Unknown video, self-follow, duplicate follow.
    let (status, err) = p
        .get(&format!("/v1/videos/{}", uuid::Uuid::now_v7()), &viewer)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    let (status, err) = p.get("/v1/videos/not-a-uuid", &viewer).await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("video_id"))
    );
    let (status, err) = p
        .post(
            &format!("/v1/users/{creator_id}/follow"),
            Some(&creator),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("creator_id"))
    );
    assert_eq!(
        p.post(
            &format!("/v1/users/{creator_id}/follow"),
            Some(&viewer),
            json!({})
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (status, err) = p
        .post(
            &format!("/v1/users/{creator_id}/follow"),
            Some(&viewer),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    let (_, creator_profile) = p.get(&format!("/v1/users/{creator_id}"), &viewer).await;
    assert_eq!(creator_profile["follower_count"], 1);

    // Sign-up validation names fields.
    let (status, err) = p.post("/v1/auth/signup", None, json!({"handle": "kid", "password": "longenough1", "birth_date": "2024-01-01", "country": "US", "language": "en"})).await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("birth_date"))
    );
    let (status, err) = p.post("/v1/auth/signup", None, json!({"handle": "someone", "birth_date": "1990-01-01", "country": "US", "language": "en"})).await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("password"))
    );
    let (status, err) = p
        .post(
            "/v1/auth/login",
            None,
            json!({"handle": "maker", "password": "wrong password"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{err}");
    testing::clear_redis(&p.redis).await;
}

#[tokio::test]
async fn auth_and_ownership_are_enforced() {
    let p = Platform::start().await;
    let (owner, _) = p.sign_up("owner1", "creator").await;
    let (intruder, _) = p.sign_up("intruder", "creator").await;
    let (_, video) = p
        .post(
            "/v1/videos",
            Some(&owner),
            json!({"caption": "mine", "duration_ms": 5000, "media_url": "https://x.test/m"}),
        )
        .await;
    let video_id = video["video_id"].as_str().expect("id");

    let (status, err) = p
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/videos/{video_id}"),
            Some(&intruder),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    let (status, _) = p.get(&format!("/v1/videos/{video_id}"), &intruder).await;
    assert_eq!(status, StatusCode::OK, "the video survived");

    // No token, a forged token, an expired token.
    let (status, err) = p
        .call(
            reqwest::Method::GET,
            &format!("/v1/videos/{video_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err["error"]["code"], "unauthenticated");
    // Signed by a key nobody trusts, even under the gateway's name.
    let stranger = loop_platform::auth::SigningKey::generate("gateway", "stolen").expect("key");
    let forged = stranger.sign(&loop_platform::auth::Claims {
        iss: "gateway".into(),
        sub: "x".into(),
        aud: loop_platform::auth::API_AUDIENCE.into(),
        role: loop_platform::auth::Role::Admin,
        iat: 1,
        exp: u64::MAX / 2,
    });
    assert_eq!(
        p.get("/v1/users/me", &forged).await.0,
        StatusCode::UNAUTHORIZED
    );
    let expired = loop_platform::auth::SigningKey::development("gateway").sign(
        &loop_platform::auth::Claims {
            iss: "gateway".into(),
            sub: "x".into(),
            aud: loop_platform::auth::API_AUDIENCE.into(),
            role: loop_platform::auth::Role::Viewer,
            iat: 1,
            exp: 2,
        },
    );
    let (status, err) = p.get("/v1/users/me", &expired).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("expired"),
        "{err}"
    );

    // Viewers cannot reach admin endpoints; the owner can delete.
    let (status, _) = p.get("/v1/admin/reports", &intruder).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = p
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/videos/{video_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        p.get(&format!("/v1/videos/{video_id}"), &intruder).await.0,
        StatusCode::NOT_FOUND
    );
    testing::clear_redis(&p.redis).await;
}

#[tokio::test]
async fn openapi_lists_every_route_and_rate_limits_apply() {
    let p = Platform::start_with(|c| c.rate_limit.per_user_per_minute = 5).await;
    let resp = p
        .http
        .get(format!("{}/openapi.json", p.base))
        .send()
        .await
        .expect("openapi");
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: Value = resp.json().await.expect("json");
    for path in [
        "/v1/auth/signup",
        "/v1/auth/login",
        "/v1/videos",
        "/v1/videos/{video_id}",
        "/v1/users/{user_id}/follow",
        "/v1/feed/following",
        "/v1/live",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    // The limits the server enforces are in the contract a client is generated from.
    let schemas = &doc["components"]["schemas"];
    for body in ["EventsBody", "AdEventsBody"] {
        let events = &schemas[body]["properties"]["events"];
        assert_eq!(
            (&events["minItems"], &events["maxItems"]),
            (&json!(1), &json!(100)),
            "{body}: {events}"
        );
    }
    assert_eq!(
        schemas["EventBody"]["properties"]["serve_token"]["maxLength"],
        2048
    );

    let (token, _) = p.sign_up("busy", "viewer").await;
    within_one_rate_window(Duration::from_secs(20)).await;
    let mut codes = Vec::new();
    for _ in 0..7 {
        codes.push(p.get("/v1/users/me", &token).await.0);
    }
    assert_eq!(&codes[..5], &[StatusCode::OK; 5]);
    assert_eq!(codes[6], StatusCode::TOO_MANY_REQUESTS);
    testing::clear_redis(&p.redis).await;
}
