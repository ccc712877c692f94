//! LIVE auction bids on ONE hot auction, beside a plain Redis `INCR` loop
//! at the same concurrency in the same run (these machines are shared and
//! noisy: the ratio is what to compare):
//!
//! 1. bids accepted per second: `concurrency` bidders (each authorised),
//!    each placing quick bids (`at_next_min`: the lowest acceptable amount
//!    at its turn, so every bid is one the rules accept) through gRPC
//!    PlaceBid as fast as answers come back; every accepted bid is a row
//!    committed in Postgres under the auction's lock;
//! 2. p50/p99 bid-to-broadcast latency: from sending a bid to a watcher
//!    (gRPC WatchAuction, what the gateway's SSE forwards) receiving it;
//! 3. the baseline: `concurrency` tasks, each with its own Redis
//!    connection, running `INCR` on one key for the same time;
//! 4. the gRPC floor: the same bidders calling the commerce server's
//!    `grpc.health.v1.Health/Check` (no work behind it: the same server,
//!    layers, channels and request headers) for the same time. No gRPC
//!    route can accept bids faster than this, so its ratio to Redis `INCR`
//!    bounds what the first figure can reach on the machine;
//! 5. the broker's ceiling: records per second the broker takes from a
//!    producer sending the way the outbox relay does (rounds of 500,
//!    each record an `AuctionBid`-sized payload with the relay's headers,
//!    waiting for every ack), to a topic of its own. Every accepted bid is
//!    one such record, so no design that keeps one event per bid can accept
//!    bids faster than this on the machine.
//!
//! Before each phase the bench waits for the relay to publish the events
//! written so far, so no phase runs while the broker works off another's.
//!
//! Run: `cargo bench -p loop-commerce --bench auction` (needs the local
//! PostgreSQL, Redis and broker: `make deps`). Knobs:
//! LOOP_BENCH_CONCURRENCY (32), LOOP_BENCH_SECONDS (10). Writes
//! target/bench/commerce_auction.json (ads-auction's bench
//! writes auction.json) and prints a markdown table. Afterwards it
//! checks that the stored bids replayed through the rules give the
//! auction's price.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use loop_commerce::auction::rules;
use loop_platform::auth::Role;
use loop_platform::bench::{Figure, env_usize, percentile};
use loop_platform::testing;
use loop_proto::commerce::v1 as pb;
use loop_proto::commerce::v1::commerce_service_client::CommerceServiceClient;
use loop_testkit::Sandbox;
use loop_testkit::fixtures::NewUser;
use loop_wallet::payments::{TestProvider, TestReceipt};
use tonic::transport::Channel;
use uuid::Uuid;

fn req<T>(subject: &str, role: Role, msg: T) -> tonic::Request<T> {
    let token = testing::TestKeys.issue(subject, role, Duration::from_secs(3600));
    loop_platform::grpc::request(msg, Some(&token), Duration::from_secs(30))
}

struct Bids {
    per_sec: f64,
    accepted: usize,
    refused: usize,
    sent: HashMap<u32, Instant>,
}

/// Runs one closed loop per item of `loops` for `seconds`: each loop gets
/// the stop flag (it ends its work once the flag is up) and returns its
/// tally. Returns the tallies and the seconds elapsed.
async fn closed_loops<T, F, Fut>(
    seconds: usize,
    loops: impl IntoIterator<Item = F>,
) -> (Vec<T>, f64)
where
    T: Send + 'static,
    F: FnOnce(Arc<AtomicBool>) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = loops
        .into_iter()
        .map(|run| tokio::spawn(run(stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds as u64)).await;
    stop.store(true, Ordering::Relaxed);
    let mut tallies = Vec::with_capacity(tasks.len());
    for t in tasks {
        tallies.push(t.await.expect("loop"));
    }
    (tallies, started.elapsed().as_secs_f64())
}

/// A quick bid at the next minimum (every such bid is one the rules accept).
fn quick_bid(auction: &str) -> pb::PlaceBidRequest {
    pb::PlaceBidRequest {
        auction_id: auction.to_owned(),
        amount_cents: rules::MAX_BID_CENTS,
        max_cents: 0,
        at_next_min: true,
        idempotency_key: format!("bench-{}", Uuid::now_v7()),
    }
}

