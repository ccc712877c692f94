//! feed-ranking against real Redis and the broker: replay rebuilds the live
//! vectors, replaying twice changes nothing, and a hard crash mid-stream
//! neither loses nor double-applies an event.

#![allow(clippy::field_reassign_with_default)] // tests tweak a default config field by field

use std::collections::HashMap;
use std::time::Duration;

use loop_feed_ranking::replay::{self, Start};
use loop_feed_ranking::state::{self, UserState};
use loop_feed_ranking::{Config, embed};
use loop_platform::cache::Redis;
use loop_platform::config::{KafkaConfig, RedisConfig};
use loop_platform::kafka::{Producer, topics};
use loop_platform::testing;
use loop_proto::events::v1::{EngagementEvent, EngagementKind};
use tokio_util::sync::CancellationToken;

const FAMILIES: [&str; 5] = ["dance", "cooking", "travel", "pets", "gaming"];

fn config(prefix: &str) -> Config {
    let mut c = Config::default();
    c.redis = testing::redis_config(prefix);
    c.kafka = testing::kafka_config(prefix);
    c.consumer.group_id = format!("{prefix}-ranker");
    c
}

/// A deterministic stream: user u mostly engages with family u % 5.
fn events(users: usize, per_user: usize) -> Vec<EngagementEvent> {
    let base_ms = 1_800_000_000_000i64;
    let mut out = Vec::new();
    for i in 0..per_user {
        for u in 0..users {
            let family = if i % 4 == 3 {
                FAMILIES[(u + i) % 5]
            } else {
                FAMILIES[u % 5]
            };
            let kind = match i % 4 {
                0 => EngagementKind::View,
                1 => EngagementKind::Like,
                2 => EngagementKind::Share,
                _ => EngagementKind::QuickSkip,
            };
            let at = base_ms + (i as i64) * 60_000;
            out.push(EngagementEvent {
                event_id: uuid::Uuid::now_v7().to_string(),
                occurred_at: Some(prost_types::Timestamp {
                    seconds: at / 1000,
                    nanos: 0,
                }),
                user_id: format!("00000000-0000-7000-8000-{u:012}"),
                video_id: format!("00000000-0000-7000-9000-{:012}", i % 7 + 10 * (u % 5)),
                creator_id: format!("creator-{family}-{}", i % 3),
                sound_id: String::new(),
                kind: kind as i32,
                watch_ms: if kind == EngagementKind::View {
                    12_000
                } else {
                    0
                },
                video_duration_ms: 10_000,
                hashtags: vec![family.to_string()],
                category: family.to_string(),
                ..Default::default()
            });
        }
    }
    out
}

async fn produce(kafka: &KafkaConfig, events: &[EngagementEvent]) {
    let producer = Producer::new(kafka, "test").expect("producer");
    for e in events {
        producer
            .publish(
                topics::ENGAGEMENT,
                &e.user_id,
                "loop.events.v1.EngagementEvent",
                e,
            )
            .await
            .expect("produce");
    }
}

async fn states(redis: &RedisConfig, users: &[String]) -> HashMap<String, UserState> {
    let r = Redis::connect(redis).await.expect("redis");
    let mut out = HashMap::new();
    let mut conn = r.conn.clone();
    for u in users {
        let raw: Option<Vec<u8>> = redis::cmd("GET")
            .arg(state::state_key(&r, u))
            .query_async(&mut conn)
            .await
            .expect("get");
        if let Some(s) = UserState::decode_opt(raw) {
            out.insert(u.clone(), s);
        }
    }
    out
}

async fn applied_total(redis: &RedisConfig, users: &[String]) -> u64 {
    states(redis, users)
        .await
        .values()
        .map(|s| s.events_applied)
        .sum()
}

fn expected_counts(events: &[EngagementEvent]) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    for e in events {
        *m.entry(e.user_id.clone()).or_insert(0) += 1;
    }
    m
}

async fn start(
    config: Config,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(loop_feed_ranking::run(config, listener, shutdown.clone()));
    (shutdown, task)
}

