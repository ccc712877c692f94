//! Bad input fails clearly and changes nothing.

use super::*;

#[tokio::test]
async fn an_absurd_budget_is_refused_by_name() {
    let p = Platform::start().await;
    let advertiser = p
        .seed_users(1, "1980-01-01", Role::Advertiser)
        .await
        .remove(0);
    // An absurd budget is refused by name before anything is stored.
    for budget in [i64::MAX, loop_platform::money::MAX_CENTS + 1] {
        let err = p
            .m()
            .create_campaign(p.req(
                &advertiser,
                Role::Advertiser,
                pb::CreateCampaignRequest {
                    title: "Too rich".into(),
                    brief: "b".into(),
                    deliverables: Some(pb::Deliverables {
                        video_count: 1,
                        required_hashtag: "#x".into(),
                    }),
                    budget_per_creator_cents: budget,
                    max_creators: 1,
                    deadline: Some(loop_platform::time::to_timestamp(
                        chrono::Utc::now() + chrono::Duration::days(3),
                    )),
                    visibility: pb::CampaignVisibility::Public as i32,
                },
            ))
            .await
            .expect_err("absurd budget");
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert_eq!(field(&err), "budget_per_creator_cents");
    }
}

#[tokio::test]
async fn strangers_cannot_message_a_thread_or_accept_an_invitation() {
    let p = Platform::start().await;
    let (_advertiser, _creator, _campaign, collab) = invited(&p).await;
    let id = collab.collaboration_id.clone();
    let stranger = p.listed_creator().await;
    let before = history_len(&p, &id).await;
    // Messaging a thread you are not part of.
    let err = p
        .m()
        .send_message(p.req(
            &stranger,
            Role::Creator,
            pb::SendMessageRequest {
                collaboration_id: id.clone(),
                body: "let me in".into(),
            },
        ))
        .await
        .expect_err("stranger");
    assert_eq!(err.code(), Code::NotFound);
    // A stranger cannot accept someone else's invitation either.
    let err = accept(&p, &stranger, &id, &key())
        .await
        .expect_err("not theirs");
    assert_eq!(err.code(), Code::NotFound);
    let msgs: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
        .fetch_one(&p.pool)
        .await
        .unwrap();
    assert_eq!(msgs, 0);

    assert_eq!(history_len(&p, &id).await, before, "nothing was recorded");
}

#[tokio::test]
async fn a_collaboration_refuses_steps_out_of_turn_and_deliverables_that_break_the_brief() {
    let p = Platform::start().await;
    let (advertiser, creator, _campaign, collab) = invited(&p).await;
    let id = collab.collaboration_id.clone();
    let stranger = p.listed_creator().await;
    let before = history_len(&p, &id).await;

    // Accepting twice (a new key): INVALID_STATE, no second hold.
    let first_key = key();
    accept(&p, &creator, &id, &first_key).await.expect("accept");
    let err = accept(&p, &creator, &id, &key()).await.expect_err("twice");
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::FailedPrecondition, "INVALID_STATE")
    );
    assert_eq!(p.cents(&advertiser).await, (100_000 - BUDGET, BUDGET));
    // The same key on another call is a conflict.
    let err = approve(&p, &advertiser, &id, &first_key).await;
    assert!(err.is_err());
    let before_submit = history_len(&p, &id).await;
    assert_eq!(
        before_submit,
        before + 1,
        "only the acceptance was recorded"
    );

    // A video that is not the creator's.
    let foreign = p.publish_video(&stranger, &["glowad"]).await;
    let err = submit(&p, &creator, &id, vec![foreign])
        .await
        .expect_err("foreign video");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("video_ids[0]"), "{}", err.message());
    // A video without the required hashtag.
    let untagged = p.publish_video(&creator, &["morning"]).await;
    let err = submit(&p, &creator, &id, vec![untagged.clone()])
        .await
        .expect_err("no hashtag");
    assert_eq!(reason(&err), "MISSING_REQUIRED_HASHTAG");
    // Wrong count.
    let err = submit(&p, &creator, &id, vec![])
        .await
        .expect_err("no videos");
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "video_ids")
    );
    assert_eq!(
        p.collab(&id).await.state,
        pb::CollaborationState::Accepted as i32
    );
    assert_eq!(history_len(&p, &id).await, before_submit, "nothing changed");

    // Approving before a submission.
    let err = approve(&p, &advertiser, &id, &key())
        .await
        .expect_err("nothing submitted");
    assert_eq!(reason(&err), "INVALID_STATE");

    // Approving a submission whose video lost the hashtag since (caption
    // edits change hashtags): refused, nothing released.
    let tagged = p.publish_video(&creator, &["glowad"]).await;
    submit(&p, &creator, &id, vec![tagged.clone()])
        .await
        .expect("submit");
    sqlx::query(
        "UPDATE collaborations SET video_ids = ARRAY[$2::uuid] WHERE collaboration_id = $1",
    )
    .bind(Uuid::parse_str(&id).unwrap())
    .bind(Uuid::parse_str(&untagged).unwrap())
    .execute(&p.pool)
    .await
    .unwrap();
    let err = approve(&p, &advertiser, &id, &key())
        .await
        .expect_err("untagged");
    assert_eq!(reason(&err), "MISSING_REQUIRED_HASHTAG");
    assert_eq!(
        p.collab(&id).await.state,
        pb::CollaborationState::Submitted as i32
    );
    assert_eq!(p.cents(&creator).await, (0, 0));
    assert_eq!(p.cents(&advertiser).await, (100_000 - BUDGET, BUDGET));
}

#[tokio::test]
async fn search_is_for_advertisers_with_a_valid_follower_range() {
    let p = Platform::start().await;
    let (advertiser, creator, _campaign, _collab) = invited(&p).await;
    // Creators cannot use advertiser calls and vice versa.
    let err = p
        .m()
        .search_creators(p.req(
            &creator,
            Role::Creator,
            pb::SearchCreatorsRequest::default(),
        ))
        .await
        .expect_err("creator searching");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = p
        .m()
        .search_creators(p.req(
            &advertiser,
            Role::Advertiser,
            pb::SearchCreatorsRequest {
                follower_min: 10,
                follower_max: 5,
                ..Default::default()
            },
        ))
        .await
        .expect_err("bad range");
    assert_eq!(field(&err), "follower_min");
}
