//! Turning what the simulation recorded into the final report (text and
//! JSON), and the live one-line view.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::client::EndpointStats;

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[derive(Debug, Clone)]
pub struct Latency {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
}

pub fn latency(values: &[f64]) -> Latency {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Latency {
        count: v.len(),
        p50: percentile(&v, 0.50),
        p99: percentile(&v, 0.99),
        p999: percentile(&v, 0.999),
    }
}

/// Per-endpoint serving figures.
pub fn endpoints_json(endpoints: &BTreeMap<String, EndpointStats>, seconds: f64) -> Value {
    let mut out = serde_json::Map::new();
    for (name, s) in endpoints {
        let l = latency(&s.latencies_ms);
        let errors: BTreeMap<String, u64> = s
            .statuses
            .iter()
            .filter(|(code, _)| **code >= 400)
            .map(|(code, n)| (code.to_string(), *n))
            .chain((s.failures > 0).then(|| ("transport".to_owned(), s.failures)))
            .collect();
        out.insert(
            name.clone(),
            json!({
                "requests": l.count,
                "per_second": l.count as f64 / seconds.max(1e-9),
                "p50_ms": l.p50, "p99_ms": l.p99, "p999_ms": l.p999,
                "errors": errors,
            }),
        );
    }
    Value::Object(out)
}

/// The report as text: one section per measurement.
pub fn text(report: &Value) -> String {
    let mut s = String::new();
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let _ = writeln!(
        s,
        "\n== Loop simulation: seed {}, {} viewers, {} creators, {} advertisers, {:.0} s at up to {} req/s ==",
        report["config"]["seed"],
        report["config"]["viewers"],
        report["config"]["creators"],
        report["config"]["advertisers"],
        f(&report["duration_seconds"]),
        report["config"]["rate"],
    );
    serving(&mut s, report);
    outcomes(&mut s, report);
    resources(&mut s, report);
    s
}

/// Per-endpoint counts, rates, latencies and errors, and their totals.
fn serving(s: &mut String, report: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let _ = writeln!(s, "\nServing (through the gateway)");
    let _ = writeln!(
        s,
        "  {:<44} {:>7} {:>7} {:>8} {:>8} {:>8}  errors",
        "endpoint", "count", "req/s", "p50 ms", "p99 ms", "p999 ms"
    );
    if let Some(eps) = report["endpoints"].as_object() {
        for (name, e) in eps {
            let errors = e["errors"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}:{v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  {:<44} {:>7} {:>7.1} {:>8.2} {:>8.2} {:>8.2}  {}",
                name,
                e["requests"],
                f(&e["per_second"]),
                f(&e["p50_ms"]),
                f(&e["p99_ms"]),
                f(&e["p999_ms"]),
                if errors.is_empty() {
                    "-".into()
                } else {
                    errors
                }
            );
        }
    }
    let t = &report["totals"];
    let _ = writeln!(
        s,
        "  total: {} requests, {:.1} req/s, {} errors ({} 5xx)",
        t["requests"],
        f(&t["per_second"]),
        t["errors"],
        t["server_errors"]
    );
}

