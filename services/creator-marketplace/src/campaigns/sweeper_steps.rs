//! The background steps of the collaboration lifecycle, one collaboration
//! at a time; [`crate::sweeper`] finds the candidates and calls them.

use sqlx::PgConnection;
use uuid::Uuid;

use super::collaborations::state::{self as machine, Action, Actor};
use super::store::{set_state, try_lock_collab};
use crate::error::{MktError, MktResult};
use crate::escrow::EscrowError;
use crate::model::CollabRow;
use crate::service::MarketplaceService;

impl MarketplaceService {
    /// Expires one collaboration past its deadline: refunds any escrow (same
    /// wallet key on every try) and marks it EXPIRED_REFUNDED. Safe to run
    /// concurrently on several replicas (row lock, conditional update).
    pub(crate) async fn expire(&self, id: Uuid) -> MktResult<bool> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = try_lock_collab(&mut tx, id).await? else {
            return Ok(false);
        };
        let Ok(to) = machine::decide(row.state, Action::Expire, Actor::SERVICE, &self.facts(&row))
        else {
            return Ok(false);
        };
        let note = self.refund_expired(&mut tx, &row).await?;
        set_state(&mut tx, &row, to, crate::SERVICE_SUBJECT, &note).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Refunds an expiring collaboration's escrow, if it holds one, and
    /// frees its seat; returns the history note saying what happened.
    async fn refund_expired(&self, tx: &mut PgConnection, row: &CollabRow) -> MktResult<String> {
        let Some(escrow) = row.escrow_id.filter(|_| machine::holds_escrow(row.state)) else {
            return Ok(String::from("deadline passed"));
        };
        let note = match self.wallet.refund(row.collaboration_id, escrow).await {
            Ok(()) => format!("deadline passed; escrow {escrow} refunded"),
            Err(EscrowError::NotHeld) => {
                tracing::error!(collaboration = %row.collaboration_id, %escrow, "escrow already settled while the collaboration was open");
                format!("deadline passed; escrow {escrow} was no longer held")
            }
            Err(err) => {
                return Err(MktError::App(loop_platform::AppError::Unavailable(
                    format!("escrow refund failed: {err}"),
                )));
            }
        };
        sqlx::query(
            "UPDATE campaigns SET accepted_creators = GREATEST(accepted_creators - 1, 0) WHERE campaign_id = $1",
        )
        .bind(row.campaign_id)
        .execute(&mut *tx)
        .await?;
        Ok(note)
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
        if !machine::is_void(row.state) {
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
        let facts = self.facts(&row);
        let Ok(to) = machine::decide(row.state, Action::AutoApprove, Actor::SERVICE, &facts) else {
            return Ok(false);
        };
        sqlx::query("UPDATE collaborations SET fee_bps = $2 WHERE collaboration_id = $1")
            .bind(id)
            .bind(i32::try_from(self.config.marketplace.platform_fee_bps).unwrap_or(0))
            .execute(&mut *tx)
            .await?;
        let note = "approved automatically";
        set_state(&mut tx, &row, to, crate::SERVICE_SUBJECT, note).await?;
        tx.commit().await?;
        Ok(true)
    }
}
