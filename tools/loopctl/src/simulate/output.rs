//! Where the report goes besides the terminal: the JSON file (`--json`) and,
//! with `--bench-report`, the benchmark summary `make bench` collects.

use anyhow::Context as _;
use serde_json::Value;

use super::args::Args;

/// Writes the report as JSON to `--json` (creating its directory), and the
/// benchmark report when asked.
pub fn write(args: &Args, report: &Value) -> anyhow::Result<()> {
    if let Some(dir) = std::path::Path::new(&args.json).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&args.json, serde_json::to_vec_pretty(report)?)
        .with_context(|| format!("writing {}", args.json))?;
    if args.bench_report {
        bench_report(report)?;
    }
    Ok(())
}

/// The simulation's headline figures in the benchmark report format.
fn bench_report(r: &Value) -> anyhow::Result<()> {
    use loop_platform::bench::Figure;
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let feed = &r["endpoints"]["GET /v1/feed/for-you"];
    let figures = [
        Figure::new(
            "requests per second (all endpoints, through the gateway)",
            f(&r["totals"]["per_second"]),
            "req/s",
        ),
        Figure::new("server errors (5xx)", f(&r["totals"]["server_errors"]), ""),
        Figure::new("For You p50 through the gateway", f(&feed["p50_ms"]), "ms"),
        Figure::new("For You p99 through the gateway", f(&feed["p99_ms"]), "ms"),
        Figure::new(
            "learning: taste share of the last feeds",
            f(&r["learning"]["last_share"]),
            "",
        )
        .against(
            "taste-blind popularity share",
            f(&r["learning"]["popularity_baseline_share"]),
        )
        .at_least(1.0),
        Figure::new(
            "freshness p99 (event accepted -> feed reflects it)",
            f(&r["freshness"]["p99_ms"]),
            "ms",
        ),
        Figure::new("gifts per second", f(&r["money"]["gifts_per_second"]), "/s"),
        Figure::new("ad fill rate", f(&r["ads"]["fill_rate"]), ""),
        Figure::new(
            "ad impressions billed",
            f(&r["ads"]["impressions_billed"]),
            "",
        )
        .against(
            "impressions delivered (reported by clients)",
            f(&r["ads"]["impressions_reported"]),
        )
        .exactly(1.0),
    ];
    loop_platform::bench::report(
        "simulate",
        &format!(
            "loopctl simulate: {} viewers, {} creators, {} advertisers, {:.0} s, seed {}; ledger reconciles: {}",
            r["config"]["viewers"],
            r["config"]["creators"],
            r["config"]["advertisers"],
            f(&r["duration_seconds"]),
            r["config"]["seed"],
            r["money"]["ledger_consistent"]
        ),
        &figures,
        Value::Null,
    )?;
    Ok(())
}
