//! Transactional outbox: events are written in the same Postgres transaction
//! as the state change they describe, then relayed to Kafka.
//!
//! A crash before the commit loses both the change and the event; a crash
//! after the commit but before publishing leaves the row for the relay to
//! publish after restart; a crash after publishing but before marking the row
//! publishes it again with the same `event_id`, which consumers dedupe. So no
//! event is lost and none is counted twice.
//!
//! One relay works at a time per database (a transaction-scoped advisory
//! lock), and it publishes rows in insertion order, so events of one key stay
//! ordered even with several replicas.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool, Row};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use tracing::Instrument;

use crate::kafka::{EVENT_TYPE_HEADER, Producer};
use crate::{kafka, metrics, telemetry};

/// Where and how often a service relays its outbox.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Run the relay in this process (one replica at a time publishes; turn
    /// off to run it elsewhere, or in tests that simulate a crash between
    /// commit and publish).
    pub relay_enabled: bool,
    /// Fallback poll interval when no commit notification arrives.
    pub poll_interval_ms: u64,
}

impl OutboxConfig {
    /// The relay on, polling every `poll_interval_ms`.
    pub fn every_ms(poll_interval_ms: u64) -> Self {
        Self {
            relay_enabled: true,
            poll_interval_ms,
        }
    }

    pub fn validate_into(&self, problems: &mut Vec<String>) {
        if !(10..=60_000).contains(&self.poll_interval_ms) {
            problems.push("outbox.poll_interval_ms: must be 10..=60000".into());
        }
    }

    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }
}

const NOTIFY_CHANNEL: &str = "loop_outbox";
/// Arbitrary constant naming the relay's advisory lock.
const RELAY_LOCK_KEY: i64 = 0x4c4f_4f50_4f42_5831;

/// The outbox table; every service that uses the outbox runs this at start-up
/// (idempotent), so no service copies it into its migrations.
pub const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS outbox (
    id           BIGSERIAL PRIMARY KEY,
    event_id     UUID NOT NULL UNIQUE,
    topic        TEXT NOT NULL,
    msg_key      TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    payload      BYTEA NOT NULL,
    headers      JSONB NOT NULL DEFAULT '[]',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
";

pub async fn ensure_schema(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::raw_sql(SCHEMA).execute(pool).await?;
    Ok(())
}

/// An event waiting in a transaction.
pub struct OutboxEvent<'a> {
    pub event_id: Uuid,
    /// Logical topic (`content.v1`); the relay adds the configured prefix.
    pub topic: &'a str,
    pub key: &'a str,
    pub event_type: &'a str,
    pub payload: Vec<u8>,
}

/// Adds `event` to the outbox inside the caller's transaction, with the
/// current trace context, and wakes the relay once the transaction commits.
pub async fn enqueue(tx: &mut PgConnection, event: OutboxEvent<'_>) -> Result<(), sqlx::Error> {
    let headers = serde_json::to_value(telemetry::current_context_pairs()).unwrap_or_default();
    sqlx::query(
        "INSERT INTO outbox (event_id, topic, msg_key, event_type, payload, headers) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(event.event_id)
    .bind(event.topic)
    .bind(event.key)
    .bind(event.event_type)
    .bind(event.payload)
    .bind(headers)
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(NOTIFY_CHANNEL)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Publishes up to `limit` unpublished rows in order; returns how many.
pub async fn relay_once(pool: &PgPool, producer: &Producer, limit: i64) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(RELAY_LOCK_KEY)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(0);
    }
    let rows = sqlx::query(
        "SELECT id, event_id, topic, msg_key, event_type, payload, headers FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut sends = Vec::with_capacity(rows.len());
    for row in &rows {
        let topic = producer.config().topic(row.try_get::<&str, _>("topic")?);
        let key: String = row.try_get("msg_key")?;
        let payload: Vec<u8> = row.try_get("payload")?;
        let mut headers: Vec<(String, String)> =
            serde_json::from_value(row.try_get("headers")?).unwrap_or_default();
        headers.push((EVENT_TYPE_HEADER.into(), row.try_get("event_type")?));
        headers.push((
            "event-id".into(),
            row.try_get::<Uuid, _>("event_id")?.to_string(),
        ));
        headers.push(("content-type".into(), "application/x-protobuf".into()));
        // A producer span under the writer's trace (kept in the row).
        let span = kafka::publish_span(&topic, &mut headers);
        sends.push(
            async move {
                producer
                    .send_raw(&topic, key.as_bytes(), &payload, &headers)
                    .await
            }
            .instrument(span),
        );
    }
    // join_all polls the sends in order, so they enter the producer queue in
    // outbox order; the idempotent producer keeps that order per partition.
    let results = futures::future::join_all(sends).await;
    let mut published = Vec::new();
    for (row, result) in rows.iter().zip(&results) {
        match result {
            Ok(_) => published.push(row.try_get::<i64, _>("id")?),
            Err(err) => {
                // Stop at the first failure so later events of the same key
                // are not marked before an earlier one.
                tracing::warn!(error = ?err, "outbox publish failed; will retry");
                break;
            }
        }
    }
    sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
        .bind(&published)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    metrics::OUTBOX_PUBLISHED
        .with_label_values(&[database_label(pool).as_str()])
        .inc_by(published.len() as u64);
    Ok(published.len())
}

/// The `database` label of the outbox metrics.
fn database_label(pool: &PgPool) -> String {
    pool.connect_options()
        .get_database()
        .unwrap_or("postgres")
        .to_owned()
}

/// Unpublished rows (the backlog).
pub async fn backlog(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(pool)
            .await?,
    )
}

/// Runs the relay until `shutdown`: publishes on every commit notification,
/// and polls every `poll` in case a notification was missed.
pub async fn run_relay(
    pool: PgPool,
    producer: Producer,
    poll: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(NOTIFY_CHANNEL).await?;
    let mut last_prune = tokio::time::Instant::now();
    let backlog_gauge =
        metrics::OUTBOX_BACKLOG.with_label_values(&[database_label(&pool).as_str()]);
    let mut last_backlog: Option<tokio::time::Instant> = None;
    tracing::info!("outbox relay started");
    let mut backoff = Duration::from_millis(100);
    loop {
        // The backlog metric, at most once a second (an index-only count of
        // the unpublished rows), whether or not this replica relays.
        if last_backlog.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            last_backlog = Some(tokio::time::Instant::now());
            match backlog(&pool).await {
                Ok(n) => backlog_gauge.set(n),
                Err(err) => tracing::warn!(error = %err, "counting the outbox backlog failed"),
            }
        }
        match relay_once(&pool, &producer, 500).await {
            Ok(n) if n > 0 => {
                backoff = Duration::from_millis(100);
                continue;
            }
            Ok(_) => backoff = Duration::from_millis(100),
            Err(err) => {
                tracing::warn!(error = ?err, "outbox relay error");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        }
        if last_prune.elapsed() > Duration::from_secs(3600) {
            last_prune = tokio::time::Instant::now();
            if let Err(err) =
                sqlx::query("DELETE FROM outbox WHERE published_at < now() - interval '7 days'")
                    .execute(&pool)
                    .await
            {
                tracing::warn!(error = %err, "outbox prune failed");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            n = listener.try_recv() => {
                if let Err(err) = n {
                    tracing::warn!(error = %err, "outbox listener error");
                }
            }
            () = tokio::time::sleep(poll) => {}
        }
    }
    producer.flush(Duration::from_secs(5));
    tracing::info!("outbox relay stopped");
    Ok(())
}
