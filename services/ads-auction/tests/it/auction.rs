//! The auction: second price with a reserve, budgets and frequency caps, targeting.

use super::*;

#[tokio::test]
async fn second_price_gsp_and_reserve_with_hand_computed_prices() {
    let h = Harness::start(|_| {}).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let video = h.video(&adv).await;
    // Three campaigns targeting DE: $3, $2 and $1 CPM (eCPM 300_000, 200_000, 100_000).
    let (a, _) = h.cpm_ad(&adv, &video, 300, country("DE")).await;
    let (b, _) = h.cpm_ad(&adv, &video, 200, country("DE")).await;
    let (c, _) = h.cpm_ad(&adv, &video, 100, country("DE")).await;

    // One slot: second price. a pays floor(200_000 / 1000) + 1 = 201 millicents.
    let r = h.fill(&viewer(), "DE", &[4]).await;
    assert_eq!(winners(&r), vec![(4, a.ad_group_id.clone(), 201)]);
    let slot = &r.slots[0];
    assert_eq!(slot.bid_type, pb::BidType::Cpm as i32);
    assert_eq!(slot.clearing_ecpm_millicents, 201_000);
    let placement = slot.placement.as_ref().expect("placement");
    assert_eq!(placement.display_name, "Acme");
    assert_eq!(placement.format, pb::AdFormat::InFeed as i32);

    // Two slots: a pays b's 200 + 1, b pays c's 100 + 1.
    let r = h.fill(&viewer(), "DE", &[11, 4]).await;
    assert_eq!(
        winners(&r),
        vec![
            (4, a.ad_group_id.clone(), 201),
            (11, b.ad_group_id.clone(), 101)
        ]
    );
    // Three slots: the last winner, with nobody below, pays the reserve: 50_000 / 1000 + 1.
    let r = h.fill(&viewer(), "DE", &[2, 5, 9]).await;
    assert_eq!(
        winners(&r),
        vec![
            (2, a.ad_group_id.clone(), 201),
            (5, b.ad_group_id.clone(), 101),
            (9, c.ad_group_id.clone(), 51)
        ]
    );
    // Never two ads in a row: of positions 4 and 5 only 4 is filled.
    let r = h.fill(&viewer(), "DE", &[4, 5]).await;
    assert_eq!(winners(&r).iter().map(|w| w.0).collect::<Vec<_>>(), vec![4]);

    // Reserve not met: a $0.40 CPM (eCPM 40_000 < reserve 50_000) alone in NZ.
    let (_low, _) = h.cpm_ad(&adv, &video, 40, country("NZ")).await;
    let r = h.fill(&viewer(), "NZ", &[4]).await;
    assert!(r.slots.is_empty(), "{r:?}");
    assert!(
        r.debug[0]
            .candidates
            .iter()
            .any(|c| c.filtered_reason == "below_reserve"),
        "{:?}",
        r.debug
    );
    // Nobody targets JP: nothing, and no Redis round trip needed.
    assert!(h.fill(&viewer(), "JP", &[4]).await.slots.is_empty());

    // Equal eCPMs: the lower ad group id wins, deterministically, and pays its bid.
    let (x, _) = h.cpm_ad(&adv, &video, 500, country("IT")).await;
    let (y, _) = h.cpm_ad(&adv, &video, 500, country("IT")).await;
    let first = std::cmp::min(x.ad_group_id.clone(), y.ad_group_id.clone());
    for _ in 0..3 {
        let r = h.fill(&viewer(), "IT", &[4]).await;
        assert_eq!(winners(&r), vec![(4, first.clone(), 500)]);
    }
    testing::clear_redis(&h.config.redis).await;
}

#[tokio::test]
async fn budget_exhaustion_and_frequency_caps_hand_computed() {
    let h = Harness::start(|_| {}).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let video = h.video(&adv).await;
    // a: $1000 CPM, daily $20 = 2_000_000 millicents; b: $400 CPM runner-up.
    // a pays 40_001 per impression and is admitted while
    // 40_001 k + bid 100_000 <= 2_000_000, i.e. for k = 0..=47: 48 impressions.
    let (a, _) = h.cpm_ad(&adv, &video, 100_000, country("BE")).await;
    let (b, _) = h.cpm_ad(&adv, &video, 40_000, country("BE")).await;
    let mut served_a = 0;
    for _ in 0..60 {
        let r = h.fill(&viewer(), "BE", &[4]).await;
        let w = winners(&r);
        assert_eq!(w.len(), 1, "{r:?}");
        if w[0].1 == a.ad_group_id {
            assert_eq!(w[0].2, 40_001);
            served_a += 1;
        } else {
            assert_eq!(w[0].1, b.ad_group_id, "the runner-up takes over");
            // b alone: pays the reserve, 51.
            assert_eq!(w[0].2, 51);
        }
    }
    assert_eq!(served_a, 48);

    // Frequency cap 2 per user per campaign per day.
    let c = h.campaign(&adv, 5000).await;
    let mut req = Harness::ad_group_request(&c.campaign_id, 300);
    req.targeting = country("AT");
    req.frequency_cap_per_day = 2;
    let capped = h.ad_group(&adv, req).await;
    h.creative(&adv, &capped.ad_group_id, &video).await;
    let user = viewer();
    for _ in 0..2 {
        let r = h.fill(&user, "AT", &[4]).await;
        assert_eq!(winners(&r), vec![(4, capped.ad_group_id.clone(), 51)]);
    }
    let r = h.fill(&user, "AT", &[4]).await;
    assert!(r.slots.is_empty(), "cap reached: {r:?}");
    assert!(
        r.debug[0]
            .candidates
            .iter()
            .any(|c| c.filtered_reason == "frequency_cap")
    );
    // Another user is not capped.
    assert_eq!(h.fill(&viewer(), "AT", &[4]).await.slots.len(), 1);

    // Campaign budget: $50 = 5_000_000 millicents. A $10 000 CPM with a $1000
    // daily budget, against a $4000 CPM runner-up, pays 400_001 and is
    // admitted while 400_001 k + 1_000_000 <= 5_000_000: k = 0..=9, 10 times.
    let big = h.campaign(&adv, 5000).await;
    let mut req = Harness::ad_group_request(&big.campaign_id, 1_000_000);
    req.daily_budget_cents = 100_000;
    req.targeting = country("FI");
    let big_group = h.ad_group(&adv, req).await;
    h.creative(&adv, &big_group.ad_group_id, &video).await;
    let (runner, _) = h.cpm_ad(&adv, &video, 400_000, country("FI")).await;
    let mut served_big = 0;
    let mut refused = false;
    for _ in 0..15 {
        let r = h.fill(&viewer(), "FI", &[4]).await;
        let w = winners(&r);
        if w[0].1 == big_group.ad_group_id {
            assert_eq!(w[0].2, 400_001);
            served_big += 1;
        } else {
            assert_eq!(w[0].1, runner.ad_group_id);
            refused |= r.debug[0]
                .candidates
                .iter()
                .any(|c| c.filtered_reason == "campaign_budget" || c.filtered_reason == "budget");
        }
    }
    assert_eq!(served_big, 10);
    assert!(refused, "the campaign budget refused it");
    testing::clear_redis(&h.config.redis).await;
}

