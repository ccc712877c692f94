//! The advertiser API: fields, ownership, idempotency, controls.

use super::*;

#[tokio::test]
async fn campaigns_are_validated_and_a_retry_returns_the_first_result() {
    let h = Harness::start(|_| {}).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let field = |s: &tonic::Status| loop_platform::error::status_field(s);

    let create = |key: &str, budget: i64| pb::CreateCampaignRequest {
        idempotency_key: key.into(),
        name: "launch".into(),
        objective: pb::CampaignObjective::Reach as i32,
        total_budget_cents: budget,
    };
    let err = h
        .ads
        .clone()
        .create_campaign(h.req(&adv, create("key-0001", 4999)))
        .await
        .expect_err("too small");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(field(&err).as_deref(), Some("total_budget_cents"));
    let first = h
        .ads
        .clone()
        .create_campaign(h.req(&adv, create("key-0001", 5000)))
        .await
        .expect("create")
        .into_inner();
    let retry = h
        .ads
        .clone()
        .create_campaign(h.req(&adv, create("key-0001", 5000)))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, retry, "a retry returns the first result");
    let err = h
        .ads
        .clone()
        .create_campaign(h.req(&adv, create("key-0001", 6000)))
        .await
        .expect_err("reused");
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(
        loop_ads_auction::error::status_reason(&err).as_deref(),
        Some("IDEMPOTENCY_KEY_REUSED")
    );
    let campaign = first.campaign.expect("campaign");
    let listed = h
        .ads
        .clone()
        .list_campaigns(h.req(&adv, pb::ListCampaignsRequest::default()))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.campaigns.len(), 1, "the retry created nothing");

    let seen: HashSet<String> = listed
        .campaigns
        .iter()
        .map(|c| c.campaign_id.clone())
        .collect();
    assert!(seen.contains(&campaign.campaign_id));
}

#[tokio::test]
async fn ad_groups_name_the_field_they_refuse() {
    let h = Harness::start(|_| {}).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let field = |s: &tonic::Status| loop_platform::error::status_field(s);
    let campaign = h.campaign(&adv, 5000).await;

    let mut bad = Harness::ad_group_request(&campaign.campaign_id, 300);
    bad.daily_budget_cents = 1999;
    let err = h
        .ads
        .clone()
        .create_ad_group(h.req(&adv, bad))
        .await
        .expect_err("daily");
    assert_eq!(field(&err).as_deref(), Some("daily_budget_cents"));
    let mut bad = Harness::ad_group_request(&campaign.campaign_id, 300);
    bad.targeting = Some(pb::Targeting {
        countries: vec!["US".into(), "Mars".into()],
        ..Default::default()
    });
    let err = h
        .ads
        .clone()
        .create_ad_group(h.req(&adv, bad))
        .await
        .expect_err("country");
    assert_eq!(field(&err).as_deref(), Some("targeting.countries[1]"));
    let mut bad = Harness::ad_group_request(&campaign.campaign_id, 300);
    if let Some(s) = bad.schedule.as_mut() {
        s.time_zone = "Mars/Olympus".into();
    }
    let err = h
        .ads
        .clone()
        .create_ad_group(h.req(&adv, bad))
        .await
        .expect_err("tz");
    assert_eq!(field(&err).as_deref(), Some("schedule.time_zone"));
}

#[tokio::test]
async fn other_advertisers_viewers_and_end_users_are_refused() {
    let h = Harness::start(|_| {}).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let (rival, _) = h.user("rival", common::Role::Advertiser).await;
    let (viewer_token, viewer_id) = h.user("viewer", common::Role::Viewer).await;
    let campaign = h.campaign(&adv, 5000).await;

    // Someone else's campaign does not exist for you; viewers are not advertisers.
    let err = h
        .ads
        .clone()
        .get_campaign(h.req(
            &rival,
            pb::GetCampaignRequest {
                campaign_id: campaign.campaign_id.clone(),
            },
        ))
        .await
        .expect_err("not theirs");
    assert_eq!(err.code(), Code::NotFound);
    let err = h
        .ads
        .clone()
        .list_campaigns(h.req(&viewer_token, pb::ListCampaignsRequest::default()))
        .await
        .expect_err("viewer");
    assert_eq!(err.code(), Code::PermissionDenied);
    // FillAdSlots is internal: an end-user token is refused.
    let err = h
        .ads
        .clone()
        .fill_ad_slots(h.req(
            &viewer_token,
            pb::FillAdSlotsRequest {
                user_id: viewer_id,
                slot_positions: vec![1],
                request_id: "x".into(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("internal");
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn pause_resume_and_bid_edits_take_effect_at_once() {
    let h = Harness::start(|_| {}).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let field = |s: &tonic::Status| loop_platform::error::status_field(s);
    let campaign = h.campaign(&adv, 5000).await;

    // Pause stops delivery at once; resume brings it back; budget below spend refused.
    let video = h.video(&adv).await;
    let mut req = Harness::ad_group_request(&campaign.campaign_id, 300);
    req.targeting = country("NO");
    let g = h.ad_group(&adv, req).await;
    h.creative(&adv, &g.ad_group_id, &video).await;
    assert_eq!(h.fill(&viewer(), "NO", &[4]).await.slots.len(), 1);
    let paused = h
        .ads
        .clone()
        .pause_campaign(h.req(
            &adv,
            pb::PauseCampaignRequest {
                campaign_id: campaign.campaign_id.clone(),
            },
        ))
        .await
        .expect("pause")
        .into_inner()
        .campaign
        .expect("campaign");
    assert_eq!(paused.status, pb::CampaignStatus::Paused as i32);
    assert!(h.fill(&viewer(), "NO", &[4]).await.slots.is_empty());
    let got = h
        .ads
        .clone()
        .get_ad_group(h.req(
            &adv,
            pb::GetAdGroupRequest {
                ad_group_id: g.ad_group_id.clone(),
            },
        ))
        .await
        .expect("get")
        .into_inner()
        .ad_group
        .expect("group");
    assert_eq!(got.delivery_state, pb::DeliveryState::CampaignPaused as i32);
    h.ads
        .clone()
        .resume_campaign(h.req(
            &adv,
            pb::ResumeCampaignRequest {
                campaign_id: campaign.campaign_id.clone(),
            },
        ))
        .await
        .expect("resume");
    assert_eq!(h.fill(&viewer(), "NO", &[4]).await.slots.len(), 1);
    // Edit the bid: the next auction prices with it (alone: still the reserve).
    let updated = h
        .ads
        .clone()
        .update_ad_group(h.req(
            &adv,
            pb::UpdateAdGroupRequest {
                ad_group_id: g.ad_group_id.clone(),
                bid_cents: 40,
                update_mask: vec!["bid_cents".into()],
                ..Default::default()
            },
        ))
        .await
        .expect("update")
        .into_inner()
        .ad_group
        .expect("group");
    assert_eq!(updated.bid_cents, 40);
    assert!(
        h.fill(&viewer(), "NO", &[4]).await.slots.is_empty(),
        "$0.40 CPM is now below the reserve"
    );
    let err = h
        .ads
        .clone()
        .update_ad_group(h.req(
            &adv,
            pb::UpdateAdGroupRequest {
                ad_group_id: g.ad_group_id.clone(),
                update_mask: vec!["bid_type".into()],
                ..Default::default()
            },
        ))
        .await
        .expect_err("bid type is fixed");
    assert_eq!(field(&err).as_deref(), Some("update_mask[0]"));
    testing::clear_redis(&h.config.redis).await;
}
