//! The wallet's outbox relay: publishes each `wallet.v1` event exactly once,
//! in outbox order, even across crashes.
//!
//! One replica leads at a time (a session advisory lock on a dedicated
//! connection; every relay query runs on that connection, so a leader that
//! lost it stops). The platform relay can publish a batch and die before
//! marking it, and the next relay publishes it again (consumers dedupe by
//! event id). This one closes that gap: whenever a leader starts, and after
//! any failed send, it first reads the tail of the topic (only the relay
//! produces to it, and at most one batch is ever unmarked) and marks the
//! events it finds there instead of sending them again.
//!
//! Commits do not NOTIFY (see [`crate::events`]); the relay is woken in
//! process after each commit and polls for other replicas' events.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use loop_platform::config::KafkaConfig;
use loop_platform::kafka::{EVENT_TYPE_HEADER, Producer};
use rdkafka::consumer::Consumer;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use sqlx::{Connection, PgConnection, Row};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

/// Arbitrary constant naming the relay's leader lock.
const LEADER_LOCK: i64 = 0x5741_4c4c_4554_5231;
/// Most events published per round; also how far back the tail is checked.
pub const BATCH: i64 = 500;
/// How long a woken relay waits for more commits before a round.
const LINGER: Duration = Duration::from_millis(5);

/// Runs until `shutdown`: competes for leadership and relays while leading.
pub async fn run(
    database_url: String,
    producer: Producer,
    poll: Duration,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    tracing::info!("outbox relay started");
    let metrics = RelayMetrics::new(&database_url);
    while !shutdown.is_cancelled() {
        match PgConnection::connect(&database_url).await {
            Ok(mut conn) => {
                let leader: Result<bool, _> = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(LEADER_LOCK)
                    .fetch_one(&mut conn)
                    .await;
                match leader {
                    Ok(true) => {
                        tracing::info!("outbox relay leading");
                        if let Err(err) =
                            lead(&mut conn, &metrics, &producer, poll, &wake, &shutdown).await
                        {
                            tracing::warn!(error = ?err, "outbox relay stopped leading");
                        }
                    }
                    Ok(false) => {}
                    Err(err) => tracing::warn!(error = %err, "outbox relay lock failed"),
                }
                // Closing the connection releases the lock.
                let _ = conn.close().await;
            }
            Err(err) => tracing::warn!(error = %err, "outbox relay cannot connect"),
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(poll.max(Duration::from_millis(200))) => {}
        }
    }
    producer.flush(Duration::from_secs(5));
    tracing::info!("outbox relay stopped");
    Ok(())
}

struct OutboxRow {
    id: i64,
    event_id: Uuid,
    topic: String,
    key: String,
    event_type: String,
    payload: Vec<u8>,
    headers: Vec<(String, String)>,
}

async fn unpublished(conn: &mut PgConnection) -> anyhow::Result<Vec<OutboxRow>> {
    let rows = sqlx::query(
        "SELECT id, event_id, topic, msg_key, event_type, payload, headers FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(OutboxRow {
                id: r.try_get("id")?,
                event_id: r.try_get("event_id")?,
                topic: r.try_get("topic")?,
                key: r.try_get("msg_key")?,
                event_type: r.try_get("event_type")?,
                payload: r.try_get("payload")?,
                headers: serde_json::from_value(r.try_get("headers")?).unwrap_or_default(),
            })
        })
        .collect()
}

