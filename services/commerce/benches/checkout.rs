//! Checkout throughput on ONE hot SKU, beside `pgbench` TPC-B measured in
//! the same run on the same PostgreSQL with the same concurrency (shared,
//! noisy machines: the ratio is what to compare):
//!
//! 1. checkouts/s and p50/p99 latency: `PlaceOrder` (gRPC, end to end) of
//!    one unit of the same SKU by many buyers at once: every checkout takes
//!    its unit from that one row (the stock is never oversold);
//! 2. paid checkouts/s: `PlaceOrder` then `PayOrder` (a card receipt held
//!    in a wallet escrow), the whole checkout a buyer sees;
//! 3. the baseline: `pgbench -i` into a throwaway database, then
//!    `pgbench -c <concurrency> -j 2 -T <seconds>` (TPC-B-like: at scale 1
//!    every transaction also updates one hot branch row).
//!
//! Afterwards the units sold plus the stock left must equal the stock at
//! the start, and the wallet's ledger must reconcile.
//!
//! Run: `cargo bench -p loop-commerce --bench checkout` (needs the local
//! PostgreSQL, Redis and broker: `make deps`; pgbench from postgresql-client).
//! Knobs: LOOP_BENCH_CONCURRENCY (32), LOOP_BENCH_SECONDS (15),
//! LOOP_BENCH_BUYERS (2000), LOOP_BENCH_PGBENCH_SCALE (1). Writes
//! target/bench/checkout.json and prints a markdown table.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use loop_platform::auth::Role;
use loop_platform::bench::{Figure, env_usize, percentile};
use loop_platform::testing::{self, TestKeys};
use loop_proto::commerce::v1 as pb;
use loop_proto::commerce::v1::commerce_service_client::CommerceServiceClient;
use loop_testkit::Sandbox;
use loop_wallet::payments::{TestProvider, TestReceipt};
use tonic::transport::Channel;
use uuid::Uuid;

const STOCK: i64 = 1_000_000;
const PRICE: i64 = 1_999;

