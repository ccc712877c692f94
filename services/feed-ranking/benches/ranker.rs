//! Ranker benchmarks, each beside a baseline measured in the same run
//! (these machines are noisy, so ratios are what to compare):
//!
//! 1. For You latency (gRPC, ads off) with VIDEOS videos and USERS users
//!    with learned state, vs. a plain Redis GET round trip.
//! 2. Consumer throughput: the ranker's consume-and-apply path (the
//!    service's consumer options and handler) vs. a raw rdkafka consume of
//!    the same events from the same broker. Both rates run from the first
//!    event's arrival to the last one done: joining the group (reported
//!    apart) is not throughput. Three rounds on fresh topics; the figure
//!    is the median round's (this machine's noise moves one pair by a
//!    fifth), with the lowest and highest ratios beside it.
//! 3. Freshness: an event published (as the gateway does) -> applied to the
//!    viewer's state, so their next feed reflects it.
//!
//! Run: `cargo bench -p loop-feed-ranking --bench ranker` (needs the local
//! Redis and broker: `make deps`). Sizes: LOOP_BENCH_VIDEOS (100k),
//! LOOP_BENCH_USERS (10k), LOOP_BENCH_EVENTS_PER_USER (10),
//! LOOP_BENCH_CONSUME_EVENTS (100k) x LOOP_BENCH_CONSUME_ROUNDS (3),
//! LOOP_BENCH_REQUESTS (2k).
//! Writes target/bench/ranker.json and prints a markdown table.
//!
//! The catalog is seeded through the catalog snapshot (what a replica loads
//! at start) and the users' learned state through the engagement handler
//! itself (the live apply path, without the broker), so the 100k / 10k scale
//! does not wait on the local broker's throughput; consumer throughput is
//! measured through the broker on its own event set.

use std::time::{Duration, Instant};

use loop_feed_ranking::snapshot;
use loop_feed_ranking::state::{self, UserState};
use loop_feed_ranking::{Config, learn::EngagementHandler};
use loop_platform::auth::Role;
use loop_platform::bench::{Figure, env_usize, stats};
use loop_platform::cache::Redis;
use loop_platform::kafka::{self, BatchHandler, Delivery, Producer, topics};
use loop_platform::testing;
use loop_proto::events::v1 as ev;
use loop_proto::feed_ranking::v1 as pb;
use loop_proto::feed_ranking::v1::feed_ranking_service_client::FeedRankingServiceClient;
use prost::Message;
use tokio_util::sync::CancellationToken;

// The consumer-throughput phase (a file of its own: it is half the bench).
#[path = "ranker/consume.rs"]
mod consume;

use consume::{Consumption, measure_consumption};

fn user_id(u: usize) -> String {
    format!("00000000-0000-7000-8000-{u:012}")
}

fn video_id(v: usize) -> String {
    format!("00000000-0000-7000-9000-{v:012}")
}

fn family(v: usize) -> String {
    format!("topic{}", v % 200)
}

fn video_snapshot(v: usize) -> ev::VideoSnapshot {
    ev::VideoSnapshot {
        video_id: video_id(v),
        creator_id: format!("creator{}", v % 5000),
        caption: format!("clip {v} #{}", family(v)),
        hashtags: vec![family(v)],
        sound_id: format!("sound{}", v % 3000),
        category: family(v),
        duration_ms: 15_000,
        servable: true,
        published_at: Some(prost_types::Timestamp {
            seconds: 1_790_000_000 + v as i64,
            nanos: 0,
        }),
        ..Default::default()
    }
}

/// The i-th event of user u (deterministic): views, likes and skips of
/// videos spread over the catalog.
fn engagement(u: usize, i: usize, videos: usize, at_s: i64) -> ev::EngagementEvent {
    let v = (u * 7919 + i * 104_729) % videos;
    let kinds = [
        ev::EngagementKind::View,
        ev::EngagementKind::Like,
        ev::EngagementKind::QuickSkip,
    ];
    let kind = kinds[(u + i) % 3];
    ev::EngagementEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        occurred_at: Some(prost_types::Timestamp {
            seconds: at_s,
            nanos: 0,
        }),
        user_id: user_id(u),
        video_id: video_id(v),
        creator_id: format!("creator{}", v % 5000),
        sound_id: format!("sound{}", v % 3000),
        kind: kind as i32,
        watch_ms: if kind == ev::EngagementKind::View {
            15_000
        } else {
            0
        },
        video_duration_ms: 15_000,
        hashtags: vec![family(v)],
        category: family(v),
        ..Default::default()
    }
}

