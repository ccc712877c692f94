//! The settlement loop: wallet charges for billed spend, TopView days and
//! budget changes brought to an end, and spend re-pushed to Redis.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use loop_platform::cache::Redis;
use sqlx::{PgPool, Row};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::sync::{SYNC_SCRIPT, reconcile};
use crate::Config;
use crate::wallet::{AdWallet, Movement};

/// Settles billed spend with the wallet, frees the undelivered budget of
/// past TopView days, and re-pushes recent spend from Postgres to Redis.
pub async fn run_settlement(
    pool: PgPool,
    redis: Redis,
    wallet: Arc<dyn AdWallet>,
    config: Arc<Config>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let interval = Duration::from_secs(config.billing.settle_interval_secs);
    let script = redis::Script::new(SYNC_SCRIPT);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
        if let Err(err) = complete_topview_days(&pool).await {
            tracing::warn!(error = ?err, "completing past TopView days failed");
        }
        if let Err(err) = settle(&pool, wallet.as_ref()).await {
            tracing::warn!(error = ?err, "settlement failed");
        }
        if let Err(err) = release_orphaned_reserves(&pool, wallet.as_ref()).await {
            tracing::warn!(error = ?err, "releasing orphaned reserves failed");
        }
        if let Err(err) = complete_budget_changes(&pool, wallet.as_ref()).await {
            tracing::warn!(error = ?err, "completing budget changes failed");
        }
        if let Err(err) = reconcile(&pool, &redis, &script, interval * 3).await {
            tracing::warn!(error = ?err, "spend reconcile failed");
        }
    }
    Ok(())
}

/// Past days' undelivered TopView impressions go back to the campaign budget.
pub async fn complete_topview_days(pool: &PgPool) -> anyhow::Result<u64> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "UPDATE topview_reservations SET status = 3 WHERE status = 1 AND day < (now() AT TIME ZONE 'UTC')::date \
         RETURNING campaign_id, GREATEST(total_price_cents * 1000 - delivered * cpm_cents, 0) AS freed",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut freed: HashMap<Uuid, i64> = HashMap::new();
    for r in &rows {
        *freed.entry(r.try_get("campaign_id")?).or_default() += r.try_get::<i64, _>("freed")?;
    }
    for (campaign, amount) in &freed {
        sqlx::query(
            "UPDATE campaigns SET committed_millicents = GREATEST(committed_millicents - $2, 0) WHERE id = $1",
        )
        .bind(campaign)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE ad_groups SET updated_at = now() WHERE campaign_id = $1")
            .bind(campaign)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}

/// Releases reserves that a `CreateCampaign` made and never committed: a
/// wallet intent no transaction holds (its creator ended), whose campaign
/// does not exist. Nothing reserved (the wallet says the reserve is short)
/// also closes the intent. Returns how many intents were closed.
pub async fn release_orphaned_reserves(
    pool: &PgPool,
    wallet: &dyn AdWallet,
) -> anyhow::Result<u64> {
    let mut closed = 0;
    loop {
        let mut tx = pool.begin().await?;
        let Some(row) = sqlx::query(
            "SELECT i.campaign_id, i.advertiser_id, i.amount_cents FROM wallet_intents i \
             WHERE i.created_at < now() - interval '10 seconds' \
             AND NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = i.campaign_id) \
             ORDER BY i.created_at LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(closed);
        };
        let campaign: Uuid = row.try_get("campaign_id")?;
        // A CreateCampaign that committed after the select above deleted
        // the note and made the campaign; re-check under the note's lock.
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM campaigns WHERE id = $1)")
                .bind(campaign)
                .fetch_one(&mut *tx)
                .await?;
        if !exists {
            let key = format!("campaign:{campaign}:orphan-release");
            match wallet
                .release(Movement {
                    idempotency_key: &key,
                    advertiser_id: row.try_get("advertiser_id")?,
                    campaign_id: campaign,
                    amount_cents: row.try_get("amount_cents")?,
                })
                .await
            {
                Ok(()) => {
                    tracing::warn!(%campaign, "released a reserve whose campaign never committed")
                }
                Err(crate::wallet::WalletError::InsufficientFunds) => {}
                Err(err) => return Err(err.into()),
            }
        }
        sqlx::query("DELETE FROM wallet_intents WHERE campaign_id = $1")
            .bind(campaign)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        closed += 1;
    }
}