#[tokio::test]
async fn replay_rebuilds_the_live_vectors_and_replaying_twice_changes_nothing() {
    use loop_platform::auth::Role;
    use loop_proto::events::v1::{GiftSent, WalletEvent, wallet_event};
    use loop_proto::feed_ranking::v1 as pb;
    use loop_proto::feed_ranking::v1::feed_ranking_service_client::FeedRankingServiceClient;

    let prefix = testing::unique("replay");
    let live = config(&prefix);
    loop_platform::kafka::ensure_topics(
        &live.kafka,
        &[topics::ENGAGEMENT, topics::CONTENT, topics::WALLET],
    )
    .await
    .expect("topics");
    let stream = events(10, 40);
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
    let total = stream.len() as u64 + users.len() as u64;
    testing::wait_for(
        "live consumer applied everything",
        Duration::from_secs(60),
        || {
            let (redis, users) = (live.redis.clone(), users.clone());
            async move { (applied_total(&redis, &users).await == total).then_some(()) }
        },
    )
    .await;
    shutdown.cancel();
    task.await.expect("join").expect("clean stop");
    let live_states = states(&live.redis, &users).await;

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
    let rebuilt = states(&target, &users).await;
    for u in &users {
        let (a, b) = (&live_states[u], &rebuilt[u]);
        let cos = embed::cosine(&a.vector, &b.vector);
        assert!(cos > 0.999, "user {u}: cosine {cos}");
        assert_eq!(a.events_applied, counts[u]);
        assert_eq!(b.events_applied, counts[u]);
    }

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
    let stream = events(20, 150);
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
    shutdown.cancel();
    task.await.expect("join").expect("clean stop");
    let after = states(&cfg.redis, &users).await;
    for u in &users {
        assert_eq!(
            after[u].events_applied, counts[u],
            "user {u}: applied count differs from produced"
        );
    }
    assert_eq!(applied_total(&cfg.redis, &users).await, total);
    testing::clear_redis(&cfg.redis).await;
}

#[tokio::test]
async fn redelivery_restores_suppressions_lost_in_a_crash_without_reapplying() {
    use loop_feed_ranking::learn::EngagementHandler;
    use loop_platform::kafka::{BatchHandler, Delivery};
    use loop_proto::events::v1::NotInterestedTarget;
    use prost::Message;

    let cfg = config(&testing::unique("redeliver"));
    let redis = Redis::connect(&cfg.redis).await.expect("redis");
    let handler = EngagementHandler {
        redis: redis.clone(),
        config: cfg.learning.clone(),
        catalog: None,
    };
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

fn video(id: &str, tag: &str) -> loop_proto::events::v1::VideoSnapshot {
    loop_proto::events::v1::VideoSnapshot {
        video_id: id.into(),
        creator_id: format!("creator-{id}"),
        hashtags: vec![tag.into()],
        category: tag.into(),
        servable: true,
        published_at: Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        ..Default::default()
    }
}

fn published(v: loop_proto::events::v1::VideoSnapshot) -> loop_proto::events::v1::ContentEvent {
    use loop_proto::events::v1::{ContentEvent, VideoPublished, content_event::Payload};
    ContentEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        occurred_at: v.published_at,
        payload: Some(Payload::VideoPublished(VideoPublished { video: Some(v) })),
    }
}

#[tokio::test]
async fn the_catalog_starts_from_the_snapshot_and_reads_the_topic_from_where_it_ends() {
    use loop_feed_ranking::{Catalog, catalog, snapshot};
    use std::sync::Arc;

    let cfg = config(&testing::unique("snapshot"));
    loop_platform::kafka::ensure_topics(&cfg.kafka, &[topics::CONTENT])
        .await
        .expect("topics");
    let redis = Redis::connect(&cfg.redis).await.expect("redis");
    let producer = Producer::new(&cfg.kafka, "test").expect("producer");
    // Covered by the snapshot (offset <= its offset): must not be re-read.
    let (partition, covered) = producer
        .publish(
            topics::CONTENT,
            "k",
            "loop.events.v1.ContentEvent",
            &published(video("v-covered", "old")),
        )
        .await
        .expect("produce");
    // In the snapshot only (as if the topic had lost it to retention).
    snapshot::put_videos(&redis, &[video("v-snap", "dance")])
        .await
        .expect("snapshot");
    let mut conn = redis.conn.clone();
    let _: () = redis::cmd("HSET")
        .arg(snapshot::offsets_key(&redis))
        .arg(partition)
        .arg(covered)
        .query_async(&mut conn)
        .await
        .expect("offsets");
    // After the snapshot: must be read from the topic.
    producer
        .publish(
            topics::CONTENT,
            "k",
            "loop.events.v1.ContentEvent",
            &published(video("v-after", "food")),
        )
        .await
        .expect("produce");

    let catalog = Arc::new(Catalog::new(cfg.learning.dim));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(catalog::follow_content(
        catalog.clone(),
        cfg.kafka.clone(),
        redis.clone(),
        shutdown.clone(),
    ));
    testing::wait_for("catalog ready", Duration::from_secs(30), || {
        let ready = catalog.is_ready();
        async move { ready.then_some(()) }
    })
    .await;
    assert!(catalog.get("v-snap").is_some(), "loaded from the snapshot");
    assert!(
        catalog.get("v-after").is_some(),
        "read from the topic after the snapshot"
    );
    assert!(
        catalog.get("v-covered").is_none(),
        "the snapshot's part of the topic is not re-read"
    );
    assert_eq!(catalog.len(), 2);
    shutdown.cancel();
    task.await.expect("join").expect("catalog");
    testing::clear_redis(&cfg.redis).await;
}

