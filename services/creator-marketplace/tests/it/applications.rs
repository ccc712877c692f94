//! Creator eligibility and reapplication.

use super::*;

#[tokio::test]
async fn eligibility_and_reapplication() {
    let p = Platform::start().await;
    let apply = |who: String| {
        let m = p.m();
        let req = p.req(
            &who,
            Role::Creator,
            pb::ApplyAsCreatorRequest {
                categories: vec!["comedy".into()],
                rate_cents: 10_000,
                pitch: String::new(),
            },
        );
        async move { m.clone().apply_as_creator(req).await }
    };
    // Under 18.
    let minor = p.seed_users(1, "2012-01-01", Role::Creator).await.remove(0);
    for f in p.seed_users(2, "2000-01-01", Role::Viewer).await {
        p.content.follow(&f, &minor).await;
    }
    let err = apply(minor.clone()).await.expect_err("minor");
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::FailedPrecondition, "NOT_ELIGIBLE_AGE")
    );
    // Too few followers.
    let small = p.creator_with_followers(1).await;
    let err = apply(small.clone()).await.expect_err("few followers");
    assert_eq!(reason(&err), "NOT_ELIGIBLE_FOLLOWERS");
    // Bad fields name themselves.
    let err = p
        .m()
        .apply_as_creator(p.req(
            &small,
            Role::Creator,
            pb::ApplyAsCreatorRequest {
                categories: vec![],
                rate_cents: 10_000,
                pitch: String::new(),
            },
        ))
        .await
        .expect_err("no categories");
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "categories")
    );
    // Nothing was recorded for any of them.
    let apps: i64 = sqlx::query_scalar("SELECT count(*) FROM creator_applications")
        .fetch_one(&p.pool)
        .await
        .unwrap();
    assert_eq!(apps, 0);

    // Eligible: apply, twice is a conflict, rejected, reapply too soon.
    let ok = p.creator_with_followers(2).await;
    let app = apply(ok.clone())
        .await
        .expect("apply")
        .into_inner()
        .application
        .unwrap();
    let err = apply(ok.clone()).await.expect_err("pending");
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::AlreadyExists, "APPLICATION_PENDING")
    );
    let rejected = p
        .m()
        .review_application(p.admin(pb::ReviewApplicationRequest {
            application_id: app.application_id.clone(),
            decision: pb::ReviewDecision::Reject as i32,
            rejection_reason: "not a fit yet".into(),
        }))
        .await
        .expect("reject")
        .into_inner()
        .application
        .unwrap();
    let after = rejected.reapply_after.unwrap().seconds - rejected.reviewed_at.unwrap().seconds;
    assert_eq!(after, 30 * 24 * 3600);
    let err = apply(ok.clone()).await.expect_err("too soon");
    assert_eq!(reason(&err), "REAPPLY_TOO_SOON");
    // Reviewing twice is a state error.
    let err = p
        .m()
        .review_application(p.admin(pb::ReviewApplicationRequest {
            application_id: app.application_id.clone(),
            decision: pb::ReviewDecision::Approve as i32,
            rejection_reason: String::new(),
        }))
        .await
        .expect_err("reviewed");
    assert_eq!(reason(&err), "INVALID_STATE");
    // 30 days later they may apply again.
    sqlx::query("UPDATE creator_applications SET reapply_after = now() - interval '1 second'")
        .execute(&p.pool)
        .await
        .unwrap();
    apply(ok.clone()).await.expect("reapply after 30 days");
    // A rejected creator is not listed: advertisers cannot invite them.
    let advertiser = p
        .seed_users(1, "1980-01-01", Role::Advertiser)
        .await
        .remove(0);
    let campaign = p
        .campaign(&advertiser, BUDGET, pb::CampaignVisibility::Public)
        .await;
    let err = p
        .m()
        .invite_creator(p.req(
            &advertiser,
            Role::Advertiser,
            pb::InviteCreatorRequest {
                campaign_id: campaign.campaign_id.clone(),
                creator_id: ok.clone(),
                pitch: String::new(),
            },
        ))
        .await
        .expect_err("ineligible creator");
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("listed"), "{}", err.message());
    let collabs: i64 = sqlx::query_scalar("SELECT count(*) FROM collaborations")
        .fetch_one(&p.pool)
        .await
        .unwrap();
    assert_eq!(collabs, 0, "nothing changed");
}
