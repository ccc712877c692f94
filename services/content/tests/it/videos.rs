//! Videos: publishing rules, reading, keyset pages, caption edits.

use super::*;

#[tokio::test]
async fn bad_publish_input_is_rejected_naming_the_field_and_stores_nothing() {
    let h = Harness::start().await;
    let creator = h.sign_up("carol", R::Creator).await;
    let mut c = h.client.clone();

    let cases: Vec<(pb::PublishVideoRequest, &str)> = vec![
        (
            pb::PublishVideoRequest {
                caption: "".into(),
                duration_ms: 15_000,
                media_url: "https://x.test/v".into(),
                ..Default::default()
            },
            "caption",
        ),
        (
            pb::PublishVideoRequest {
                caption: "x".repeat(2201),
                duration_ms: 15_000,
                media_url: "https://x.test/v".into(),
                ..Default::default()
            },
            "caption",
        ),
        (
            pb::PublishVideoRequest {
                caption: "ok".into(),
                duration_ms: 10,
                media_url: "https://x.test/v".into(),
                ..Default::default()
            },
            "duration_ms",
        ),
        (
            pb::PublishVideoRequest {
                caption: "ok".into(),
                duration_ms: 15_000,
                media_url: "ftp://x".into(),
                ..Default::default()
            },
            "media_url",
        ),
        (
            pb::PublishVideoRequest {
                caption: "ok".into(),
                duration_ms: 15_000,
                media_url: "https://x.test/v".into(),
                sound_id: "nope".into(),
                ..Default::default()
            },
            "sound_id",
        ),
    ];
    for (req, field) in cases {
        let err = c
            .publish_video(h.req(&creator, req))
            .await
            .expect_err("rejected");
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(
            loop_platform::error::status_field(&err).as_deref(),
            Some(field),
            "{err:?}"
        );
    }
    let listed = c
        .list_creator_videos(h.req(
            &creator,
            pb::ListCreatorVideosRequest {
                creator_id: creator.user_id.clone(),
                page: None,
            },
        ))
        .await
        .expect("list")
        .into_inner();
    assert!(
        listed.videos.is_empty(),
        "rejected publishes stored nothing"
    );
}

#[tokio::test]
async fn viewers_cannot_publish() {
    let h = Harness::start().await;
    let viewer = h.sign_up("victor", R::Viewer).await;
    let mut c = h.client.clone();
    let err = c
        .publish_video(h.req(
            &viewer,
            pb::PublishVideoRequest {
                caption: "hi".into(),
                duration_ms: 15_000,
                media_url: "https://x.test/v".into(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("viewer");
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn an_unknown_video_is_not_found_and_no_token_is_unauthenticated() {
    let h = Harness::start().await;
    let viewer = h.sign_up("victor", R::Viewer).await;
    let mut c = h.client.clone();
    let err = c
        .get_video(h.req(
            &viewer,
            pb::GetVideoRequest {
                video_id: uuid::Uuid::now_v7().to_string(),
            },
        ))
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound);
    let err = c
        .get_video(pb::GetVideoRequest {
            video_id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn keyset_pagination_walks_every_video_once() {
    let h = Harness::start().await;
    let creator = h.sign_up("prolific", R::Creator).await;
    let mut published = Vec::new();
    for i in 0..7 {
        published.push(h.publish(&creator, &format!("video {i}")).await.video_id);
    }
    let mut c = h.client.clone();
    let mut token = String::new();
    let mut seen = Vec::new();
    loop {
        let page = c
            .list_creator_videos(h.req(
                &creator,
                pb::ListCreatorVideosRequest {
                    creator_id: creator.user_id.clone(),
                    page: Some(loop_proto::common::v1::PageRequest {
                        page_size: 3,
                        page_token: token.clone(),
                    }),
                },
            ))
            .await
            .expect("page")
            .into_inner();
        assert!(page.videos.len() <= 3);
        seen.extend(page.videos.into_iter().map(|v| v.video_id));
        token = page.page.expect("page").next_page_token;
        if token.is_empty() {
            break;
        }
    }
    published.reverse();
    assert_eq!(seen, published, "newest first, each exactly once");
    let err = c
        .list_creator_videos(h.req(
            &creator,
            pb::ListCreatorVideosRequest {
                creator_id: creator.user_id.clone(),
                page: Some(loop_proto::common::v1::PageRequest {
                    page_size: 3,
                    page_token: "garbage!".into(),
                }),
            },
        ))
        .await
        .expect_err("bad token");
    assert_eq!(
        loop_platform::error::status_field(&err).as_deref(),
        Some("page_token")
    );
}

#[tokio::test]
async fn editing_a_caption_keeps_explicit_hashtags() {
    let h = Harness::start().await;
    let creator = h.sign_up("tagger", R::Creator).await;
    let mut c = h.client.clone();
    let video = c
        .publish_video(h.req(
            &creator,
            pb::PublishVideoRequest {
                caption: "first #dance".into(),
                hashtags: vec!["fun".into()],
                duration_ms: 9000,
                media_url: "https://x.test/v".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("publish")
        .into_inner()
        .video
        .expect("video");
    assert_eq!(video.hashtags, vec!["fun", "dance"]);
    let edited = c
        .update_video(h.req(
            &creator,
            pb::UpdateVideoRequest {
                video_id: video.video_id.clone(),
                caption: "second #salsa".into(),
                update_mask: vec!["caption".into()],
                ..Default::default()
            },
        ))
        .await
        .expect("update")
        .into_inner()
        .video
        .expect("video");
    assert_eq!(
        edited.hashtags,
        vec!["fun", "salsa"],
        "explicit #fun kept, caption tags replaced"
    );
    let tagged = c
        .list_hashtag_videos(h.req(
            &creator,
            pb::ListHashtagVideosRequest {
                name: "dance".into(),
                page: None,
            },
        ))
        .await
        .expect("list")
        .into_inner();
    assert!(
        tagged.videos.is_empty(),
        "the old caption tag no longer lists the video"
    );
}
