//! Gift throughput and latency, each beside `pgbench` TPC-B measured in the
//! same run on the same PostgreSQL with the same concurrency (these machines
//! are noisy and shared, so the ratios are what to compare):
//!
//! 1. gifts/s and p50/p99 latency (gRPC SendGift end to end) with every gift
//!    to ONE hot creator's LIVE room;
//! 2. the same spread over many creators;
//! 3. the baseline: `pgbench -i` into a throwaway database, then
//!    `pgbench -c <concurrency> -j 2 -T <seconds>` (TPC-B-like), its tps and
//!    average latency; the database is dropped afterwards.
//!
//! Run: `cargo bench -p loop-wallet --bench gifts` (needs the local
//! PostgreSQL, Redis and broker: `make deps`; pgbench from postgresql-client).
//! Knobs: LOOP_BENCH_CONCURRENCY (32), LOOP_BENCH_SECONDS (15),
//! LOOP_BENCH_VIEWERS (2000), LOOP_BENCH_CREATORS (200),
//! LOOP_BENCH_PGBENCH_SCALE (1). Writes target/bench/gifts.json and prints a
//! markdown table. After the load it checks that the ledger reconciles.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use loop_platform::auth::Role;
use loop_platform::bench::{Figure, env_usize, percentile};
use loop_platform::testing;
use loop_proto::wallet::v1 as pb;
use loop_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use loop_testkit::Sandbox;
use loop_wallet::payments::{TestProvider, TestReceipt};
use tonic::transport::Channel;
use uuid::Uuid;

struct Phase {
    gifts_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    gifts: usize,
    errors: usize,
}

struct Pgbench {
    tps: f64,
    latency_ms: f64,
}

fn psql(sql: &str) {
    let status = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-qc",
            sql,
        ])
        .status()
        .expect("psql");
    assert!(status.success(), "psql {sql}");
}

/// `pgbench -i` into a throwaway database, then TPC-B for `seconds` with `clients`.
fn pgbench(clients: usize, seconds: usize, scale: usize) -> Pgbench {
    let db = testing::unique("pgbench_wallet");
    psql(&format!("CREATE DATABASE {db}"));
    let init = Command::new("pgbench")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-i",
            "-q",
            "-s",
            &scale.to_string(),
            &db,
        ])
        .output()
        .expect("pgbench -i");
    assert!(
        init.status.success(),
        "pgbench -i: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    eprintln!("  pgbench -c {clients} -j 2 -T {seconds} (scale {scale})...");
    let run = Command::new("pgbench")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            &db,
        ])
        .output()
        .expect("pgbench");
    psql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "pgbench: {out} {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let number_after = |prefix: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no `{prefix}` in pgbench output:\n{out}"))
    };
    Pgbench {
        tps: number_after("tps = "),
        latency_ms: number_after("latency average = "),
    }
}

struct Target {
    creator: String,
    room: String,
}

