//! `loopctl replay`: re-read a topic over a range and republish it, rebuild
//! the ranker's state into a fresh Redis prefix (then optionally swap), or
//! just count (dry run).

use loop_feed_ranking::replay::{self, PartitionRange, Start};
use loop_platform::cache::Redis;
use loop_platform::config::{KafkaConfig, RedisConfig, Secret};
use loop_platform::kafka::{BatchHandler, Delivery, Producer};

/// What one replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub ranges: Vec<PartitionRange>,
    pub messages: u64,
}

/// The per-partition ranges of `logical` topic from `start`.
pub async fn plan(
    kafka: &KafkaConfig,
    logical: &str,
    start: Start,
) -> anyhow::Result<Vec<PartitionRange>> {
    let consumer = loop_platform::kafka::consumer(
        kafka,
        &format!("loopctl-plan-{}", uuid::Uuid::new_v4().simple()),
        "earliest",
    )?;
    replay::plan(&consumer, &kafka.topic(logical), start).await
}

struct Republisher {
    producer: Producer,
    target: String,
}

impl BatchHandler for Republisher {
    async fn handle(&self, batch: &[Delivery]) -> anyhow::Result<Vec<(usize, String)>> {
        let sends = batch.iter().map(|d| {
            let mut headers = d.headers.clone();
            headers.push((
                "replayed-from".into(),
                format!("{}/{}/{}", d.topic, d.partition, d.offset),
            ));
            let target = self.target.clone();
            async move {
                self.producer
                    .send_raw(&target, &d.key, &d.payload, &headers)
                    .await
            }
        });
        // Queued in order; the idempotent producer keeps per-partition order.
        for result in futures::future::join_all(sends).await {
            result?;
        }
        Ok(Vec::new())
    }
}

/// Copies `source` (logical) over the range from `start` to `target` (logical),
/// keeping keys, payloads and headers (plus `replayed-from`).
pub async fn republish(
    kafka: &KafkaConfig,
    source: &str,
    target: &str,
    start: Start,
    show: bool,
) -> anyhow::Result<Outcome> {
    loop_platform::kafka::ensure_topics(kafka, &[target]).await?;
    let ranges = plan(kafka, source, start).await?;
    let total: i64 = ranges.iter().map(|r| r.end - r.start).sum();
    let bar = show.then(|| {
        crate::progress(
            u64::try_from(total).unwrap_or(0),
            &format!("republishing {source} -> {target}"),
        )
    });
    let handler = Republisher {
        producer: Producer::new(kafka, "loopctl-replay")?,
        target: kafka.topic(target),
    };
    let (messages, _) = replay::replay_topic(
        kafka,
        &kafka.topic(source),
        &ranges,
        &handler,
        500,
        &|done, _| {
            if let Some(b) = &bar {
                b.set_position(done);
            }
        },
    )
    .await?;
    if let Some(b) = bar {
        b.finish();
    }
    Ok(Outcome { ranges, messages })
}

/// Rebuilds the ranker's state into `target_prefix` from `start`; with
/// `swap`, points the ranker at it (replicas use it from their next start).
pub async fn rebuild(
    kafka: &KafkaConfig,
    redis_url: &str,
    base_prefix: &str,
    target_prefix: &str,
    start: Start,
    swap: bool,
    show: bool,
) -> anyhow::Result<loop_feed_ranking::replay::RebuildReport> {
    if target_prefix == base_prefix {
        anyhow::bail!(
            "--target-prefix must differ from the live prefix {base_prefix:?}: rebuild into a fresh one, then --swap"
        );
    }
    let base = Redis::connect(&RedisConfig {
        url: Secret::new(redis_url.to_owned()),
        key_prefix: base_prefix.to_owned(),
        ..RedisConfig::default()
    })
    .await?;
    let target = base.with_prefix(target_prefix);
    let bars =
        std::sync::Mutex::new(std::collections::HashMap::<String, indicatif::ProgressBar>::new());
    let report = replay::rebuild(
        kafka,
        target,
        loop_feed_ranking::LearningConfig::default(),
        start,
        &|topic, done, total| {
            if !show {
                return;
            }
            if let Ok(mut bars) = bars.lock() {
                let bar = bars
                    .entry(topic.to_owned())
                    .or_insert_with(|| crate::progress(total, &format!("rebuilding from {topic}")));
                bar.set_position(done);
                if done >= total {
                    bar.finish();
                }
            }
        },
    )
    .await?;
    if swap {
        let mut conn = base.conn.clone();
        let _: () = redis::cmd("SET")
            .arg(loop_feed_ranking::live_prefix_key(&base))
            .arg(target_prefix)
            .query_async(&mut conn)
            .await?;
    }
    Ok(report)
}
