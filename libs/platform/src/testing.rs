//! Test isolation helpers: every test gets its own database, Redis key
//! prefix and Kafka topic prefix, so tests run in parallel and leave nothing
//! behind. Used by integration tests with the `testing` feature.

use std::future::Future;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};

use crate::config::{DatabaseConfig, KafkaConfig, RedisConfig, Secret};
use crate::kafka::Delivery;

/// Mints tokens the way the real issuers would in development: user tokens
/// with the gateway's development key, `service:<name>` tokens with that
/// service's own. Services started with their default (development) config
/// accept them; a subject the issuer could not sign for is refused there,
/// exactly as in production.
#[derive(Clone, Copy, Debug, Default)]
pub struct TestKeys;

impl TestKeys {
    pub fn issue(&self, subject: &str, role: crate::auth::Role, ttl: Duration) -> String {
        let issuer = match role {
            crate::auth::Role::Service => subject.strip_prefix("service:").unwrap_or(subject),
            _ => crate::auth::USER_ISSUER,
        };
        let issuer = crate::auth::ISSUERS
            .iter()
            .copied()
            .find(|i| *i == issuer)
            .unwrap_or(crate::auth::USER_ISSUER);
        crate::auth::JwtKeys::development(issuer).issue(subject, role, ttl)
    }
}

/// A short unique name: `<prefix>_<12 hex>`.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..12])
}

/// Brokers for tests: `LOOP_TEST_KAFKA_BROKERS` or the local broker.
pub fn kafka_brokers() -> String {
    std::env::var("LOOP_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// Kafka config whose topics are all prefixed with `prefix.`.
pub fn kafka_config(prefix: &str) -> KafkaConfig {
    KafkaConfig {
        brokers: kafka_brokers(),
        topic_prefix: format!("{prefix}."),
        partitions: 3,
        replication_factor: 1,
    }
}

pub fn redis_config(prefix: &str) -> RedisConfig {
    RedisConfig {
        url: Secret::new(
            std::env::var("LOOP_TEST_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        ),
        key_prefix: format!("{prefix}:"),
        ..RedisConfig::default()
    }
}

/// A database created for one test and dropped when the value is dropped.
pub struct TestDb {
    pub config: DatabaseConfig,
}

impl TestDb {
    pub async fn create(prefix: &str) -> Self {
        let base = std::env::var("LOOP_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let name = unique(&format!("test_{prefix}"));
        let config = DatabaseConfig {
            url: Secret::new(format!("{base}/{name}")),
            max_connections: 8,
            migrate: true,
        };
        #[allow(clippy::expect_used)]
        crate::db::ensure_database(config.url.expose())
            .await
            .expect("create test database (is PostgreSQL running?)");
        Self { config }
    }

    pub fn url(&self) -> &str {
        self.config.url.expose()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let url = self.config.url.expose().clone();
        // Drop runs inside the test's runtime; do the async work on a thread of its own.
        let handle = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                && let Err(err) = rt.block_on(crate::db::drop_database(&url))
            {
                eprintln!("dropping test database failed: {err}");
            }
        });
        let _ = handle.join();
    }
}

/// Deletes every Redis key under `prefix` (call at the end of a test).
pub async fn clear_redis(config: &RedisConfig) {
    if let Ok(client) = redis::Client::open(config.url.expose().as_str())
        && let Ok(mut conn) = client.get_multiplexed_async_connection().await
    {
        let pattern = format!("{}*", config.key_prefix);
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(&pattern)
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
        }
    }
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `timeout`
/// naming `what`. Tests wait on conditions with this, never on a bare sleep.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads a topic from the beginning with a throwaway consumer group.
pub struct TopicReader {
    consumer: StreamConsumer,
    pub seen: Vec<Delivery>,
}

impl TopicReader {
    /// `topic` is the full name (with prefix).
    pub fn new(config: &KafkaConfig, topic: &str) -> Self {
        #[allow(clippy::expect_used)]
        let consumer =
            crate::kafka::consumer(config, &unique("reader"), "earliest").expect("consumer");
        #[allow(clippy::expect_used)]
        consumer.subscribe(&[topic]).expect("subscribe");
        Self {
            consumer,
            seen: Vec::new(),
        }
    }

    /// Reads until `done(&seen)` holds, panicking after `timeout`.
    pub async fn read_until(
        &mut self,
        timeout: Duration,
        done: impl Fn(&[Delivery]) -> bool,
    ) -> &[Delivery] {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(&self.seen) {
            match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Ok(Ok(m)) => self.seen.push(Delivery::from_message(&m)),
                Ok(Err(err)) => eprintln!("test reader: {err}"),
                Err(_) => panic!(
                    "timed out after {timeout:?}; read {} messages from {:?}",
                    self.seen.len(),
                    self.consumer.subscription().ok().map(|s| s.count())
                ),
            }
        }
        &self.seen
    }
}

/// Everything on `topic` (full name) right now: reads each partition from
/// the beginning up to its high watermark. Deterministic, so a test can assert
/// that an event is on the broker exactly once.
pub async fn read_all(config: &KafkaConfig, topic: &str) -> Vec<Delivery> {
    use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
    #[allow(clippy::expect_used)]
    let consumer =
        crate::kafka::consumer(config, &unique("snapshot"), "earliest").expect("consumer");
    let timeout = Duration::from_secs(10);
    #[allow(clippy::expect_used)]
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .expect("topic metadata");
    let mut remaining = std::collections::HashMap::new();
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            #[allow(clippy::expect_used)]
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), timeout)
                .expect("watermarks");
            if high > low {
                remaining.insert(p.id(), high);
                #[allow(clippy::expect_used)]
                tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                    .expect("assign");
            }
        }
    }
    let mut out = Vec::new();
    if remaining.is_empty() {
        return out;
    }
    #[allow(clippy::expect_used)]
    consumer.assign(&tpl).expect("assign partitions");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !remaining.is_empty() {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(m)) => {
                let d = Delivery::from_message(&m);
                if remaining
                    .get(&d.partition)
                    .is_some_and(|high| d.offset + 1 >= *high)
                {
                    remaining.remove(&d.partition);
                }
                out.push(d);
            }
            Ok(Err(err)) => eprintln!("read_all: {err}"),
            Err(_) => panic!("read_all({topic}) timed out with partitions {remaining:?} unread"),
        }
    }
    out
}

