//! One test per Kafka feature Loop relies on, run against the local broker
//! (Tansu here and in CI; Apache Kafka in docker-compose). See README
//! "Kafka features we rely on".

use std::sync::{Arc, Mutex};
use std::time::Duration;

use loop_platform::kafka::{self, BatchHandler, ConsumerOptions, Delivery, Producer};
use loop_platform::{metrics, testing};
use rdkafka::consumer::Consumer;
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "feature.v1";

async fn setup(name: &str) -> (loop_platform::config::KafkaConfig, Producer) {
    let config = testing::kafka_config(&testing::unique(name));
    kafka::ensure_topics(&config, &[TOPIC])
        .await
        .expect("create topics");
    let producer = Producer::new(&config, "feature-test").expect("producer");
    (config, producer)
}

async fn produce(producer: &Producer, key: &str, value: &str) -> (i32, i64) {
    producer
        .send_raw(
            &producer.config().topic(TOPIC),
            key.as_bytes(),
            value.as_bytes(),
            &[],
        )
        .await
        .expect("produce")
}

#[tokio::test]
async fn topics_are_created_explicitly_and_idempotently() {
    let (config, _) = setup("topics").await;
    // A second call must not fail on existing topics.
    kafka::ensure_topics(&config, &[TOPIC])
        .await
        .expect("idempotent");
    let consumer = kafka::consumer(&config, &testing::unique("md"), "earliest").expect("consumer");
    let md = consumer
        .fetch_metadata(None, Duration::from_secs(5))
        .expect("metadata");
    for name in [config.topic(TOPIC), kafka::dlq_topic(&config.topic(TOPIC))] {
        let topic = md
            .topics()
            .iter()
            .find(|t| t.name() == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(
            topic.partitions().len(),
            3,
            "{name} has the configured partitions"
        );
    }
}

#[tokio::test]
async fn idempotent_producer_keeps_per_key_order() {
    let (config, producer) = setup("order").await;
    for i in 0..50 {
        produce(&producer, "same-user", &i.to_string()).await;
    }
    let all = testing::read_all(&config, &config.topic(TOPIC)).await;
    let values: Vec<String> = all
        .iter()
        .map(|d| String::from_utf8_lossy(&d.payload).into_owned())
        .collect();
    let expected: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    assert_eq!(
        values, expected,
        "one key, one partition, in order, no duplicates"
    );
}

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<String>>>,
}

impl BatchHandler for Recorder {
    async fn handle(&self, batch: &[Delivery]) -> anyhow::Result<Vec<(usize, String)>> {
        let mut poison = Vec::new();
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned lock"))?;
        for (i, d) in batch.iter().enumerate() {
            let value = String::from_utf8_lossy(&d.payload).into_owned();
            if value == "poison" {
                poison.push((i, "cannot decode".to_owned()));
            } else {
                seen.push(value);
            }
        }
        Ok(poison)
    }
}

