//! Billing: exactly once, never overspent, invalid traffic never billed.

use super::*;

#[tokio::test]
async fn each_action_is_billed_exactly_once_whatever_the_redelivery() {
    let h = Harness::start(|_| {}).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let video = h.video(&adv).await;
    let (g, _) = h.cpm_ad(&adv, &video, 300, country("PT")).await;
    let user = viewer();
    let r = h.fill(&user, "PT", &[4]).await;
    let slot = r.slots[0].clone();
    assert_eq!(slot.price_millicents, 51);
    // The impression, the same event again (redelivery), the same token
    // reported again with a new event id, and a click (not billable for CPM).
    let event = Uuid::now_v7();
    h.report(event, &user, &slot, "impression").await;
    h.report(event, &user, &slot, "impression").await;
    h.report(Uuid::now_v7(), &user, &slot, "impression").await;
    h.report(Uuid::now_v7(), &user, &slot, "click").await;
    h.report(Uuid::now_v7(), &user, &slot, "view").await;
    // A token reported by another user is never billed.
    h.report(Uuid::now_v7(), &viewer(), &slot, "click").await;
    testing::wait_for(
        "impression, click and view recorded",
        Duration::from_secs(30),
        || async { (h.actions(&g.ad_group_id).await.0 == 3).then_some(()) },
    )
    .await;
    let billable: (i64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE(sum(charge_millicents), 0)::bigint FROM ad_actions \
         WHERE ad_group_id = $1::uuid AND billable",
    )
    .bind(&g.ad_group_id)
    .fetch_one(&h.pool)
    .await
    .expect("billable");
    assert_eq!(
        billable,
        (1, 51),
        "one impression billed at the token's price"
    );

    // The report counts it once; 51 millicents round down to 0 cents.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let report = h
        .ads
        .clone()
        .get_report(h.req(
            &adv,
            pb::GetReportRequest {
                scope: Some(pb::get_report_request::Scope::AdGroupId(
                    g.ad_group_id.clone(),
                )),
                start_date: today.clone(),
                end_date: today.clone(),
            },
        ))
        .await
        .expect("report")
        .into_inner();
    let totals = report.totals.expect("totals");
    assert_eq!(
        (totals.impressions, totals.clicks, totals.views_6s),
        (1, 1, 1)
    );
    assert!((totals.ctr - 1.0).abs() < 1e-9);
    assert_eq!(report.rows.len(), 1);

    // Exactly one AdBilled reached ads.v1 (through the outbox).
    let topic = h.config.kafka.topic(topics::ADS);
    testing::wait_for("AdBilled published", Duration::from_secs(30), || async {
        let all = testing::read_all(&h.config.kafka, &topic).await;
        let billed: Vec<ev::AdBilled> = all
            .iter()
            .filter_map(|d| d.decode::<ev::AdEvent>().ok())
            .filter_map(|e| match e.payload {
                Some(ev::ad_event::Payload::Billed(b)) => Some(b),
                _ => None,
            })
            .collect();
        (!billed.is_empty()).then_some(billed)
    })
    .await;
    let all = testing::read_all(&h.config.kafka, &topic).await;
    let billed: Vec<ev::AdBilled> = all
        .iter()
        .filter_map(|d| d.decode::<ev::AdEvent>().ok())
        .filter_map(|e| match e.payload {
            Some(ev::ad_event::Payload::Billed(b)) => Some(b),
            _ => None,
        })
        .collect();
    assert_eq!(billed.len(), 1);
    assert_eq!(billed[0].charge_millicents, 51);
    assert_eq!(billed[0].source_event_id, event.to_string());

    // Learned rates: the click moved the creative's CTR above the prior.
    let admin = h.keys.issue(
        &Uuid::now_v7().to_string(),
        Role::Admin,
        Duration::from_secs(60),
    );
    testing::wait_for("pCTR learned", Duration::from_secs(30), || async {
        let d = h
            .ads
            .clone()
            .get_ad_group_delivery(h.req(
                &admin,
                pb::GetAdGroupDeliveryRequest {
                    ad_group_id: g.ad_group_id.clone(),
                },
            ))
            .await
            .ok()?
            .into_inner();
        (d.predicted_ctr > h.config.prediction.prior_ctr && d.impressions_today == 1).then_some(())
    })
    .await;
    testing::clear_redis(&h.config.redis).await;
}

