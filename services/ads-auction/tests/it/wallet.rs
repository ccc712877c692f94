//! Money through the wallet: reserves, charges, and what a failed commit leaves behind.

use super::*;

#[tokio::test]
async fn campaign_budgets_are_reserved_from_and_spend_charged_to_the_advertisers_wallet() {
    let h = Harness::start_metered(|_| {}).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let create = |budget: i64| pb::CreateCampaignRequest {
        idempotency_key: Uuid::now_v7().to_string(),
        name: "spring sale".into(),
        objective: pb::CampaignObjective::Traffic as i32,
        total_budget_cents: budget,
    };
    let campaigns = || async {
        h.ads
            .clone()
            .list_campaigns(h.req(&adv, pb::ListCampaignsRequest::default()))
            .await
            .expect("list")
            .into_inner()
            .campaigns
            .len()
    };

    // No cents: refused with the reason, and nothing is created.
    let err = h
        .ads
        .clone()
        .create_campaign(h.req(&adv, create(5_000)))
        .await
        .expect_err("an empty wallet cannot fund a budget");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(
        loop_ads_auction::error::status_reason(&err).as_deref(),
        Some("INSUFFICIENT_FUNDS")
    );
    assert_eq!(campaigns().await, 0);

    // Funded: the budget moves from available to held.
    h.fund(&adv, 10_000).await;
    let c = h.campaign(&adv, 5_000).await;
    assert_eq!(h.cents(&adv).await, (5_000, 5_000));

    // Raising the budget reserves the difference; lowering it releases it;
    // raising it past the balance is refused and changes nothing.
    let update = |budget: i64| pb::UpdateCampaignRequest {
        campaign_id: c.campaign_id.clone(),
        total_budget_cents: budget,
        update_mask: vec!["total_budget_cents".into()],
        ..Default::default()
    };
    h.ads
        .clone()
        .update_campaign(h.req(&adv, update(7_000)))
        .await
        .expect("raise");
    assert_eq!(h.cents(&adv).await, (3_000, 7_000));
    h.ads
        .clone()
        .update_campaign(h.req(&adv, update(6_000)))
        .await
        .expect("lower");
    assert_eq!(h.cents(&adv).await, (4_000, 6_000));
    let err = h
        .ads
        .clone()
        .update_campaign(h.req(&adv, update(20_000)))
        .await
        .expect_err("past the balance");
    assert_eq!(
        loop_ads_auction::error::status_reason(&err).as_deref(),
        Some("INSUFFICIENT_FUNDS")
    );
    let now = h.get_campaign(&adv, &c.campaign_id).await;
    assert_eq!(now.total_budget_cents, 6_000);
    assert_eq!(h.cents(&adv).await, (4_000, 6_000));

    // Billed spend is charged to the wallet from the reserve: 20 viewers'
    // impressions at 51 millicents (the reserve price + 1) bill 1,020
    // millicents, which settle as 1 whole cent.
    let mut group = Harness::ad_group_request(&c.campaign_id, 300);
    group.targeting = country("PT");
    let g = h.ad_group(&adv, group).await;
    let video = h.video(&adv).await;
    h.creative(&adv, &g.ad_group_id, &video).await;
    testing::wait_for("the ad serves", Duration::from_secs(30), || async {
        (!h.fill(&viewer(), "PT", &[4]).await.slots.is_empty()).then_some(())
    })
    .await;
    let mut reported = 0;
    while reported < 20 {
        let user = viewer();
        let r = h.fill(&user, "PT", &[4]).await;
        let slot = r.slots.first().expect("a slot").clone();
        assert_eq!(slot.price_millicents, 51);
        h.report(Uuid::now_v7(), &user, &slot, "impression").await;
        reported += 1;
    }
    let settled = testing::wait_for("1 cent settled", Duration::from_secs(60), || async {
        let (settled,): (i64,) =
            sqlx::query_as("SELECT settled_cents FROM campaigns WHERE id = $1::uuid")
                .bind(&c.campaign_id)
                .fetch_one(&h.pool)
                .await
                .expect("campaign");
        (settled >= 1).then_some(settled)
    })
    .await;
    assert_eq!(settled, 1);
    assert_eq!(h.cents(&adv).await, (4_000, 5_999));
}