/// The benchmark's sizes, from the environment (see the module docs).
struct Sizes {
    videos: usize,
    users: usize,
    events_per_user: usize,
    consume_events: usize,
    consume_rounds: usize,
    requests: usize,
}

impl Sizes {
    fn from_env() -> Self {
        Self {
            videos: env_usize("LOOP_BENCH_VIDEOS", 100_000),
            users: env_usize("LOOP_BENCH_USERS", 10_000),
            events_per_user: env_usize("LOOP_BENCH_EVENTS_PER_USER", 10),
            consume_events: env_usize("LOOP_BENCH_CONSUME_EVENTS", 100_000),
            consume_rounds: env_usize("LOOP_BENCH_CONSUME_ROUNDS", 3).max(1),
            requests: env_usize("LOOP_BENCH_REQUESTS", 2_000),
        }
    }
}

/// What every phase uses: the sizes, a fresh prefix (Redis keys, topics,
/// groups), the ranker's configuration under it, a producer and Redis.
struct Bench {
    sizes: Sizes,
    prefix: String,
    config: Config,
    producer: Producer,
    redis: Redis,
}

/// The ranker service under test, with a client and viewers' tokens.
struct Ranker {
    service: tokio::task::JoinHandle<anyhow::Result<()>>,
    shutdown: CancellationToken,
    client: FeedRankingServiceClient<tonic::transport::Channel>,
    tokens: Vec<String>,
    /// Seconds from start to the whole catalog indexed.
    index_secs: f64,
}

/// Latency samples (ms), interleaved per request.
struct Latencies {
    get_ms: Vec<f64>,
    rpc_ms: Vec<f64>,
    feed_ms: Vec<f64>,
    served_items: usize,
}

#[tokio::main]
async fn main() {
    let bench = setup(Sizes::from_env()).await;
    seed_catalog(&bench).await;
    let handlers = seed_learned_state(&bench).await;
    let consumption = measure_consumption(&bench, &handlers).await;
    let ranker = start_ranker(&bench).await;
    let mut conn = bench.redis.conn.clone();
    let latencies = measure_latency(&bench, &ranker, &mut conn).await;
    let feed_rps = measure_feed_throughput(&ranker, bench.sizes.requests).await;
    let fresh_ms = measure_freshness(&bench, &mut conn).await;
    ranker.shutdown.cancel();
    let _ = ranker.service.await;
    report(
        &bench,
        &consumption,
        ranker.index_secs,
        latencies,
        feed_rps,
        fresh_ms,
    );
    testing::clear_redis(&bench.config.redis).await;
}

/// A fresh prefix, its topics, a producer and Redis.
async fn setup(sizes: Sizes) -> Bench {
    let prefix = testing::unique("bench");
    let mut config = Config {
        redis: testing::redis_config(&prefix),
        kafka: testing::kafka_config(&prefix),
        ..Config::default()
    };
    config.consumer.group_id = format!("{prefix}-ranker");
    kafka::ensure_topics(
        &config.kafka,
        &[topics::CONTENT, topics::ENGAGEMENT, topics::WALLET],
    )
    .await
    .expect("topics");
    let producer = Producer::new(&config.kafka, "bench").expect("producer");
    let redis = Redis::connect(&config.redis).await.expect("redis");
    let Sizes {
        videos,
        users,
        events_per_user,
        consume_events,
        requests,
        ..
    } = sizes;
    eprintln!(
        "ranker bench: {videos} videos, {users} users x {events_per_user} events, {consume_events} events through the broker, {requests} feed requests"
    );
    Bench {
        sizes,
        prefix,
        config,
        producer,
        redis,
    }
}

