//! feed-ranking against real Redis and the broker: replay rebuilds the live
//! vectors, replaying twice changes nothing, and a hard crash mid-stream
//! neither loses nor double-applies an event.

#![allow(clippy::field_reassign_with_default)] // tests tweak a default config field by field

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use loop_feed_ranking::replay::{self, Start};
use loop_feed_ranking::state::{self, UserState};
use loop_feed_ranking::{Config, embed, rank};
use loop_platform::cache::Redis;
use loop_platform::config::{KafkaConfig, RedisConfig};
use loop_platform::kafka::{Producer, topics};
use loop_platform::testing;
use loop_proto::events::v1::{EngagementCredit, EngagementEvent, EngagementKind};
use tokio_util::sync::CancellationToken;

const FAMILIES: [&str; 5] = ["dance", "cooking", "travel", "pets", "gaming"];

fn config(prefix: &str) -> Config {
    let mut c = Config::default();
    c.redis = testing::redis_config(prefix);
    c.kafka = testing::kafka_config(prefix);
    c.consumer.group_id = format!("{prefix}-ranker");
    // A short window and history, so the streams' videos leave both and
    // co-engagement counts come and go (a replay must count the same).
    c.learning.co_window = 3;
    c.learning.co_history = 5;
    c
}

/// Features a served item carried (`FeedItem.features`, via the serve
/// token): deterministic, so labels teach the ranking model something.
fn served_features(u: usize, i: usize, engaged: bool) -> Vec<f32> {
    let co = if engaged { 0.6 } else { 0.1 } + (u % 3) as f32 * 0.1;
    let trending = ((u + i) % 4) as f32 * 0.25;
    vec![0.3, co, trending, 0.0, 0.0, 0.0, 0.3 + co + 0.15 * trending]
}

/// A deterministic stream: user u mostly engages with family u % 5.
fn events(users: usize, per_user: usize) -> Vec<EngagementEvent> {
    stream(users, per_user, false)
}

/// [`events`] where every other event is preceded by two impressions
/// served with features: of its video (labelled by the event) and of
/// another one nobody engages with (labelled negative once it waited 30
/// minutes), so the ranking model learns.
fn served_events(users: usize, per_user: usize) -> Vec<EngagementEvent> {
    stream(users, per_user, true)
}

fn stream(users: usize, per_user: usize, impressions: bool) -> Vec<EngagementEvent> {
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
            let video = format!("00000000-0000-7000-9000-{:012}", i % 7 + 10 * (u % 5));
            if impressions && i % 2 == 0 {
                let ignored = format!("00000000-0000-7000-9000-{:012}", 100 + i);
                for (shown, engaged) in [
                    (&video, kind != EngagementKind::QuickSkip),
                    (&ignored, false),
                ] {
                    out.push(EngagementEvent {
                        event_id: uuid::Uuid::now_v7().to_string(),
                        occurred_at: Some(prost_types::Timestamp {
                            seconds: at / 1000 - 1,
                            nanos: 0,
                        }),
                        accepted_at: Some(prost_types::Timestamp {
                            seconds: at / 1000 - 1,
                            nanos: 0,
                        }),
                        user_id: format!("00000000-0000-7000-8000-{u:012}"),
                        video_id: shown.clone(),
                        creator_id: format!("creator-{family}-{}", i % 3),
                        kind: EngagementKind::Impression as i32,
                        video_duration_ms: 10_000,
                        hashtags: vec![family.to_string()],
                        category: family.to_string(),
                        served_features: served_features(u, i, engaged),
                        credit: EngagementCredit::Counted as i32,
                        ..Default::default()
                    });
                }
            }
            out.push(EngagementEvent {
                event_id: uuid::Uuid::now_v7().to_string(),
                occurred_at: Some(prost_types::Timestamp {
                    seconds: at / 1000,
                    nanos: 0,
                }),
                accepted_at: Some(prost_types::Timestamp {
                    seconds: at / 1000,
                    nanos: 0,
                }),
                user_id: format!("00000000-0000-7000-8000-{u:012}"),
                video_id: video,
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

/// Every co-engagement and audience counter under the prefix (key without
/// the prefix -> members with their counts, sorted).
async fn counters(redis: &RedisConfig) -> BTreeMap<String, Vec<(String, f64)>> {
    let r = Redis::connect(redis).await.expect("redis");
    let mut conn = r.conn.clone();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}v:*:co", r.prefix))
        .query_async(&mut conn)
        .await
        .expect("keys");
    keys.push(state::engaged_key(&r));
    let mut out = BTreeMap::new();
    // The ranking models, every number of them (exactly: the same labels
    // in the same order give the same bits).
    let models: HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
        .arg(state::rank_model_key(&r))
        .query_async(&mut conn)
        .await
        .expect("hgetall");
    let mut fields: Vec<&String> = models.keys().collect();
    fields.sort();
    for field in fields {
        let m = rank::Model::decode(&models[field]).expect("a model");
        let mut numbers = vec![
            ("examples".to_owned(), m.examples as f64),
            ("positives".to_owned(), m.positives as f64),
            ("bias".to_owned(), m.bias),
        ];
        for (i, d) in m.delta.iter().chain(&m.squares).chain(&m.means).enumerate() {
            numbers.push((format!("w{i}"), *d));
        }
        out.insert(format!("rank:model:{field}"), numbers);
    }
    for key in keys {
        let mut members: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await
            .expect("zrange");
        members.sort_by(|a, b| a.0.cmp(&b.0));
        out.insert(key[r.prefix.len()..].to_owned(), members);
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

/// Events the co-engagement consumer applied (its own per-user states).
async fn co_applied_total(redis: &RedisConfig, users: &[String]) -> u64 {
    let r = Redis::connect(redis).await.expect("redis");
    let mut conn = r.conn.clone();
    let keys: Vec<String> = users.iter().map(|u| state::co_state_key(&r, u)).collect();
    let raw: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
        .arg(keys)
        .query_async(&mut conn)
        .await
        .expect("mget");
    raw.into_iter()
        .filter_map(UserState::decode_opt)
        .map(|s| s.events_applied)
        .sum()
}

/// Per user, the videos their co-engagement history holds now.
async fn co_histories(redis: &RedisConfig, users: &[String]) -> HashMap<String, usize> {
    let r = Redis::connect(redis).await.expect("redis");
    let mut conn = r.conn.clone();
    let keys: Vec<String> = users.iter().map(|u| state::co_state_key(&r, u)).collect();
    let raw: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
        .arg(keys)
        .query_async(&mut conn)
        .await
        .expect("mget");
    users
        .iter()
        .zip(raw)
        .map(|(u, s)| {
            let n = UserState::decode_opt(s).map_or(0, |s| s.recent_videos(usize::MAX).len());
            (u.clone(), n)
        })
        .collect()
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

mod catalog;
mod learning;
mod ranking;
mod user_state;
