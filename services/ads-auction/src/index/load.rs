//! Loading the index from Postgres and keeping it current.
//!
//! The index is loaded at start, reloaded per ad group on NOTIFY
//! (`ads_index`, sent by every mutation through [`notify`]) and by polling
//! `ad_groups.updated_at` (with an overlap for commit lag), and rebuilt in
//! full periodically.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Row};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{CreativeEntry, Index, Loaded, NOTIFY_CHANNEL, TopViewEntry};
use crate::predict::Counts;

const LOAD_GROUPS: &str = "SELECT g.id, g.campaign_id, g.advertiser_id, g.name, g.format, g.daily_budget_cents, \
     g.bid_type, g.bid_cents, g.starts_at, g.ends_at, g.active_hours, g.time_zone, g.targeting, \
     g.frequency_cap_per_day, g.status, g.created_at, g.updated_at, \
     c.objective, c.total_budget_cents * 1000 - c.committed_millicents AS available, \
     c.spent_millicents AS campaign_spent \
     FROM ad_groups g JOIN campaigns c ON c.id = g.campaign_id \
     WHERE g.status = 1 AND c.status = 1 AND (g.ends_at IS NULL OR g.ends_at > now())";

const LOAD_CREATIVES: &str = "SELECT cr.id, cr.ad_group_id, cr.video_id, cr.format, cr.display_name, cr.call_to_action, \
     cr.landing_url, s.expires_at AS spark_expires_at \
     FROM creatives cr LEFT JOIN spark_codes s ON s.code = cr.spark_code \
     WHERE cr.status = 1 AND (cr.spark_code IS NULL OR (s.revoked_at IS NULL AND s.expires_at > now()))";

async fn load_groups(pool: &PgPool, ids: Option<&[Uuid]>) -> anyhow::Result<Vec<Loaded>> {
    let (groups, creatives) = match ids {
        None => (
            sqlx::query(LOAD_GROUPS).fetch_all(pool).await?,
            sqlx::query(LOAD_CREATIVES).fetch_all(pool).await?,
        ),
        Some(ids) => (
            sqlx::query(&format!("{LOAD_GROUPS} AND g.id = ANY($1)"))
                .bind(ids)
                .fetch_all(pool)
                .await?,
            sqlx::query(&format!("{LOAD_CREATIVES} AND cr.ad_group_id = ANY($1)"))
                .bind(ids)
                .fetch_all(pool)
                .await?,
        ),
    };
    let mut by_group: HashMap<Uuid, Vec<CreativeEntry>> = HashMap::new();
    for r in creatives {
        by_group
            .entry(r.try_get("ad_group_id")?)
            .or_default()
            .push(CreativeEntry {
                id: r.try_get("id")?,
                video_id: r.try_get("video_id")?,
                format: i32::from(r.try_get::<i16, _>("format")?),
                display_name: r.try_get("display_name")?,
                call_to_action: i32::from(r.try_get::<i16, _>("call_to_action")?),
                landing_url: r.try_get("landing_url")?,
                spark_expires_at: r.try_get("spark_expires_at")?,
            });
    }
    let mut out = Vec::with_capacity(groups.len());
    for r in groups {
        let row = <crate::model::AdGroupRow as sqlx::FromRow<_>>::from_row(&r)?;
        let creatives = by_group.remove(&row.id).unwrap_or_default();
        out.push(Loaded {
            objective: r.try_get("objective")?,
            campaign_available_millicents: r.try_get("available")?,
            campaign_spent_millicents: r.try_get("campaign_spent")?,
            creatives,
            row,
        });
    }
    Ok(out)
}

/// Reloads the named ad groups (after a mutation on this replica or a NOTIFY).
pub async fn reload(pool: &PgPool, index: &Index, ids: &[Uuid]) -> anyhow::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let _in_order = index.reloads.lock().await;
    let loaded = load_groups(pool, Some(ids)).await?;
    let found: HashSet<Uuid> = loaded
        .iter()
        .filter(|l| !l.creatives.is_empty())
        .map(|l| l.row.id)
        .collect();
    let gone: Vec<Uuid> = ids.iter().filter(|i| !found.contains(i)).copied().collect();
    index.apply(loaded, &gone);
    reload_topview(pool, index).await?;
    Ok(())
}

async fn reload_topview(pool: &PgPool, index: &Index) -> anyhow::Result<()> {
    let today = Utc::now().date_naive();
    let rows = sqlx::query(
        "SELECT r.id, r.ad_group_id, r.campaign_id, r.creative_id, r.impressions, r.cpm_cents, cr.video_id \
         FROM topview_reservations r JOIN creatives cr ON cr.id = r.creative_id \
         WHERE r.day = $1 AND r.status = 1 ORDER BY r.created_at, r.id",
    )
    .bind(today)
    .fetch_all(pool)
    .await?;
    let mut entries = Vec::with_capacity(rows.len());
    for r in rows {
        entries.push(TopViewEntry {
            reservation_id: r.try_get("id")?,
            ad_group_id: r.try_get("ad_group_id")?,
            campaign_id: r.try_get("campaign_id")?,
            creative_id: r.try_get("creative_id")?,
            video_id: r.try_get("video_id")?,
            impressions: r.try_get("impressions")?,
            cpm_cents: r.try_get("cpm_cents")?,
        });
    }
    index.set_topview(today, entries);
    Ok(())
}

