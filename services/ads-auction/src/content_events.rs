//! Follows `content.v1`: a removed video's creatives stop serving for good
//! (status VIDEO_REMOVED), and so do Spark codes of that video. Idempotent:
//! replaying a removal changes nothing the second time.

use std::sync::Arc;

use loop_platform::kafka::{BatchHandler, Delivery};
use loop_proto::events::v1 as ev;
use sqlx::PgPool;
use uuid::Uuid;

use crate::index::{self, Index};
use crate::model::{CREATIVE_ACTIVE, CREATIVE_PAUSED, CREATIVE_VIDEO_REMOVED};

#[derive(Clone)]
pub struct ContentHandler {
    pub pool: PgPool,
    pub index: Arc<Index>,
}

impl BatchHandler for ContentHandler {
    async fn handle(&self, batch: &[Delivery]) -> anyhow::Result<Vec<(usize, String)>> {
        let mut removed = Vec::new();
        let mut poison = Vec::new();
        for (i, d) in batch.iter().enumerate() {
            match d.decode::<ev::ContentEvent>() {
                Ok(e) => {
                    if let Some(ev::content_event::Payload::VideoRemoved(r)) = e.payload
                        && let Ok(id) = Uuid::parse_str(&r.video_id)
                    {
                        removed.push(id);
                    }
                }
                Err(err) => poison.push((i, format!("undecodable ContentEvent: {err}"))),
            }
        }
        if removed.is_empty() {
            return Ok(poison);
        }
        let mut tx = self.pool.begin().await?;
        let groups: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE creatives SET status = $2, updated_at = now() WHERE video_id = ANY($1) AND status IN ($3, $4) \
             RETURNING ad_group_id",
        )
        .bind(&removed)
        .bind(CREATIVE_VIDEO_REMOVED)
        .bind(CREATIVE_ACTIVE)
        .bind(CREATIVE_PAUSED)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE spark_codes SET revoked_at = now() WHERE video_id = ANY($1) AND revoked_at IS NULL",
        )
        .bind(&removed)
        .execute(&mut *tx)
        .await?;
        if !groups.is_empty() {
            sqlx::query("UPDATE ad_groups SET updated_at = now() WHERE id = ANY($1)")
                .bind(&groups)
                .execute(&mut *tx)
                .await?;
            index::notify(&mut tx, &groups).await?;
        }
        tx.commit().await?;
        index::reload(&self.pool, &self.index, &groups).await?;
        Ok(poison)
    }
}
