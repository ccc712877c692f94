//! Kafka: topic creation, a protobuf producer that carries trace context in
//! headers, and a batched consumer loop with manual commits and a dead-letter
//! topic.
//!
//! Tracing: every published message gets a producer span (child of the
//! publishing request, or of the outbox writer's context) whose context
//! travels in the `traceparent` header; the consumer loop opens a consumer
//! span per message as a child of it, so one trace follows an event from the
//! client's request to every consumer. Metrics: consumer lag (from
//! librdkafka's statistics: high watermark minus committed offset), messages
//! applied and dead-lettered, batch latency and failures.
//!
//! Works unchanged against Apache Kafka and Tansu. Tansu's SQLite engine does
//! not auto-create topics, so every topic (and its `.dlq`) is created
//! explicitly and idempotently with [`ensure_topics`].

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::KafkaConfig;
use crate::{metrics, telemetry};

/// Header naming the protobuf message type of a payload.
pub const EVENT_TYPE_HEADER: &str = "event-type";
/// Headers added to dead-lettered messages.
pub const DLQ_ERROR_HEADER: &str = "dlq-error";
pub const DLQ_TOPIC_HEADER: &str = "dlq-original-topic";
pub const DLQ_PARTITION_HEADER: &str = "dlq-original-partition";
pub const DLQ_OFFSET_HEADER: &str = "dlq-original-offset";

/// The dead-letter topic of `topic`.
pub fn dlq_topic(topic: &str) -> String {
    format!("{topic}.dlq")
}

fn base_config(config: &KafkaConfig, client_id: &str) -> ClientConfig {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &config.brokers)
        .set("client.id", client_id)
        .set("socket.keepalive.enable", "true");
    cc
}

