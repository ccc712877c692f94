//! Ownership, reports and moderation: what others may not touch, and removal.

use super::*;

#[tokio::test]
async fn ownership_moderation_and_visibility() {
    let h = Harness::start().await;
    let owner = h.sign_up("owner", R::Creator).await;
    let other = h.sign_up("other", R::Creator).await;
    let admin_login = h
        .client
        .clone()
        .authenticate(pb::AuthenticateRequest {
            handle: "admin".into(),
            password: loop_content::DEV_ADMIN_PASSWORD.into(),
        })
        .await
        .expect("bootstrap admin logs in")
        .into_inner()
        .user
        .expect("admin");
    let video = h.publish(&owner, "mine").await;
    let mut c = h.client.clone();

    let err = c
        .delete_video(h.req(
            &other,
            pb::DeleteVideoRequest {
                video_id: video.video_id.clone(),
            },
        ))
        .await
        .expect_err("not owner");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = c
        .update_video(h.req(
            &other,
            pb::UpdateVideoRequest {
                video_id: video.video_id.clone(),
                caption: "hijack".into(),
                update_mask: vec!["caption".into()],
                ..Default::default()
            },
        ))
        .await
        .expect_err("not owner");
    assert_eq!(err.code(), Code::PermissionDenied);

    // A report, then an admin removal: never served again, and VideoRemoved is emitted.
    c.report_video(h.req(
        &other,
        pb::ReportVideoRequest {
            video_id: video.video_id.clone(),
            reason: pb::ReportReason::Spam as i32,
            details: String::new(),
        },
    ))
    .await
    .expect("report");
    let err = c
        .list_reports(h.req(&other, pb::ListReportsRequest::default()))
        .await
        .expect_err("admin only");
    assert_eq!(err.code(), Code::PermissionDenied);
    let reports = c
        .list_reports(h.req(&admin_login, pb::ListReportsRequest::default()))
        .await
        .expect("reports")
        .into_inner();
    assert_eq!(reports.reports.len(), 1);
    c.moderate_video(h.req(
        &admin_login,
        pb::ModerateVideoRequest {
            video_id: video.video_id.clone(),
            decision: pb::ModerationDecision::Remove as i32,
            note: "spam".into(),
        },
    ))
    .await
    .expect("remove");
    let err = c
        .get_video(h.req(
            &other,
            pb::GetVideoRequest {
                video_id: video.video_id.clone(),
            },
        ))
        .await
        .expect_err("gone");
    assert_eq!(err.code(), Code::NotFound);
    let batch = c
        .batch_get_videos(h.req(
            &other,
            pb::BatchGetVideosRequest {
                video_ids: vec![video.video_id.clone()],
            },
        ))
        .await
        .expect("batch")
        .into_inner();
    assert!(batch.videos.is_empty());
    let listed = c
        .list_creator_videos(h.req(
            &other,
            pb::ListCreatorVideosRequest {
                creator_id: owner.user_id.clone(),
                page: None,
            },
        ))
        .await
        .expect("list")
        .into_inner();
    assert!(listed.videos.is_empty());
    let mut reader = testing::TopicReader::new(&h.config.kafka, &h.content_topic());
    reader
        .read_until(Duration::from_secs(30), |s| {
            events(s).iter().any(|e| matches!(&e.payload, Some(Payload::VideoRemoved(r)) if r.video_id == video.video_id))
        })
        .await;
}
