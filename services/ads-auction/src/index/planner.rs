//! The auction planner: which TopView reservations and which in-feed ad
//! groups go to the serving script for one request, best eCPM first.
//!
//! A pure function of the index's data ([`Inner`]), the configuration and
//! the request ([`Ask`]): no lock, no I/O, no clock of its own. Budgets,
//! pacing and frequency caps are enforced later, atomically, by the serving
//! script in Redis (see [`crate::serving`]), which also prices the winners by
//! generalized second price ([`crate::auction::gsp_price`]); the planner
//! prepares what that needs (eCPM, `w`, the paced target, the cap) and only
//! skips ad groups a recent refusal put in back-off.

use std::sync::atomic::Ordering;

use loop_proto::ads_auction::v1 as pb;
use uuid::Uuid;

use super::bitset::BitSet;
use super::state::{Inner, rates_for};
use super::{Ask, Candidate, Entry, Plan, TopViewCandidate, targeting};
use crate::Config;
use crate::auction;
use crate::predict::Rates;

/// Up to this many eligible ad groups are scored directly; above it (once
/// a walk order exists) they are walked by descending bound, which stops
/// early.
const SCAN_AT: usize = 4096;

/// Finds the eligible candidates of one request, best eCPM first.
///
/// `elig` is scratch space (its content on entry does not matter): the
/// caller reuses it across requests to save the allocation.
pub(super) fn plan(inner: &Inner, cfg: &Config, ask: &Ask<'_>, elig: &mut BitSet) -> Plan {
    let mut plan = Plan::default();
    elig.copy_from(&inner.active);
    targeting::narrow(elig, &inner.unrestricted, &inner.postings, ask.viewer);
    plan.eligible = elig.count();
    if ask.want_topview && inner.topview_day == Some(ask.now.date_naive()) {
        plan.topview = topview(inner, cfg, ask, elig, &mut plan.filtered);
    }
    if ask.infeed_slots == 0 {
        return plan;
    }
    let infeed = InFeed::new(inner, cfg, ask);
    let best = infeed.finalists(elig, &mut plan);
    plan.infeed = best.iter().filter_map(|s| infeed.candidate(s)).collect();
    plan
}

