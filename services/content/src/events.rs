//! `content.v1` events, written to the outbox inside the caller's transaction.

use loop_platform::kafka::topics;
use loop_platform::outbox::{self, OutboxEvent};
use loop_proto::events::v1::{ContentEvent, content_event::Payload};
use prost::Message;
use sqlx::PgConnection;

pub const EVENT_TYPE: &str = "loop.events.v1.ContentEvent";

/// Records `payload` keyed by `key` in the outbox of the open transaction.
pub async fn emit(tx: &mut PgConnection, key: &str, payload: Payload) -> Result<(), sqlx::Error> {
    let event_id = loop_platform::ids::new_id();
    let event = ContentEvent {
        event_id: event_id.to_string(),
        occurred_at: Some(loop_platform::time::to_timestamp(chrono::Utc::now())),
        payload: Some(payload),
    };
    outbox::enqueue(
        tx,
        OutboxEvent {
            event_id,
            topic: topics::CONTENT,
            key,
            event_type: EVENT_TYPE,
            payload: event.encode_to_vec(),
        },
    )
    .await
}
