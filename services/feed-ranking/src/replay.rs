//! Replaying topics: rebuild the ranker's state into a fresh Redis prefix
//! with the same handlers the live consumers use. A replay reads each
//! partition from a start point up to the high watermark taken when it
//! starts, so it ends; applying is idempotent (per-partition high-water
//! offsets), so replaying a range twice changes nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use loop_platform::cache::Redis;
use loop_platform::config::KafkaConfig;
use loop_platform::kafka::{BatchHandler, Delivery, topics};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::catalog::Catalog;
use crate::learn::{EngagementHandler, LearningConfig};
use crate::social::ContentStateHandler;

/// Where a replay starts in each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Beginning,
    /// The same offset in every partition (clamped to what the broker still has).
    Offset(i64),
    /// The first message at or after this time (ms since the epoch).
    TimeMs(i64),
}

/// One partition's replay range: `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRange {
    pub partition: i32,
    pub start: i64,
    pub end: i64,
}

/// The ranges a replay of `topic` (full name) would read.
pub async fn plan(
    consumer: &StreamConsumer,
    topic: &str,
    start: Start,
) -> anyhow::Result<Vec<PartitionRange>> {
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        anyhow::bail!("topic {topic} does not exist");
    }
    let by_time = if let Start::TimeMs(ms) = start {
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition_offset(topic, *p, Offset::Offset(ms))?;
        }
        let found = consumer.offsets_for_times(tpl, timeout)?;
        found
            .elements()
            .iter()
            .map(|e| (e.partition(), e.offset()))
            .collect::<HashMap<_, _>>()
    } else {
        HashMap::new()
    };
    let mut ranges = Vec::new();
    for p in partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, timeout)?;
        let from = match start {
            Start::Beginning => low,
            Start::Offset(o) => o.max(low),
            Start::TimeMs(_) => match by_time.get(&p) {
                Some(Offset::Offset(o)) => *o,
                _ => high, // nothing at or after that time
            },
        };
        ranges.push(PartitionRange {
            partition: p,
            start: from.min(high),
            end: high,
        });
    }
    Ok(ranges)
}

/// Reads `topic` (full name) over `ranges` in batches of `batch_size`, calling
/// `handler` on each batch and `progress(done, total)` after it. Returns
/// (messages read, poison messages skipped).
pub async fn replay_topic<H: BatchHandler>(
    kafka: &KafkaConfig,
    topic: &str,
    ranges: &[PartitionRange],
    handler: &H,
    batch_size: usize,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> anyhow::Result<(u64, u64)> {
    let total: i64 = ranges.iter().map(|r| r.end - r.start).sum();
    let total = u64::try_from(total).unwrap_or(0);
    if total == 0 {
        progress(0, 0);
        return Ok((0, 0));
    }
    let consumer = loop_platform::kafka::consumer(
        kafka,
        &format!("loop-replay-{}", uuid::Uuid::new_v4().simple()),
        "earliest",
    )?;
    let mut tpl = TopicPartitionList::new();
    let mut remaining: HashMap<i32, i64> = HashMap::new();
    for r in ranges.iter().filter(|r| r.end > r.start) {
        tpl.add_partition_offset(topic, r.partition, Offset::Offset(r.start))?;
        remaining.insert(r.partition, r.end);
    }
    consumer.assign(&tpl)?;
    let (mut done, mut poisoned) = (0u64, 0u64);
    let mut batch: Vec<Delivery> = Vec::with_capacity(batch_size);
    while !remaining.is_empty() || !batch.is_empty() {
        let flush = batch.len() >= batch_size || remaining.is_empty();
        if !flush {
            let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
                .await
                .map_err(|_| {
                    anyhow::anyhow!(
                        "no message from {topic} for 30 s; partitions left: {remaining:?}"
                    )
                })??;
            let d = Delivery::from_message(&message);
            if let Some(end) = remaining.get(&d.partition).copied() {
                if d.offset < end {
                    batch.push(d.clone());
                }
                if d.offset + 1 >= end {
                    remaining.remove(&d.partition);
                }
            }
            continue;
        }
        let poison = handler.handle(&batch).await?;
        for (index, reason) in &poison {
            if let Some(d) = batch.get(*index) {
                tracing::warn!(
                    partition = d.partition,
                    offset = d.offset,
                    reason,
                    "poison message skipped by replay"
                );
            }
        }
        poisoned += poison.len() as u64;
        done += batch.len() as u64;
        progress(done, total);
        batch.clear();
    }
    Ok((done, poisoned))
}

/// Two handlers applied to each batch in turn (the second when present);
/// a message either refuses is poison once.
struct Both<A, B>(A, Option<B>);

impl<A: BatchHandler, B: BatchHandler> BatchHandler for Both<A, B> {
    async fn handle(&self, batch: &[Delivery]) -> anyhow::Result<Vec<(usize, String)>> {
        let mut poison = self.0.handle(batch).await?;
        if let Some(second) = &self.1 {
            for (i, reason) in second.handle(batch).await? {
                if !poison.iter().any(|(p, _)| *p == i) {
                    poison.push((i, reason));
                }
            }
        }
        Ok(poison)
    }
}

/// What a rebuild read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebuildReport {
    pub content_events: u64,
    pub engagement_events: u64,
    /// `wallet.v1` events read (gifts are applied as engagement).
    pub wallet_events: u64,
    /// `commerce.v1` events read (purchases from a video or LIVE are
    /// applied as engagement).
    pub commerce_events: u64,
    pub poison: u64,
}

