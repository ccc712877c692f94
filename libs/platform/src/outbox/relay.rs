//! The outbox relay: publishes each event exactly once, in outbox order,
//! even across crashes.
//!
//! One replica leads at a time (a session advisory lock on a dedicated
//! connection; every relay query runs on that connection, so a leader that
//! lost it stops). A leader can publish a batch and die before marking it;
//! so whenever a leader starts, and after any failed send, it first reads the
//! tail of the topics it is about to publish to (at most one batch is ever
//! unmarked) and marks the events it finds there instead of sending them
//! again. Where other producers share a topic the tail may be pushed past the
//! window; the event is then sent again with the same `event-id`, which
//! consumers dedupe — never lost.
//!
//! The relay wakes on a commit's `NOTIFY` ([`super::enqueue`]), on an
//! in-process [`Relay::waker`] (for writers that skip NOTIFY on hot paths,
//! like the wallet), and polls in case both were missed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use sqlx::postgres::{PgConnectOptions, PgListener};
use sqlx::{Connection, PgConnection, PgPool, Row};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::{NOTIFY_CHANNEL, OutboxConfig, database_label};
use crate::config::KafkaConfig;
use crate::kafka::{self, EVENT_TYPE_HEADER, Producer};
use crate::metrics;

/// Arbitrary constant naming the relay's leader lock.
const LEADER_LOCK: i64 = 0x5741_4c4c_4554_5231;
/// Most events published per round; also how far back the tail is checked.
pub const BATCH: i64 = 500;
/// How long a woken relay waits for more commits before a round.
const LINGER: Duration = Duration::from_millis(5);

/// A service's outbox relay (see the module docs).
pub struct Relay {
    pool: PgPool,
    producer: Producer,
    poll: Duration,
    wake: Arc<Notify>,
}

impl Relay {
    pub fn new(pool: PgPool, producer: Producer, config: &OutboxConfig) -> Self {
        Self {
            pool,
            producer,
            poll: config.interval(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Wakes the relay in process (call after committing outbox rows
    /// written without NOTIFY).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs until `shutdown`: competes for leadership and relays while
    /// leading; flushes the producer on the way out.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!("outbox relay started");
        let options: PgConnectOptions = (*self.pool.connect_options()).clone();
        let metrics = RelayMetrics::new(&self.pool);
        while !shutdown.is_cancelled() {
            match PgConnection::connect_with(&options).await {
                Ok(mut conn) => {
                    let leader: Result<bool, _> =
                        sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                            .bind(LEADER_LOCK)
                            .fetch_one(&mut conn)
                            .await;
                    match leader {
                        Ok(true) => {
                            tracing::info!("outbox relay leading");
                            if let Err(err) = self.lead(&mut conn, &metrics, &shutdown).await {
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
                () = tokio::time::sleep(self.poll.max(Duration::from_millis(200))) => {}
            }
        }
        self.producer.flush(Duration::from_secs(5));
        tracing::info!("outbox relay stopped");
        Ok(())
    }

    async fn lead(
        &self,
        conn: &mut PgConnection,
        metrics: &RelayMetrics,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
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
                rows = self.skip_already_published(conn, rows).await?;
            }
            verify = false;
            if !rows.is_empty() {
                if rows.iter().any(|r| r.unflushed) {
                    fence(conn).await?;
                }
                let published = self.publish(&rows).await;
                verify = published.len() < rows.len();
                mark(conn, &published).await?;
                metrics.published.inc_by(published.len() as u64);
                if verify {
                    // A failed send may have reached the broker anyway: the
                    // next round checks the tail before resending.
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
                    () = self.wake.notified() => {
                        // Linger a moment so a busy stream of commits goes
                        // out in batches rather than one round trip each.
                        tokio::time::sleep(LINGER).await;
                    }
                    n = listener.try_recv() => {
                        if let Err(err) = n {
                            tracing::warn!(error = %err, "outbox listener error");
                        }
                    }
                    () = tokio::time::sleep(self.poll) => {}
                }
            }
        }
        Ok(())
    }

    /// Marks the rows whose events are already on their topics' tails and
    /// returns the rest.
    async fn skip_already_published(
        &self,
        conn: &mut PgConnection,
        rows: Vec<OutboxRow>,
    ) -> anyhow::Result<Vec<OutboxRow>> {
        let mut topics: Vec<&str> = rows.iter().map(|r| r.topic.as_str()).collect();
        topics.sort_unstable();
        topics.dedup();
        let mut seen = HashSet::new();
        for topic in topics {
            let full_name = self.producer.config().topic(topic);
            seen.extend(published_event_ids(self.producer.config(), &full_name, BATCH).await?);
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
        Ok(todo)
    }

    /// Sends `rows` in order; returns the ids sent, stopping at the first
    /// failure so later events of a key are never marked before an earlier one.
    async fn publish(&self, rows: &[OutboxRow]) -> Vec<i64> {
        let producer = &self.producer;
        let sends = rows.iter().map(|row| {
            let topic = producer.config().topic(&row.topic);
            let mut headers = row.headers.clone();
            headers.push((EVENT_TYPE_HEADER.into(), row.event_type.clone()));
            headers.push(("event-id".into(), row.event_id.to_string()));
            headers.push(("content-type".into(), "application/x-protobuf".into()));
            // A producer span under the writer's trace (kept in the row).
            let span = kafka::publish_span(&topic, &mut headers);
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
                    tracing::warn!(error = ?err, "outbox publish failed; will verify and retry");
                    break;
                }
            }
        }
        published
    }
}

struct OutboxRow {
    id: i64,
    event_id: Uuid,
    topic: String,
    key: String,
    event_type: String,
    payload: Vec<u8>,
    headers: Vec<(String, String)>,
    unflushed: bool,
}

/// Makes every row the relay has read durable, for rows committed without
/// waiting for the WAL flush (`outbox.unflushed`): an event is never on a
/// topic while a database crash could still take its row (and the change
/// it reports) away. One autocommit statement that takes a transaction id:
/// its commit waits for the WAL to be flushed up to its own commit record,
/// which follows the commit of every row the relay saw. Writers that flush
/// (the default) never cost the relay this.
async fn fence(conn: &mut PgConnection) -> anyhow::Result<()> {
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn unpublished(conn: &mut PgConnection) -> anyhow::Result<Vec<OutboxRow>> {
    let rows = sqlx::query(
        "SELECT id, event_id, topic, msg_key, event_type, payload, headers, unflushed FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
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
                unflushed: r.try_get("unflushed")?,
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

/// The platform's outbox series, labelled with the service's database.
struct RelayMetrics {
    backlog: prometheus::IntGauge,
    published: prometheus::IntCounter,
}

impl RelayMetrics {
    fn new(pool: &PgPool) -> Self {
        let database = database_label(pool);
        Self {
            backlog: metrics::OUTBOX_BACKLOG.with_label_values(&[database.as_str()]),
            published: metrics::OUTBOX_PUBLISHED.with_label_values(&[database.as_str()]),
        }
    }
}

/// The `event-id` headers of the last `tail` messages of every partition of
/// `topic` (full name).
pub async fn published_event_ids(
    config: &KafkaConfig,
    topic: &str,
    tail: i64,
) -> anyhow::Result<HashSet<String>> {
    let group = format!("outbox-relay-verify-{}", Uuid::new_v4().simple());
    let consumer = kafka::consumer(config, &group, "earliest")?;
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let mut remaining = HashMap::new();
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
        let delivery = kafka::Delivery::from_message(&message);
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
