//! loopctl against the real broker: offsets, dead letters, replay.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use loop_feed_ranking::replay::Start;
use loop_platform::kafka::{self, BatchHandler, ConsumerOptions, Delivery, Producer};
use loop_platform::testing;
use loopctl::{dlq, offsets, replay};
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "ops.v1";

async fn setup(name: &str) -> (loop_platform::config::KafkaConfig, Producer) {
    let kafka = testing::kafka_config(&testing::unique(name));
    kafka::ensure_topics(&kafka, &[TOPIC])
        .await
        .expect("topics");
    let producer = Producer::new(&kafka, "ops-test").expect("producer");
    (kafka, producer)
}

async fn produce(producer: &Producer, n: usize, value: &str) {
    for i in 0..n {
        producer
            .send_raw(
                &producer.config().topic(TOPIC),
                format!("k{}", i % 3).as_bytes(),
                value.as_bytes(),
                &[],
            )
            .await
            .expect("produce");
    }
}

/// Counts what it sees; "poison" payloads are dead-lettered.
#[derive(Clone, Default)]
struct Counter(Arc<Mutex<Vec<String>>>);

impl BatchHandler for Counter {
    async fn handle(&self, batch: &[Delivery]) -> anyhow::Result<Vec<(usize, String)>> {
        let mut poison = Vec::new();
        let mut seen = self.0.lock().map_err(|_| anyhow::anyhow!("lock"))?;
        for (i, d) in batch.iter().enumerate() {
            let v = String::from_utf8_lossy(&d.payload).into_owned();
            if v == "poison" && d.header("dlq-redriven-from").is_none() {
                poison.push((i, "bad payload".into()));
            } else {
                seen.push(v);
            }
        }
        Ok(poison)
    }
}

impl Counter {
    fn len(&self) -> usize {
        self.0.lock().map(|v| v.len()).unwrap_or(0)
    }
}

async fn consume_until(
    kafka: &loop_platform::config::KafkaConfig,
    group: &str,
    counter: &Counter,
    want: usize,
    producer: &Producer,
) {
    let stop = CancellationToken::new();
    let task = tokio::spawn(kafka::run_consumer(
        kafka.clone(),
        ConsumerOptions::new(group, &[TOPIC]),
        producer.clone(),
        counter.clone(),
        stop.clone(),
    ));
    testing::wait_for("consumer caught up", Duration::from_secs(30), || {
        let c = counter.clone();
        async move { (c.len() >= want).then_some(()) }
    })
    .await;
    stop.cancel();
    task.await.expect("join").expect("consumer");
}

#[tokio::test]
async fn offsets_show_lag_and_reset_to_earliest_and_latest() {
    let (kafka, producer) = setup("offsets").await;
    produce(&producer, 12, "m").await;
    let group = testing::unique("group");
    let counter = Counter::default();
    consume_until(&kafka, &group, &counter, 12, &producer).await;

    let shown = offsets::show(&kafka, &group, TOPIC).expect("show");
    assert_eq!(shown.iter().map(|p| p.lag).sum::<i64>(), 0, "{shown:?}");
    assert_eq!(shown.iter().map(|p| p.high_watermark).sum::<i64>(), 12);

    let reset = offsets::reset(&kafka, &group, TOPIC, offsets::ResetTo::Earliest).expect("reset");
    assert_eq!(reset.iter().map(|p| p.lag).sum::<i64>(), 12, "{reset:?}");
    // The group really re-reads everything from the new position.
    let again = Counter::default();
    consume_until(&kafka, &group, &again, 12, &producer).await;
    assert_eq!(again.len(), 12);

    let latest =
        offsets::reset(&kafka, &group, TOPIC, offsets::ResetTo::Latest).expect("reset latest");
    assert_eq!(latest.iter().map(|p| p.lag).sum::<i64>(), 0);
    assert!(offsets::parse_reset("yesterday").is_err());
}

