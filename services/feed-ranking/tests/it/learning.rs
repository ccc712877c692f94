//! Learning from the stream: replay rebuilds, crashes lose nothing, redelivery applies nothing twice.

use super::*;

#[tokio::test]
async fn replay_rebuilds_the_live_vectors_and_replaying_twice_changes_nothing() {
    use loop_platform::auth::Role;
    use loop_proto::events::v1::{
        CommerceEvent, GiftSent, OrderPaid, WalletEvent, commerce_event, wallet_event,
    };
    use loop_proto::feed_ranking::v1 as pb;
    use loop_proto::feed_ranking::v1::feed_ranking_service_client::FeedRankingServiceClient;

    let prefix = testing::unique("replay");
    let live = config(&prefix);
    loop_platform::kafka::ensure_topics(
        &live.kafka,
        &[
            topics::ENGAGEMENT,
            topics::CONTENT,
            topics::WALLET,
            topics::COMMERCE,
        ],
    )
    .await
    .expect("topics");
    let stream = served_events(10, 40);
    let mut counts = expected_counts(&stream);
    let users: Vec<String> = counts.keys().cloned().collect();
    // The videos gifts are sent on: one per family, in the catalog.
    let producer = Producer::new(&live.kafka, "test").expect("producer");
    for (f, family) in FAMILIES.iter().enumerate() {
        let id = format!("00000000-0000-7000-9000-{:012}", 10 * f);
        producer
            .publish(
                topics::CONTENT,
                &id,
                "loop.events.v1.ContentEvent",
                &published(video(&id, family)),
            )
            .await
            .expect("produce");
    }
    produce(&live.kafka, &stream).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(loop_feed_ranking::run(
        live.clone(),
        listener,
        shutdown.clone(),
    ));
    let client = FeedRankingServiceClient::new(
        loop_platform::grpc::channel(&format!("http://{addr}")).expect("channel"),
    );
    let admin = loop_platform::testing::TestKeys.issue(
        "service:feed-ranking",
        Role::Service,
        Duration::from_secs(600),
    );
    testing::wait_for(
        "catalog has the gifted videos",
        Duration::from_secs(30),
        || {
            let (mut client, admin) = (client.clone(), admin.clone());
            async move {
                let stats = client
                    .get_ranker_stats(loop_platform::grpc::request(
                        pb::GetRankerStatsRequest {},
                        Some(&admin),
                        Duration::from_secs(5),
                    ))
                    .await
                    .ok()?
                    .into_inner();
                (stats.videos_indexed >= FAMILIES.len() as u64).then_some(())
            }
        },
    )
    .await;
    // Gifts are strong engagement read from wallet.v1: one per viewer, on
    // their own family's video.
    for u in &users {
        let n: usize = u[u.len() - 12..].parse().expect("user index");
        let gift = WalletEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_800_000_000 + 41 * 60,
                nanos: 0,
            }),
            payload: Some(wallet_event::Payload::GiftSent(GiftSent {
                sender_id: u.clone(),
                recipient_id: format!("creator-{}-0", FAMILIES[n % 5]),
                video_id: format!("00000000-0000-7000-9000-{:012}", 10 * (n % 5)),
                gift_id: "rose".into(),
                count: 1,
                coins: 1,
                diamonds: 1,
                ..Default::default()
            })),
        };
        producer
            .publish(topics::WALLET, u, "loop.events.v1.WalletEvent", &gift)
            .await
            .expect("produce gift");
        *counts.get_mut(u).expect("user") += 1;
    }
    // Purchases are strong engagement with the video (or LIVE) they came
    // from (commerce.v1 OrderPaid with the attributed source): one per
    // viewer from their family's video. A purchase from a showcase (no
    // video) and other commerce events teach nothing.
    let order_paid = |u: &str, source: i32, source_id: String, creator: String| CommerceEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        occurred_at: Some(prost_types::Timestamp {
            seconds: 1_800_000_000 + 42 * 60,
            nanos: 0,
        }),
        payload: Some(commerce_event::Payload::OrderPaid(OrderPaid {
            order_id: uuid::Uuid::now_v7().to_string(),
            buyer_id: u.to_owned(),
            seller_id: "seller".into(),
            total_cents: 2_500,
            source,
            source_id,
            affiliate_id: creator,
            ..Default::default()
        })),
    };
    let mut commerce_events = 0u64;
    for u in &users {
        let n: usize = u[u.len() - 12..].parse().expect("user index");
        let video = format!("00000000-0000-7000-9000-{:012}", 10 * (n % 5));
        let creator = format!("creator-{}-0", FAMILIES[n % 5]);
        for (event, teaches) in [
            (order_paid(u, 2, video, creator.clone()), true),
            (order_paid(u, 1, String::new(), creator), false),
        ] {
            let key = match &event.payload {
                Some(commerce_event::Payload::OrderPaid(o)) => o.order_id.clone(),
                _ => unreachable!(),
            };
            producer
                .publish(
                    topics::COMMERCE,
                    &key,
                    "loop.events.v1.CommerceEvent",
                    &event,
                )
                .await
                .expect("produce purchase");
            commerce_events += 1;
            if teaches {
                *counts.get_mut(u).expect("user") += 1;
            }
        }
    }
    let total = stream.len() as u64 + 2 * users.len() as u64;
    testing::wait_for(
        "live consumer applied everything",
        Duration::from_secs(60),
        || {
            let (redis, users) = (live.redis.clone(), users.clone());
            async move { (applied_total(&redis, &users).await == total).then_some(()) }
        },
    )
    .await;
    testing::wait_for(
        "co-engagement consumer applied every engagement event",
        Duration::from_secs(60),
        || {
            let (redis, users) = (live.redis.clone(), users.clone());
            let n = stream.len() as u64;
            async move { (co_applied_total(&redis, &users).await == n).then_some(()) }
        },
    )
    .await;
    shutdown.cancel();
    task.await.expect("join").expect("clean stop");
    let live_states = states(&live.redis, &users).await;
    let live_counters = counters(&live.redis).await;

    // Rebuild into a fresh prefix from the beginning of the topics.
    let target = testing::redis_config(&format!("{prefix}-rebuilt"));
    let redis = Redis::connect(&target).await.expect("redis");
    let report = replay::rebuild(
        &live.kafka,
        redis.clone(),
        live.learning.clone(),
        Start::Beginning,
        &|_, _, _| {},
    )
    .await
    .expect("rebuild");
    assert_eq!(report.engagement_events, stream.len() as u64);
    assert_eq!(report.wallet_events, users.len() as u64);
    assert_eq!(report.commerce_events, commerce_events);
    let rebuilt = states(&target, &users).await;
    for u in &users {
        let (a, b) = (&live_states[u], &rebuilt[u]);
        let cos = embed::cosine(&a.vector, &b.vector);
        assert!(cos > 0.999, "user {u}: cosine {cos}");
        assert_eq!(a.events_applied, counts[u]);
        assert_eq!(b.events_applied, counts[u]);
    }
    // Co-engagement is counted exactly the same (whole numbers, any order).
    let rebuilt_counters = counters(&target).await;
    assert!(
        live_counters.len() > FAMILIES.len(),
        "videos with co-engagement: {}",
        live_counters.len()
    );
    assert_eq!(live_counters, rebuilt_counters);
    // Bounded: each viewer's counts are those of the videos their history
    // holds (at most co_history), the older ones' left with them.
    let histories = co_histories(&live.redis, &users).await;
    let audiences: f64 = live_counters["v:engaged"].iter().map(|(_, n)| n).sum();
    assert_eq!(audiences as usize, histories.values().sum::<usize>());
    assert!(
        histories.values().all(|n| *n == live.learning.co_history),
        "every viewer's history filled and moved on: {histories:?}"
    );
    // The ranking weights learned from the labelled impressions, and the
    // rebuild learned the same bits.
    let examples: f64 = live_counters
        .iter()
        .filter(|(k, _)| k.starts_with("rank:model:"))
        .map(|(_, numbers)| numbers[0].1)
        .sum();
    assert!(examples > 100.0, "{examples} labelled impressions");

    // The same range again: everything is recognised as applied.
    replay::rebuild(
        &live.kafka,
        redis,
        live.learning.clone(),
        Start::Beginning,
        &|_, _, _| {},
    )
    .await
    .expect("rebuild again");
    let again = states(&target, &users).await;
    for u in &users {
        assert_eq!(
            again[u].vector, rebuilt[u].vector,
            "replaying twice changed {u}"
        );
        assert_eq!(again[u].events_applied, counts[u]);
    }
    assert_eq!(counters(&target).await, rebuilt_counters);
    // Learning worked: each user points at their family.
    for u in &users {
        let s = &live_states[u];
        let n: usize = u[u.len() - 12..].parse().expect("user index");
        let family = embed::interests_vector(&[FAMILIES[n % 5].to_string()], 64);
        let best = FAMILIES
            .iter()
            .map(|f| {
                (
                    embed::cosine(&s.vector, &embed::interests_vector(&[f.to_string()], 64)),
                    *f,
                )
            })
            .fold((f32::MIN, ""), |a, b| if b.0 > a.0 { b } else { a });
        assert_eq!(
            best.1,
            FAMILIES[n % 5],
            "user {n} learned {best:?}; cosine to own family {}",
            embed::cosine(&s.vector, &family)
        );
    }
    testing::clear_redis(&live.redis).await;
    testing::clear_redis(&target).await;
}