async fn bid_phase(
    clients: &[CommerceServiceClient<Channel>],
    auction: &str,
    bidders: &[String],
    seconds: usize,
) -> Bids {
    let sent = Arc::new(Mutex::new(HashMap::new()));
    let loops = bidders.iter().enumerate().map(|(i, bidder)| {
        let mut client = clients[i % clients.len()].clone();
        let (sent, auction) = (sent.clone(), auction.to_owned());
        let token = testing::TestKeys.issue(bidder, Role::Viewer, Duration::from_secs(3600));
        move |stop: Arc<AtomicBool>| async move {
            let (mut accepted, mut refused) = (0usize, 0usize);
            while !stop.load(Ordering::Relaxed) {
                let at = Instant::now();
                let r = client
                    .place_bid(loop_platform::grpc::request(
                        quick_bid(&auction),
                        Some(&token),
                        Duration::from_secs(30),
                    ))
                    .await;
                match r {
                    Ok(r) => {
                        accepted += 1;
                        let seq = r.into_inner().bid.map_or(0, |b| b.seq);
                        sent.lock().expect("sent").insert(seq, at);
                    }
                    Err(status) => {
                        if refused == 0 {
                            eprintln!("  a bid was refused: {status:?}");
                        }
                        refused += 1;
                    }
                }
            }
            (accepted, refused)
        }
    });
    let (tallies, elapsed) = closed_loops(seconds, loops).await;
    let accepted = tallies.iter().map(|t| t.0).sum::<usize>();
    let refused = tallies.iter().map(|t| t.1).sum();
    let sent = std::mem::take(&mut *sent.lock().expect("sent"));
    Bids {
        per_sec: accepted as f64 / elapsed,
        accepted,
        refused,
        sent,
    }
}

/// The same bids straight into a second service instance on the same
/// database (as another replica would be): no gRPC, no token check, the
/// serialisation point itself.
async fn in_process_phase(
    service: &loop_commerce::CommerceService,
    auction: &str,
    bidders: &[String],
    seconds: usize,
) -> (f64, usize) {
    let loops = bidders.iter().map(|bidder| {
        let (service, auction) = (service.clone(), auction.to_owned());
        let bidder = Uuid::parse_str(bidder).expect("uuid");
        move |stop: Arc<AtomicBool>| async move {
            let mut accepted = 0usize;
            while !stop.load(Ordering::Relaxed) {
                if service.bid_as(bidder, quick_bid(&auction)).await.is_ok() {
                    accepted += 1;
                }
            }
            accepted
        }
    });
    let (tallies, elapsed) = closed_loops(seconds, loops).await;
    let accepted: usize = tallies.iter().sum();
    (accepted as f64 / elapsed, accepted)
}

/// `concurrency` callers of the server's health check through the same
/// channels, with the bidders' headers (token, deadline): calls per second.
async fn floor_phase(channels: &[Channel], bidders: &[String], seconds: usize) -> f64 {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let loops = bidders.iter().enumerate().map(|(i, bidder)| {
        let mut client = HealthClient::new(channels[i % channels.len()].clone());
        let token = testing::TestKeys.issue(bidder, Role::Viewer, Duration::from_secs(3600));
        move |stop: Arc<AtomicBool>| async move {
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                client
                    .check(loop_platform::grpc::request(
                        HealthCheckRequest {
                            service: String::new(),
                        },
                        Some(&token),
                        Duration::from_secs(30),
                    ))
                    .await
                    .expect("health check");
                n += 1;
            }
            n
        }
    });
    let (tallies, elapsed) = closed_loops(seconds, loops).await;
    tallies.iter().sum::<usize>() as f64 / elapsed
}

/// Waits for the relay to publish every bid's event so far (see
/// [`loop_platform::bench::outbox_drained`]).
async fn drained(pool: &sqlx::PgPool) {
    let waited = loop_platform::bench::outbox_drained(pool).await;
    eprintln!("  (events published: waited {waited:.1}s for the relay)");
}

