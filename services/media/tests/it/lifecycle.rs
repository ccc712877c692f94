//! What content does with an upload decides what is kept: a ready upload
//! never published expires (outputs deleted), a published one stays, a
//! removed video's outputs are deleted.

use loop_proto::events::v1 as ev;
use loop_proto::media::v1 as pb;
use loop_testkit::clips;

use super::*;

impl Platform {
    async fn content_event(&self, key: &str, payload: ev::content_event::Payload) {
        let producer =
            loop_platform::kafka::Producer::new(&self.config.kafka, "media-it").expect("producer");
        producer
            .publish(
                loop_platform::kafka::topics::CONTENT,
                key,
                "loop.events.v1.ContentEvent",
                &ev::ContentEvent {
                    event_id: Uuid::now_v7().to_string(),
                    occurred_at: None,
                    payload: Some(payload),
                },
            )
            .await
            .expect("publish");
    }

    async fn video_of(&self, upload_id: &str) -> Option<Uuid> {
        sqlx::query_scalar("SELECT video_id FROM uploads WHERE upload_id = $1::uuid")
            .bind(upload_id)
            .fetch_one(&self.pool)
            .await
            .expect("row")
    }
}

#[tokio::test]
async fn unpublished_uploads_expire_and_removed_videos_lose_their_outputs() {
    let p = Platform::start_with(|c| {
        c.uploads.unpublished_expire_after_secs = 2;
        c.uploads.sweep_interval_ms = 100;
    })
    .await;
    let (owner, token) = p.creator();
    let clip = clips::generate(&p.root.join("clips"), "clip.mp4", 2, 320, 240);
    let bytes = read_file(&clip);
    let published = p.upload(&token, &bytes, 64 * 1024).await;
    let video_id = Uuid::now_v7();
    // Content publishes a video from the first upload.
    p.content_event(
        &video_id.to_string(),
        ev::content_event::Payload::VideoPublished(ev::VideoPublished {
            video: Some(ev::VideoSnapshot {
                video_id: video_id.to_string(),
                creator_id: owner.clone(),
                media_url: format!("loop-media:{}", published.upload_id),
                ..Default::default()
            }),
        }),
    )
    .await;
    testing::wait_for(
        "the publication recorded",
        Duration::from_secs(60),
        || async { (p.video_of(&published.upload_id).await == Some(video_id)).then_some(()) },
    )
    .await;
    let unpublished = p.upload(&token, &bytes, 64 * 1024).await;
    for u in [&published, &unpublished] {
        let done = p.settled(&token, &u.upload_id).await;
        assert_eq!(
            done.state(),
            pb::UploadState::Ready,
            "{}",
            done.failure_reason
        );
    }
    // The unpublished one expires: its outputs go, it no longer plays.
    let expired = testing::wait_for(
        "the unpublished upload expired",
        Duration::from_secs(60),
        || async {
            let u = p.get(&token, &unpublished.upload_id).await.expect("get");
            (u.state() == pb::UploadState::Expired).then_some(u)
        },
    )
    .await;
    assert!(
        expired.failure_reason.contains("not published in time"),
        "{}",
        expired.failure_reason
    );
    testing::wait_for("its outputs deleted", Duration::from_secs(30), || async {
        (p.objects(&format!("media/{}", unpublished.upload_id)).await == 0).then_some(())
    })
    .await;
    let err = p
        .read(&unpublished.upload_id, "master.m3u8")
        .await
        .expect_err("expired");
    assert_eq!(reason(&err).as_deref(), Some("MEDIA_NOT_READY"));
    // The published one is past the same deadline and stays.
    loop_media::uploads::sweep_once(&p.pool, &p.store, &loop_media::ReadyCache::default())
        .await
        .expect("sweep");
    let kept = p.get(&token, &published.upload_id).await.expect("get");
    assert_eq!(kept.state(), pb::UploadState::Ready);
    p.read(&published.upload_id, "master.m3u8")
        .await
        .expect("still plays");

    // Content removes the video: its outputs are deleted.
    p.content_event(
        &video_id.to_string(),
        ev::content_event::Payload::VideoRemoved(ev::VideoRemoved {
            video_id: video_id.to_string(),
            creator_id: owner,
            reason: ev::VideoRemovalReason::DeletedByOwner as i32,
        }),
    )
    .await;
    testing::wait_for(
        "the removed video's outputs deleted",
        Duration::from_secs(60),
        || async {
            let u = p.get(&token, &published.upload_id).await.expect("get");
            let left = p.objects(&format!("media/{}", published.upload_id)).await;
            (u.state() == pb::UploadState::Removed && left == 0).then_some(())
        },
    )
    .await;
    let err = p
        .read(&published.upload_id, "master.m3u8")
        .await
        .expect_err("removed");
    assert_eq!(reason(&err).as_deref(), Some("MEDIA_NOT_READY"));
}
