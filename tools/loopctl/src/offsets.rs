//! `loopctl offsets`: a consumer group's committed offsets and lag, and
//! resetting them (with the group's consumers stopped).

use std::time::Duration;

use loop_platform::config::KafkaConfig;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

/// One partition of a group's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub topic: String,
    pub partition: i32,
    /// None when the group has committed nothing there.
    pub committed: Option<i64>,
    pub high_watermark: i64,
    pub lag: i64,
}

fn partitions(consumer: &impl Consumer, topic: &str) -> anyhow::Result<Vec<i32>> {
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let ids: Vec<i32> = md
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if ids.is_empty() {
        anyhow::bail!("topic {topic} does not exist");
    }
    Ok(ids)
}

/// The group's committed offset, high watermark and lag per partition of `logical`.
pub fn show(kafka: &KafkaConfig, group: &str, logical: &str) -> anyhow::Result<Vec<Position>> {
    let topic = kafka.topic(logical);
    let consumer = loop_platform::kafka::consumer(kafka, group, "earliest")?;
    let mut tpl = TopicPartitionList::new();
    for p in partitions(&consumer, &topic)? {
        tpl.add_partition(&topic, p);
    }
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(10))?;
    let mut out = Vec::new();
    for e in committed.elements() {
        let (low, high) =
            consumer.fetch_watermarks(&topic, e.partition(), Duration::from_secs(10))?;
        let committed = match e.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        };
        out.push(Position {
            topic: topic.clone(),
            partition: e.partition(),
            committed,
            high_watermark: high,
            lag: high - committed.unwrap_or(low),
        });
    }
    out.sort_by_key(|p| p.partition);
    Ok(out)
}

/// Where to move a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    Earliest,
    Latest,
    TimeMs(i64),
}

pub fn parse_reset(value: &str) -> anyhow::Result<ResetTo> {
    match value {
        "earliest" => Ok(ResetTo::Earliest),
        "latest" => Ok(ResetTo::Latest),
        v => match v.strip_prefix("time:") {
            Some(t) => Ok(ResetTo::TimeMs(
                chrono::DateTime::parse_from_rfc3339(t)?.timestamp_millis(),
            )),
            None => anyhow::bail!("--to must be earliest, latest or time:<RFC 3339>, got {v:?}"),
        },
    }
}

/// Commits new offsets for `group` on every partition of `logical`. The
/// group's consumers must be stopped (the broker rejects commits from a
/// non-member while the group is active). Returns the new positions.
pub fn reset(
    kafka: &KafkaConfig,
    group: &str,
    logical: &str,
    to: ResetTo,
) -> anyhow::Result<Vec<Position>> {
    let topic = kafka.topic(logical);
    let consumer = loop_platform::kafka::consumer(kafka, group, "earliest")?;
    let timeout = Duration::from_secs(10);
    let ids = partitions(&consumer, &topic)?;
    let mut tpl = TopicPartitionList::new();
    let by_time = if let ResetTo::TimeMs(ms) = to {
        let mut q = TopicPartitionList::new();
        for p in &ids {
            q.add_partition_offset(&topic, *p, Offset::Offset(ms))?;
        }
        Some(consumer.offsets_for_times(q, timeout)?)
    } else {
        None
    };
    for p in ids {
        let (low, high) = consumer.fetch_watermarks(&topic, p, timeout)?;
        let offset = match to {
            ResetTo::Earliest => low,
            ResetTo::Latest => high,
            ResetTo::TimeMs(_) => match by_time
                .as_ref()
                .and_then(|t| t.find_partition(&topic, p))
                .map(|e| e.offset())
            {
                Some(Offset::Offset(o)) => o,
                _ => high,
            },
        };
        tpl.add_partition_offset(&topic, p, Offset::Offset(offset))?;
    }
    consumer
        .commit(&tpl, CommitMode::Sync)
        .map_err(|e| anyhow::anyhow!("commit refused ({e}); stop the group's consumers first"))?;
    show(kafka, group, logical)
}