/// Installs telemetry once for the test process (as `main` does for a
/// service), so spans carry trace ids and context propagates.
/// Every span the process ends, kept in memory: install it first thing in a
/// test binary of its own (it becomes the process's one tracer), then look
/// spans up by trace id.
#[derive(Clone, Debug, Default)]
pub struct SpanCapture {
    spans: std::sync::Arc<std::sync::Mutex<Vec<opentelemetry_sdk::trace::SpanData>>>,
}

impl opentelemetry_sdk::trace::SpanExporter for SpanCapture {
    fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> impl Future<Output = opentelemetry_sdk::error::OTelSdkResult> + Send {
        if let Ok(mut spans) = self.spans.lock() {
            spans.extend(batch);
        }
        std::future::ready(Ok(()))
    }
}

impl SpanCapture {
    /// Installs the process's telemetry with every ended span captured
    /// (exported synchronously as it ends). Panics if telemetry was already
    /// installed in this process: the capture would see nothing.
    pub fn install() -> Self {
        static INSTALLED: std::sync::OnceLock<(SpanCapture, crate::telemetry::TelemetryGuard)> =
            std::sync::OnceLock::new();
        INSTALLED
            .get_or_init(|| {
                let capture = SpanCapture::default();
                let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
                    .with_simple_exporter(capture.clone())
                    .build();
                let config = crate::config::TelemetryConfig {
                    log_filter: Some("warn".into()),
                    ..Default::default()
                };
                let guard = crate::telemetry::init_with_provider(
                    "loop-test",
                    &config,
                    provider,
                    std::io::stdout,
                )
                .expect("telemetry");
                assert!(
                    guard.is_installed(),
                    "telemetry was installed before the capture"
                );
                (capture, guard)
            })
            .0
            .clone()
    }

    /// The ended spans of one trace.
    pub fn trace(
        &self,
        trace_id: opentelemetry::trace::TraceId,
    ) -> Vec<opentelemetry_sdk::trace::SpanData> {
        self.spans
            .lock()
            .map(|spans| {
                spans
                    .iter()
                    .filter(|s| s.span_context.trace_id() == trace_id)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn init_telemetry() {
    static GUARD: std::sync::OnceLock<Option<crate::telemetry::TelemetryGuard>> =
        std::sync::OnceLock::new();
    GUARD.get_or_init(|| {
        let config = crate::config::TelemetryConfig {
            log_filter: Some("warn".into()),
            ..Default::default()
        };
        crate::telemetry::init("loop-test", &config).ok()
    });
}
