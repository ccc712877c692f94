//! What every benchmark binary shares: sizes from the environment,
//! percentiles, and one report format. Each bench writes
//! `target/bench/<name>.json` with a `figures` list, every figure beside the
//! baseline measured in the same run, and prints them as a markdown table;
//! `make bench` gathers all of them into `target/bench/summary.{md,json}`.

use std::path::PathBuf;

use serde_json::{Value, json};

/// A size or count from the environment (`LOOP_BENCH_*`), else `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `p` quantile (0..=1) of sorted values (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// p50 / p99 of latency samples (ms).
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub p50: f64,
    pub p99: f64,
}

pub fn stats(mut samples: Vec<f64>) -> Stats {
    samples.sort_by(f64::total_cmp);
    Stats {
        p50: percentile(&samples, 0.50),
        p99: percentile(&samples, 0.99),
    }
}

/// Which way a figure is better, to judge it against its target ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
    /// Neither: the ratio must be exactly the target (counts that must agree).
    Equal,
}

/// One measured figure, with the baseline it is compared to.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    /// (what, value) measured in the same run, in the same unit.
    pub baseline: Option<(String, f64)>,
    /// The target ratio value / baseline and which way is better.
    pub target: Option<(Better, f64)>,
}

impl Figure {
    pub fn new(name: impl Into<String>, value: f64, unit: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value,
            unit: unit.into(),
            baseline: None,
            target: None,
        }
    }

    pub fn against(mut self, baseline: impl Into<String>, value: f64) -> Self {
        self.baseline = Some((baseline.into(), value));
        self
    }

    /// The ratio must be at most `ratio` (latency-like figures).
    pub fn at_most(mut self, ratio: f64) -> Self {
        self.target = Some((Better::Lower, ratio));
        self
    }

    /// The ratio must be at least `ratio` (throughput-like figures).
    pub fn at_least(mut self, ratio: f64) -> Self {
        self.target = Some((Better::Higher, ratio));
        self
    }

    /// The ratio must be exactly `ratio` (e.g. billed = delivered: 1).
    pub fn exactly(mut self, ratio: f64) -> Self {
        self.target = Some((Better::Equal, ratio));
        self
    }

    pub fn ratio(&self) -> Option<f64> {
        self.baseline
            .as_ref()
            .filter(|(_, b)| *b > 0.0)
            .map(|(_, b)| self.value / b)
    }

    pub fn met(&self) -> Option<bool> {
        let ratio = self.ratio()?;
        self.target.map(|(better, t)| match better {
            Better::Lower => ratio <= t,
            Better::Higher => ratio >= t,
            Better::Equal => (ratio - t).abs() < 1e-9,
        })
    }

    fn target_text(&self) -> String {
        match self.target {
            Some((Better::Lower, t)) => format!("<= {t}x"),
            Some((Better::Higher, t)) => format!(">= {t}x"),
            Some((Better::Equal, t)) => format!("= {t}x"),
            None => String::new(),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "figure": self.name,
            "value": self.value,
            "unit": self.unit,
            "baseline": self.baseline.as_ref().map(|(b, _)| b),
            "baseline_value": self.baseline.as_ref().map(|(_, v)| v),
            "ratio": self.ratio(),
            "target": (!self.target_text().is_empty()).then(|| self.target_text()),
            "met": self.met(),
        })
    }

    /// A markdown table row: figure | value | baseline | ratio | target.
    pub fn row(&self) -> String {
        let num = |v: f64| {
            if v.abs() >= 100.0 {
                format!("{v:.0}")
            } else if v.abs() >= 1.0 {
                format!("{v:.2}")
            } else {
                format!("{v:.3}")
            }
        };
        format!(
            "| {} | {} {} | {} | {} | {}{} |",
            self.name,
            num(self.value),
            self.unit,
            self.baseline
                .as_ref()
                .map(|(b, v)| format!("{b}: {} {}", num(*v), self.unit))
                .unwrap_or_default(),
            self.ratio().map(|r| format!("{r:.2}x")).unwrap_or_default(),
            self.target_text(),
            match self.met() {
                Some(true) => " (met)",
                Some(false) => " (NOT met)",
                None => "",
            }
        )
    }
}

/// Waits until the outbox relay of the database behind `pool` has published
/// every event written so far (at most ten minutes) and returns how long
/// that took. Benches call it between phases: the broker still working off
/// one phase's events would flatter that phase and handicap the next one
/// (a baseline measured then would be slowed by work that is not its own).
pub async fn outbox_drained(pool: &sqlx::PgPool) -> f64 {
    let started = std::time::Instant::now();
    loop {
        let left: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(pool)
                .await
                .expect("outbox backlog");
        if left == 0 {
            return started.elapsed().as_secs_f64();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(600),
            "the outbox relay did not publish {left} events within ten minutes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Where reports go: `$LOOP_BENCH_DIR`, else the workspace's `target/bench`.
pub fn dir() -> PathBuf {
    std::env::var_os("LOOP_BENCH_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench"),
        PathBuf::from,
    )
}

/// Prints the figures as a markdown table and writes
/// `<dir>/<bench>.json` = `{bench, finished_at, setup, figures, details}`.
pub fn report(
    bench: &str,
    setup: &str,
    figures: &[Figure],
    details: Value,
) -> std::io::Result<PathBuf> {
    println!("\n### {bench}: {setup}\n");
    println!("| figure | value | baseline (same run) | ratio | target |");
    println!("|---|---|---|---|---|");
    for f in figures {
        println!("{}", f.row());
    }
    let dir = dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{bench}.json"));
    let doc = json!({
        "bench": bench,
        "setup": setup,
        "finished_at": chrono::Utc::now().to_rfc3339(),
        "figures": figures.iter().map(Figure::to_json).collect::<Vec<_>>(),
        "details": details,
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap_or_default())?;
    eprintln!("wrote {}", path.display());
    Ok(path)
}

/// xorshift64*: deterministic synthetic data for benchmarks and tests
/// without a `rand` dependency (the same seed gives the same data).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_judge_their_ratio_the_right_way() {
        let latency = Figure::new("p99", 3.0, "ms")
            .against("GET p99", 1.0)
            .at_most(10.0);
        assert_eq!(latency.ratio(), Some(3.0));
        assert_eq!(latency.met(), Some(true));
        let throughput = Figure::new("eps", 40.0, "events/s")
            .against("raw", 100.0)
            .at_least(0.5);
        assert_eq!(throughput.met(), Some(false));
        assert!(throughput.row().contains("NOT met"));
        assert_eq!(Figure::new("x", 1.0, "s").met(), None);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), 3.0);
    }
}
