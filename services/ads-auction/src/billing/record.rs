//! Recording one batch in one Postgres transaction (steps 1 to 4 of the
//! module docs): the actions, their charges, the reports and the outbox.
//!
//! The rows every charge depends on are locked in a fixed order
//! (campaigns, ad group days, TopView reservations, each by id) so that
//! concurrent batches never deadlock; the arithmetic itself is in
//! [`super::charges`].

use std::collections::{BTreeSet, HashSet};

use chrono::{NaiveDate, Utc};
use loop_platform::kafka::topics;
use loop_platform::outbox::{self, OutboxEvent};
use loop_proto::events::v1 as ev;
use prost::Message;
use sqlx::Row;
use uuid::Uuid;

use super::charges::{self, CampaignBudget, GroupDay, Ledger, Reservation, Tally};
use super::screen::{record_invalid, repeats};
use super::{AD_EVENT_TYPE, Action, BillingHandler, SpendUpdate};

type Tx = sqlx::PgConnection;

impl BillingHandler {
    /// Records `actions` (deduplicated) in one transaction; returns the Redis
    /// updates for what was newly billed.
    pub(super) async fn record(&self, actions: Vec<Action>) -> anyhow::Result<Vec<SpendUpdate>> {
        let mut tx = self.pool.begin().await?;
        let (actions, mut invalid) = self.screen(&mut tx, actions).await?;
        let inserted = insert_actions(&mut tx, &actions).await?;
        let (mut fresh, known): (Vec<Action>, Vec<Action>) = actions
            .into_iter()
            .partition(|a| inserted.contains(&a.billing_id));
        invalid.extend(repeats(&mut tx, known).await?);
        record_invalid(&mut tx, &invalid).await?;
        if fresh.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let mut ledger = self.lock_ledger(&mut tx, &fresh).await?;
        charges::charge(&mut ledger, &mut fresh);
        if fresh.iter().any(|a| a.billable) {
            write_charges(&mut tx, &ledger, &fresh).await?;
        }
        write_tally(&mut tx, &charges::tally(&fresh)).await?;
        enqueue_billed(&mut tx, &fresh).await?;
        tx.commit().await?;
        Ok(charges::spend_updates(&ledger, &fresh))
    }

    /// Locks and reads what the billable actions of `fresh` charge against.
    async fn lock_ledger(&self, tx: &mut Tx, fresh: &[Action]) -> anyhow::Result<Ledger> {
        let distinct = |keep: fn(&Action) -> bool, id: fn(&Action) -> Option<Uuid>| {
            fresh
                .iter()
                .filter(|a| keep(a))
                .filter_map(id)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<Uuid>>()
        };
        let campaigns = distinct(|a| a.billable, |a| Some(a.campaign_id));
        let groups = distinct(|a| a.billable && !a.topview, |a| Some(a.ad_group_id));
        let reservations = distinct(|a| a.billable && a.topview, |a| a.reservation_id);
        let overspend = 1.0 + self.config.billing.daily_overspend_fraction;
        Ok(Ledger {
            campaigns: lock_campaigns(tx, &campaigns).await?,
            groups: lock_group_days(tx, &groups, overspend).await?,
            topview: lock_reservations(tx, &reservations).await?,
        })
    }
}

/// Inserts the actions, skipping those already recorded; returns the
/// billing ids that were new.
async fn insert_actions(tx: &mut Tx, actions: &[Action]) -> anyhow::Result<HashSet<Uuid>> {
    let col = |f: fn(&Action) -> Uuid| actions.iter().map(f).collect::<Vec<Uuid>>();
    let inserted: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO ad_actions (billing_id, impression_id, action, source_event_id, creative_id, ad_group_id, \
         campaign_id, advertiser_id, user_id, reservation_id, bid_type, billable, price_millicents, \
         charge_millicents, occurred_at) \
         SELECT b, i, a, s, cr, g, c, adv, u, r, bt, bl, p, 0, o FROM UNNEST($1::uuid[], $2::uuid[], $3::int2[], \
         $4::uuid[], $5::uuid[], $6::uuid[], $7::uuid[], $8::uuid[], $9::uuid[], $10::uuid[], $11::int2[], \
         $12::bool[], $13::int8[], $14::timestamptz[]) AS t(b, i, a, s, cr, g, c, adv, u, r, bt, bl, p, o) \
         ON CONFLICT (impression_id, action) DO NOTHING RETURNING billing_id",
    )
    .bind(col(|a| a.billing_id))
    .bind(col(|a| a.impression_id))
    .bind(actions.iter().map(|a| a.action).collect::<Vec<i16>>())
    .bind(col(|a| a.source_event_id))
    .bind(col(|a| a.creative_id))
    .bind(col(|a| a.ad_group_id))
    .bind(col(|a| a.campaign_id))
    .bind(col(|a| a.advertiser_id))
    .bind(col(|a| a.user_id))
    .bind(actions.iter().map(|a| a.reservation_id).collect::<Vec<Option<Uuid>>>())
    .bind(actions.iter().map(|a| a.bid_type).collect::<Vec<i16>>())
    .bind(actions.iter().map(|a| a.billable).collect::<Vec<bool>>())
    .bind(actions.iter().map(|a| a.price).collect::<Vec<i64>>())
    .bind(actions.iter().map(|a| a.occurred_at).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    Ok(inserted.into_iter().collect())
}

