//! Branded Hashtag Challenges: the fee is a price per started UTC day, spent
//! from the campaign's budget once; content refuses overlaps; retries return
//! the first result.

use super::*;

fn order(
    campaign_id: &str,
    key: &str,
    hashtag: &str,
    days: i64,
) -> pb::CreateBrandedChallengeRequest {
    let starts = chrono::Utc::now() + chrono::Duration::hours(1);
    pb::CreateBrandedChallengeRequest {
        idempotency_key: key.into(),
        campaign_id: campaign_id.into(),
        hashtag: hashtag.into(),
        description: "Dance with our sneakers".into(),
        banner_url: "https://acme.test/banner.png".into(),
        starts_at: ts(starts),
        ends_at: ts(starts + chrono::Duration::days(days)),
        countries: vec!["US".into(), "BR".into(), "US".into()],
        expected_fee_cents: 0,
    }
}

#[tokio::test]
async fn a_branded_challenge_spends_its_fee_once_and_refuses_overlaps() {
    let h = Harness::start(|c| c.challenge.fee_cents_per_day = 1000).await;
    let (adv, adv_id) = h.user("acme", common::Role::Advertiser).await;
    let c = h.campaign(&adv, 5000).await;
    let create = |req| {
        let mut ads = h.ads.clone();
        let req = h.req(&adv, req);
        async move { ads.create_branded_challenge(req).await }
    };

    // A period touching 3 UTC days costs 3 days' fee (it starts an hour from now).
    let mut three_days = order(&c.campaign_id, &Uuid::new_v4().to_string(), "#AcmeDance", 2);
    let at = |t: &Option<prost_types::Timestamp>| {
        loop_platform::time::from_timestamp("at", t.as_ref()).expect("a timestamp")
    };
    let (starts, ends) = (at(&three_days.starts_at), at(&three_days.ends_at));
    let days = ((ends - chrono::Duration::nanoseconds(1)).date_naive() - starts.date_naive())
        .num_days()
        + 1;
    three_days.expected_fee_cents = 1000 * days + 1;
    let err = create(three_days.clone()).await.expect_err("a stale price");
    assert_eq!(
        loop_ads_auction::error::status_reason(&err).as_deref(),
        Some("PRICE_CHANGED"),
        "{err:?}"
    );
    three_days.expected_fee_cents = 1000 * days;
    let first = create(three_days.clone())
        .await
        .expect("challenge")
        .into_inner()
        .challenge
        .expect("challenge");
    assert_eq!(first.fee_cents, 1000 * days);
    assert_eq!(
        (
            first.hashtag.as_str(),
            first.advertiser_id.as_str(),
            first.countries.clone()
        ),
        (
            "acmedance",
            adv_id.as_str(),
            vec!["US".to_owned(), "BR".to_owned()]
        )
    );
    assert_eq!(
        h.get_campaign(&adv, &c.campaign_id).await.spent_cents,
        1000 * days
    );

    // A retry returns the first result and spends nothing more.
    let retry = create(three_days).await.expect("retry").into_inner();
    assert_eq!(retry.challenge, Some(first.clone()));
    assert_eq!(
        h.get_campaign(&adv, &c.campaign_id).await.spent_cents,
        1000 * days
    );

    // The same tag in an overlapping period is content's to refuse.
    let err = create(order(
        &c.campaign_id,
        &Uuid::new_v4().to_string(),
        "#acmedance",
        1,
    ))
    .await
    .expect_err("overlap");
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(
        loop_ads_auction::error::status_reason(&err).as_deref(),
        Some("CHALLENGE_OVERLAP")
    );
    // More than the uncommitted budget: 5 days of 1000 on 5000 - spent.
    let err = create(order(
        &c.campaign_id,
        &Uuid::new_v4().to_string(),
        "#other",
        5,
    ))
    .await
    .expect_err("over budget");
    assert_eq!(
        loop_ads_auction::error::status_reason(&err).as_deref(),
        Some("INSUFFICIENT_BUDGET")
    );
    // Bad fields are named.
    let mut bad = order(&c.campaign_id, &Uuid::new_v4().to_string(), "#other", 1);
    bad.banner_url = "http://acme.test/b.png".into();
    let err = create(bad).await.expect_err("banner");
    assert_eq!(
        loop_platform::error::status_field(&err).as_deref(),
        Some("banner_url")
    );
    let err = create(order(
        &c.campaign_id,
        &Uuid::new_v4().to_string(),
        "#other",
        31,
    ))
    .await
    .expect_err("too long");
    assert_eq!(
        loop_platform::error::status_field(&err).as_deref(),
        Some("ends_at")
    );
    assert_eq!(
        h.get_campaign(&adv, &c.campaign_id).await.spent_cents,
        1000 * days
    );
    testing::clear_redis(&h.config.redis).await;
}