/// Creates each logical topic (with the configured prefix) and its `.dlq`,
/// ignoring those that already exist, and waits until the broker lists them.
pub async fn ensure_topics(config: &KafkaConfig, logical: &[&str]) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = base_config(config, "loop-admin").create()?;
    let names: Vec<String> = logical
        .iter()
        .flat_map(|t| {
            let full = config.topic(t);
            [dlq_topic(&full), full]
        })
        .collect();
    let new_topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|name| {
            NewTopic::new(
                name,
                config.partitions,
                TopicReplication::Fixed(config.replication_factor),
            )
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(new_topics.iter(), &opts).await? {
        match result {
            Ok(name) => tracing::info!(topic = %name, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
        }
    }
    // Metadata can lag creation by a moment; wait until every topic is visible.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let missing: Vec<&String> = {
            let md = admin.inner().fetch_metadata(None, Duration::from_secs(5))?;
            names
                .iter()
                .filter(|n| {
                    !md.topics()
                        .iter()
                        .any(|t| t.name() == n.as_str() && !t.partitions().is_empty())
                })
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("topics not visible after creation: {missing:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An idempotent producer (acks=all) that sends protobuf payloads with the
/// current trace context in the headers.
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer,
    config: KafkaConfig,
}

impl Producer {
    pub fn new(config: &KafkaConfig, client_id: &str) -> anyhow::Result<Self> {
        let inner: FutureProducer = base_config(config, client_id)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "2")
            .set("message.timeout.ms", "30000")
            .create()?;
        Ok(Self {
            inner,
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// Sends raw bytes to a full topic name and waits for the broker's ack.
    pub async fn send_raw(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: &[(String, String)],
    ) -> anyhow::Result<(i32, i64)> {
        let mut owned = OwnedHeaders::new_with_capacity(headers.len());
        for (k, v) in headers {
            owned = owned.insert(Header {
                key: k.as_str(),
                value: Some(v.as_bytes()),
            });
        }
        let record = FutureRecord::to(topic)
            .key(key)
            .payload(payload)
            .headers(owned);
        match self.inner.send(record, Duration::from_secs(10)).await {
            Ok(delivery) => Ok((delivery.partition, delivery.offset)),
            Err((err, _)) => Err(anyhow::Error::new(err).context(format!("producing to {topic}"))),
        }
    }

    /// Publishes a protobuf message to a logical topic (`engagement.v1`),
    /// keyed by `key`, in a producer span under the current span.
    pub async fn publish<M: prost::Message>(
        &self,
        logical_topic: &str,
        key: &str,
        event_type: &str,
        message: &M,
    ) -> anyhow::Result<(i32, i64)> {
        let mut headers = vec![
            (EVENT_TYPE_HEADER.to_owned(), event_type.to_owned()),
            (
                "content-type".to_owned(),
                "application/x-protobuf".to_owned(),
            ),
        ];
        let topic = self.config.topic(logical_topic);
        let span = publish_span(&topic, &mut headers);
        self.send_raw(&topic, key.as_bytes(), &message.encode_to_vec(), &headers)
            .instrument(span)
            .await
    }

    /// Waits until everything queued is delivered (or the timeout passes).
    pub fn flush(&self, timeout: Duration) {
        if let Err(err) = self.inner.flush(timeout) {
            tracing::warn!(error = %err, "kafka producer flush incomplete");
        }
    }
}

/// A producer span for one message to `topic` (full name). Its parent is the
/// trace context already in `headers` (the outbox keeps its writer's) or
/// else the current span; `headers` are rewritten to carry the producer
/// span, so a consumer's span becomes its child. Without any trace context
/// there is no span (and no new trace per message).
pub fn publish_span(topic: &str, headers: &mut Vec<(String, String)>) -> tracing::Span {
    use opentelemetry::trace::TraceContextExt as _;
    let is_trace_header =
        |k: &str| k.eq_ignore_ascii_case("traceparent") || k.eq_ignore_ascii_case("tracestate");
    let parent = if headers.iter().any(|(k, _)| is_trace_header(k)) {
        telemetry::context_from_pairs(headers)
    } else {
        tracing::Span::current().context()
    };
    if !parent.span().span_context().is_valid() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "kafka.produce",
        otel.name = %format!("publish {topic}"),
        otel.kind = "producer",
        messaging.system = "kafka",
        messaging.operation.type = "send",
        messaging.destination.name = %topic,
    );
    let _ = span.set_parent(parent);
    headers.retain(|(k, _)| !is_trace_header(k));
    headers.extend(telemetry::span_context_pairs(&span));
    span
}

/// One consumed message, owned.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// Broker or producer timestamp, ms since the epoch.
    pub timestamp_ms: Option<i64>,
}

impl Delivery {
    pub fn from_message<M: rdkafka::Message>(m: &M) -> Self {
        let headers = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| {
                        (
                            h.key.to_owned(),
                            h.value
                                .map(|v| String::from_utf8_lossy(v).into_owned())
                                .unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            topic: m.topic().to_owned(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec).unwrap_or_default(),
            payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            headers,
            timestamp_ms: m.timestamp().to_millis(),
        }
    }

    pub fn decode<M: prost::Message + Default>(&self) -> Result<M, prost::DecodeError> {
        M::decode(self.payload.as_slice())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The consumer span of this message in `group`: a child of the
    /// producer span whose context the message carries. `None` for a message
    /// without trace context (no new trace per untraced message).
    pub fn process_span(&self, group: &str) -> Option<tracing::Span> {
        self.header("traceparent")?;
        let span = tracing::info_span!(
            "kafka.process",
            otel.name = %format!("process {}", self.topic),
            otel.kind = "consumer",
            messaging.system = "kafka",
            messaging.operation.type = "process",
            messaging.destination.name = %self.topic,
            messaging.consumer.group.name = %group,
            messaging.destination.partition.id = self.partition,
            messaging.kafka.offset = self.offset,
            messaging.message.id = self.header("event-id").unwrap_or_default(),
        );
        telemetry::set_parent_from_pairs(&span, &self.headers);
        Some(span)
    }

    /// A span for processing this message, child of the producer's trace.
    pub fn span(&self, name: &'static str) -> tracing::Span {
        let span = tracing::info_span!(
            "kafka.consume",
            otel.name = name,
            otel.kind = "consumer",
            messaging.system = "kafka",
            messaging.destination = %self.topic,
            messaging.kafka.partition = self.partition,
            messaging.kafka.offset = self.offset,
        );
        telemetry::set_parent_from_pairs(&span, &self.headers);
        span
    }
}

/// Applies batches of messages to a service's state.
pub trait BatchHandler: Send + Sync + 'static {
    /// Applies `batch` (in partition order) and returns the messages that can
    /// never be processed (index into `batch`, reason): they go to the
    /// topic's `.dlq`. An `Err` is a transient failure: the batch is retried
    /// with backoff and nothing is committed until it succeeds. Handlers must
    /// be idempotent (dedupe by event id): a crash after applying and before
    /// the commit redelivers the batch.
    fn handle(
        &self,
        batch: &[Delivery],
    ) -> impl Future<Output = anyhow::Result<Vec<(usize, String)>>> + Send;
}

/// How a consumer group reads.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub group_id: String,
    /// Logical topic names (the configured prefix is added).
    pub topics: Vec<String>,
    pub max_batch: usize,
    /// How long to wait for a batch to fill after its first message.
    pub max_wait: Duration,
    /// `earliest` or `latest`, for a group with no committed offset.
    pub auto_offset_reset: String,
    /// How often librdkafka reports statistics, from which the consumer lag
    /// metric is set.
    pub stats_interval: Duration,
    /// How long the broker may hold a fetch when there is nothing new
    /// (`fetch.wait.max.ms`): [`FETCH_WAIT_BACKGROUND`] unless the consumer
    /// is on a user-visible path ([`FETCH_WAIT_LATENCY`]).
    pub fetch_wait: Duration,
}

/// For consumers whose delay a user sees (engagement -> the next feed).
/// Tansu answers an empty fetch only when this runs out (Apache Kafka
/// answers as soon as data arrives), so it bounds freshness; but every
/// consumer polls the broker this often even when idle, which costs Tansu
/// ~2 ms of CPU per fetch.
pub const FETCH_WAIT_LATENCY: Duration = Duration::from_millis(20);

/// For every other consumer (catalog, billing, analytics): a quarter second
/// of extra delay when idle, and a twelfth of the idle polling. With seven
/// consumers at 20 ms an idle Tansu spent ~70% of a core answering empty
/// fetches.
pub const FETCH_WAIT_BACKGROUND: Duration = Duration::from_millis(250);

impl ConsumerOptions {
    pub fn new(group_id: &str, topics: &[&str]) -> Self {
        Self {
            group_id: group_id.to_owned(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            max_batch: 500,
            max_wait: Duration::from_millis(20),
            auto_offset_reset: "earliest".into(),
            stats_interval: Duration::from_secs(5),
            fetch_wait: FETCH_WAIT_BACKGROUND,
        }
    }
}

/// A consumer in `group_id` with auto-commit off, for short-lived reads
/// (tools, tests): empty fetches are answered within [`FETCH_WAIT_LATENCY`].
pub fn consumer(
    config: &KafkaConfig,
    group_id: &str,
    auto_offset_reset: &str,
) -> anyhow::Result<StreamConsumer> {
    consumer_with_fetch_wait(config, group_id, auto_offset_reset, FETCH_WAIT_LATENCY)
}

/// [`consumer`] with the broker's wait for empty fetches chosen (see
/// [`FETCH_WAIT_LATENCY`] and [`FETCH_WAIT_BACKGROUND`]).
pub fn consumer_with_fetch_wait(
    config: &KafkaConfig,
    group_id: &str,
    auto_offset_reset: &str,
    fetch_wait: Duration,
) -> anyhow::Result<StreamConsumer> {
    Ok(consumer_config(config, group_id, auto_offset_reset, fetch_wait).create()?)
}

fn consumer_config(
    config: &KafkaConfig,
    group_id: &str,
    auto_offset_reset: &str,
    fetch_wait: Duration,
) -> ClientConfig {
    let mut cc = base_config(config, group_id);
    cc.set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", auto_offset_reset)
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("max.poll.interval.ms", "300000")
        // librdkafka's default is 500 ms: see FETCH_WAIT_LATENCY.
        .set("fetch.wait.max.ms", fetch_wait.as_millis().to_string());
    cc
}

/// Sets [`metrics::KAFKA_CONSUMER_LAG`] from librdkafka's statistics: per
/// partition this member fetches, the end of the partition (last stable
/// offset, or the high watermark) minus the group's committed offset.
/// Partitions that left the assignment are removed from the metric.
struct LagReporter {
    group: String,
    reported: std::sync::Mutex<HashSet<(String, i32)>>,
}

impl LagReporter {
    fn report(&self, statistics: &Statistics) {
        let mut now = HashSet::new();
        for (topic, t) in &statistics.topics {
            for (&partition, p) in &t.partitions {
                let fetching = !matches!(p.fetch_state.as_str(), "none" | "stopping" | "stopped");
                let end = if p.ls_offset >= 0 {
                    p.ls_offset
                } else {
                    p.hi_offset
                };
                if partition < 0 || !fetching || end < 0 || p.committed_offset < 0 {
                    continue;
                }
                metrics::KAFKA_CONSUMER_LAG
                    .with_label_values(&[self.group.as_str(), topic, &partition.to_string()])
                    .set((end - p.committed_offset).max(0));
                now.insert((topic.clone(), partition));
            }
        }
        let Ok(mut reported) = self.reported.lock() else {
            return;
        };
        for (topic, partition) in reported.difference(&now) {
            let _ = metrics::KAFKA_CONSUMER_LAG.remove_label_values(&[
                self.group.as_str(),
                topic,
                &partition.to_string(),
            ]);
        }
        *reported = now;
    }
}

impl ClientContext for LagReporter {
    fn stats(&self, statistics: Statistics) {
        self.report(&statistics);
    }
}

impl ConsumerContext for LagReporter {}

async fn next_batch<C: ConsumerContext + 'static>(
    consumer: &StreamConsumer<C>,
    opts: &ConsumerOptions,
    shutdown: &CancellationToken,
) -> Vec<Delivery> {
    let mut batch = Vec::new();
    let first = tokio::select! {
        () = shutdown.cancelled() => return batch,
        m = consumer.recv() => m,
    };
    match first {
        Ok(m) => batch.push(Delivery::from_message(&m)),
        Err(err) => {
            log_consume_error(&err);
            return batch;
        }
    }
    let deadline = tokio::time::Instant::now() + opts.max_wait;
    while batch.len() < opts.max_batch {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(m)) => batch.push(Delivery::from_message(&m)),
            Ok(Err(err)) => {
                log_consume_error(&err);
                break;
            }
            Err(_) => break,
        }
    }
    batch
}

