//! Shop numbers per creator from `commerce.v1`: referral visits and the
//! orders attributed to the creator (refunds and cancellations of the same
//! order after it), each event counted once however often it is delivered;
//! a replay into an empty database gives the same numbers; advertisers sort
//! and filter the creator search by GMV and conversion.

use super::*;

fn commerce(at: DateTime<Utc>, p: ev::commerce_event::Payload) -> ev::CommerceEvent {
    ev::CommerceEvent {
        event_id: Uuid::now_v7().to_string(),
        occurred_at: ts(at),
        payload: Some(p),
    }
}

async fn publish(producer: &Producer, e: &ev::CommerceEvent) {
    use ev::commerce_event::Payload as M;
    // Keys as commerce writes them: the product for visits, the order for
    // order events (so one order's events stay in order).
    let key = match e.payload.as_ref().unwrap() {
        M::ReferralRecorded(r) => r.product_id.clone(),
        M::OrderPaid(o) => o.order_id.clone(),
        M::OrderRefunded(r) => r.order_id.clone(),
        M::OrderCancelled(c) => c.order_id.clone(),
        _ => e.event_id.clone(),
    };
    producer
        .publish(topics::COMMERCE, &key, "loop.events.v1.CommerceEvent", e)
        .await
        .expect("produce");
}

