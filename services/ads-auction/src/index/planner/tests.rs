//! The planner over hand-built index data, at a fixed instant.
//!
//! With the default configuration a creative nobody has seen predicts CTR
//! 1% and a 25% view rate, so its quality is 1: a CPM bid of `b` cents has
//! eCPM `b x 1000` millicents and a CPC bid of `b` cents `b x 1000 x 1000 x
//! 0.01`. The reserve is 100_000 (a $1 CPM).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, TimeZone, Utc};
use loop_proto::ads_auction::v1 as pb;
use uuid::Uuid;

use super::super::fixtures::{loaded, targeted};
use super::super::state::Inner;
use super::super::{Ask, BitSet, CreativeEntry, Index, Loaded, Plan, TopViewEntry, Viewer};
use super::plan;
use crate::Config;
use crate::auction;
use crate::predict::{self, Counts};

/// Noon UTC: half the UTC day has elapsed.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0)
        .single()
        .expect("a valid instant")
}

/// Ad group `i` (id `i + 1`) as the fixtures make it, started a day before
/// [`now`].
fn group(i: u128, bid: i64) -> Loaded {
    let mut l = loaded(i, bid, &[]);
    l.row.starts_at = now() - chrono::Duration::days(1);
    l
}

fn id(i: u128) -> Uuid {
    Uuid::from_u128(i + 1)
}

fn index(cfg: &Config, groups: Vec<Loaded>) -> Inner {
    let mut inner = Inner::default();
    for g in groups {
        inner.insert(&cfg.prediction, g);
    }
    inner
}

/// A request; `plan` runs the planner on it.
struct Req {
    viewer: Viewer,
    exclude: HashSet<Uuid>,
    now: DateTime<Utc>,
    slots: usize,
    topview: bool,
    debug: bool,
}

impl Default for Req {
    fn default() -> Self {
        Self {
            viewer: Viewer::default(),
            exclude: HashSet::new(),
            now: now(),
            slots: 1,
            topview: false,
            debug: true,
        }
    }
}

impl Req {
    fn plan(&self, inner: &Inner, cfg: &Config) -> Plan {
        let ask = Ask {
            viewer: &self.viewer,
            now: self.now,
            infeed_slots: self.slots,
            want_topview: self.topview,
            exclude: &self.exclude,
            debug: self.debug,
        };
        // Scratch with stale bits: the planner must not depend on it.
        let mut elig = BitSet::default();
        elig.set(999);
        plan(inner, cfg, &ask, &mut elig)
    }