/// Records/s the broker takes from a relay-like producer (module docs, 5).
async fn broker_phase(kafka: &loop_platform::config::KafkaConfig, seconds: usize) -> f64 {
    use loop_platform::kafka;
    kafka::ensure_topics(kafka, &["benchbroker.v1"])
        .await
        .expect("bench topic");
    let topic = kafka.topic("benchbroker.v1");
    let producer = kafka::Producer::new(kafka, "auction-bench").expect("producer");
    // An AuctionBid event's size (two UUIDs as text, a key, amounts).
    let payload = vec![7u8; 160];
    let started = Instant::now();
    let mut sent = 0usize;
    while started.elapsed() < Duration::from_secs(seconds as u64) {
        let sends = (0..500).map(|_| {
            let headers = vec![
                (
                    kafka::EVENT_TYPE_HEADER.to_owned(),
                    "commerce.v1.CommerceEvent".to_owned(),
                ),
                ("event-id".to_owned(), Uuid::now_v7().to_string()),
                (
                    "content-type".to_owned(),
                    "application/x-protobuf".to_owned(),
                ),
            ];
            let (producer, topic, payload) = (&producer, &topic, &payload);
            async move {
                producer
                    .send_raw(topic, b"auction", payload, &headers)
                    .await
                    .expect("broker send")
            }
        });
        sent += futures::future::join_all(sends).await.len();
    }
    sent as f64 / started.elapsed().as_secs_f64()
}

async fn incr_phase(url: &str, key: &str, concurrency: usize, seconds: usize) -> f64 {
    let client = redis::Client::open(url).expect("redis url");
    let mut conns = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        conns.push(
            client
                .get_multiplexed_async_connection()
                .await
                .expect("redis"),
        );
    }
    let loops = conns.into_iter().map(|mut conn| {
        let key = key.to_owned();
        move |stop: Arc<AtomicBool>| async move {
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let _: i64 = redis::cmd("INCR")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .expect("INCR");
                n += 1;
            }
            n
        }
    });
    let (tallies, elapsed) = closed_loops(seconds, loops).await;
    let per_sec = tallies.iter().sum::<usize>() as f64 / elapsed;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let _: i64 = redis::cmd("DEL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .expect("DEL");
    per_sec
}

