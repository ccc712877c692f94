//! Auction benchmark, each figure beside a baseline measured in the same run
//! (these machines are noisy, so ratios are what to compare):
//!
//! 1. Auction latency (`FillAdSlots` work in-process: targeting index, one
//!    Redis script for caps/pacing/budgets/GSP, token signing) with
//!    LOOP_BENCH_AD_GROUPS (default 100 000) active ad groups, vs. a plain
//!    Redis GET round trip. Target: p99 <= 5x the GET p99.
//! 2. The targeting index alone (no Redis), to show it is in-memory.
//! 3. Auctions per second on one core (a current-thread runtime, 16 in flight).
//! 4. The same auction through gRPC (what feed-ranking sees), vs. the GET.
//!
//! Run: `cargo bench -p loop-ads-auction --bench auction` (needs the local
//! PostgreSQL, Redis and broker: `make deps`). Writes
//! target/bench/auction.json and prints a markdown table.

use loop_platform::bench::Rng;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use loop_ads_auction::index::{self, Ask, Index};
use loop_ads_auction::serving::Server;
use loop_ads_auction::{Config, run};
use loop_platform::auth::Role;
use loop_platform::bench::{Figure, Stats, env_usize, stats};
use loop_platform::cache::Redis;
use loop_platform::testing::{self, TestDb};
use loop_proto::ads_auction::v1 as pb;
use loop_proto::ads_auction::v1::ads_auction_service_client::AdsAuctionServiceClient;
use loop_proto::common::v1 as common;
use prost::Message;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const COUNTRIES: [&str; 20] = [
    "US", "GB", "DE", "FR", "BR", "IN", "JP", "MX", "ES", "IT", "CA", "AU", "KR", "ID", "TR", "NL",
    "SE", "PL", "AR", "ZA",
];
const CATEGORIES: usize = 50;

fn targeting(rng: &mut Rng) -> pb::Targeting {
    let mut t = pb::Targeting::default();
    if rng.chance(70) {
        let n = 1 + rng.below(3);
        t.countries = (0..n)
            .map(|_| COUNTRIES[rng.below(COUNTRIES.len())].to_string())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
    }
    if rng.chance(40) {
        let from = 1 + rng.below(5);
        t.age_bands = (from..=(from + 1 + rng.below(2)).min(6))
            .map(|a| a as i32)
            .collect();
    }
    if rng.chance(30) {
        t.device_os = vec![1 + rng.below(3) as i32];
    }
    if rng.chance(25) {
        t.interest_categories = (0..1 + rng.below(3))
            .map(|_| format!("cat{}", rng.below(CATEGORIES)))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
    }
    if rng.chance(5) {
        t.behaviors = vec![pb::Behavior {
            kind: pb::BehaviorKind::EngagedWithHashtag as i32,
            value: format!("tag{}", rng.below(500)),
            lookback_days: 7,
        }];
    }
    t
}

/// Inserts `n` active ad groups (two per campaign, one or two creatives each).
async fn seed(pool: &sqlx::PgPool, n: usize) {
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    let advertiser = Uuid::now_v7();
    let started = Instant::now();
    for chunk in 0..n.div_ceil(10_000) {
        let size = 10_000.min(n - chunk * 10_000);
        let campaigns: Vec<Uuid> = (0..size.div_ceil(2)).map(|_| Uuid::now_v7()).collect();
        sqlx::query(
            "INSERT INTO campaigns (id, advertiser_id, name, objective, total_budget_cents, status) \
             SELECT id, $2, 'bench', 2, 1000000000, 1 FROM UNNEST($1::uuid[]) AS t(id)",
        )
        .bind(&campaigns)
        .bind(advertiser)
        .execute(pool)
        .await
        .expect("campaigns");
        let mut ids = Vec::with_capacity(size);
        let mut camp = Vec::with_capacity(size);
        let mut bid_types = Vec::with_capacity(size);
        let mut bids = Vec::with_capacity(size);
        let mut targetings = Vec::with_capacity(size);
        for i in 0..size {
            ids.push(Uuid::now_v7());
            camp.push(campaigns[i / 2]);
            let bt = [1i16, 1, 2, 3, 4][rng.below(5)];
            bid_types.push(bt);
            bids.push(match bt {
                2 | 3 => 5 + rng.below(100) as i64,
                _ => 50 + rng.below(2000) as i64,
            });
            targetings.push(targeting(&mut rng).encode_to_vec());
        }
        sqlx::query(
            "INSERT INTO ad_groups (id, campaign_id, advertiser_id, name, format, daily_budget_cents, bid_type, \
             bid_cents, starts_at, targeting, status) \
             SELECT id, c, $3, 'bench', 1, 100000000, bt, b, now() - interval '1 day', t, 1 \
             FROM UNNEST($1::uuid[], $2::uuid[], $4::int2[], $5::int8[], $6::bytea[]) AS x(id, c, bt, b, t)",
        )
        .bind(&ids)
        .bind(&camp)
        .bind(advertiser)
        .bind(&bid_types)
        .bind(&bids)
        .bind(&targetings)
        .execute(pool)
        .await
        .expect("ad groups");
        sqlx::query(
            "INSERT INTO creatives (id, ad_group_id, campaign_id, advertiser_id, format, video_id, display_name, \
             call_to_action, landing_url, status) \
             SELECT gen_random_uuid(), g, c, $3, 1, gen_random_uuid(), 'Bench', 1, 'https://bench.test', 1 \
             FROM UNNEST($1::uuid[], $2::uuid[]) AS x(g, c), generate_series(1, 1 + (random() < 0.3)::int)",
        )
        .bind(&ids)
        .bind(&camp)
        .bind(advertiser)
        .execute(pool)
        .await
        .expect("creatives");
        eprint!(
            "\r  seeding ad groups: {}/{n}",
            (chunk * 10_000 + size).min(n)
        );
    }
    eprintln!(" ({:.1}s)", started.elapsed().as_secs_f64());
}

