//! `POST /v1/events` -> `engagement.v1`, and the like route, the one path
//! by which a like reaches it.

use std::time::Duration;

use loop_platform::kafka::topics;
use loop_platform::testing;
use loop_proto::events::v1::{
    EngagementCredit, EngagementEvent, EngagementKind, NotInterestedTarget,
};
use prost::Message;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Platform, engagement_events, error_field};

async fn a_video(p: &Platform) -> (String, String, String) {
    let (creator, creator_id) = p.sign_up("eventful", "creator").await;
    let (status, sound) = p
        .post(
            "/v1/sounds",
            Some(&creator),
            json!({"title": "s", "artist": "a", "duration_ms": 20000}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, video) = p
        .post("/v1/videos", Some(&creator), json!({"caption": "watch me #Dance", "duration_ms": 10000, "media_url": "https://x.test/v", "sound_id": sound["sound_id"], "category": "dance"}))
        .await;
    (
        video["video_id"].as_str().expect("id").to_owned(),
        creator_id,
        sound["sound_id"].as_str().expect("id").to_owned(),
    )
}

#[tokio::test]
async fn events_are_validated_enriched_and_published_keyed_by_user() {
    let p = Platform::start().await;
    let (video_id, creator_id, sound_id) = a_video(&p).await;
    let (viewer, viewer_id) = p.sign_up("scroller", "viewer").await;
    let client_id = uuid::Uuid::now_v7().to_string();
    let (status, accepted) = p
        .post(
            "/v1/events",
            Some(&viewer),
            json!({"context": {"country": "br", "language": "pt-BR", "device_os": "android"},
            "events": [
                {"kind": "impression", "video_id": video_id},
                {"kind": "view", "video_id": video_id, "watch_ms": 25000, "event_id": client_id},
                {"kind": "share", "video_id": video_id},
                {"kind": "not_interested", "video_id": video_id, "target": "sound"}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["accepted"], 4);
    assert_eq!(
        accepted["event_ids"][1],
        client_id.as_str(),
        "a client-chosen id is kept for retries"
    );

    let topic = p.kafka.topic(topics::ENGAGEMENT);
    let mut reader = testing::TopicReader::new(&p.kafka, &topic);
    let seen = reader
        .read_until(Duration::from_secs(30), |s| s.len() >= 4)
        .await;
    let events: Vec<EngagementEvent> = seen
        .iter()
        .map(|d| EngagementEvent::decode(d.payload.as_slice()).expect("event"))
        .collect();
    assert!(
        seen.iter().all(|d| d.key == viewer_id.as_bytes()),
        "keyed by user"
    );
    let kinds: Vec<EngagementKind> = events.iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        vec![
            EngagementKind::Impression,
            EngagementKind::View,
            EngagementKind::Share,
            EngagementKind::NotInterested
        ],
        "order kept"
    );
    let view = &events[1];
    assert_eq!(view.event_id, client_id);
    assert_eq!(
        (view.watch_ms, view.video_duration_ms),
        (25000, 10000),
        "a rewatch: watch time beyond the duration"
    );
    assert_eq!(view.creator_id, creator_id);
    assert_eq!(view.sound_id, sound_id);
    assert_eq!(view.hashtags, vec!["dance"]);
    assert_eq!(view.category, "dance");
    let ctx = view.context.as_ref().expect("context");
    assert_eq!(
        (ctx.country.as_str(), ctx.language.as_str()),
        ("BR", "pt-BR")
    );
    assert_eq!(
        events[3].not_interested_target(),
        NotInterestedTarget::Sound
    );
    assert!(
        seen.iter().all(|d| d.header("traceparent").is_some()),
        "trace context travels in headers"
    );
    testing::clear_redis(&p.redis).await;
}

#[tokio::test]
async fn impossible_events_reject_the_whole_batch() {
    let p = Platform::start().await;
    let (video_id, _, _) = a_video(&p).await;
    let (viewer, _) = p.sign_up("faker", "viewer").await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let cases: Vec<(Value, &str)> = vec![
        (
            json!([{"kind": "view", "video_id": video_id, "watch_ms": -5}]),
            "events[0].watch_ms",
        ),
        (
            json!([{"kind": "view", "video_id": video_id}]),
            "events[0].watch_ms",
        ),
        (
            json!([{"kind": "view", "video_id": video_id, "watch_ms": 500000}]),
            "events[0].watch_ms",
        ),
        (
            json!([{"kind": "share", "video_id": video_id}, {"kind": "teleport", "video_id": video_id}]),
            "events[1].kind",
        ),
        // Likes have one path, the like route (which teaches the feed too).
        (
            json!([{"kind": "share", "video_id": video_id}, {"kind": "like", "video_id": video_id}]),
            "events[1].kind",
        ),
        (
            json!([{"kind": "unlike", "video_id": video_id}]),
            "events[0].kind",
        ),
        (
            json!([{"kind": "share", "video_id": unknown}]),
            "events[0].video_id",
        ),
        (
            json!([{"kind": "share", "video_id": "nope"}]),
            "events[0].video_id",
        ),
        (
            json!([{"kind": "share", "video_id": video_id, "watch_ms": 10}]),
            "events[0].watch_ms",
        ),
        (
            json!([{"kind": "not_interested", "video_id": video_id, "target": "planet"}]),
            "events[0].target",
        ),
        (
            json!([{"kind": "share", "video_id": video_id, "occurred_at": "2001-01-01T00:00:00Z"}]),
            "events[0].occurred_at",
        ),
        (json!([]), "events"),
    ];
    for (events, field) in cases {
        let (status, err) = p
            .post("/v1/events", Some(&viewer), json!({"events": events}))
            .await;
        assert_eq!(
            (status, error_field(&err)),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{events} -> {err}"
        );
    }
    let (status, err) = p.post("/v1/events", Some(&viewer), json!({"context": {"device_os": "palm"}, "events": [{"kind": "share", "video_id": video_id}]})).await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("context.device_os"))
    );
    let too_many: Vec<Value> = (0..101)
        .map(|_| json!({"kind": "impression", "video_id": video_id}))
        .collect();
    let (status, err) = p
        .post("/v1/events", Some(&viewer), json!({"events": too_many}))
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("events"))
    );

    // Nothing from the rejected batches reached the topic: a later good event is the only one.
    let (status, _) = p
        .post(
            "/v1/events",
            Some(&viewer),
            json!({"events": [{"kind": "share", "video_id": video_id}]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mut reader = testing::TopicReader::new(&p.kafka, &p.kafka.topic(topics::ENGAGEMENT));
    reader
        .read_until(Duration::from_secs(30), |s| !s.is_empty())
        .await;
    let all = testing::read_all(&p.kafka, &p.kafka.topic(topics::ENGAGEMENT)).await;
    assert_eq!(all.len(), 1, "rejected batches published nothing");
    testing::clear_redis(&p.redis).await;
}

/// A like is one call: the like route records it in content and publishes
/// its `like` engagement, credited like any event; `POST /v1/events`
/// refuses likes, naming the field.
#[tokio::test]
async fn a_like_is_one_call_that_content_records_and_the_ranker_hears() {
    let p = Platform::start().await;
    let (video_id, creator_id, sound_id) = a_video(&p).await;
    let (viewer, viewer_id) = p.sign_up("fan_once", "viewer").await;
    let (status, _) = p
        .post(
            &format!("/v1/users/{creator_id}/follow"),
            Some(&viewer),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, feed) = p.get("/v1/feed/following", &viewer).await;
    let served = feed["items"][0]["serve_token"].clone();
    assert!(served.is_string(), "{feed}");
    let like = format!("/v1/videos/{video_id}/like");

    // A bad serve token or context is refused before anything is recorded.
    for (body, field) in [
        (json!({"serve_token": "forged"}), "serve_token"),
        (json!({"context": {"country": "Brazil"}}), "context.country"),
        (json!({"token": served}), "token"),
    ] {
        let (status, err) = p.post(&like, Some(&viewer), body).await;
        assert_eq!(
            (status, error_field(&err)),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{err}"
        );
    }
    let (_, video) = p.get(&format!("/v1/videos/{video_id}"), &viewer).await;
    assert_eq!(video["like_count"], 0, "a refused like changed nothing");

    let (status, liked) = p
        .post(
            &like,
            Some(&viewer),
            json!({"serve_token": served, "context": {"country": "br"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{liked}");
    assert_eq!(
        liked,
        json!({"changed": true, "like_count": 1, "credit": "counted"})
    );
    // Liking again changes nothing and counts for nothing; no body is fine.
    let resp = p
        .http
        .post(format!("{}{like}", p.base))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    let again: Value = resp.json().await.expect("json");
    assert_eq!(
        again,
        json!({"changed": false, "like_count": 1, "credit": "duplicate"})
    );
    let (status, unliked) = p
        .call(reqwest::Method::DELETE, &like, Some(&viewer), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{unliked}");
    assert_eq!(
        unliked,
        json!({"changed": true, "like_count": 0, "credit": "unverified"})
    );
    let (status, err) = p
        .post(
            "/v1/events",
            Some(&viewer),
            json!({"events": [{"kind": "like", "video_id": video_id, "serve_token": served}]}),
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("events[0].kind")),
        "{err}"
    );

    // engagement.v1 holds exactly what the three calls imply, enriched from
    // the video and keyed by the viewer.
    let seen = engagement_events(&p, 3).await;
    assert!(
        seen.iter().all(|(key, _)| key == viewer_id.as_bytes()),
        "keyed by user"
    );
    let facts: Vec<(EngagementKind, EngagementCredit)> =
        seen.iter().map(|(_, e)| (e.kind(), e.credit())).collect();
    assert_eq!(
        facts,
        vec![
            (EngagementKind::Like, EngagementCredit::Counted),
            (EngagementKind::Like, EngagementCredit::Duplicate),
            (EngagementKind::Unlike, EngagementCredit::Unverified),
        ]
    );
    let first = &seen[0].1;
    assert_eq!(
        (
            first.video_id.as_str(),
            first.creator_id.as_str(),
            first.sound_id.as_str()
        ),
        (video_id.as_str(), creator_id.as_str(), sound_id.as_str())
    );
    assert_eq!(first.hashtags, vec!["dance"]);
    assert_eq!(first.category, "dance");
    assert_eq!(first.context.as_ref().expect("context").country, "BR");
    testing::clear_redis(&p.redis).await;
}