/// Learning, freshness, money, ads and integrity: one paragraph each.
fn outcomes(s: &mut String, report: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let l = &report["learning"];
    let _ = writeln!(
        s,
        "\nLearning: share of For You items from each viewer's hidden taste ({} viewers with >= 2 feeds)\n  first feeds {:.1}%  ->  last feeds {:.1}%   (taste-blind popularity baseline {:.1}%)",
        l["viewers_measured"],
        100.0 * f(&l["first_share"]),
        100.0 * f(&l["last_share"]),
        100.0 * f(&l["popularity_baseline_share"]),
    );
    let fr = &report["freshness"];
    let _ = writeln!(
        s,
        "\nFreshness: event accepted -> that viewer's next feed reflects it: p50 {:.0} ms, p99 {:.0} ms ({} samples, {} not seen within 10 s)",
        f(&fr["p50_ms"]),
        f(&fr["p99_ms"]),
        fr["samples"],
        fr["timeouts"]
    );
    let m = &report["money"];
    let _ = writeln!(
        s,
        "\nMoney: {} coin purchases, {} gifts ({:.2}/s, {} coins), {} payout requests; ledger reconciles: {}",
        m["purchases"],
        m["gifts"],
        f(&m["gifts_per_second"]),
        m["coins_gifted"],
        m["payouts_requested"],
        m["ledger_consistent"]
    );
    shop(s, report);
    let a = &report["ads"];
    let _ = writeln!(
        s,
        "\nAds: fill rate {:.1}% ({} of {} ad positions), spend {} of {} cents budgeted (this run's campaigns); impressions reported {}, billed {}: billed = delivered: {}",
        100.0 * f(&a["fill_rate"]),
        a["filled"],
        a["offered_positions"],
        a["spend_cents"],
        a["budget_cents"],
        a["impressions_reported"],
        a["impressions_billed"],
        a["billed_equals_delivered"]
    );
    let md = &report["media"];
    let _ = writeln!(
        s,
        "\nMedia: {} clips uploaded, {} processed (last byte -> ready p50 {:.0} ms, p99 {:.0} ms), {} failed; {} videos from clips; played through signed URLs: {} of {}",
        md["uploads"],
        md["ready"],
        f(&md["processing_p50_ms"]),
        f(&md["processing_p99_ms"]),
        md["failed"],
        md["videos_from_clips"],
        md["playback"]["played"],
        md["playback"]["checked"]
    );
    let i = &report["integrity"];
    let _ = writeln!(
        s,
        "\nIntegrity: {} cheating viewers flooded {} ad clicks of this run's campaigns: {} invalid ad events reported, {} of them billed or counted (ad clicks counted {} = honest {}); engagement credits {}; foreign serve tokens refused {} of {}",
        i["abusers"],
        i["ad_clicks_flooded"],
        i["invalid_ad_events_reported"],
        i["flooded_clicks_billed_or_counted"],
        i["ad_clicks_counted"],
        i["honest_ad_clicks"],
        i["engagement_credits"],
        i["foreign_serve_tokens_refused"],
        i["foreign_serve_tokens_sent"]
    );
}

/// Shopping: the totals, each source, the flash sale and the auction.
fn shop(s: &mut String, report: &Value) {
    let shop = &report["shop"];
    let _ = writeln!(
        s,
        "\nShop: {} orders placed, {} paid, GMV {} cents ({} attributed to affiliates), commissions locked {} cents ({} bps); ledger reconciles: {}",
        shop["orders_placed"],
        shop["orders_paid"],
        shop["gmv_cents"],
        shop["attributed_gmv_cents"],
        shop["commissions_locked_cents"],
        shop["commission_rate_bps"],
        report["money"]["ledger_consistent"],
    );
    if let Some(sources) = shop["by_source"].as_object() {
        let parts: Vec<String> = sources
            .iter()
            .map(|(name, x)| {
                format!(
                    "{name} {} of {} paid, {} cents",
                    x["orders_paid"], x["orders_placed"], x["gmv_cents"]
                )
            })
            .collect();
        let _ = writeln!(s, "  by source: {}", parts.join("; "));
    }
    let f = &shop["flash_sale"];
    if f.is_object() {
        let _ = writeln!(
            s,
            "  flash sale: {} of {} units sold ({} left) to {} of {} buyers at {} cents, at most {} each (most by one buyer: {}); refused {}",
            f["units_sold"],
            f["total_units"],
            f["remaining_units"],
            f["buyers_served"],
            f["buyers"],
            f["sale_price_cents"],
            f["per_buyer_limit"],
            f["max_units_per_buyer"],
            f["refused"]
        );
    }
    let a = &shop["auction"];
    if a.is_object() {
        let _ = writeln!(
            s,
            "  auction: {} at {} cents (from {}) after {} bids from {} bidders (close extended {} times, refused {}); orders among the bidders {}, the winner's paid: {}",
            a["status"].as_str().unwrap_or("?"),
            a["winning_cents"],
            a["starting_cents"],
            a["bids_accepted"],
            a["bidders"],
            a["extensions"],
            a["bids_refused"],
            a["bidder_orders"],
            a["winner_order_paid"]
        );
    }
    if let Some(p) = shop["problem"].as_str() {
        let _ = writeln!(s, "  stopped: {p}");
    }
}