/// Rebuilds ranker state into `target` (a Redis handle whose prefix is the
/// fresh one): profiles, follows and the catalog snapshot from `content.v1`,
/// then vectors, video learning and trending from `engagement.v1`, the
/// gifts of `wallet.v1` and the purchases from a video or LIVE of
/// `commerce.v1` (a gifted or shopped video's features come from the
/// rebuilt catalog, as they do live), each from `start`.
pub async fn rebuild(
    kafka: &KafkaConfig,
    target: Redis,
    learning: LearningConfig,
    start: Start,
    progress: &(dyn Fn(&str, u64, u64) + Sync),
) -> anyhow::Result<RebuildReport> {
    let planner = loop_platform::kafka::consumer(
        kafka,
        &format!("loop-replay-plan-{}", uuid::Uuid::new_v4().simple()),
        "earliest",
    )?;
    let content_topic = kafka.topic(topics::CONTENT);
    let engagement_topic = kafka.topic(topics::ENGAGEMENT);
    let wallet_topic = kafka.topic(topics::WALLET);
    let content_ranges = plan(&planner, &content_topic, start).await?;
    let engagement_ranges = plan(&planner, &engagement_topic, start).await?;
    // A platform without a wallet has no wallet.v1 yet: nothing to replay.
    let wallet_ranges = plan(&planner, &wallet_topic, start)
        .await
        .unwrap_or_default();
    // Nor one without the shop a commerce.v1.
    let commerce_topic = kafka.topic(topics::COMMERCE);
    let commerce_ranges = plan(&planner, &commerce_topic, start)
        .await
        .unwrap_or_default();

    let social = ContentStateHandler {
        redis: target.clone(),
    };
    let (content_events, p1) = replay_topic(
        kafka,
        &content_topic,
        &content_ranges,
        &social,
        1000,
        &|d, t| progress(topics::CONTENT, d, t),
    )
    .await?;
    let catalog = Arc::new(Catalog::new(learning.dim));
    let loaded = crate::snapshot::load(&target).await?;
    {
        let catalog = catalog.clone();
        tokio::task::spawn_blocking(move || catalog.upsert_many(&loaded.videos)).await?;
    }
    let co = (learning.co_window > 0)
        .then(|| EngagementHandler::co_engagement(target.clone(), learning.clone()));
    let learner = EngagementHandler::new(target, learning, Some(catalog));
    // Both engagement groups' handlers, on each batch in turn: one read.
    let both = Both(learner.clone(), co);
    let (engagement_events, p2) = replay_topic(
        kafka,
        &engagement_topic,
        &engagement_ranges,
        &both,
        1000,
        &|d, t| progress(topics::ENGAGEMENT, d, t),
    )
    .await?;
    let (wallet_events, p3) = replay_topic(
        kafka,
        &wallet_topic,
        &wallet_ranges,
        &learner,
        1000,
        &|d, t| progress(topics::WALLET, d, t),
    )
    .await?;
    let (commerce_events, p4) = replay_topic(
        kafka,
        &commerce_topic,
        &commerce_ranges,
        &learner,
        1000,
        &|d, t| progress(topics::COMMERCE, d, t),
    )
    .await?;
    Ok(RebuildReport {
        content_events,
        engagement_events,
        wallet_events,
        commerce_events,
        poison: p1 + p2 + p3 + p4,
    })
}
