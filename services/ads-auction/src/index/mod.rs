//! The in-memory targeting index each replica serves from.
//!
//! Every deliverable ad group (active, in an active campaign, not ended,
//! with at least one active creative) gets a slot. For each targeting
//! dimension (age band, gender, country, language, device OS, interest
//! category, behaviour) the index keeps an inverted list per value plus a
//! bitset of the ad groups that do not restrict that dimension. A user's
//! eligible set is `active AND` over the dimensions of `(unrestricted OR
//! lists of the user's values)`: a few bitset operations, never a scan of the
//! campaigns. An unknown user value matches only unrestricted ad groups, so a
//! minor (or a user of unknown age) never matches adults-only targeting.
//!
//! Ranking inside the eligible set walks the ad groups in descending order
//! of an upper bound of their eCPM and stops once the best K distinct
//! campaigns cannot be beaten; when the eligible set is small it is scored
//! directly. Learned rates change the bounds; raised bounds are tracked
//! until the order is rebuilt, so the walk stays exact.
//!
//! The index is loaded from Postgres at start, reloaded per ad group on
//! NOTIFY (`ads_index`, sent by every mutation) and by polling
//! `ad_groups.updated_at` (with an overlap for commit lag), and rebuilt in
//! full periodically.

mod bitset;
mod load;
mod planner;
mod state;
mod targeting;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, NaiveDate, Utc};
use loop_proto::ads_auction::v1 as pb;
use parking_lot::RwLock;
use uuid::Uuid;

pub use self::bitset::BitSet;
pub use self::load::{load_full, notify, reload, run_refresher};
use self::state::{Inner, rates_for};
use self::targeting::Key;
use crate::Config;
use crate::pacing::Window;
use crate::predict::Counts;

pub const NOTIFY_CHANNEL: &str = "ads_index";

// --- entries -----------------------------------------------------------------------

/// A creative as served.
#[derive(Debug, Clone)]
pub struct CreativeEntry {
    pub id: Uuid,
    pub video_id: Uuid,
    pub format: i32,
    pub display_name: String,
    pub call_to_action: i32,
    pub landing_url: String,
    /// Spark creatives stop at their code's expiry.
    pub spark_expires_at: Option<DateTime<Utc>>,
}

/// A deliverable ad group.
#[derive(Debug)]
pub struct Entry {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub advertiser_id: Uuid,
    pub objective: pb::CampaignObjective,
    pub format: pb::AdFormat,
    pub bid_type: pb::BidType,
    pub bid_cents: i64,
    pub bid_event: i64,
    pub daily_budget_millicents: i64,
    pub frequency_cap: u32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub active_hours: u32,
    pub time_zone: String,
    /// What auction delivery may bill in total: the budget minus booked
    /// TopView (spend is checked against it separately, in Redis).
    pub campaign_available_millicents: i64,
    pub campaign_spent_millicents: i64,
    pub creatives: Vec<CreativeEntry>,
    keys: Vec<Key>,
    /// Upper bound of this ad group's eCPM over creatives and segments.
    ub: f64,
    /// Skip until (ms since epoch): budget or pacing refused it lately.
    pub backoff_until_ms: AtomicI64,
}

#[derive(Debug, Clone)]
pub struct TopViewEntry {
    pub reservation_id: Uuid,
    pub ad_group_id: Uuid,
    pub campaign_id: Uuid,
    pub creative_id: Uuid,
    pub video_id: Uuid,
    pub impressions: i64,
    pub cpm_cents: i64,
}

/// What the auction needs to know about the viewer.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    pub age_band: i32,
    pub gender: i32,
    pub country: String,
    pub language: String,
    pub device_os: i32,
    pub interests: Vec<String>,
    /// kind, value, age in days.
    pub behaviors: Vec<(i32, String, f64)>,
    pub segment: usize,
}