#[tokio::main]
async fn main() {
    let concurrency = env_usize("LOOP_BENCH_CONCURRENCY", 32);
    let seconds = env_usize("LOOP_BENCH_SECONDS", 10);
    let sandbox = Sandbox::builder()
        .name("auctionbench")
        .commerce_with(|c| {
            c.auctions.max_duration_seconds = 24 * 3600;
        })
        .start()
        .await;
    let receipts = TestProvider::new(sandbox.wallet().config.payments.test_secret.expose());
    let channels: Vec<Channel> = (0..4).map(|_| sandbox.commerce().channel()).collect();
    let clients: Vec<CommerceServiceClient<Channel>> = channels
        .iter()
        .map(|ch| CommerceServiceClient::new(ch.clone()))
        .collect();
    let c = clients[0].clone();

    // A host with an open room and an approved product.
    let fx = sandbox.content_fixture();
    let host = fx
        .sign_up(NewUser {
            role: Role::Creator,
            ..NewUser::default()
        })
        .await
        .user_id;
    fx.make_creator(&host, "home").await;
    let room = fx.go_live(&host, "bench").await;
    c.clone()
        .open_shop(req(
            &host,
            Role::Creator,
            pb::OpenShopRequest {
                name: "Bench shop".into(),
                description: String::new(),
            },
        ))
        .await
        .expect("shop");
    let product = c
        .clone()
        .create_product(req(
            &host,
            Role::Creator,
            pb::CreateProductRequest {
                title: "Signed print".into(),
                description: "one of one".into(),
                category: "art".into(),
                image_urls: vec!["https://cdn.example/print.jpg".into()],
                skus: vec![pb::SkuInput {
                    sku_id: String::new(),
                    name: "Print".into(),
                    price_cents: 10_000,
                    stock: 1,
                }],
            },
        ))
        .await
        .expect("product")
        .into_inner()
        .product
        .expect("product");
    let admin = Uuid::now_v7().to_string();
    let product = c
        .clone()
        .review_product(req(
            &admin,
            Role::Admin,
            pb::ReviewProductRequest {
                product_id: product.product_id.clone(),
                expected_version: product.version,
                approve: true,
                reason: String::new(),
            },
        ))
        .await
        .expect("approve")
        .into_inner()
        .product
        .expect("product");
    let auction = c
        .clone()
        .start_auction(req(
            &host,
            Role::Creator,
            pb::StartAuctionRequest {
                idempotency_key: Uuid::now_v7().to_string(),
                room_id: room,
                sku_id: product.skus[0].sku_id.clone(),
                starting_cents: 100,
                duration_seconds: 24 * 3600,
                sudden_death: true,
            },
        ))
        .await
        .expect("auction")
        .into_inner()
        .auction
        .expect("auction");
    let id = auction.auction_id.clone();
    let bidders: Vec<String> = (0..concurrency)
        .map(|_| Uuid::now_v7().to_string())
        .collect();
    for b in &bidders {
        c.clone()
            .authorize_bidder(req(
                b,
                Role::Viewer,
                pb::AuthorizeBidderRequest {
                    auction_id: id.clone(),
                    amount_cents: rules::MAX_BID_CENTS,
                    receipt: Some(receipts.sign(&TestReceipt {
                        receipt_id: Uuid::now_v7().to_string(),
                        product_id: format!("commerce:auction:{id}"),
                        amount_cents: rules::MAX_BID_CENTS,
                    })),
                },
            ))
            .await
            .expect("authorise");
    }

    // The watcher: when each bid's broadcast arrives.
    let mut stream = c
        .clone()
        .watch_auction(req(
            &admin,
            Role::Viewer,
            pb::WatchAuctionRequest {
                auction_id: id.clone(),
            },
        ))
        .await
        .expect("watch")
        .into_inner();
    let arrivals = Arc::new(Mutex::new(HashMap::new()));
    let seen = arrivals.clone();
    let watcher = tokio::spawn(async move {
        while let Ok(Some(u)) = stream.message().await {
            if let Some(pb::auction_update::Update::Bid(b)) = u.update {
                seen.lock().expect("seen").insert(b.seq, Instant::now());
            }
        }
    });

    let config = sandbox.commerce().config.clone();
    let pool = loop_platform::db::connect(&config.database)
        .await
        .expect("pool");
    drained(&pool).await;
    eprintln!("bench: {concurrency} bidders on one auction for {seconds}s...");
    let bids = bid_phase(&clients, &id, &bidders, seconds).await;
    eprintln!(
        "  {} accepted ({:.0}/s), {} refused",
        bids.accepted, bids.per_sec, bids.refused
    );
    // Wait for the watcher to have every accepted bid (or give up after 30 s).
    let wanted = bids.sent.len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.lock().expect("arrivals").len() < wanted && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    watcher.abort();
    let arrivals = std::mem::take(&mut *arrivals.lock().expect("arrivals"));
    let mut latencies: Vec<f64> = bids
        .sent
        .iter()
        .filter_map(|(seq, at)| {
            arrivals
                .get(seq)
                .map(|t| t.saturating_duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let broadcast = latencies.len();
    let p50 = percentile(&latencies, 0.5);
    let p99 = percentile(&latencies, 0.99);

    drained(&pool).await;
    eprintln!(
        "in process: {concurrency} bidders straight into a second service instance for {seconds}s..."
    );
    let keys = config.auth.keys().expect("keys");
    let service = loop_commerce::CommerceService::new(
        pool.clone(),
        keys,
        Arc::new(config),
        loop_commerce::Clock::system(),
    )
    .expect("service");
    let (in_process, in_process_accepted) =
        in_process_phase(&service, &id, &bidders, seconds).await;
    eprintln!("  {in_process_accepted} accepted ({in_process:.0}/s)");
    drained(&pool).await;

    eprintln!("baseline: Redis INCR with {concurrency} connections for {seconds}s...");
    let key = format!("{}:bench:incr", sandbox.prefix);
    let incr = incr_phase(sandbox.redis.url.expose(), &key, concurrency, seconds).await;
    eprintln!("gRPC floor: {concurrency} callers of the server's health check for {seconds}s...");
    let floor = floor_phase(&channels, &bidders, seconds).await;
    eprintln!("  {floor:.0}/s");
    eprintln!("broker ceiling: relay-like rounds of 500 records for {seconds}s...");
    let broker = broker_phase(&sandbox.kafka, seconds).await;
    eprintln!("  {broker:.0} records/s");

    // The stored bids replayed through the rules give the auction's state.
    let now = c
        .clone()
        .get_auction(req(
            &admin,
            Role::Viewer,
            pb::GetAuctionRequest {
                auction_id: id.clone(),
            },
        ))
        .await
        .expect("auction")
        .into_inner()
        .auction
        .expect("auction");
    let pool = sqlx::PgPool::connect(sandbox.commerce().config.database.url.expose())
        .await
        .expect("db");
    let stored: Vec<(Uuid, i64, i64, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT bidder_id, amount_cents, max_cents, placed_at FROM auction_bids WHERE auction_id = $1 ORDER BY seq",
    )
    .bind(Uuid::parse_str(&id).expect("uuid"))
    .fetch_all(&pool)
    .await
    .expect("bids");
    // Bids per commit in each phase: a batch's bids share one `placed_at`
    // (the writer reads the clock once per batch). The gRPC phase's bids come
    // first (seq 1..=accepted).
    let per_commit: Vec<(f64, f64)> = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE seq <= $2)::float8 / greatest(count(DISTINCT placed_at) FILTER (WHERE seq <= $2), 1), \
                count(*) FILTER (WHERE seq > $2)::float8 / greatest(count(DISTINCT placed_at) FILTER (WHERE seq > $2), 1) \
         FROM auction_bids WHERE auction_id = $1",
    )
    .bind(Uuid::parse_str(&id).expect("uuid"))
    .bind(i32::try_from(bids.accepted).expect("seq"))
    .fetch_all(&pool)
    .await
    .expect("bids per commit");
    let (grpc_per_commit, in_process_per_commit) = per_commit[0];
    eprintln!(
        "bids per commit: {grpc_per_commit:.1} through gRPC, {in_process_per_commit:.1} in process"
    );
    pool.close().await;
    let ends = now.original_ends_at.expect("ends");
    let replayed = rules::replay(
        100,
        chrono::DateTime::from_timestamp(ends.seconds, u32::try_from(ends.nanos).unwrap_or(0))
            .expect("time"),
        &rules::Timing {
            sudden_death: true,
            extend_within: chrono::Duration::seconds(10),
            extend_by: chrono::Duration::seconds(15),
        },
        &stored
            .iter()
            .map(|(b, a, m, t)| rules::Bid::new(*b, *a, *m, *t))
            .collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(
        stored.len(),
        bids.accepted + in_process_accepted,
        "every accepted bid is stored"
    );
    assert_eq!(
        replayed.price_cents, now.price_cents,
        "replay gives the price"
    );

    let figures = vec![
        Figure::new(
            "auction bids accepted/s (one hot auction, gRPC)",
            bids.per_sec,
            "bids/s",
        )
        .against("Redis INCR/s (same concurrency)", incr)
        .at_least(0.25),
        Figure::new(
            "auction bids accepted/s in process (the serialisation point, no gRPC)",
            in_process,
            "bids/s",
        )
        .against("Redis INCR/s (same concurrency)", incr)
        .at_least(0.25),
        Figure::new(
            "gRPC floor: empty health checks/s (same server, channels, headers)",
            floor,
            "calls/s",
        )
        .against("Redis INCR/s (same concurrency)", incr),
        Figure::new(
            "auction bids accepted/s (gRPC) against the gRPC floor",
            bids.per_sec,
            "bids/s",
        )
        .against("empty health checks/s (same run)", floor),
        Figure::new(
            "broker ceiling: records/s from a relay-like producer (one per bid)",
            broker,
            "records/s",
        )
        .against("Redis INCR/s (same concurrency)", incr),
        Figure::new("bid-to-broadcast p50", p50, "ms"),
        Figure::new("bid-to-broadcast p99", p99, "ms"),
    ];
    loop_platform::bench::report(
        "commerce_auction",
        &format!("{concurrency} bidders on one LIVE auction for {seconds}s vs Redis INCR"),
        &figures,
        serde_json::json!({
            "concurrency": concurrency,
            "seconds": seconds,
            "accepted": bids.accepted,
            "accepted_in_process": in_process_accepted,
            "refused": bids.refused,
            "broadcast_measured": broadcast,
            "redis_incr_per_sec": incr,
            "grpc_floor_per_sec": floor,
            "broker_records_per_sec": broker,
            "bids_per_commit_grpc": grpc_per_commit,
            "bids_per_commit_in_process": in_process_per_commit,
            "final_price_cents": now.price_cents,
        }),
    )
    .expect("report");
}