/// The platform's processes: peak memory and CPU over the run.
fn resources(s: &mut String, report: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    if let Some(res) = report["resources"].as_object().filter(|r| !r.is_empty()) {
        let _ = writeln!(s, "\nResources (from /proc, the platform's processes)");
        for (name, r) in res {
            let _ = writeln!(
                s,
                "  {:<14} peak RSS {:>6.0} MiB   CPU {:>6.1} s ({:.0}% of one core)",
                name,
                f(&r["peak_rss_mib"]),
                f(&r["cpu_seconds"]),
                100.0 * f(&r["cpu_seconds"]) / f(&report["duration_seconds"]).max(1e-9)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_round_to_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 51.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        let l = latency(&[3.0, 1.0, 2.0]);
        assert_eq!((l.count, l.p50, l.p99), (3, 2.0, 3.0));
    }

    #[test]
    fn the_text_has_a_section_per_measurement_and_resources_only_when_read() {
        let report = json!({
            "config": {"seed": 7, "viewers": 10, "creators": 2, "advertisers": 1, "rate": 50.0},
            "duration_seconds": 20.0,
            "endpoints": {"GET /v1/feed/for-you": {"requests": 4, "per_second": 0.2, "p50_ms": 1.0,
                          "p99_ms": 2.0, "p999_ms": 2.0, "errors": {"429": 1}}},
            "totals": {"requests": 4, "per_second": 0.2, "errors": 1, "server_errors": 0},
            "resources": {},
        });
        let text = text(&report);
        for section in [
            "== Loop simulation: seed 7, 10 viewers",
            "Serving",
            "429:1",
            "Learning:",
            "Freshness:",
            "Money:",
            "Shop:",
            "Ads:",
            "Integrity:",
        ] {
            assert!(text.contains(section), "{section:?} missing from {text}");
        }
        assert!(!text.contains("Resources"), "{text}");
        let with = json!({"duration_seconds": 10.0,
                          "resources": {"gateway": {"peak_rss_mib": 64.0, "cpu_seconds": 5.0}}});
        assert!(super::text(&with).contains("(50% of one core)"));
    }

    #[test]
    fn the_shop_paragraph_gives_each_source_the_flash_sale_and_the_auction() {
        let report = json!({"shop": {
            "orders_placed": 3, "orders_paid": 3, "gmv_cents": 5500, "attributed_gmv_cents": 2500,
            "commissions_locked_cents": 250, "commission_rate_bps": 1000,
            "by_source": {"video": {"orders_placed": 1, "orders_paid": 1, "gmv_cents": 2500}},
            "flash_sale": {"units_sold": 10, "total_units": 10, "remaining_units": 0},
            "auction": {"status": "sold", "winning_cents": 1500},
            "problem": "live: creator x is not LIVE"}});
        let text = text(&report);
        for line in [
            "GMV 5500 cents (2500 attributed to affiliates), commissions locked 250 cents (1000 bps)",
            "by source: video 1 of 1 paid, 2500 cents",
            "flash sale: 10 of 10 units sold (0 left)",
            "auction: sold at 1500 cents",
            "stopped: live: creator x is not LIVE",
        ] {
            assert!(text.contains(line), "{line:?} missing from {text}");
        }
    }
}