/// One auction candidate, ready for the Redis script.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub ad_group_id: Uuid,
    pub campaign_id: Uuid,
    pub advertiser_id: Uuid,
    pub format: pb::AdFormat,
    pub bid_type: pb::BidType,
    pub bid_cents: i64,
    pub bid_event: i64,
    pub creative: CreativeEntry,
    pub rate: f64,
    pub quality: f64,
    pub w: f64,
    pub ecpm: f64,
    /// Expected billable events per impression (the reservation's share).
    pub billable_rate: f64,
    pub daily_budget_millicents: i64,
    pub paced_target_millicents: i64,
    pub campaign_available_millicents: i64,
    pub campaign_spent_millicents: i64,
    pub frequency_cap: u32,
    pub local_day: String,
    pub window: Window,
}

#[derive(Debug, Clone)]
pub struct TopViewCandidate {
    pub entry: TopViewEntry,
    pub advertiser_id: Uuid,
    pub creative: CreativeEntry,
    /// Impressions the reservation may have served by now (paced).
    pub paced_cap: i64,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub infeed: Vec<Candidate>,
    pub topview: Vec<TopViewCandidate>,
    /// Sample of candidates filtered in memory, with the reason (debug).
    pub filtered: Vec<(Uuid, &'static str)>,
    pub eligible: usize,
}

/// What a plan asks for.
pub struct Ask<'a> {
    pub viewer: &'a Viewer,
    pub now: DateTime<Utc>,
    pub infeed_slots: usize,
    pub want_topview: bool,
    pub exclude: &'a HashSet<Uuid>,
    pub debug: bool,
}

pub struct Index {
    config: Arc<Config>,
    inner: RwLock<Inner>,
    /// Held from loading rows to applying them, so loads apply in the order
    /// they started: without it a poll that read an ad group just before a
    /// pause committed could apply its stale (active) row after the pause's
    /// own reload, and the paused group would serve until the next poll.
    reloads: tokio::sync::Mutex<()>,
}

/// One ad group as loaded from Postgres.
pub struct Loaded {
    pub row: crate::model::AdGroupRow,
    pub objective: i16,
    pub campaign_available_millicents: i64,
    pub campaign_spent_millicents: i64,
    pub creatives: Vec<CreativeEntry>,
}

impl Index {
    pub fn new(config: Arc<Config>) -> Self {
        Self {
            config,
            inner: RwLock::new(Inner::default()),
            reloads: tokio::sync::Mutex::new(()),
        }
    }

