//! Transactional outbox: events are written in the same Postgres transaction
//! as the state change they describe, then relayed to Kafka.
//!
//! A crash before the commit loses both the change and the event; a crash
//! after the commit but before publishing leaves the row for the relay to
//! publish after restart; a crash after publishing but before marking the row
//! publishes it again with the same `event_id`, which consumers dedupe. So no
//! event is lost and none is counted twice.
//!
//! One relay ([`Relay`]) leads at a time per database and publishes rows in
//! insertion order, so events of one key stay ordered even with several
//! replicas; after a crash between publishing and marking it reads the
//! topic's tail and marks what is already there instead of sending it again.

mod relay;

pub use relay::{BATCH, Relay, published_event_ids};

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::telemetry;

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

/// The channel `enqueue` notifies on commit and the relay listens to.
const NOTIFY_CHANNEL: &str = "loop_outbox";

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
    published_at TIMESTAMPTZ,
    -- Committed without waiting for the WAL flush (synchronous_commit off,
    -- as the auction's bid writer commits): the relay makes it durable
    -- before publishing it.
    unflushed    BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
-- Tables made before the column (checked first: ALTER TABLE would lock the
-- table even when the column exists).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'outbox' AND column_name = 'unflushed') THEN
        ALTER TABLE outbox ADD COLUMN unflushed BOOLEAN NOT NULL DEFAULT false;
    END IF;
END $$;
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
    enqueue_quietly(tx, event).await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(NOTIFY_CHANNEL)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// [`enqueue`] without the NOTIFY, for hot paths: NOTIFY takes a
/// cluster-wide lock at commit held through the WAL flush, which would
/// serialise every commit on one lock. Wake the relay with
/// [`Relay::waker`] after committing instead (other replicas' rows are
/// found by its poll).
pub async fn enqueue_quietly(
    tx: &mut PgConnection,
    event: OutboxEvent<'_>,
) -> Result<(), sqlx::Error> {
    let headers = trace_headers();
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
    Ok(())
}

/// The `headers` column of an outbox row written now: the current trace
/// context, so the relay's producer span joins the writer's trace. For
/// statements that write an outbox row beside other rows (then wake the
/// relay after the commit, as [`enqueue_quietly`]'s callers do).
pub fn trace_headers() -> serde_json::Value {
    serde_json::to_value(telemetry::current_context_pairs()).unwrap_or_default()
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