async fn mark(conn: &mut PgConnection, ids: &[i64]) -> anyhow::Result<()> {
    if !ids.is_empty() {
        sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
            .bind(ids)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The platform's outbox series, labelled with the wallet's database.
struct RelayMetrics {
    backlog: prometheus::IntGauge,
    published: prometheus::IntCounter,
}

impl RelayMetrics {
    fn new(database_url: &str) -> Self {
        let database = database_url
            .parse::<sqlx::postgres::PgConnectOptions>()
            .ok()
            .and_then(|o| o.get_database().map(str::to_owned))
            .unwrap_or_else(|| "wallet".into());
        Self {
            backlog: loop_platform::metrics::OUTBOX_BACKLOG.with_label_values(&[database.as_str()]),
            published: loop_platform::metrics::OUTBOX_PUBLISHED
                .with_label_values(&[database.as_str()]),
        }
    }
}

async fn lead(
    conn: &mut PgConnection,
    metrics: &RelayMetrics,
    producer: &Producer,
    poll: Duration,
    wake: &Notify,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    // A previous leader may have published its last batch without marking it.
    let mut verify = true;
    let mut last_prune = tokio::time::Instant::now();
    let mut last_backlog: Option<tokio::time::Instant> = None;
    while !shutdown.is_cancelled() {
        // The backlog metric, at most once a second (an index-only count).
        if last_backlog.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            last_backlog = Some(tokio::time::Instant::now());
            let backlog: i64 =
                sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    .fetch_one(&mut *conn)
                    .await?;
            metrics.backlog.set(backlog);
        }
        let mut rows = unpublished(conn).await?;
        let full = rows.len() as i64 >= BATCH;
        if verify && !rows.is_empty() {
            let mut topics: Vec<String> = rows.iter().map(|r| r.topic.clone()).collect();
            topics.sort();
            topics.dedup();
            let mut seen = HashSet::new();
            for topic in &topics {
                let full_name = producer.config().topic(topic);
                seen.extend(published_event_ids(producer.config(), &full_name, BATCH).await?);
            }
            let (done, todo): (Vec<OutboxRow>, Vec<OutboxRow>) = rows
                .into_iter()
                .partition(|r| seen.contains(&r.event_id.to_string()));
            if !done.is_empty() {
                tracing::info!(
                    events = done.len(),
                    "outbox events already on the topic from an interrupted relay; marked, not resent"
                );
                mark(conn, &done.iter().map(|r| r.id).collect::<Vec<_>>()).await?;
            }
            rows = todo;
        }
        verify = false;
        if !rows.is_empty() {
            let sends = rows.iter().map(|row| {
                let topic = producer.config().topic(&row.topic);
                let mut headers = row.headers.clone();
                headers.push((EVENT_TYPE_HEADER.into(), row.event_type.clone()));
                headers.push(("event-id".into(), row.event_id.to_string()));
                headers.push(("content-type".into(), "application/x-protobuf".into()));
                // A producer span under the writer's trace (kept in the row).
                let span = loop_platform::kafka::publish_span(&topic, &mut headers);
                async move {
                    producer
                        .send_raw(&topic, row.key.as_bytes(), &row.payload, &headers)
                        .await
                }
                .instrument(span)
            });
            // join_all polls in order, so events enter the producer queue in
            // outbox order; the idempotent producer keeps it per partition.
            let results = futures::future::join_all(sends).await;
            let mut published = Vec::with_capacity(rows.len());
            for (row, result) in rows.iter().zip(&results) {
                match result {
                    Ok(_) => published.push(row.id),
                    Err(err) => {
                        // It may have reached the broker anyway: check before resending.
                        tracing::warn!(error = ?err, "outbox publish failed; will verify and retry");
                        verify = true;
                        break;
                    }
                }
            }
            mark(conn, &published).await?;
            metrics.published.inc_by(published.len() as u64);
            if verify {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
                continue;
            }
        }
        if last_prune.elapsed() > Duration::from_secs(3600) {
            last_prune = tokio::time::Instant::now();
            sqlx::query("DELETE FROM outbox WHERE published_at < now() - interval '7 days'")
                .execute(&mut *conn)
                .await?;
        }
        if !full {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wake.notified() => {
                    // Linger a moment so a busy stream of commits goes out
                    // in batches rather than one round trip per event.
                    tokio::time::sleep(LINGER).await;
                }
                () = tokio::time::sleep(poll) => {}
            }
        }
    }
    Ok(())
}

/// The `event-id` headers of the last `tail` messages of every partition of
/// `topic` (full name).
pub async fn published_event_ids(
    config: &KafkaConfig,
    topic: &str,
    tail: i64,
) -> anyhow::Result<HashSet<String>> {
    let group = format!("wallet-relay-verify-{}", Uuid::new_v4().simple());
    let consumer = loop_platform::kafka::consumer(config, &group, "earliest")?;
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let mut remaining = std::collections::HashMap::new();
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            let (low, high) = consumer.fetch_watermarks(topic, p.id(), timeout)?;
            if high > low {
                remaining.insert(p.id(), high);
                tpl.add_partition_offset(topic, p.id(), Offset::Offset((high - tail).max(low)))?;
            }
        }
    }
    let mut ids = HashSet::new();
    if remaining.is_empty() {
        return Ok(ids);
    }
    consumer.assign(&tpl)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !remaining.is_empty() {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .map_err(|_| anyhow::anyhow!("reading the tail of {topic} timed out"))??;
        let delivery = loop_platform::kafka::Delivery::from_message(&message);
        if let Some(id) = delivery.header("event-id") {
            ids.insert(id.to_owned());
        }
        if remaining
            .get(&delivery.partition)
            .is_some_and(|high| delivery.offset + 1 >= *high)
        {
            remaining.remove(&delivery.partition);
        }
    }
    Ok(ids)
}
