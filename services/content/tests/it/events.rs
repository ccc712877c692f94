//! Every write emits its event exactly once, through the outbox, even across a crash.

use super::*;

#[tokio::test]
async fn publish_follow_like_comment_each_emit_one_event() {
    let h = Harness::start().await;
    let creator = h.sign_up("maker", R::Creator).await;
    let fan = h.sign_up("fan", R::Viewer).await;
    let video = h.publish(&creator, "first dance #Dance #fun").await;
    assert_eq!(video.hashtags, vec!["dance", "fun"]);

    let mut c = h.client.clone();
    c.follow(h.req(
        &fan,
        pb::FollowRequest {
            creator_id: creator.user_id.clone(),
        },
    ))
    .await
    .expect("follow");
    let like = c
        .like_video(h.req(
            &fan,
            pb::LikeVideoRequest {
                video_id: video.video_id.clone(),
            },
        ))
        .await
        .expect("like")
        .into_inner();
    assert!(like.changed);
    assert_eq!(like.like_count, 1);
    let again = c
        .like_video(h.req(
            &fan,
            pb::LikeVideoRequest {
                video_id: video.video_id.clone(),
            },
        ))
        .await
        .expect("like again")
        .into_inner();
    assert!(!again.changed, "liking twice changes nothing");
    assert_eq!(again.like_count, 1);
    c.add_comment(h.req(
        &fan,
        pb::AddCommentRequest {
            video_id: video.video_id.clone(),
            text: "love it".into(),
            parent_comment_id: String::new(),
        },
    ))
    .await
    .expect("comment");

    // 2 sign-ups + publish + follow + like + comment = 6 events, each exactly once.
    let mut reader = testing::TopicReader::new(&h.config.kafka, &h.content_topic());
    let seen = reader
        .read_until(Duration::from_secs(30), |s| s.len() >= 6)
        .await;
    let evs = events(seen);
    let kinds: Vec<&str> = evs
        .iter()
        .map(|e| match e.payload.as_ref().expect("payload") {
            Payload::UserRegistered(_) => "registered",
            Payload::VideoPublished(_) => "published",
            Payload::UserFollowed(_) => "followed",
            Payload::VideoLiked(_) => "liked",
            Payload::CommentAdded(_) => "commented",
            _ => "other",
        })
        .collect();
    for k in ["registered", "published", "followed", "liked", "commented"] {
        assert!(kinds.contains(&k), "missing {k} in {kinds:?}");
    }
    let published = evs.iter().find_map(|e| match &e.payload {
        Some(Payload::VideoPublished(p)) => p.video.clone(),
        _ => None,
    });
    let published = published.expect("published snapshot");
    assert_eq!(published.video_id, video.video_id);
    assert!(published.servable);
    // Exactly once: the whole topic holds six events with distinct ids.
    let all = testing::read_all(&h.config.kafka, &h.content_topic()).await;
    let mut ids: Vec<String> = events(&all).into_iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), 6, "exactly six events on the topic");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "event ids are unique");
}

#[tokio::test]
async fn outbox_event_survives_a_crash_between_commit_and_publish() {
    let db = TestDb::create("content_outbox").await;
    let prefix = testing::unique("outbox");
    let mut config = Config::default();
    config.database = db.config.clone();
    config.kafka = testing::kafka_config(&prefix);
    config.outbox.poll_interval_ms = 50;

    // First life: the relay never runs, as if the process died right after commit.
    let mut crashed = config.clone();
    crashed.outbox.relay_enabled = false;
    let mut h = Harness::start_with(crashed).await;
    let creator = h.sign_up("crashy", R::Creator).await;
    let video = h.publish(&creator, "before the crash").await;
    h.stop().await;
    let pool = sqlx::PgPool::connect(db.url()).await.expect("pool");
    let backlog = loop_platform::outbox::backlog(&pool)
        .await
        .expect("backlog");
    assert_eq!(
        backlog, 2,
        "sign-up and publish are committed but unpublished"
    );
    assert!(
        testing::read_all(&config.kafka, &config.kafka.topic(topics::CONTENT))
            .await
            .is_empty()
    );

    // Second life: the relay publishes what the first one left behind.
    let mut h = Harness::start_with(config.clone()).await;
    testing::wait_for("outbox drained", Duration::from_secs(30), || {
        let pool = pool.clone();
        async move { (loop_platform::outbox::backlog(&pool).await.ok() == Some(0)).then_some(()) }
    })
    .await;
    let all = events(&testing::read_all(&config.kafka, &config.kafka.topic(topics::CONTENT)).await);
    let published: Vec<_> = all
        .iter()
        .filter(|e| matches!(&e.payload, Some(Payload::VideoPublished(p)) if p.video.as_ref().is_some_and(|v| v.video_id == video.video_id)))
        .collect();
    assert_eq!(published.len(), 1, "the video's event arrives exactly once");
    assert_eq!(all.len(), 2);
    h.stop().await;
}
