//! Invitations: a seller invites chosen creators to feature a product at a
//! rate of their own (which may differ from the open rate, and works for
//! products not open to all affiliates). The creator accepts or declines;
//! an accepted invitation lets them add the product to their showcase and
//! earn the invited rate on orders attributed to them (showcase, video
//! anchors, LIVE bag: `orders::attribute` prefers the invited rate).

use chrono::{DateTime, Utc};
use loop_platform::auth::Caller;
use loop_platform::ids::parse_id;
use loop_proto::commerce::v1 as pb;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::catalog::{AFFILIATE_RATE_BPS, APPROVED};
use crate::error::{CommerceError, CommerceResult, Reason};
use crate::service::CommerceService;

pub const PENDING: i16 = pb::InvitationStatus::Pending as i16;
pub const ACCEPTED: i16 = pb::InvitationStatus::Accepted as i16;
pub const DECLINED: i16 = pb::InvitationStatus::Declined as i16;
pub const WITHDRAWN: i16 = pb::InvitationStatus::Withdrawn as i16;

#[derive(sqlx::FromRow)]
struct InvitationRow {
    invitation_id: Uuid,
    product_id: Uuid,
    seller_id: Uuid,
    creator_id: Uuid,
    rate_bps: i32,
    message: String,
    status: i16,
    created_at: DateTime<Utc>,
    answered_at: Option<DateTime<Utc>>,
    title: String,
}

const COLUMNS: &str = "i.invitation_id, i.product_id, i.seller_id, i.creator_id, i.rate_bps, i.message, i.status, i.created_at, i.answered_at, \
    COALESCE((SELECT v.title FROM product_versions v JOIN products p ON p.product_id = v.product_id AND p.version = v.version WHERE v.product_id = i.product_id), '') AS title";

impl InvitationRow {
    fn to_proto(&self) -> pb::Invitation {
        pb::Invitation {
            invitation_id: self.invitation_id.to_string(),
            product_id: self.product_id.to_string(),
            seller_id: self.seller_id.to_string(),
            creator_id: self.creator_id.to_string(),
            rate_bps: u32::try_from(self.rate_bps).unwrap_or(0),
            message: self.message.clone(),
            status: i32::from(self.status),
            created_at: Some(loop_platform::time::to_timestamp(self.created_at)),
            answered_at: loop_platform::time::opt_timestamp(self.answered_at),
            product_title: self.title.clone(),
        }
    }
}

/// Whether `creator` accepted an invitation to `product` (then they may
/// feature it even when it is not open to all affiliates).
pub(crate) async fn accepted(
    conn: &mut PgConnection,
    product: Uuid,
    creator: Uuid,
) -> CommerceResult<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM invitations WHERE product_id = $1 AND creator_id = $2 AND status = $3)",
    )
    .bind(product)
    .bind(creator)
    .bind(ACCEPTED)
    .fetch_one(&mut *conn)
    .await?)
}

