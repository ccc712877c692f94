//! Exactly-once billing of client-reported ad events (`ads.v1`).
//!
//! Per batch, in one Postgres transaction:
//! 1. every valid event becomes an action row unique on `(impression_id,
//!    action)`; a redelivered event or a re-reported token hits the key and
//!    is skipped, so nothing below runs twice for it;
//! 2. new billable actions are charged the token's price, capped so that a
//!    day never bills more than `daily x (1 + daily_overspend_fraction)` and
//!    a campaign never more than its total budget (the excess is written off
//!    and recorded, never billed); TopView deliveries move committed budget
//!    to spend;
//! 3. the daily report roll-up and the learned rates (impressions, clicks and
//!    6-second views per creative and segment) are incremented;
//! 4. one `AdBilled` per charge goes to the transactional outbox.
//!
//! After the commit, Redis learns the new spend (set-if-greater, so a stale
//! writer never lowers it) and releases the reservations the billed tokens
//! held. A crash between commit and that update only leaves a reservation
//! held until it expires (under-delivery, never overspend), and the
//! reconcile loop re-pushes spend from Postgres.
//! Invalid, expired or foreign tokens are counted and logged, never billed
//! and never dead-lettered; undecodable payloads go to the DLQ.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use loop_platform::cache::Redis;
use loop_platform::kafka::{BatchHandler, Delivery, topics};
use loop_platform::outbox::{self, OutboxEvent};
use loop_proto::ads_auction::v1 as pb;
use loop_proto::events::v1 as ev;
use prost::Message;
use sqlx::{PgPool, Row};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::Config;
use crate::invalid;
use crate::serving::{ad_group_key, campaign_key};
use crate::token::TokenKeys;
use crate::wallet::{AdWallet, Movement};

pub const AD_EVENT_TYPE: &str = "loop.events.v1.AdEvent";

/// Events whose token failed verification (bad signature, expired, foreign user).
pub static INVALID_TOKENS: AtomicU64 = AtomicU64::new(0);

const ACTION_IMPRESSION: i16 = ev::AdBillableAction::Impression as i16;
const ACTION_CLICK: i16 = ev::AdBillableAction::Click as i16;
const ACTION_VIEW: i16 = ev::AdBillableAction::View6s as i16;

/// Applies a batch of reported actions' spend to Redis: set-if-greater of the
/// ad group's day spend and the campaign's spend, then release of the
/// reservation each billed token held.
pub const SYNC_SCRIPT: &str = r#"
local function int(x) return string.format('%d', x) end
local function release(key, bucket, amount)
  local rmin = tonumber(redis.call('HGET', key, 'rmin'))
  if rmin == nil or bucket < rmin then return end
  local f = 'b' .. bucket
  local cur = tonumber(redis.call('HGET', key, f) or '0')
  local take = math.min(cur, amount)
  if take <= 0 then return end
  if cur - take <= 0 then redis.call('HDEL', key, f) else redis.call('HSET', key, f, int(cur - take)) end
  local tot = tonumber(redis.call('HGET', key, 'rtot') or '0') - take
  if tot < 0 then tot = 0 end
  redis.call('HSET', key, 'rtot', int(tot))
end
local n = tonumber(ARGV[1])
for i = 1, n do
  local a = 1 + (i - 1) * 5
  local agk, cpk = KEYS[2 * i - 1], KEYS[2 * i]
  local day = ARGV[a + 1]
  local agspent, cspent = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local bucket, amount = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  if day ~= '' then
    local d = redis.call('HGET', agk, 'day')
    if d == day then
      local cur = tonumber(redis.call('HGET', agk, 'spent') or '0')
      if agspent > cur then redis.call('HSET', agk, 'spent', int(agspent)) end
    elseif (not d) or d < day then
      redis.call('HSET', agk, 'day', day, 'spent', int(agspent), 'served', '0')
    end
    redis.call('EXPIRE', agk, 259200)
  end
  local cur = tonumber(redis.call('HGET', cpk, 'spent') or '0')
  if cspent > cur then redis.call('HSET', cpk, 'spent', int(cspent)) end
  if amount > 0 then
    release(agk, bucket, amount)
    release(cpk, bucket, amount)
  end
end
return n
"#;