/// The catalog, through the snapshot a replica loads at start.
async fn seed_catalog(bench: &Bench) {
    let videos = bench.sizes.videos;
    let started = Instant::now();
    let catalog: Vec<ev::VideoSnapshot> = (0..videos).map(video_snapshot).collect();
    for (i, chunk) in catalog.chunks(10_000).enumerate() {
        snapshot::put_videos(&bench.redis, chunk)
            .await
            .expect("snapshot");
        eprint!(
            "\r  catalog snapshot: {}/{videos}",
            ((i + 1) * 10_000).min(videos)
        );
    }
    eprintln!(" ({:.1}s)", started.elapsed().as_secs_f64());
}

/// The users' learned state, through the engagement handlers themselves
/// (the live apply paths, without the broker). Returns the taste and the
/// co-engagement handler.
async fn seed_learned_state(bench: &Bench) -> (EngagementHandler, EngagementHandler) {
    let Sizes {
        videos,
        users,
        events_per_user,
        ..
    } = bench.sizes;
    let handler = EngagementHandler::new(bench.redis.clone(), bench.config.learning.clone(), None);
    let co = EngagementHandler::co_engagement(bench.redis.clone(), bench.config.learning.clone());
    let started = Instant::now();
    let total_direct = users * events_per_user;
    let mut offsets = [0i64; 6];
    let mut applied_direct = 0usize;
    for i in 0..events_per_user {
        for chunk in (0..users).collect::<Vec<_>>().chunks(500) {
            let batch: Vec<Delivery> = chunk
                .iter()
                .map(|&u| {
                    let e = engagement(u, i, videos, 1_800_000_000 + (i * 60) as i64);
                    let partition = (u % 6) as i32;
                    offsets[u % 6] += 1;
                    Delivery {
                        topic: "bench-direct".into(),
                        partition,
                        offset: offsets[u % 6],
                        key: e.user_id.clone().into_bytes(),
                        payload: e.encode_to_vec(),
                        headers: Vec::new(),
                        timestamp_ms: None,
                    }
                })
                .collect();
            handler.handle(&batch).await.expect("apply");
            co.handle(&batch).await.expect("apply co-engagement");
            applied_direct += batch.len();
            eprint!("\r  learned state: {applied_direct}/{total_direct} events");
        }
    }
    eprintln!(" ({:.1}s)", started.elapsed().as_secs_f64());
    (handler, co)
}

/// Starts the ranker service and waits until it has indexed the whole
/// catalog; tokens for as many viewers as requests need.
async fn start_ranker(bench: &Bench) -> Ranker {
    let Sizes {
        videos,
        users,
        requests,
        ..
    } = bench.sizes;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let service = tokio::spawn(loop_feed_ranking::run(
        bench.config.clone(),
        listener,
        shutdown.clone(),
    ));
    let channel = loop_platform::grpc::channel(&format!("http://{addr}")).expect("channel");
    let client = FeedRankingServiceClient::new(channel);
    let service_token = loop_platform::testing::TestKeys.issue(
        "service:feed-ranking",
        Role::Service,
        Duration::from_secs(3600),
    );
    eprintln!("  waiting for the ranker to load its catalog of {videos} videos...");
    let started = Instant::now();
    testing::wait_for("catalog built", Duration::from_secs(900), || {
        let mut client = client.clone();
        let token = service_token.clone();
        async move {
            let req = loop_platform::grpc::request(
                pb::GetRankerStatsRequest {},
                Some(&token),
                Duration::from_secs(5),
            );
            let n = client
                .get_ranker_stats(req)
                .await
                .ok()?
                .into_inner()
                .videos_indexed;
            eprint!("\r  indexed {n}/{videos}");
            (n as usize >= videos).then_some(())
        }
    })
    .await;
    let index_secs = started.elapsed().as_secs_f64();
    eprintln!(" ({index_secs:.1}s)");
    let keys = loop_platform::testing::TestKeys;
    let tokens: Vec<String> = (0..users.min(requests))
        .map(|u| keys.issue(&user_id(u), Role::Viewer, Duration::from_secs(3600)))
        .collect();
    Ranker {
        service,
        shutdown,
        client,
        tokens,
        index_secs,
    }
}

