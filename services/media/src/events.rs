//! `media.v1` events, written to the outbox in the transaction that changes
//! the upload's state (so each state change is published exactly once).

use loop_platform::kafka::topics;
use loop_platform::outbox;
use loop_proto::events::v1::{MediaEvent, media_event::Payload};
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

pub const EVENT_TYPE: &str = "loop.events.v1.MediaEvent";

/// Queues `payload` for `upload_id` in the open transaction.
pub async fn emit(
    tx: &mut PgConnection,
    upload_id: Uuid,
    payload: Payload,
) -> Result<(), sqlx::Error> {
    let event_id = loop_platform::ids::new_id();
    let event = MediaEvent {
        event_id: event_id.to_string(),
        occurred_at: Some(loop_platform::time::to_timestamp(chrono::Utc::now())),
        payload: Some(payload),
    };
    let key = upload_id.to_string();
    outbox::enqueue(
        tx,
        outbox::OutboxEvent {
            event_id,
            topic: topics::MEDIA,
            key: &key,
            event_type: EVENT_TYPE,
            payload: event.encode_to_vec(),
        },
    )
    .await
}
