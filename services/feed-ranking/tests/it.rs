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
    let prefix = testing::unique("replay");
    let live = config(&prefix);
    loop_platform::kafka::ensure_topics(&live.kafka, &[topics::ENGAGEMENT, topics::CONTENT])
        .await
        .expect("topics");
    let stream = events(10, 40);
    let counts = expected_counts(&stream);
    let users: Vec<String> = counts.keys().cloned().collect();
    produce(&live.kafka, &stream).await;

    let (shutdown, task) = start(live.clone()).await;
    let total = stream.len() as u64;
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
    assert_eq!(report.engagement_events, total);
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
    cfg.consumer.max_batch = 50;
    loop_platform::kafka::ensure_topics(&cfg.kafka, &[topics::ENGAGEMENT, topics::CONTENT])
        .await
        .expect("topics");
    let stream = events(20, 60);
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