/// Completes budget changes whose `UpdateCampaign` did not commit: a note no
/// transaction holds, older than 10 s. The noted movement is made again with
/// its key (moved once, whether or not the first call reached the wallet),
/// then the noted budget and version are applied. A reserve the wallet
/// refuses for funds never happened: the note just closes. Returns how many
/// notes were closed.
pub async fn complete_budget_changes(pool: &PgPool, wallet: &dyn AdWallet) -> anyhow::Result<u64> {
    let mut closed = 0;
    loop {
        let mut tx = pool.begin().await?;
        let Some(note) = sqlx::query(
            "SELECT campaign_id, advertiser_id, version, budget_cents, diff_cents FROM budget_intents \
             WHERE created_at < now() - interval '10 seconds' \
             ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(closed);
        };
        let campaign: Uuid = note.try_get("campaign_id")?;
        let version: i64 = note.try_get("version")?;
        let budget: i64 = note.try_get("budget_cents")?;
        let diff: i64 = note.try_get("diff_cents")?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT version FROM campaigns WHERE id = $1 FOR UPDATE")
                .bind(campaign)
                .fetch_optional(&mut *tx)
                .await?;
        if current.is_some_and(|v| v < version) {
            let key = crate::campaigns::budget_key(campaign, version, budget);
            let movement = Movement {
                idempotency_key: &key,
                advertiser_id: note.try_get("advertiser_id")?,
                campaign_id: campaign,
                amount_cents: diff.abs(),
            };
            let moved = if diff > 0 {
                wallet.reserve(movement).await
            } else {
                wallet.release(movement).await
            };
            match moved {
                Ok(()) => {
                    sqlx::query(
                        "UPDATE campaigns SET total_budget_cents = $2, version = $3, updated_at = now() WHERE id = $1",
                    )
                    .bind(campaign)
                    .bind(budget)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
                    crate::topview::touch_campaign_groups(&mut tx, campaign).await?;
                    tracing::warn!(%campaign, version, budget, "completed a budget change whose request did not commit");
                }
                Err(crate::wallet::WalletError::InsufficientFunds) => {
                    tracing::warn!(%campaign, version, budget, "dropped a budget change the wallet cannot cover");
                }
                Err(err) => return Err(err.into()),
            }
        }
        sqlx::query("DELETE FROM budget_intents WHERE campaign_id = $1")
            .bind(campaign)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        closed += 1;
    }
}

/// Charges the wallet for whole cents billed and not yet settled.
pub async fn settle(pool: &PgPool, wallet: &dyn AdWallet) -> anyhow::Result<u64> {
    let rows = sqlx::query(
        "SELECT id, advertiser_id, spent_millicents / 1000 AS target, settled_cents FROM campaigns \
         WHERE spent_millicents / 1000 > settled_cents ORDER BY id LIMIT 500",
    )
    .fetch_all(pool)
    .await?;
    let mut settled = 0;
    for r in rows {
        let campaign: Uuid = r.try_get("id")?;
        let target: i64 = r.try_get("target")?;
        let done: i64 = r.try_get("settled_cents")?;
        let key = format!("settle:{campaign}:{target}");
        let charged = wallet
            .charge(Movement {
                idempotency_key: &key,
                advertiser_id: r.try_get("advertiser_id")?,
                campaign_id: campaign,
                amount_cents: target - done,
            })
            .await;
        match charged {
            Ok(c) => {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "UPDATE campaigns SET settled_cents = $2 WHERE id = $1 AND settled_cents < $2",
                )
                .bind(campaign)
                .bind(target)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO settlements (idempotency_key, campaign_id, amount_cents, last_action_id) \
                     VALUES ($1, $2, $3, COALESCE((SELECT max(id) FROM ad_actions WHERE campaign_id = $2), 0)) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&key)
                .bind(campaign)
                .bind(c.charged_cents)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                settled += 1;
            }
            Err(err) => {
                tracing::warn!(error = %err, %campaign, "wallet charge failed; retrying later")
            }
        }
    }
    Ok(settled)
}