fn log_consume_error(err: &KafkaError) {
    tracing::warn!(error = %err, "kafka consume error");
}

/// Offsets to commit after a batch: the next offset of each partition.
fn commit_list(batch: &[Delivery]) -> anyhow::Result<TopicPartitionList> {
    let mut next: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for d in batch {
        let e = next.entry((d.topic.as_str(), d.partition)).or_insert(0);
        *e = (*e).max(d.offset + 1);
    }
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in next {
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    }
    Ok(tpl)
}

/// Sends a poison message to `<topic>.dlq` with the reason, retrying until the
/// broker takes it (a dead letter is never dropped).
async fn dead_letter(
    producer: &Producer,
    d: &Delivery,
    reason: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut headers = d.headers.clone();
    headers.push((DLQ_ERROR_HEADER.into(), reason.to_owned()));
    headers.push((DLQ_TOPIC_HEADER.into(), d.topic.clone()));
    headers.push((DLQ_PARTITION_HEADER.into(), d.partition.to_string()));
    headers.push((DLQ_OFFSET_HEADER.into(), d.offset.to_string()));
    let topic = dlq_topic(&d.topic);
    let mut backoff = Duration::from_millis(100);
    loop {
        match producer
            .send_raw(&topic, &d.key, &d.payload, &headers)
            .await
        {
            Ok(_) => {
                tracing::warn!(topic = %d.topic, partition = d.partition, offset = d.offset, reason, "message dead-lettered");
                return Ok(());
            }
            Err(err) if shutdown.is_cancelled() => return Err(err),
            Err(err) => {
                tracing::error!(error = ?err, "dead-lettering failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Runs a consumer group member until `shutdown`: reads batches, applies them
/// with `handler`, dead-letters poison messages, then commits synchronously.
/// Offsets are only ever committed after the handler has written its state.
pub async fn run_consumer<H: BatchHandler>(
    config: KafkaConfig,
    opts: ConsumerOptions,
    producer: Producer,
    handler: H,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let stats_ms = opts
        .stats_interval
        .as_millis()
        .clamp(10, 3_600_000)
        .to_string();
    let consumer: StreamConsumer<LagReporter> = consumer_config(
        &config,
        &opts.group_id,
        &opts.auto_offset_reset,
        opts.fetch_wait,
    )
    .set("statistics.interval.ms", stats_ms)
    .create_with_context(LagReporter {
        group: opts.group_id.clone(),
        reported: std::sync::Mutex::default(),
    })?;
    let topics: Vec<String> = opts.topics.iter().map(|t| config.topic(t)).collect();
    let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topic_refs)?;
    tracing::info!(group = %opts.group_id, topics = ?topics, "consumer started");

    let mut pending_commit: Option<TopicPartitionList> = None;
    while !shutdown.is_cancelled() {
        let batch = next_batch(&consumer, &opts, &shutdown).await;
        if batch.is_empty() {
            continue;
        }
        // One consumer span per traced message, open while its batch is
        // applied and committed: each is a child of its producer's span.
        let message_spans: Vec<tracing::Span> = batch
            .iter()
            .filter_map(|d| d.process_span(&opts.group_id))
            .collect();
        let span = tracing::info_span!("kafka.batch", group = %opts.group_id, size = batch.len());
        let started = Instant::now();
        let mut backoff = Duration::from_millis(100);
        let poison = loop {
            match handler.handle(&batch).instrument(span.clone()).await {
                Ok(poison) => break Some(poison),
                Err(err) => {
                    metrics::KAFKA_BATCH_FAILURES
                        .with_label_values(&[opts.group_id.as_str()])
                        .inc();
                    tracing::warn!(error = ?err, group = %opts.group_id, "batch failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => break None,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        };
        let Some(poison) = poison else {
            tracing::info!("shutdown with an unapplied batch; it will be redelivered");
            break;
        };
        for (index, reason) in poison {
            if let Some(d) = batch.get(index) {
                dead_letter(&producer, d, &reason, &shutdown).await?;
                metrics::KAFKA_DEAD_LETTERED
                    .with_label_values(&[opts.group_id.as_str(), d.topic.as_str()])
                    .inc();
            }
        }
        // Asynchronous: the next batch does not wait for the broker to store
        // the offsets. A lost or late commit only means redelivery, which
        // idempotent handlers absorb; the final commit below is synchronous.
        let tpl = commit_list(&batch)?;
        if let Err(err) = consumer.commit(&tpl, CommitMode::Async) {
            tracing::warn!(error = %err, "offset commit failed");
        }
        pending_commit = Some(tpl);
        metrics::KAFKA_BATCH_LATENCY
            .with_label_values(&[opts.group_id.as_str()])
            .observe(started.elapsed().as_secs_f64());
        count_consumed(&opts.group_id, &batch);
        drop(message_spans);
    }
    if let Some(tpl) = pending_commit
        && let Err(err) = consumer.commit(&tpl, CommitMode::Sync)
    {
        tracing::warn!(error = %err, "final offset commit failed; the last batch will be redelivered");
    }
    tracing::info!(group = %opts.group_id, "consumer stopped");
    Ok(())
}

fn count_consumed(group: &str, batch: &[Delivery]) {
    let mut per_topic: BTreeMap<&str, u64> = BTreeMap::new();
    for d in batch {
        *per_topic.entry(d.topic.as_str()).or_default() += 1;
    }
    for (topic, n) in per_topic {
        metrics::KAFKA_CONSUMED
            .with_label_values(&[group, topic])
            .inc_by(n);
    }
}

/// Logical topic names (see DESIGN.md); the configured prefix is added at use.
pub mod topics {
    pub const CONTENT: &str = "content.v1";
    pub const ENGAGEMENT: &str = "engagement.v1";
    pub const WALLET: &str = "wallet.v1";
    pub const ADS: &str = "ads.v1";
    pub const MEDIA: &str = "media.v1";
    pub const COMMERCE: &str = "commerce.v1";
    /// Every topic of the platform, for set-up scripts and `loopctl`.
    pub const ALL: &[&str] = &[CONTENT, ENGAGEMENT, WALLET, ADS, MEDIA, COMMERCE];
}
