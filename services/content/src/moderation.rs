//! Reports and moderation decisions. A rejected or removed video is never
//! served again: its state changes and `VideoRemoved` is emitted.

use chrono::{DateTime, Utc};
use loop_platform::auth::Caller;
use loop_platform::error::is_unique_violation;
use loop_platform::ids::{new_id, parse_id};
use loop_platform::pagination;
use loop_platform::{AppError, AppResult};
use loop_proto::common::v1::PageResponse;
use loop_proto::content::v1 as pb;
use loop_proto::events::v1 as ev;
use uuid::Uuid;

use crate::events::emit;
use crate::model::*;
use crate::service::ContentService;
use crate::validate;
use crate::videos::{fetch_video_tx, visible_video};

const REPORT_OPEN: i16 = pb::ReportStatus::Open as i16;
const REPORT_RESOLVED: i16 = pb::ReportStatus::Resolved as i16;
const REPORT_COLUMNS: &str = "id, video_id, reporter_id, reason, details, status, created_at";

impl ContentService {
    pub(crate) async fn report_video(
        &self,
        caller: &Caller,
        req: pb::ReportVideoRequest,
    ) -> AppResult<pb::ReportVideoResponse> {
        let me = caller.user_id()?;
        let reason = match pb::ReportReason::try_from(req.reason) {
            Ok(pb::ReportReason::Unspecified) | Err(_) => {
                return Err(AppError::invalid(
                    "reason",
                    "give one of the report reasons",
                ));
            }
            Ok(r) => r as i16,
        };
        let details = validate::text("details", &req.details, 0, 1000)?;
        let video = visible_video(&self.pool, caller, "video_id", &req.video_id).await?;
        let inserted = sqlx::query_as::<_, ReportRow>(&format!(
            "INSERT INTO reports (id, video_id, reporter_id, reason, details, status) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {REPORT_COLUMNS}"
        ))
        .bind(new_id())
        .bind(video.id)
        .bind(me)
        .bind(reason)
        .bind(details)
        .bind(REPORT_OPEN)
        .fetch_one(&self.pool)
        .await;
        match inserted {
            Ok(row) => Ok(pb::ReportVideoResponse {
                report: Some(row.to_proto()),
            }),
            Err(err) if is_unique_violation(&err, None) => Err(AppError::AlreadyExists(
                "you already reported this video".into(),
            )),
            Err(err) => Err(err.into()),
        }
    }

    pub(crate) async fn list_reports(
        &self,
        caller: &Caller,
        req: pb::ListReportsRequest,
    ) -> AppResult<pb::ListReportsResponse> {
        caller.require_admin()?;
        let status = match pb::ReportStatus::try_from(req.status) {
            Ok(pb::ReportStatus::Unspecified) => REPORT_OPEN,
            Ok(s) => s as i16,
            Err(_) => return Err(AppError::invalid("status", "unknown status")),
        };
        let page = req.page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let cursor: Option<(DateTime<Utc>, Uuid)> = pagination::decode(&page.page_token)?;
        let rows = sqlx::query_as::<_, ReportRow>(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE status = $1 \
             AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3)) ORDER BY created_at, id LIMIT $4"
        ))
        .bind(status)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = pagination::finish(rows, limit, |r| (r.created_at, r.id));
        Ok(pb::ListReportsResponse {
            reports: rows.iter().map(ReportRow::to_proto).collect(),
            page: Some(PageResponse {
                next_page_token: next,
            }),
        })
    }

    pub(crate) async fn moderate_video(
        &self,
        caller: &Caller,
        req: pb::ModerateVideoRequest,
    ) -> AppResult<pb::ModerateVideoResponse> {
        caller.require_admin()?;
        let admin = caller.user_id()?;
        let id = parse_id("video_id", &req.video_id)?;
        let note = validate::text("note", &req.note, 0, 1000)?;
        let (decision, new_state, removal) = match pb::ModerationDecision::try_from(req.decision) {
            Ok(pb::ModerationDecision::Approve) => {
                (pb::ModerationDecision::Approve, STATE_APPROVED, None)
            }
            Ok(pb::ModerationDecision::Reject) => (
                pb::ModerationDecision::Reject,
                STATE_REJECTED,
                Some(ev::VideoRemovalReason::ModerationRejected),
            ),
            Ok(pb::ModerationDecision::Remove) => (
                pb::ModerationDecision::Remove,
                STATE_REMOVED,
                Some(ev::VideoRemovalReason::ModerationRemoved),
            ),
            _ => {
                return Err(AppError::invalid(
                    "decision",
                    "must be APPROVE, REJECT or REMOVE",
                ));
            }
        };
        let mut tx = self.pool.begin().await?;
        let video = fetch_video_tx(&mut tx, id)
            .await?
            .ok_or_else(|| AppError::not_found("video not found"))?;
        if video.moderation_state == STATE_REMOVED && decision == pb::ModerationDecision::Approve {
            return Err(AppError::FailedPrecondition(
                "a removed video cannot be approved again".into(),
            ));
        }
        sqlx::query("UPDATE videos SET moderation_state = $2, updated_at = now() WHERE id = $1")
            .bind(id)
            .bind(new_state)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE reports SET status = $2, resolved_at = now(), resolved_by = $3 WHERE video_id = $1 AND status = $4")
            .bind(id)
            .bind(REPORT_RESOLVED)
            .bind(admin)
            .bind(REPORT_OPEN)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO moderation_actions (id, video_id, admin_id, decision, note) VALUES ($1, $2, $3, $4, $5)")
            .bind(new_id())
            .bind(id)
            .bind(admin)
            .bind(decision as i16)
            .bind(note)
            .execute(&mut *tx)
            .await?;
        let updated = fetch_video_tx(&mut tx, id)
            .await?
            .ok_or_else(|| AppError::not_found("video not found"))?;
        let payload = match removal {
            Some(reason) => ev::content_event::Payload::VideoRemoved(ev::VideoRemoved {
                video_id: id.to_string(),
                creator_id: video.creator_id.to_string(),
                reason: reason as i32,
            }),
            None => ev::content_event::Payload::VideoUpdated(ev::VideoUpdated {
                video: Some(updated.snapshot()),
            }),
        };
        emit(&mut tx, &id.to_string(), payload).await?;
        tx.commit().await?;
        Ok(pb::ModerateVideoResponse {
            video: Some(updated.to_proto()),
        })
    }
}
