//! Every gateway endpoint not covered by the flows in `main.rs`: its happy
//! path and its bad-input cases, through HTTP.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{Platform, error_field};

async fn publish(p: &Platform, token: &str, body: Value) -> Value {
    let (status, video) = p.post("/v1/videos", Some(token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{video}");
    video
}

fn video_body(caption: &str) -> Value {
    json!({"caption": caption, "duration_ms": 9000, "media_url": "https://cdn.loop.test/x.mp4"})
}

async fn admin(p: &Platform) -> String {
    let (status, body) = p
        .post(
            "/v1/auth/login",
            None,
            json!({"handle": "admin", "password": loop_content::DEV_ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn accounts_profiles_and_becoming_a_creator() {
    let p = Platform::start().await;
    let (viewer, viewer_id) = p.sign_up("newbie", "viewer").await;
    let (advertiser, _) = p.sign_up("brandco", "advertiser").await;

    let (status, err) = p
        .post(
            "/v1/auth/login",
            None,
            json!({"handle": "", "password": "x"}),
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("handle"))
    );
    let (status, err) = p.post("/v1/auth/signup", None, json!({"handle": "newbie", "password": "longenough1", "birth_date": "1990-01-01", "country": "US", "language": "en"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    let (status, err) = p.post("/v1/auth/signup", None, json!({"handle": "x1y", "password": "longenough1", "birth_date": "1990-01-01", "country": "USA", "language": "en"})).await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("country"))
    );
    let (status, err) = p.post("/v1/auth/signup", None, json!({"handle": "x1y", "password": "longenough1", "birth_date": "1990-01-01", "country": "US", "language": "en", "role": "admin"})).await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("role"))
    );

    let (status, by_handle) = p.get("/v1/users/by-handle/newbie", &viewer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_handle["user_id"], viewer_id.as_str());
    assert_eq!(
        by_handle["birth_date"], "1998-02-03",
        "your own birth date is shown to you"
    );
    let (_, other) = p.get("/v1/users/by-handle/brandco", &viewer).await;
    assert!(
        other.get("birth_date").is_none(),
        "another user's birth date stays private: {other}"
    );
    assert_eq!(other["age_band"], "25_34");
    assert_eq!(
        p.get("/v1/users/by-handle/nobody_here", &viewer).await.0,
        StatusCode::NOT_FOUND
    );

    let (status, me) = p
        .call(
            Method::PATCH,
            "/v1/users/me",
            Some(&viewer),
            Some(json!({"display_name": "New Bie", "interests": ["#Cooking"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["display_name"], "New Bie");
    assert_eq!(me["declared_interests"], json!(["cooking"]));
    let (status, err) = p
        .call(
            Method::PATCH,
            "/v1/users/me",
            Some(&viewer),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("body"))
    );
    let (status, err) = p
        .call(
            Method::PATCH,
            "/v1/users/me",
            Some(&viewer),
            Some(json!({"language": "not a language"})),
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("language"))
    );

    // A viewer cannot publish until they become a creator; the new token carries the role.
    let (status, _) = p
        .post("/v1/videos", Some(&viewer), video_body("too early"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, session) = p
        .call(
            Method::PUT,
            "/v1/users/me/creator-profile",
            Some(&viewer),
            Some(json!({"bio": "I cook", "category": "cooking"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["user"]["role"], "creator");
    assert_eq!(session["user"]["creator"]["category"], "cooking");
    let creator_token = session["token"].as_str().expect("token");
    let video = publish(&p, creator_token, video_body("now I can")).await;
    assert_eq!(
        video["category"], "cooking",
        "defaults to the creator's category"
    );
    let (status, err) = p
        .call(
            Method::PUT,
            "/v1/users/me/creator-profile",
            Some(&advertiser),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    loop_platform::testing::clear_redis(&p.redis).await;
}

#[tokio::test]
async fn editing_remixes_lineage_and_the_following_feed() {
    let p = Platform::start().await;
    let (alice, alice_id) = p.sign_up("alice", "creator").await;
    let (bob, _) = p.sign_up("bob", "creator").await;
    let (fan, _) = p.sign_up("fan1", "viewer").await;
    let original = publish(&p, &alice, video_body("original #dance")).await;
    let original_id = original["video_id"].as_str().expect("id");

    let (status, edited) = p
        .call(
            Method::PATCH,
            &format!("/v1/videos/{original_id}"),
            Some(&alice),
            Some(json!({"caption": "edited #salsa"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["hashtags"], json!(["salsa"]));
    let (status, err) = p
        .call(
            Method::PATCH,
            &format!("/v1/videos/{original_id}"),
            Some(&alice),
            Some(json!({"visibility": "secret"})),
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("visibility"))
    );
    let (status, err) = p
        .call(
            Method::PATCH,
            &format!("/v1/videos/{original_id}"),
            Some(&alice),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("body"))
    );
    let (_, hashtag_videos) = p.get("/v1/hashtags/salsa/videos", &fan).await;
    assert_eq!(hashtag_videos["items"][0]["video_id"], original_id);
    assert_eq!(
        p.get("/v1/hashtags/dance", &fan).await.0,
        StatusCode::NOT_FOUND,
        "the old hashtag is gone"
    );

    // A duet of the original, then a stitch of the duet.
    let mut duet = video_body("duet!");
    duet["remix_of_video_id"] = json!(original_id);
    duet["remix_kind"] = json!("duet");
    let duet = publish(&p, &bob, duet).await;
    let mut stitch = video_body("stitch!");
    stitch["remix_of_video_id"] = duet["video_id"].clone();
    stitch["remix_kind"] = json!("stitch");
    let stitch = publish(&p, &alice, stitch).await;
    let (status, lineage) = p
        .get(
            &format!(
                "/v1/videos/{}/lineage",
                stitch["video_id"].as_str().expect("id")
            ),
            &fan,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let ancestors: Vec<&str> = lineage["ancestors"]
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v["video_id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ancestors,
        vec![duet["video_id"].as_str().expect("id"), original_id]
    );
    let (_, lineage) = p
        .get(&format!("/v1/videos/{original_id}/lineage"), &fan)
        .await;
    assert_eq!(lineage["remixes"]["items"][0]["video_id"], duet["video_id"]);
    let mut bad = video_body("remix without a kind");
    bad["remix_of_video_id"] = json!(original_id);
    let (status, err) = p.post("/v1/videos", Some(&bob), bad).await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("remix_kind"))
    );

    // Following feed: newest first across followed creators, keyset pages.
    p.post(
        &format!("/v1/users/{alice_id}/follow"),
        Some(&fan),
        json!({}),
    )
    .await;
    let (_, page1) = p.get("/v1/feed/following?page_size=1", &fan).await;
    assert_eq!(page1["items"][0]["video_id"], stitch["video_id"]);
    let token = page1["next_page_token"].as_str().expect("more");
    let (_, page2) = p
        .get(
            &format!("/v1/feed/following?page_size=1&page_token={token}"),
            &fan,
        )
        .await;
    assert_eq!(page2["items"][0]["video_id"], original_id);
    assert!(page2["next_page_token"].is_null(), "alice has two videos");
    let (status, err) = p.get("/v1/feed/following?page_size=abc", &fan).await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("page_size"))
    );
    let (status, err) = p.get("/v1/feed/following?pagesize=3", &fan).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown query parameter: {err}"
    );
    loop_platform::testing::clear_redis(&p.redis).await;
}

#[tokio::test]
async fn follows_likes_comments_and_shares_can_be_undone_and_listed() {
    let p = Platform::start().await;
    let (maker, maker_id) = p.sign_up("maker2", "creator").await;
    let (fan, fan_id) = p.sign_up("fan2", "viewer").await;
    let (troll, _) = p.sign_up("troll", "viewer").await;
    let video = publish(&p, &maker, video_body("likes please")).await;
    let vid = video["video_id"].as_str().expect("id");

    follow_unfollow_and_list(&p, &maker_id, &fan, &fan_id).await;
    like_and_unlike(&p, &fan, vid).await;
    comment_reply_and_delete(&p, vid, &maker, &fan, &troll).await;
    share_counts_once_per_viewer(&p, vid, &maker, &fan).await;
    loop_platform::testing::clear_redis(&p.redis).await;
}

async fn follow_unfollow_and_list(p: &Platform, maker_id: &str, fan: &str, fan_id: &str) {
    assert_eq!(
        p.post(
            &format!("/v1/users/{maker_id}/follow"),
            Some(fan),
            json!({})
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (_, followers) = p.get(&format!("/v1/users/{maker_id}/followers"), fan).await;
    assert_eq!(followers["items"][0]["user_id"], fan_id);
    let (_, following) = p.get(&format!("/v1/users/{fan_id}/following"), fan).await;
    assert_eq!(following["items"][0]["user_id"], maker_id);
    assert_eq!(
        p.call(
            Method::DELETE,
            &format!("/v1/users/{maker_id}/follow"),
            Some(fan),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        p.call(
            Method::DELETE,
            &format!("/v1/users/{maker_id}/follow"),
            Some(fan),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (_, profile) = p.get(&format!("/v1/users/{maker_id}"), fan).await;
    assert_eq!(profile["follower_count"], 0);
}

async fn like_and_unlike(p: &Platform, fan: &str, vid: &str) {
    p.post(&format!("/v1/videos/{vid}/like"), Some(fan), json!({}))
        .await;
    let (_, unliked) = p
        .call(
            Method::DELETE,
            &format!("/v1/videos/{vid}/like"),
            Some(fan),
            None,
        )
        .await;
    assert_eq!(
        unliked,
        json!({"changed": true, "like_count": 0, "credit": "unverified"})
    );
    let (_, again) = p
        .call(
            Method::DELETE,
            &format!("/v1/videos/{vid}/like"),
            Some(fan),
            None,
        )
        .await;
    assert_eq!(
        again,
        json!({"changed": false, "like_count": 0, "credit": "duplicate"})
    );
}

async fn comment_reply_and_delete(p: &Platform, vid: &str, maker: &str, fan: &str, troll: &str) {
    // One level of replies.
    let (_, top) = p
        .post(
            &format!("/v1/videos/{vid}/comments"),
            Some(fan),
            json!({"text": "first"}),
        )
        .await;
    let top_id = top["comment_id"].as_str().expect("id");
    let (status, reply) = p
        .post(
            &format!("/v1/videos/{vid}/comments"),
            Some(troll),
            json!({"text": "reply", "parent_comment_id": top_id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let (status, err) = p
        .post(
            &format!("/v1/videos/{vid}/comments"),
            Some(fan),
            json!({"text": "deeper", "parent_comment_id": reply["comment_id"]}),
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("parent_comment_id"))
    );
    let (status, err) = p
        .post(
            &format!("/v1/videos/{vid}/comments"),
            Some(fan),
            json!({"text": ""}),
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("text"))
    );
    let (_, replies) = p
        .get(
            &format!("/v1/videos/{vid}/comments?parent_comment_id={top_id}"),
            fan,
        )
        .await;
    assert_eq!(replies["items"][0]["text"], "reply");
    let (_, tops) = p.get(&format!("/v1/videos/{vid}/comments"), fan).await;
    assert_eq!(tops["items"][0]["reply_count"], 1);
    // The troll cannot delete the fan's comment; the video's creator can delete the troll's.
    assert_eq!(
        p.call(
            Method::DELETE,
            &format!("/v1/comments/{top_id}"),
            Some(troll),
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let reply_id = reply["comment_id"].as_str().expect("id");
    assert_eq!(
        p.call(
            Method::DELETE,
            &format!("/v1/comments/{reply_id}"),
            Some(maker),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (_, got) = p.get(&format!("/v1/videos/{vid}"), fan).await;
    assert_eq!(got["comment_count"], 1);
}

async fn share_counts_once_per_viewer(p: &Platform, vid: &str, maker: &str, fan: &str) {
    let (status, share) = p
        .post(
            &format!("/v1/videos/{vid}/share"),
            Some(fan),
            json!({"channel": "copy_link"}),
        )
        .await;
    assert_eq!((status, share), (StatusCode::OK, json!({"share_count": 1})));
    // A share counts once per viewer (repeats do not inflate it), and a
    // creator's own share never counts.
    for (who, channel) in [(fan, "whatsapp"), (fan, "copy_link"), (maker, "copy_link")] {
        let (status, share) = p
            .post(
                &format!("/v1/videos/{vid}/share"),
                Some(who),
                json!({"channel": channel}),
            )
            .await;
        assert_eq!((status, share), (StatusCode::OK, json!({"share_count": 1})));
    }
    let (status, err) = p
        .post(
            &format!("/v1/videos/{vid}/share"),
            Some(fan),
            json!({"channel": ""}),
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("channel"))
    );
}

#[tokio::test]
async fn sounds_hashtags_and_challenges() {
    let p = Platform::start().await;
    let (maker, _) = p.sign_up("musician", "creator").await;
    let (brand, _) = p.sign_up("brand2", "advertiser").await;

    let (status, sound) = p
        .post(
            "/v1/sounds",
            Some(&maker),
            json!({"title": "Beat", "artist": "Me", "duration_ms": 30000}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sound}");
    let sound_id = sound["sound_id"].as_str().expect("id");
    let (status, err) = p
        .post(
            "/v1/sounds",
            Some(&maker),
            json!({"title": "Beat", "artist": "Me", "duration_ms": 5}),
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("duration_ms"))
    );
    let mut body = video_body("with a beat #beat");
    body["sound_id"] = json!(sound_id);
    let video = publish(&p, &maker, body).await;
    let (_, got) = p.get(&format!("/v1/sounds/{sound_id}"), &maker).await;
    assert_eq!(got["video_count"], 1);
    let (_, videos) = p
        .get(&format!("/v1/sounds/{sound_id}/videos"), &maker)
        .await;
    assert_eq!(videos["items"][0]["video_id"], video["video_id"]);
    assert_eq!(
        p.get(&format!("/v1/sounds/{}", uuid::Uuid::now_v7()), &maker)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let now = chrono::Utc::now();
    let challenge = json!({"hashtag": "#Beat", "description": "Dance to the beat", "starts_at": now, "ends_at": now + chrono::Duration::days(7)});
    assert_eq!(
        p.post("/v1/challenges", Some(&maker), challenge.clone())
            .await
            .0,
        StatusCode::FORBIDDEN,
        "creators cannot start challenges"
    );
    // A challenge is a paid product: an advertiser buys it through
    // /v1/ads/branded-challenges, never free here (it would block the tag).
    let (status, err) = p
        .post("/v1/challenges", Some(&brand), challenge.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    let admin = admin(&p).await;
    let past = json!({"hashtag": "beat", "description": "d", "starts_at": now - chrono::Duration::hours(1), "ends_at": now + chrono::Duration::days(7)});
    let (status, err) = p.post("/v1/challenges", Some(&admin), past).await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("starts_at"))
    );
    let forever = json!({"hashtag": "beat", "description": "d", "starts_at": now, "ends_at": "2099-01-01T00:00:00Z"});
    let (status, err) = p.post("/v1/challenges", Some(&admin), forever).await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("ends_at"))
    );
    let (_, none) = p.get("/v1/challenges", &maker).await;
    assert_eq!(none["items"].as_array().map(Vec::len), Some(0), "{none}");
    let (status, created) = p
        .post("/v1/challenges", Some(&admin), challenge.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["hashtag"], "beat");
    assert_eq!(
        p.post("/v1/challenges", Some(&admin), challenge).await.0,
        StatusCode::CONFLICT,
        "overlapping period"
    );
    let backwards = json!({"hashtag": "other", "description": "d", "starts_at": now + chrono::Duration::days(2), "ends_at": now + chrono::Duration::days(1)});
    let (status, err) = p.post("/v1/challenges", Some(&admin), backwards).await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("ends_at"))
    );
    let (status, err) = p
        .post(
            "/v1/challenges",
            Some(&admin),
            json!({"hashtag": "x", "description": "d", "starts_at": "yesterday", "ends_at": now}),
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("starts_at"))
    );
    let (_, active) = p.get("/v1/challenges", &maker).await;
    assert_eq!(active["items"][0]["hashtag"], "beat");

    let (status, hashtag) = p.get("/v1/hashtags/beat", &maker).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hashtag["video_count"], 1);
    assert_eq!(
        hashtag["active_challenge"]["description"],
        "Dance to the beat"
    );
    let (status, err) = p.get("/v1/hashtags/not%20valid", &maker).await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("name"))
    );
    loop_platform::testing::clear_redis(&p.redis).await;
}

#[tokio::test]
async fn reports_and_moderation_take_videos_out_of_circulation() {
    let p = Platform::start().await;
    let (maker, _) = p.sign_up("edgy", "creator").await;
    let (reporter, _) = p.sign_up("reporter", "viewer").await;
    let admin = admin(&p).await;
    let video = publish(&p, &maker, video_body("questionable #edgy")).await;
    let vid = video["video_id"].as_str().expect("id");

    let (status, err) = p
        .post(
            &format!("/v1/videos/{vid}/reports"),
            Some(&reporter),
            json!({"reason": "boring"}),
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("reason"))
    );
    let (status, report) = p
        .post(
            &format!("/v1/videos/{vid}/reports"),
            Some(&reporter),
            json!({"reason": "spam", "details": "ads"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{report}");
    assert_eq!(report["status"], "open");
    assert_eq!(
        p.post(
            &format!("/v1/videos/{vid}/reports"),
            Some(&reporter),
            json!({"reason": "spam"})
        )
        .await
        .0,
        StatusCode::CONFLICT
    );

    let (status, open) = p.get("/v1/admin/reports", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(open["items"][0]["video_id"], vid);
    let (status, err) = p
        .post(
            &format!("/v1/admin/videos/{vid}/moderation"),
            Some(&admin),
            json!({"decision": "ban"}),
        )
        .await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("decision"))
    );
    assert_eq!(
        p.post(
            &format!("/v1/admin/videos/{vid}/moderation"),
            Some(&reporter),
            json!({"decision": "reject"})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (status, moderated) = p
        .post(
            &format!("/v1/admin/videos/{vid}/moderation"),
            Some(&admin),
            json!({"decision": "reject", "note": "spam"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moderated}");
    assert_eq!(moderated["moderation_state"], "rejected");

    assert_eq!(
        p.get(&format!("/v1/videos/{vid}"), &reporter).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        p.get(&format!("/v1/videos/{vid}"), &maker).await.0,
        StatusCode::NOT_FOUND,
        "not even its owner sees a rejected video"
    );
    let (_, tagged) = p.get("/v1/hashtags/edgy/videos", &reporter).await;
    assert_eq!(tagged["items"], json!([]));
    let (_, resolved) = p.get("/v1/admin/reports?status=resolved", &admin).await;
    assert_eq!(resolved["items"][0]["status"], "resolved");
    let (status, err) = p.get("/v1/admin/reports?status=maybe", &admin).await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("status"))
    );
    loop_platform::testing::clear_redis(&p.redis).await;
}

#[tokio::test]
async fn live_rooms_open_count_viewers_and_close() {
    let p = Platform::start().await;
    let (host, _) = p.sign_up("streamer", "creator").await;
    let (viewer, _) = p.sign_up("lurker", "viewer").await;

    assert_eq!(
        p.post("/v1/live", Some(&viewer), json!({"title": "hi"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, err) = p.post("/v1/live", Some(&host), json!({"title": ""})).await;
    assert_eq!(
        (status, error_field(&err)),
        (StatusCode::BAD_REQUEST, Some("title"))
    );
    let (status, room) = p
        .post("/v1/live", Some(&host), json!({"title": "Cooking live"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let room_id = room["room_id"].as_str().expect("id");
    assert_eq!(
        p.post("/v1/live", Some(&host), json!({"title": "second"}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let (_, joined) = p
        .post(
            &format!("/v1/live/{room_id}/join"),
            Some(&viewer),
            json!({}),
        )
        .await;
    assert_eq!(joined["viewer_count"], 1);
    let (_, joined_again) = p
        .post(
            &format!("/v1/live/{room_id}/join"),
            Some(&viewer),
            json!({}),
        )
        .await;
    assert_eq!(joined_again["viewer_count"], 1, "joining twice counts once");
    let (_, rooms) = p.get("/v1/live", &viewer).await;
    assert_eq!(rooms["items"][0]["room_id"], room_id);
    let (_, left) = p
        .post(
            &format!("/v1/live/{room_id}/leave"),
            Some(&viewer),
            json!({}),
        )
        .await;
    assert_eq!(left["viewer_count"], 0);

    assert_eq!(
        p.post(&format!("/v1/live/{room_id}/end"), Some(&viewer), json!({}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, ended) = p
        .post(&format!("/v1/live/{room_id}/end"), Some(&host), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ended["open"], false);
    assert_eq!(
        p.post(
            &format!("/v1/live/{room_id}/join"),
            Some(&viewer),
            json!({})
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (_, got) = p.get(&format!("/v1/live/{room_id}"), &viewer).await;
    assert_eq!(got["open"], false);
    assert_eq!(
        p.get(&format!("/v1/live/{}", uuid::Uuid::now_v7()), &viewer)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    loop_platform::testing::clear_redis(&p.redis).await;
}

/// The room is content's: with the shop unreachable a room is still
/// served, without its pinned product and sale and marked so.
#[tokio::test]
async fn a_live_room_is_served_while_the_shop_is_down() {
    let p = Platform::start().await;
    let (host, _) = p.sign_up("streamer", "creator").await;
    let (viewer, _) = p.sign_up("lurker", "viewer").await;
    let (status, room) = p
        .post("/v1/live", Some(&host), json!({"title": "Shop is down"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let room_id = room["room_id"].as_str().expect("id");

    // A second gateway over the same services, but its shop is out of
    // reach (nothing listens on port 9): every call to commerce fails.
    let mut config = p._running.gateway.clone();
    config.services.commerce_url = "http://127.0.0.1:9".into();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let stop = tokio_util::sync::CancellationToken::new();
    let gateway = tokio::spawn(loop_gateway::run(config, listener, stop.clone()));
    let get = |path: String| {
        let (http, base, viewer) = (p.http.clone(), base.clone(), viewer.clone());
        async move {
            let resp = http
                .get(format!("{base}{path}"))
                .bearer_auth(viewer)
                .send()
                .await
                .expect("request");
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, got) = get(format!("/v1/live/{room_id}")).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["title"], "Shop is down");
    assert_eq!(got["open"], true);
    assert_eq!(got["shop_available"], false);
    assert!(got["pinned_product"].is_null() && got["flash_sale"].is_null());
    // An unknown room is still 404, shop or not.
    let (status, _) = get(format!("/v1/live/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Through the first gateway the same room has its shop.
    let (_, got) = p.get(&format!("/v1/live/{room_id}"), &viewer).await;
    assert_eq!(got["shop_available"], true);
    stop.cancel();
    gateway
        .await
        .expect("join")
        .expect("the second gateway stopped cleanly");
    loop_platform::testing::clear_redis(&p.redis).await;
}