/// TopView: reservations of today whose ad group is eligible and in
/// schedule, each with the impressions it may have served by now.
fn topview(
    inner: &Inner,
    cfg: &Config,
    ask: &Ask<'_>,
    elig: &BitSet,
    filtered: &mut Vec<(Uuid, &'static str)>,
) -> Vec<TopViewCandidate> {
    let frac = crate::pacing::utc_day_fraction(ask.now);
    let burst = cfg.pacing.burst_fraction;
    let mut out = Vec::new();
    for tv in &inner.topview {
        let Some(slot) = inner.by_id.get(&tv.ad_group_id) else {
            continue;
        };
        let Some(e) = inner.entry(*slot) else {
            continue;
        };
        if !elig.get(*slot) {
            filtered.push((e.id, "targeting"));
            continue;
        }
        if !inner.window(e).active_now(ask.now) {
            filtered.push((e.id, "schedule"));
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
        out.push(TopViewCandidate {
            entry: tv.clone(),
            advertiser_id: e.advertiser_id,
            creative: creative.clone(),
            paced_cap: paced_cap.min(tv.impressions),
        });
    }
    out
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

/// The in-feed part of one plan: the best K distinct campaigns, scored
/// without allocating; full candidates are built for the K finalists only.
struct InFeed<'a> {
    inner: &'a Inner,
    cfg: &'a Config,
    ask: &'a Ask<'a>,
    /// How many finalists the serving script gets.
    k: usize,
    reserve: f64,
    now_ms: i64,
}

impl<'a> InFeed<'a> {
    fn new(inner: &'a Inner, cfg: &'a Config, ask: &'a Ask<'a>) -> Self {
        Self {
            inner,
            cfg,
            ask,
            k: cfg.auction.candidates_base + cfg.auction.candidates_per_slot * ask.infeed_slots,
            reserve: cfg.auction.reserve_ecpm_millicents as f64,
            now_ms: ask.now.timestamp_millis(),
        }
    }

    /// The finalists, best first: every eligible ad group scored when the
    /// set is small (or nothing is sorted yet), else a walk by bound.
    fn finalists(&self, elig: &BitSet, plan: &mut Plan) -> Vec<Scored> {
        let mut best: Vec<Scored> = Vec::with_capacity(self.k + 1);
        if plan.eligible <= SCAN_AT || self.inner.order.is_empty() {
            for slot in elig.ones() {
                self.consider(slot, plan, &mut best);
            }
        } else {
            self.walk(elig, plan, &mut best);
        }
        best
    }

    /// Walks the raised slots, then the order by descending bound until no
    /// later ad group can enter the best K or reach the reserve.
    fn walk(&self, elig: &BitSet, plan: &mut Plan, best: &mut Vec<Scored>) {
        for &slot in &self.inner.raised {
            if elig.get(slot) {
                self.consider(slot, plan, best);
            }
        }
        for &slot in &self.inner.order {
            let Some(e) = self.inner.entry(slot) else {
                continue;
            };
            if self.cannot_enter(best, e.ub) {
                break;
            }
            if e.ub < self.reserve {
                break;
            }
            if elig.get(slot) {
                self.consider(slot, plan, best);
            }
        }
    }

    /// Whether an ad group bounded by `ub` cannot beat the K-th best.
    fn cannot_enter(&self, best: &[Scored], ub: f64) -> bool {
        best.len() >= self.k && best.last().is_some_and(|b| b.ecpm > ub)
    }

    /// Scores one eligible ad group and keeps it if it makes the best K.
    fn consider(&self, slot: u32, plan: &mut Plan, best: &mut Vec<Scored>) {
        let Some(e) = self.inner.entry(slot) else {
            return;
        };
        if e.format == pb::AdFormat::Topview {
            return;
        }
        // Cannot beat the K-th best: skip before any per-viewer work.
        if self.cannot_enter(best, e.ub) {
            return;
        }
        if let Some(reason) = self.held_back(e) {
            if self.ask.debug {
                plan.filtered.push((e.id, reason));
            }
            return;
        }
        // Its campaign already has a finalist this ad group cannot beat.
        if let Some(pos) = best.iter().position(|b| b.campaign_id == e.campaign_id)
            && best[pos].ecpm >= e.ub
        {
            return;
        }
        let Some(scored) = self.best_creative(slot, e) else {
            return;
        };
        if scored.ecpm < self.reserve {
            if self.ask.debug {
                plan.filtered.push((e.id, "below_reserve"));
            }
            return;
        }
        insert_best(best, scored, self.k);
    }

    /// Why an ad group may not deliver now: in back-off after budget or
    /// pacing refused it lately, or outside its schedule.
    fn held_back(&self, e: &Entry) -> Option<&'static str> {
        if e.backoff_until_ms.load(Ordering::Relaxed) > self.now_ms {
            return Some("budget");
        }
        if !self.inner.window(e).active_now(self.ask.now) {
            return Some("schedule");
        }
        None
    }

    /// The best creative of an ad group for this viewer (ties: the lower
    /// creative id); `None` when every creative is excluded, booked by
    /// today's TopView or an expired Spark code.
    fn best_creative(&self, slot: u32, e: &Entry) -> Option<Scored> {
        let pcfg = &self.cfg.prediction;
        let mut chosen: Option<Scored> = None;
        for (ci, c) in e.creatives.iter().enumerate() {
            if self.ask.exclude.contains(&c.id)
                || self.inner.topview_videos.contains(&c.video_id)
                || c.spark_expires_at.is_some_and(|x| x <= self.ask.now)
            {
                continue;
            }
            let (rates, quality) =
                rates_for(pcfg, self.inner.stats.get(&c.id), self.ask.viewer.segment);
            let w = auction::weight(e.bid_type, e.objective, rates, quality, pcfg);
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
        chosen
    }

    /// The full candidate of a finalist, with pacing and the local day.
    fn candidate(&self, s: &Scored) -> Option<Candidate> {
        let cfg = self.cfg;
        let now = self.ask.now;
        let e = self.inner.entry(s.slot)?;
        let window = self.inner.window(e);
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
                window.paced_target(e.daily_budget_millicents, now, cfg.pacing.burst_fraction)
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
            local_day: window.local_day(now).format("%Y-%m-%d").to_string(),
            window,
        })
    }
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

#[cfg(test)]
mod tests;
