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
    let event_id = loop_platform::ids::new_id();
    let event = CommerceEvent {
        event_id: event_id.to_string(),
        occurred_at: Some(loop_platform::time::to_timestamp(at)),
        payload: Some(payload),
    };
    outbox::enqueue(
        tx,
        outbox::OutboxEvent {
            event_id,
            topic: topics::COMMERCE,
            key,
            event_type: EVENT_TYPE,
            payload: event.encode_to_vec(),
        },
    )
    .await
}
