//! The creator studio's views through the public API: two viewers are
//! served a creator's two videos and watch them (one view retried); the
//! creator's `GET /v1/marketplace/creator/videos` shows each video's views,
//! unique viewers and likes newest first in pages, and the day's views in
//! the 30-day series. Bad paging is refused by its field; other roles have
//! no studio.

use std::time::Duration;

use loop_platform::testing;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Platform, error_field};

#[tokio::test]
async fn a_creator_sees_each_videos_views_and_the_days_views() {
    let p = Platform::start().await;
    let (creator, creator_id) = p.sign_up("studiostar", "creator").await;
    let mut videos = Vec::new();
    for n in 0..2 {
        let (status, body) = p
            .post("/v1/videos", Some(&creator), json!({"caption": format!("studio clip {n} #studio"), "duration_ms": 10000, "media_url": "https://x.test/v"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        videos.push(body["video_id"].as_str().expect("id").to_owned());
    }
    let (older, newer) = (videos[0].clone(), videos[1].clone());
    // Two viewers follow, are served both videos and watch: the first
    // watches both (and retries one view with the same event id), the
    // second watches the older one and likes it.
    let mut viewers = Vec::new();
    for (n, watches) in [(0, vec![&older, &newer]), (1, vec![&older])] {
        let (viewer, _) = p.sign_up(&format!("studiofan{n}"), "viewer").await;
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
        for video in watches {
            let item = items
                .iter()
                .find(|i| i["video_id"] == video.as_str())
                .expect("served");
            let event_id = uuid::Uuid::now_v7().to_string();
            let view = json!({"kind": "view", "video_id": video, "watch_ms": 9000, "serve_token": item["serve_token"], "event_id": event_id});
            let (status, sent) = p
                .post(
                    "/v1/events",
                    Some(&viewer),
                    json!({"events": [view.clone()]}),
                )
                .await;
            assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
            assert_eq!(sent["credits"], json!(["counted"]));
            if n == 0 {
                // A client retry: the same event, counted once.
                let (status, _) = p
                    .post("/v1/events", Some(&viewer), json!({"events": [view]}))
                    .await;
                assert_eq!(status, StatusCode::ACCEPTED);
            }
            if n == 1 {
                let (status, liked) = p
                    .post(
                        &format!("/v1/videos/{video}/like"),
                        Some(&viewer),
                        json!({"serve_token": item["serve_token"]}),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK, "{liked}");
            }
        }
        viewers.push(viewer);
    }

    // The studio catches up: three views, newest video first, one per page.
    let first = testing::wait_for(
        "the studio shows the views",
        Duration::from_secs(60),
        || async {
            let (status, page) = p
                .get("/v1/marketplace/creator/videos?page_size=1", &creator)
                .await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let total: u64 = page["daily_views"]
                .as_array()?
                .iter()
                .filter_map(|d| d["views"].as_u64())
                .sum();
            (total == 3).then_some(page)
        },
    )
    .await;
    let days = first["daily_views"].as_array().expect("days");
    assert_eq!(days.len(), 30, "{first}");
    let today = chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    assert!(
        days.iter()
            .any(|d| d["day"] == today.as_str() && d["views"] == 3),
        "today's views: {first}"
    );
    let items = first["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["video_id"], newer.as_str());
    assert_eq!(
        (
            items[0]["views"].as_u64(),
            items[0]["unique_viewers"].as_u64()
        ),
        (Some(1), Some(1)),
        "{first}"
    );
    let token = first["next_page_token"].as_str().expect("a second page");
    // Likes come from content's records: wait for the like to land too.
    let second = testing::wait_for("the like is counted", Duration::from_secs(60), || async {
        let (status, page) = p
            .get(
                &format!("/v1/marketplace/creator/videos?page_size=1&page_token={token}"),
                &creator,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        (page["items"][0]["likes"] == 1).then_some(page)
    })
    .await;
    let older_stats: &Value = &second["items"][0];
    assert_eq!(older_stats["video_id"], older.as_str());
    assert_eq!(
        (
            older_stats["views"].as_u64(),
            older_stats["unique_viewers"].as_u64()
        ),
        (Some(2), Some(2)),
        "{second}"
    );
    assert!(second["next_page_token"].is_null(), "two videos: {second}");

    // Bad paging is refused by its field; a viewer has no studio.
    for (query, field) in [
        ("page_size=0", "page_size"),
        ("page_size=abc", "page_size"),
        ("page_token=nope", "page_token"),
    ] {
        let (status, err) = p
            .get(&format!("/v1/marketplace/creator/videos?{query}"), &creator)
            .await;
        assert_eq!(
            (status, error_field(&err)),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{query}: {err}"
        );
    }
    let (status, _) = p.get("/v1/marketplace/creator/videos", &viewers[0]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
