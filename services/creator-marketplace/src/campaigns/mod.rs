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
//!
//! The module follows those seams: campaigns themselves live here,
//! [`collaborations`] holds the invitation/application lifecycle and its
//! pure state machine (`collaborations::state`: every handler asks it
//! before persisting a change), [`threads`] the message threads, [`deliverables`] submission, review and payout, [`reports`] the
//! advertiser's campaign report, and [`sweeper_steps`] the background steps
//! [`crate::sweeper`] drives. [`store`] holds the row locks and history
//! writes they share.

mod collaborations;
mod deliverables;
mod reports;
mod store;
mod sweeper_steps;
mod threads;

use chrono::{DateTime, Utc};
use loop_platform::auth::{Caller, Role};
use loop_platform::ids::{new_id, parse_id};
use loop_platform::pagination;
use loop_platform::time::from_timestamp;
use loop_proto::common::v1::PageResponse;
use loop_proto::creator_marketplace::v1 as pb;
use uuid::Uuid;

use crate::error::{MktError, MktResult, Reason, invalid_state};
use crate::model::{CAMPAIGN_COLUMNS, CampaignRow, DRAFT, PUBLIC, PUBLISHED, page_token};
use crate::service::{MarketplaceService, advertiser};

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
            return Err(invalid_state("only a DRAFT campaign can be published"));
        }
        if campaign.deadline <= Utc::now() {
            return Err(MktError::rule(
                Reason::DeadlinePassed,
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
        .ok_or_else(|| invalid_state("only a DRAFT campaign can be published"))?;
        Ok(pb::PublishCampaignResponse {
            campaign: Some(row.to_proto()),
        })
    }
}