#[tokio::test]
async fn a_crash_mid_stream_loses_nothing_and_applies_nothing_twice() {
    let prefix = testing::unique("crash");
    let mut cfg = config(&prefix);
    // Small batches over a long stream: ~600 batches of a millisecond or
    // two each, so the kill (on the first poll that sees progress, every
    // 20 ms) lands mid-stream; 50-event batches finished 1,200 events
    // between two polls.
    cfg.consumer.max_batch = 5;
    loop_platform::kafka::ensure_topics(&cfg.kafka, &[topics::ENGAGEMENT, topics::CONTENT])
        .await
        .expect("topics");
    let stream = served_events(20, 150);
    let counts = expected_counts(&stream);
    let users: Vec<String> = counts.keys().cloned().collect();
    let total = stream.len() as u64;
    produce(&cfg.kafka, &stream).await;

    // First life: killed (task aborted, no shutdown, no final commit) once
    // some but not all events are applied.
    let (_shutdown, task) = start(cfg.clone()).await;
    testing::wait_for(
        "part of the stream applied",
        Duration::from_secs(60),
        || {
            let (redis, users) = (cfg.redis.clone(), users.clone());
            async move { (applied_total(&redis, &users).await > 0).then_some(()) }
        },
    )
    .await;
    task.abort();
    let _ = task.await;
    let partial = applied_total(&cfg.redis, &users).await;
    assert!(
        partial > 0 && partial < total,
        "the kill must land mid-stream: {partial}/{total} applied"
    );

    // Second life: the group resumes from its last commit; redelivered
    // events are recognised and skipped.
    let (shutdown, task) = start(cfg.clone()).await;
    testing::wait_for(
        "everything applied after restart",
        Duration::from_secs(60),
        || {
            let (redis, users) = (cfg.redis.clone(), users.clone());
            async move { (applied_total(&redis, &users).await >= total).then_some(()) }
        },
    )
    .await;
    testing::wait_for(
        "co-engagement consumer applied everything after restart",
        Duration::from_secs(60),
        || {
            let (redis, users) = (cfg.redis.clone(), users.clone());
            async move { (co_applied_total(&redis, &users).await >= total).then_some(()) }
        },
    )
    .await;
    shutdown.cancel();
    task.await.expect("join").expect("clean stop");
    let after = states(&cfg.redis, &users).await;
    assert_eq!(co_applied_total(&cfg.redis, &users).await, total);
    for u in &users {
        assert_eq!(
            after[u].events_applied, counts[u],
            "user {u}: applied count differs from produced"
        );
    }
    assert_eq!(applied_total(&cfg.redis, &users).await, total);
    // The co-engagement counters are what one clean pass counts: nothing
    // counted twice, nothing lost.
    let clean = testing::redis_config(&format!("{prefix}-clean"));
    replay::rebuild(
        &cfg.kafka,
        Redis::connect(&clean).await.expect("redis"),
        cfg.learning.clone(),
        Start::Beginning,
        &|_, _, _| {},
    )
    .await
    .expect("rebuild");
    let crashed = counters(&cfg.redis).await;
    assert!(crashed.len() > FAMILIES.len(), "{} counters", crashed.len());
    assert_eq!(crashed, counters(&clean).await);
    testing::clear_redis(&cfg.redis).await;
    testing::clear_redis(&clean).await;
}