/// Phase 1, For You latency vs Redis GET, interleaved so the baselines and the
/// feed see the same machine noise: a Redis GET, a trivial ranker RPC (one
/// Redis pipeline: the gRPC + Redis floor), then a For You page, for each
/// request.
async fn measure_latency(
    bench: &Bench,
    ranker: &Ranker,
    conn: &mut redis::aio::ConnectionManager,
) -> Latencies {
    let requests = bench.sizes.requests;
    let (client, tokens) = (&ranker.client, &ranker.tokens);
    let probe = bench.redis.key("bench:probe");
    let _: () = redis::cmd("SET")
        .arg(&probe)
        .arg("x")
        .query_async(conn)
        .await
        .expect("set");
    let mut get_ms = Vec::with_capacity(requests);
    let mut rpc_ms = Vec::with_capacity(requests);
    let mut feed_ms = Vec::with_capacity(requests);
    let mut served_items = 0usize;
    for i in 0..requests {
        let t = Instant::now();
        let _: Option<String> = redis::cmd("GET")
            .arg(&probe)
            .query_async(conn)
            .await
            .expect("get");
        get_ms.push(t.elapsed().as_secs_f64() * 1000.0);

        let token = &tokens[i % tokens.len()];
        let req = loop_platform::grpc::request(
            pb::GetFeedFiltersRequest {},
            Some(token),
            Duration::from_secs(5),
        );
        let t = Instant::now();
        client.clone().get_feed_filters(req).await.expect("filters");
        rpc_ms.push(t.elapsed().as_secs_f64() * 1000.0);

        let req = feed_request(token);
        let t = Instant::now();
        let resp = client.clone().get_for_you_feed(req).await.expect("feed");
        feed_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        served_items += resp.into_inner().items.len();
        if (i + 1).is_multiple_of(200) {
            eprint!("\r  latency samples {}/{requests}", i + 1);
        }
    }
    eprintln!();
    Latencies {
        get_ms,
        rpc_ms,
        feed_ms,
        served_items,
    }
}

/// A For You page of ten, ads off.
fn feed_request(token: &str) -> tonic::Request<pb::GetForYouFeedRequest> {
    loop_platform::grpc::request(
        pb::GetForYouFeedRequest {
            page_size: 10,
            ..Default::default()
        },
        Some(token),
        Duration::from_secs(5),
    )
}

/// For You throughput with 8 concurrent clients (requests per second).
async fn measure_feed_throughput(ranker: &Ranker, requests: usize) -> f64 {
    let concurrency = 8;
    let per = requests / concurrency;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let client = ranker.client.clone();
        let tokens = ranker.tokens.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                let token = &tokens[(c * per + i) % tokens.len()];
                client
                    .clone()
                    .get_for_you_feed(feed_request(token))
                    .await
                    .expect("feed");
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    (per * concurrency) as f64 / started.elapsed().as_secs_f64()
}

/// Phase 3, freshness: an event published (as the gateway does) until the
/// viewer's state has applied it (ms per sample).
async fn measure_freshness(bench: &Bench, conn: &mut redis::aio::ConnectionManager) -> Vec<f64> {
    let (redis, users) = (&bench.redis, bench.sizes.users);
    let samples = 200;
    let mut fresh_ms = Vec::with_capacity(samples);
    for s in 0..samples {
        let u = s % users;
        let key = state::state_key(redis, &user_id(u));
        let before: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&key)
            .query_async(conn)
            .await
            .expect("get");
        let before = UserState::decode_opt(before).map_or(0, |s| s.events_applied);
        let event = ev::EngagementEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            occurred_at: Some(loop_platform::time::to_timestamp(chrono::Utc::now())),
            user_id: user_id(u),
            video_id: video_id(s),
            kind: ev::EngagementKind::Like as i32,
            hashtags: vec![family(s)],
            category: family(s),
            ..Default::default()
        };
        let t = Instant::now();
        bench
            .producer
            .publish(
                topics::ENGAGEMENT,
                &user_id(u),
                "loop.events.v1.EngagementEvent",
                &event,
            )
            .await
            .expect("publish");
        loop {
            let raw: Option<Vec<u8>> = redis::cmd("GET")
                .arg(&key)
                .query_async(conn)
                .await
                .expect("get");
            if UserState::decode_opt(raw).is_some_and(|s| s.events_applied > before) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        fresh_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    fresh_ms
}