struct Phase {
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    done: usize,
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
    let db = testing::unique("pgbench_commerce");
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

/// The shop, its hot SKU and the buyers' tokens.
struct World {
    clients: Vec<CommerceServiceClient<Channel>>,
    shop: String,
    sku: String,
    product: String,
    buyers: Vec<(String, String)>,
    receipts: TestProvider,
    admin: String,
}

fn request<T>(msg: T, token: &str) -> tonic::Request<T> {
    loop_platform::grpc::request(msg, Some(token), Duration::from_secs(10))
}

/// One checkout (and its payment when `pay`): Ok(()) or the error.
async fn checkout(w: &World, i: usize, pay: bool) -> Result<(), tonic::Status> {
    let mut c = w.clients[i % w.clients.len()].clone();
    let (buyer, token) = &w.buyers[i % w.buyers.len()];
    let order = c
        .place_order(request(
            pb::PlaceOrderRequest {
                idempotency_key: format!("bench-{}", Uuid::now_v7()),
                shop_id: w.shop.clone(),
                items: vec![pb::OrderLine {
                    sku_id: w.sku.clone(),
                    quantity: 1,
                }],
            },
            token,
        ))
        .await?
        .into_inner()
        .order
        .ok_or_else(|| tonic::Status::internal("no order"))?;
    if pay {
        let receipt = w.receipts.sign(&TestReceipt {
            receipt_id: Uuid::now_v7().to_string(),
            product_id: format!("commerce:order:{}", order.order_id),
            amount_cents: order.total_cents,
        });
        c.pay_order(request(
            pb::PayOrderRequest {
                idempotency_key: format!("bench-pay-{buyer}-{}", Uuid::now_v7()),
                order_id: order.order_id,
                receipt: Some(receipt),
            },
            token,
        ))
        .await?;
    }
    Ok(())
}

async fn run_phase(
    world: &Arc<World>,
    concurrency: usize,
    seconds: usize,
    pay: bool,
    label: &str,
) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let (world, stop) = (world.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut i = t;
            while !stop.load(Ordering::Relaxed) {
                i = i.wrapping_add(7919);
                let at = Instant::now();
                match checkout(&world, i, pay).await {
                    Ok(()) => latencies.push(at.elapsed().as_secs_f64() * 1000.0),
                    Err(err) => {
                        if errors == 0 {
                            eprintln!("\n  first error: {err:?}");
                        }
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    for s in 1..=seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        eprint!("\r  {label}: {s}/{seconds} s");
    }
    stop.store(true, Ordering::Relaxed);
    eprintln!();
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
        per_sec: all.len() as f64 / elapsed,
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        done: all.len(),
        errors,
    }
}

async fn seed(sandbox: &Sandbox, buyers: usize) -> World {
    let keys = TestKeys;
    let token = |s: &str, r: Role| keys.issue(s, r, Duration::from_secs(7200));
    let clients: Vec<_> = (0..4)
        .map(|_| CommerceServiceClient::new(sandbox.commerce().channel()))
        .collect();
    let mut c = clients[0].clone();
    let seller = Uuid::now_v7().to_string();
    let admin = Uuid::now_v7().to_string();
    let shop = c
        .open_shop(request(
            pb::OpenShopRequest {
                name: "Hot shop".into(),
                description: String::new(),
            },
            &token(&seller, Role::Creator),
        ))
        .await
        .expect("shop")
        .into_inner()
        .shop
        .expect("shop");
    let product = c
        .create_product(request(
            pb::CreateProductRequest {
                title: "Hot item".into(),
                description: String::new(),
                category: "home".into(),
                image_urls: vec!["https://cdn.example/hot.jpg".into()],
                skus: vec![pb::SkuInput {
                    sku_id: String::new(),
                    name: "One size".into(),
                    price_cents: PRICE,
                    stock: STOCK,
                }],
            },
            &token(&seller, Role::Creator),
        ))
        .await
        .expect("product")
        .into_inner()
        .product
        .expect("product");
    c.review_product(request(
        pb::ReviewProductRequest {
            product_id: product.product_id.clone(),
            expected_version: product.version,
            approve: true,
            reason: String::new(),
        },
        &token(&admin, Role::Admin),
    ))
    .await
    .expect("approve");
    World {
        clients,
        shop: shop.shop_id,
        sku: product.skus[0].sku_id.clone(),
        product: product.product_id,
        buyers: (0..buyers)
            .map(|_| {
                let b = Uuid::now_v7().to_string();
                let t = token(&b, Role::Viewer);
                (b, t)
            })
            .collect(),
        receipts: TestProvider::new(sandbox.wallet().config.payments.test_secret.expose()),
        admin: token(&admin, Role::Admin),
    }
}

/// Units in orders not cancelled plus the stock left must be the stock at
/// the start; the wallet must reconcile.
async fn check(sandbox: &Sandbox, world: &World) -> (i64, i64) {
    let mut c = world.clients[0].clone();
    let product = c
        .get_product(request(
            pb::GetProductRequest {
                product_id: world.product.clone(),
                version: 0,
            },
            &world.admin,
        ))
        .await
        .expect("product")
        .into_inner()
        .product
        .expect("product");
    let left = product.skus[0].stock;
    let pool = sqlx::PgPool::connect(sandbox.commerce().config.database.url.expose())
        .await
        .expect("commerce db");
    let sold: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(i.quantity), 0)::bigint FROM order_items i JOIN orders o USING (order_id) WHERE o.status <> 8",
    )
    .fetch_one(&pool)
    .await
    .expect("sold");
    pool.close().await;
    assert_eq!(
        sold + left,
        STOCK,
        "units sold + stock left = the stock at the start"
    );
    let wallet = sqlx::PgPool::connect(sandbox.wallet().config.database.url.expose())
        .await
        .expect("wallet db");
    let report = loop_wallet::reconcile::reconcile(&wallet, 10)
        .await
        .expect("reconcile");
    assert!(report.consistent, "{report:#?}");
    wallet.close().await;
    (sold, left)
}