#[tokio::test]
async fn a_reserve_made_for_a_campaign_that_never_committed_is_released() {
    let h = Harness::start_metered(|_| {}).await;
    let (adv, adv_id) = h.user("acme", common::Role::Advertiser).await;
    h.fund(&adv, 10_000).await;
    // A CreateCampaign reserved 4,000 cents for campaign `lost`, then its
    // commit failed: the wallet holds the reserve, no campaign exists, and
    // its note (older than the 10 s grace) is left. Another note, `never`,
    // is for a create that failed before the wallet moved anything.
    let (lost, never) = (Uuid::now_v7(), Uuid::now_v7());
    h.reserve_as_ads(&adv_id, lost, &format!("campaign:{lost}:v1"), 4_000)
        .await;
    assert_eq!(h.cents(&adv).await, (6_000, 4_000));
    for (campaign, cents) in [(lost, 4_000i64), (never, 2_000)] {
        sqlx::query(
            "INSERT INTO wallet_intents (campaign_id, advertiser_id, amount_cents, created_at) \
             VALUES ($1, $2::uuid, $3, now() - interval '1 minute')",
        )
        .bind(campaign)
        .bind(&adv_id)
        .bind(cents)
        .execute(&h.pool)
        .await
        .expect("intent");
    }
    // The settlement loop (every second here) releases the orphan and
    // closes both notes; the one that reserved nothing moves nothing.
    testing::wait_for("the notes closed", Duration::from_secs(30), || async {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM wallet_intents")
            .fetch_one(&h.pool)
            .await
            .expect("count");
        (left == 0).then_some(())
    })
    .await;
    assert_eq!(h.cents(&adv).await, (10_000, 0));
    // A campaign created normally leaves no note behind.
    h.campaign(&adv, 5_000).await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM wallet_intents")
        .fetch_one(&h.pool)
        .await
        .expect("count");
    assert_eq!(left, 0);
    assert_eq!(h.cents(&adv).await, (5_000, 5_000));
}

#[tokio::test]
async fn a_budget_change_that_did_not_commit_is_completed_and_blocks_others_until_then() {
    let h = Harness::start_metered(|_| {}).await;
    let (adv, adv_id) = h.user("acme", common::Role::Advertiser).await;
    h.fund(&adv, 10_000).await;
    let c = h.campaign(&adv, 5_000).await;
    let id = Uuid::parse_str(&c.campaign_id).expect("id");
    assert_eq!(h.cents(&adv).await, (5_000, 5_000));
    let update = |budget: i64| pb::UpdateCampaignRequest {
        campaign_id: c.campaign_id.clone(),
        total_budget_cents: budget,
        update_mask: vec!["total_budget_cents".into()],
        ..Default::default()
    };

    // An UpdateCampaign to 7,000 at version 2 noted its change and reserved
    // the 2,000 in the wallet (with its key), then its commit failed.
    h.reserve_as_ads(&adv_id, id, &format!("campaign:{id}:v2:7000"), 2_000)
        .await;
    sqlx::query(
        "INSERT INTO budget_intents (campaign_id, advertiser_id, version, budget_cents, diff_cents) \
         VALUES ($1, $2::uuid, 2, 7000, 2000)",
    )
    .bind(id)
    .bind(&adv_id)
    .execute(&h.pool)
    .await
    .expect("note");
    assert_eq!(h.cents(&adv).await, (3_000, 7_000));

    // While it is pending, another budget change is refused (nothing moves).
    let err = h
        .ads
        .clone()
        .update_campaign(h.req(&adv, update(6_000)))
        .await
        .expect_err("pending");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(h.cents(&adv).await, (3_000, 7_000));

    // Past the grace, the settlement loop completes it: the same reserve
    // again (moved once), then the budget and version.
    sqlx::query("UPDATE budget_intents SET created_at = now() - interval '1 minute'")
        .execute(&h.pool)
        .await
        .expect("age");
    let done = testing::wait_for("the change completed", Duration::from_secs(30), || async {
        let (budget, version): (i64, i64) =
            sqlx::query_as("SELECT total_budget_cents, version FROM campaigns WHERE id = $1")
                .bind(id)
                .fetch_one(&h.pool)
                .await
                .expect("campaign");
        (version == 2).then_some(budget)
    })
    .await;
    assert_eq!(done, 7_000);
    assert_eq!(h.cents(&adv).await, (3_000, 7_000), "reserved once");

    // And the next change goes through.
    h.ads
        .clone()
        .update_campaign(h.req(&adv, update(6_000)))
        .await
        .expect("lower");
    assert_eq!(h.cents(&adv).await, (4_000, 6_000));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM budget_intents")
        .fetch_one(&h.pool)
        .await
        .expect("count");
    assert_eq!(left, 0);
}
