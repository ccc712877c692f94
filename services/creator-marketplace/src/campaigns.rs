//! Campaigns, collaborations (invitations and applications), their threads,
//! deliverables and reports.
//!
//! Every state change locks the collaboration row (`FOR UPDATE`), checks the
//! state machine, and records the change in `collaboration_history` in the
//! same transaction. Money moves only through [`crate::escrow`] with keys
//! derived from the collaboration id; the calls that move money also take
//! the caller's idempotency key, stored on the row, so a retry with the same
//! key returns the collaboration while a second call with another key fails
//! INVALID_STATE and changes nothing.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use loop_platform::auth::{Caller, Role};
use loop_platform::error::is_unique_violation;
use loop_platform::ids::{new_id, parse_id, parse_opt_id};
use loop_platform::pagination;
use loop_platform::time::from_timestamp;
use loop_proto::common::v1::PageResponse;
use loop_proto::content::v1 as cpb;
use loop_proto::creator_marketplace::v1 as pb;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::analytics;
use crate::error::{MktError, MktResult};
use crate::escrow::EscrowError;
use crate::model::{
    CAMPAIGN_COLUMNS, CLOSED, COLLAB_COLUMNS, CampaignRow, CollabRow, DRAFT, INVITE_ONLY,
    MessageRow, PUBLIC, PUBLISHED, page_token, state,
};
use crate::service::{MarketplaceService, advertiser, creator};

fn text(field: &str, value: &str, min: usize, max: usize) -> MktResult<String> {
    let v = value.trim();
    let n = v.chars().count();
    if n < min || n > max {
        return Err(MktError::invalid(
            field,
            format!("must be {min}..{max} characters"),
        ));
    }
    Ok(v.to_owned())
}

fn hashtag(value: &str) -> MktResult<String> {
    Ok(loop_platform::validate::hashtag(
        "deliverables.required_hashtag",
        value,
    )?)
}

fn idempotency_key(value: &str) -> MktResult<String> {
    Ok(loop_platform::validate::idempotency_key(
        "idempotency_key",
        value,
    )?)
}