/// One counted action of one served ad.
#[derive(Debug, Clone)]
struct Action {
    billing_id: Uuid,
    impression_id: Uuid,
    action: i16,
    source_event_id: Uuid,
    creative_id: Uuid,
    ad_group_id: Uuid,
    campaign_id: Uuid,
    advertiser_id: Uuid,
    user_id: Uuid,
    reservation_id: Option<Uuid>,
    bid_type: i16,
    topview: bool,
    billable: bool,
    price: i64,
    reserved: i64,
    bucket: i64,
    segment: String,
    occurred_at: DateTime<Utc>,
    charge: i64,
    written_off: i64,
    /// Views: how long the client says it was watched.
    watched_ms: u32,
}

/// One Redis update after a commit.
#[derive(Debug, Clone)]
pub struct SpendUpdate {
    pub ad_group_id: Uuid,
    pub campaign_id: Uuid,
    /// The ad group's local day ('' to leave the ad group's day spend alone).
    pub day: String,
    pub ad_group_spent: i64,
    pub campaign_spent: i64,
    pub bucket: i64,
    pub release: i64,
}

#[derive(Clone)]
pub struct BillingHandler {
    pool: PgPool,
    redis: Redis,
    config: Arc<Config>,
    tokens: TokenKeys,
    sync: Arc<redis::Script>,
}

fn ts(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
}

impl BillingHandler {
    pub fn new(pool: PgPool, redis: Redis, config: Arc<Config>) -> anyhow::Result<Self> {
        Ok(Self {
            pool,
            redis,
            tokens: TokenKeys::new(&config.tokens),
            config,
            sync: Arc::new(redis::Script::new(SYNC_SCRIPT)),
        })
    }

    /// The action an event asks to count, `Ok(None)` when it counts nothing
    /// (a view under 6 s, our own AdBilled), `Err` for an unbillable token.
    fn action_of(&self, event: &ev::AdEvent) -> Result<Option<Action>, String> {
        let (slot, action) = match &event.payload {
            Some(ev::ad_event::Payload::Impression(i)) => (i.slot.as_ref(), ACTION_IMPRESSION),
            Some(ev::ad_event::Payload::Click(c)) => (c.slot.as_ref(), ACTION_CLICK),
            // Whether it was long enough is judged against the creative's
            // duration when recorded (see `invalid`), never on the
            // client's "completed".
            Some(ev::ad_event::Payload::View(v)) => (v.slot.as_ref(), ACTION_VIEW),
            Some(ev::ad_event::Payload::Billed(_)) | None => return Ok(None),
        };
        let slot = slot.ok_or("event without a slot")?;
        let claims = self
            .tokens
            .verify(&slot.impression_token)
            .map_err(|e| e.to_string())?;
        let accepted = ts(event.accepted_at.as_ref())
            .or_else(|| ts(event.occurred_at.as_ref()))
            .unwrap_or_else(Utc::now);
        let expires = ts(claims.expires_at.as_ref()).ok_or("token without expiry")?;
        if accepted > expires {
            return Err("token expired".into());
        }
        if claims.user_id != slot.user_id {
            return Err("token issued to another user".into());
        }
        let id = |s: &str| Uuid::parse_str(s).map_err(|_| "malformed id in token".to_string());
        let format = pb::AdFormat::try_from(claims.format).unwrap_or(pb::AdFormat::Unspecified);
        let bid_type = pb::BidType::try_from(claims.bid_type).unwrap_or(pb::BidType::Unspecified);
        let topview = format == pb::AdFormat::Topview;
        let billable = match (topview, bid_type) {
            (true, _) => action == ACTION_IMPRESSION,
            (false, pb::BidType::Cpm | pb::BidType::Ocpm) => action == ACTION_IMPRESSION,
            (false, pb::BidType::Cpc) => action == ACTION_CLICK,
            (false, pb::BidType::Cpv) => action == ACTION_VIEW,
            (false, pb::BidType::Unspecified) => false,
        };
        Ok(Some(Action {
            billing_id: loop_platform::ids::new_id(),
            impression_id: id(&claims.impression_id)?,
            action,
            source_event_id: id(&event.event_id).map_err(|_| "malformed event id".to_string())?,
            creative_id: id(&claims.ad_id)?,
            ad_group_id: id(&claims.ad_group_id)?,
            campaign_id: id(&claims.campaign_id)?,
            advertiser_id: id(&claims.advertiser_id)?,
            user_id: id(&claims.user_id)?,
            reservation_id: if claims.reservation_id.is_empty() {
                None
            } else {
                Some(id(&claims.reservation_id)?)
            },
            bid_type: i16::try_from(claims.bid_type).unwrap_or(0),
            topview,
            billable,
            price: claims.price_millicents.max(0),
            reserved: claims.reserved_millicents.max(0),
            bucket: claims.reservation_bucket,
            segment: claims.segment,
            occurred_at: ts(event.occurred_at.as_ref())
                .unwrap_or(accepted)
                .min(accepted),
            charge: 0,
            written_off: 0,
            watched_ms: match &event.payload {
                Some(ev::ad_event::Payload::View(v)) => v.watched_ms,
                _ => 0,
            },
        }))
    }

