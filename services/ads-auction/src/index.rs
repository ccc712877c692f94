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

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use loop_proto::ads_auction::v1 as pb;
use parking_lot::RwLock;
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Row};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::Config;
use crate::auction;
use crate::pacing::{Window, hours_mask};
use crate::predict::{self, Counts, Rates, SEGMENTS};

pub const NOTIFY_CHANNEL: &str = "ads_index";

// --- bitsets and postings ------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    fn copy_from(&mut self, other: &Self) {
        self.words.clear();
        self.words.extend_from_slice(&other.words);
    }

    fn grow(&mut self, bits: usize) {
        let n = bits.div_ceil(64);
        if self.words.len() < n {
            self.words.resize(n, 0);
        }
    }

    fn set(&mut self, i: u32) {
        let (w, b) = ((i / 64) as usize, i % 64);
        self.grow((i as usize) + 1);
        self.words[w] |= 1 << b;
    }

    fn clear(&mut self, i: u32) {
        let (w, b) = ((i / 64) as usize, i % 64);
        if let Some(word) = self.words.get_mut(w) {
            *word &= !(1 << b);
        }
    }

    pub fn get(&self, i: u32) -> bool {
        let (w, b) = ((i / 64) as usize, i % 64);
        self.words.get(w).is_some_and(|word| word & (1 << b) != 0)
    }

    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    fn ones(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut word = w;
            std::iter::from_fn(move || {
                if word == 0 {
                    return None;
                }
                let b = word.trailing_zeros();
                word &= word - 1;
                Some(wi as u32 * 64 + b)
            })
        })
    }
}

/// The ad groups that allow one value of one dimension. Small lists are
/// OR-ed bit by bit; large ones keep a bitset as well.
#[derive(Debug, Default)]
struct Postings {
    list: Vec<u32>,
    dense: Option<BitSet>,
}

const DENSE_AT: usize = 1024;

impl Postings {
    fn insert(&mut self, slot: u32) {
        self.list.push(slot);
        if let Some(d) = self.dense.as_mut() {
            d.set(slot);
        } else if self.list.len() >= DENSE_AT {
            let mut d = BitSet::default();
            for s in &self.list {
                d.set(*s);
            }
            self.dense = Some(d);
        }
    }

