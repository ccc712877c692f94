//! The outbox relay against a real Postgres and broker: it publishes every
//! committed event once and in order, resumes a crashed relay without
//! sending its last batch twice, and wakes in process for writers that skip
//! NOTIFY.

use std::time::Duration;

use loop_platform::kafka::{self, EVENT_TYPE_HEADER, Producer};
use loop_platform::outbox::{self, OutboxConfig, OutboxEvent, Relay};
use loop_platform::testing::{self, TestDb};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const TOPIC: &str = "relay.v1";

struct Setup {
    pool: PgPool,
    producer: Producer,
    _db: TestDb,
}

async fn setup(name: &str) -> Setup {
    let db = TestDb::create(name).await;
    let pool = loop_platform::db::connect(&db.config)
        .await
        .expect("connect");
    outbox::ensure_schema(&pool).await.expect("outbox schema");
    let config = testing::kafka_config(&testing::unique(name));
    kafka::ensure_topics(&config, &[TOPIC])
        .await
        .expect("topic");
    let producer = Producer::new(&config, "outbox-test").expect("producer");
    Setup {
        pool,
        producer,
        _db: db,
    }
}

/// Commits `n` events on one key; returns their ids in commit order.
async fn commit_events(pool: &PgPool, n: usize, quietly: bool) -> Vec<Uuid> {
    let mut ids = Vec::new();
    let mut tx = pool.begin().await.expect("begin");
    for i in 0..n {
        let id = Uuid::new_v4();
        let event = OutboxEvent {
            event_id: id,
            topic: TOPIC,
            key: "one-key",
            event_type: "test.Event",
            payload: format!("event {i}").into_bytes(),
        };
        if quietly {
            outbox::enqueue_quietly(&mut tx, event)
                .await
                .expect("enqueue");
        } else {
            outbox::enqueue(&mut tx, event).await.expect("enqueue");
        }
        ids.push(id);
    }
    tx.commit().await.expect("commit");
    ids
}

async fn wait_drained(pool: &PgPool) {
    testing::wait_for("the outbox to drain", Duration::from_secs(20), || async {
        (outbox::backlog(pool).await.ok() == Some(0)).then_some(())
    })
    .await;
}

/// The event ids on the topic, in offset order (one partition per key).
async fn on_topic(producer: &Producer) -> Vec<String> {
    let topic = producer.config().topic(TOPIC);
    let mut deliveries = testing::read_all(producer.config(), &topic).await;
    deliveries.sort_by_key(|d| (d.partition, d.offset));
    deliveries
        .iter()
        .filter_map(|d| d.header("event-id").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_crashed_relays_published_batch_is_marked_not_sent_again() {
    let s = setup("relay_crash").await;
    let ids = commit_events(&s.pool, 5, false).await;
    // A relay published the first three and died before marking them.
    let topic = s.producer.config().topic(TOPIC);
    for (i, id) in ids.iter().take(3).enumerate() {
        let headers = vec![
            (EVENT_TYPE_HEADER.to_owned(), "test.Event".to_owned()),
            ("event-id".to_owned(), id.to_string()),
        ];
        s.producer
            .send_raw(
                &topic,
                b"one-key",
                format!("event {i}").as_bytes(),
                &headers,
            )
            .await
            .expect("publish");
    }
    assert_eq!(outbox::backlog(&s.pool).await.expect("backlog"), 5);

    let shutdown = CancellationToken::new();
    let relay = Relay::new(
        s.pool.clone(),
        s.producer.clone(),
        &OutboxConfig::every_ms(50),
    );
    let task = tokio::spawn(relay.run(shutdown.clone()));
    wait_drained(&s.pool).await;
    // And events committed while it leads go out once, after the others.
    let more = commit_events(&s.pool, 2, false).await;
    wait_drained(&s.pool).await;
    shutdown.cancel();
    task.await.expect("join").expect("relay");

    let expected: Vec<String> = ids.iter().chain(&more).map(Uuid::to_string).collect();
    assert_eq!(
        on_topic(&s.producer).await,
        expected,
        "each event once, in commit order"
    );
}

#[tokio::test]
async fn a_quiet_commit_is_relayed_when_the_writer_wakes_the_relay() {
    let s = setup("relay_wake").await;
    let relay = Leading::start(&s).await;
    let quiet = commit_events(&s.pool, 3, true).await;
    let first = relay.wake_and_stop(&s.pool).await;
    let expected: Vec<String> = first.iter().chain(&quiet).map(Uuid::to_string).collect();
    assert_eq!(on_topic(&s.producer).await, expected);
}

/// A relay that only a wake moves (its poll is far longer than any wait
/// here), started and leading: the event it was given to prove that is
/// relayed.
struct Leading {
    wake: std::sync::Arc<tokio::sync::Notify>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    first: Vec<Uuid>,
}

impl Leading {
    async fn start(s: &Setup) -> Self {
        let shutdown = CancellationToken::new();
        let relay = Relay::new(
            s.pool.clone(),
            s.producer.clone(),
            &OutboxConfig::every_ms(60_000),
        );
        let wake = relay.waker();
        let task = tokio::spawn(relay.run(shutdown.clone()));
        // The relay reads the (empty) tail once when it takes the lead; an
        // event relayed proves it is leading before the wake is tested.
        let first = commit_events(&s.pool, 1, false).await;
        wait_drained(&s.pool).await;
        Self {
            wake,
            shutdown,
            task,
            first,
        }
    }

    /// Wakes the relay, waits for the outbox to drain and stops it; the
    /// first event's id.
    async fn wake_and_stop(self, pool: &PgPool) -> Vec<Uuid> {
        self.wake.notify_one();
        wait_drained(pool).await;
        self.shutdown.cancel();
        self.task.await.expect("join").expect("relay");
        self.first
    }
}

/// Events committed without waiting for the WAL flush (as the auction's bid
/// writer commits, marking them `unflushed`) go out once each, in order,
/// after the relay's fence. (That the fence flushes first cannot be observed
/// from here: the relay's own marking commit flushes right after it
/// publishes.)
#[tokio::test]
async fn events_committed_without_a_flush_are_relayed_once_in_order() {
    let s = setup("relay_fence").await;
    let relay = Leading::start(&s).await;
    // Committed with synchronous_commit off.
    let mut tx = s.pool.begin().await.expect("begin");
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await
        .expect("async commit");
    let mut unflushed = Vec::new();
    for i in 0..3 {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO outbox (event_id, topic, msg_key, event_type, payload, unflushed) \
             VALUES ($1, $2, 'one-key', 'test.Event', $3, true)",
        )
        .bind(id)
        .bind(TOPIC)
        .bind(format!("unflushed {i}").into_bytes())
        .execute(&mut *tx)
        .await
        .expect("enqueue");
        unflushed.push(id);
    }
    tx.commit().await.expect("commit");
    let first = relay.wake_and_stop(&s.pool).await;
    let expected: Vec<String> = first
        .iter()
        .chain(&unflushed)
        .map(Uuid::to_string)
        .collect();
    assert_eq!(on_topic(&s.producer).await, expected);
}
