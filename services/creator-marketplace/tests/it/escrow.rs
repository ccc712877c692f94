//! Escrowed payment: paid exactly once, refunded at the deadline.

use super::*;

#[tokio::test]
async fn escrow_flow_pays_the_creator_exactly_once() {
    let p = Platform::start().await;
    let (advertiser, creator, _campaign, collab) = invited(&p).await;
    assert_eq!(collab.state, pb::CollaborationState::Invited as i32);
    let id = collab.collaboration_id.clone();

    // Accept: the budget moves into escrow in one ledger transaction.
    let accept_key = key();
    let accepted = accept(&p, &creator, &id, &accept_key)
        .await
        .expect("accept");
    assert_eq!(accepted.state, pb::CollaborationState::Accepted as i32);
    assert!(!accepted.escrow_id.is_empty());
    assert_eq!(p.cents(&advertiser).await, (100_000 - BUDGET, BUDGET));
    // A retry with the same key returns the collaboration, holding nothing more.
    let again = accept(&p, &creator, &id, &accept_key).await.expect("retry");
    assert_eq!(again.escrow_id, accepted.escrow_id);
    assert_eq!(p.cents(&advertiser).await, (100_000 - BUDGET, BUDGET));

    // Both sides talk in the thread.
    for (who, role) in [(&advertiser, Role::Advertiser), (&creator, Role::Creator)] {
        p.m()
            .send_message(p.req(
                who,
                role,
                pb::SendMessageRequest {
                    collaboration_id: id.clone(),
                    body: "hello".into(),
                },
            ))
            .await
            .expect("message");
    }
    let thread = p
        .m()
        .list_messages(p.req(
            &creator,
            Role::Creator,
            pb::ListMessagesRequest {
                collaboration_id: id.clone(),
                page: None,
            },
        ))
        .await
        .expect("thread")
        .into_inner();
    assert_eq!(thread.messages.len(), 2);
    assert_eq!(thread.messages[0].sender_id, creator, "newest first");

    // The creator posts a video with the hashtag and submits it.
    let video = p.publish_video(&creator, &["glowad", "morning"]).await;
    let submitted = submit(&p, &creator, &id, vec![video.clone()])
        .await
        .expect("submit");
    assert_eq!(submitted.state, pb::CollaborationState::Submitted as i32);

    // Approve, then retry the approval: paid once.
    let approve_key = key();
    let paid = approve(&p, &advertiser, &id, &approve_key)
        .await
        .expect("approve");
    assert_eq!(paid.state, pb::CollaborationState::Paid as i32);
    let fee = BUDGET * i64::from(p.config.marketplace.platform_fee_bps) / 10_000;
    assert_eq!(paid.paid_cents, BUDGET - fee);
    assert_eq!(paid.platform_fee_cents, fee);
    let retried = approve(&p, &advertiser, &id, &approve_key)
        .await
        .expect("retry approve");
    assert_eq!(retried.state, pb::CollaborationState::Paid as i32);
    assert_eq!(
        p.cents(&creator).await,
        (BUDGET - fee, 0),
        "paid exactly once"
    );
    assert_eq!(p.cents(&advertiser).await, (100_000 - BUDGET, 0));
    let recon = p.reconcile().await;
    assert!(recon.consistent, "ledger reconciles: {recon:?}");

    // Releasing twice with another key: a clear error, nothing moves.
    let err = approve(&p, &advertiser, &id, &key())
        .await
        .expect_err("second release");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err), "INVALID_STATE");
    assert_eq!(p.cents(&creator).await, (BUDGET - fee, 0));

    // The report shows the sponsored video and what was paid.
    let report = p
        .m()
        .get_campaign_report(p.req(
            &advertiser,
            Role::Advertiser,
            pb::GetCampaignReportRequest {
                campaign_id: paid.campaign_id.clone(),
            },
        ))
        .await
        .expect("report")
        .into_inner();
    assert_eq!(report.videos.len(), 1);
    assert_eq!(report.videos[0].video_id, video);
    assert_eq!(report.paid_to_creators_cents, BUDGET - fee);
    assert_eq!(report.platform_fees_cents, fee);

    // Every step is recorded: invited, accepted, submitted, approved, paid.
    let steps: Vec<(i16, i16)> = sqlx::query_as(
        "SELECT from_state, to_state FROM collaboration_history WHERE collaboration_id = $1 ORDER BY id",
    )
    .bind(Uuid::parse_str(&id).unwrap())
    .fetch_all(&p.pool)
    .await
    .unwrap();
    assert_eq!(steps, vec![(0, 1), (1, 3), (3, 5), (5, 7), (7, 8)]);
}

#[tokio::test]
async fn past_the_deadline_the_escrow_returns_to_the_advertiser_once() {
    let p = Platform::start().await;
    let (advertiser, creator, campaign, collab) = invited(&p).await;
    let id = collab.collaboration_id.clone();
    accept(&p, &creator, &id, &key()).await.expect("accept");
    assert_eq!(p.cents(&advertiser).await, (100_000 - BUDGET, BUDGET));

    // A second, still-invited collaboration in the same campaign.
    let other = p.listed_creator().await;
    let invited_only = p
        .m()
        .invite_creator(p.req(
            &advertiser,
            Role::Advertiser,
            pb::InviteCreatorRequest {
                campaign_id: campaign.campaign_id.clone(),
                creator_id: other.clone(),
                pitch: String::new(),
            },
        ))
        .await
        .expect("invite")
        .into_inner()
        .collaboration
        .expect("collaboration");

    // The deadline passes without a submission.
    sqlx::query(
        "UPDATE collaborations SET deadline = now() - interval '1 minute' WHERE campaign_id = $1",
    )
    .bind(Uuid::parse_str(&campaign.campaign_id).unwrap())
    .execute(&p.pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE campaigns SET deadline = now() - interval '1 minute' WHERE campaign_id = $1",
    )
    .bind(Uuid::parse_str(&campaign.campaign_id).unwrap())
    .execute(&p.pool)
    .await
    .unwrap();
    let expired = pb::CollaborationState::ExpiredRefunded as i32;
    testing::wait_for("sweeper refunds", Duration::from_secs(60), || async {
        let c = p.collab(&id).await;
        (c.state == expired).then_some(())
    })
    .await;
    assert_eq!(
        p.collab(&invited_only.collaboration_id).await.state,
        expired
    );
    assert_eq!(p.cents(&advertiser).await, (100_000, 0), "refunded in full");

    // Another replica's sweep (the same step again) moves nothing more.
    let swept = p.sweep().await;
    assert_eq!(swept.expired, 0);
    assert_eq!(p.cents(&advertiser).await, (100_000, 0));
    assert!(p.reconcile().await.consistent);

    // Late submissions and messages are refused.
    let video = p.publish_video(&creator, &["glowad"]).await;
    let err = submit(&p, &creator, &id, vec![video])
        .await
        .expect_err("late");
    assert_eq!(err.code(), Code::FailedPrecondition);
    let err = p
        .m()
        .send_message(p.req(
            &creator,
            Role::Creator,
            pb::SendMessageRequest {
                collaboration_id: id.clone(),
                body: "sorry I am late".into(),
            },
        ))
        .await
        .expect_err("read-only thread");
    assert_eq!(reason(&err), "INVALID_STATE");
}