    fn remove(&mut self, slot: u32) {
        if let Some(pos) = self.list.iter().position(|s| *s == slot) {
            self.list.swap_remove(pos);
        }
        if let Some(d) = self.dense.as_mut() {
            d.clear(slot);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Age(i32),
    Gender(i32),
    Country(String),
    Language(String),
    Os(i32),
    Interest(String),
    /// kind, value, lookback days.
    Behavior(i32, String, u32),
}

const DIMS: usize = 7;

impl Key {
    fn dim(&self) -> usize {
        match self {
            Self::Age(_) => 0,
            Self::Gender(_) => 1,
            Self::Country(_) => 2,
            Self::Language(_) => 3,
            Self::Os(_) => 4,
            Self::Interest(_) => 5,
            Self::Behavior(..) => 6,
        }
    }
}

fn targeting_keys(t: &pb::Targeting) -> Vec<Key> {
    let mut keys = Vec::new();
    keys.extend(t.age_bands.iter().map(|v| Key::Age(*v)));
    keys.extend(t.genders.iter().map(|v| Key::Gender(*v)));
    keys.extend(t.countries.iter().map(|v| Key::Country(v.clone())));
    keys.extend(t.languages.iter().map(|v| Key::Language(v.clone())));
    keys.extend(t.device_os.iter().map(|v| Key::Os(*v)));
    keys.extend(
        t.interest_categories
            .iter()
            .map(|v| Key::Interest(v.clone())),
    );
    keys.extend(t.behaviors.iter().map(|b| {
        Key::Behavior(
            b.kind,
            b.value.clone(),
            if b.lookback_days == 0 {
                7
            } else {
                b.lookback_days
            },
        )
    }));
    keys
}

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

/// Learned counts of one creative, in total and per segment.
#[derive(Debug, Clone, Default)]
struct CreativeStats {
    total: Counts,
    segments: Vec<(u8, Counts)>,
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

#[derive(Default)]
struct Inner {
    entries: Vec<Option<Entry>>,
    by_id: HashMap<Uuid, u32>,
    free: Vec<u32>,
    active: BitSet,
    unrestricted: [BitSet; DIMS],
    postings: HashMap<Key, Postings>,
    /// Slots by descending upper bound, as of the last sort.
    order: Vec<u32>,
    /// Slots whose bound rose (or that arrived) since the sort.
    raised: Vec<u32>,
    stats: HashMap<Uuid, CreativeStats>,
    topview_day: Option<NaiveDate>,
    topview: Vec<TopViewEntry>,
    topview_videos: HashSet<Uuid>,
    tz_offsets: HashMap<String, i32>,
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

fn rates_for(
    cfg: &predict::PredictionConfig,
    stats: Option<&CreativeStats>,
    segment: usize,
) -> (Rates, f64) {
    let total = stats.map(|s| s.total).unwrap_or_default();
    let creative = predict::creative_rates(cfg, total);
    let quality = predict::quality(cfg, creative);
    let seg = stats
        .and_then(|s| {
            s.segments
                .iter()
                .find(|(i, _)| usize::from(*i) == segment)
                .map(|(_, c)| *c)
        })
        .unwrap_or_default();
    (predict::segment_rates(cfg, creative, seg), quality)
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

    fn upper_bound(&self, inner: &Inner, e: &Entry) -> f64 {
        let cfg = &self.config.prediction;
        let mut best = 0.0f64;
        for c in &e.creatives {
            let stats = inner.stats.get(&c.id);
            // The creative-level rate plus every segment with data bound the
            // segment rates (a segment without data predicts the creative's).
            let mut segments: Vec<usize> = vec![SEGMENTS];
            if let Some(s) = stats {
                segments.extend(s.segments.iter().map(|(i, _)| usize::from(*i)));
            }
            for seg in segments {
                let (rates, quality) = rates_for(cfg, stats, seg);
                let w = auction::weight(e.bid_type, e.objective, rates, quality, cfg);
                best = best.max(auction::ecpm_millicents(e.bid_event, w));
            }
        }
        best
    }

    /// Inserts or replaces ad groups; removes the ids in `gone`.
    pub fn apply(&self, loaded: Vec<Loaded>, gone: &[Uuid]) {
        let mut inner = self.inner.write();
        for id in gone {
            remove(&mut inner, *id);
        }
        for l in loaded {
            remove(&mut inner, l.row.id);
            if l.creatives.is_empty() {
                continue;
            }
            let targeting = l.row.targeting();
            let bid_type = pb::BidType::try_from(i32::from(l.row.bid_type))
                .unwrap_or(pb::BidType::Unspecified);
            let mut entry = Entry {
                id: l.row.id,
                campaign_id: l.row.campaign_id,
                advertiser_id: l.row.advertiser_id,
                objective: pb::CampaignObjective::try_from(i32::from(l.objective))
                    .unwrap_or(pb::CampaignObjective::Unspecified),
                format: l.row.format(),
                bid_type,
                bid_cents: l.row.bid_cents,
                bid_event: auction::bid_event_millicents(bid_type, l.row.bid_cents),
                daily_budget_millicents: crate::model::millicents(l.row.daily_budget_cents),
                frequency_cap: u32::try_from(l.row.frequency_cap_per_day).unwrap_or(0),
                starts_at: l.row.starts_at,
                ends_at: l.row.ends_at,
                active_hours: hours_mask(&l.row.active_hours),
                time_zone: l.row.time_zone.clone(),
                campaign_available_millicents: l.campaign_available_millicents,
                campaign_spent_millicents: l.campaign_spent_millicents,
                creatives: l.creatives,
                keys: targeting_keys(&targeting),
                ub: 0.0,
                backoff_until_ms: AtomicI64::new(0),
            };
            entry.ub = self.upper_bound(&inner, &entry);
            let slot = match inner.free.pop() {
                Some(s) => s,
                None => {
                    inner.entries.push(None);
                    u32::try_from(inner.entries.len() - 1).unwrap_or(u32::MAX)
                }
            };
            let mut restricted = [false; DIMS];
            for key in &entry.keys {
                restricted[key.dim()] = true;
                inner.postings.entry(key.clone()).or_default().insert(slot);
            }
            for (dim, r) in restricted.iter().enumerate() {
                if !r {
                    inner.unrestricted[dim].set(slot);
                }
            }
            inner.active.set(slot);
            inner.by_id.insert(entry.id, slot);
            inner.raised.push(slot);
            if let Some(s) = inner.entries.get_mut(slot as usize) {
                *s = Some(entry);
            }
        }
    }

    /// Merges learned counts (absolute values) and raises bounds as needed.
    pub fn apply_stats(&self, rows: Vec<(Uuid, String, Counts)>) {
        if rows.is_empty() {
            return;
        }
        let mut inner = self.inner.write();
        let mut touched = HashSet::new();
        for (creative, segment, counts) in rows {
            let stats = inner.stats.entry(creative).or_default();
            if segment.is_empty() {
                stats.total = counts;
            } else if let Some(seg) = predict::parse_segment(&segment) {
                let seg = u8::try_from(seg).unwrap_or(0);
                match stats.segments.iter_mut().find(|(i, _)| *i == seg) {
                    Some((_, c)) => *c = counts,
                    None => stats.segments.push((seg, counts)),
                }
            }
            touched.insert(creative);
        }
        // Which ad groups hold the touched creatives.
        let slots: Vec<u32> = inner
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                e.as_ref()
                    .filter(|e| e.creatives.iter().any(|c| touched.contains(&c.id)))
                    .map(|_| i as u32)
            })
            .collect();
        for slot in slots {
            let ub = match inner.entries.get(slot as usize).and_then(Option::as_ref) {
                Some(e) => self.upper_bound(&inner, e),
                None => continue,
            };
            let raised = match inner
                .entries
                .get_mut(slot as usize)
                .and_then(Option::as_mut)
            {
                Some(e) => {
                    let raised = ub > e.ub;
                    e.ub = ub;
                    raised
                }
                None => false,
            };
            if raised {
                inner.raised.push(slot);
            }
        }
    }

    /// Rebuilds the walk order (outside the write lock for the sort).
    pub fn resort(&self) {
        let (mut pairs, raised_seen) = {
            let inner = self.inner.read();
            if inner.raised.is_empty() {
                return;
            }
            let pairs: Vec<(u32, f64)> = inner
                .entries
                .iter()
                .enumerate()
                .filter_map(|(i, e)| e.as_ref().map(|e| (i as u32, e.ub)))
                .collect();
            (pairs, inner.raised.len())
        };
        pairs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut inner = self.inner.write();
        inner.order = pairs.into_iter().map(|(s, _)| s).collect();
        // Bounds raised while sorting stay in the list.
        let seen = raised_seen.min(inner.raised.len());
        let keep = inner.raised.split_off(seen);
        inner.raised = keep;
    }

    pub fn set_topview(&self, day: NaiveDate, entries: Vec<TopViewEntry>) {
        let mut inner = self.inner.write();
        inner.topview_videos = entries.iter().map(|e| e.video_id).collect();
        inner.topview = entries;
        inner.topview_day = Some(day);
    }

    pub fn set_tz_offsets(&self, offsets: HashMap<String, i32>) {
        self.inner.write().tz_offsets = offsets;
    }

    pub fn time_zones(&self) -> Vec<String> {
        let inner = self.inner.read();
        let mut zones: Vec<String> = inner
            .entries
            .iter()
            .flatten()
            .map(|e| e.time_zone.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        zones.push("UTC".into());
        zones
    }

    /// Remembers that budget or pacing refused an ad group.
    pub fn back_off(&self, ad_group: Uuid, until_ms: i64) {
        let inner = self.inner.read();
        if let Some(e) = inner
            .by_id
            .get(&ad_group)
            .and_then(|s| inner.entries.get(*s as usize))
            .and_then(Option::as_ref)
        {
            e.backoff_until_ms.store(until_ms, Ordering::Relaxed);
        }
    }

    /// The window and delivery facts of one indexed ad group.
    pub fn window_of(&self, ad_group: Uuid) -> Option<(Window, i64)> {
        let inner = self.inner.read();
        let e = inner
            .by_id
            .get(&ad_group)
            .and_then(|s| inner.entries.get(*s as usize))
            .and_then(Option::as_ref)?;
        Some((window(&inner, e), e.daily_budget_millicents))
    }

    pub fn contains(&self, ad_group: Uuid) -> bool {
        self.inner.read().by_id.contains_key(&ad_group)
    }

    /// Predicted CTR of the best creative of an ad group for an unknown viewer.
    pub fn predicted_ctr(&self, ad_group: Uuid) -> Option<f64> {
        let inner = self.inner.read();
        let e = inner
            .by_id
            .get(&ad_group)
            .and_then(|s| inner.entries.get(*s as usize))
            .and_then(Option::as_ref)?;
        e.creatives
            .iter()
            .map(|c| {
                rates_for(&self.config.prediction, inner.stats.get(&c.id), 0)
                    .0
                    .ctr
            })
            .reduce(f64::max)
    }

    /// Finds the eligible candidates of one request, best eCPM first.
    pub fn plan(&self, ask: &Ask<'_>) -> Plan {
        // The bitsets are reused per thread: a 100k-slot set is 12.5 KB, and
        // allocating eight per auction showed up as malloc time.
        thread_local! {
            static SCRATCH: std::cell::RefCell<BitSet> = std::cell::RefCell::new(BitSet::default());
        }
        let mut elig = SCRATCH.with(std::cell::RefCell::take);
        let plan = self.plan_with(ask, &mut elig);
        SCRATCH.with(|s| *s.borrow_mut() = elig);
        plan
    }

    fn plan_with(&self, ask: &Ask<'_>, elig: &mut BitSet) -> Plan {
        let inner = self.inner.read();
        let cfg = &self.config;
        let v = ask.viewer;
        let now_ms = ask.now.timestamp_millis();
        let reserve = cfg.auction.reserve_ecpm_millicents as f64;
        let mut plan = Plan::default();

        // Eligible set: active AND over dimensions of (unrestricted OR user's values).
        elig.copy_from(&inner.active);
        let mut user_keys: [Vec<Key>; DIMS] = Default::default();
        if v.age_band != 0 {
            user_keys[0].push(Key::Age(v.age_band));
        }
        if v.gender != 0 {
            user_keys[1].push(Key::Gender(v.gender));
        }
        if !v.country.is_empty() {
            user_keys[2].push(Key::Country(v.country.clone()));
        }
        if !v.language.is_empty() {
            user_keys[3].push(Key::Language(v.language.clone()));
        }
        if v.device_os != 0 {
            user_keys[4].push(Key::Os(v.device_os));
        }
        user_keys[5].extend(v.interests.iter().map(|i| Key::Interest(i.clone())));
        for (kind, value, age_days) in &v.behaviors {
            if *age_days > 7.0 || *age_days < 0.0 {
                continue;
            }
            let from = (age_days.ceil() as u32).max(1);
            for lookback in from..=7 {
                user_keys[6].push(Key::Behavior(*kind, value.clone(), lookback));
            }
        }
        // Per dimension: elig &= unrestricted | dense lists, in one pass, then
        // the sparse lists' slots that were eligible before are put back.
        let mut dense: Vec<&BitSet> = Vec::new();
        let mut keep: Vec<u32> = Vec::new();
        for (dim, keys) in user_keys.iter().enumerate() {
            dense.clear();
            keep.clear();
            for k in keys {
                if let Some(p) = inner.postings.get(k) {
                    match &p.dense {
                        Some(d) => dense.push(d),
                        None => keep.extend(p.list.iter().filter(|s| elig.get(**s))),
                    }
                }
            }
            let unrestricted = &inner.unrestricted[dim].words;
            for (i, word) in elig.words.iter_mut().enumerate() {
                let mut allowed = unrestricted.get(i).copied().unwrap_or(0);
                for d in &dense {
                    allowed |= d.words.get(i).copied().unwrap_or(0);
                }
                *word &= allowed;
            }
            for s in &keep {
                elig.set(*s);
            }
        }
        plan.eligible = elig.count();

        // TopView: reservations of today whose ad group is eligible.
        if ask.want_topview && inner.topview_day == Some(ask.now.date_naive()) {
            let frac = crate::pacing::utc_day_fraction(ask.now);
            let burst = cfg.pacing.burst_fraction;
            for tv in &inner.topview {
                let Some(slot) = inner.by_id.get(&tv.ad_group_id) else {
                    continue;
                };
                let Some(e) = inner.entries.get(*slot as usize).and_then(Option::as_ref) else {
                    continue;
                };
                if !elig.get(*slot) {
                    plan.filtered.push((e.id, "targeting"));
                    continue;
                }
                if !window(&inner, e).active_now(ask.now) {
                    plan.filtered.push((e.id, "schedule"));
                    continue;
                }
                let Some(creative) = e.creatives.iter().find(|c| c.id == tv.creative_id) else {
                    continue;
                };
                if ask.exclude.contains(&creative.id) {
                    continue;
                }
                let paced_cap = if cfg.pacing.enabled {
                    ((frac + burst).min(1.0) * tv.impressions as f64).ceil() as i64
                } else {
                    tv.impressions
                };
                plan.topview.push(TopViewCandidate {
                    entry: tv.clone(),
                    advertiser_id: e.advertiser_id,
                    creative: creative.clone(),
                    paced_cap: paced_cap.min(tv.impressions),
                });
            }
        }
        if ask.infeed_slots == 0 {
            return plan;
        }

        // In-feed: the best K distinct campaigns, scored without allocating;
        // full candidates are built for the K finalists only.
        let k = cfg.auction.candidates_base + cfg.auction.candidates_per_slot * ask.infeed_slots;
        let mut best: Vec<Scored> = Vec::with_capacity(k + 1);
        let consider = |slot: u32, plan: &mut Plan, best: &mut Vec<Scored>| {
            let Some(e) = inner.entries.get(slot as usize).and_then(Option::as_ref) else {
                return;
            };
            if e.format == pb::AdFormat::Topview {
                return;
            }
            // Cannot beat the K-th best: skip before any per-viewer work.
            if best.len() >= k && best.last().is_some_and(|b| b.ecpm > e.ub) {
                return;
            }
            if e.backoff_until_ms.load(Ordering::Relaxed) > now_ms {
                if ask.debug {
                    plan.filtered.push((e.id, "budget"));
                }
                return;
            }
            if !window(&inner, e).active_now(ask.now) {
                if ask.debug {
                    plan.filtered.push((e.id, "schedule"));
                }
                return;
            }
            if let Some(pos) = best.iter().position(|b| b.campaign_id == e.campaign_id)
                && best[pos].ecpm >= e.ub
            {
                return;
            }
            // The best creative for this viewer.
            let mut chosen: Option<Scored> = None;
            for (ci, c) in e.creatives.iter().enumerate() {
                if ask.exclude.contains(&c.id)
                    || inner.topview_videos.contains(&c.video_id)
                    || c.spark_expires_at.is_some_and(|x| x <= ask.now)
                {
                    continue;
                }
                let (rates, quality) =
                    rates_for(&cfg.prediction, inner.stats.get(&c.id), v.segment);
                let w = auction::weight(e.bid_type, e.objective, rates, quality, &cfg.prediction);
                let ecpm = auction::ecpm_millicents(e.bid_event, w);
                let better = chosen.as_ref().is_none_or(|b| {
                    ecpm > b.ecpm || (ecpm == b.ecpm && c.id < e.creatives[b.creative].id)
                });
                if better {
                    chosen = Some(Scored {
                        slot,
                        creative: ci,
                        ad_group_id: e.id,
                        campaign_id: e.campaign_id,
                        ecpm,
                        w,
                        rates,
                        quality,
                    });
                }
            }
            let Some(scored) = chosen else {
                return;
            };
            if scored.ecpm < reserve {
                if ask.debug {
                    plan.filtered.push((e.id, "below_reserve"));
                }
                return;
            }
            insert_best(best, scored, k);
        };
        if plan.eligible <= 4096 || inner.order.is_empty() {
            for slot in elig.ones() {
                consider(slot, &mut plan, &mut best);
            }
        } else {
            for &slot in &inner.raised {
                if elig.get(slot) {
                    consider(slot, &mut plan, &mut best);
                }
            }
            for &slot in &inner.order {
                let Some(e) = inner.entries.get(slot as usize).and_then(Option::as_ref) else {
                    continue;
                };
                if best.len() >= k && best.last().is_some_and(|b| b.ecpm > e.ub) {
                    break;
                }
                if e.ub < reserve {
                    break;
                }
                if elig.get(slot) {
                    consider(slot, &mut plan, &mut best);
                }
            }
        }
        // Full candidates, with pacing and the local day, for the finalists only.
        plan.infeed = best
            .iter()
            .filter_map(|s| {
                let e = inner
                    .entries
                    .get(s.slot as usize)
                    .and_then(Option::as_ref)?;
                let window = window(&inner, e);
                Some(Candidate {
                    ad_group_id: e.id,
                    campaign_id: e.campaign_id,
                    advertiser_id: e.advertiser_id,
                    format: e.format,
                    bid_type: e.bid_type,
                    bid_cents: e.bid_cents,
                    bid_event: e.bid_event,
                    creative: e.creatives.get(s.creative)?.clone(),
                    rate: auction::action_rate(e.bid_type, e.objective, s.rates),
                    quality: s.quality,
                    w: s.w,
                    ecpm: s.ecpm,
                    billable_rate: auction::billable_rate(e.bid_type, s.rates),
                    daily_budget_millicents: e.daily_budget_millicents,
                    paced_target_millicents: if cfg.pacing.enabled {
                        window.paced_target(
                            e.daily_budget_millicents,
                            ask.now,
                            cfg.pacing.burst_fraction,
                        )
                    } else {
                        e.daily_budget_millicents
                    },
                    campaign_available_millicents: e.campaign_available_millicents,
                    campaign_spent_millicents: e.campaign_spent_millicents,
                    frequency_cap: if e.frequency_cap == 0 {
                        cfg.auction.default_frequency_cap
                    } else {
                        e.frequency_cap
                    },
                    local_day: window.local_day(ask.now).format("%Y-%m-%d").to_string(),
                    window,
                })
            })
            .collect();
        plan
    }
}

/// One ad group scored for the viewer (no allocation).
#[derive(Debug, Clone, Copy)]
struct Scored {
    slot: u32,
    creative: usize,
    ad_group_id: Uuid,
    campaign_id: Uuid,
    ecpm: f64,
    w: f64,
    rates: Rates,
    quality: f64,
}

/// Keeps `best` sorted (eCPM desc, ad group id asc), one per campaign, at most `k`.
fn insert_best(best: &mut Vec<Scored>, cand: Scored, k: usize) {
    let outranks = |a: &Scored, b: &Scored| {
        a.ecpm > b.ecpm || (a.ecpm == b.ecpm && a.ad_group_id < b.ad_group_id)
    };
    if let Some(pos) = best.iter().position(|b| b.campaign_id == cand.campaign_id) {
        if !outranks(&cand, &best[pos]) {
            return;
        }
        best.remove(pos);
    }
    let at = best
        .iter()
        .position(|b| outranks(&cand, b))
        .unwrap_or(best.len());
    if at >= k {
        return;
    }
    best.insert(at, cand);
    best.truncate(k);
}

fn window(inner: &Inner, e: &Entry) -> Window {
    Window {
        starts_at: e.starts_at,
        ends_at: e.ends_at,
        active_hours: e.active_hours,
        utc_offset_secs: inner.tz_offsets.get(&e.time_zone).copied().unwrap_or(0),
    }
}

fn remove(inner: &mut Inner, id: Uuid) {
    let Some(slot) = inner.by_id.remove(&id) else {
        return;
    };
    let Some(entry) = inner.entries.get_mut(slot as usize).and_then(Option::take) else {
        return;
    };
    for key in &entry.keys {
        if let Some(p) = inner.postings.get_mut(key) {
            p.remove(slot);
            if p.list.is_empty() {
                inner.postings.remove(key);
            }
        }
    }
    for dim in &mut inner.unrestricted {
        dim.clear(slot);
    }
    inner.active.clear(slot);
    inner.raised.retain(|s| *s != slot);
    inner.free.push(slot);
}

// --- loading from Postgres -------------------------------------------------------------

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
    let overlap = chrono::Duration::seconds(i64::try_from(cfg.overlap_secs).unwrap_or(5));
    let mut since = Utc::now() - overlap;
    let mut last_full = tokio::time::Instant::now();
    let mut last_tz = tokio::time::Instant::now();
    let interval = Duration::from_millis(cfg.refresh_interval_ms);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            n = listener.try_recv() => match n {
                Ok(Some(n)) => {
                    let ids: Vec<Uuid> = n.payload().split(',').filter_map(|s| Uuid::parse_str(s).ok()).collect();
                    if let Err(err) = reload(&pool, &index, &ids).await {
                        tracing::warn!(error = ?err, "index reload failed");
                    }
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
        let result: anyhow::Result<()> = async {
            let poll_started = Utc::now();
            if last_full.elapsed() >= Duration::from_secs(cfg.full_rebuild_secs) {
                last_full = tokio::time::Instant::now();
                load_full(&pool, &index).await?;
            } else {
                let changed: Vec<Uuid> =
                    sqlx::query_scalar("SELECT id FROM ad_groups WHERE updated_at > $1")
                        .bind(since)
                        .fetch_all(&pool)
                        .await?;
                if !changed.is_empty() {
                    reload(&pool, &index, &changed).await?;
                } else {
                    reload_topview(&pool, &index).await?;
                }
                index.apply_stats(load_stats(&pool, Some(since)).await?);
            }
            if last_tz.elapsed() >= Duration::from_secs(60) {
                last_tz = tokio::time::Instant::now();
                reload_tz(&pool, &index).await?;
            }
            index.resort();
            since = poll_started - overlap;
            Ok(())
        }
        .await;
        if let Err(err) = result {
            tracing::warn!(error = ?err, "index refresh failed");
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn loaded(i: u128, bid: i64, countries: &[&str]) -> Loaded {
        let now = Utc::now();
        Loaded {
            row: crate::model::AdGroupRow {
                id: Uuid::from_u128(i + 1),
                campaign_id: Uuid::from_u128(1_000_000 + i),
                advertiser_id: Uuid::from_u128(7),
                name: format!("g{i}"),
                format: pb::AdFormat::InFeed as i16,
                daily_budget_cents: 2000,
                bid_type: pb::BidType::Cpm as i16,
                bid_cents: bid,
                starts_at: now - chrono::Duration::days(1),
                ends_at: None,
                active_hours: Vec::new(),
                time_zone: "UTC".into(),
                targeting: pb::Targeting {
                    countries: countries.iter().map(|c| (*c).to_string()).collect(),
                    ..Default::default()
                }
                .encode_to_vec(),
                frequency_cap_per_day: 0,
                status: 1,
                created_at: now,
                updated_at: now,
            },
            objective: pb::CampaignObjective::Reach as i16,
            campaign_available_millicents: 5_000_000,
            campaign_spent_millicents: 0,
            creatives: vec![CreativeEntry {
                id: Uuid::from_u128(10_000_000 + i),
                video_id: Uuid::from_u128(20_000_000 + i),
                format: pb::AdFormat::InFeed as i32,
                display_name: "x".into(),
                call_to_action: 1,
                landing_url: "https://x.test".into(),
                spark_expires_at: None,
            }],
        }
    }

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