async fn history(
    tx: &mut PgConnection,
    collab: Uuid,
    from: i16,
    to: i16,
    actor: &str,
    note: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO collaboration_history (collaboration_id, from_state, to_state, actor, note) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(collab)
    .bind(from)
    .bind(to)
    .bind(actor)
    .bind(note)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn set_state(
    tx: &mut PgConnection,
    row: &CollabRow,
    to: i16,
    actor: &str,
    note: &str,
) -> MktResult<CollabRow> {
    let updated = sqlx::query_as::<_, CollabRow>(&format!(
        "UPDATE collaborations SET state = $2, updated_at = now() WHERE collaboration_id = $1 RETURNING {COLLAB_COLUMNS}"
    ))
    .bind(row.collaboration_id)
    .bind(to)
    .fetch_one(&mut *tx)
    .await?;
    history(tx, row.collaboration_id, row.state, to, actor, note).await?;
    Ok(updated)
}

/// Like `lock_collab`, but None when another transaction holds the row
/// (background steps skip it; another replica is on it).
async fn try_lock_collab(tx: &mut PgConnection, id: Uuid) -> MktResult<Option<CollabRow>> {
    Ok(sqlx::query_as::<_, CollabRow>(&format!(
        "SELECT {COLLAB_COLUMNS} FROM collaborations WHERE collaboration_id = $1 FOR UPDATE SKIP LOCKED"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?)
}

async fn lock_collab(tx: &mut PgConnection, id: Uuid) -> MktResult<Option<CollabRow>> {
    Ok(sqlx::query_as::<_, CollabRow>(&format!(
        "SELECT {COLLAB_COLUMNS} FROM collaborations WHERE collaboration_id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?)
}

async fn lock_campaign(tx: &mut PgConnection, id: Uuid) -> MktResult<CampaignRow> {
    Ok(sqlx::query_as::<_, CampaignRow>(&format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE campaign_id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?)
}

/// The caller's use of an idempotency key: the first use binds it to
/// (method, collaboration); another use elsewhere is IDEMPOTENCY_KEY_REUSED.
async fn claim_key(
    tx: &mut PgConnection,
    caller: &str,
    key: &str,
    method: &str,
    collab: Uuid,
) -> MktResult<()> {
    let bound: Option<(String, Uuid)> = sqlx::query_as(
        "INSERT INTO idempotency_keys (caller, key, method, collaboration_id) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (caller, key) DO UPDATE SET caller = idempotency_keys.caller \
         RETURNING method, collaboration_id",
    )
    .bind(caller)
    .bind(key)
    .bind(method)
    .bind(collab)
    .fetch_optional(&mut *tx)
    .await?;
    match bound {
        Some((m, c)) if m == method && c == collab => Ok(()),
        _ => Err(MktError::exists(
            "IDEMPOTENCY_KEY_REUSED",
            "this idempotency key was used for another request",
        )),
    }
}

const ACTIVE_STATES: [i16; 5] = [
    state::ACCEPTED,
    state::SUBMITTED,
    state::CHANGES_REQUESTED,
    state::APPROVED,
    state::PAID,
];

impl MarketplaceService {
    /// A campaign the caller may see (NOT_FOUND otherwise).
    async fn visible_campaign(&self, caller: &Caller, id: Uuid) -> MktResult<CampaignRow> {
        let row = sqlx::query_as::<_, CampaignRow>(&format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE campaign_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| MktError::not_found("campaign not found"))?;
        if caller.is_privileged() || row.advertiser_id.to_string() == caller.subject {
            return Ok(row);
        }
        if caller.role == Role::Creator {
            if row.status != DRAFT && row.visibility == PUBLIC {
                return Ok(row);
            }
            let me = caller.user_id()?;
            let involved: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM collaborations WHERE campaign_id = $1 AND creator_id = $2)",
            )
            .bind(id)
            .bind(me)
            .fetch_one(&self.pool)
            .await?;
            if involved {
                return Ok(row);
            }
        }
        Err(MktError::not_found("campaign not found"))
    }

    /// The advertiser's own campaign (NOT_FOUND otherwise; admins see any).
    async fn own_campaign(&self, caller: &Caller, field: &str, id: &str) -> MktResult<CampaignRow> {
        let id = parse_id(field, id)?;
        sqlx::query_as::<_, CampaignRow>(&format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE campaign_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .filter(|c| caller.is_admin() || c.advertiser_id.to_string() == caller.subject)
        .ok_or_else(|| MktError::not_found("campaign not found"))
    }

    /// A collaboration the caller is party to (admins see any; NOT_FOUND otherwise).
    async fn visible_collab(&self, caller: &Caller, id: &str) -> MktResult<CollabRow> {
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

    pub(crate) async fn create_campaign(
        &self,
        caller: &Caller,
        req: pb::CreateCampaignRequest,
    ) -> MktResult<pb::CreateCampaignResponse> {
        let me = advertiser(caller)?;
        let title = text("title", &req.title, 1, 100)?;
        let brief = text("brief", &req.brief, 1, 5000)?;
        let d = req
            .deliverables
            .as_ref()
            .ok_or_else(|| MktError::invalid("deliverables", "is required"))?;
        if !(1..=10).contains(&d.video_count) {
            return Err(MktError::invalid(
                "deliverables.video_count",
                "must be 1..10",
            ));
        }
        let tag = hashtag(&d.required_hashtag)?;
        loop_platform::money::cents(
            "budget_per_creator_cents",
            req.budget_per_creator_cents,
            1000,
        )?;
        let deadline = from_timestamp("deadline", req.deadline.as_ref())?;
        let lead = chrono::Duration::seconds(self.config.marketplace.min_deadline_lead_secs);
        if deadline < Utc::now() + lead {
            return Err(MktError::invalid(
                "deadline",
                format!(
                    "must be at least {} seconds ahead",
                    self.config.marketplace.min_deadline_lead_secs
                ),
            ));
        }
        let visibility = match req.visibility() {
            pb::CampaignVisibility::Unspecified => {
                return Err(MktError::invalid(
                    "visibility",
                    "must be INVITE_ONLY or PUBLIC",
                ));
            }
            v => v as i16,
        };
        if !(1..=1000).contains(&req.max_creators) {
            return Err(MktError::invalid("max_creators", "must be 1..1000"));
        }
        let row = sqlx::query_as::<_, CampaignRow>(&format!(
            "INSERT INTO campaigns (campaign_id, advertiser_id, title, brief, video_count, required_hashtag, \
             budget_per_creator_cents, max_creators, deadline, visibility, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {CAMPAIGN_COLUMNS}"
        ))
        .bind(new_id())
        .bind(me)
        .bind(&title)
        .bind(&brief)
        .bind(i32::try_from(d.video_count).unwrap_or(1))
        .bind(&tag)
        .bind(req.budget_per_creator_cents)
        .bind(i32::try_from(req.max_creators).unwrap_or(1))
        .bind(deadline)
        .bind(visibility)
        .bind(DRAFT)
        .fetch_one(&self.pool)
        .await?;
        Ok(pb::CreateCampaignResponse {
            campaign: Some(row.to_proto()),
        })
    }

    pub(crate) async fn get_campaign(
        &self,
        caller: &Caller,
        req: pb::GetCampaignRequest,
    ) -> MktResult<pb::GetCampaignResponse> {
        let id = parse_id("campaign_id", &req.campaign_id)?;
        let row = self.visible_campaign(caller, id).await?;
        Ok(pb::GetCampaignResponse {
            campaign: Some(row.to_proto()),
        })
    }

    pub(crate) async fn list_campaigns(
        &self,
        caller: &Caller,
        req: pb::ListCampaignsRequest,
    ) -> MktResult<pb::ListCampaignsResponse> {
        let page = req.page.clone().unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let after: Option<(DateTime<Utc>, Uuid)> = page_token(&page.page_token)?;
        let status = match req.status() {
            pb::CampaignStatus::Unspecified => None,
            s => Some(s as i16),
        };
        let me = caller.user_id()?;
        let filter = match (caller.role, req.scope()) {
            (Role::Advertiser | Role::Admin, _) => "c.advertiser_id = $1",
            (Role::Creator, pb::CampaignListScope::Open) => {
                "c.status = 2 AND c.visibility = 2 AND c.deadline > now() AND $1::uuid IS NOT NULL"
            }
            (Role::Creator, _) => {
                "EXISTS (SELECT 1 FROM collaborations k WHERE k.campaign_id = c.campaign_id AND k.creator_id = $1)"
            }
            _ => {
                return Err(MktError::denied(
                    "this call requires role advertiser or creator",
                ));
            }
        };
        let cols = CAMPAIGN_COLUMNS
            .split(", ")
            .map(|c| format!("c.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query_as::<_, CampaignRow>(&format!(
            "SELECT {cols} FROM campaigns c WHERE {filter} \
             AND ($2::smallint IS NULL OR c.status = $2) \
             AND ($3::timestamptz IS NULL OR (c.created_at, c.campaign_id) < ($3, $4)) \
             ORDER BY c.created_at DESC, c.campaign_id DESC LIMIT $5"
        ))
        .bind(me)
        .bind(status)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = pagination::finish(rows, limit, |r| (r.created_at, r.campaign_id));
        Ok(pb::ListCampaignsResponse {
            campaigns: rows.iter().map(CampaignRow::to_proto).collect(),
            page: Some(PageResponse {
                next_page_token: next,
            }),
        })
    }

    pub(crate) async fn publish_campaign(
        &self,
        caller: &Caller,
        req: pb::PublishCampaignRequest,
    ) -> MktResult<pb::PublishCampaignResponse> {
        advertiser(caller)?;
        let campaign = self
            .own_campaign(caller, "campaign_id", &req.campaign_id)
            .await?;
        if campaign.status != DRAFT {
            return Err(MktError::state("only a DRAFT campaign can be published"));
        }
        if campaign.deadline <= Utc::now() {
            return Err(MktError::precondition(
                "DEADLINE_PASSED",
                "the deadline has passed",
            ));
        }
        let row = sqlx::query_as::<_, CampaignRow>(&format!(
            "UPDATE campaigns SET status = $2, published_at = now() WHERE campaign_id = $1 AND status = $3 RETURNING {CAMPAIGN_COLUMNS}"
        ))
        .bind(campaign.campaign_id)
        .bind(PUBLISHED)
        .bind(DRAFT)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| MktError::state("only a DRAFT campaign can be published"))?;
        Ok(pb::PublishCampaignResponse {
            campaign: Some(row.to_proto()),
        })
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
                MktError::exists(
                    "COLLABORATION_EXISTS",
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

    fn check_open(campaign: &CampaignRow) -> MktResult<()> {
        let now = Utc::now();
        match campaign.effective_status(now) {
            PUBLISHED => {}
            CLOSED => {
                return Err(MktError::precondition(
                    "DEADLINE_PASSED",
                    "the campaign is closed",
                ));
            }
            _ => return Err(MktError::state("the campaign is not published")),
        }
        if campaign.accepted_creators >= campaign.max_creators {
            return Err(MktError::precondition(
                "CAMPAIGN_FULL",
                "the campaign has accepted its maximum of creators",
            ));
        }
        Ok(())
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
        Self::check_open(&campaign)?;
        let row = self
            .new_collab(&campaign, target, state::INVITED, &pitch, &caller.subject)
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
            return Err(MktError::precondition(
                "NOT_LISTED",
                "only listed creators may apply; apply as a creator first",
            ));
        }
        if campaign.visibility == INVITE_ONLY {
            return Err(MktError::precondition(
                "INVITE_ONLY",
                "this campaign is by invitation only",
            ));
        }
        Self::check_open(&campaign)?;
        let row = self
            .new_collab(&campaign, me, state::APPLIED, &pitch, &caller.subject)
            .await?;
        Ok(pb::ApplyToCampaignResponse {
            collaboration: Some(row.to_proto()),
        })
    }

    /// INVITED (creator) or APPLIED (advertiser) -> ACCEPTED, holding the
    /// budget in escrow.
    async fn accept(
        &self,
        caller: &Caller,
        key: &str,
        id: &str,
        from: i16,
        method: &str,
        funds_reason: &'static str,
    ) -> MktResult<CollabRow> {
        let key = idempotency_key(key)?;
        let id = parse_id("collaboration_id", id)?;
        let mut tx = self.pool.begin().await?;
        let row = lock_collab(&mut tx, id)
            .await?
            .filter(|c| c.is_party(&caller.subject) || caller.is_admin())
            .ok_or_else(|| MktError::not_found("collaboration not found"))?;
        let acting_side_ok = if from == state::INVITED {
            row.creator_id.to_string() == caller.subject
        } else {
            row.advertiser_id.to_string() == caller.subject || caller.is_admin()
        };
        if !acting_side_ok {
            return Err(MktError::denied(if from == state::INVITED {
                "only the invited creator may accept an invitation"
            } else {
                "only the campaign's advertiser may accept an application"
            }));
        }
        claim_key(&mut tx, &caller.subject, &key, method, id).await?;
        if row.accept_key.as_deref() == Some(key.as_str()) {
            tx.commit().await?;
            return Ok(row);
        }
        if row.state != from {
            return Err(MktError::state(format!(
                "the collaboration is {}, not {}",
                state::name(row.state),
                state::name(from)
            )));
        }
        if row.deadline <= Utc::now() {
            return Err(MktError::precondition(
                "DEADLINE_PASSED",
                "the campaign deadline has passed",
            ));
        }
        let campaign = lock_campaign(&mut tx, row.campaign_id).await?;
        if campaign.accepted_creators >= campaign.max_creators {
            return Err(MktError::precondition(
                "CAMPAIGN_FULL",
                "the campaign has accepted its maximum of creators",
            ));
        }
        // Noted in its own commit (not this transaction): if this
        // acceptance fails after the wallet holds the money, the sweeper
        // finds the note and returns the hold.
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
        let escrow = held.map_err(|e| match e {
            EscrowError::InsufficientFunds => MktError::precondition(
                funds_reason,
                "the advertiser's wallet cannot cover the budget per creator",
            ),
            other => MktError::App(loop_platform::AppError::Unavailable(format!(
                "escrow hold failed, retry: {other}"
            ))),
        })?;
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
        let updated = set_state(
            &mut tx,
            &row,
            state::ACCEPTED,
            &caller.subject,
            &format!("escrow {escrow} held"),
        )
        .await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn decline(
        &self,
        caller: &Caller,
        id: &str,
        from: i16,
        creator_side: bool,
    ) -> MktResult<CollabRow> {
        let id = parse_id("collaboration_id", id)?;
        let mut tx = self.pool.begin().await?;
        let row = lock_collab(&mut tx, id)
            .await?
            .filter(|c| c.is_party(&caller.subject) || caller.is_admin())
            .ok_or_else(|| MktError::not_found("collaboration not found"))?;
        let side_ok = if creator_side {
            row.creator_id.to_string() == caller.subject
        } else {
            row.advertiser_id.to_string() == caller.subject || caller.is_admin()
        };
        if !side_ok {
            return Err(MktError::denied(
                "the other side of the collaboration must decide",
            ));
        }
        if row.state != from {
            return Err(MktError::state(format!(
                "the collaboration is {}, not {}",
                state::name(row.state),
                state::name(from)
            )));
        }
        let updated = set_state(&mut tx, &row, state::DECLINED, &caller.subject, "").await?;
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
                state::INVITED,
                "AcceptInvitation",
                "ADVERTISER_INSUFFICIENT_FUNDS",
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
            .decline(caller, &req.collaboration_id, state::INVITED, true)
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
                state::APPLIED,
                "AcceptApplication",
                "INSUFFICIENT_FUNDS",
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
            .decline(caller, &req.collaboration_id, state::APPLIED, false)
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

    // --- Messages ------------------------------------------------------------------

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
        if matches!(row.state, state::DECLINED | state::EXPIRED_REFUNDED) {
            return Err(MktError::state(format!(
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

    // --- Deliverables ---------------------------------------------------------------

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
                return Err(MktError::precondition(
                    "VIDEO_NOT_PUBLIC",
                    format!("{field}: the video is not public and approved"),
                ));
            }
            if !v.hashtags.iter().any(|h| h.eq_ignore_ascii_case(hashtag)) {
                return Err(MktError::precondition(
                    "MISSING_REQUIRED_HASHTAG",
                    format!("{field}: the video does not carry #{hashtag}"),
                ));
            }
            if let (Some(accepted), Some(published)) = (accepted_at, v.published_at.as_ref()) {
                let published = from_timestamp("published_at", Some(published))?;
                if published < accepted - chrono::Duration::seconds(1) {
                    return Err(MktError::precondition(
                        "VIDEO_TOO_OLD",
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
        if row.creator_id != me {
            return Err(MktError::denied("only the collaboration's creator submits"));
        }
        let campaign = sqlx::query_as::<_, CampaignRow>(&format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE campaign_id = $1"
        ))
        .bind(row.campaign_id)
        .fetch_one(&self.pool)
        .await?;
        let mut seen = HashSet::new();
        let mut videos = Vec::with_capacity(req.video_ids.len());
        for (i, v) in req.video_ids.iter().enumerate() {
            let id = parse_id(&format!("video_ids[{i}]"), v)?;
            if !seen.insert(id) {
                return Err(MktError::invalid(format!("video_ids[{i}]"), "is repeated"));
            }
            videos.push(id);
        }
        if videos.len() != usize::try_from(campaign.video_count).unwrap_or(0) {
            return Err(MktError::invalid(
                "video_ids",
                format!("give exactly {} videos", campaign.video_count),
            ));
        }
        if !matches!(row.state, state::ACCEPTED | state::CHANGES_REQUESTED) {
            return Err(MktError::state(format!(
                "the collaboration is {}; only ACCEPTED or CHANGES_REQUESTED can submit",
                state::name(row.state)
            )));
        }
        if row.deadline <= Utc::now() {
            return Err(MktError::precondition(
                "DEADLINE_PASSED",
                "the deadline has passed",
            ));
        }
        self.check_videos(&videos, me, &campaign.required_hashtag, row.accepted_at)
            .await?;
        let mut tx = self.pool.begin().await?;
        let locked = lock_collab(&mut tx, row.collaboration_id)
            .await?
            .ok_or_else(|| MktError::not_found("collaboration not found"))?;
        if !matches!(locked.state, state::ACCEPTED | state::CHANGES_REQUESTED) {
            return Err(MktError::state("the collaboration changed state meanwhile"));
        }
        sqlx::query(
            "UPDATE collaborations SET video_ids = $2, submitted_at = now() WHERE collaboration_id = $1",
        )
        .bind(locked.collaboration_id)
        .bind(&videos)
        .execute(&mut *tx)
        .await?;
        let ids: Vec<String> = videos.iter().map(Uuid::to_string).collect();
        let updated = set_state(
            &mut tx,
            &locked,
            state::SUBMITTED,
            &caller.subject,
            &ids.join(","),
        )
        .await?;
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
        if row.advertiser_id.to_string() != caller.subject && !caller.is_admin() {
            return Err(MktError::denied("only the campaign's advertiser approves"));
        }
        let retry = row.approve_key.as_deref() == Some(key.as_str());
        if !retry {
            if row.state != state::SUBMITTED {
                return Err(MktError::state(format!(
                    "the collaboration is {}; only SUBMITTED can be approved",
                    state::name(row.state)
                )));
            }
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
            if locked.state != state::SUBMITTED {
                return Err(MktError::state(format!(
                    "the collaboration is {}; only SUBMITTED can be approved",
                    state::name(locked.state)
                )));
            }
            sqlx::query(
                "UPDATE collaborations SET approve_key = $2, fee_bps = $3 WHERE collaboration_id = $1",
            )
            .bind(locked.collaboration_id)
            .bind(&key)
            .bind(i32::try_from(self.config.marketplace.platform_fee_bps).unwrap_or(0))
            .execute(&mut *tx)
            .await?;
            set_state(&mut tx, &locked, state::APPROVED, &caller.subject, "").await?;
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
        if st != state::APPROVED {
            return Ok(());
        }
        let settled = self
            .wallet
            .release(id, escrow, u32::try_from(bps).unwrap_or(0))
            .await?;
        let record = async {
            let mut tx = self.pool.begin().await?;
            if let Some(locked) = lock_collab(&mut tx, id).await?
                && locked.state == state::APPROVED
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
                    state::PAID,
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
        if row.advertiser_id.to_string() != caller.subject && !caller.is_admin() {
            return Err(MktError::denied(
                "only the campaign's advertiser requests changes",
            ));
        }
        if row.state != state::SUBMITTED {
            return Err(MktError::state(format!(
                "the collaboration is {}; only SUBMITTED can be sent back",
                state::name(row.state)
            )));
        }
        if row.deadline <= Utc::now() {
            return Err(MktError::precondition(
                "DEADLINE_PASSED",
                "the deadline has passed; approve instead",
            ));
        }
        sqlx::query(
            "UPDATE collaborations SET change_request_note = $2 WHERE collaboration_id = $1",
        )
        .bind(id)
        .bind(&note)
        .execute(&mut *tx)
        .await?;
        let updated = set_state(
            &mut tx,
            &row,
            state::CHANGES_REQUESTED,
            &caller.subject,
            &note,
        )
        .await?;
        tx.commit().await?;
        Ok(pb::RequestChangesResponse {
            collaboration: Some(updated.to_proto()),
        })
    }

    // --- Reports ----------------------------------------------------------------------

    pub(crate) async fn get_campaign_report(
        &self,
        caller: &Caller,
        req: pb::GetCampaignReportRequest,
    ) -> MktResult<pb::GetCampaignReportResponse> {
        advertiser(caller)?;
        let campaign = self
            .own_campaign(caller, "campaign_id", &req.campaign_id)
            .await?;
        let collabs = sqlx::query_as::<_, CollabRow>(&format!(
            "SELECT {COLLAB_COLUMNS} FROM collaborations WHERE campaign_id = $1 AND state = ANY($2) ORDER BY created_at"
        ))
        .bind(campaign.campaign_id)
        .bind([state::SUBMITTED, state::APPROVED, state::PAID].to_vec())
        .fetch_all(&self.pool)
        .await?;
        let mut out = pb::GetCampaignReportResponse::default();
        let mut all_videos = Vec::new();
        for c in &collabs {
            out.paid_to_creators_cents += c.paid_cents;
            out.platform_fees_cents += c.platform_fee_cents;
            for v in &c.video_ids {
                let stats: Option<(i64, i64, i64, i64)> = sqlx::query_as(
                    "SELECT views, likes, comments, shares FROM video_stats WHERE video_id = $1",
                )
                .bind(v)
                .fetch_optional(&self.pool)
                .await?;
                let published: Option<DateTime<Utc>> =
                    sqlx::query_scalar("SELECT published_at FROM videos WHERE video_id = $1")
                        .bind(v)
                        .fetch_optional(&self.pool)
                        .await?;
                let (views, likes, comments, shares) = stats.unwrap_or_default();
                let n = |x: i64| u64::try_from(x).unwrap_or(0);
                out.total_views += n(views);
                out.total_likes += n(likes);
                out.total_comments += n(comments);
                out.total_shares += n(shares);
                out.videos.push(pb::SponsoredVideoStats {
                    video_id: v.to_string(),
                    creator_id: c.creator_id.to_string(),
                    collaboration_id: c.collaboration_id.to_string(),
                    views: n(views),
                    likes: n(likes),
                    comments: n(comments),
                    shares: n(shares),
                    engagement_rate: rate(likes + comments + shares, views),
                    published_at: published.map(loop_platform::time::to_timestamp),
                });
                all_videos.push(*v);
            }
        }
        out.engagement_rate = rate(
            i64::try_from(out.total_likes + out.total_comments + out.total_shares).unwrap_or(0),
            i64::try_from(out.total_views).unwrap_or(0),
        );
        let rows = analytics::videos_audience(&self.pool, &all_videos).await?;
        let aud = analytics::audience(&rows, Utc::now().date_naive());
        out.audience_age_bands = analytics::age_shares(&aud.age_bands);
        out.audience_genders = analytics::gender_shares(&aud.genders);
        out.audience_countries = analytics::top(&aud.countries, 10);
        out.computed_at = Some(loop_platform::time::to_timestamp(Utc::now()));
        Ok(out)
    }

    // --- Background steps (the sweeper) ------------------------------------------------

    /// Expires one collaboration past its deadline: refunds any escrow (same
    /// wallet key on every try) and marks it EXPIRED_REFUNDED. Safe to run
    /// concurrently on several replicas (row lock, conditional update).
    pub(crate) async fn expire(&self, id: Uuid) -> MktResult<bool> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = try_lock_collab(&mut tx, id).await? else {
            return Ok(false);
        };
        let open = [
            state::INVITED,
            state::APPLIED,
            state::ACCEPTED,
            state::CHANGES_REQUESTED,
        ];
        if !open.contains(&row.state) || row.deadline > Utc::now() {
            return Ok(false);
        }
        let mut note = String::from("deadline passed");
        if let (Some(escrow), true) = (row.escrow_id, ACTIVE_STATES.contains(&row.state)) {
            match self.wallet.refund(row.collaboration_id, escrow).await {
                Ok(()) => note = format!("deadline passed; escrow {escrow} refunded"),
                Err(EscrowError::NotHeld) => {
                    tracing::error!(collaboration = %row.collaboration_id, %escrow, "escrow already settled while the collaboration was open");
                    note = format!("deadline passed; escrow {escrow} was no longer held");
                }
                Err(err) => {
                    return Err(MktError::App(loop_platform::AppError::Unavailable(
                        format!("escrow refund failed: {err}"),
                    )));
                }
            }
            sqlx::query(
                "UPDATE campaigns SET accepted_creators = GREATEST(accepted_creators - 1, 0) WHERE campaign_id = $1",
            )
            .bind(row.campaign_id)
            .execute(&mut *tx)
            .await?;
        }
        set_state(
            &mut tx,
            &row,
            state::EXPIRED_REFUNDED,
            crate::SERVICE_SUBJECT,
            &note,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Returns a hold an acceptance left behind: the acceptance noted an
    /// intent, the wallet may have held the money, and the acceptance's own
    /// commit failed, so no collaboration knows the escrow. Once the
    /// collaboration can no longer be accepted (declined or expired), the
    /// hold is asked for again with the acceptance's key and body, which
    /// returns the escrow if it exists (or holds it now), and then refunded.
    /// Safe to repeat: both wallet calls are idempotent by collaboration.
    pub(crate) async fn return_orphaned_hold(&self, id: Uuid) -> MktResult<bool> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = try_lock_collab(&mut tx, id).await? else {
            return Ok(false);
        };
        if row.escrow_id.is_some() {
            // The acceptance did commit: the escrow is the collaboration's.
            sqlx::query("DELETE FROM escrow_intents WHERE collaboration_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(false);
        }
        if row.state != state::DECLINED && row.state != state::EXPIRED_REFUNDED {
            // Still acceptable: a retried acceptance gets the same hold.
            return Ok(false);
        }
        let unavailable = |err: EscrowError| {
            MktError::App(loop_platform::AppError::Unavailable(format!(
                "returning an orphaned hold failed: {err}"
            )))
        };
        match self
            .wallet
            .hold(id, row.advertiser_id, row.creator_id, row.amount_cents)
            .await
        {
            Ok(escrow) => match self.wallet.refund(id, escrow).await {
                Ok(()) => {
                    tracing::warn!(collaboration = %id, %escrow, "returned an escrow held by an acceptance that never committed");
                }
                Err(EscrowError::NotHeld) => {}
                Err(err) => return Err(unavailable(err)),
            },
            // Nothing was held under the key (else it would be returned
            // whatever the balance now), and nothing is now.
            Err(EscrowError::InsufficientFunds) => {}
            Err(err) => return Err(unavailable(err)),
        }
        sqlx::query("DELETE FROM escrow_intents WHERE collaboration_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Approves a submission left unanswered past `auto_approve_after`.
    pub(crate) async fn auto_approve(&self, id: Uuid) -> MktResult<bool> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = try_lock_collab(&mut tx, id).await? else {
            return Ok(false);
        };
        let after = chrono::Duration::seconds(self.config.marketplace.auto_approve_after_secs);
        let due = row
            .submitted_at
            .is_some_and(|s| s.max(row.deadline) + after <= Utc::now());
        if row.state != state::SUBMITTED || !due {
            return Ok(false);
        }
        sqlx::query("UPDATE collaborations SET fee_bps = $2 WHERE collaboration_id = $1")
            .bind(id)
            .bind(i32::try_from(self.config.marketplace.platform_fee_bps).unwrap_or(0))
            .execute(&mut *tx)
            .await?;
        set_state(
            &mut tx,
            &row,
            state::APPROVED,
            crate::SERVICE_SUBJECT,
            "approved automatically",
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

fn rate(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        0.0
    } else {
        (part as f64 / whole as f64).clamp(0.0, 1.0)
    }
}