async fn reload_tz(pool: &PgPool, index: &Index) -> anyhow::Result<()> {
    let zones = index.time_zones();
    let rows = sqlx::query(
        "SELECT name, EXTRACT(EPOCH FROM utc_offset)::int AS offset_secs FROM pg_timezone_names WHERE name = ANY($1)",
    )
    .bind(&zones)
    .fetch_all(pool)
    .await?;
    let mut offsets = HashMap::new();
    for r in rows {
        offsets.insert(
            r.try_get::<String, _>("name")?,
            r.try_get::<i32, _>("offset_secs")?,
        );
    }
    index.set_tz_offsets(offsets);
    Ok(())
}

async fn load_stats(
    pool: &PgPool,
    since: Option<DateTime<Utc>>,
) -> anyhow::Result<Vec<(Uuid, String, Counts)>> {
    let rows = sqlx::query(
        "SELECT creative_id, segment, impressions, clicks, views_6s FROM creative_stats \
         WHERE $1::timestamptz IS NULL OR updated_at > $1",
    )
    .bind(since)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            let n = |c: &str| {
                r.try_get::<i64, _>(c)
                    .map(|v| u64::try_from(v).unwrap_or(0))
            };
            Ok((
                r.try_get("creative_id")?,
                r.try_get("segment")?,
                Counts {
                    impressions: n("impressions")?,
                    clicks: n("clicks")?,
                    views: n("views_6s")?,
                },
            ))
        })
        .collect()
}

/// Loads everything: ad groups, learned rates, TopView of today, zones.
pub async fn load_full(pool: &PgPool, index: &Index) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let _in_order = index.reloads.lock().await;
    index.apply_stats(load_stats(pool, None).await?);
    let loaded = load_groups(pool, None).await?;
    let found: HashSet<Uuid> = loaded
        .iter()
        .filter(|l| !l.creatives.is_empty())
        .map(|l| l.row.id)
        .collect();
    let gone: Vec<Uuid> = {
        let inner = index.inner.read();
        inner
            .by_id
            .keys()
            .filter(|id| !found.contains(id))
            .copied()
            .collect()
    };
    index.apply(loaded, &gone);
    reload_topview(pool, index).await?;
    reload_tz(pool, index).await?;
    index.resort();
    tracing::info!(
        ad_groups = index.len(),
        ms = started.elapsed().as_millis() as u64,
        "targeting index loaded"
    );
    Ok(())
}

/// Keeps the index current until `shutdown`: NOTIFY-driven reloads, polling
/// for changes and rates, periodic full rebuilds and order re-sorts.
pub async fn run_refresher(
    pool: PgPool,
    index: Arc<Index>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let cfg = index.config.index.clone();
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(NOTIFY_CHANNEL).await?;
    let mut poll = Poll::new(&cfg);
    let interval = Duration::from_millis(cfg.refresh_interval_ms);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            n = listener.try_recv() => match n {
                Ok(Some(n)) => {
                    reload_notified(&pool, &index, n.payload()).await;
                    continue;
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "index listener error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
            () = tokio::time::sleep(interval) => {}
        }
        if let Err(err) = poll.run(&pool, &index).await {
            tracing::warn!(error = ?err, "index refresh failed");
        }
    }
    Ok(())
}

/// Reloads the ad groups a NOTIFY names (comma-separated ids; anything
/// else in the payload is ignored).
async fn reload_notified(pool: &PgPool, index: &Index, payload: &str) {
    let ids: Vec<Uuid> = payload
        .split(',')
        .filter_map(|s| Uuid::parse_str(s).ok())
        .collect();
    if let Err(err) = reload(pool, index, &ids).await {
        tracing::warn!(error = ?err, "index reload failed");
    }
}

/// What the refresher remembers between polls.
struct Poll {
    /// Changes after this are picked up by the next poll.
    since: DateTime<Utc>,
    overlap: chrono::Duration,
    full_every: Duration,
    last_full: tokio::time::Instant,
    last_tz: tokio::time::Instant,
}

impl Poll {
    fn new(cfg: &crate::IndexConfig) -> Self {
        let overlap = chrono::Duration::seconds(i64::try_from(cfg.overlap_secs).unwrap_or(5));
        Self {
            since: Utc::now() - overlap,
            overlap,
            full_every: Duration::from_secs(cfg.full_rebuild_secs),
            last_full: tokio::time::Instant::now(),
            last_tz: tokio::time::Instant::now(),
        }
    }

    /// One poll: a full rebuild when due, else the changed ad groups (or
    /// just TopView) and the new rates; zone offsets every minute; then a
    /// re-sort. A failed poll keeps `since`, so the next one looks again.
    async fn run(&mut self, pool: &PgPool, index: &Index) -> anyhow::Result<()> {
        let poll_started = Utc::now();
        if self.last_full.elapsed() >= self.full_every {
            self.last_full = tokio::time::Instant::now();
            load_full(pool, index).await?;
        } else {
            let changed: Vec<Uuid> =
                sqlx::query_scalar("SELECT id FROM ad_groups WHERE updated_at > $1")
                    .bind(self.since)
                    .fetch_all(pool)
                    .await?;
            if !changed.is_empty() {
                reload(pool, index, &changed).await?;
            } else {
                reload_topview(pool, index).await?;
            }
            index.apply_stats(load_stats(pool, Some(self.since)).await?);
        }
        if self.last_tz.elapsed() >= Duration::from_secs(60) {
            self.last_tz = tokio::time::Instant::now();
            reload_tz(pool, index).await?;
        }
        index.resort();
        self.since = poll_started - self.overlap;
        Ok(())
    }
}

/// Tells every replica to reload `ids` once the transaction commits.
pub async fn notify(tx: &mut sqlx::PgConnection, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    // NOTIFY payloads are limited to 8000 bytes; larger sets rely on polling.
    let payload = ids
        .iter()
        .take(200)
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(",");
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(NOTIFY_CHANNEL)
        .bind(payload)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
