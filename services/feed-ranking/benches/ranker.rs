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

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

fn user_id(u: usize) -> String {
    format!("00000000-0000-7000-8000-{u:012}")
}

fn video_id(v: usize) -> String {
    format!("00000000-0000-7000-9000-{v:012}")
}

fn family(v: usize) -> String {
    format!("topic{}", v % 200)
}

async fn publish_all<M: Message>(
    producer: &Producer,
    topic: &str,
    event_type: &str,
    items: Vec<(String, M)>,
    what: &str,
) {
    let total = items.len();
    let started = Instant::now();
    for (i, chunk) in items.chunks(2000).enumerate() {
        let sends = chunk
            .iter()
            .map(|(key, m)| producer.publish(topic, key, event_type, m));
        for r in futures::future::join_all(sends).await {
            r.expect("produce");
        }
        eprint!(
            "\r  producing {what}: {}/{total}",
            ((i + 1) * 2000).min(total)
        );
    }
    eprintln!(" ({:.1}s)", started.elapsed().as_secs_f64());
}

/// One (raw, ranker) pair of consume rates, events per second, and the
/// seconds each took to join and receive its first event.
#[derive(Clone)]
struct Round {
    raw: f64,
    ranker: f64,
    raw_startup: f64,
    ranker_startup: f64,
}

/// Events consumed, with the times the first arrived and the last was done
/// (ns since `base`), so a rate covers the consuming only: not the group
/// join before it, nor the wait for the end after it.
struct Tally {
    base: Instant,
    n: AtomicU64,
    first_ns: AtomicU64,
    last_ns: AtomicU64,
}