impl Recorder {
    fn values(&self) -> Vec<String> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

#[tokio::test]
async fn consumer_commits_after_processing_and_resumes_there() {
    let (config, producer) = setup("resume").await;
    let group = testing::unique("group");
    for v in ["a", "b", "c"] {
        produce(&producer, "k", v).await;
    }
    let first = Recorder::default();
    let stop = CancellationToken::new();
    let task = tokio::spawn(kafka::run_consumer(
        config.clone(),
        ConsumerOptions::new(&group, &[TOPIC]),
        producer.clone(),
        first.clone(),
        stop.clone(),
    ));
    testing::wait_for(
        "first member reads a, b, c",
        Duration::from_secs(30),
        || {
            let first = first.clone();
            async move { (first.values().len() == 3).then_some(()) }
        },
    )
    .await;
    stop.cancel();
    task.await.expect("join").expect("consumer ok");

    for v in ["d", "e"] {
        produce(&producer, "k", v).await;
    }
    let second = Recorder::default();
    let stop = CancellationToken::new();
    let task = tokio::spawn(kafka::run_consumer(
        config.clone(),
        ConsumerOptions::new(&group, &[TOPIC]),
        producer.clone(),
        second.clone(),
        stop.clone(),
    ));
    testing::wait_for("second member reads d, e", Duration::from_secs(30), || {
        let second = second.clone();
        async move { (second.values().len() >= 2).then_some(()) }
    })
    .await;
    stop.cancel();
    task.await.expect("join").expect("consumer ok");
    assert_eq!(
        second.values(),
        vec!["d", "e"],
        "resumed at the committed offset: nothing replayed, nothing skipped"
    );
}

#[tokio::test]
async fn poison_messages_go_to_the_dlq_with_the_error() {
    let (config, producer) = setup("dlq").await;
    produce(&producer, "k", "fine").await;
    produce(&producer, "k", "poison").await;
    produce(&producer, "k", "after").await;
    let recorder = Recorder::default();
    let stop = CancellationToken::new();
    let task = tokio::spawn(kafka::run_consumer(
        config.clone(),
        ConsumerOptions::new(&testing::unique("g"), &[TOPIC]),
        producer.clone(),
        recorder.clone(),
        stop.clone(),
    ));
    testing::wait_for("good messages processed", Duration::from_secs(30), || {
        let r = recorder.clone();
        async move { (r.values().len() == 2).then_some(()) }
    })
    .await;
    let dlq = kafka::dlq_topic(&config.topic(TOPIC));
    let mut reader = testing::TopicReader::new(&config, &dlq);
    let seen = reader
        .read_until(Duration::from_secs(30), |s| !s.is_empty())
        .await;
    assert_eq!(seen[0].payload, b"poison");
    assert_eq!(
        seen[0].header(kafka::DLQ_ERROR_HEADER),
        Some("cannot decode")
    );
    assert_eq!(
        seen[0].header(kafka::DLQ_TOPIC_HEADER),
        Some(config.topic(TOPIC).as_str())
    );
    stop.cancel();
    task.await.expect("join").expect("consumer ok");
    assert_eq!(recorder.values(), vec!["fine", "after"]);
}

#[tokio::test]
async fn a_consumer_group_splits_partitions_between_members() {
    let (config, _) = setup("split").await;
    let group = testing::unique("g");
    let a = kafka::consumer(&config, &group, "earliest").expect("a");
    let b = kafka::consumer(&config, &group, "earliest").expect("b");
    let topic = config.topic(TOPIC);
    a.subscribe(&[&topic]).expect("subscribe a");
    b.subscribe(&[&topic]).expect("subscribe b");
    // Assignment happens while the members poll; poll both until each owns partitions.
    let (na, nb) = testing::wait_for("both members assigned", Duration::from_secs(60), || {
        let (a, b) = (&a, &b);
        async move {
            let _ = tokio::time::timeout(Duration::from_millis(100), a.recv()).await;
            let _ = tokio::time::timeout(Duration::from_millis(100), b.recv()).await;
            let na = a.assignment().map(|t| t.count()).unwrap_or(0);
            let nb = b.assignment().map(|t| t.count()).unwrap_or(0);
            (na > 0 && nb > 0 && na + nb == 3).then_some((na, nb))
        }
    })
    .await;
    assert_eq!(na + nb, 3, "every partition owned by exactly one member");
}

#[tokio::test]
async fn offsets_for_times_finds_the_first_message_at_a_time() {
    let (config, producer) = setup("times").await;
    produce(&producer, "k", "old").await;
    // Wall-clock boundary: messages produced after `t` carry timestamps >= t.
    let t = chrono::Utc::now().timestamp_millis() + 1;
    testing::wait_for(
        "clock passes boundary",
        Duration::from_secs(5),
        || async move { (chrono::Utc::now().timestamp_millis() > t).then_some(()) },
    )
    .await;
    let (partition, offset) = produce(&producer, "k", "new").await;
    let consumer = kafka::consumer(&config, &testing::unique("t"), "earliest").expect("consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(&config.topic(TOPIC), partition, rdkafka::Offset::Offset(t))
        .expect("tpl");
    let found = consumer
        .offsets_for_times(tpl, Duration::from_secs(10))
        .expect("offsets for times");
    let element = found
        .find_partition(&config.topic(TOPIC), partition)
        .expect("partition");
    assert_eq!(
        element.offset(),
        rdkafka::Offset::Offset(offset),
        "the first message at or after t"
    );
}

#[tokio::test]
async fn the_consumer_reports_lag_handled_and_dead_lettered_messages() {
    let (config, producer) = setup("lag").await;
    let group = testing::unique("group");
    let (partition, _) = produce(&producer, "k", "a").await;
    produce(&producer, "k", "poison").await;
    produce(&producer, "k", "b").await;
    let topic = config.topic(TOPIC);
    let recorder = Recorder::default();
    let stop = CancellationToken::new();
    let mut opts = ConsumerOptions::new(&group, &[TOPIC]);
    opts.stats_interval = Duration::from_millis(50);
    let task = tokio::spawn(kafka::run_consumer(
        config.clone(),
        opts,
        producer.clone(),
        recorder.clone(),
        stop.clone(),
    ));
    let partition = partition.to_string();
    // Lag comes from librdkafka's statistics: the partition's end minus the
    // committed offset, so it is 0 once all three are committed.
    let text = testing::wait_for(
        "lag 0 after three handled messages",
        Duration::from_secs(30),
        || {
            let text = metrics::render();
            let labels = [
                ("group", group.as_str()),
                ("topic", topic.as_str()),
                ("partition", partition.as_str()),
            ];
            let lag = metrics::sample(&text, "loop_kafka_consumer_lag", &labels);
            let handled = metrics::sample(
                &text,
                "loop_kafka_consumed_total",
                &[("group", group.as_str()), ("topic", topic.as_str())],
            );
            std::future::ready((lag == Some(0.0) && handled == Some(3.0)).then_some(text))
        },
    )
    .await;
    assert_eq!(recorder.values(), vec!["a", "b"]);
    assert_eq!(
        metrics::sample(
            &text,
            "loop_kafka_dead_lettered_total",
            &[("group", group.as_str()), ("topic", topic.as_str())],
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        metrics::sample(
            &text,
            "loop_kafka_batch_duration_seconds_count",
            &[("group", group.as_str())],
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    stop.cancel();
    task.await.expect("join").expect("consumer ok");
}
