//! Collaborations: invitations and applications, their acceptance (which
//! holds the budget in escrow), refusal, and reads.

use chrono::{DateTime, Utc};
use loop_platform::auth::{Caller, Role};
use loop_platform::error::is_unique_violation;
use loop_platform::ids::{new_id, parse_id, parse_opt_id};
use loop_platform::pagination;
use loop_proto::common::v1::PageResponse;
use loop_proto::creator_marketplace::v1 as pb;
use uuid::Uuid;

use super::store::{claim_key, history, lock_campaign, lock_collab, set_state};
use super::{idempotency_key, text};
use crate::error::{MktError, MktResult, Reason};
use crate::escrow::EscrowError;
use crate::model::{COLLAB_COLUMNS, CampaignRow, CollabRow, page_token};
use crate::service::{MarketplaceService, advertiser, creator};
// Named `machine` where used, so it does not read like the state codes
// (`crate::model::state`) next to it.
use self::state::{self as machine, Action, Actor, Facts, Opening};

pub(super) mod state;

/// The caller as the state machine sees them: creator, advertiser or admin
/// relative to this collaboration.
pub(super) fn actor(caller: &Caller, row: &CollabRow) -> Actor {
    Actor::caller(&caller.subject, caller.is_admin(), row)
}

impl MarketplaceService {
    /// The times the state machine weighs for `row`, as of now.
    pub(super) fn facts(&self, row: &CollabRow) -> Facts {
        let after = chrono::Duration::seconds(self.config.marketplace.auto_approve_after_secs);
        Facts::of(row, Utc::now(), after)
    }