async fn lock_campaigns(
    tx: &mut Tx,
    ids: &[Uuid],
) -> anyhow::Result<std::collections::BTreeMap<Uuid, CampaignBudget>> {
    let mut campaigns = std::collections::BTreeMap::new();
    for r in sqlx::query(
        "SELECT id, total_budget_cents * 1000 AS total, spent_millicents, committed_millicents \
         FROM campaigns WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?
    {
        campaigns.insert(
            r.try_get("id")?,
            CampaignBudget {
                limit: r.try_get("total")?,
                spent: r.try_get("spent_millicents")?,
                committed: r.try_get("committed_millicents")?,
                written_off: 0,
            },
        );
    }
    Ok(campaigns)
}

/// The ad groups' spend rows of their local today (made when missing),
/// locked, with the day's cap `floor(daily x overspend)`.
async fn lock_group_days(
    tx: &mut Tx,
    ids: &[Uuid],
    overspend: f64,
) -> anyhow::Result<std::collections::BTreeMap<Uuid, GroupDay>> {
    let mut groups = std::collections::BTreeMap::new();
    if ids.is_empty() {
        return Ok(groups);
    }
    let rows = sqlx::query(
        "SELECT id, daily_budget_cents * 1000 AS daily, (now() AT TIME ZONE time_zone)::date AS day \
         FROM ad_groups WHERE id = ANY($1) ORDER BY id",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut found = Vec::new();
    let mut days = Vec::new();
    for r in rows {
        let id: Uuid = r.try_get("id")?;
        let day: NaiveDate = r.try_get("day")?;
        let daily: i64 = r.try_get("daily")?;
        let limit = (daily as f64 * overspend).floor() as i64;
        groups.insert(
            id,
            GroupDay {
                day,
                limit,
                spent: 0,
            },
        );
        found.push(id);
        days.push(day);
    }
    sqlx::query(
        "INSERT INTO ad_group_spend (ad_group_id, day) SELECT * FROM UNNEST($1::uuid[], $2::date[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&found)
    .bind(&days)
    .execute(&mut *tx)
    .await?;
    for r in sqlx::query(
        "SELECT s.ad_group_id, s.spent_millicents FROM ad_group_spend s \
         JOIN UNNEST($1::uuid[], $2::date[]) AS k(id, day) ON s.ad_group_id = k.id AND s.day = k.day \
         ORDER BY s.ad_group_id FOR UPDATE OF s",
    )
    .bind(&found)
    .bind(&days)
    .fetch_all(&mut *tx)
    .await?
    {
        if let Some(g) = groups.get_mut(&r.try_get::<Uuid, _>("ad_group_id")?) {
            g.spent = r.try_get("spent_millicents")?;
        }
    }
    Ok(groups)
}

async fn lock_reservations(
    tx: &mut Tx,
    ids: &[Uuid],
) -> anyhow::Result<std::collections::BTreeMap<Uuid, Reservation>> {
    let mut tv = std::collections::BTreeMap::new();
    for r in sqlx::query(
        "SELECT id, impressions, delivered FROM topview_reservations WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?
    {
        tv.insert(
            r.try_get("id")?,
            Reservation {
                impressions: r.try_get("impressions")?,
                delivered: r.try_get("delivered")?,
            },
        );
    }
    Ok(tv)
}

/// Writes the charges of the billed actions and the ledger's new totals.
async fn write_charges(tx: &mut Tx, ledger: &Ledger, fresh: &[Action]) -> anyhow::Result<()> {
    let billed: Vec<&Action> = fresh.iter().filter(|a| a.billable).collect();
    sqlx::query(
        "UPDATE ad_actions a SET charge_millicents = u.c, written_off_millicents = u.w \
         FROM UNNEST($1::uuid[], $2::int8[], $3::int8[]) AS u(id, c, w) WHERE a.billing_id = u.id",
    )
    .bind(billed.iter().map(|a| a.billing_id).collect::<Vec<_>>())
    .bind(billed.iter().map(|a| a.charge).collect::<Vec<_>>())
    .bind(billed.iter().map(|a| a.written_off).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    let campaigns = &ledger.campaigns;
    sqlx::query(
        "UPDATE campaigns c SET spent_millicents = u.s, committed_millicents = u.m, \
         written_off_millicents = c.written_off_millicents + u.w \
         FROM UNNEST($1::uuid[], $2::int8[], $3::int8[], $4::int8[]) AS u(id, s, m, w) WHERE c.id = u.id",
    )
    .bind(campaigns.keys().copied().collect::<Vec<_>>())
    .bind(campaigns.values().map(|c| c.spent).collect::<Vec<_>>())
    .bind(campaigns.values().map(|c| c.committed).collect::<Vec<_>>())
    .bind(campaigns.values().map(|c| c.written_off).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    let groups = &ledger.groups;
    sqlx::query(
        "UPDATE ad_group_spend s SET spent_millicents = u.s, updated_at = now() \
         FROM UNNEST($1::uuid[], $2::date[], $3::int8[]) AS u(id, d, s) \
         WHERE s.ad_group_id = u.id AND s.day = u.d",
    )
    .bind(groups.keys().copied().collect::<Vec<_>>())
    .bind(groups.values().map(|g| g.day).collect::<Vec<_>>())
    .bind(groups.values().map(|g| g.spent).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE topview_reservations t SET delivered = u.d FROM UNNEST($1::uuid[], $2::int8[]) AS u(id, d) \
         WHERE t.id = u.id",
    )
    .bind(ledger.topview.keys().copied().collect::<Vec<_>>())
    .bind(ledger.topview.values().map(|t| t.delivered).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Adds the batch to the daily reports and the learned rates.
async fn write_tally(tx: &mut Tx, t: &Tally) -> anyhow::Result<()> {
    let daily = &t.daily;
    sqlx::query(
        "INSERT INTO daily_stats (ad_group_id, day, campaign_id, impressions, clicks, views_6s, spend_millicents) \
         SELECT * FROM UNNEST($1::uuid[], $2::date[], $3::uuid[], $4::int8[], $5::int8[], $6::int8[], $7::int8[]) \
         ON CONFLICT (ad_group_id, day) DO UPDATE SET impressions = daily_stats.impressions + EXCLUDED.impressions, \
         clicks = daily_stats.clicks + EXCLUDED.clicks, views_6s = daily_stats.views_6s + EXCLUDED.views_6s, \
         spend_millicents = daily_stats.spend_millicents + EXCLUDED.spend_millicents",
    )
    .bind(daily.keys().map(|k| k.0).collect::<Vec<_>>())
    .bind(daily.keys().map(|k| k.1).collect::<Vec<_>>())
    .bind(daily.values().map(|v| v.0).collect::<Vec<_>>())
    .bind(daily.values().map(|v| v.1[0]).collect::<Vec<_>>())
    .bind(daily.values().map(|v| v.1[1]).collect::<Vec<_>>())
    .bind(daily.values().map(|v| v.1[2]).collect::<Vec<_>>())
    .bind(daily.values().map(|v| v.1[3]).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    let stats = &t.stats;
    sqlx::query(
        "INSERT INTO creative_stats (creative_id, segment, impressions, clicks, views_6s) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::int8[], $4::int8[], $5::int8[]) \
         ON CONFLICT (creative_id, segment) DO UPDATE SET impressions = creative_stats.impressions + EXCLUDED.impressions, \
         clicks = creative_stats.clicks + EXCLUDED.clicks, views_6s = creative_stats.views_6s + EXCLUDED.views_6s, \
         updated_at = now()",
    )
    .bind(stats.keys().map(|k| k.0).collect::<Vec<_>>())
    .bind(stats.keys().map(|k| k.1.clone()).collect::<Vec<_>>())
    .bind(stats.values().map(|v| v[0]).collect::<Vec<_>>())
    .bind(stats.values().map(|v| v[1]).collect::<Vec<_>>())
    .bind(stats.values().map(|v| v[2]).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// One `AdBilled` per billed action into the transactional outbox, keyed
/// by user like the events it bills.
async fn enqueue_billed(tx: &mut Tx, fresh: &[Action]) -> anyhow::Result<()> {
    let now = loop_platform::time::to_timestamp(Utc::now());
    for a in fresh.iter().filter(|a| a.billable) {
        let event = ev::AdEvent {
            event_id: a.billing_id.to_string(),
            occurred_at: Some(now),
            accepted_at: None,
            payload: Some(ev::ad_event::Payload::Billed(ev::AdBilled {
                billing_id: a.billing_id.to_string(),
                impression_id: a.impression_id.to_string(),
                action: i32::from(a.action),
                charge_millicents: a.charge,
                ad_id: a.creative_id.to_string(),
                ad_group_id: a.ad_group_id.to_string(),
                campaign_id: a.campaign_id.to_string(),
                advertiser_id: a.advertiser_id.to_string(),
                user_id: a.user_id.to_string(),
                reservation_id: a.reservation_id.map(|r| r.to_string()).unwrap_or_default(),
                source_event_id: a.source_event_id.to_string(),
            })),
        };
        let key = a.user_id.to_string();
        outbox::enqueue(
            &mut *tx,
            OutboxEvent {
                event_id: a.billing_id,
                topic: topics::ADS,
                key: &key,
                event_type: AD_EVENT_TYPE,
                payload: event.encode_to_vec(),
            },
        )
        .await?;
    }
    Ok(())
}