async fn run_phase(
    clients: &[WalletServiceClient<Channel>],
    tokens: &Arc<Vec<String>>,
    targets: Arc<Vec<Target>>,
    concurrency: usize,
    seconds: usize,
    label: &str,
) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let client = clients[t % clients.len()].clone();
        let (tokens, targets, stop) = (tokens.clone(), targets.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut i = t;
            while !stop.load(Ordering::Relaxed) {
                i = i.wrapping_add(7919);
                let target = &targets[i % targets.len()];
                let req = loop_platform::grpc::request(
                    pb::SendGiftRequest {
                        idempotency_key: format!("bench-{}", Uuid::now_v7()),
                        gift_id: "rose".into(),
                        recipient_id: target.creator.clone(),
                        target: Some(pb::send_gift_request::Target::LiveRoomId(
                            target.room.clone(),
                        )),
                        count: 1,
                    },
                    Some(&tokens[i % tokens.len()]),
                    Duration::from_secs(10),
                );
                let at = Instant::now();
                match client.clone().send_gift(req).await {
                    Ok(_) => latencies.push(at.elapsed().as_secs_f64() * 1000.0),
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let progress = tokio::spawn({
        let stop = stop.clone();
        let label = label.to_owned();
        async move {
            for s in 1..=seconds {
                tokio::time::sleep(Duration::from_secs(1)).await;
                eprint!("\r  {label}: {s}/{seconds} s");
            }
            stop.store(true, Ordering::Relaxed);
            eprintln!();
        }
    });
    progress.await.expect("progress");
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.expect("task");
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    Phase {
        gifts_per_sec: all.len() as f64 / elapsed,
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        gifts: all.len(),
        errors,
    }
}

/// The bench's knobs, from the environment.
struct Knobs {
    concurrency: usize,
    seconds: usize,
    viewers: usize,
    creators: usize,
    scale: usize,
}

impl Knobs {
    fn from_env() -> Self {
        Self {
            concurrency: env_usize("LOOP_BENCH_CONCURRENCY", 32),
            seconds: env_usize("LOOP_BENCH_SECONDS", 15),
            viewers: env_usize("LOOP_BENCH_VIEWERS", 2000),
            creators: env_usize("LOOP_BENCH_CREATORS", 200),
            scale: env_usize("LOOP_BENCH_PGBENCH_SCALE", 1),
        }
    }
}

/// Content and the wallet in process, with throwaway databases.
struct Bench {
    knobs: Knobs,
    sandbox: Sandbox,
    clients: Vec<WalletServiceClient<Channel>>,
    keys: loop_platform::testing::TestKeys,
}

impl Bench {
    fn token(&self, subject: &str, role: Role) -> String {
        self.keys.issue(subject, role, Duration::from_secs(3600))
    }
}

/// Viewers holding coins and the rooms they gift to.
struct Audience {
    tokens: Arc<Vec<String>>,
    /// One creator's room: every gift to ONE hot creator.
    hot: Arc<Vec<Target>>,
    /// The other creators' rooms.
    spread: Arc<Vec<Target>>,
}

/// What the run measured.
struct Measured {
    pgbench: Pgbench,
    hot: Phase,
    spread: Option<Phase>,
    drain_secs: f64,
}

#[tokio::main]
async fn main() {
    let knobs = Knobs::from_env();
    eprintln!(
        "gift bench: {} concurrent clients, {} s per phase, {} viewers, {} creators",
        knobs.concurrency, knobs.seconds, knobs.viewers, knobs.creators
    );
    let bench = start(knobs).await;
    let audience = seed(&bench).await;
    let measured = measure(&bench, audience).await;
    let knobs = bench.knobs;
    drop(bench.sandbox); // stops the services before the load average is read
    report(&knobs, &measured);
}

/// Content and the wallet, serving, and four client connections to the wallet.
async fn start(knobs: Knobs) -> Bench {
    let connections = u32::try_from(knobs.concurrency).unwrap_or(32).clamp(4, 64);
    let sandbox = Sandbox::builder()
        .name("giftbench")
        .content_with(|c| {
            c.bootstrap_admin.password = loop_platform::config::Secret::new(String::new());
        })
        .wallet_with(|c| {
            c.database.max_connections = connections;
            // The production poll interval: the outbox drain time is a figure.
            c.outbox.poll_interval_ms = loop_wallet::Config::default().outbox.poll_interval_ms;
        })
        .start()
        .await;
    let clients = (0..4)
        .map(|_| WalletServiceClient::new(sandbox.wallet().channel()))
        .collect();
    Bench {
        knobs,
        sandbox,
        clients,
        keys: loop_platform::testing::TestKeys,
    }
}

/// Signs up the viewers and creators, opens a room per creator, and has
/// every viewer buy 10,000 coins.
async fn seed(bench: &Bench) -> Audience {
    let Knobs {
        viewers, creators, ..
    } = bench.knobs;
    let started = Instant::now();
    let users = bench.sandbox.content_fixture();
    let viewer_ids = users.seed(viewers, "1990-01-01", Role::Viewer).await;
    let creator_ids = users
        .seed(creators.max(1), "1990-01-01", Role::Creator)
        .await;
    let mut rooms: Vec<Target> = futures::stream::iter(creator_ids)
        .map(|creator| {
            let users = users.clone();
            async move {
                let room = users.go_live(&creator, "bench").await;
                Target { creator, room }
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let tokens: Arc<Vec<String>> = Arc::new(
        viewer_ids
            .iter()
            .map(|v| bench.token(v, Role::Viewer))
            .collect(),
    );
    buy_coins(bench, &tokens).await;
    eprintln!(
        "  seeded {viewers} viewers with 10,000 coins and {} open rooms ({:.1}s)",
        rooms.len(),
        started.elapsed().as_secs_f64()
    );
    let hot = Arc::new(vec![rooms.remove(0)]);
    Audience {
        tokens,
        hot,
        spread: Arc::new(rooms),
    }
}

/// Every viewer (by token) buys the 10,000-coin package with a signed test receipt.
async fn buy_coins(bench: &Bench, tokens: &[String]) {
    let receipts = TestProvider::new(bench.sandbox.wallet().config.payments.test_secret.expose());
    let bought = futures::stream::iter(tokens.iter().cloned().enumerate())
        .map(|(i, t)| {
            let mut c = bench.clients[i % bench.clients.len()].clone();
            let receipt = receipts.sign(&TestReceipt {
                receipt_id: Uuid::now_v7().to_string(),
                product_id: "loop.coins_10000".into(),
                amount_cents: 8999,
            });
            async move {
                c.purchase_coins(loop_platform::grpc::request(
                    pb::PurchaseCoinsRequest {
                        idempotency_key: format!("bench-buy-{}", Uuid::now_v7()),
                        package_id: "coins_10000".into(),
                        receipt: Some(receipt),
                    },
                    Some(&t),
                    Duration::from_secs(10),
                ))
                .await
                .is_ok()
            }
        })
        .buffer_unordered(bench.knobs.concurrency)
        .filter(|ok| futures::future::ready(*ok))
        .count()
        .await;
    assert_eq!(bought, tokens.len(), "every viewer bought coins");
}

/// A warm-up, then pgbench, the hot creator and the spread, each for
/// `seconds`; then the books must still balance once the relay caught up.
async fn measure(bench: &Bench, audience: Audience) -> Measured {
    let Knobs {
        concurrency,
        seconds,
        scale,
        ..
    } = bench.knobs;
    let Audience {
        tokens,
        hot,
        spread,
    } = audience;
    let clients = &bench.clients;
    // Warm up (connections, caches, plans).
    run_phase(clients, &tokens, hot.clone(), concurrency, 2, "warm-up").await;
    // The broker working off the warm-up's events would slow the baseline.
    let outbox = loop_platform::db::connect(&bench.sandbox.wallet().config.database)
        .await
        .expect("wallet db");
    loop_platform::bench::outbox_drained(&outbox).await;
    let pgbench = tokio::task::spawn_blocking(move || pgbench(concurrency, seconds, scale))
        .await
        .expect("pgbench");
    let hot = run_phase(
        clients,
        &tokens,
        hot,
        concurrency,
        seconds,
        "one hot creator",
    )
    .await;
    let spread = if spread.is_empty() {
        None
    } else {
        loop_platform::bench::outbox_drained(&outbox).await;
        let label = "spread over creators";
        Some(run_phase(clients, &tokens, spread, concurrency, seconds, label).await)
    };
    Measured {
        pgbench,
        hot,
        spread,
        drain_secs: settle(bench).await,
    }
}

/// Waits until the relay has published every gift's event (returns how long
/// that took) and checks that the ledger reconciles.
async fn settle(bench: &Bench) -> f64 {
    let database = &bench.sandbox.wallet().config.database;
    let pool = sqlx::PgPool::connect(database.url.expose())
        .await
        .expect("wallet db");
    let drain_started = Instant::now();
    testing::wait_for("outbox drained", Duration::from_secs(600), || {
        let pool = pool.clone();
        async move {
            let n: i64 =
                sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    .fetch_one(&pool)
                    .await
                    .ok()?;
            (n == 0).then_some(())
        }
    })
    .await;
    let drain_secs = drain_started.elapsed().as_secs_f64();
    let report = loop_wallet::reconcile::reconcile(&pool, 10)
        .await
        .expect("reconcile");
    assert!(report.consistent, "{report:#?}");
    drain_secs
}

/// The markdown table, target/bench/gifts.json and the figures checked
/// against their floors.
fn report(knobs: &Knobs, m: &Measured) {
    let Knobs {
        concurrency,
        seconds,
        viewers,
        creators,
        scale,
    } = *knobs;
    let base = &m.pgbench;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut rows = vec![("one hot creator", &m.hot)];
    if let Some(s) = &m.spread {
        rows.push(("spread over creators", s));
    }
    print_table(knobs, base, &rows, m.drain_secs, load.trim());
    let phase_json = |p: &Phase| {
        serde_json::json!({
            "gifts_per_sec": p.gifts_per_sec, "gifts": p.gifts, "errors": p.errors,
            "p50_ms": p.p50_ms, "p99_ms": p.p99_ms,
            "ratio_to_pgbench_tps": p.gifts_per_sec / base.tps,
        })
    };
    let json = serde_json::json!({
        "concurrency": concurrency, "seconds": seconds, "viewers": viewers, "creators": creators,
        "pgbench": {"scale": scale, "tps": base.tps, "latency_average_ms": base.latency_ms},
        "hot_creator": phase_json(&m.hot),
        "spread": m.spread.as_ref().map(phase_json),
        "outbox_drain_seconds": m.drain_secs,
        "loadavg": load.trim(),
    });
    let mut figures = Vec::new();
    for (name, p) in &rows {
        figures.push(
            Figure::new(format!("gifts/s, {name}"), p.gifts_per_sec, "/s")
                .against(
                    format!("pgbench TPC-B tps (scale {scale}, -c {concurrency})"),
                    base.tps,
                )
                .at_least(1.0),
        );
        figures.push(
            Figure::new(format!("gift latency p50, {name}"), p.p50_ms, "ms")
                .against("pgbench average latency", base.latency_ms),
        );
        figures.push(Figure::new(
            format!("gift latency p99, {name}"),
            p.p99_ms,
            "ms",
        ));
    }
    loop_platform::bench::report(
        "gifts",
        &format!("{concurrency} concurrent gRPC clients, {seconds} s per phase, {viewers} viewers, {creators} creators"),
        &figures,
        json,
    )
    .expect("write report");
}

fn print_table(
    knobs: &Knobs,
    base: &Pgbench,
    rows: &[(&str, &Phase)],
    drain_secs: f64,
    load: &str,
) {
    let Knobs {
        concurrency,
        seconds,
        scale,
        ..
    } = *knobs;
    println!(
        "\n| figure ({concurrency} concurrent clients, {seconds} s) | value | pgbench TPC-B, same run (scale {scale}, -c {concurrency}) | ratio |"
    );
    println!("|---|---|---|---|");
    for (name, p) in rows {
        println!(
            "| gifts/s, {name} | {:.0} ({} gifts, {} errors) | {:.0} tps | {:.2}x |",
            p.gifts_per_sec,
            p.gifts,
            p.errors,
            base.tps,
            p.gifts_per_sec / base.tps
        );
        println!(
            "| latency p50 / p99, {name} | {:.2} / {:.2} ms | latency average {:.2} ms | p50 {:.2}x |",
            p.p50_ms,
            p.p99_ms,
            base.latency_ms,
            p.p50_ms / base.latency_ms
        );
    }
    println!("| outbox drained after the load | {drain_secs:.1} s | | |");
    println!("\nLedger reconciled after the run: consistent. Load average at the end: {load}");
}