impl CommerceService {
    async fn invitation(&self, id: Uuid) -> CommerceResult<InvitationRow> {
        sqlx::query_as::<_, InvitationRow>(&format!(
            "SELECT {COLUMNS} FROM invitations i WHERE i.invitation_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| CommerceError::not_found("invitation not found (invitation_id)"))
    }

    /// Whether `creator` may feature `product` for a commission: open to
    /// affiliates, or an accepted invitation.
    pub(crate) async fn earns_on(
        &self,
        product: Uuid,
        open_rate_bps: i32,
        creator: Uuid,
    ) -> CommerceResult<bool> {
        if open_rate_bps > 0 {
            return Ok(true);
        }
        let mut conn = self.pool.acquire().await?;
        accepted(&mut conn, product, creator).await
    }

    pub(crate) async fn invite_creator(
        &self,
        caller: &Caller,
        req: pb::InviteCreatorRequest,
    ) -> CommerceResult<pb::InviteCreatorResponse> {
        let me = caller.user_id()?;
        let product_id = parse_id("product_id", &req.product_id)?;
        let creator = parse_id("creator_id", &req.creator_id)?;
        if req.rate_bps != 0 && !AFFILIATE_RATE_BPS.contains(&req.rate_bps) {
            return Err(CommerceError::invalid(
                "rate_bps",
                "must be 100..8000 (a commission of 1-80%), or 0 to withdraw the invitation",
            ));
        }
        let message = req.message.trim().to_owned();
        if message.chars().count() > 500 {
            return Err(CommerceError::invalid(
                "message",
                "must be at most 500 characters",
            ));
        }
        let product = self.product_row(product_id).await?;
        if product.seller_id != me {
            return Err(CommerceError::denied(
                "only the product's seller invites creators to it",
            ));
        }
        if creator == me {
            return Err(CommerceError::invalid(
                "creator_id",
                "is you (sellers earn no commission on their own shop)",
            ));
        }
        // Withdrawing works whatever the product's review state.
        if req.rate_bps != 0 && product.status != APPROVED {
            return Err(CommerceError::rule(
                Reason::NotForSale,
                "product_id: the product is not approved for sale",
            ));
        }
        let now = self.clock.now();
        let id: Uuid = if req.rate_bps == 0 {
            let id: Uuid = sqlx::query_scalar(
                "UPDATE invitations SET status = $3, answered_at = $4 WHERE product_id = $1 AND creator_id = $2 RETURNING invitation_id",
            )
            .bind(product_id)
            .bind(creator)
            .bind(WITHDRAWN)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| {
                CommerceError::not_found("invitation not found (product_id, creator_id)")
            })?;
            let mut conn = self.pool.acquire().await?;
            drop_uninvited_showcase(&mut conn, id).await?;
            id
        } else {
            sqlx::query_scalar(
                "INSERT INTO invitations (invitation_id, product_id, seller_id, creator_id, rate_bps, message, status, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (product_id, creator_id) DO UPDATE SET rate_bps = EXCLUDED.rate_bps, message = EXCLUDED.message, \
                 status = EXCLUDED.status, created_at = EXCLUDED.created_at, answered_at = NULL \
                 RETURNING invitation_id",
            )
            .bind(loop_platform::ids::new_id())
            .bind(product_id)
            .bind(me)
            .bind(creator)
            .bind(i32::try_from(req.rate_bps).unwrap_or(0))
            .bind(&message)
            .bind(PENDING)
            .bind(now)
            .fetch_one(&self.pool)
            .await?
        };
        Ok(pb::InviteCreatorResponse {
            invitation: Some(self.invitation(id).await?.to_proto()),
        })
    }

    pub(crate) async fn answer_invitation(
        &self,
        caller: &Caller,
        req: pb::AnswerInvitationRequest,
    ) -> CommerceResult<pb::AnswerInvitationResponse> {
        caller.require_role(&[loop_platform::auth::Role::Creator])?;
        let me = caller.user_id()?;
        let id = parse_id("invitation_id", &req.invitation_id)?;
        let to = if req.accept { ACCEPTED } else { DECLINED };
        let mut tx = self.pool.begin().await?;
        let row: Option<(Uuid, i16)> = sqlx::query_as(
            "SELECT creator_id, status FROM invitations WHERE invitation_id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let status = match row {
            Some((creator, status)) if creator == me => status,
            _ => {
                return Err(CommerceError::not_found(
                    "invitation not found (invitation_id)",
                ));
            }
        };
        if status != to {
            if status != PENDING {
                let name = pb::InvitationStatus::try_from(i32::from(status))
                    .map_or("UNKNOWN", |s| s.as_str_name());
                return Err(CommerceError::rule(
                    Reason::InvalidTransition,
                    format!(
                        "the creator cannot answer an invitation that is {name} (only a PENDING one)"
                    ),
                ));
            }
            sqlx::query(
                "UPDATE invitations SET status = $2, answered_at = $3 WHERE invitation_id = $1",
            )
            .bind(id)
            .bind(to)
            .bind(self.clock.now())
            .execute(&mut *tx)
            .await?;
            if to == DECLINED {
                // Declined: no longer featured on the invitation's strength.
                drop_uninvited_showcase(&mut tx, id).await?;
            }
        }
        tx.commit().await?;
        Ok(pb::AnswerInvitationResponse {
            invitation: Some(self.invitation(id).await?.to_proto()),
        })
    }

    pub(crate) async fn list_invitations(
        &self,
        caller: &Caller,
        req: pb::ListInvitationsRequest,
    ) -> CommerceResult<pb::ListInvitationsResponse> {
        let me = caller.user_id()?;
        let column = if req.sent { "seller_id" } else { "creator_id" };
        let page = req.page.unwrap_or_default();
        let limit = loop_platform::pagination::page_size(page.page_size);
        let after: Option<Uuid> = loop_platform::pagination::decode(&page.page_token)?;
        let rows = sqlx::query_as::<_, InvitationRow>(&format!(
            "SELECT {COLUMNS} FROM invitations i WHERE i.{column} = $1 \
             AND ($2::uuid IS NULL OR i.invitation_id < $2) ORDER BY i.invitation_id DESC LIMIT $3"
        ))
        .bind(me)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = loop_platform::pagination::finish(rows, limit, |r| r.invitation_id);
        Ok(pb::ListInvitationsResponse {
            invitations: rows.iter().map(InvitationRow::to_proto).collect(),
            page: Some(loop_proto::common::v1::PageResponse {
                next_page_token: next,
            }),
        })
    }
}

/// A declined or withdrawn invitation's product leaves the creator's showcase unless the
/// product is open to all affiliates.
async fn drop_uninvited_showcase(tx: &mut PgConnection, invitation: Uuid) -> CommerceResult<()> {
    sqlx::query(
        "DELETE FROM showcase s USING invitations i, products p \
         WHERE i.invitation_id = $1 AND s.creator_id = i.creator_id AND s.product_id = i.product_id \
         AND p.product_id = i.product_id AND p.affiliate_rate_bps = 0",
    )
    .bind(invitation)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