/// Writes target/bench/ranker.json and prints the figures.
fn report(
    bench: &Bench,
    consumption: &Consumption,
    index_secs: f64,
    latencies: Latencies,
    feed_rps: f64,
    fresh_ms: Vec<f64>,
) {
    let Sizes {
        videos,
        users,
        events_per_user,
        consume_events,
        consume_rounds,
        requests,
    } = bench.sizes;
    let total_events = consume_events as u64;
    let Consumption {
        rounds,
        median,
        co_median,
    } = consumption;
    let ratios: Vec<f64> = rounds.iter().map(|r| r.ranker / r.raw).collect();
    let (raw_rate, ranker_rate) = (median.raw, median.ranker);
    let get = stats(latencies.get_ms);
    let rpc = stats(latencies.rpc_ms);
    let feed = stats(latencies.feed_ms);
    let fresh = stats(fresh_ms);
    let report = serde_json::json!({
        "videos": videos, "users": users, "events": total_events, "requests": requests,
        "catalog_index_seconds": index_secs,
        "redis_get_ms": {"p50": get.p50, "p99": get.p99},
        "for_you_ms": {"p50": feed.p50, "p99": feed.p99, "items_per_request": latencies.served_items as f64 / requests as f64},
        "for_you_p99_over_redis_get_p99": feed.p99 / get.p99,
        "trivial_rpc_ms": {"p50": rpc.p50, "p99": rpc.p99},
        "for_you_rps_8_clients": feed_rps,
        "raw_consume_eps": raw_rate,
        "ranker_consume_eps": ranker_rate,
        "consume_rounds": rounds.iter().map(|r| serde_json::json!({
            "raw_eps": r.raw, "ranker_eps": r.ranker, "ratio": r.ranker / r.raw,
            "co_engagement_eps": r.co, "co_engagement_ratio": r.co / r.raw,
            "raw_startup_s": r.raw_startup, "ranker_startup_s": r.ranker_startup,
        })).collect::<Vec<_>>(),
        "ranker_over_raw_consume": ranker_rate / raw_rate,
        "freshness_ms": {"p50": fresh.p50, "p99": fresh.p99},
    });
    let figures = [
        Figure::new("For You p99 (gRPC, ads off)", feed.p99, "ms")
            .against("Redis GET p99", get.p99)
            .at_most(10.0),
        Figure::new("For You p50", feed.p50, "ms").against("Redis GET p50", get.p50),
        Figure::new(
            "trivial ranker RPC p99 (the gRPC + Redis floor)",
            rpc.p99,
            "ms",
        )
        .against("Redis GET p99", get.p99),
        Figure::new("For You throughput, 8 clients", feed_rps, "req/s"),
        Figure::new(
            "consumer throughput (median of the rounds)",
            ranker_rate,
            "events/s",
        )
        .against("raw rdkafka consume, same events and broker", raw_rate)
        .at_least(0.5),
        Figure::new(
            "consumer ratio, lowest round",
            ratios.iter().copied().fold(f64::INFINITY, f64::min),
            "x",
        ),
        Figure::new(
            "consumer ratio, highest round",
            ratios.iter().copied().fold(0.0, f64::max),
            "x",
        ),
        Figure::new(
            "co-engagement consumer throughput (its own group, median of the rounds)",
            co_median.co,
            "events/s",
        )
        .against("raw rdkafka consume, same events and broker", co_median.raw),
        Figure::new(
            "consumer start (join + first fetch), ranker",
            median.ranker_startup,
            "s",
        )
        .against("raw", median.raw_startup),
        Figure::new("freshness publish -> applied p50", fresh.p50, "ms"),
        Figure::new(
            "freshness publish -> applied p99 (target < 1000 ms)",
            fresh.p99,
            "ms",
        ),
        Figure::new("catalog load at start (snapshot + index)", index_secs, "s"),
    ];
    loop_platform::bench::report(
        "ranker",
        &format!("{videos} videos, {users} users x {events_per_user} events, {consume_rounds} rounds x {total_events} events through the broker, {requests} feed requests"),
        &figures,
        report,
    )
    .expect("write report");
}