    fn country(country: &str) -> Self {
        Self {
            viewer: Viewer {
                country: country.into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }
}

fn ids(p: &Plan) -> Vec<Uuid> {
    p.infeed.iter().map(|c| c.ad_group_id).collect()
}

fn reasons(p: &Plan) -> Vec<(Uuid, &'static str)> {
    p.filtered.clone()
}

// --- empty inputs ------------------------------------------------------------

#[test]
fn an_empty_index_plans_nothing() {
    let cfg = Config::default();
    let p = Req {
        topview: true,
        ..Default::default()
    }
    .plan(&Inner::default(), &cfg);
    assert_eq!(p.eligible, 0);
    assert!(p.infeed.is_empty() && p.topview.is_empty() && p.filtered.is_empty());
}

#[test]
fn no_in_feed_slot_asks_for_no_in_feed_candidate() {
    let cfg = Config::default();
    let inner = index(&cfg, vec![group(0, 500)]);
    let p = Req {
        slots: 0,
        ..Default::default()
    }
    .plan(&inner, &cfg);
    assert_eq!(p.eligible, 1, "eligibility is still counted");
    assert!(p.infeed.is_empty());
}

#[test]
fn a_group_without_creatives_is_not_indexed() {
    let cfg = Config::default();
    let mut g = group(0, 500);
    g.creatives.clear();
    let inner = index(&cfg, vec![g]);
    assert_eq!(Req::default().plan(&inner, &cfg).eligible, 0);
}

// --- targeting ---------------------------------------------------------------

#[test]
fn a_country_matches_its_groups_and_the_unrestricted_ones_only() {
    let cfg = Config::default();
    let inner = index(
        &cfg,
        vec![
            targeted(
                group(0, 300),
                &pb::Targeting {
                    countries: vec!["US".into()],
                    ..Default::default()
                },
            ),
            targeted(
                group(1, 400),
                &pb::Targeting {
                    countries: vec!["FR".into()],
                    ..Default::default()
                },
            ),
            group(2, 200),
        ],
    );
    let us = Req::country("US").plan(&inner, &cfg);
    assert_eq!(us.eligible, 2);
    assert_eq!(ids(&us), vec![id(0), id(2)], "FR never, best first");
    // No country known: only the unrestricted group.
    let unknown = Req::default().plan(&inner, &cfg);
    assert_eq!(ids(&unknown), vec![id(2)]);
}

#[test]
fn every_restricted_dimension_must_match_and_unknown_values_match_none() {
    let cfg = Config::default();
    let adults_in_us = pb::Targeting {
        countries: vec!["US".into()],
        age_bands: vec![4],
        ..Default::default()
    };
    let inner = index(&cfg, vec![targeted(group(0, 300), &adults_in_us)]);
    let viewer = |age_band: i32, country: &str| Req {
        viewer: Viewer {
            age_band,
            country: country.into(),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(viewer(4, "US").plan(&inner, &cfg).eligible, 1);
    assert_eq!(viewer(3, "US").plan(&inner, &cfg).eligible, 0, "wrong age");
    assert_eq!(
        viewer(0, "US").plan(&inner, &cfg).eligible,
        0,
        "unknown age"
    );
    assert_eq!(
        viewer(4, "FR").plan(&inner, &cfg).eligible,
        0,
        "wrong country"
    );
}

#[test]
fn any_of_a_dimension_values_matches() {
    let cfg = Config::default();
    let t = pb::Targeting {
        interest_categories: vec!["cars".into(), "food".into()],
        languages: vec!["en".into()],
        ..Default::default()
    };
    let inner = index(&cfg, vec![targeted(group(0, 300), &t)]);
    let viewer = |interests: &[&str]| Req {
        viewer: Viewer {
            language: "en".into(),
            interests: interests.iter().map(|i| (*i).to_string()).collect(),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(viewer(&["music", "food"]).plan(&inner, &cfg).eligible, 1);
    assert_eq!(viewer(&["music"]).plan(&inner, &cfg).eligible, 0);
    assert_eq!(viewer(&[]).plan(&inner, &cfg).eligible, 0);
}

#[test]
fn a_behaviour_matches_within_its_lookback() {
    let cfg = Config::default();
    let t = pb::Targeting {
        behaviors: vec![pb::Behavior {
            kind: 1,
            value: "cats".into(),
            lookback_days: 3,
        }],
        ..Default::default()
    };
    let inner = index(&cfg, vec![targeted(group(0, 300), &t)]);
    let engaged = |kind: i32, age_days: f64| Req {
        viewer: Viewer {
            behaviors: vec![(kind, "cats".into(), age_days)],
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(engaged(1, 2.5).plan(&inner, &cfg).eligible, 1);
    assert_eq!(engaged(1, 3.0).plan(&inner, &cfg).eligible, 1, "inclusive");
    assert_eq!(engaged(1, 3.5).plan(&inner, &cfg).eligible, 0, "too old");
    assert_eq!(engaged(2, 1.0).plan(&inner, &cfg).eligible, 0, "other kind");
}

#[test]
fn large_posting_lists_filter_like_small_ones() {
    // Over a thousand groups in one country makes its list dense.
    let cfg = Config::default();
    let mut groups: Vec<Loaded> = (0..1100)
        .map(|i| {
            targeted(
                group(i, 100 + (i as i64 % 50)),
                &pb::Targeting {
                    countries: vec!["US".into()],
                    ..Default::default()
                },
            )
        })
        .collect();
    groups.push(targeted(
        group(5000, 9000),
        &pb::Targeting {
            countries: vec!["FR".into()],
            ..Default::default()
        },
    ));
    let inner = index(&cfg, groups);
    let us = Req::country("US").plan(&inner, &cfg);
    assert_eq!(us.eligible, 1100);
    assert!(!ids(&us).contains(&id(5000)));
    assert_eq!(Req::country("FR").plan(&inner, &cfg).eligible, 1);
}

// --- ranking -----------------------------------------------------------------

#[test]
fn candidates_rank_by_ecpm_not_by_bid() {
    let cfg = Config::default();
    let mut cpc = group(1, 50);
    cpc.row.bid_type = pb::BidType::Cpc as i16;
    let inner = index(&cfg, vec![group(0, 300), cpc, group(2, 200)]);
    let p = Req::default().plan(&inner, &cfg);
    assert_eq!(ids(&p), vec![id(1), id(0), id(2)]);
    let c = &p.infeed[0];
    assert_eq!(c.bid_event, 50_000, "a CPC bid is per click in millicents");
    assert!((c.w - 0.01).abs() < 1e-12, "w = pCTR x quality");
    assert!((c.ecpm - 500_000.0).abs() < 1e-6);
    assert!((c.billable_rate - 0.01).abs() < 1e-12);
    assert!((p.infeed[1].ecpm - 300_000.0).abs() < 1e-6);
    assert!((p.infeed[1].billable_rate - 1.0).abs() < 1e-12);
}

#[test]
fn equal_ecpms_rank_the_lower_ad_group_id_first() {
    let cfg = Config::default();
    // Inserted highest id first, so slot order would say otherwise.
    let inner = index(&cfg, vec![group(2, 300), group(1, 300), group(0, 300)]);
    assert_eq!(
        ids(&Req::default().plan(&inner, &cfg)),
        vec![id(0), id(1), id(2)]
    );
}

#[test]
fn a_campaign_gets_one_finalist_its_best_ad_group() {
    let cfg = Config::default();
    let mut sibling = group(1, 500);
    sibling.row.campaign_id = Uuid::from_u128(1_000_000);
    let inner = index(&cfg, vec![group(0, 300), sibling, group(2, 200)]);
    assert_eq!(ids(&Req::default().plan(&inner, &cfg)), vec![id(1), id(2)]);
}

#[test]
fn equal_creatives_pick_the_lower_creative_id() {
    let cfg = Config::default();
    let mut g = group(0, 300);
    let mut twin = g.creatives[0].clone();
    twin.id = Uuid::from_u128(1);
    g.creatives.push(twin);
    let inner = index(&cfg, vec![g]);
    let p = Req::default().plan(&inner, &cfg);
    assert_eq!(p.infeed[0].creative.id, Uuid::from_u128(1));
}

#[test]
fn finalists_are_capped_at_base_plus_per_slot() {
    let cfg = Config::default();
    let inner = index(&cfg, (0..20).map(|i| group(i, 200 + i as i64)).collect());
    let one = Req::default().plan(&inner, &cfg);
    assert_eq!(one.infeed.len(), 4 + 2);
    assert_eq!(one.infeed[0].ad_group_id, id(19), "highest bid first");
    assert_eq!(one.infeed[5].ad_group_id, id(14));
    let three = Req {
        slots: 3,
        ..Default::default()
    }
    .plan(&inner, &cfg);
    assert_eq!(three.infeed.len(), 4 + 2 * 3);
}

#[test]
fn learned_rates_move_a_click_bid_up_the_ranking() {
    let cfg = Config::default();
    let mut cpc = group(1, 50);
    cpc.row.bid_type = pb::BidType::Cpc as i16;
    let cpc_creative = cpc.creatives[0].id;
    let mut inner = index(&cfg, vec![group(0, 1000), cpc]);
    assert_eq!(ids(&Req::default().plan(&inner, &cfg)), vec![id(0), id(1)]);
    // A 10% CTR in the viewer's segment (age band 2 on OS 1) only.
    let segment = predict::segment_index(2, 1);
    let counts = Counts {
        impressions: 1000,
        clicks: 100,
        views: 250,
    };
    inner.apply_stats(
        &cfg.prediction,
        vec![(cpc_creative, predict::segment_key(segment), counts)],
    );
    let in_segment = Req {
        viewer: Viewer {
            segment,
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(ids(&in_segment.plan(&inner, &cfg)), vec![id(1), id(0)]);
    assert_eq!(ids(&Req::default().plan(&inner, &cfg)), vec![id(0), id(1)]);
}

#[test]
fn a_bound_raised_after_the_sort_is_still_walked() {
    // Over 4096 eligible groups the planner walks by bound instead of scanning.
    let index = Index::new(Arc::new(Config::default()));
    index.apply(
        (0..5000).map(|i| group(i, 100 + i as i64 % 400)).collect(),
        &[],
    );
    index.resort();
    index.apply(vec![group(9000, 2000)], &[]);
    let viewer = Viewer::default();
    let exclude = HashSet::new();
    let p = index.plan(&Ask {
        viewer: &viewer,
        now: now(),
        infeed_slots: 1,
        want_topview: false,
        exclude: &exclude,
        debug: false,
    });
    assert_eq!(p.eligible, 5001);
    assert_eq!(p.infeed[0].ad_group_id, id(9000));
    assert_eq!(p.infeed.len(), 6);
}

// --- pricing -----------------------------------------------------------------

#[test]
fn planned_candidates_price_by_second_price() {
    let cfg = Config::default();
    let mut cpc = group(1, 50);
    cpc.row.bid_type = pb::BidType::Cpc as i16;
    let inner = index(&cfg, vec![group(0, 300), cpc, group(2, 200)]);
    let p = Req::default().plan(&inner, &cfg);
    let ranked = p
        .infeed
        .iter()
        .map(|c| auction::Ranked {
            id: c.ad_group_id.to_string(),
            bid_event: c.bid_event,
            w: c.w,
            ecpm: c.ecpm,
        })
        .collect();
    let reserve = cfg.auction.reserve_ecpm_millicents as f64;
    let prices = auction::gsp(ranked, 2, reserve);
    // The click bid beats a $3 CPM: per click floor(300_000 / (1000 x 0.01)) + 1;
    // the $3 CPM then pays just over the $2 one, per impression.
    assert_eq!(
        prices,
        vec![(id(1).to_string(), 30_001), (id(0).to_string(), 201)]
    );
}

// --- reserve, budget back-off, schedule ---------------------------------------

#[test]
fn below_the_reserve_never_plans_and_debug_says_why() {
    let cfg = Config::default();
    let inner = index(&cfg, vec![group(0, 99), group(1, 100)]);
    let p = Req::default().plan(&inner, &cfg);
    assert_eq!(ids(&p), vec![id(1)], "exactly at the reserve is enough");
    assert_eq!(reasons(&p), vec![(id(0), "below_reserve")]);
    let quiet = Req {
        debug: false,
        ..Default::default()
    }
    .plan(&inner, &cfg);
    assert!(quiet.filtered.is_empty(), "reasons only when debugging");
}

#[test]
fn a_group_in_budget_back_off_waits_until_it_ends() {
    let cfg = Config::default();
    let inner = index(&cfg, vec![group(0, 500), group(1, 300)]);
    let until = now().timestamp_millis() + 500;
    inner
        .entry_by_id(id(0))
        .expect("indexed")
        .backoff_until_ms
        .store(until, Ordering::Relaxed);
    let p = Req::default().plan(&inner, &cfg);
    assert_eq!(ids(&p), vec![id(1)]);
    assert_eq!(reasons(&p), vec![(id(0), "budget")]);
    let at_end = Req {
        now: now() + chrono::Duration::milliseconds(500),
        ..Default::default()
    };
    assert_eq!(ids(&at_end.plan(&inner, &cfg)), vec![id(0), id(1)]);
}

#[test]
fn groups_outside_their_schedule_are_skipped() {
    let cfg = Config::default();
    let mut future = group(0, 500);
    future.row.starts_at = now() + chrono::Duration::hours(1);
    let mut ended = group(1, 500);
    ended.row.ends_at = Some(now());
    let mut mornings = group(2, 500);
    mornings.row.active_hours = vec![8, 9, 10, 11];
    let mut noon_in_paris = group(3, 500);
    noon_in_paris.row.active_hours = vec![12];
    noon_in_paris.row.time_zone = "Europe/Paris".into();
    let mut inner = index(
        &cfg,
        vec![future, ended, mornings, noon_in_paris, group(4, 100)],
    );
    let p = Req::default().plan(&inner, &cfg);
    assert_eq!(
        ids(&p),
        vec![id(3), id(4)],
        "Paris is UTC until its offset is known"
    );
    assert_eq!(
        reasons(&p),
        vec![
            (id(0), "schedule"),
            (id(1), "schedule"),
            (id(2), "schedule")
        ]
    );
    inner.tz_offsets.insert("Europe/Paris".into(), 3600);
    assert_eq!(ids(&Req::default().plan(&inner, &cfg)), vec![id(4)]);
}

// --- what the serving script gets: pacing, caps, local day --------------------

#[test]
fn the_paced_target_spreads_the_daily_budget_over_the_day() {
    let mut cfg = Config::default();
    let inner = index(&cfg, vec![group(0, 500)]);
    let c = &Req::default().plan(&inner, &cfg).infeed[0];
    assert_eq!(c.daily_budget_millicents, 2_000_000);
    // Half the day gone, plus a 2% burst.
    assert_eq!(c.paced_target_millicents, 1_040_000);
    cfg.pacing.enabled = false;
    let c = &Req::default().plan(&inner, &cfg).infeed[0];
    assert_eq!(c.paced_target_millicents, 2_000_000);
}

#[test]
fn the_frequency_cap_falls_back_to_the_default() {
    let cfg = Config::default();
    let mut capped = group(1, 300);
    capped.row.frequency_cap_per_day = 5;
    let inner = index(&cfg, vec![group(0, 500), capped]);
    let p = Req::default().plan(&inner, &cfg);
    assert_eq!(p.infeed[0].frequency_cap, cfg.auction.default_frequency_cap);
    assert_eq!(p.infeed[1].frequency_cap, 5);
}

#[test]
fn the_local_day_follows_the_group_zone() {
    let cfg = Config::default();
    let mut tokyo = group(0, 500);
    tokyo.row.time_zone = "Asia/Tokyo".into();
    let mut inner = index(&cfg, vec![tokyo]);
    inner.tz_offsets.insert("Asia/Tokyo".into(), 13 * 3600);
    let c = &Req::default().plan(&inner, &cfg).infeed[0];
    assert_eq!(c.local_day, "2026-03-11");
    assert_eq!(c.window.utc_offset_secs, 13 * 3600);
}

// --- creatives -----------------------------------------------------------------

#[test]
fn excluded_booked_and_expired_creatives_are_not_served() {
    let cfg = Config::default();
    let mut g = group(0, 500);
    let first = g.creatives[0].id;
    let mut second = g.creatives[0].clone();
    second.id = Uuid::from_u128(99_000_000);
    second.video_id = Uuid::from_u128(99_000_001);
    g.creatives.push(second.clone());
    let mut inner = index(&cfg, vec![g]);
    let excluding = |ids: &[Uuid]| Req {
        exclude: ids.iter().copied().collect(),
        ..Default::default()
    };
    let p = excluding(&[first]).plan(&inner, &cfg);
    assert_eq!(p.infeed[0].creative.id, second.id);
    assert!(
        excluding(&[first, second.id])
            .plan(&inner, &cfg)
            .infeed
            .is_empty()
    );
    // A video booked by today's TopView never also runs in feed.
    inner.set_topview(
        now().date_naive(),
        vec![tv_entry(0, second.id, second.video_id)],
    );
    assert!(excluding(&[first]).plan(&inner, &cfg).infeed.is_empty());
    // An expired Spark code stops its creative.
    let mut spark = group(1, 500);
    spark.creatives[0].spark_expires_at = Some(now());
    let inner = index(&cfg, vec![spark]);
    assert!(Req::default().plan(&inner, &cfg).infeed.is_empty());
}

#[test]
fn topview_groups_never_run_in_feed() {
    let cfg = Config::default();
    let mut tv = group(0, 5000);
    tv.row.format = pb::AdFormat::Topview as i16;
    let inner = index(&cfg, vec![tv, group(1, 200)]);
    assert_eq!(ids(&Req::default().plan(&inner, &cfg)), vec![id(1)]);
}

// --- TopView -----------------------------------------------------------------

fn tv_entry(i: u128, creative: Uuid, video: Uuid) -> TopViewEntry {
    TopViewEntry {
        reservation_id: Uuid::from_u128(50_000_000 + i),
        ad_group_id: id(i),
        campaign_id: Uuid::from_u128(1_000_000 + i),
        creative_id: creative,
        video_id: video,
        impressions: 1000,
        cpm_cents: 1500,
    }
}

fn topview_index(cfg: &Config, countries: &[&str]) -> (Inner, CreativeEntry) {
    let mut g = group(0, 0);
    g.row.format = pb::AdFormat::Topview as i16;
    let g = targeted(
        g,
        &pb::Targeting {
            countries: countries.iter().map(|c| (*c).to_string()).collect(),
            ..Default::default()
        },
    );
    let creative = g.creatives[0].clone();
    let mut inner = index(cfg, vec![g]);
    inner.set_topview(
        now().date_naive(),
        vec![tv_entry(0, creative.id, creative.video_id)],
    );
    (inner, creative)
}

#[test]
fn a_topview_reservation_is_paced_over_the_utc_day() {
    let mut cfg = Config::default();
    let (inner, creative) = topview_index(&cfg, &[]);
    let ask = Req {
        topview: true,
        ..Default::default()
    };
    let p = ask.plan(&inner, &cfg);
    assert_eq!(p.topview.len(), 1);
    assert_eq!(p.topview[0].creative.id, creative.id);
    // ceil((0.5 + 0.02) x 1000)
    assert_eq!(p.topview[0].paced_cap, 520);
    cfg.pacing.enabled = false;
    assert_eq!(ask.plan(&inner, &cfg).topview[0].paced_cap, 1000);
}

#[test]
fn topview_needs_the_ask_today_targeting_and_an_allowed_creative() {
    let cfg = Config::default();
    let (inner, creative) = topview_index(&cfg, &["US"]);
    let ask = |country: &str| Req {
        topview: true,
        ..Req::country(country)
    };
    assert_eq!(ask("US").plan(&inner, &cfg).topview.len(), 1);
    let elsewhere = ask("FR").plan(&inner, &cfg);
    assert!(elsewhere.topview.is_empty());
    assert_eq!(reasons(&elsewhere), vec![(id(0), "targeting")]);
    let not_asked = Req {
        topview: false,
        ..Req::country("US")
    };
    assert!(not_asked.plan(&inner, &cfg).topview.is_empty());
    let tomorrow = Req {
        now: now() + chrono::Duration::days(1),
        ..ask("US")
    };
    assert!(
        tomorrow.plan(&inner, &cfg).topview.is_empty(),
        "booked for today"
    );
    let excluded = Req {
        exclude: [creative.id].into_iter().collect(),
        ..ask("US")
    };
    assert!(excluded.plan(&inner, &cfg).topview.is_empty());
}
