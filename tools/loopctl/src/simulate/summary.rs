//! The report's arithmetic: whether the feed learned each viewer's taste,
//! whether billing matches delivery, and whether the cheating was caught;
//! then the whole report as JSON.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};

use super::client::EndpointStats;
use super::report;
use super::resources;
use super::settle::Settlement;
use super::state::{Sim, Video};
use super::traffic::Traffic;
use super::world::FAMILIES;

/// Honest ad clicks a viewer can have counted per campaign and day
/// (ads-auction's default frequency cap).
const CLICKS_COUNTED_PER_VIEWER: u64 = 3;

/// The ids of this run's own campaigns.
pub fn own_campaigns(campaigns: &[(usize, String, i64)]) -> HashSet<&str> {
    campaigns.iter().map(|(_, c, _)| c.as_str()).collect()
}

/// Distinct impressions reported: (of `own` campaigns, of the others).
pub fn split_impressions(
    impressions: &HashMap<String, HashSet<String>>,
    own: &HashSet<&str>,
) -> (u64, u64) {
    impressions
        .iter()
        .fold((0u64, 0u64), |(mine, other), (campaign, tokens)| {
            if own.contains(campaign.as_str()) {
                (mine + tokens.len() as u64, other)
            } else {
                (mine, other + tokens.len() as u64)
            }
        })
}

/// The sum of the per-campaign counts of `own` campaigns.
pub fn own_count(per_campaign: &HashMap<String, u64>, own: &HashSet<&str>) -> u64 {
    per_campaign
        .iter()
        .filter(|(c, _)| own.contains(c.as_str()))
        .map(|(_, n)| n)
        .sum()
}

/// Honest clicks the reports must count: `own` campaigns', at most the
/// per-viewer daily cap of each.
pub fn honest_clicks(clicks: &HashMap<(usize, String), u64>, own: &HashSet<&str>) -> u64 {
    clicks
        .iter()
        .filter(|((_, c), _)| own.contains(c.as_str()))
        .map(|(_, n)| (*n).min(CLICKS_COUNTED_PER_VIEWER))
        .sum()
}

/// The share of organic items from the viewer's taste over `pages` of
/// (items of their taste, organic items); 0 when there were none.
pub fn taste_share(pages: &[(u32, u32)]) -> f64 {
    let (t, o) = pages
        .iter()
        .fold((0u32, 0u32), |acc, p| (acc.0 + p.0, acc.1 + p.1));
    if o == 0 {
        0.0
    } else {
        f64::from(t) / f64::from(o)
    }
}

/// Whether the feed learned: the mean taste share of viewers' first and
/// last feeds, against what a taste-blind popularity feed would show them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Learning {
    /// Viewers with at least two feeds (the others are not measured).
    pub measured: usize,
    pub first_share: f64,
    pub last_share: f64,
    pub baseline_share: f64,
}

/// `feeds` per viewer; `popularity` share per family; `taste_of` a viewer.
/// Compares each viewer's first and last (up to ten, at most half their)
/// feeds.
pub fn learning(
    feeds: &HashMap<usize, Vec<(u32, u32)>>,
    popularity: &[f64],
    taste_of: impl Fn(usize) -> usize,
) -> Learning {
    let (mut first, mut last, mut baseline, mut measured) = (0.0, 0.0, 0.0, 0usize);
    for (v, feeds) in feeds {
        if feeds.len() < 2 {
            continue;
        }
        let k = (feeds.len() / 2).min(10);
        first += taste_share(&feeds[..k]);
        last += taste_share(&feeds[feeds.len() - k..]);
        baseline += popularity[taste_of(*v)];
        measured += 1;
    }
    let m = measured.max(1) as f64;
    Learning {
        measured,
        first_share: first / m,
        last_share: last / m,
        baseline_share: baseline / m,
    }
}

/// Responses with a 5xx status, over every endpoint.
pub fn server_errors(endpoints: &BTreeMap<String, EndpointStats>) -> u64 {
    endpoints
        .values()
        .flat_map(|s| s.statuses.iter())
        .filter(|(c, _)| **c >= 500)
        .map(|(_, n)| n)
        .sum()
}

pub fn videos_per_creator(videos: &[Video], creators: usize) -> Vec<usize> {
    let mut n = vec![0; creators];
    for v in videos {
        n[v.creator] += 1;
    }
    n
}

