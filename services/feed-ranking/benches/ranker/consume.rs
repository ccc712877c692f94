//! Phase 2 of the ranker bench: consumer throughput. The ranker's
//! consume-and-apply path against a raw rdkafka consume of the same events
//! from the same broker, each rate from the first event's arrival to the
//! last one done, over rounds on fresh topics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use loop_feed_ranking::{Config, learn::EngagementHandler};
use loop_platform::kafka::{self, BatchHandler, Delivery, Producer, topics};
use loop_platform::testing;
use loop_proto::events::v1 as ev;
use prost::Message;
use tokio_util::sync::CancellationToken;

use super::{Bench, Sizes, engagement, user_id};

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
pub(super) struct Round {
    pub(super) raw: f64,
    pub(super) ranker: f64,
    /// The co-engagement consumer (its own group) on the same events.
    pub(super) co: f64,
    pub(super) raw_startup: f64,
    pub(super) ranker_startup: f64,
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

/// Runs one of the service's engagement consumers (`options`, exactly
/// the service's) with `handler` until `total` events are applied.
async fn consume_all(
    config: &Config,
    options: kafka::ConsumerOptions,
    handler: Measured,
    producer: &Producer,
    total: u64,
) {
    let stop = CancellationToken::new();
    let tally = handler.1.clone();
    let task = tokio::spawn(kafka::run_consumer(
        config.kafka.clone(),
        options,
        producer.clone(),
        handler,
        stop.clone(),
    ));
    tally.wait_for(total, "ranker consume").await;
    stop.cancel();
    task.await.expect("join").expect("consumer");
}

/// The consumer rounds, and the median ones (by ratio) the figures are.
pub(super) struct Consumption {
    pub(super) rounds: Vec<Round>,
    pub(super) median: Round,
    /// The round with the median co-engagement ratio.
    pub(super) co_median: Round,
}

/// Phase 2, consumer throughput vs raw consume (through the broker): rounds of
/// (raw consume, ranker consume) over fresh events on fresh topics; the median
/// round's ratio is the figure, since on a small shared machine one pair can be
/// off by a fifth either way.
pub(super) async fn measure_consumption(
    bench: &Bench,
    handlers: &(EngagementHandler, EngagementHandler),
) -> Consumption {
    let mut rounds: Vec<Round> = Vec::new();
    for round in 0..bench.sizes.consume_rounds {
        rounds.push(consume_round(bench, handlers, round).await);
    }
    let median_by = |rate: fn(&Round) -> f64| {
        let mut sorted: Vec<&Round> = rounds.iter().collect();
        sorted.sort_by(|a, b| (rate(a) / a.raw).total_cmp(&(rate(b) / b.raw)));
        sorted[sorted.len() / 2].clone()
    };
    let median = median_by(|r| r.ranker);
    let co_median = median_by(|r| r.co);
    Consumption {
        rounds,
        median,
        co_median,
    }
}

/// One round: fresh events published to fresh topics, consumed raw, then
/// by the ranker's consumer.
async fn consume_round(
    bench: &Bench,
    (handler, co_handler): &(EngagementHandler, EngagementHandler),
    round: usize,
) -> Round {
    let Sizes {
        videos,
        users,
        events_per_user,
        consume_events,
        consume_rounds,
        ..
    } = bench.sizes;
    let prefix = &bench.prefix;
    let mut rc = bench.config.clone();
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
    let raw = raw_consume(&rc, total_events).await;
    eprintln!("  ranker consume-and-apply of the same events...");
    let ranker = Tally::new();
    consume_all(
        &rc,
        loop_feed_ranking::engagement_consumer_options(&rc),
        Measured(handler.clone(), ranker.clone()),
        &round_producer,
        total_events,
    )
    .await;
    eprintln!("  co-engagement consume-and-apply of the same events (its own group)...");
    let co = Tally::new();
    consume_all(
        &rc,
        loop_feed_ranking::co_engagement_consumer_options(&rc),
        Measured(co_handler.clone(), co.clone()),
        &round_producer,
        total_events,
    )
    .await;
    eprintln!(
        "  round {}: ranker {:.0} events/s, co-engagement {:.0} events/s, raw {:.0} events/s: {:.2}x, {:.2}x",
        round + 1,
        ranker.rate(),
        co.rate(),
        raw.rate(),
        ranker.rate() / raw.rate(),
        co.rate() / raw.rate()
    );
    Round {
        raw: raw.rate(),
        ranker: ranker.rate(),
        co: co.rate(),
        raw_startup: raw.startup_secs(),
        ranker_startup: ranker.startup_secs(),
    }
}

/// The baseline: a plain rdkafka consumer reading `total` events of the
/// round's engagement topic, doing nothing with them.
async fn raw_consume(rc: &Config, total: u64) -> Arc<Tally> {
    let raw = Tally::new();
    let raw_consumer =
        kafka::consumer(&rc.kafka, &testing::unique("raw"), "earliest").expect("consumer");
    rdkafka::consumer::Consumer::subscribe(&raw_consumer, &[&rc.kafka.topic(topics::ENGAGEMENT)])
        .expect("subscribe");
    while raw.count() < total {
        let m = raw_consumer.recv().await.expect("recv");
        raw.arrived();
        std::hint::black_box(rdkafka::Message::payload(&m).map(<[u8]>::len));
        raw.done(1);
        if raw.count().is_multiple_of(5000) {
            eprint!("\r  raw consumed {}/{total}", raw.count());
        }
    }
    eprintln!();
    raw
}
