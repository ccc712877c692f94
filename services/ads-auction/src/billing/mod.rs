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

mod charges;
#[cfg(test)]
mod fixtures;
mod record;
mod screen;
mod settle;
mod sync;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use loop_platform::cache::Redis;
use loop_platform::kafka::{BatchHandler, Delivery};
use loop_proto::ads_auction::v1 as pb;
use loop_proto::events::v1 as ev;
use sqlx::PgPool;
use uuid::Uuid;

pub use self::settle::{
    complete_budget_changes, complete_topview_days, release_orphaned_reserves, run_settlement,
    settle,
};
pub use self::sync::{SYNC_SCRIPT, sync_redis};
use crate::Config;
use crate::token::TokenKeys;

pub const AD_EVENT_TYPE: &str = "loop.events.v1.AdEvent";

/// Events whose token failed verification (bad signature, expired, foreign user).
pub static INVALID_TOKENS: AtomicU64 = AtomicU64::new(0);

const ACTION_IMPRESSION: i16 = ev::AdBillableAction::Impression as i16;
const ACTION_CLICK: i16 = ev::AdBillableAction::Click as i16;
const ACTION_VIEW: i16 = ev::AdBillableAction::View6s as i16;

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
        let billable = is_billable(topview, bid_type, action);
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
}

/// Whether `action` is what an ad bills: the impression for TopView and
/// impression-priced bids, the click for CPC, the 6-second view for CPV.
fn is_billable(topview: bool, bid_type: pb::BidType, action: i16) -> bool {
    match (topview, bid_type) {
        (true, _) => action == ACTION_IMPRESSION,
        (false, pb::BidType::Cpm | pb::BidType::Ocpm) => action == ACTION_IMPRESSION,
        (false, pb::BidType::Cpc) => action == ACTION_CLICK,
        (false, pb::BidType::Cpv) => action == ACTION_VIEW,
        (false, pb::BidType::Unspecified) => false,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bid_type_bills_its_own_action() {
        use pb::BidType::{Cpc, Cpm, Cpv, Ocpm, Unspecified};
        let bills = |topview, bid, action| is_billable(topview, bid, action);
        for bid in [Cpm, Ocpm] {
            assert!(bills(false, bid, ACTION_IMPRESSION));
            assert!(!bills(false, bid, ACTION_CLICK) && !bills(false, bid, ACTION_VIEW));
        }
        assert!(bills(false, Cpc, ACTION_CLICK) && !bills(false, Cpc, ACTION_IMPRESSION));
        assert!(bills(false, Cpv, ACTION_VIEW) && !bills(false, Cpv, ACTION_CLICK));
        assert!(!bills(false, Unspecified, ACTION_IMPRESSION));
        // TopView is sold per impression whatever the token's bid type says.
        assert!(bills(true, Cpc, ACTION_IMPRESSION) && !bills(true, Cpc, ACTION_CLICK));
    }
}