#[tokio::test]
async fn the_content_consumer_keeps_the_snapshot_current_with_its_offsets() {
    use loop_feed_ranking::snapshot;
    use loop_proto::events::v1::{ContentEvent, VideoRemoved, content_event::Payload};

    let cfg = config(&testing::unique("snapwrite"));
    loop_platform::kafka::ensure_topics(&cfg.kafka, &[topics::ENGAGEMENT, topics::CONTENT])
        .await
        .expect("topics");
    let producer = Producer::new(&cfg.kafka, "test").expect("producer");
    for (i, tag) in FAMILIES.iter().enumerate() {
        producer
            .publish(
                topics::CONTENT,
                &format!("k{i}"),
                "loop.events.v1.ContentEvent",
                &published(video(&format!("v{i}"), tag)),
            )
            .await
            .expect("produce");
    }
    let removed = ContentEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        occurred_at: None,
        payload: Some(Payload::VideoRemoved(VideoRemoved {
            video_id: "v0".into(),
            ..Default::default()
        })),
    };
    producer
        .publish(
            topics::CONTENT,
            "k0",
            "loop.events.v1.ContentEvent",
            &removed,
        )
        .await
        .expect("produce");
    let (shutdown, task) = start(cfg.clone()).await;
    let redis = Redis::connect(&cfg.redis).await.expect("redis");
    let loaded = testing::wait_for("snapshot written", Duration::from_secs(30), || {
        let redis = redis.clone();
        async move {
            let loaded = snapshot::load(&redis).await.ok()?;
            (loaded.videos.len() == FAMILIES.len() - 1 && loaded.offsets.values().sum::<i64>() >= 0)
                .then_some(loaded)
        }
    })
    .await;
    let mut ids: Vec<String> = loaded.videos.iter().map(|v| v.video_id.clone()).collect();
    ids.sort();
    assert_eq!(
        ids,
        ["v1", "v2", "v3", "v4"],
        "the removed video left the snapshot"
    );
    assert!(
        !loaded.offsets.is_empty(),
        "offsets are recorded with the data"
    );
    shutdown.cancel();
    task.await.expect("join").expect("ranker");
    testing::clear_redis(&cfg.redis).await;
}

