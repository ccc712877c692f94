//! TopView and Spark Ads.

use super::*;

#[tokio::test]
async fn topview_serves_at_most_once_per_user_per_day_and_nowhere_else() {
    let h = Harness::start(|_| {}).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let video = h.video(&adv).await;
    let other_video = h.video(&adv).await;
    let c = h.campaign(&adv, 100_000).await;
    let mut req = Harness::ad_group_request(&c.campaign_id, 0);
    req.format = pb::AdFormat::Topview as i32;
    req.daily_budget_cents = 0;
    req.bid_type = 0;
    let tv_group = h.ad_group(&adv, req).await;
    let tv_creative = h.creative(&adv, &tv_group.ad_group_id, &video).await;
    // The same video as an In-Feed creative (must not run today), and another In-Feed ad.
    let (same_video_group, _) = h.cpm_ad(&adv, &video, 900, None).await;
    let (infeed, _) = h.cpm_ad(&adv, &other_video, 300, None).await;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let quote = h
        .ads
        .clone()
        .get_top_view_quote(h.req(
            &adv,
            pb::GetTopViewQuoteRequest {
                date: today.clone(),
            },
        ))
        .await
        .expect("quote")
        .into_inner();
    let reservation = h
        .ads
        .clone()
        .reserve_top_view(h.req(
            &adv,
            pb::ReserveTopViewRequest {
                idempotency_key: Uuid::new_v4().to_string(),
                creative_id: tv_creative.creative_id.clone(),
                date: today.clone(),
                impressions: 2000,
                expected_cpm_cents: quote.cpm_cents,
            },
        ))
        .await
        .expect("reserve")
        .into_inner()
        .reservation
        .expect("reservation");
    // ceil(2000 x 1000 / 1000) = 2000 cents committed.
    assert_eq!(reservation.total_price_cents, 2000);
    let campaign = h.get_campaign(&adv, &c.campaign_id).await;
    assert_eq!(campaign.committed_cents, 2000);

    let user = viewer();
    let open = |user: &str| pb::FillAdSlotsRequest {
        user_id: user.into(),
        app_open: true,
        slot_positions: vec![0, 4],
        request_id: "open".into(),
        ..Default::default()
    };
    let first = h.fill_with(open(&user)).await;
    let w = winners(&first);
    assert_eq!(w[0].0, 0);
    assert_eq!(w[0].1, tv_group.ad_group_id, "TopView is the first item");
    assert_eq!(
        w[0].2, 1000,
        "the rate card's CPM: 1000 millicents per impression"
    );
    assert_eq!(
        first.slots[0].placement.as_ref().map(|p| p.format),
        Some(pb::AdFormat::Topview as i32)
    );
    // Position 4 goes to the In-Feed auction, never to the TopView video's other creative.
    assert_eq!(w[1], (4, infeed.ad_group_id.clone(), 51));
    // Second app open the same day: no TopView; position 0 goes to In-Feed.
    let second = h.fill_with(open(&user)).await;
    assert!(
        winners(&second)
            .iter()
            .all(|w| w.1 != tv_group.ad_group_id && w.1 != same_video_group.ad_group_id),
        "{second:?}"
    );
    assert_eq!(winners(&second)[0].0, 0);
    // Another user still gets it; a feed page that is not an app open does not.
    let other = viewer();
    let mut not_open = open(&other);
    not_open.app_open = false;
    assert!(
        winners(&h.fill_with(not_open).await)
            .iter()
            .all(|w| w.1 != tv_group.ad_group_id)
    );
    assert_eq!(
        winners(&h.fill_with(open(&other)).await)[0].1,
        tv_group.ad_group_id
    );
    // Cancelling is refused once the day started.
    let err = h
        .ads
        .clone()
        .cancel_top_view_reservation(h.req(
            &adv,
            pb::CancelTopViewReservationRequest {
                reservation_id: reservation.reservation_id.clone(),
            },
        ))
        .await
        .expect_err("started");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(
        loop_ads_auction::error::status_reason(&err).as_deref(),
        Some("ALREADY_STARTED")
    );
    testing::clear_redis(&h.config.redis).await;
}