    /// A collaboration the caller is party to (admins see any; NOT_FOUND otherwise).
    pub(super) async fn visible_collab(&self, caller: &Caller, id: &str) -> MktResult<CollabRow> {
        let id = parse_id("collaboration_id", id)?;
        sqlx::query_as::<_, CollabRow>(&format!(
            "SELECT {COLLAB_COLUMNS} FROM collaborations WHERE collaboration_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .filter(|c| caller.is_admin() || c.is_party(&caller.subject))
        .ok_or_else(|| MktError::not_found("collaboration not found"))
    }

    async fn new_collab(
        &self,
        campaign: &CampaignRow,
        creator: Uuid,
        st: i16,
        pitch: &str,
        actor: &str,
    ) -> MktResult<CollabRow> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query_as::<_, CollabRow>(&format!(
            "INSERT INTO collaborations (collaboration_id, campaign_id, advertiser_id, creator_id, state, pitch, amount_cents, deadline) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLLAB_COLUMNS}"
        ))
        .bind(new_id())
        .bind(campaign.campaign_id)
        .bind(campaign.advertiser_id)
        .bind(creator)
        .bind(st)
        .bind(pitch)
        .bind(campaign.budget_per_creator_cents)
        .bind(campaign.deadline)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e, None) {
                MktError::rule(
                    Reason::CollaborationExists,
                    "the creator already has a collaboration in this campaign",
                )
            } else {
                e.into()
            }
        })?;
        history(&mut tx, row.collaboration_id, 0, st, actor, pitch).await?;
        tx.commit().await?;
        Ok(row)
    }

    pub(crate) async fn invite_creator(
        &self,
        caller: &Caller,
        req: pb::InviteCreatorRequest,
    ) -> MktResult<pb::InviteCreatorResponse> {
        advertiser(caller)?;
        let campaign = self
            .own_campaign(caller, "campaign_id", &req.campaign_id)
            .await?;
        let target = parse_id("creator_id", &req.creator_id)?;
        let pitch = text("pitch", &req.pitch, 0, 1000)?;
        if !self.is_listed(target).await? {
            return Err(MktError::not_found(
                "creator not found (creator_id is not a listed creator)",
            ));
        }
        let st = machine::open(Opening::Invite, &campaign, Utc::now())?;
        let row = self
            .new_collab(&campaign, target, st, &pitch, &caller.subject)
            .await?;
        Ok(pb::InviteCreatorResponse {
            collaboration: Some(row.to_proto()),
        })
    }

    pub(crate) async fn apply_to_campaign(
        &self,
        caller: &Caller,
        req: pb::ApplyToCampaignRequest,
    ) -> MktResult<pb::ApplyToCampaignResponse> {
        let me = creator(caller)?;
        let pitch = text("pitch", &req.pitch, 0, 1000)?;
        let id = parse_id("campaign_id", &req.campaign_id)?;
        let campaign = self.visible_campaign(caller, id).await?;
        if !self.is_listed(me).await? {
            return Err(MktError::rule(
                Reason::NotListed,
                "only listed creators may apply; apply as a creator first",
            ));
        }
        let st = machine::open(Opening::Apply, &campaign, Utc::now())?;
        let row = self
            .new_collab(&campaign, me, st, &pitch, &caller.subject)
            .await?;
        Ok(pb::ApplyToCampaignResponse {
            collaboration: Some(row.to_proto()),
        })
    }

    /// INVITED (creator) or APPLIED (advertiser) -> ACCEPTED, holding the
    /// budget in escrow. A retry with the key that accepted returns the
    /// collaboration as it is.
    async fn accept(
        &self,
        caller: &Caller,
        key: &str,
        id: &str,
        action: Action,
        method: &str,
        funds_reason: Reason,
    ) -> MktResult<CollabRow> {
        let key = idempotency_key(key)?;
        let id = parse_id("collaboration_id", id)?;
        let mut tx = self.pool.begin().await?;
        let row = lock_collab(&mut tx, id)
            .await?
            .filter(|c| c.is_party(&caller.subject) || caller.is_admin())
            .ok_or_else(|| MktError::not_found("collaboration not found"))?;
        machine::authorize(action, actor(caller, &row))?;
        claim_key(&mut tx, &caller.subject, &key, method, id).await?;
        if row.accept_key.as_deref() == Some(key.as_str()) {
            tx.commit().await?;
            return Ok(row);
        }
        let to = machine::advance(row.state, action, &self.facts(&row))?;
        let campaign = lock_campaign(&mut tx, row.campaign_id).await?;
        machine::seat(campaign.accepted_creators, campaign.max_creators)?;
        let escrow = self.hold_escrow(&row, funds_reason).await?;
        sqlx::query(
            "UPDATE collaborations SET escrow_id = $2, accepted_at = now(), accept_key = $3 WHERE collaboration_id = $1",
        )
        .bind(id)
        .bind(escrow)
        .bind(&key)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM escrow_intents WHERE collaboration_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE campaigns SET accepted_creators = accepted_creators + 1 WHERE campaign_id = $1",
        )
        .bind(row.campaign_id)
        .execute(&mut *tx)
        .await?;
        let note = format!("escrow {escrow} held");
        let updated = set_state(&mut tx, &row, to, &caller.subject, &note).await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Holds the collaboration's budget in escrow for an acceptance.
    ///
    /// The intent is noted in its own commit (not the acceptance's
    /// transaction): if the acceptance fails after the wallet holds the
    /// money, the sweeper finds the note and returns the hold.
    async fn hold_escrow(&self, row: &CollabRow, funds_reason: Reason) -> MktResult<Uuid> {
        let id = row.collaboration_id;
        sqlx::query(
            "INSERT INTO escrow_intents (collaboration_id) VALUES ($1) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        let held = self
            .wallet
            .hold(id, row.advertiser_id, row.creator_id, row.amount_cents)
            .await;
        if let Err(EscrowError::InsufficientFunds) = held {
            // Definitely nothing held: no hold to return later.
            sqlx::query("DELETE FROM escrow_intents WHERE collaboration_id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        held.map_err(|e| match e {
            EscrowError::InsufficientFunds => MktError::rule(
                funds_reason,
                "the advertiser's wallet cannot cover the budget per creator",
            ),
            other => MktError::App(loop_platform::AppError::Unavailable(format!(
                "escrow hold failed, retry: {other}"
            ))),
        })
    }

    /// INVITED (creator) or APPLIED (advertiser) -> DECLINED.
    async fn decline(&self, caller: &Caller, id: &str, action: Action) -> MktResult<CollabRow> {
        let id = parse_id("collaboration_id", id)?;
        let mut tx = self.pool.begin().await?;
        let row = lock_collab(&mut tx, id)
            .await?
            .filter(|c| c.is_party(&caller.subject) || caller.is_admin())
            .ok_or_else(|| MktError::not_found("collaboration not found"))?;
        let to = machine::decide(row.state, action, actor(caller, &row), &self.facts(&row))?;
        let updated = set_state(&mut tx, &row, to, &caller.subject, "").await?;
        tx.commit().await?;
        Ok(updated)
    }

    pub(crate) async fn accept_invitation(
        &self,
        caller: &Caller,
        req: pb::AcceptInvitationRequest,
    ) -> MktResult<pb::AcceptInvitationResponse> {
        creator(caller)?;
        let row = self
            .accept(
                caller,
                &req.idempotency_key,
                &req.collaboration_id,
                Action::AcceptInvitation,
                "AcceptInvitation",
                Reason::AdvertiserInsufficientFunds,
            )
            .await?;
        Ok(pb::AcceptInvitationResponse {
            collaboration: Some(row.to_proto()),
        })
    }

    pub(crate) async fn decline_invitation(
        &self,
        caller: &Caller,
        req: pb::DeclineInvitationRequest,
    ) -> MktResult<pb::DeclineInvitationResponse> {
        creator(caller)?;
        let row = self
            .decline(caller, &req.collaboration_id, Action::DeclineInvitation)
            .await?;
        Ok(pb::DeclineInvitationResponse {
            collaboration: Some(row.to_proto()),
        })
    }

    pub(crate) async fn accept_application(
        &self,
        caller: &Caller,
        req: pb::AcceptApplicationRequest,
    ) -> MktResult<pb::AcceptApplicationResponse> {
        advertiser(caller)?;
        let row = self
            .accept(
                caller,
                &req.idempotency_key,
                &req.collaboration_id,
                Action::AcceptApplication,
                "AcceptApplication",
                Reason::InsufficientFunds,
            )
            .await?;
        Ok(pb::AcceptApplicationResponse {
            collaboration: Some(row.to_proto()),
        })
    }

    pub(crate) async fn reject_application(
        &self,
        caller: &Caller,
        req: pb::RejectApplicationRequest,
    ) -> MktResult<pb::RejectApplicationResponse> {
        advertiser(caller)?;
        let row = self
            .decline(caller, &req.collaboration_id, Action::RejectApplication)
            .await?;
        Ok(pb::RejectApplicationResponse {
            collaboration: Some(row.to_proto()),
        })
    }

    pub(crate) async fn get_collaboration(
        &self,
        caller: &Caller,
        req: pb::GetCollaborationRequest,
    ) -> MktResult<pb::GetCollaborationResponse> {
        let row = self.visible_collab(caller, &req.collaboration_id).await?;
        Ok(pb::GetCollaborationResponse {
            collaboration: Some(row.to_proto()),
        })
    }

    pub(crate) async fn list_collaborations(
        &self,
        caller: &Caller,
        req: pb::ListCollaborationsRequest,
    ) -> MktResult<pb::ListCollaborationsResponse> {
        let page = req.page.clone().unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let after: Option<(DateTime<Utc>, Uuid)> = page_token(&page.page_token)?;
        let st = match req.state() {
            pb::CollaborationState::Unspecified => None,
            s => Some(s as i16),
        };
        let campaign = parse_opt_id("campaign_id", &req.campaign_id)?;
        let who: Option<Uuid> = match caller.role {
            Role::Advertiser | Role::Admin => {
                let id = campaign.ok_or_else(|| MktError::invalid("campaign_id", "is required"))?;
                self.own_campaign(caller, "campaign_id", &id.to_string())
                    .await?;
                None
            }
            Role::Creator => Some(caller.user_id()?),
            _ => {
                return Err(MktError::denied(
                    "this call requires role advertiser or creator",
                ));
            }
        };
        let rows = sqlx::query_as::<_, CollabRow>(&format!(
            "SELECT {COLLAB_COLUMNS} FROM collaborations WHERE ($6::uuid IS NULL OR creator_id = $6) \
             AND ($1::uuid IS NULL OR campaign_id = $1) AND ($2::smallint IS NULL OR state = $2) \
             AND ($3::timestamptz IS NULL OR (created_at, collaboration_id) < ($3, $4)) \
             ORDER BY created_at DESC, collaboration_id DESC LIMIT $5"
        ))
        .bind(campaign)
        .bind(st)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(limit + 1)
        .bind(who)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = pagination::finish(rows, limit, |r| (r.created_at, r.collaboration_id));
        Ok(pb::ListCollaborationsResponse {
            collaborations: rows.iter().map(CollabRow::to_proto).collect(),
            page: Some(PageResponse {
                next_page_token: next,
            }),
        })
    }
}