#[tokio::test]
async fn redelivery_restores_suppressions_lost_in_a_crash_without_reapplying() {
    use loop_feed_ranking::learn::EngagementHandler;
    use loop_platform::kafka::{BatchHandler, Delivery};
    use loop_proto::events::v1::NotInterestedTarget;
    use prost::Message;

    let cfg = config(&testing::unique("redeliver"));
    let redis = Redis::connect(&cfg.redis).await.expect("redis");
    let handler = EngagementHandler::new(redis.clone(), cfg.learning.clone(), None);
    let mut event = events(1, 1).remove(0);
    event.kind = EngagementKind::NotInterested as i32;
    event.not_interested_target = NotInterestedTarget::Creator as i32;
    let delivery = Delivery {
        topic: "t.engagement.v1".into(),
        partition: 0,
        offset: 7,
        key: event.user_id.clone().into_bytes(),
        payload: event.encode_to_vec(),
        headers: Vec::new(),
        timestamp_ms: None,
    };
    let sup_key = state::suppressed_creators_key(&redis, &event.user_id);
    let mut conn = redis.conn.clone();
    handler
        .handle(std::slice::from_ref(&delivery))
        .await
        .expect("apply");
    let first = states(&cfg.redis, std::slice::from_ref(&event.user_id)).await;
    // The crash: the state was written, the follow-up suppression was not.
    let _: () = redis::cmd("DEL")
        .arg(&sup_key)
        .query_async(&mut conn)
        .await
        .expect("del");
    handler
        .handle(std::slice::from_ref(&delivery))
        .await
        .expect("redelivery");
    let suppressed: bool = redis::cmd("HEXISTS")
        .arg(&sup_key)
        .arg(&event.creator_id)
        .query_async(&mut conn)
        .await
        .expect("hexists");
    assert!(suppressed, "redelivery must restore the suppression");
    let again = states(&cfg.redis, std::slice::from_ref(&event.user_id)).await;
    assert_eq!(
        again[&event.user_id].events_applied, 1,
        "the event itself is not applied twice"
    );
    assert_eq!(again[&event.user_id].vector, first[&event.user_id].vector);
    testing::clear_redis(&cfg.redis).await;
}
