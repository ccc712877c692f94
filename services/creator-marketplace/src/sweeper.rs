//! The deadline sweeper: every `jobs.sweep_interval_ms` it
//!
//! - refunds and expires collaborations still open (INVITED, APPLIED,
//!   ACCEPTED, CHANGES_REQUESTED) past their deadline;
//! - approves submissions left unanswered `auto_approve_after_secs` after
//!   the later of submission and deadline;
//! - finishes escrow releases of APPROVED collaborations (the wallet was
//!   unreachable when they were approved);
//! - closes PUBLISHED campaigns past their deadline;
//! - returns escrow holds that acceptances left behind (the wallet held the
//!   money, the acceptance's commit failed) once the collaboration is
//!   declined or expired;
//! - forgets consumed event ids older than `jobs.processed_retention_hours`
//!   (up to 10,000 a round), so the dedupe table stays bounded.
//!
//! Every step locks its row with `SKIP LOCKED`, re-checks the state, and
//! calls the wallet with the collaboration's deterministic key, so replicas
//! can sweep concurrently and a crash mid-step is finished by the next round
//! without moving money twice.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::MarketplaceService;
use crate::model::state;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub expired: usize,
    pub auto_approved: usize,
    pub paid: usize,
    pub campaigns_closed: u64,
    pub orphaned_holds_returned: usize,
    pub processed_pruned: u64,
}

/// One sweep (public so tests and operators can run it on demand).
pub async fn sweep_once(service: &MarketplaceService) -> anyhow::Result<Swept> {
    let pool = service.pool();
    let mut swept = Swept::default();
    let due: Vec<Uuid> = sqlx::query_scalar(
        "SELECT collaboration_id FROM collaborations WHERE state IN (1, 2, 3, 6) AND deadline <= now() \
         ORDER BY deadline LIMIT 200",
    )
    .fetch_all(pool)
    .await?;
    for id in due {
        match service.expire(id).await {
            Ok(true) => swept.expired += 1,
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(error = %err, collaboration = %id, "expiry failed; next round retries")
            }
        }
    }
    let after = chrono::Duration::seconds(service.config.marketplace.auto_approve_after_secs);
    let stale: Vec<Uuid> = sqlx::query_scalar(
        "SELECT collaboration_id FROM collaborations WHERE state = $1 \
         AND GREATEST(submitted_at, deadline) <= $2 LIMIT 200",
    )
    .bind(state::SUBMITTED)
    .bind(Utc::now() - after)
    .fetch_all(pool)
    .await?;
    for id in stale {
        match service.auto_approve(id).await {
            Ok(true) => swept.auto_approved += 1,
            Ok(false) => {}
            Err(err) => tracing::warn!(error = %err, collaboration = %id, "auto-approval failed"),
        }
    }
    let unpaid: Vec<Uuid> = sqlx::query_scalar(
        "SELECT collaboration_id FROM collaborations WHERE state = $1 ORDER BY updated_at LIMIT 200",
    )
    .bind(state::APPROVED)
    .fetch_all(pool)
    .await?;
    for id in unpaid {
        match service.finish_release(id).await {
            Ok(()) => swept.paid += 1,
            Err(err) => {
                tracing::warn!(error = %err, collaboration = %id, "escrow release failed; next round retries")
            }
        }
    }
    swept.campaigns_closed =
        sqlx::query("UPDATE campaigns SET status = 3 WHERE status = 2 AND deadline <= now()")
            .execute(pool)
            .await?
            .rows_affected();
    let orphans: Vec<Uuid> = sqlx::query_scalar(
        "SELECT i.collaboration_id FROM escrow_intents i \
         JOIN collaborations c USING (collaboration_id) \
         WHERE c.escrow_id IS NOT NULL OR c.state IN ($1, $2) ORDER BY i.created_at LIMIT 200",
    )
    .bind(state::DECLINED)
    .bind(state::EXPIRED_REFUNDED)
    .fetch_all(pool)
    .await?;
    for id in orphans {
        match service.return_orphaned_hold(id).await {
            Ok(true) => swept.orphaned_holds_returned += 1,
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(error = %err, collaboration = %id, "returning an orphaned hold failed; next round retries")
            }
        }
    }
    let retention = chrono::Duration::hours(
        i64::try_from(service.config.jobs.processed_retention_hours).unwrap_or(24 * 366),
    );
    swept.processed_pruned = sqlx::query(
        "DELETE FROM processed_events WHERE event_id IN \
         (SELECT event_id FROM processed_events WHERE processed_at < $1 LIMIT 10000)",
    )
    .bind(Utc::now() - retention)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(swept)
}

pub async fn run(service: MarketplaceService, shutdown: CancellationToken) -> anyhow::Result<()> {
    let interval = Duration::from_millis(service.config.jobs.sweep_interval_ms);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
        if let Err(err) = sweep_once(&service).await {
            tracing::warn!(error = ?err, "sweep failed; retrying next round");
        }
    }
}
