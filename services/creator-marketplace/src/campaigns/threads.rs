//! Message threads between the two parties of a collaboration.

use chrono::{DateTime, Utc};
use loop_platform::auth::Caller;
use loop_platform::ids::{new_id, parse_id};
use loop_platform::pagination;
use loop_proto::common::v1::PageResponse;
use loop_proto::creator_marketplace::v1 as pb;
use uuid::Uuid;

use super::collaborations::state as machine;
use super::text;
use crate::error::{MktError, MktResult, invalid_state};
use crate::model::{COLLAB_COLUMNS, CollabRow, MessageRow, page_token, state};
use crate::service::MarketplaceService;

impl MarketplaceService {
    pub(crate) async fn send_message(
        &self,
        caller: &Caller,
        req: pb::SendMessageRequest,
    ) -> MktResult<pb::SendMessageResponse> {
        let body = text("body", &req.body, 1, 4000)?;
        let id = parse_id("collaboration_id", &req.collaboration_id)?;
        // Only the two parties write; anyone else does not see the thread.
        let row = sqlx::query_as::<_, CollabRow>(&format!(
            "SELECT {COLLAB_COLUMNS} FROM collaborations WHERE collaboration_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .filter(|c| c.is_party(&caller.subject))
        .ok_or_else(|| MktError::not_found("collaboration not found"))?;
        if machine::is_void(row.state) {
            return Err(invalid_state(format!(
                "the thread is read-only: the collaboration is {}",
                state::name(row.state)
            )));
        }
        let msg = sqlx::query_as::<_, MessageRow>(
            "INSERT INTO messages (message_id, collaboration_id, sender_id, body) VALUES ($1, $2, $3, $4) \
             RETURNING message_id, collaboration_id, sender_id, body, created_at",
        )
        .bind(new_id())
        .bind(id)
        .bind(caller.user_id()?)
        .bind(&body)
        .fetch_one(&self.pool)
        .await?;
        Ok(pb::SendMessageResponse {
            message: Some(msg.to_proto()),
        })
    }

    pub(crate) async fn list_messages(
        &self,
        caller: &Caller,
        req: pb::ListMessagesRequest,
    ) -> MktResult<pb::ListMessagesResponse> {
        let row = self.visible_collab(caller, &req.collaboration_id).await?;
        let page = req.page.clone().unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let after: Option<(DateTime<Utc>, Uuid)> = page_token(&page.page_token)?;
        let rows = sqlx::query_as::<_, MessageRow>(
            "SELECT message_id, collaboration_id, sender_id, body, created_at FROM messages \
             WHERE collaboration_id = $1 AND ($2::timestamptz IS NULL OR (created_at, message_id) < ($2, $3)) \
             ORDER BY created_at DESC, message_id DESC LIMIT $4",
        )
        .bind(row.collaboration_id)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = pagination::finish(rows, limit, |r| (r.created_at, r.message_id));
        Ok(pb::ListMessagesResponse {
            messages: rows.iter().map(MessageRow::to_proto).collect(),
            page: Some(PageResponse {
                next_page_token: next,
            }),
        })
    }
}
