//! Screening a batch before anything is recorded: in-batch repeats and
//! invalid clicks and views (see [`crate::invalid`]).
//!
//! The facts a verdict needs (earlier impressions, creative durations,
//! recent clicks) are loaded first; judging the batch against them is pure.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::{ACTION_CLICK, ACTION_IMPRESSION, Action, BillingHandler};
use crate::invalid;

/// A screened action flagged as invalid traffic, with the reason.
pub(super) type Flagged = (Action, &'static str);

/// What is already recorded about the clicks and views of one batch.
#[derive(Debug, Default)]
struct Facts {
    /// Impression id -> when it happened.
    impressions: HashMap<Uuid, DateTime<Utc>>,
    /// Creative id -> duration in ms.
    durations: HashMap<Uuid, i32>,
    /// (user, campaign) -> clicks in the last day.
    clicks: HashMap<(Uuid, Uuid), u32>,
}

impl BillingHandler {
    /// Splits a batch into the actions to record and the invalid traffic
    /// (see [`crate::invalid`]); short views are dropped (not invalid, not
    /// counted).
    pub(super) async fn screen(
        &self,
        tx: &mut sqlx::PgConnection,
        actions: Vec<Action>,
    ) -> anyhow::Result<(Vec<Action>, Vec<Flagged>)> {
        let reported: Vec<&Action> = actions
            .iter()
            .filter(|a| a.action != ACTION_IMPRESSION)
            .collect();
        if reported.is_empty() {
            return Ok((actions, Vec::new()));
        }
        let facts = Facts {
            impressions: load_impressions(tx, &reported).await?,
            durations: load_durations(tx, &reported).await?,
            clicks: load_clicks(tx, &reported).await?,
        };
        Ok(judge_batch(actions, facts, &self.rules()))
    }

    fn rules(&self) -> invalid::Rules {
        invalid::Rules {
            min_click_delay: chrono::Duration::milliseconds(
                i64::try_from(self.config.billing.min_click_delay_ms).unwrap_or(i64::MAX),
            ),
            max_clicks_per_user_per_campaign_per_day: self
                .config
                .billing
                .max_clicks_per_user_per_campaign_per_day,
        }
    }
}

async fn load_impressions(
    tx: &mut sqlx::PgConnection,
    reported: &[&Action],
) -> anyhow::Result<HashMap<Uuid, DateTime<Utc>>> {
    let ids: Vec<Uuid> = reported.iter().map(|a| a.impression_id).collect();
    let mut impressions = HashMap::new();
    for r in sqlx::query(
        "SELECT impression_id, occurred_at FROM ad_actions WHERE action = $1 AND impression_id = ANY($2)",
    )
    .bind(ACTION_IMPRESSION)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?
    {
        impressions.insert(r.try_get("impression_id")?, r.try_get("occurred_at")?);
    }
    Ok(impressions)
}

async fn load_durations(
    tx: &mut sqlx::PgConnection,
    reported: &[&Action],
) -> anyhow::Result<HashMap<Uuid, i32>> {
    let creatives: Vec<Uuid> = reported.iter().map(|a| a.creative_id).collect();
    let mut durations = HashMap::new();
    for r in sqlx::query("SELECT id, duration_ms FROM creatives WHERE id = ANY($1)")
        .bind(&creatives)
        .fetch_all(&mut *tx)
        .await?
    {
        durations.insert(r.try_get("id")?, r.try_get("duration_ms")?);
    }
    Ok(durations)
}

/// Valid clicks in the last day per (user, campaign) of the batch's clicks.
async fn load_clicks(
    tx: &mut sqlx::PgConnection,
    reported: &[&Action],
) -> anyhow::Result<HashMap<(Uuid, Uuid), u32>> {
    let clickers: Vec<&Action> = reported
        .iter()
        .copied()
        .filter(|a| a.action == ACTION_CLICK)
        .collect();
    let mut clicks = HashMap::new();
    if clickers.is_empty() {
        return Ok(clicks);
    }
    for r in sqlx::query(
        "SELECT a.user_id, a.campaign_id, count(*)::bigint AS n FROM ad_actions a \
         JOIN (SELECT DISTINCT * FROM UNNEST($2::uuid[], $3::uuid[])) AS k(u, c) \
         ON a.user_id = k.u AND a.campaign_id = k.c \
         WHERE a.action = $1 AND a.occurred_at > now() - interval '1 day' GROUP BY 1, 2",
    )
    .bind(ACTION_CLICK)
    .bind(clickers.iter().map(|a| a.user_id).collect::<Vec<_>>())
    .bind(clickers.iter().map(|a| a.campaign_id).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?
    {
        let n: i64 = r.try_get("n")?;
        clicks.insert(
            (r.try_get("user_id")?, r.try_get("campaign_id")?),
            u32::try_from(n).unwrap_or(u32::MAX),
        );
    }
    Ok(clicks)
}

/// Judges a batch in order against `facts`: the first event to claim an
/// (impression, action) keeps it, the same event again is nothing, another
/// event is a repeat; impressions and valid clicks of the batch count for
/// the events after them.
fn judge_batch(
    actions: Vec<Action>,
    mut facts: Facts,
    rules: &invalid::Rules,
) -> (Vec<Action>, Vec<Flagged>) {
    let mut keep = Vec::with_capacity(actions.len());
    let mut bad = Vec::new();
    // (impression, action) -> the event that claimed it in this batch.
    let mut claimed: HashMap<(Uuid, i16), Uuid> = HashMap::new();
    for a in actions {
        match claimed.get(&(a.impression_id, a.action)) {
            Some(first) if *first == a.source_event_id => continue,
            Some(_) => {
                bad.push((a, "repeat"));
                continue;
            }
            None => {}
        }
        if a.action == ACTION_IMPRESSION {
            facts
                .impressions
                .entry(a.impression_id)
                .or_insert(a.occurred_at);
            claimed.insert((a.impression_id, a.action), a.source_event_id);
            keep.push(a);
            continue;
        }
        let is_click = a.action == ACTION_CLICK;
        match invalid::judge(&reported(&a, &facts), rules) {
            invalid::Verdict::Valid => {
                if is_click {
                    *facts.clicks.entry((a.user_id, a.campaign_id)).or_default() += 1;
                }
                claimed.insert((a.impression_id, a.action), a.source_event_id);
                keep.push(a);
            }
            invalid::Verdict::NotCounted => {}
            invalid::Verdict::Invalid(reason) => bad.push((a, reason)),
        }
    }
    (keep, bad)
}

/// What [`invalid::judge`] needs to know about one click or view.
fn reported(a: &Action, facts: &Facts) -> invalid::Reported {
    invalid::Reported {
        is_click: a.action == ACTION_CLICK,
        occurred_at: a.occurred_at,
        watched_ms: a.watched_ms,
        duration_ms: facts
            .durations
            .get(&a.creative_id)
            .map_or(0, |d| u32::try_from(*d).unwrap_or(0)),
        impression_at: facts.impressions.get(&a.impression_id).copied(),
        clicks_before: facts
            .clicks
            .get(&(a.user_id, a.campaign_id))
            .copied()
            .unwrap_or(0),
    }
}

/// Of `known` (actions whose (impression, action) was already recorded), the
/// ones reported by another event than the recorded one: repeats. The same
/// event again is a redelivery, nothing at all.
pub(super) async fn repeats(
    tx: &mut sqlx::PgConnection,
    known: Vec<Action>,
) -> anyhow::Result<Vec<(Action, &'static str)>> {
    if known.is_empty() {
        return Ok(Vec::new());
    }
    let mut recorded: HashMap<(Uuid, i16), Uuid> = HashMap::new();
    for r in sqlx::query(
        "SELECT a.impression_id, a.action, a.source_event_id FROM ad_actions a \
         JOIN UNNEST($1::uuid[], $2::int2[]) AS k(i, x) ON a.impression_id = k.i AND a.action = k.x",
    )
    .bind(known.iter().map(|a| a.impression_id).collect::<Vec<_>>())
    .bind(known.iter().map(|a| a.action).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?
    {
        recorded.insert(
            (r.try_get("impression_id")?, r.try_get("action")?),
            r.try_get("source_event_id")?,
        );
    }
    Ok(known
        .into_iter()
        .filter(|a| {
            recorded
                .get(&(a.impression_id, a.action))
                .is_some_and(|s| *s != a.source_event_id)
        })
        .map(|a| (a, "repeat"))
        .collect())
}

/// Invalid clicks and views flagged.
static INVALID_TRAFFIC: std::sync::LazyLock<prometheus::IntCounterVec> =
    std::sync::LazyLock::new(|| {
        loop_platform::metrics::counter_vec(
            "loop_ads_invalid_traffic_total",
            "Ad clicks and views filtered as invalid traffic (never billed), by reason",
            &["reason"],
        )
    });

/// Records invalid traffic once per event and counts it in the reports.
pub(super) async fn record_invalid(
    tx: &mut sqlx::PgConnection,
    invalid: &[(Action, &'static str)],
) -> anyhow::Result<()> {
    if invalid.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query(
        "INSERT INTO ad_invalid_traffic (source_event_id, impression_id, action, reason, creative_id, \
         ad_group_id, campaign_id, user_id, occurred_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int2[], $4::text[], $5::uuid[], $6::uuid[], \
         $7::uuid[], $8::uuid[], $9::timestamptz[]) \
         ON CONFLICT (source_event_id) DO NOTHING RETURNING ad_group_id, campaign_id, occurred_at, reason",
    )
    .bind(invalid.iter().map(|(a, _)| a.source_event_id).collect::<Vec<_>>())
    .bind(invalid.iter().map(|(a, _)| a.impression_id).collect::<Vec<_>>())
    .bind(invalid.iter().map(|(a, _)| a.action).collect::<Vec<_>>())
    .bind(invalid.iter().map(|(_, r)| (*r).to_owned()).collect::<Vec<_>>())
    .bind(invalid.iter().map(|(a, _)| a.creative_id).collect::<Vec<_>>())
    .bind(invalid.iter().map(|(a, _)| a.ad_group_id).collect::<Vec<_>>())
    .bind(invalid.iter().map(|(a, _)| a.campaign_id).collect::<Vec<_>>())
    .bind(invalid.iter().map(|(a, _)| a.user_id).collect::<Vec<_>>())
    .bind(invalid.iter().map(|(a, _)| a.occurred_at).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    let mut daily: BTreeMap<(Uuid, NaiveDate), (Uuid, i64)> = BTreeMap::new();
    for r in &rows {
        let at: DateTime<Utc> = r.try_get("occurred_at")?;
        let reason: String = r.try_get("reason")?;
        INVALID_TRAFFIC.with_label_values(&[reason.as_str()]).inc();
        daily
            .entry((r.try_get("ad_group_id")?, at.date_naive()))
            .or_insert((r.try_get("campaign_id")?, 0))
            .1 += 1;
    }
    if !daily.is_empty() {
        tracing::info!(events = rows.len(), "invalid ad traffic filtered");
        sqlx::query(
            "INSERT INTO daily_stats (ad_group_id, day, campaign_id, invalid_events) \
             SELECT * FROM UNNEST($1::uuid[], $2::date[], $3::uuid[], $4::int8[]) \
             ON CONFLICT (ad_group_id, day) DO UPDATE SET invalid_events = daily_stats.invalid_events + EXCLUDED.invalid_events",
        )
        .bind(daily.keys().map(|k| k.0).collect::<Vec<_>>())
        .bind(daily.keys().map(|k| k.1).collect::<Vec<_>>())
        .bind(daily.values().map(|v| v.0).collect::<Vec<_>>())
        .bind(daily.values().map(|v| v.1).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::ACTION_VIEW;
    use crate::billing::fixtures::action;

    fn rules() -> invalid::Rules {
        invalid::Rules {
            min_click_delay: chrono::Duration::milliseconds(500),
            max_clicks_per_user_per_campaign_per_day: 2,
        }
    }

    /// Action `n` on impression `impression`, `after_ms` after action 0.
    fn on(n: u128, kind: i16, impression: u128, after_ms: i64) -> Action {
        let mut a = action(n, kind, 0);
        a.impression_id = Uuid::from_u128(200 + impression);
        a.occurred_at += chrono::Duration::milliseconds(after_ms);
        a
    }

    fn billing_ids(actions: &[Action]) -> Vec<Uuid> {
        actions.iter().map(|a| a.billing_id).collect()
    }

    fn flagged(bad: &[Flagged]) -> Vec<(Uuid, &'static str)> {
        bad.iter().map(|(a, r)| (a.billing_id, *r)).collect()
    }

    #[test]
    fn a_redelivered_event_is_nothing_and_another_one_a_repeat() {
        let first = on(0, ACTION_IMPRESSION, 0, 0);
        let mut redelivered = on(1, ACTION_IMPRESSION, 0, 0);
        redelivered.source_event_id = first.source_event_id;
        let other = on(2, ACTION_IMPRESSION, 0, 0);
        let ids = [first.billing_id, other.billing_id];
        let (keep, bad) = judge_batch(vec![first, redelivered, other], Facts::default(), &rules());
        assert_eq!(billing_ids(&keep), vec![ids[0]]);
        assert_eq!(flagged(&bad), vec![(ids[1], "repeat")]);
    }

    #[test]
    fn clicks_need_an_impression_of_this_batch_or_before_and_a_human_delay() {
        let batch = vec![
            on(0, ACTION_IMPRESSION, 0, 0),
            on(1, ACTION_CLICK, 0, 100),
            on(2, ACTION_CLICK, 0, 600),
            on(3, ACTION_CLICK, 9, 600),
        ];
        let ids = billing_ids(&batch);
        let (keep, bad) = judge_batch(batch, Facts::default(), &rules());
        assert_eq!(billing_ids(&keep), vec![ids[0], ids[2]]);
        assert_eq!(
            flagged(&bad),
            vec![(ids[1], "too_fast"), (ids[3], "no_impression")]
        );
    }

    #[test]
    fn valid_clicks_of_the_batch_count_toward_the_daily_click_limit() {
        let a = action(0, ACTION_CLICK, 0);
        let mut facts = Facts::default();
        facts.clicks.insert((a.user_id, a.campaign_id), 1);
        for i in 0..2 {
            facts.impressions.insert(
                Uuid::from_u128(200 + i),
                a.occurred_at - chrono::Duration::seconds(5),
            );
        }
        let batch = vec![on(0, ACTION_CLICK, 0, 0), on(1, ACTION_CLICK, 1, 0)];
        let ids = billing_ids(&batch);
        let (keep, bad) = judge_batch(batch, facts, &rules());
        assert_eq!(billing_ids(&keep), vec![ids[0]]);
        assert_eq!(flagged(&bad), vec![(ids[1], "click_flood")]);
    }

    #[test]
    fn a_short_view_is_neither_counted_nor_invalid() {
        // A creative of unknown duration needs 6 s watched.
        let mut short = on(1, ACTION_VIEW, 0, 1000);
        short.creative_id = Uuid::from_u128(77);
        short.watched_ms = 5_999;
        let mut long = on(2, ACTION_VIEW, 1, 1000);
        long.watched_ms = 3_000;
        let mut facts = Facts::default();
        let impressions = vec![
            on(0, ACTION_IMPRESSION, 0, 0),
            on(3, ACTION_IMPRESSION, 1, 0),
        ];
        let ids = billing_ids(&impressions);
        let mut batch = impressions;
        batch.extend([short, long.clone()]);
        // The creative is 3 s long: 3 s watched is the whole of it.
        facts.durations.insert(long.creative_id, 3_000);
        let (keep, bad) = judge_batch(batch, facts, &rules());
        assert_eq!(billing_ids(&keep), vec![ids[0], ids[1], long.billing_id]);
        assert!(bad.is_empty());
    }
}