    pub fn len(&self) -> usize {
        self.inner.read().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Inserts or replaces ad groups; removes the ids in `gone`.
    pub fn apply(&self, loaded: Vec<Loaded>, gone: &[Uuid]) {
        let mut inner = self.inner.write();
        for id in gone {
            inner.remove(*id);
        }
        for l in loaded {
            inner.insert(&self.config.prediction, l);
        }
    }

    /// Merges learned counts (absolute values) and raises bounds as needed.
    pub fn apply_stats(&self, rows: Vec<(Uuid, String, Counts)>) {
        if rows.is_empty() {
            return;
        }
        self.inner
            .write()
            .apply_stats(&self.config.prediction, rows);
    }

    /// Rebuilds the walk order (outside the write lock for the sort).
    pub fn resort(&self) {
        let (mut pairs, raised_seen) = {
            let inner = self.inner.read();
            if inner.raised.is_empty() {
                return;
            }
            (inner.bounds(), inner.raised.len())
        };
        pairs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let order = pairs.into_iter().map(|(s, _)| s).collect();
        self.inner.write().set_order(order, raised_seen);
    }

    pub fn set_topview(&self, day: NaiveDate, entries: Vec<TopViewEntry>) {
        self.inner.write().set_topview(day, entries);
    }

    pub fn set_tz_offsets(&self, offsets: HashMap<String, i32>) {
        self.inner.write().tz_offsets = offsets;
    }

    pub fn time_zones(&self) -> Vec<String> {
        self.inner.read().time_zones()
    }

    /// Remembers that budget or pacing refused an ad group.
    pub fn back_off(&self, ad_group: Uuid, until_ms: i64) {
        let inner = self.inner.read();
        if let Some(e) = inner.entry_by_id(ad_group) {
            e.backoff_until_ms.store(until_ms, Ordering::Relaxed);
        }
    }

    /// The window and delivery facts of one indexed ad group.
    pub fn window_of(&self, ad_group: Uuid) -> Option<(Window, i64)> {
        let inner = self.inner.read();
        let e = inner.entry_by_id(ad_group)?;
        Some((inner.window(e), e.daily_budget_millicents))
    }

    pub fn contains(&self, ad_group: Uuid) -> bool {
        self.inner.read().by_id.contains_key(&ad_group)
    }

    /// Predicted CTR of the best creative of an ad group for an unknown viewer.
    pub fn predicted_ctr(&self, ad_group: Uuid) -> Option<f64> {
        let inner = self.inner.read();
        let e = inner.entry_by_id(ad_group)?;
        e.creatives
            .iter()
            .map(|c| {
                rates_for(&self.config.prediction, inner.stats.get(&c.id), 0)
                    .0
                    .ctr
            })
            .reduce(f64::max)
    }

    /// Finds the eligible candidates of one request, best eCPM first (see
    /// [`planner`]).
    pub fn plan(&self, ask: &Ask<'_>) -> Plan {
        // The bitsets are reused per thread: a 100k-slot set is 12.5 KB, and
        // allocating eight per auction showed up as malloc time.
        thread_local! {
            static SCRATCH: std::cell::RefCell<BitSet> = std::cell::RefCell::new(BitSet::default());
        }
        let mut elig = SCRATCH.with(std::cell::RefCell::take);
        let plan = planner::plan(&self.inner.read(), &self.config, ask, &mut elig);
        SCRATCH.with(|s| *s.borrow_mut() = elig);
        plan
    }
}

#[cfg(test)]
mod fixtures;

#[cfg(test)]
mod tests {
    use super::fixtures::loaded;
    use super::*;

    #[test]
    fn walking_by_bound_and_scanning_agree_on_a_large_index() {
        let index = Index::new(Arc::new(crate::Config::default()));
        // 9000 ad groups: a third in US, a third in FR, a third everywhere;
        // bids 100..=5099 cents spread by a multiplicative hash.
        let groups = (0..9000u128)
            .map(|i| {
                let bid = 100 + ((i * 7919) % 5000) as i64;
                let countries: &[&str] = match i % 3 {
                    0 => &["US"],
                    1 => &["FR"],
                    _ => &[],
                };
                loaded(i, bid, countries)
            })
            .collect();
        index.apply(groups, &[]);
        let viewer = Viewer {
            country: "US".into(),
            ..Default::default()
        };
        let exclude = HashSet::new();
        let ask = Ask {
            viewer: &viewer,
            now: Utc::now(),
            infeed_slots: 2,
            want_topview: false,
            exclude: &exclude,
            debug: false,
        };
        // No order yet: the eligible set is scanned.
        let scanned = index.plan(&ask);
        assert_eq!(scanned.eligible, 6000, "US + unrestricted, never FR");
        index.resort();
        let walked = index.plan(&ask);
        let ids = |p: &Plan| p.infeed.iter().map(|c| c.ad_group_id).collect::<Vec<_>>();
        assert_eq!(ids(&scanned), ids(&walked));
        assert_eq!(walked.infeed.len(), 8, "base 4 + 2 per slot");
        // The best is the highest bid among eligible ad groups, in order.
        let bids: Vec<i64> = walked.infeed.iter().map(|c| c.bid_cents).collect();
        let mut sorted = bids.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(bids, sorted);
        let best_eligible = (0..9000u128)
            .filter(|i| i % 3 != 1)
            .map(|i| 100 + ((i * 7919) % 5000) as i64)
            .max();
        assert_eq!(bids.first().copied(), best_eligible);
        // Removing the winner promotes the next one.
        let winner = walked.infeed[0].ad_group_id;
        index.apply(Vec::new(), &[winner]);
        assert_eq!(
            index.plan(&ask).infeed[0].ad_group_id,
            walked.infeed[1].ad_group_id
        );
    }
}
