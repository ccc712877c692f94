//! `wallet.v1` events, written to the outbox inside the transaction that
//! moves the money.
//!
//! Unlike the platform's `outbox::enqueue`, no `pg_notify` is sent: NOTIFY
//! takes a cluster-wide lock at commit that is held through the WAL flush,
//! which would serialise every gift on one lock. The relay is woken in
//! process instead and polls for other replicas' events (`loop_platform::outbox::Relay`).

use loop_platform::kafka::topics;
use loop_platform::outbox;
use loop_proto::events::v1::{WalletEvent, wallet_event::Payload};
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

pub const EVENT_TYPE: &str = "loop.events.v1.WalletEvent";

/// An event ready for the outbox.
pub struct Outgoing {
    pub event_id: Uuid,
    pub key: String,
    pub payload: Vec<u8>,
    /// W3C trace context pairs as JSON.
    pub headers: serde_json::Value,
}

/// Builds the event for `payload`, keyed by `key` (see the event contract).
pub fn build(key: &str, payload: Payload) -> Outgoing {
    let event_id = loop_platform::ids::new_id();
    let event = WalletEvent {
        event_id: event_id.to_string(),
        occurred_at: Some(loop_platform::time::to_timestamp(chrono::Utc::now())),
        payload: Some(payload),
    };
    Outgoing {
        event_id,
        key: key.to_owned(),
        payload: event.encode_to_vec(),
        headers: serde_json::to_value(loop_platform::telemetry::current_context_pairs())
            .unwrap_or_default(),
    }
}

/// Queues `payload` in the outbox of the open transaction (no NOTIFY: the
/// service wakes the relay after the commit).
pub async fn emit(tx: &mut PgConnection, key: &str, payload: Payload) -> Result<(), sqlx::Error> {
    let out = build(key, payload);
    outbox::enqueue_quietly(
        tx,
        outbox::OutboxEvent {
            event_id: out.event_id,
            topic: topics::WALLET,
            key,
            event_type: EVENT_TYPE,
            payload: out.payload,
        },
    )
    .await
}