#[tokio::test]
async fn targeting_excludes_and_minors_never_see_adult_only_ads() {
    let h = Harness::start(|_| {}).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let video = h.video(&adv).await;
    // Adults 18-24 in the US on Android, interested in cooking.
    let (g, _) = h
        .cpm_ad(
            &adv,
            &video,
            300,
            Some(pb::Targeting {
                age_bands: vec![common::AgeBand::AgeBand1824 as i32],
                countries: vec!["US".into()],
                device_os: vec![common::DeviceOs::Android as i32],
                interest_categories: vec!["cooking".into()],
                ..Default::default()
            }),
        )
        .await;
    // Engaged with #dance in the last 3 days.
    let (dance, _) = h
        .cpm_ad(
            &adv,
            &video,
            250,
            Some(pb::Targeting {
                countries: vec!["CA".into()],
                behaviors: vec![pb::Behavior {
                    kind: pb::BehaviorKind::EngagedWithHashtag as i32,
                    value: "Dance".into(),
                    lookback_days: 3,
                }],
                ..Default::default()
            }),
        )
        .await;
    let request = |age: common::AgeBand, c: &str, os: common::DeviceOs, interests: &[&str]| {
        pb::FillAdSlotsRequest {
            user_id: viewer(),
            context: Some(common::ClientContext {
                country: c.into(),
                language: "en-US".into(),
                device_os: os as i32,
                app_version: String::new(),
            }),
            profile: Some(pb::UserAdProfile {
                age_band: age as i32,
                interests: interests
                    .iter()
                    .map(|i| pb::InterestWeight {
                        category: (*i).into(),
                        weight: 0.5,
                    })
                    .collect(),
                ..Default::default()
            }),
            slot_positions: vec![3],
            request_id: "r1".into(),
            ..Default::default()
        }
    };
    use common::AgeBand as A;
    use common::DeviceOs as O;
    let hit = h
        .fill_with(request(
            A::AgeBand1824,
            "US",
            O::Android,
            &["cooking", "cars"],
        ))
        .await;
    assert_eq!(winners(&hit)[0].1, g.ad_group_id);
    for (why, req) in [
        (
            "a minor",
            request(A::AgeBand1317, "US", O::Android, &["cooking"]),
        ),
        (
            "unknown age",
            request(A::Unspecified, "US", O::Android, &["cooking"]),
        ),
        (
            "wrong country",
            request(A::AgeBand1824, "FR", O::Android, &["cooking"]),
        ),
        (
            "wrong OS",
            request(A::AgeBand1824, "US", O::Ios, &["cooking"]),
        ),
        (
            "no interest",
            request(A::AgeBand1824, "US", O::Android, &["cars"]),
        ),
    ] {
        let r = h.fill_with(req).await;
        assert!(r.slots.is_empty(), "{why}: {r:?}");
    }
    // Behaviours: #dance 2 days ago matches a 3-day lookback, 5 days ago does not.
    let behaviour = |days: i64| {
        let mut r = request(A::AgeBand3544, "CA", O::Ios, &[]);
        if let Some(p) = r.profile.as_mut() {
            p.recent_behaviors = vec![pb::RecentBehavior {
                kind: pb::BehaviorKind::EngagedWithHashtag as i32,
                value: "dance".into(),
                last_engaged_at: ts(chrono::Utc::now() - chrono::Duration::days(days)),
            }];
        }
        r
    };
    assert_eq!(
        winners(&h.fill_with(behaviour(2)).await)[0].1,
        dance.ad_group_id
    );
    assert!(h.fill_with(behaviour(5)).await.slots.is_empty());
    testing::clear_redis(&h.config.redis).await;
}