#[tokio::test]
async fn dead_letters_are_listed_and_redriven_once() {
    let (kafka, producer) = setup("dlq").await;
    produce(&producer, 2, "fine").await;
    produce(&producer, 1, "poison").await;
    let group = testing::unique("g");
    let counter = Counter::default();
    consume_until(&kafka, &group, &counter, 2, &producer).await;

    let letters = testing::wait_for("dead letter visible", Duration::from_secs(30), || {
        let kafka = kafka.clone();
        async move {
            dlq::list(&kafka, TOPIC)
                .await
                .ok()
                .filter(|l| !l.is_empty())
        }
    })
    .await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].error, "bad payload");
    assert_eq!(letters[0].original_topic, kafka.topic(TOPIC));
    assert!(!letters[0].redriven);

    assert_eq!(dlq::redrive(&kafka, TOPIC).await.expect("redrive"), 1);
    assert_eq!(
        dlq::redrive(&kafka, TOPIC).await.expect("redrive again"),
        0,
        "re-driven once only"
    );
    assert!(dlq::list(&kafka, TOPIC).await.expect("list")[0].redriven);
    // The fixed consumer now processes the re-driven message.
    consume_until(&kafka, &group, &counter, 3, &producer).await;
    assert!(
        counter
            .0
            .lock()
            .expect("lock")
            .contains(&"poison".to_string())
    );
}

#[tokio::test]
async fn replay_counts_ranges_and_republishes_them() {
    let (kafka, producer) = setup("replay").await;
    produce(&producer, 9, "first").await;
    let ranges = replay::plan(&kafka, TOPIC, Start::Beginning)
        .await
        .expect("plan");
    assert_eq!(ranges.iter().map(|r| r.end - r.start).sum::<i64>(), 9);
    let from_offset = replay::plan(&kafka, TOPIC, Start::Offset(2))
        .await
        .expect("plan");
    assert!(from_offset.iter().all(|r| r.start >= 2 || r.start == r.end));

    let outcome = replay::republish(&kafka, TOPIC, "ops.copy.v1", Start::Beginning, false)
        .await
        .expect("republish");
    assert_eq!(outcome.messages, 9);
    let copied = testing::read_all(&kafka, &kafka.topic("ops.copy.v1")).await;
    assert_eq!(copied.len(), 9);
    assert!(copied.iter().all(|d| d.header("replayed-from").is_some()));
    assert!(loopctl::parse_start("time:not-a-time").is_err());
    assert_eq!(
        loopctl::parse_start("offset:5").expect("parse"),
        Start::Offset(5)
    );
}

#[tokio::test]
async fn rebuild_with_swap_points_the_ranker_at_the_new_prefix() {
    let kafka = testing::kafka_config(&testing::unique("swap"));
    kafka::ensure_topics(
        &kafka,
        &[
            loop_platform::kafka::topics::ENGAGEMENT,
            loop_platform::kafka::topics::CONTENT,
        ],
    )
    .await
    .expect("topics");
    let base = testing::redis_config(&testing::unique("swapbase"));
    let target = format!("{}v2:", base.key_prefix);
    let report = replay::rebuild(
        &kafka,
        base.url.expose(),
        &base.key_prefix,
        &target,
        Start::Beginning,
        true,
        false,
    )
    .await
    .expect("rebuild");
    assert_eq!(report.engagement_events, 0);
    let redis = loop_platform::cache::Redis::connect(&base)
        .await
        .expect("redis");
    let live = loop_feed_ranking::live_prefix(&redis)
        .await
        .expect("live prefix");
    assert_eq!(live.prefix, target);
    let err = replay::rebuild(
        &kafka,
        base.url.expose(),
        &base.key_prefix,
        &base.key_prefix,
        Start::Beginning,
        false,
        false,
    )
    .await
    .expect_err("same prefix");
    assert!(err.to_string().contains("--target-prefix"));
    testing::clear_redis(&base).await;
}
