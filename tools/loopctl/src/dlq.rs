//! `loopctl dlq`: list dead-lettered messages with their errors, and re-drive
//! them to their original topic after a fix. A re-drive cursor (the committed
//! offsets of a consumer group on the `.dlq` topic) makes each dead letter
//! re-driven at most once, whatever the retries.

use std::collections::HashMap;
use std::time::Duration;

use loop_platform::config::KafkaConfig;
use loop_platform::kafka::{self, Delivery, Producer};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};

/// A dead letter as shown to operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub partition: i32,
    pub offset: i64,
    pub error: String,
    pub original_topic: String,
    pub original_partition: String,
    pub original_offset: String,
    pub key: String,
    pub payload_bytes: usize,
    /// Already re-driven (before the re-drive cursor).
    pub redriven: bool,
}

/// The cursor group that remembers what was re-driven.
pub fn redrive_group(logical: &str) -> String {
    format!("loopctl-dlq-redrive-{logical}")
}

struct Snapshot {
    consumer: StreamConsumer,
    dlq: String,
    messages: Vec<Delivery>,
    /// Per partition: the first offset not yet re-driven.
    cursor: HashMap<i32, i64>,
}

/// Everything on `<logical>.dlq` now, and the re-drive cursor.
async fn snapshot(kafka: &KafkaConfig, logical: &str) -> anyhow::Result<Snapshot> {
    let dlq = kafka::dlq_topic(&kafka.topic(logical));
    let consumer = kafka::consumer(kafka, &redrive_group(logical), "earliest")?;
    let timeout = Duration::from_secs(10);
    let md = consumer.fetch_metadata(Some(&dlq), timeout)?;
    let ids: Vec<i32> = md
        .topics()
        .iter()
        .filter(|t| t.name() == dlq)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if ids.is_empty() {
        anyhow::bail!("topic {dlq} does not exist");
    }
    let mut query = TopicPartitionList::new();
    for p in &ids {
        query.add_partition(&dlq, *p);
    }
    let committed = consumer.committed_offsets(query, timeout)?;
    let mut cursor = HashMap::new();
    let mut assign = TopicPartitionList::new();
    let mut remaining = HashMap::new();
    for p in ids {
        let (low, high) = consumer.fetch_watermarks(&dlq, p, timeout)?;
        let done = match committed.find_partition(&dlq, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o.max(low),
            _ => low,
        };
        cursor.insert(p, done);
        if high > low {
            assign.add_partition_offset(&dlq, p, Offset::Offset(low))?;
            remaining.insert(p, high);
        }
    }
    let mut messages = Vec::new();
    if !remaining.is_empty() {
        consumer.assign(&assign)?;
        while !remaining.is_empty() {
            let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
                .await
                .map_err(|_| {
                    anyhow::anyhow!("timed out reading {dlq}; partitions left: {remaining:?}")
                })??;
            let d = Delivery::from_message(&m);
            if let Some(end) = remaining.get(&d.partition).copied() {
                if d.offset + 1 >= end {
                    remaining.remove(&d.partition);
                }
                messages.push(d);
            }
        }
    }
    Ok(Snapshot {
        consumer,
        dlq,
        messages,
        cursor,
    })
}

fn describe(d: &Delivery, cursor: &HashMap<i32, i64>) -> DeadLetter {
    let h = |name: &str| d.header(name).unwrap_or_default().to_owned();
    DeadLetter {
        partition: d.partition,
        offset: d.offset,
        error: h(kafka::DLQ_ERROR_HEADER),
        original_topic: h(kafka::DLQ_TOPIC_HEADER),
        original_partition: h(kafka::DLQ_PARTITION_HEADER),
        original_offset: h(kafka::DLQ_OFFSET_HEADER),
        key: String::from_utf8_lossy(&d.key).into_owned(),
        payload_bytes: d.payload.len(),
        redriven: cursor.get(&d.partition).is_some_and(|c| d.offset < *c),
    }
}

/// Every dead letter of `logical` (oldest first per partition).
pub async fn list(kafka: &KafkaConfig, logical: &str) -> anyhow::Result<Vec<DeadLetter>> {
    let snap = snapshot(kafka, logical).await?;
    Ok(snap
        .messages
        .iter()
        .map(|d| describe(d, &snap.cursor))
        .collect())
}

/// Re-publishes every dead letter not yet re-driven to its original topic
/// (same key, payload and headers, minus the dead-letter ones, plus
/// `dlq-redriven-from`), then advances the cursor. Returns how many.
pub async fn redrive(kafka: &KafkaConfig, logical: &str) -> anyhow::Result<usize> {
    let snap = snapshot(kafka, logical).await?;
    let producer = Producer::new(kafka, "loopctl-dlq")?;
    let pending: Vec<&Delivery> = snap
        .messages
        .iter()
        .filter(|d| !describe(d, &snap.cursor).redriven)
        .collect();
    let mut next: HashMap<i32, i64> = HashMap::new();
    for d in &pending {
        let target = d
            .header(kafka::DLQ_TOPIC_HEADER)
            .map(str::to_owned)
            .unwrap_or_else(|| kafka.topic(logical));
        let mut headers: Vec<(String, String)> = d
            .headers
            .iter()
            .filter(|(k, _)| !k.starts_with("dlq-"))
            .cloned()
            .collect();
        headers.push((
            "dlq-redriven-from".into(),
            format!("{}/{}/{}", snap.dlq, d.partition, d.offset),
        ));
        producer
            .send_raw(&target, &d.key, &d.payload, &headers)
            .await?;
        let e = next.entry(d.partition).or_insert(0);
        *e = (*e).max(d.offset + 1);
        // Commit as we go, so an interrupted re-drive does not repeat what it did.
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&snap.dlq, d.partition, Offset::Offset(d.offset + 1))?;
        snap.consumer.commit(&tpl, CommitMode::Sync)?;
    }
    Ok(pending.len())
}