#[tokio::test]
async fn spark_ads_stop_serving_as_soon_as_the_code_is_revoked() {
    let h = Harness::start(|_| {}).await;
    let (creator, _) = h.user("dancer", common::Role::Creator).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let organic = h.video(&creator).await;
    let code = h
        .ads
        .clone()
        .issue_spark_code(h.req(
            &creator,
            pb::IssueSparkCodeRequest {
                video_id: organic.clone(),
                validity_days: 0,
            },
        ))
        .await
        .expect("issue")
        .into_inner()
        .spark_code
        .expect("code");
    assert_eq!(code.code.len(), 24);
    let days =
        (code.expires_at.expect("exp").seconds - code.created_at.expect("at").seconds) / 86_400;
    assert_eq!(days, 30, "default validity");
    // Validity outside 7..365 and someone else's video are refused.
    let err = h
        .ads
        .clone()
        .issue_spark_code(h.req(
            &creator,
            pb::IssueSparkCodeRequest {
                video_id: organic.clone(),
                validity_days: 6,
            },
        ))
        .await
        .expect_err("too short");
    assert_eq!(err.code(), Code::InvalidArgument);
    let (other_creator, _) = h.user("other", common::Role::Creator).await;
    let err = h
        .ads
        .clone()
        .issue_spark_code(h.req(
            &other_creator,
            pb::IssueSparkCodeRequest {
                video_id: organic.clone(),
                validity_days: 10,
            },
        ))
        .await
        .expect_err("not theirs");
    assert_eq!(err.code(), Code::PermissionDenied);

    let c = h.campaign(&adv, 5000).await;
    let mut req = Harness::ad_group_request(&c.campaign_id, 300);
    req.format = pb::AdFormat::Spark as i32;
    let g = h.ad_group(&adv, req).await;
    let spark = h
        .ads
        .clone()
        .create_spark_ad(h.req(
            &adv,
            pb::CreateSparkAdRequest {
                ad_group_id: g.ad_group_id.clone(),
                code: code.code.to_lowercase(),
                call_to_action: pb::CallToAction::LearnMore as i32,
                landing_url: "https://acme.test".into(),
            },
        ))
        .await
        .expect("spark ad")
        .into_inner()
        .creative
        .expect("creative");
    assert_eq!(spark.video_id, organic);
    assert_eq!(
        spark.display_name, "dancer",
        "sponsored by the creator's handle"
    );
    let r = h.fill(&viewer(), "US", &[4]).await;
    assert_eq!(winners(&r)[0].1, g.ad_group_id);
    assert_eq!(
        r.slots[0].placement.as_ref().map(|p| p.video_id.clone()),
        Some(organic.clone())
    );

    let revoked = h
        .ads
        .clone()
        .revoke_spark_code(h.req(
            &creator,
            pb::RevokeSparkCodeRequest {
                code: code.code.clone(),
            },
        ))
        .await
        .expect("revoke")
        .into_inner()
        .spark_code
        .expect("code");
    assert_eq!(revoked.status, pb::SparkCodeStatus::Revoked as i32);
    // At once: the very next auction no longer serves it.
    for _ in 0..3 {
        assert!(h.fill(&viewer(), "US", &[4]).await.slots.is_empty());
    }
    let creatives = h
        .ads
        .clone()
        .list_creatives(h.req(
            &adv,
            pb::ListCreativesRequest {
                ad_group_id: g.ad_group_id.clone(),
                page: None,
            },
        ))
        .await
        .expect("list")
        .into_inner()
        .creatives;
    assert_eq!(creatives[0].status, pb::CreativeStatus::Revoked as i32);
    // A revoked code cannot make new ads; revoking again is harmless.
    let err = h
        .ads
        .clone()
        .create_spark_ad(h.req(
            &adv,
            pb::CreateSparkAdRequest {
                ad_group_id: g.ad_group_id.clone(),
                code: code.code.clone(),
                call_to_action: pb::CallToAction::LearnMore as i32,
                landing_url: "https://acme.test".into(),
            },
        ))
        .await
        .expect_err("revoked");
    assert_eq!(
        loop_ads_auction::error::status_reason(&err).as_deref(),
        Some("SPARK_CODE_REVOKED")
    );
    h.ads
        .clone()
        .revoke_spark_code(h.req(
            &creator,
            pb::RevokeSparkCodeRequest {
                code: code.code.clone(),
            },
        ))
        .await
        .expect("idempotent");
    testing::clear_redis(&h.config.redis).await;
}