fn request(rng: &mut Rng, i: usize) -> pb::FillAdSlotsRequest {
    pb::FillAdSlotsRequest {
        user_id: Uuid::now_v7().to_string(),
        context: Some(common::ClientContext {
            country: COUNTRIES[rng.below(COUNTRIES.len())].into(),
            language: "en".into(),
            device_os: 1 + rng.below(3) as i32,
            app_version: String::new(),
        }),
        profile: Some(pb::UserAdProfile {
            age_band: 1 + rng.below(6) as i32,
            gender: rng.below(3) as i32,
            interests: (0..5)
                .map(|_| pb::InterestWeight {
                    category: format!("cat{}", rng.below(CATEGORIES)),
                    weight: 0.5,
                })
                .collect(),
            recent_behaviors: Vec::new(),
        }),
        slot_positions: vec![3, 10],
        app_open: false,
        request_id: format!("bench-{i}"),
        debug: false,
        exclude_ad_ids: Vec::new(),
    }
}

/// The sizes of one run (environment overrides).
#[derive(Clone, Copy)]
struct Sizes {
    ad_groups: usize,
    requests: usize,
}

/// What the in-process phases measured.
struct InProcess {
    get: Stats,
    plan: Stats,
    auction: Stats,
    filled: f64,
}

fn main() {
    let sizes = Sizes {
        ad_groups: env_usize("LOOP_BENCH_AD_GROUPS", 100_000),
        requests: env_usize("LOOP_BENCH_REQUESTS", 3_000),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut report = serde_json::json!({});
    let (config, db) = rt.block_on(setup(sizes));
    let config = Arc::new(config);
    let (index, server, redis) = rt.block_on(load_index(&config, &mut report));
    let measured = rt.block_on(in_process(&index, &server, &redis, sizes, &mut report));
    let per_core = per_core(&server, sizes.requests);
    let grpc = rt.block_on(through_grpc(&config, sizes.requests));
    write_report(sizes, &measured, per_core, &grpc, report);
    rt.block_on(testing::clear_redis(&config.redis));
    drop(db);
}

/// A fresh database, migrated and seeded, and the service's configuration.
async fn setup(sizes: Sizes) -> (Config, TestDb) {
    let db = TestDb::create("adsbench").await;
    let prefix = testing::unique("adsbench");
    let mut config = Config::default();
    config.database = db.config.clone();
    config.redis = testing::redis_config(&prefix);
    config.kafka = testing::kafka_config(&prefix);
    config.consumer.billing_group_id = format!("{prefix}-billing");
    config.consumer.content_group_id = format!("{prefix}-content");
    config.auction.reserve_ecpm_millicents = 10_000;
    config.pacing.burst_fraction = 1.0;
    // The auction alone: no wallet service runs beside the benchmark.
    config.wallet.mode = "unmetered".into();
    let pool = loop_platform::db::connect(&config.database)
        .await
        .expect("pool");
    loop_ads_auction::MIGRATOR
        .run(&pool)
        .await
        .expect("migrate");
    eprintln!(
        "auction bench: {} ad groups, {} auctions",
        sizes.ad_groups, sizes.requests
    );
    seed(&pool, sizes.ad_groups).await;
    (config, db)
}

/// Loads the targeting index (timed) and builds the in-process server.
async fn load_index(
    config: &Arc<Config>,
    report: &mut serde_json::Value,
) -> (Arc<Index>, Server, Redis) {
    let pool = loop_platform::db::connect(&config.database)
        .await
        .expect("pool");
    let index = Arc::new(Index::new(config.clone()));
    let started = Instant::now();
    index::load_full(&pool, &index).await.expect("load index");
    let load_s = started.elapsed().as_secs_f64();
    eprintln!(
        "  index of {} ad groups loaded in {load_s:.1}s",
        index.len()
    );
    report["index_load_seconds"] = load_s.into();
    report["indexed_ad_groups"] = index.len().into();
    let redis = Redis::connect(&config.redis).await.expect("redis");
    let server = Server::new(index.clone(), redis.clone(), config.clone());
    (index, server, redis)
}

/// The in-process phases in order, on one request stream: warm-up, the
/// Redis GET baseline, the index alone, then whole auctions.
async fn in_process(
    index: &Index,
    server: &Server,
    redis: &Redis,
    sizes: Sizes,
    report: &mut serde_json::Value,
) -> InProcess {
    let probe = set_probe(redis).await;
    // Warm up connections and code paths.
    let mut rng = Rng(42);
    for i in 0..200 {
        server.fill(request(&mut rng, i)).await.expect("warm-up");
    }
    let get = redis_get(redis, &probe, sizes.requests).await;
    let plan = index_alone(index, &mut rng, sizes.requests, report);
    let (auction, filled) = auctions(server, &mut rng, sizes.requests, report).await;
    InProcess {
        get,
        plan,
        auction,
        filled,
    }
}

/// The key the GET baseline reads, set before anything is measured.
async fn set_probe(redis: &Redis) -> String {
    let mut conn = redis.conn.clone();
    let probe = redis.key("bench:probe");
    let _: () = redis::cmd("SET")
        .arg(&probe)
        .arg("x")
        .query_async(&mut conn)
        .await
        .expect("set");
    probe
}

/// The baseline: one Redis GET round trip.
async fn redis_get(redis: &Redis, probe: &str, requests: usize) -> Stats {
    let mut conn = redis.conn.clone();
    let mut get_ms = Vec::with_capacity(requests);
    for _ in 0..requests {
        let t = Instant::now();
        let _: Option<String> = redis::cmd("GET")
            .arg(probe)
            .query_async(&mut conn)
            .await
            .expect("get");
        get_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    stats(get_ms)
}

/// The viewer a request describes, as the server would build it.
fn viewer_of(req: &pb::FillAdSlotsRequest) -> index::Viewer {
    let ctx = req.context.clone().unwrap_or_default();
    let profile = req.profile.clone().unwrap_or_default();
    index::Viewer {
        age_band: profile.age_band,
        gender: profile.gender,
        country: ctx.country.clone(),
        language: "en".into(),
        device_os: ctx.device_os,
        interests: profile
            .interests
            .iter()
            .map(|i| i.category.clone())
            .collect(),
        behaviors: Vec::new(),
        segment: loop_ads_auction::predict::segment_index(profile.age_band, ctx.device_os),
    }
}

/// The targeting index alone (no Redis).
fn index_alone(
    index: &Index,
    rng: &mut Rng,
    requests: usize,
    report: &mut serde_json::Value,
) -> Stats {
    let mut plan_ms = Vec::with_capacity(requests);
    let mut eligible = 0usize;
    let exclude: HashSet<Uuid> = HashSet::new();
    for i in 0..requests {
        let viewer = viewer_of(&request(rng, i));
        let t = Instant::now();
        let plan = index.plan(&Ask {
            viewer: &viewer,
            now: chrono::Utc::now(),
            infeed_slots: 2,
            want_topview: false,
            exclude: &exclude,
            debug: false,
        });
        plan_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        eligible += plan.eligible;
    }
    report["mean_eligible_ad_groups"] = (eligible as f64 / requests as f64).into();
    stats(plan_ms)
}

/// Whole in-process auctions, with where their time went; also the mean
/// slots filled per auction.
async fn auctions(
    server: &Server,
    rng: &mut Rng,
    requests: usize,
    report: &mut serde_json::Value,
) -> (Stats, f64) {
    let mut auction_ms = Vec::with_capacity(requests);
    let mut in_plan_ms = Vec::with_capacity(requests);
    let mut script_ms = Vec::with_capacity(requests);
    let mut filled = 0usize;
    for i in 0..requests {
        let req = request(rng, i);
        let t = Instant::now();
        let (r, timings) = server.fill_timed(req).await.expect("fill");
        auction_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        in_plan_ms.push(timings.plan.as_secs_f64() * 1000.0);
        script_ms.push(timings.redis.as_secs_f64() * 1000.0);
        filled += r.slots.len();
    }
    let (in_plan, script) = (stats(in_plan_ms), stats(script_ms));
    report["auction_breakdown_ms"] = serde_json::json!({
        "index_p50": in_plan.p50, "index_p99": in_plan.p99,
        "redis_script_round_trip_p50": script.p50, "redis_script_round_trip_p99": script.p99,
    });
    eprintln!(
        "  breakdown: index p50/p99 {:.3}/{:.3} ms, script round trip p50/p99 {:.3}/{:.3} ms",
        in_plan.p50, in_plan.p99, script.p50, script.p99
    );
    (stats(auction_ms), filled as f64 / requests as f64)
}

/// Auctions per second on one core: a current-thread runtime, 16 in flight.
fn per_core(server: &Server, requests: usize) -> f64 {
    let one = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = server.clone();
    one.block_on(async move {
        let in_flight = 16;
        let per_task = requests / in_flight;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for t in 0..in_flight {
            let server = server.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng(1000 + t as u64);
                for i in 0..per_task {
                    server.fill(request(&mut rng, i)).await.expect("fill");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        (per_task * in_flight) as f64 / started.elapsed().as_secs_f64()
    })
}

/// The same auction through gRPC (what feed-ranking sees), against a
/// service started for it.
async fn through_grpc(config: &Config, requests: usize) -> Stats {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let service = tokio::spawn(run(config.clone(), listener, shutdown.clone()));
    let channel = loop_platform::grpc::channel(&format!("http://{addr}")).expect("channel");
    let client = AdsAuctionServiceClient::new(channel);
    let token = loop_platform::testing::TestKeys.issue(
        "service:feed-ranking",
        Role::Service,
        Duration::from_secs(3600),
    );
    let call = |req| loop_platform::grpc::request(req, Some(&token), Duration::from_secs(5));
    testing::wait_for("service up", Duration::from_secs(300), || {
        let mut client = client.clone();
        let req = call(request(&mut Rng(9), 0));
        async move { client.fill_ad_slots(req).await.ok() }
    })
    .await;
    let mut rng = Rng(7);
    for i in 0..200 {
        let req = call(request(&mut rng, i));
        client.clone().fill_ad_slots(req).await.expect("warm-up");
    }
    let mut ms = Vec::with_capacity(requests);
    for i in 0..requests {
        let req = call(request(&mut rng, i));
        let t = Instant::now();
        client.clone().fill_ad_slots(req).await.expect("fill");
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    shutdown.cancel();
    let _ = service.await;
    stats(ms)
}

/// Writes target/bench/auction.json and prints the table.
fn write_report(
    sizes: Sizes,
    m: &InProcess,
    per_core: f64,
    grpc: &Stats,
    mut report: serde_json::Value,
) {
    let Sizes {
        ad_groups,
        requests,
    } = sizes;
    let (get, plan, auction, filled) = (&m.get, &m.plan, &m.auction, m.filled);
    let ratio = auction.p99 / get.p99;
    report["ad_groups"] = ad_groups.into();
    report["auctions"] = requests.into();
    report["redis_get_ms"] = serde_json::json!({"p50": get.p50, "p99": get.p99});
    report["targeting_index_ms"] = serde_json::json!({"p50": plan.p50, "p99": plan.p99});
    report["auction_ms"] = serde_json::json!({"p50": auction.p50, "p99": auction.p99, "slots_filled_per_auction": filled});
    report["auction_p99_over_redis_get_p99"] = ratio.into();
    report["auctions_per_second_one_core"] = per_core.into();
    report["fill_ad_slots_grpc_ms"] = serde_json::json!({"p50": grpc.p50, "p99": grpc.p99});
    let figures = [
        Figure::new(
            "auction p99 (in-process: index + one Redis script + tokens)",
            auction.p99,
            "ms",
        )
        .against("Redis GET p99", get.p99)
        .at_most(5.0),
        Figure::new("auction p50", auction.p50, "ms").against("Redis GET p50", get.p50),
        Figure::new("targeting index alone p99 (no Redis)", plan.p99, "ms")
            .against("Redis GET p99", get.p99),
        Figure::new(
            "auctions per second, one core (16 in flight)",
            per_core,
            "/s",
        ),
        Figure::new(
            "FillAdSlots over gRPC p99 (what the ranker sees)",
            grpc.p99,
            "ms",
        )
        .against("Redis GET p99", get.p99),
        Figure::new("slots filled per auction (of 2)", filled, ""),
    ];
    loop_platform::bench::report(
        "auction",
        &format!("{ad_groups} active ad groups, {requests} auctions of 2 slots"),
        &figures,
        report,
    )
    .expect("write report");
}
