//! Prometheus metrics: one registry per process (the `prometheus` crate's
//! default registry), the series every service shares, and the `/metrics`
//! listener.
//!
//! The platform records gRPC calls ([`crate::grpc`]), Kafka consumers
//! ([`crate::kafka`]) and the outbox relay ([`crate::outbox`]); the gateway
//! adds HTTP requests, the wallet ledger transactions, ads-auction its slot
//! fill. A service registers its own series with [`counter_vec`] and friends.
//! `telemetry.metrics_listen_addr` sets where `/metrics` is served (each
//! service has its own default port, 9460 + n).

use std::net::SocketAddr;
use std::sync::LazyLock;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Latency buckets in seconds, 1 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Registers a counter family in the process registry. Metric definitions
/// are static, so a bad name or a duplicate is a programming error.
#[allow(clippy::expect_used)]
pub fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
    prometheus::register(Box::new(metric.clone())).expect("counter registered once");
    metric
}

/// Registers a gauge family in the process registry.
#[allow(clippy::expect_used)]
pub fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge");
    prometheus::register(Box::new(metric.clone())).expect("gauge registered once");
    metric
}

/// Registers a latency histogram family (seconds, [`LATENCY_BUCKETS`]).
#[allow(clippy::expect_used)]
pub fn latency_vec(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let metric = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
        labels,
    )
    .expect("valid histogram");
    prometheus::register(Box::new(metric.clone())).expect("histogram registered once");
    metric
}

/// gRPC calls served, by service, method and status code.
pub static GRPC_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "loop_grpc_server_requests_total",
        "gRPC calls served, by service, method and status code",
        &["grpc_service", "grpc_method", "grpc_code"],
    )
});

/// gRPC call latency until the last byte of the response.
pub static GRPC_LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    latency_vec(
        "loop_grpc_server_request_duration_seconds",
        "gRPC call latency in seconds (until the response ends), by service, method and status code",
        &["grpc_service", "grpc_method", "grpc_code"],
    )
});

/// Messages a consumer group has not committed yet, per partition.
pub static KAFKA_CONSUMER_LAG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "loop_kafka_consumer_lag",
        "Messages behind the partition's end (high watermark minus committed offset), per consumer group and partition this process reads",
        &["group", "topic", "partition"],
    )
});

/// Messages applied by a consumer group.
pub static KAFKA_CONSUMED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "loop_kafka_consumed_total",
        "Messages a consumer group handled (applied or dead-lettered) and committed, by topic",
        &["group", "topic"],
    )
});

/// Poison messages sent to `<topic>.dlq`.
pub static KAFKA_DEAD_LETTERED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "loop_kafka_dead_lettered_total",
        "Messages a consumer group could never apply and sent to <topic>.dlq",
        &["group", "topic"],
    )
});

/// Batches that failed transiently and are retried.
pub static KAFKA_BATCH_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "loop_kafka_batch_failures_total",
        "Batch attempts that failed and will be retried (nothing committed)",
        &["group"],
    )
});

/// How long applying one batch took.
pub static KAFKA_BATCH_LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    latency_vec(
        "loop_kafka_batch_duration_seconds",
        "Time to apply one consumed batch, retries included",
        &["group"],
    )
});

/// Outbox rows not yet published.
pub static OUTBOX_BACKLOG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "loop_outbox_backlog",
        "Outbox events committed but not yet published to Kafka, by database",
        &["database"],
    )
});

/// Outbox rows published.
pub static OUTBOX_PUBLISHED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "loop_outbox_published_total",
        "Outbox events published to Kafka, by database",
        &["database"],
    )
});

/// The Prometheus text exposition of every registered series.
pub fn render() -> String {
    use prometheus::Encoder as _;
    let mut buffer = Vec::new();
    if let Err(err) = prometheus::TextEncoder::new().encode(&prometheus::gather(), &mut buffer) {
        tracing::warn!(error = %err, "encoding metrics failed");
    }
    String::from_utf8(buffer).unwrap_or_default()
}

/// The value of the first series of `name` in [`render`]'s output that has
/// all of `labels` (for tests and tools; label values must not contain `,`).
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find_map(|(series, value)| {
            let (metric, label_text) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let matches = metric == name
                && labels.iter().all(|(k, v)| {
                    let want = format!("{k}=\"{v}\"");
                    label_text.split(',').any(|pair| pair == want)
                });
            if matches { value.parse().ok() } else { None }
        })
}

/// Binds `addr` for [`serve`]; fails (and the service with it) if the port
/// is taken, so a misconfigured port is seen at start-up.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind the metrics listener on {addr}: {e}"))
}

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async {
            (
                [(
                    http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                render(),
            )
        }),
    );
    tracing::info!(addr = %listener.local_addr()?, "metrics listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}
