//! `commerce.v1` events, written to the outbox inside the transaction that
//! changes the order or product they describe.

use loop_platform::kafka::topics;
use loop_platform::outbox;
use loop_proto::events::v1::{CommerceEvent, commerce_event::Payload};
use prost::Message;
use sqlx::PgConnection;

pub const EVENT_TYPE: &str = "loop.events.v1.CommerceEvent";

/// Queues `payload` keyed by `key` (order or product id) in the open transaction.
pub async fn emit(
    tx: &mut PgConnection,
    key: &str,
    at: chrono::DateTime<chrono::Utc>,
    payload: Payload,
) -> Result<(), sqlx::Error> {
    outbox::enqueue(tx, event(key, encode(at, payload))).await
}

/// An event's outbox row, for a statement that writes it beside the rows
/// it describes. Written without NOTIFY, for checkouts (NOTIFY holds a
/// cluster-wide lock through each commit's WAL flush, serialising every
/// checkout's commit): wake the relay with `CommerceService::relay_wake`
/// after the commit (other replicas' rows are found by the relay's poll).
pub struct OutboxRow {
    pub event_id: uuid::Uuid,
    pub topic: &'static str,
    pub key: String,
    pub event_type: &'static str,
    pub payload: Vec<u8>,
    pub headers: serde_json::Value,
}

pub fn outbox_row(key: &str, at: chrono::DateTime<chrono::Utc>, payload: Payload) -> OutboxRow {
    let (event_id, payload) = encode(at, payload);
    OutboxRow {
        event_id,
        topic: topics::COMMERCE,
        key: key.to_owned(),
        event_type: EVENT_TYPE,
        payload,
        headers: outbox::trace_headers(),
    }
}

fn encode(at: chrono::DateTime<chrono::Utc>, payload: Payload) -> (uuid::Uuid, Vec<u8>) {
    let event_id = loop_platform::ids::new_id();
    let event = CommerceEvent {
        event_id: event_id.to_string(),
        occurred_at: Some(loop_platform::time::to_timestamp(at)),
        payload: Some(payload),
    };
    (event_id, event.encode_to_vec())
}

fn event(key: &str, (event_id, payload): (uuid::Uuid, Vec<u8>)) -> outbox::OutboxEvent<'_> {
    outbox::OutboxEvent {
        event_id,
        topic: topics::COMMERCE,
        key,
        event_type: EVENT_TYPE,
        payload,
    }
}
