//! The simulation's command-line options, and the duration syntax they take.

use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Base URL of the gateway.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        env = "LOOP_GATEWAY_URL"
    )]
    pub gateway: String,
    #[arg(long, default_value_t = 2000)]
    pub viewers: usize,
    #[arg(long, default_value_t = 200)]
    pub creators: usize,
    #[arg(long, default_value_t = 8)]
    pub advertisers: usize,
    /// Videos each creator posts at set-up, plus more for popular ones.
    #[arg(long, default_value_t = 3)]
    pub videos_per_creator: usize,
    /// Catalog videos each creator publishes from real clips (uploaded with
    /// tus through the gateway, processed by the media service, published
    /// by upload id); the rest name a media URL, which only development
    /// platforms accept (against one that refuses it, every video is a
    /// clip). Videos posted during traffic are clips. 0: no ffmpeg needed,
    /// every video by URL.
    #[arg(long, default_value_t = 1)]
    pub clips_per_creator: usize,
    /// How long traffic runs after set-up: 60s, 2m or plain seconds.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Target request rate over all simulated clients (requests per second).
    #[arg(long, default_value_t = 150.0)]
    pub rate: f64,
    /// Concurrent simulated sessions.
    #[arg(long, default_value_t = 48)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The ranker's ad positions (1-based), to compute the fill rate.
    #[arg(long, value_delimiter = ',', default_value = "4,11")]
    pub ad_slots: Vec<u32>,
    /// For You page size.
    #[arg(long, default_value_t = 8)]
    pub page_size: usize,
    /// Share of viewers who cheat: click floods on ads, the same like sent
    /// over and over, other viewers' serve tokens; creators also watch their
    /// own videos. The report shows it detected and none of it billed or
    /// counted.
    #[arg(long, default_value_t = 0.05)]
    pub abusers: f64,
    /// Write the report as JSON here too.
    #[arg(long, default_value = "target/simulate/report.json")]
    pub json: String,
    /// Administrator (reconciles the ledger, approves payouts).
    #[arg(long, default_value = "admin")]
    pub admin_handle: String,
    #[arg(
        long,
        env = "LOOP_ADMIN_PASSWORD",
        default_value = "loop-admin-dev-password"
    )]
    pub admin_password: String,
    /// HMAC key of the wallet's test receipts (development deployments).
    #[arg(
        long,
        env = "LOOP_WALLET_TEST_RECEIPT_SECRET",
        default_value = loop_wallet::config::DEV_TEST_RECEIPT_SECRET
    )]
    pub receipt_secret: String,
    /// Directory of the platform's pid files (`make up`), for peak RSS and CPU.
    #[arg(long, default_value = ".state/pids")]
    pub pid_dir: String,
    /// No live terminal view.
    #[arg(long)]
    pub quiet: bool,
    /// Also write the headline figures as a benchmark report
    /// (target/bench/simulate.json), for `make bench`'s summary.
    #[arg(long)]
    pub bench_report: bool,
}

/// `60s`, `2m`, `1h` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{s:?}: expected e.g. 60s, 2m or 90"))?;
    let factor = match unit {
        "ms" => 0.001,
        "s" | "" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{s:?}: unit must be ms, s, m or h")),
    };
    if n.is_nan() || n <= 0.0 {
        return Err(format!("{s:?}: must be positive"));
    }
    Ok(Duration::from_secs_f64(n * factor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit_or_default_to_seconds() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 60s "), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn durations_refuse_unknown_units_zero_and_garbage() {
        assert!(parse_duration("3d").is_err());
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
    }
}
