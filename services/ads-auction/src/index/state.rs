//! The index's data, without its lock: slots of ad groups, the targeting
//! sets over them, learned counts, TopView of the day and zone offsets.
//!
//! Everything here is plain, synchronous data manipulation so that the
//! planner and the tests can work on an [`Inner`] directly; [`super::Index`]
//! only adds the lock and the configuration.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicI64;

use chrono::NaiveDate;
use loop_proto::ads_auction::v1 as pb;
use uuid::Uuid;

use super::bitset::{BitSet, Postings};
use super::targeting::{DIMS, Key, targeting_keys};
use super::{Entry, Loaded, TopViewEntry};
use crate::auction;
use crate::pacing::{Window, hours_mask};
use crate::predict::{self, Counts, PredictionConfig, Rates, SEGMENTS};

/// Learned counts of one creative, in total and per segment.
#[derive(Debug, Clone, Default)]
pub(super) struct CreativeStats {
    pub(super) total: Counts,
    pub(super) segments: Vec<(u8, Counts)>,
}

#[derive(Default)]
pub(super) struct Inner {
    pub(super) entries: Vec<Option<Entry>>,
    pub(super) by_id: HashMap<Uuid, u32>,
    pub(super) free: Vec<u32>,
    pub(super) active: BitSet,
    pub(super) unrestricted: [BitSet; DIMS],
    pub(super) postings: HashMap<Key, Postings>,
    /// Slots by descending upper bound, as of the last sort.
    pub(super) order: Vec<u32>,
    /// Slots whose bound rose (or that arrived) since the sort.
    pub(super) raised: Vec<u32>,
    pub(super) stats: HashMap<Uuid, CreativeStats>,
    pub(super) topview_day: Option<NaiveDate>,
    pub(super) topview: Vec<TopViewEntry>,
    pub(super) topview_videos: HashSet<Uuid>,
    pub(super) tz_offsets: HashMap<String, i32>,
}

/// A creative's predicted rates for one segment, and its quality.
pub(super) fn rates_for(
    cfg: &PredictionConfig,
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

/// The highest eCPM an ad group can reach for any viewer: over its
/// creatives, the creative-level rate plus every segment with data (a
/// segment without data predicts the creative's).
fn upper_bound(cfg: &PredictionConfig, stats: &HashMap<Uuid, CreativeStats>, e: &Entry) -> f64 {
    let mut best = 0.0f64;
    for c in &e.creatives {
        let stats = stats.get(&c.id);
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

/// The index entry of a loaded ad group (its bound not computed yet).
fn entry_of(l: Loaded) -> Entry {
    let targeting = l.row.targeting();
    let bid_type =
        pb::BidType::try_from(i32::from(l.row.bid_type)).unwrap_or(pb::BidType::Unspecified);
    Entry {
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
    }
}

impl Inner {
    /// The ad group in `slot`, if any.
    pub(super) fn entry(&self, slot: u32) -> Option<&Entry> {
        self.entries.get(slot as usize).and_then(Option::as_ref)
    }

    /// The indexed ad group `id`, if any.
    pub(super) fn entry_by_id(&self, id: Uuid) -> Option<&Entry> {
        self.by_id.get(&id).and_then(|s| self.entry(*s))
    }

    /// When `e` delivers, with its zone's current offset (UTC when unknown).
    pub(super) fn window(&self, e: &Entry) -> Window {
        Window {
            starts_at: e.starts_at,
            ends_at: e.ends_at,
            active_hours: e.active_hours,
            utc_offset_secs: self.tz_offsets.get(&e.time_zone).copied().unwrap_or(0),
        }
    }

    /// Inserts or replaces one ad group; one without creatives only goes.
    pub(super) fn insert(&mut self, cfg: &PredictionConfig, l: Loaded) {
        self.remove(l.row.id);
        if l.creatives.is_empty() {
            return;
        }
        let mut entry = entry_of(l);
        entry.ub = upper_bound(cfg, &self.stats, &entry);
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.entries.push(None);
                u32::try_from(self.entries.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let mut restricted = [false; DIMS];
        for key in &entry.keys {
            restricted[key.dim()] = true;
            self.postings.entry(key.clone()).or_default().insert(slot);
        }
        for (dim, r) in restricted.iter().enumerate() {
            if !r {
                self.unrestricted[dim].set(slot);
            }
        }
        self.active.set(slot);
        self.by_id.insert(entry.id, slot);
        self.raised.push(slot);
        if let Some(s) = self.entries.get_mut(slot as usize) {
            *s = Some(entry);
        }
    }

    /// Takes an ad group out of every set; its slot is reused later.
    pub(super) fn remove(&mut self, id: Uuid) {
        let Some(slot) = self.by_id.remove(&id) else {
            return;
        };
        let Some(entry) = self.entries.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        for key in &entry.keys {
            if let Some(p) = self.postings.get_mut(key) {
                p.remove(slot);
                if p.list.is_empty() {
                    self.postings.remove(key);
                }
            }
        }
        for dim in &mut self.unrestricted {
            dim.clear(slot);
        }
        self.active.clear(slot);
        self.raised.retain(|s| *s != slot);
        self.free.push(slot);
    }

    /// Merges learned counts (absolute values) and raises bounds as needed.
    pub(super) fn apply_stats(
        &mut self,
        cfg: &PredictionConfig,
        rows: Vec<(Uuid, String, Counts)>,
    ) {
        let mut touched = HashSet::new();
        for (creative, segment, counts) in rows {
            let stats = self.stats.entry(creative).or_default();
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
        self.rebound(cfg, &touched);
    }

    /// Recomputes the bounds of the ad groups holding `creatives`; a bound
    /// that rose is tracked in `raised` so the walk stays exact.
    fn rebound(&mut self, cfg: &PredictionConfig, creatives: &HashSet<Uuid>) {
        let slots: Vec<u32> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                e.as_ref()
                    .filter(|e| e.creatives.iter().any(|c| creatives.contains(&c.id)))
                    .map(|_| i as u32)
            })
            .collect();
        for slot in slots {
            let ub = match self.entry(slot) {
                Some(e) => upper_bound(cfg, &self.stats, e),
                None => continue,
            };
            let raised = match self.entries.get_mut(slot as usize).and_then(Option::as_mut) {
                Some(e) => {
                    let raised = ub > e.ub;
                    e.ub = ub;
                    raised
                }
                None => false,
            };
            if raised {
                self.raised.push(slot);
            }
        }
    }

    /// Every slot with its bound, for a re-sort.
    pub(super) fn bounds(&self) -> Vec<(u32, f64)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i as u32, e.ub)))
            .collect()
    }

    /// Installs a walk order sorted from [`Self::bounds`] when `raised_seen`
    /// slots were raised; bounds raised since then stay in the list.
    pub(super) fn set_order(&mut self, order: Vec<u32>, raised_seen: usize) {
        self.order = order;
        let seen = raised_seen.min(self.raised.len());
        let keep = self.raised.split_off(seen);
        self.raised = keep;
    }

    pub(super) fn set_topview(&mut self, day: NaiveDate, entries: Vec<TopViewEntry>) {
        self.topview_videos = entries.iter().map(|e| e.video_id).collect();
        self.topview = entries;
        self.topview_day = Some(day);
    }

    /// The distinct zones of the indexed ad groups, plus UTC.
    pub(super) fn time_zones(&self) -> Vec<String> {
        let mut zones: Vec<String> = self
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
}