#[tokio::test]
async fn twenty_tasks_serving_and_billing_never_overspend_a_small_budget() {
    // Reserve $400 CPM: a lone $1000 CPM ad group pays 40_001 per impression
    // and is admitted while 40_001 k + 100_000 <= 2_000_000: 48 impressions,
    // 1_920_048 millicents, whatever the interleaving of 20 tasks.
    let h = Harness::start(|c| c.auction.reserve_ecpm_millicents = 40_000_000).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let video = h.video(&adv).await;
    let (g, _) = h.cpm_ad(&adv, &video, 100_000, country("SE")).await;
    let h = std::sync::Arc::new(h);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let mut delivered = 0u32;
            let mut misses = 0;
            while misses < 3 {
                let user = viewer();
                let r = h.fill(&user, "SE", &[4]).await;
                match r.slots.first() {
                    Some(slot) => {
                        misses = 0;
                        h.report(Uuid::now_v7(), &user, slot, "impression").await;
                        delivered += 1;
                    }
                    None => misses += 1,
                }
            }
            delivered
        }));
    }
    let mut delivered = 0;
    for t in tasks {
        delivered += t.await.expect("task");
    }
    assert_eq!(delivered, 48);
    testing::wait_for(
        "every delivered impression billed",
        Duration::from_secs(60),
        || async { (h.actions(&g.ad_group_id).await.0 == i64::from(delivered)).then_some(()) },
    )
    .await;
    let (count, charged, written_off) = h.actions(&g.ad_group_id).await;
    assert_eq!(count, 48, "billed count equals delivered impressions");
    assert_eq!(charged, 48 * 40_001);
    assert!(charged <= 2_000_000, "never above the daily budget");
    assert_eq!(written_off, 0, "serving alone kept within the budget");
    let spent: i64 = sqlx::query_scalar(
        "SELECT spent_millicents FROM ad_group_spend WHERE ad_group_id = $1::uuid",
    )
    .bind(&g.ad_group_id)
    .fetch_one(&h.pool)
    .await
    .expect("spend");
    assert_eq!(spent, 48 * 40_001);
    testing::clear_redis(&h.config.redis).await;
}

#[tokio::test]
async fn clicks_without_a_delivered_impression_are_invalid_and_never_billed() {
    let h = Harness::start(|c| c.auction.default_frequency_cap = 100).await;
    let (adv, _) = h.user("clickbait", common::Role::Advertiser).await;
    let video = h.video(&adv).await;
    let c = h.campaign(&adv, 5000).await;
    let mut req = Harness::ad_group_request(&c.campaign_id, 200);
    req.bid_type = pb::BidType::Cpc as i32;
    req.targeting = country("NO");
    let g = h.ad_group(&adv, req).await;
    h.creative(&adv, &g.ad_group_id, &video).await;
    let slot = |user: String| {
        let h = &h;
        async move {
            let r = h.fill(&user, "NO", &[4]).await;
            assert_eq!(r.slots.len(), 1, "{r:?}");
            (user, r.slots[0].clone())
        }
    };
    let now = chrono::Utc::now();
    // 1. A click on a token whose impression was never reported.
    let (u1, s1) = slot(viewer()).await;
    h.report_at(Uuid::now_v7(), &u1, &s1, "click", now).await;
    // 2. A click 100 ms after its impression: no person is that fast.
    let (u2, s2) = slot(viewer()).await;
    h.report_at(Uuid::now_v7(), &u2, &s2, "impression", now)
        .await;
    h.report_at(
        Uuid::now_v7(),
        &u2,
        &s2,
        "click",
        now + chrono::Duration::milliseconds(100),
    )
    .await;
    // 3. A real click, billed once; the same token clicked again is a repeat.
    let (u3, s3) = slot(viewer()).await;
    h.report(Uuid::now_v7(), &u3, &s3, "impression").await;
    h.report(Uuid::now_v7(), &u3, &s3, "click").await;
    h.report(Uuid::now_v7(), &u3, &s3, "click").await;
    // 4. A viewer clicking every ad of the campaign: past 3 a day, invalid.
    let u4 = viewer();
    let mut billed = vec![s3.price_millicents];
    for n in 0..4 {
        let (_, s) = slot(u4.clone()).await;
        h.report(Uuid::now_v7(), &u4, &s, "impression").await;
        h.report(Uuid::now_v7(), &u4, &s, "click").await;
        if n < 3 {
            billed.push(s.price_millicents);
        }
    }

    let invalid = || async {
        sqlx::query_as::<_, (String, i64)>(
            "SELECT reason, count(*) FROM ad_invalid_traffic WHERE ad_group_id = $1::uuid GROUP BY 1 ORDER BY 1",
        )
        .bind(&g.ad_group_id)
        .fetch_all(&h.pool)
        .await
        .expect("invalid")
    };
    let expected = vec![
        ("click_flood".to_owned(), 1),
        ("no_impression".to_owned(), 1),
        ("repeat".to_owned(), 1),
        ("too_fast".to_owned(), 1),
    ];
    testing::wait_for(
        "invalid traffic recorded",
        Duration::from_secs(30),
        || async { (invalid().await == expected).then_some(()) },
    )
    .await;
    // Billed: the impressions (not billable for CPC) and 1 + 3 real clicks.
    let clicks: (i64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE(sum(charge_millicents), 0)::bigint FROM ad_actions \
         WHERE ad_group_id = $1::uuid AND action = 2",
    )
    .bind(&g.ad_group_id)
    .fetch_one(&h.pool)
    .await
    .expect("clicks");
    assert_eq!(
        clicks,
        (4, billed.iter().sum::<i64>()),
        "only clicks a delivered impression backs are recorded and charged"
    );
    let report = h
        .ads
        .clone()
        .get_report(h.req(
            &adv,
            pb::GetReportRequest {
                scope: Some(pb::get_report_request::Scope::AdGroupId(
                    g.ad_group_id.clone(),
                )),
                start_date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
                end_date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
            },
        ))
        .await
        .expect("report")
        .into_inner();
    let totals = report.totals.expect("totals");
    assert_eq!((totals.clicks, totals.invalid_events), (4, 4), "{totals:?}");
    testing::clear_redis(&h.config.redis).await;
}
