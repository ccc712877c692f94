//! The measured phase: concurrent viewer sessions, creators posting, the
//! freshness probe and, late in the run, payouts, for `--duration`, with a
//! live one-line view.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::task::JoinSet;

use super::bar;
use super::report;
use super::resources::resources;
use super::state::{Account, Sim};

/// What the traffic phase measured besides the tally.
pub struct Traffic {
    pub seconds: f64,
    pub sessions: u64,
    /// Per process (peak RSS MiB, CPU seconds) before and after traffic.
    pub resources_before: BTreeMap<String, (f64, f64)>,
    pub resources_after: BTreeMap<String, (f64, f64)>,
}

/// Runs traffic for `--duration`, then stops every client and waits for it.
pub async fn drive(sim: &Arc<Sim>, probe: Account) -> Traffic {
    let resources_before = resources(&sim.args.pid_dir);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    let sessions = Arc::new(AtomicU64::new(0));
    for w in 0..sim.args.concurrency.max(1) {
        let (sim, sessions) = (sim.clone(), sessions.clone());
        tasks.spawn(async move { viewer_sessions(&sim, w, &sessions).await });
    }
    {
        let sim = sim.clone();
        tasks.spawn(async move { sim.creators_post().await });
    }
    {
        let sim = sim.clone();
        tasks.spawn(async move { sim.probe_freshness(&probe).await });
    }
    let progress = bar(
        sim.args.duration.as_secs().max(1),
        "traffic (s)",
        sim.args.quiet,
    );
    watch(sim, started, &progress, &mut tasks).await;
    sim.stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    let seconds = started.elapsed().as_secs_f64();
    progress.finish_with_message("traffic done");
    Traffic {
        seconds,
        sessions: sessions.load(Ordering::Relaxed),
        resources_before,
        resources_after: resources(&sim.args.pid_dir),
    }
}

/// One worker: picks viewers at random and, when they are active today,
/// runs one of their sessions; until the run stops.
async fn viewer_sessions(sim: &Sim, worker: usize, sessions: &AtomicU64) {
    let mut rng = StdRng::seed_from_u64(sim.args.seed.wrapping_add(worker as u64 * 7_919));
    while !sim.stop.load(Ordering::Relaxed) {
        let v = rng.random_range(0..sim.world.viewers.len());
        if !rng.random_bool(sim.world.viewers[v].active_probability) {
            continue;
        }
        let n = sessions.fetch_add(1, Ordering::Relaxed);
        sim.session(v, n).await;
    }
}

/// Until `--duration` has passed: once a second, the live view (on stderr
/// every ten seconds when there is no terminal); payouts at 70% of the run.
async fn watch(
    sim: &Arc<Sim>,
    started: Instant,
    progress: &indicatif::ProgressBar,
    tasks: &mut JoinSet<()>,
) {
    let plain = sim.args.quiet || !std::io::stderr().is_terminal();
    let mut last = (0u64, Instant::now());
    let mut payouts_done = false;
    while started.elapsed() < sim.args.duration {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let elapsed = started.elapsed();
        progress.set_position(elapsed.as_secs());
        let line = live_line(sim, &mut last);
        progress.set_message(line.clone());
        if plain && elapsed.as_secs().is_multiple_of(10) {
            eprintln!("  [{:>4}s] {line}", elapsed.as_secs());
        }
        if !payouts_done && elapsed > sim.args.duration.mul_f64(0.7) {
            payouts_done = true;
            let sim = sim.clone();
            tasks.spawn(async move { sim.payouts().await });
        }
    }
}

/// Request rate since the `last` reading (which it advances), totals and
/// For You latency so far.
fn live_line(sim: &Sim, last: &mut (u64, Instant)) -> String {
    let (requests, errors) = sim.api.recorder.totals();
    let rps = (requests - last.0) as f64 / last.1.elapsed().as_secs_f64().max(1e-9);
    *last = (requests, Instant::now());
    let feed = sim
        .api
        .recorder
        .endpoints
        .lock()
        .get("GET /v1/feed/for-you")
        .map(|s| report::latency(&s.latencies_ms));
    format!(
        "{rps:.0} req/s, {requests} requests, {errors} errors, For You p50 {:.1} ms p99 {:.1} ms",
        feed.as_ref().map_or(0.0, |l| l.p50),
        feed.as_ref().map_or(0.0, |l| l.p99)
    )
}

impl Sim {
    /// Freshness: a probe viewer in the cold state sends one like; the time
    /// until their next feed is no longer cold is how long the platform took
    /// to reflect the event (through gateway, broker and ranker).
    async fn probe_freshness(&self, probe: &Account) {
        let mut rng = StdRng::seed_from_u64(self.args.seed ^ 0xF2E5);
        while !self.stop.load(Ordering::Relaxed) {
            self.api
                .post(
                    "POST /v1/feed/refresh",
                    "/v1/feed/refresh",
                    Some(&probe.token),
                    &json!({}),
                )
                .await;
            let video = {
                let videos = self.videos.read();
                if videos.is_empty() {
                    return;
                }
                videos[rng.random_range(0..videos.len())].id.clone()
            };
            let sent = self
                .api
                .post(
                    "POST /v1/videos/{id}/like",
                    &format!("/v1/videos/{video}/like"),
                    Some(&probe.token),
                    &json!({"context": {"country": "US"}}),
                )
                .await;
            if !sent.ok() {
                continue;
            }
            let started = Instant::now();
            let seen = self.until_warm(probe, started).await;
            {
                let mut tally = self.tally.lock();
                if seen {
                    tally
                        .freshness_ms
                        .push(started.elapsed().as_secs_f64() * 1000.0);
                } else {
                    tally.freshness_timeouts += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Polls the probe's feed until it is no longer cold (true) or ten
    /// seconds after `started` (false).
    async fn until_warm(&self, probe: &Account, started: Instant) -> bool {
        while started.elapsed() < Duration::from_secs(10) {
            let feed = self
                .api
                .get(
                    "GET /v1/feed/for-you",
                    "/v1/feed/for-you?page_size=1&ads=false",
                    &probe.token,
                )
                .await;
            if feed.body["cold_start"] == false {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}