#[tokio::test]
async fn replicas_pick_up_learned_video_vectors_from_the_log_and_reload_after_a_trim() {
    use loop_feed_ranking::learn::EngagementHandler;
    use loop_feed_ranking::{Catalog, learned};
    use loop_platform::kafka::{BatchHandler, Delivery};
    use prost::Message;

    let cfg = config(&testing::unique("learned"));
    let redis = Redis::connect(&cfg.redis).await.expect("redis");
    let handler = EngagementHandler {
        redis: redis.clone(),
        config: cfg.learning.clone(),
        catalog: None,
    };
    // Each round is a batch of one user's view, like and share; the video
    // learns toward the viewer, so its learned vector changes every round.
    let round = |n: i64| -> Vec<Delivery> {
        events(1, 3)
            .into_iter()
            .enumerate()
            .map(|(i, e)| Delivery {
                topic: "t.engagement.v1".into(),
                partition: 0,
                offset: n * 3 + i as i64,
                key: e.user_id.clone().into_bytes(),
                payload: e.encode_to_vec(),
                headers: Vec::new(),
                timestamp_ms: None,
            })
            .collect()
    };
    let liked = events(1, 3)[1].video_id.clone();
    let stored = || async {
        state::learned_vectors(&redis, std::slice::from_ref(&liked))
            .await
            .expect("read")
            .remove(0)
            .expect("the liked video has a learned vector")
    };
    let held = |catalog: &Catalog| -> Vec<f32> {
        catalog.learned_of(std::iter::once(liked.as_str()))[0]
            .clone()
            .expect("the replica holds the liked video's learned vector")
            .to_vec()
    };

    // A replica starting up loads everything.
    handler.handle(&round(0)).await.expect("apply");
    handler.handle(&round(1)).await.expect("apply");
    let catalog = Catalog::new(cfg.learning.dim);
    let cursor = learned::refresh_once(&catalog, &redis, None)
        .await
        .expect("full load");
    assert_eq!(held(&catalog), stored().await);

    // Then follows the log from where it was.
    let before = stored().await;
    handler.handle(&round(2)).await.expect("apply");
    assert_ne!(stored().await, before, "the round changed the vector");
    let next = learned::refresh_once(&catalog, &redis, Some(cursor.clone()))
        .await
        .expect("refresh");
    assert_ne!(next, cursor, "the cursor moved past the new entry");
    assert_eq!(held(&catalog), stored().await);
    let same = learned::refresh_once(&catalog, &redis, Some(next.clone()))
        .await
        .expect("refresh");
    assert_eq!(same, next, "nothing new: the cursor stays");

    // A replica whose cursor the log was trimmed past reloads in full.
    handler.handle(&round(3)).await.expect("apply");
    handler.handle(&round(4)).await.expect("apply");
    let mut conn = redis.conn.clone();
    let _: () = redis::cmd("XTRIM")
        .arg(state::learned_log_key(&redis))
        .arg("MAXLEN")
        .arg(1)
        .query_async(&mut conn)
        .await
        .expect("trim");
    learned::refresh_once(&catalog, &redis, Some(next))
        .await
        .expect("refresh after a trim");
    assert_eq!(held(&catalog), stored().await);
    testing::clear_redis(&cfg.redis).await;
}

#[tokio::test]
async fn a_video_vector_changed_since_it_was_read_gets_the_delta_added_not_overwritten() {
    let cfg = config(&testing::unique("vsum"));
    let redis = Redis::connect(&cfg.redis).await.expect("redis");
    let mut conn = redis.conn.clone();
    let key = state::learned_key(&redis, "v1");
    let script = redis::Script::new(state::APPLY_BATCH);
    // (what the caller read, what it computed: read + its delta)
    let apply = |read: Vec<f32>, sum: Vec<f32>| {
        let mut inv = script.prepare_invoke();
        inv.key(&key)
            .key(state::learned_log_key(&redis))
            .key(state::learned_set_key(&redis))
            .arg(0)
            .arg(1)
            .arg(0)
            .arg(state::f32s_to_bytes(&read))
            .arg(state::f32s_to_bytes(&sum))
            .arg("v1")
            .arg(state::LEARNED_LOG_ENTRIES);
        inv
    };
    let stored = || async {
        let mut conn = redis.conn.clone();
        let raw: Vec<u8> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("get");
        state::bytes_to_f32s(&raw)
    };
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(state::f32s_to_bytes(&[1.0, 2.0]))
        .query_async(&mut conn)
        .await
        .expect("set");
    // Read as it is: the caller's sum is stored.
    let conflict: i64 = apply(vec![1.0, 2.0], vec![1.5, 2.5])
        .invoke_async(&mut conn)
        .await
        .expect("apply");
    assert_eq!(conflict, 0);
    assert_eq!(stored().await, [1.5, 2.5]);
    // Another consumer wrote since the read: the delta goes on top of its
    // write instead of overwriting it with a stale sum.
    let conflict: i64 = apply(vec![1.0, 2.0], vec![1.25, 1.0])
        .invoke_async(&mut conn)
        .await
        .expect("apply");
    assert_eq!(conflict, 0);
    assert_eq!(stored().await, [1.75, 1.5]);
    // The caller read nothing (a new video) but another consumer created
    // the vector meanwhile: the caller's sum is its whole delta, added.
    let conflict: i64 = apply(Vec::new(), vec![0.5, 0.5])
        .invoke_async(&mut conn)
        .await
        .expect("apply");
    assert_eq!(conflict, 0);
    assert_eq!(stored().await, [2.25, 2.0]);
    testing::clear_redis(&cfg.redis).await;
}