#[tokio::test]
async fn shop_gmv_and_conversion_per_creator_count_each_event_once_and_replay_exactly() {
    use ev::commerce_event::Payload as M;
    testing::init_telemetry();
    let prefix = testing::unique("mktshop");
    let kafka = testing::kafka_config(&prefix);
    let shutdown = CancellationToken::new();
    let keys = loop_platform::testing::TestKeys;
    let first = start_market(&kafka, &format!("{prefix}-a"), &shutdown).await;
    testing::wait_for("marketplace migrated", Duration::from_secs(60), || {
        let pool = first.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM shop_orders")
                .fetch_one(&pool)
                .await
                .ok()
        }
    })
    .await;
    loop_platform::kafka::ensure_topics(&kafka, &[topics::COMMERCE])
        .await
        .unwrap();

    let now = Utc::now();
    let (a, b) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    let product = Uuid::now_v7().to_string();
    let visit = |creator: &str, at: DateTime<Utc>| {
        commerce(
            at,
            M::ReferralRecorded(ev::ReferralRecorded {
                product_id: product.clone(),
                creator_id: creator.to_owned(),
                buyer_id: Uuid::now_v7().to_string(),
                source: 2,
                source_id: Uuid::now_v7().to_string(),
                seller_id: Uuid::now_v7().to_string(),
            }),
        )
    };
    let paid = |order: &str, creator: &str, cents: i64, at: DateTime<Utc>| {
        commerce(
            at,
            M::OrderPaid(ev::OrderPaid {
                order_id: order.to_owned(),
                buyer_id: Uuid::now_v7().to_string(),
                seller_id: Uuid::now_v7().to_string(),
                total_cents: cents,
                affiliate_id: creator.to_owned(),
                commission_cents: cents / 10,
                source: if creator.is_empty() { 0 } else { 2 },
                ..Default::default()
            }),
        )
    };
    let refunded = |order: &str, amount: i64, so_far: i64, full: bool| {
        commerce(
            now,
            M::OrderRefunded(ev::OrderRefunded {
                order_id: order.to_owned(),
                amount_cents: amount,
                refunded_cents: so_far,
                full,
            }),
        )
    };
    let cancelled = |order: &str| {
        commerce(
            now,
            M::OrderCancelled(ev::OrderCancelled {
                order_id: order.to_owned(),
                by: "buyer".into(),
                ..Default::default()
            }),
        )
    };
    let day = chrono::Duration::days(1);
    let o: Vec<String> = (0..6).map(|_| Uuid::now_v7().to_string()).collect();
    let mut events = Vec::new();
    // Creator a: 8 visits in the window (and 2 older ones), 4 orders: one
    // refunded in part (5,000 - 1,000), one cancelled, one fully refunded,
    // one 40 days old (outside the window).
    for i in 0..8 {
        events.push(visit(&a, now - day * i));
    }
    events.push(visit(&a, now - day * 40));
    events.push(visit(&a, now - day * 35));
    events.push(paid(&o[0], &a, 5_000, now - day));
    events.push(refunded(&o[0], 1_000, 1_000, false));
    events.push(paid(&o[1], &a, 2_500, now - day * 2));
    events.push(paid(&o[2], &a, 9_999, now - day * 3));
    events.push(cancelled(&o[2]));
    events.push(paid(&o[3], &a, 700, now - day * 4));
    events.push(refunded(&o[3], 700, 700, true));
    events.push(paid(&o[4], &a, 100_000, now - day * 40));
    // Creator b: 2 visits, 2 orders of 3,000: conversion 1 (capped), GMV 6,000.
    events.push(visit(&b, now));
    events.push(visit(&b, now));
    events.push(paid(&o[5], &b, 3_000, now));
    events.push(paid(&Uuid::now_v7().to_string(), &b, 3_000, now));
    // An order bought without a creator counts for nobody.
    events.push(paid(&Uuid::now_v7().to_string(), "", 50_000, now));
    let producer = Producer::new(&kafka, "shop-analytics-test").unwrap();
    for (i, e) in events.iter().enumerate() {
        publish(&producer, e).await;
        // Duplicates and a redelivered stretch.
        if i % 3 == 0 || (5..9).contains(&i) {
            publish(&producer, e).await;
        }
    }
    let unique = events.len() as i64;
    wait_processed(&first, unique).await;

    // a: GMV = 4,000 + 2,500 + 0 (fully refunded); the cancelled and the
    // 40-day-old orders do not count. Orders 2 (o0, o1), visits 8.
    let check = |got: &BTreeMap<String, pb::CreatorAnalytics>| {
        let ga = &got[&a];
        assert_eq!(
            (
                ga.shop_gmv_cents_30d,
                ga.shop_orders_30d,
                ga.shop_referral_visits_30d
            ),
            (6_500, 2, 8)
        );
        assert!((ga.shop_conversion_rate_30d - 0.25).abs() < 1e-12);
        let gb = &got[&b];
        assert_eq!(
            (
                gb.shop_gmv_cents_30d,
                gb.shop_orders_30d,
                gb.shop_referral_visits_30d
            ),
            (6_000, 2, 2)
        );
        assert!((gb.shop_conversion_rate_30d - 1.0).abs() < 1e-12);
    };
    let creators = vec![a.clone(), b.clone()];
    let got = served(&first, &keys, &creators).await;
    check(&got);

    // The search projection: advertisers sort and filter by shop sales.
    // It is refreshed apart from the events, so it may first show part of
    // them: wait for the figures the analytics served above.
    let pool = first.pool.clone();
    testing::wait_for("projection refreshed", Duration::from_secs(60), || {
        let pool = pool.clone();
        let (a, b) = (Uuid::parse_str(&a).unwrap(), Uuid::parse_str(&b).unwrap());
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM creator_stats WHERE \
                 (creator_id = $1 AND shop_gmv_cents_30d = 6500 AND abs(shop_conversion_rate_30d - 0.25) < 1e-12) OR \
                 (creator_id = $2 AND shop_gmv_cents_30d = 6000 AND abs(shop_conversion_rate_30d - 1.0) < 1e-12)",
            )
            .bind(a)
            .bind(b)
            .fetch_one(&pool)
            .await
            .ok()?;
            (n == 2).then_some(())
        }
    })
    .await;
    sqlx::query("UPDATE creator_stats SET listed = true, open_to_offers = true")
        .execute(&first.pool)
        .await
        .unwrap();
    let advertiser = keys.issue(
        &Uuid::now_v7().to_string(),
        Role::Advertiser,
        Duration::from_secs(600),
    );
    let search = |req: pb::SearchCreatorsRequest| {
        let mut client = first.client.clone();
        let token = advertiser.clone();
        async move {
            client
                .search_creators(loop_platform::grpc::request(
                    req,
                    Some(&token),
                    Duration::from_secs(30),
                ))
                .await
        }
    };
    let ids = |r: pb::SearchCreatorsResponse| -> Vec<(String, i64)> {
        r.results
            .into_iter()
            .map(|c| (c.creator_id, c.shop_gmv_cents_30d))
            .collect()
    };
    let by_gmv = search(pb::SearchCreatorsRequest {
        sort: pb::CreatorSort::ShopGmvDesc as i32,
        ..Default::default()
    })
    .await
    .expect("by GMV")
    .into_inner();
    assert_eq!(ids(by_gmv), vec![(a.clone(), 6_500), (b.clone(), 6_000)]);
    let by_conversion = search(pb::SearchCreatorsRequest {
        sort: pb::CreatorSort::ShopConversionDesc as i32,
        ..Default::default()
    })
    .await
    .expect("by conversion")
    .into_inner();
    assert_eq!(
        ids(by_conversion),
        vec![(b.clone(), 6_000), (a.clone(), 6_500)]
    );
    let filtered = search(pb::SearchCreatorsRequest {
        min_shop_gmv_cents: 6_100,
        ..Default::default()
    })
    .await
    .expect("min GMV")
    .into_inner();
    assert_eq!(ids(filtered), vec![(a.clone(), 6_500)]);
    let filtered = search(pb::SearchCreatorsRequest {
        min_shop_conversion_rate: 0.5,
        ..Default::default()
    })
    .await
    .expect("min conversion")
    .into_inner();
    assert_eq!(ids(filtered), vec![(b.clone(), 6_000)]);
    for (bad, field) in [
        (
            pb::SearchCreatorsRequest {
                min_shop_conversion_rate: 1.5,
                ..Default::default()
            },
            "min_shop_conversion_rate",
        ),
        (
            pb::SearchCreatorsRequest {
                min_shop_gmv_cents: -1,
                ..Default::default()
            },
            "min_shop_gmv_cents",
        ),
    ] {
        let err = search(bad).await.expect_err("bad filter");
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert_eq!(common::field(&err), field);
    }

    // Replay: a new group into an empty database gives the same numbers.
    let second = start_market(&kafka, &format!("{prefix}-b"), &shutdown).await;
    wait_processed(&second, unique).await;
    check(&served(&second, &keys, &creators).await);
    shutdown.cancel();
}