impl Tally {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            base: Instant::now(),
            n: AtomicU64::new(0),
            first_ns: AtomicU64::new(u64::MAX),
            last_ns: AtomicU64::new(0),
        })
    }
    fn arrived(&self) {
        let now = self.base.elapsed().as_nanos() as u64;
        self.first_ns.fetch_min(now, Ordering::Relaxed);
    }
    fn done(&self, n: usize) {
        self.n.fetch_add(n as u64, Ordering::Relaxed);
        let now = self.base.elapsed().as_nanos() as u64;
        self.last_ns.fetch_max(now, Ordering::Relaxed);
    }
    fn count(&self) -> u64 {
        self.n.load(Ordering::Relaxed)
    }
    /// Seconds from the start to the first event (joining the group and
    /// the first fetch).
    fn startup_secs(&self) -> f64 {
        self.first_ns.load(Ordering::Relaxed) as f64 / 1e9
    }
    /// Events per second between the first arrival and the last done.
    fn rate(&self) -> f64 {
        let busy_ns = self
            .last_ns
            .load(Ordering::Relaxed)
            .saturating_sub(self.first_ns.load(Ordering::Relaxed));
        self.count() as f64 / (busy_ns as f64 / 1e9).max(1e-9)
    }
    /// Waits (polling) until `total` events are done.
    async fn wait_for(&self, total: u64, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(600);
        while self.count() < total {
            assert!(
                Instant::now() < deadline,
                "{what}: only {} of {total} events after 10 minutes",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// The engagement handler, tallied.
#[derive(Clone)]
struct Measured(EngagementHandler, Arc<Tally>);

impl BatchHandler for Measured {
    async fn handle(&self, batch: &[Delivery]) -> anyhow::Result<Vec<(usize, String)>> {
        self.1.arrived();
        let r = self.0.handle(batch).await?;
        self.1.done(batch.len());
        Ok(r)
    }
}

/// Runs the service's engagement consumer (its options exactly) with
/// `handler` until `total` events are applied.
async fn consume_all(config: &Config, handler: Measured, producer: &Producer, total: u64) {
    let stop = CancellationToken::new();
    let tally = handler.1.clone();
    let task = tokio::spawn(kafka::run_consumer(
        config.kafka.clone(),
        loop_feed_ranking::engagement_consumer_options(config),
        producer.clone(),
        handler,
        stop.clone(),
    ));
    tally.wait_for(total, "ranker consume").await;
    stop.cancel();
    task.await.expect("join").expect("consumer");
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

#[tokio::main]
async fn main() {
    let videos = env_usize("LOOP_BENCH_VIDEOS", 100_000);
    let users = env_usize("LOOP_BENCH_USERS", 10_000);
    let events_per_user = env_usize("LOOP_BENCH_EVENTS_PER_USER", 10);
    let consume_events = env_usize("LOOP_BENCH_CONSUME_EVENTS", 100_000);
    let consume_rounds = env_usize("LOOP_BENCH_CONSUME_ROUNDS", 3).max(1);
    let requests = env_usize("LOOP_BENCH_REQUESTS", 2_000);
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
    eprintln!(
        "ranker bench: {videos} videos, {users} users x {events_per_user} events, {consume_events} events through the broker, {requests} feed requests"
    );

    // --- data: the catalog snapshot and the users' learned state ----------------
    let started = Instant::now();
    let catalog: Vec<ev::VideoSnapshot> = (0..videos).map(video_snapshot).collect();
    for (i, chunk) in catalog.chunks(10_000).enumerate() {
        snapshot::put_videos(&redis, chunk).await.expect("snapshot");
        eprint!(
            "\r  catalog snapshot: {}/{videos}",
            ((i + 1) * 10_000).min(videos)
        );
    }
    eprintln!(" ({:.1}s)", started.elapsed().as_secs_f64());
    let handler = EngagementHandler {
        redis: redis.clone(),
        config: config.learning.clone(),
        catalog: None,
    };
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
            applied_direct += batch.len();
            eprint!("\r  learned state: {applied_direct}/{total_direct} events");
        }
    }
    eprintln!(" ({:.1}s)", started.elapsed().as_secs_f64());

    // --- 2. consumer throughput vs raw consume (through the broker) -----------------
    // Rounds of (raw consume, ranker consume) over fresh events on fresh
    // topics; the median round's ratio is the figure, since on a small shared
    // machine one pair can be off by a fifth either way.
    let mut rounds: Vec<Round> = Vec::new();
    for round in 0..consume_rounds {
        let mut rc = config.clone();
        rc.kafka = testing::kafka_config(&format!("{prefix}-r{round}"));
        rc.consumer.group_id = format!("{prefix}-r{round}-ranker");
        kafka::ensure_topics(&rc.kafka, &[topics::ENGAGEMENT, topics::WALLET])
            .await
            .expect("topics");
        let round_producer = Producer::new(&rc.kafka, "bench").expect("producer");
        let first = events_per_user + round * consume_events.div_ceil(users);
        let engagement_events: Vec<(String, ev::EngagementEvent)> = (0..consume_events)
            .map(|n| {
                let u = n % users;
                let e = engagement(
                    u,
                    first + n / users,
                    videos,
                    1_800_100_000 + (round * consume_events + n) as i64,
                );
                (user_id(u), e)
            })
            .collect();
        let total_events = engagement_events.len() as u64;
        eprintln!("  round {}/{consume_rounds}", round + 1);
        publish_all(
            &round_producer,
            topics::ENGAGEMENT,
            "loop.events.v1.EngagementEvent",
            engagement_events,
            "engagement events",
        )
        .await;
        eprintln!("  raw rdkafka consume of {total_events} events...");
        let raw = Tally::new();
        {
            let raw_consumer =
                kafka::consumer(&rc.kafka, &testing::unique("raw"), "earliest").expect("consumer");
            rdkafka::consumer::Consumer::subscribe(
                &raw_consumer,
                &[&rc.kafka.topic(topics::ENGAGEMENT)],
            )
            .expect("subscribe");
            while raw.count() < total_events {
                let m = raw_consumer.recv().await.expect("recv");
                raw.arrived();
                std::hint::black_box(rdkafka::Message::payload(&m).map(<[u8]>::len));
                raw.done(1);
                if raw.count().is_multiple_of(5000) {
                    eprint!("\r  raw consumed {}/{total_events}", raw.count());
                }
            }
            eprintln!();
        }
        eprintln!("  ranker consume-and-apply of the same events...");
        let ranker = Tally::new();
        consume_all(
            &rc,
            Measured(handler.clone(), ranker.clone()),
            &round_producer,
            total_events,
        )
        .await;
        eprintln!(
            "  round {}: ranker {:.0} events/s, raw {:.0} events/s: {:.2}x",
            round + 1,
            ranker.rate(),
            raw.rate(),
            ranker.rate() / raw.rate()
        );
        rounds.push(Round {
            raw: raw.rate(),
            ranker: ranker.rate(),
            raw_startup: raw.startup_secs(),
            ranker_startup: ranker.startup_secs(),
        });
    }
    let total_events = consume_events as u64;
    let ratios: Vec<f64> = rounds.iter().map(|r| r.ranker / r.raw).collect();
    let median = {
        let mut sorted: Vec<&Round> = rounds.iter().collect();
        sorted.sort_by(|a, b| (a.ranker / a.raw).total_cmp(&(b.ranker / b.raw)));
        sorted[sorted.len() / 2].clone()
    };
    let (raw_rate, ranker_rate) = (median.raw, median.ranker);

    // --- 1. For You latency vs Redis GET ------------------------------------------
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let service = tokio::spawn(loop_feed_ranking::run(
        config.clone(),
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

    let mut conn = redis.conn.clone();
    let probe = redis.key("bench:probe");
    let _: () = redis::cmd("SET")
        .arg(&probe)
        .arg("x")
        .query_async(&mut conn)
        .await
        .expect("set");
    // Interleaved, so the baselines and the feed see the same machine noise:
    // a Redis GET, a trivial ranker RPC (one Redis pipeline: the gRPC + Redis
    // floor), then a For You page, for each request.
    let mut get_ms = Vec::with_capacity(requests);
    let mut rpc_ms = Vec::with_capacity(requests);
    let mut feed_ms = Vec::with_capacity(requests);
    let mut served_items = 0usize;
    for i in 0..requests {
        let t = Instant::now();
        let _: Option<String> = redis::cmd("GET")
            .arg(&probe)
            .query_async(&mut conn)
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

        let req = loop_platform::grpc::request(
            pb::GetForYouFeedRequest {
                page_size: 10,
                ..Default::default()
            },
            Some(token),
            Duration::from_secs(5),
        );
        let t = Instant::now();
        let resp = client.clone().get_for_you_feed(req).await.expect("feed");
        feed_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        served_items += resp.into_inner().items.len();
        if (i + 1).is_multiple_of(200) {
            eprint!("\r  latency samples {}/{requests}", i + 1);
        }
    }
    eprintln!();
    // Throughput with concurrent clients.
    let concurrency = 8;
    let per = requests / concurrency;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let client = client.clone();
        let tokens = tokens.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                let token = &tokens[(c * per + i) % tokens.len()];
                let req = loop_platform::grpc::request(
                    pb::GetForYouFeedRequest {
                        page_size: 10,
                        ..Default::default()
                    },
                    Some(token),
                    Duration::from_secs(5),
                );
                client.clone().get_for_you_feed(req).await.expect("feed");
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    let feed_rps = (per * concurrency) as f64 / started.elapsed().as_secs_f64();

    // --- 3. freshness ----------------------------------------------------------------
    let samples = 200;
    let mut fresh_ms = Vec::with_capacity(samples);
    for s in 0..samples {
        let u = s % users;
        let key = state::state_key(&redis, &user_id(u));
        let before: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
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
        producer
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
                .query_async(&mut conn)
                .await
                .expect("get");
            if UserState::decode_opt(raw).is_some_and(|s| s.events_applied > before) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        fresh_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    shutdown.cancel();
    let _ = service.await;

    let get = stats(get_ms);
    let rpc = stats(rpc_ms);
    let feed = stats(feed_ms);
    let fresh = stats(fresh_ms);
    let report = serde_json::json!({
        "videos": videos, "users": users, "events": total_events, "requests": requests,
        "catalog_index_seconds": index_secs,
        "redis_get_ms": {"p50": get.p50, "p99": get.p99},
        "for_you_ms": {"p50": feed.p50, "p99": feed.p99, "items_per_request": served_items as f64 / requests as f64},
        "for_you_p99_over_redis_get_p99": feed.p99 / get.p99,
        "trivial_rpc_ms": {"p50": rpc.p50, "p99": rpc.p99},
        "for_you_rps_8_clients": feed_rps,
        "raw_consume_eps": raw_rate,
        "ranker_consume_eps": ranker_rate,
        "consume_rounds": rounds.iter().map(|r| serde_json::json!({
            "raw_eps": r.raw, "ranker_eps": r.ranker, "ratio": r.ranker / r.raw,
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
    testing::clear_redis(&config.redis).await;
}