#[tokio::test]
async fn strong_engagement_is_kept_in_the_user_state_for_ad_targeting() {
    use loop_feed_ranking::learn::EngagementHandler;
    use loop_platform::kafka::{BatchHandler, Delivery};
    use prost::Message;

    let cfg = config(&testing::unique("behav"));
    let redis = Redis::connect(&cfg.redis).await.expect("redis");
    let handler = EngagementHandler {
        redis: redis.clone(),
        config: cfg.learning.clone(),
        catalog: None,
    };
    // User 0: a full view, a like and a share of "dance" a minute apart,
    // then a quick skip of "pets".
    let evs = events(1, 4);
    let batch: Vec<Delivery> = evs
        .iter()
        .enumerate()
        .map(|(i, e)| Delivery {
            topic: "t.engagement.v1".into(),
            partition: 0,
            offset: i as i64,
            key: e.user_id.clone().into_bytes(),
            payload: e.encode_to_vec(),
            headers: Vec::new(),
            timestamp_ms: None,
        })
        .collect();
    handler.handle(&batch).await.expect("apply");
    let mut conn = redis.conn.clone();
    let raw: Option<Vec<u8>> = redis::cmd("GET")
        .arg(state::state_key(&redis, &evs[0].user_id))
        .query_async(&mut conn)
        .await
        .expect("get");
    let s = UserState::decode_opt(raw).expect("state");
    let got: Vec<_> = s.behaviors().collect();
    // The share is the last strong engagement; a skip is none.
    let share_ms = evs[2].occurred_at.as_ref().expect("time").seconds * 1000;
    assert_eq!(
        got,
        [
            (state::BehaviorKind::Category, "dance", share_ms),
            (state::BehaviorKind::Hashtag, "dance", share_ms)
        ]
    );
    testing::clear_redis(&cfg.redis).await;
}

#[tokio::test]
async fn refresh_resets_to_cold_but_a_redelivered_event_is_still_not_applied_again() {
    use loop_feed_ranking::learn::EngagementHandler;
    use loop_platform::auth::Role;
    use loop_platform::kafka::{BatchHandler, Delivery};
    use loop_proto::feed_ranking::v1 as pb;
    use loop_proto::feed_ranking::v1::feed_ranking_service_client::FeedRankingServiceClient;
    use prost::Message;

    let cfg = config(&testing::unique("refresh"));
    loop_platform::kafka::ensure_topics(&cfg.kafka, &[topics::ENGAGEMENT, topics::CONTENT])
        .await
        .expect("topics");
    let redis = Redis::connect(&cfg.redis).await.expect("redis");
    let handler = EngagementHandler {
        redis: redis.clone(),
        config: cfg.learning.clone(),
        catalog: None,
    };
    let mut event = events(1, 2).remove(1);
    event.kind = EngagementKind::Like as i32;
    let delivery = Delivery {
        topic: "t.engagement.v1".into(),
        partition: 0,
        offset: 3,
        key: event.user_id.clone().into_bytes(),
        payload: event.encode_to_vec(),
        headers: Vec::new(),
        timestamp_ms: None,
    };
    handler
        .handle(std::slice::from_ref(&delivery))
        .await
        .expect("apply");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(loop_feed_ranking::run(
        cfg.clone(),
        listener,
        shutdown.clone(),
    ));
    let mut client = FeedRankingServiceClient::new(
        loop_platform::grpc::channel(&format!("http://{addr}")).expect("channel"),
    );
    let token = loop_platform::testing::TestKeys.issue(
        &event.user_id,
        Role::Viewer,
        Duration::from_secs(600),
    );
    client
        .refresh_feed(loop_platform::grpc::request(
            pb::RefreshFeedRequest {},
            Some(&token),
            Duration::from_secs(5),
        ))
        .await
        .expect("refresh");
    let after_refresh = states(&cfg.redis, std::slice::from_ref(&event.user_id)).await;
    let s = &after_refresh[&event.user_id];
    assert_eq!(s.positive_events, 0, "cold again");
    assert!(s.vector.iter().all(|x| *x == 0.0), "vector reset");

    // The crash window: the same delivery arrives again after the refresh.
    handler
        .handle(std::slice::from_ref(&delivery))
        .await
        .expect("redelivery");
    let again = states(&cfg.redis, std::slice::from_ref(&event.user_id)).await;
    assert_eq!(again[&event.user_id], after_refresh[&event.user_id]);
    let feed = client
        .get_for_you_feed(loop_platform::grpc::request(
            pb::GetForYouFeedRequest::default(),
            Some(&token),
            Duration::from_secs(5),
        ))
        .await
        .expect("feed")
        .into_inner();
    assert!(feed.cold_start);
    shutdown.cancel();
    task.await.expect("join").expect("ranker");
    testing::clear_redis(&cfg.redis).await;
}