#[tokio::main]
async fn main() {
    let concurrency = env_usize("LOOP_BENCH_CONCURRENCY", 32);
    let seconds = env_usize("LOOP_BENCH_SECONDS", 15);
    let buyers = env_usize("LOOP_BENCH_BUYERS", 2000);
    let scale = env_usize("LOOP_BENCH_PGBENCH_SCALE", 1);
    eprintln!(
        "checkout bench: {concurrency} concurrent clients, {seconds} s per phase, {buyers} buyers, one hot SKU"
    );
    let connections = u32::try_from(concurrency).unwrap_or(32).clamp(4, 64);
    let sandbox = Sandbox::builder()
        .name("checkoutbench")
        .wallet_with(move |c| c.database.max_connections = connections)
        .commerce_with(move |c| {
            c.database.max_connections = connections;
            // Many open orders per buyer: the cap is not what is measured.
            c.orders.max_unpaid_per_buyer = 100;
            c.outbox.poll_interval_ms = loop_commerce::Config::default().outbox.poll_interval_ms;
            c.jobs.sweep_interval_ms = loop_commerce::Config::default().jobs.sweep_interval_ms;
        })
        .start()
        .await;
    let world = Arc::new(seed(&sandbox, buyers).await);
    // Between phases, the relays publish what the last one wrote: the broker
    // working it off would slow the next phase (or the baseline) down.
    let outboxes = [
        loop_platform::db::connect(&sandbox.commerce().config.database)
            .await
            .expect("commerce db"),
        loop_platform::db::connect(&sandbox.wallet().config.database)
            .await
            .expect("wallet db"),
    ];
    let drained = || async {
        let mut waited = 0.0;
        for pool in &outboxes {
            waited += loop_platform::bench::outbox_drained(pool).await;
        }
        eprintln!("  (events published: waited {waited:.1}s for the relays)");
        waited
    };
    run_phase(&world, concurrency, 2, false, "warm-up").await;
    drained().await;
    let base = tokio::task::spawn_blocking(move || pgbench(concurrency, seconds, scale))
        .await
        .expect("pgbench");
    let hot = run_phase(
        &world,
        concurrency,
        seconds,
        false,
        "checkouts, one hot SKU",
    )
    .await;
    let hot_drain_secs = drained().await;
    let paid = run_phase(
        &world,
        concurrency,
        seconds,
        true,
        "paid checkouts, one hot SKU",
    )
    .await;
    let paid_drain_secs = drained().await;
    let (sold, left) = check(&sandbox, &world).await;
    drop(sandbox);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let phase_json = |p: &Phase| {
        serde_json::json!({
            "per_sec": p.per_sec, "done": p.done, "errors": p.errors,
            "p50_ms": p.p50_ms, "p99_ms": p.p99_ms,
            "ratio_to_pgbench_tps": p.per_sec / base.tps,
        })
    };
    let details = serde_json::json!({
        "concurrency": concurrency, "seconds": seconds, "buyers": buyers,
        "pgbench": {"scale": scale, "tps": base.tps, "latency_average_ms": base.latency_ms},
        "checkout": phase_json(&hot),
        "paid_checkout": phase_json(&paid),
        "units_sold": sold, "stock_left": left,
        "relay_drain_secs_after": {"checkout": hot_drain_secs, "paid_checkout": paid_drain_secs},
        "loadavg": load.trim(),
    });
    let pg = format!("pgbench TPC-B tps (scale {scale}, -c {concurrency})");
    let figures = vec![
        Figure::new("checkouts/s, one hot SKU (PlaceOrder)", hot.per_sec, "/s")
            .against(pg.clone(), base.tps)
            .at_least(1.0),
        Figure::new("checkout latency p50", hot.p50_ms, "ms")
            .against("pgbench average latency", base.latency_ms),
        Figure::new("checkout latency p99", hot.p99_ms, "ms"),
        Figure::new(
            "paid checkouts/s, one hot SKU (PlaceOrder + PayOrder)",
            paid.per_sec,
            "/s",
        )
        .against(pg, base.tps),
        Figure::new("paid checkout latency p99", paid.p99_ms, "ms"),
    ];
    loop_platform::bench::report(
        "checkout",
        &format!(
            "{concurrency} concurrent gRPC clients, {seconds} s per phase, {buyers} buyers, one SKU"
        ),
        &figures,
        details,
    )
    .expect("write report");
}
