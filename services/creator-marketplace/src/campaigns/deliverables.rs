//! Deliverables: the creator submits videos, the advertiser approves them
//! (releasing the escrow) or sends them back.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use loop_platform::auth::Caller;
use loop_platform::ids::parse_id;
use loop_platform::time::from_timestamp;
use loop_proto::content::v1 as cpb;
use loop_proto::creator_marketplace::v1 as pb;
use uuid::Uuid;

use super::collaborations::actor;
use super::collaborations::state::{self as machine, Action, Actor};
use super::store::{claim_key, lock_collab, set_state};
use super::{idempotency_key, text};
use crate::error::{MktError, MktResult, Reason, invalid_state};
use crate::escrow::EscrowError;
use crate::model::{CAMPAIGN_COLUMNS, CampaignRow};
use crate::service::{MarketplaceService, advertiser, creator};

impl MarketplaceService {
    /// Checks that each video is the creator's, public, approved, published
    /// after `accepted_at` (when given) and carries `hashtag`.
    async fn check_videos(
        &self,
        videos: &[Uuid],
        creator: Uuid,
        hashtag: &str,
        accepted_at: Option<DateTime<Utc>>,
    ) -> MktResult<()> {
        for (i, id) in videos.iter().enumerate() {
            let field = format!("video_ids[{i}]");
            let v = self
                .content_video(*id)
                .await?
                .ok_or_else(|| MktError::not_found(format!("video not found ({field})")))?;
            if v.creator_id != creator.to_string() {
                return Err(MktError::denied(format!(
                    "{field}: the video is not the creator's"
                )));
            }
            let public = v.visibility == cpb::Visibility::Public as i32
                && v.moderation_state == cpb::ModerationState::Approved as i32;
            if !public {
                return Err(MktError::rule(
                    Reason::VideoNotPublic,
                    format!("{field}: the video is not public and approved"),
                ));
            }
            if !v.hashtags.iter().any(|h| h.eq_ignore_ascii_case(hashtag)) {
                return Err(MktError::rule(
                    Reason::MissingRequiredHashtag,
                    format!("{field}: the video does not carry #{hashtag}"),
                ));
            }
            if let (Some(accepted), Some(published)) = (accepted_at, v.published_at.as_ref()) {
                let published = from_timestamp("published_at", Some(published))?;
                if published < accepted - chrono::Duration::seconds(1) {
                    return Err(MktError::rule(
                        Reason::VideoTooOld,
                        format!(
                            "{field}: the video was published before the collaboration was accepted"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn submit_deliverable(
        &self,
        caller: &Caller,
        req: pb::SubmitDeliverableRequest,
    ) -> MktResult<pb::SubmitDeliverableResponse> {
        let me = creator(caller)?;
        let row = self.visible_collab(caller, &req.collaboration_id).await?;
        // Matched by user id, as the creator submits for themselves only.
        let me_as_actor = Actor::caller(&me.to_string(), caller.is_admin(), &row);
        machine::authorize(Action::Submit, me_as_actor)?;
        let campaign = sqlx::query_as::<_, CampaignRow>(&format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE campaign_id = $1"
        ))
        .bind(row.campaign_id)
        .fetch_one(&self.pool)
        .await?;
        let videos = distinct_videos(&req.video_ids)?;
        if videos.len() != usize::try_from(campaign.video_count).unwrap_or(0) {
            return Err(MktError::invalid(
                "video_ids",
                format!("give exactly {} videos", campaign.video_count),
            ));
        }
        machine::advance(row.state, Action::Submit, &self.facts(&row))?;
        self.check_videos(&videos, me, &campaign.required_hashtag, row.accepted_at)
            .await?;
        let mut tx = self.pool.begin().await?;
        let locked = lock_collab(&mut tx, row.collaboration_id)
            .await?
            .ok_or_else(|| MktError::not_found("collaboration not found"))?;
        // Only the state is checked again: the deadline held a moment ago.
        let Some(to) = machine::target(locked.state, Action::Submit) else {
            return Err(invalid_state("the collaboration changed state meanwhile"));
        };
        sqlx::query(
            "UPDATE collaborations SET video_ids = $2, submitted_at = now() WHERE collaboration_id = $1",
        )
        .bind(locked.collaboration_id)
        .bind(&videos)
        .execute(&mut *tx)
        .await?;
        let ids: Vec<String> = videos.iter().map(Uuid::to_string).collect();
        let updated = set_state(&mut tx, &locked, to, &caller.subject, &ids.join(",")).await?;
        tx.commit().await?;
        Ok(pb::SubmitDeliverableResponse {
            collaboration: Some(updated.to_proto()),
        })
    }

    pub(crate) async fn approve_deliverable(
        &self,
        caller: &Caller,
        req: pb::ApproveDeliverableRequest,
    ) -> MktResult<pb::ApproveDeliverableResponse> {
        advertiser(caller)?;
        let key = idempotency_key(&req.idempotency_key)?;
        let row = self.visible_collab(caller, &req.collaboration_id).await?;
        machine::authorize(Action::Approve, actor(caller, &row))?;
        let retry = row.approve_key.as_deref() == Some(key.as_str());
        if !retry {
            machine::advance(row.state, Action::Approve, &self.facts(&row))?;
            // The videos may have been edited since submission.
            let hashtag: String =
                sqlx::query_scalar("SELECT required_hashtag FROM campaigns WHERE campaign_id = $1")
                    .bind(row.campaign_id)
                    .fetch_one(&self.pool)
                    .await?;
            self.check_videos(&row.video_ids, row.creator_id, &hashtag, None)
                .await?;
        }
        let mut tx = self.pool.begin().await?;
        claim_key(
            &mut tx,
            &caller.subject,
            &key,
            "ApproveDeliverable",
            row.collaboration_id,
        )
        .await?;
        let locked = lock_collab(&mut tx, row.collaboration_id)
            .await?
            .ok_or_else(|| MktError::not_found("collaboration not found"))?;
        if locked.approve_key.as_deref() != Some(key.as_str()) {
            let to = machine::advance(locked.state, Action::Approve, &self.facts(&locked))?;
            sqlx::query(
                "UPDATE collaborations SET approve_key = $2, fee_bps = $3 WHERE collaboration_id = $1",
            )
            .bind(locked.collaboration_id)
            .bind(&key)
            .bind(i32::try_from(self.config.marketplace.platform_fee_bps).unwrap_or(0))
            .execute(&mut *tx)
            .await?;
            set_state(&mut tx, &locked, to, &caller.subject, "").await?;
        }
        tx.commit().await?;
        let paid = self.finish_release(row.collaboration_id).await;
        if let Err(err) = &paid {
            tracing::warn!(error = %err, collaboration = %row.collaboration_id, "escrow release pending; the sweeper retries");
        }
        let current = self.visible_collab(caller, &req.collaboration_id).await?;
        Ok(pb::ApproveDeliverableResponse {
            collaboration: Some(current.to_proto()),
        })
    }

    /// APPROVED -> PAID: releases the escrow (same wallet key on every try)
    /// and records what was paid. A no-op unless the collaboration is APPROVED.
    pub(crate) async fn finish_release(&self, id: Uuid) -> Result<(), EscrowError> {
        let row = sqlx::query_as::<_, (i16, Option<Uuid>, i32)>(
            "SELECT state, escrow_id, fee_bps FROM collaborations WHERE collaboration_id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| EscrowError::Unavailable(e.to_string()))?;
        let Some((st, Some(escrow), bps)) = row else {
            return Ok(());
        };
        if machine::target(st, Action::Release).is_none() {
            return Ok(());
        }
        let settled = self
            .wallet
            .release(id, escrow, u32::try_from(bps).unwrap_or(0))
            .await?;
        let record = async {
            let mut tx = self.pool.begin().await?;
            if let Some(locked) = lock_collab(&mut tx, id).await?
                && let Some(to) = machine::target(locked.state, Action::Release)
            {
                sqlx::query(
                    "UPDATE collaborations SET paid_cents = $2, platform_fee_cents = $3 WHERE collaboration_id = $1",
                )
                .bind(id)
                .bind(settled.payee_cents)
                .bind(settled.platform_fee_cents)
                .execute(&mut *tx)
                .await?;
                set_state(
                    &mut tx,
                    &locked,
                    to,
                    crate::SERVICE_SUBJECT,
                    &format!(
                        "escrow {escrow} released: {} cents to the creator, {} cents fee",
                        settled.payee_cents, settled.platform_fee_cents
                    ),
                )
                .await?;
            }
            tx.commit().await?;
            MktResult::Ok(())
        };
        record
            .await
            .map_err(|e| EscrowError::Unavailable(e.to_string()))
    }

    pub(crate) async fn request_changes(
        &self,
        caller: &Caller,
        req: pb::RequestChangesRequest,
    ) -> MktResult<pb::RequestChangesResponse> {
        advertiser(caller)?;
        let note = text("note", &req.note, 1, 2000)?;
        let id = parse_id("collaboration_id", &req.collaboration_id)?;
        let mut tx = self.pool.begin().await?;
        let row = lock_collab(&mut tx, id)
            .await?
            .filter(|c| caller.is_admin() || c.is_party(&caller.subject))
            .ok_or_else(|| MktError::not_found("collaboration not found"))?;
        let action = Action::RequestChanges;
        let to = machine::decide(row.state, action, actor(caller, &row), &self.facts(&row))?;
        sqlx::query(
            "UPDATE collaborations SET change_request_note = $2 WHERE collaboration_id = $1",
        )
        .bind(id)
        .bind(&note)
        .execute(&mut *tx)
        .await?;
        let updated = set_state(&mut tx, &row, to, &caller.subject, &note).await?;
        tx.commit().await?;
        Ok(pb::RequestChangesResponse {
            collaboration: Some(updated.to_proto()),
        })
    }
}

/// The submitted video ids, parsed, each at most once.
fn distinct_videos(ids: &[String]) -> MktResult<Vec<Uuid>> {
    let mut seen = HashSet::new();
    let mut videos = Vec::with_capacity(ids.len());
    for (i, v) in ids.iter().enumerate() {
        let id = parse_id(&format!("video_ids[{i}]"), v)?;
        if !seen.insert(id) {
            return Err(MktError::invalid(format!("video_ids[{i}]"), "is repeated"));
        }
        videos.push(id);
    }
    Ok(videos)
}
