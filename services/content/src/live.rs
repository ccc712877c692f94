//! LIVE rooms: a creator opens one room at a time; viewers join and leave
//! (joining twice counts once).

use loop_platform::auth::Caller;
use loop_platform::error::is_unique_violation;
use loop_platform::ids::{new_id, parse_id};
use loop_platform::pagination;
use loop_platform::{AppError, AppResult};
use loop_proto::common::v1::PageResponse;
use loop_proto::content::v1 as pb;
use loop_proto::events::v1 as ev;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::events::emit;
use crate::model::{LIVE_SELECT, LiveRoomRow};
use crate::service::ContentService;
use crate::validate;

async fn room_tx(tx: &mut PgConnection, id: Uuid) -> AppResult<LiveRoomRow> {
    sqlx::query_as::<_, LiveRoomRow>(&format!("{LIVE_SELECT} WHERE r.id = $1 FOR UPDATE OF r"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| AppError::not_found("live room not found"))
}

impl ContentService {
    pub(crate) async fn start_live(
        &self,
        caller: &Caller,
        req: pb::StartLiveRequest,
    ) -> AppResult<pb::StartLiveResponse> {
        let me = caller.user_id()?;
        let title = validate::text("title", &req.title, 1, 100)?;
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
            .bind(me)
            .fetch_optional(&self.pool)
            .await?;
        if !matches!(role.as_deref(), Some("creator" | "admin")) {
            return Err(AppError::PermissionDenied(
                "only creators can go LIVE".into(),
            ));
        }
        let id = new_id();
        let mut tx = self.pool.begin().await?;
        let inserted =
            sqlx::query("INSERT INTO live_rooms (id, creator_id, title) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(me)
                .bind(&title)
                .execute(&mut *tx)
                .await;
        match inserted {
            Err(err) if is_unique_violation(&err, None) => {
                return Err(AppError::FailedPrecondition(
                    "you already have an open LIVE room; end it first".into(),
                ));
            }
            Err(err) => return Err(err.into()),
            Ok(_) => {}
        }
        emit(
            &mut tx,
            &id.to_string(),
            ev::content_event::Payload::LiveStarted(ev::LiveStarted {
                room_id: id.to_string(),
                creator_id: me.to_string(),
                title,
            }),
        )
        .await?;
        let room = room_tx(&mut tx, id).await?;
        tx.commit().await?;
        Ok(pb::StartLiveResponse {
            room: Some(room.to_proto()),
        })
    }

    pub(crate) async fn end_live(
        &self,
        caller: &Caller,
        req: pb::EndLiveRequest,
    ) -> AppResult<pb::EndLiveResponse> {
        let id = parse_id("room_id", &req.room_id)?;
        let mut tx = self.pool.begin().await?;
        let room = room_tx(&mut tx, id).await?;
        if caller.subject != room.creator_id.to_string() && !caller.is_admin() {
            return Err(AppError::PermissionDenied(
                "only the room's creator can end it".into(),
            ));
        }
        if room.ended_at.is_some() {
            return Err(AppError::FailedPrecondition(
                "the room has already ended".into(),
            ));
        }
        sqlx::query("UPDATE live_rooms SET ended_at = now(), viewer_count = 0 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE live_viewers SET left_at = now() WHERE room_id = $1 AND left_at IS NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        emit(
            &mut tx,
            &id.to_string(),
            ev::content_event::Payload::LiveEnded(ev::LiveEnded {
                room_id: id.to_string(),
                creator_id: room.creator_id.to_string(),
                total_viewers: u64::try_from(room.total_viewers).unwrap_or(0),
            }),
        )
        .await?;
        let room = room_tx(&mut tx, id).await?;
        tx.commit().await?;
        Ok(pb::EndLiveResponse {
            room: Some(room.to_proto()),
        })
    }

    pub(crate) async fn join_live(
        &self,
        caller: &Caller,
        req: pb::JoinLiveRequest,
    ) -> AppResult<pb::JoinLiveResponse> {
        let me = caller.user_id()?;
        let id = parse_id("room_id", &req.room_id)?;
        let mut tx = self.pool.begin().await?;
        let room = room_tx(&mut tx, id).await?;
        if room.ended_at.is_some() {
            return Err(AppError::FailedPrecondition("the room has ended".into()));
        }
        // New viewer: counts once in total and now; returning viewer: counts now again.
        let state: Option<(bool,)> = sqlx::query_as(
            "SELECT left_at IS NULL FROM live_viewers WHERE room_id = $1 AND user_id = $2",
        )
        .bind(id)
        .bind(me)
        .fetch_optional(&mut *tx)
        .await?;
        match state {
            None => {
                sqlx::query("INSERT INTO live_viewers (room_id, user_id) VALUES ($1, $2)")
                    .bind(id)
                    .bind(me)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE live_rooms SET viewer_count = viewer_count + 1, total_viewers = total_viewers + 1 WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            Some((false,)) => {
                sqlx::query("UPDATE live_viewers SET left_at = NULL, joined_at = now() WHERE room_id = $1 AND user_id = $2")
                    .bind(id)
                    .bind(me)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE live_rooms SET viewer_count = viewer_count + 1 WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            Some((true,)) => {}
        }
        let room = room_tx(&mut tx, id).await?;
        tx.commit().await?;
        Ok(pb::JoinLiveResponse {
            room: Some(room.to_proto()),
        })
    }

    pub(crate) async fn leave_live(
        &self,
        caller: &Caller,
        req: pb::LeaveLiveRequest,
    ) -> AppResult<pb::LeaveLiveResponse> {
        let me = caller.user_id()?;
        let id = parse_id("room_id", &req.room_id)?;
        let mut tx = self.pool.begin().await?;
        room_tx(&mut tx, id).await?;
        let left = sqlx::query("UPDATE live_viewers SET left_at = now() WHERE room_id = $1 AND user_id = $2 AND left_at IS NULL")
            .bind(id)
            .bind(me)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if left == 1 {
            sqlx::query("UPDATE live_rooms SET viewer_count = viewer_count - 1 WHERE id = $1 AND viewer_count > 0")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let room = room_tx(&mut tx, id).await?;
        tx.commit().await?;
        Ok(pb::LeaveLiveResponse {
            room: Some(room.to_proto()),
        })
    }

    pub(crate) async fn get_live_room(
        &self,
        _caller: &Caller,
        req: pb::GetLiveRoomRequest,
    ) -> AppResult<pb::GetLiveRoomResponse> {
        let id = parse_id("room_id", &req.room_id)?;
        let room = sqlx::query_as::<_, LiveRoomRow>(&format!("{LIVE_SELECT} WHERE r.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| AppError::not_found("live room not found"))?;
        Ok(pb::GetLiveRoomResponse {
            room: Some(room.to_proto()),
        })
    }

    pub(crate) async fn list_live_rooms(
        &self,
        _caller: &Caller,
        req: pb::ListLiveRoomsRequest,
    ) -> AppResult<pb::ListLiveRoomsResponse> {
        let page = req.page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let cursor: Option<(i64, Uuid)> = pagination::decode(&page.page_token)?;
        let rows = sqlx::query_as::<_, LiveRoomRow>(&format!(
            "{LIVE_SELECT} WHERE r.ended_at IS NULL \
             AND ($1::bigint IS NULL OR (r.viewer_count < $1 OR (r.viewer_count = $1 AND r.id > $2))) \
             ORDER BY r.viewer_count DESC, r.id LIMIT $3"
        ))
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = pagination::finish(rows, limit, |r| (r.viewer_count, r.id));
        Ok(pb::ListLiveRoomsResponse {
            rooms: rows.iter().map(LiveRoomRow::to_proto).collect(),
            page: Some(PageResponse {
                next_page_token: next,
            }),
        })
    }
}