/// The report (JSON) of a finished run.
pub fn build(sim: &Sim, traffic: &Traffic, settled: &Settlement) -> Value {
    let args = &sim.args;
    let seconds = traffic.seconds;
    let endpoints = sim.api.recorder.endpoints.lock().clone();
    let tally = sim.tally.lock();
    let (requests, errors) = sim.api.recorder.totals();
    let server_errors = server_errors(&endpoints);
    let videos_per_creator = videos_per_creator(&sim.videos.read(), sim.world.creators.len());
    let popularity = sim.world.popularity_share(&videos_per_creator);
    let learned = learning(&tally.feeds, &popularity, |v| sim.world.viewers[v].taste);
    let fresh = report::latency(&tally.freshness_ms);
    let budget: i64 = sim.campaigns.iter().map(|(_, _, b)| b).sum();
    let honest_clicks = honest_clicks(&tally.honest_clicks, &own_campaigns(&sim.campaigns));
    let abusers = (0..sim.viewers.len()).filter(|v| sim.is_abuser(*v)).count();
    let (reconcile, b) = (&settled.reconcile, &settled.billing);
    let (reported, billed) = (settled.reported, b.impressions);
    json!({
        "config": {"seed": args.seed, "viewers": args.viewers, "creators": args.creators, "advertisers": args.advertisers,
                   "rate": args.rate, "concurrency": args.concurrency, "page_size": args.page_size, "duration_seconds": args.duration.as_secs_f64()},
        "started_at": chrono::Utc::now().to_rfc3339(),
        "duration_seconds": seconds,
        "sessions": traffic.sessions,
        "totals": {"requests": requests, "per_second": requests as f64 / seconds.max(1e-9), "errors": errors, "server_errors": server_errors},
        "endpoints": report::endpoints_json(&endpoints, seconds),
        "learning": {"viewers_measured": learned.measured, "first_share": learned.first_share, "last_share": learned.last_share,
                     "popularity_baseline_share": learned.baseline_share, "families": FAMILIES},
        "freshness": {"samples": fresh.count, "p50_ms": fresh.p50, "p99_ms": fresh.p99, "timeouts": tally.freshness_timeouts},
        "money": {"purchases": tally.purchases, "gifts": tally.gifts, "gifts_per_second": tally.gifts as f64 / seconds.max(1e-9),
                  "coins_gifted": tally.coins_gifted, "payouts_requested": tally.payouts_requested,
                  "ledger_consistent": reconcile.body["consistent"] == true, "reconcile_status": reconcile.status},
        "ads": {"offered_positions": tally.offered_ad_positions, "filled": tally.filled_ad_positions,
                "fill_rate": tally.filled_ad_positions as f64 / (tally.offered_ad_positions.max(1) as f64),
                "spend_cents": b.spend_cents, "budget_cents": budget, "impressions_reported": reported, "impressions_billed": billed,
                "impressions_of_other_campaigns": settled.other_impressions,
                "billed_equals_delivered": billed == reported},
        "integrity": {"abusers": abusers, "ad_clicks_flooded": settled.flooded, "invalid_ad_events_reported": b.invalid_events,
                      "ad_clicks_counted": b.clicks, "honest_ad_clicks": honest_clicks,
                      "flooded_clicks_billed_or_counted": b.clicks.saturating_sub(honest_clicks),
                      "engagement_credits": tally.abuse.credits.clone(),
                      "foreign_serve_tokens_sent": tally.abuse.foreign_tokens_sent,
                      "foreign_serve_tokens_refused": tally.abuse.foreign_tokens_refused},
        "resources": resources::json(&traffic.resources_before, &traffic.resources_after),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> HashSet<&'static str> {
        HashSet::from(["c1", "c2"])
    }

    #[test]
    fn impressions_split_into_own_and_other_campaigns() {
        let impressions = HashMap::from([
            (
                "c1".to_owned(),
                HashSet::from(["a".to_owned(), "b".to_owned()]),
            ),
            ("c2".to_owned(), HashSet::from(["c".to_owned()])),
            ("demo".to_owned(), HashSet::from(["d".to_owned()])),
        ]);
        assert_eq!(split_impressions(&impressions, &own()), (3, 1));
        assert_eq!(split_impressions(&HashMap::new(), &own()), (0, 0));
    }

    #[test]
    fn only_own_campaigns_floods_count() {
        let flooded = HashMap::from([("c1".to_owned(), 10), ("demo".to_owned(), 5)]);
        assert_eq!(own_count(&flooded, &own()), 10);
    }

    #[test]
    fn honest_clicks_are_capped_per_viewer_and_campaign() {
        let clicks = HashMap::from([
            ((1, "c1".to_owned()), 5),
            ((2, "c1".to_owned()), 1),
            ((1, "c2".to_owned()), 3),
            ((1, "demo".to_owned()), 2),
        ]);
        assert_eq!(honest_clicks(&clicks, &own()), 3 + 1 + 3);
    }

    #[test]
    fn the_taste_share_is_over_organic_items() {
        assert_eq!(taste_share(&[(1, 4), (3, 4)]), 0.5);
        assert_eq!(taste_share(&[(0, 0)]), 0.0);
        assert_eq!(taste_share(&[]), 0.0);
    }

    #[test]
    fn learning_compares_first_and_last_feeds_of_viewers_with_two_or_more() {
        let feeds = HashMap::from([
            // Four feeds: the first two against the last two.
            (0, vec![(0, 8), (2, 8), (6, 8), (8, 8)]),
            // One feed: not measured.
            (1, vec![(8, 8)]),
        ]);
        let popularity = [0.1, 0.9];
        let l = learning(&feeds, &popularity, |v| v);
        assert_eq!(l.measured, 1);
        assert_eq!(l.first_share, 2.0 / 16.0);
        assert_eq!(l.last_share, 14.0 / 16.0);
        assert_eq!(l.baseline_share, 0.1);
    }

    #[test]
    fn learning_with_no_viewer_measured_is_all_zero() {
        let l = learning(&HashMap::new(), &[], |v| v);
        assert_eq!(
            l,
            Learning {
                measured: 0,
                first_share: 0.0,
                last_share: 0.0,
                baseline_share: 0.0
            }
        );
    }

    #[test]
    fn server_errors_are_the_5xx_responses() {
        let mut stats = EndpointStats::default();
        stats
            .statuses
            .extend([(200, 10), (404, 2), (500, 1), (503, 4)]);
        let endpoints = BTreeMap::from([("GET /x".to_owned(), stats)]);
        assert_eq!(server_errors(&endpoints), 5);
    }

    #[test]
    fn videos_are_counted_per_creator() {
        let videos = [0, 2, 2].map(|creator| Video {
            id: String::new(),
            creator,
        });
        assert_eq!(videos_per_creator(&videos, 3), vec![1, 0, 2]);
    }
}