    /// Records `actions` (deduplicated) in one transaction; returns the Redis
    /// updates for what was newly billed.
    async fn record(&self, actions: Vec<Action>) -> anyhow::Result<Vec<SpendUpdate>> {
        let mut tx = self.pool.begin().await?;
        let (actions, mut invalid) = self.screen(&mut tx, actions).await?;
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
        let inserted: HashSet<Uuid> = inserted.into_iter().collect();
        let (mut fresh, known): (Vec<Action>, Vec<Action>) = actions
            .into_iter()
            .partition(|a| inserted.contains(&a.billing_id));
        invalid.extend(repeats(&mut tx, known).await?);
        record_invalid(&mut tx, &invalid).await?;
        if fresh.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }

        // --- charges --------------------------------------------------------------
        let billed_groups: Vec<Uuid> = fresh
            .iter()
            .filter(|a| a.billable && !a.topview)
            .map(|a| a.ad_group_id)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let billed_campaigns: Vec<Uuid> = fresh
            .iter()
            .filter(|a| a.billable)
            .map(|a| a.campaign_id)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        // campaign -> (limit, spent, committed, written off in this batch)
        let mut campaigns: BTreeMap<Uuid, (i64, i64, i64, i64)> = BTreeMap::new();
        for r in sqlx::query(
            "SELECT id, total_budget_cents * 1000 AS total, spent_millicents, committed_millicents \
             FROM campaigns WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )
        .bind(&billed_campaigns)
        .fetch_all(&mut *tx)
        .await?
        {
            campaigns.insert(
                r.try_get("id")?,
                (
                    r.try_get("total")?,
                    r.try_get("spent_millicents")?,
                    r.try_get("committed_millicents")?,
                    0,
                ),
            );
        }
        // ad group -> (day, limit, spent)
        let mut groups: BTreeMap<Uuid, (NaiveDate, i64, i64)> = BTreeMap::new();
        if !billed_groups.is_empty() {
            let rows = sqlx::query(
                "SELECT id, daily_budget_cents * 1000 AS daily, (now() AT TIME ZONE time_zone)::date AS day \
                 FROM ad_groups WHERE id = ANY($1) ORDER BY id",
            )
            .bind(&billed_groups)
            .fetch_all(&mut *tx)
            .await?;
            let f = 1.0 + self.config.billing.daily_overspend_fraction;
            let mut ids = Vec::new();
            let mut days = Vec::new();
            for r in rows {
                let id: Uuid = r.try_get("id")?;
                let day: NaiveDate = r.try_get("day")?;
                let daily: i64 = r.try_get("daily")?;
                groups.insert(id, (day, (daily as f64 * f).floor() as i64, 0));
                ids.push(id);
                days.push(day);
            }
            sqlx::query(
                "INSERT INTO ad_group_spend (ad_group_id, day) SELECT * FROM UNNEST($1::uuid[], $2::date[]) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&ids)
            .bind(&days)
            .execute(&mut *tx)
            .await?;
            for r in sqlx::query(
                "SELECT s.ad_group_id, s.spent_millicents FROM ad_group_spend s \
                 JOIN UNNEST($1::uuid[], $2::date[]) AS k(id, day) ON s.ad_group_id = k.id AND s.day = k.day \
                 ORDER BY s.ad_group_id FOR UPDATE OF s",
            )
            .bind(&ids)
            .bind(&days)
            .fetch_all(&mut *tx)
            .await?
            {
                if let Some(g) = groups.get_mut(&r.try_get::<Uuid, _>("ad_group_id")?) {
                    g.2 = r.try_get("spent_millicents")?;
                }
            }
        }
        // reservation -> (impressions, delivered)
        let reservations: Vec<Uuid> = fresh
            .iter()
            .filter(|a| a.billable && a.topview)
            .filter_map(|a| a.reservation_id)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut tv: BTreeMap<Uuid, (i64, i64)> = BTreeMap::new();
        for r in sqlx::query(
            "SELECT id, impressions, delivered FROM topview_reservations WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )
        .bind(&reservations)
        .fetch_all(&mut *tx)
        .await?
        {
            tv.insert(
                r.try_get("id")?,
                (r.try_get("impressions")?, r.try_get("delivered")?),
            );
        }
        for a in fresh.iter_mut().filter(|a| a.billable) {
            let Some(c) = campaigns.get_mut(&a.campaign_id) else {
                a.written_off = a.price;
                continue;
            };
            if a.topview {
                let slot = a.reservation_id.and_then(|r| tv.get_mut(&r));
                match slot {
                    Some((impressions, delivered)) if *delivered < *impressions => {
                        *delivered += 1;
                        a.charge = a.price;
                        c.1 += a.price;
                        c.2 = (c.2 - a.price).max(0);
                    }
                    _ => a.written_off = a.price,
                }
                c.3 += a.written_off;
                continue;
            }
            let group_room = groups
                .get(&a.ad_group_id)
                .map_or(0, |(_, limit, spent)| limit - spent);
            let campaign_room = c.0 - c.1 - c.2;
            a.charge = a.price.min(group_room).min(campaign_room).max(0);
            a.written_off = a.price - a.charge;
            c.1 += a.charge;
            c.3 += a.written_off;
            if let Some(g) = groups.get_mut(&a.ad_group_id) {
                g.2 += a.charge;
            }
        }
        let billed: Vec<&Action> = fresh.iter().filter(|a| a.billable).collect();
        if !billed.is_empty() {
            sqlx::query(
                "UPDATE ad_actions a SET charge_millicents = u.c, written_off_millicents = u.w \
                 FROM UNNEST($1::uuid[], $2::int8[], $3::int8[]) AS u(id, c, w) WHERE a.billing_id = u.id",
            )
            .bind(billed.iter().map(|a| a.billing_id).collect::<Vec<_>>())
            .bind(billed.iter().map(|a| a.charge).collect::<Vec<_>>())
            .bind(billed.iter().map(|a| a.written_off).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE campaigns c SET spent_millicents = u.s, committed_millicents = u.m, \
                 written_off_millicents = c.written_off_millicents + u.w \
                 FROM UNNEST($1::uuid[], $2::int8[], $3::int8[], $4::int8[]) AS u(id, s, m, w) WHERE c.id = u.id",
            )
            .bind(campaigns.keys().copied().collect::<Vec<_>>())
            .bind(campaigns.values().map(|c| c.1).collect::<Vec<_>>())
            .bind(campaigns.values().map(|c| c.2).collect::<Vec<_>>())
            .bind(campaigns.values().map(|c| c.3).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE ad_group_spend s SET spent_millicents = u.s, updated_at = now() \
                 FROM UNNEST($1::uuid[], $2::date[], $3::int8[]) AS u(id, d, s) \
                 WHERE s.ad_group_id = u.id AND s.day = u.d",
            )
            .bind(groups.keys().copied().collect::<Vec<_>>())
            .bind(groups.values().map(|g| g.0).collect::<Vec<_>>())
            .bind(groups.values().map(|g| g.2).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE topview_reservations t SET delivered = u.d FROM UNNEST($1::uuid[], $2::int8[]) AS u(id, d) \
                 WHERE t.id = u.id",
            )
            .bind(tv.keys().copied().collect::<Vec<_>>())
            .bind(tv.values().map(|t| t.1).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }

        // --- reports and learned rates ------------------------------------------------
        let mut daily: BTreeMap<(Uuid, NaiveDate), (Uuid, [i64; 4])> = BTreeMap::new();
        let mut stats: BTreeMap<(Uuid, String), [i64; 3]> = BTreeMap::new();
        for a in &fresh {
            let d = daily
                .entry((a.ad_group_id, a.occurred_at.date_naive()))
                .or_insert((a.campaign_id, [0; 4]));
            let idx = match a.action {
                ACTION_IMPRESSION => 0,
                ACTION_CLICK => 1,
                _ => 2,
            };
            d.1[idx] += 1;
            d.1[3] += a.charge;
            let mut segments = vec![String::new()];
            if crate::predict::parse_segment(&a.segment).is_some() {
                segments.push(a.segment.clone());
            }
            for seg in segments {
                stats.entry((a.creative_id, seg)).or_insert([0; 3])[idx] += 1;
            }
        }
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

        // --- AdBilled -------------------------------------------------------------------
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
                &mut tx,
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
        tx.commit().await?;

        Ok(fresh
            .iter()
            .filter(|a| a.billable && !a.topview)
            .map(|a| {
                let (day, spent) = groups
                    .get(&a.ad_group_id)
                    .map(|g| (g.0.format("%Y-%m-%d").to_string(), g.2))
                    .unwrap_or_default();
                SpendUpdate {
                    ad_group_id: a.ad_group_id,
                    campaign_id: a.campaign_id,
                    day,
                    ad_group_spent: spent,
                    campaign_spent: campaigns.get(&a.campaign_id).map_or(0, |c| c.1),
                    bucket: a.bucket,
                    release: a.reserved,
                }
            })
            .collect())
    }
}

impl BillingHandler {
    /// Splits a batch into the actions to record and the invalid traffic
    /// (see [`crate::invalid`]); short views are dropped (not invalid, not
    /// counted).
    async fn screen(
        &self,
        tx: &mut sqlx::PgConnection,
        actions: Vec<Action>,
    ) -> anyhow::Result<(Vec<Action>, Vec<(Action, &'static str)>)> {
        let rules = invalid::Rules {
            min_click_delay: chrono::Duration::milliseconds(
                i64::try_from(self.config.billing.min_click_delay_ms).unwrap_or(i64::MAX),
            ),
            max_clicks_per_user_per_campaign_per_day: self
                .config
                .billing
                .max_clicks_per_user_per_campaign_per_day,
        };
        let reported: Vec<&Action> = actions
            .iter()
            .filter(|a| a.action != ACTION_IMPRESSION)
            .collect();
        if reported.is_empty() {
            return Ok((actions, Vec::new()));
        }
        let ids: Vec<Uuid> = reported.iter().map(|a| a.impression_id).collect();
        let mut impressions: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
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
        let creatives: Vec<Uuid> = reported.iter().map(|a| a.creative_id).collect();
        let mut durations: HashMap<Uuid, i32> = HashMap::new();
        for r in sqlx::query("SELECT id, duration_ms FROM creatives WHERE id = ANY($1)")
            .bind(&creatives)
            .fetch_all(&mut *tx)
            .await?
        {
            durations.insert(r.try_get("id")?, r.try_get("duration_ms")?);
        }
        let clickers: Vec<&Action> = reported
            .iter()
            .copied()
            .filter(|a| a.action == ACTION_CLICK)
            .collect();
        let mut clicks: HashMap<(Uuid, Uuid), u32> = HashMap::new();
        if !clickers.is_empty() {
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
        }
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
                impressions.entry(a.impression_id).or_insert(a.occurred_at);
                claimed.insert((a.impression_id, a.action), a.source_event_id);
                keep.push(a);
                continue;
            }
            let is_click = a.action == ACTION_CLICK;
            let verdict = invalid::judge(
                &invalid::Reported {
                    is_click,
                    occurred_at: a.occurred_at,
                    watched_ms: a.watched_ms,
                    duration_ms: durations
                        .get(&a.creative_id)
                        .map_or(0, |d| u32::try_from(*d).unwrap_or(0)),
                    impression_at: impressions.get(&a.impression_id).copied(),
                    clicks_before: clicks
                        .get(&(a.user_id, a.campaign_id))
                        .copied()
                        .unwrap_or(0),
                },
                &rules,
            );
            match verdict {
                invalid::Verdict::Valid => {
                    if is_click {
                        *clicks.entry((a.user_id, a.campaign_id)).or_default() += 1;
                    }
                    claimed.insert((a.impression_id, a.action), a.source_event_id);
                    keep.push(a);
                }
                invalid::Verdict::NotCounted => {}
                invalid::Verdict::Invalid(reason) => bad.push((a, reason)),
            }
        }
        Ok((keep, bad))
    }
}

/// Of `known` (actions whose (impression, action) was already recorded), the
/// ones reported by another event than the recorded one: repeats. The same
/// event again is a redelivery, nothing at all.
async fn repeats(
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
async fn record_invalid(
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

/// Pushes spend and releases to Redis (see [`SYNC_SCRIPT`]).
pub async fn sync_redis(
    redis: &Redis,
    script: &redis::Script,
    updates: &[SpendUpdate],
) -> redis::RedisResult<()> {
    for chunk in updates.chunks(200) {
        let mut inv = script.prepare_invoke();
        inv.arg(chunk.len());
        for u in chunk {
            inv.key(ad_group_key(redis, u.ad_group_id))
                .key(campaign_key(redis, u.campaign_id))
                .arg(&u.day)
                .arg(u.ad_group_spent)
                .arg(u.campaign_spent)
                .arg(u.bucket)
                .arg(u.release);
        }
        let mut conn = redis.conn.clone();
        let _: i64 = inv.invoke_async(&mut conn).await?;
    }
    Ok(())
}

impl BatchHandler for BillingHandler {
    async fn handle(&self, batch: &[Delivery]) -> anyhow::Result<Vec<(usize, String)>> {
        let mut poison = Vec::new();
        let mut actions: Vec<Action> = Vec::with_capacity(batch.len());
        for (i, d) in batch.iter().enumerate() {
            let event: ev::AdEvent = match d.decode() {
                Ok(e) => e,
                Err(err) => {
                    poison.push((i, format!("undecodable AdEvent: {err}")));
                    continue;
                }
            };
            if event.payload.is_none() {
                poison.push((i, "AdEvent without a payload".into()));
                continue;
            }
            match self.action_of(&event) {
                // Repeats on one impression are kept: `record` tells a
                // redelivery (same event) from invalid traffic (another).
                Ok(Some(a)) => actions.push(a),
                Ok(None) => {}
                Err(reason) => {
                    INVALID_TOKENS.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(event_id = %event.event_id, reason = %reason, "ad event not billable");
                }
            }
        }
        if actions.is_empty() {
            return Ok(poison);
        }
        let updates = self.record(actions).await?;
        if let Err(err) = sync_redis(&self.redis, &self.sync, &updates).await {
            // Committed already: Redis catches up through the reconcile loop,
            // and unreleased reservations expire (never an overspend).
            tracing::warn!(error = %err, "spend not pushed to redis");
        }
        Ok(poison)
    }
}

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

/// Re-pushes spend changed in the last `window` from Postgres to Redis.
async fn reconcile(
    pool: &PgPool,
    redis: &Redis,
    script: &redis::Script,
    window: Duration,
) -> anyhow::Result<()> {
    let rows = sqlx::query(
        "SELECT s.ad_group_id, s.day, s.spent_millicents, g.campaign_id, c.spent_millicents AS campaign_spent \
         FROM ad_group_spend s JOIN ad_groups g ON g.id = s.ad_group_id JOIN campaigns c ON c.id = g.campaign_id \
         WHERE s.updated_at > now() - make_interval(secs => $1)",
    )
    .bind(window.as_secs_f64())
    .fetch_all(pool)
    .await?;
    let mut updates = Vec::with_capacity(rows.len());
    for r in rows {
        updates.push(SpendUpdate {
            ad_group_id: r.try_get("ad_group_id")?,
            campaign_id: r.try_get("campaign_id")?,
            day: r
                .try_get::<NaiveDate, _>("day")?
                .format("%Y-%m-%d")
                .to_string(),
            ad_group_spent: r.try_get("spent_millicents")?,
            campaign_spent: r.try_get("campaign_spent")?,
            bucket: 0,
            release: 0,
        });
    }
    sync_redis(redis, script, &updates).await?;
    Ok(())
}
