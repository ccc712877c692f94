//! Analytics equal a from-scratch recount of the raw events after a stream
//! with duplicates and redeliveries, and a replay into an empty database
//! (a new consumer group) rebuilds the same numbers. The stream and the
//! reference recount are modules of their own.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::field_reassign_with_default
)]

use loop_platform::bench::Rng;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use loop_creator_marketplace::analytics::{self, WINDOW_DAYS};
use loop_platform::auth::Role;
use loop_platform::config::KafkaConfig;
use loop_platform::kafka::{Producer, topics};
use loop_platform::testing::{self, TestDb};
use loop_platform::time::to_timestamp;
use loop_proto::creator_marketplace::v1 as pb;
use loop_proto::creator_marketplace::v1::creator_marketplace_service_client::CreatorMarketplaceServiceClient;
use loop_proto::events::v1 as ev;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use uuid::Uuid;

#[path = "../common/mod.rs"]
mod common;
mod recount;
mod shop;
mod stream;
mod studio;

use recount::recount;
use stream::stream;
use studio::check_studio;

/// One event as produced: topic, key, payload.
#[derive(Clone)]
enum Ev {
    Content(ev::ContentEvent),
    Engagement(ev::EngagementEvent),
    Wallet(ev::WalletEvent),
}

impl Ev {
    fn id(&self) -> String {
        match self {
            Ev::Content(e) => e.event_id.clone(),
            Ev::Engagement(e) => e.event_id.clone(),
            Ev::Wallet(e) => e.event_id.clone(),
        }
    }
}

fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(t))
}

fn content(at: DateTime<Utc>, p: ev::content_event::Payload) -> Ev {
    Ev::Content(ev::ContentEvent {
        event_id: Uuid::now_v7().to_string(),
        occurred_at: ts(at),
        payload: Some(p),
    })
}

async fn produce(producer: &Producer, e: &Ev) {
    use ev::content_event::Payload as C;
    match e {
        Ev::Engagement(x) => producer
            .publish(
                topics::ENGAGEMENT,
                &x.user_id,
                "loop.events.v1.EngagementEvent",
                x,
            )
            .await
            .expect("produce"),
        Ev::Wallet(x) => producer
            .publish(topics::WALLET, &x.event_id, "loop.events.v1.WalletEvent", x)
            .await
            .expect("produce"),
        Ev::Content(x) => {
            let key = match x.payload.as_ref().unwrap() {
                C::UserFollowed(f) => f.follower_id.clone(),
                C::UserUnfollowed(f) => f.follower_id.clone(),
                C::UserRegistered(u) => u.user_id.clone(),
                C::VideoPublished(p) => p.video.as_ref().unwrap().video_id.clone(),
                C::VideoRemoved(r) => r.video_id.clone(),
                C::VideoLiked(l) => l.video_id.clone(),
                C::VideoUnliked(l) => l.video_id.clone(),
                C::CommentAdded(c) => c.video_id.clone(),
                C::CommentDeleted(c) => c.video_id.clone(),
                C::VideoShared(s) => s.video_id.clone(),
                _ => x.event_id.clone(),
            };
            producer
                .publish(topics::CONTENT, &key, "loop.events.v1.ContentEvent", x)
                .await
                .expect("produce")
        }
    };
}

struct Market {
    client: CreatorMarketplaceServiceClient<Channel>,
    pool: PgPool,
    _db: TestDb,
}

async fn start_market(kafka: &KafkaConfig, group: &str, shutdown: &CancellationToken) -> Market {
    let db = TestDb::create("manalytics").await;
    let mut config = common::market_config(&db, kafka, group);
    config.consumer.max_batch = 100;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(loop_creator_marketplace::run(config, l, shutdown.clone()));
    let channel = loop_platform::grpc::channel(&format!("http://{addr}")).unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(db.url())
        .await
        .unwrap();
    Market {
        client: CreatorMarketplaceServiceClient::new(channel),
        pool,
        _db: db,
    }
}

async fn wait_processed(m: &Market, unique: i64) {
    let pool = m.pool.clone();
    testing::wait_for(
        "every unique event processed",
        Duration::from_secs(120),
        || {
            let pool = pool.clone();
            async move {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events")
                    .fetch_one(&pool)
                    .await
                    .ok()?;
                assert!(
                    n <= unique,
                    "processed {n} events, only {unique} are unique"
                );
                (n == unique).then_some(())
            }
        },
    )
    .await;
}

async fn served(
    m: &Market,
    keys: &loop_platform::testing::TestKeys,
    creators: &[String],
) -> BTreeMap<String, pb::CreatorAnalytics> {
    let token = keys.issue(
        &Uuid::now_v7().to_string(),
        Role::Admin,
        Duration::from_secs(600),
    );
    let mut out = BTreeMap::new();
    for c in creators {
        let mut a = m
            .client
            .clone()
            .get_creator_analytics(loop_platform::grpc::request(
                pb::GetCreatorAnalyticsRequest {
                    creator_id: c.clone(),
                },
                Some(&token),
                Duration::from_secs(30),
            ))
            .await
            .expect("analytics")
            .into_inner()
            .analytics
            .expect("analytics");
        a.computed_at = None;
        out.insert(c.clone(), a);
    }
    out
}

#[tokio::test]
async fn analytics_equal_a_recount_after_duplicates_redelivery_and_replay() {
    testing::init_telemetry();
    let prefix = testing::unique("mktan");
    let kafka = testing::kafka_config(&prefix);
    let shutdown = CancellationToken::new();
    let keys = loop_platform::testing::TestKeys;
    let first = start_market(&kafka, &format!("{prefix}-a"), &shutdown).await;
    // The service migrates at start.
    testing::wait_for("marketplace migrated", Duration::from_secs(60), || {
        let pool = first.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM processed_events")
                .fetch_one(&pool)
                .await
                .ok()
        }
    })
    .await;
    loop_platform::kafka::ensure_topics(
        &kafka,
        &[topics::ENGAGEMENT, topics::CONTENT, topics::WALLET],
    )
    .await
    .unwrap();

    let (creators, events) = stream(0x5EED_CAFE);
    let producer = Producer::new(&kafka, "analytics-test").unwrap();
    let mut rng = Rng(42);
    let mut sent = Vec::new();
    for e in &events {
        produce(&producer, e).await;
        sent.push(e.clone());
        // Duplicates: the producer retried, the same event twice in a row.
        if rng.chance(15) {
            produce(&producer, e).await;
            sent.push(e.clone());
        }
    }
    // Redelivery: a relay re-publishes a stretch it already published.
    for e in &events[events.len() / 3..events.len() / 3 + 150] {
        produce(&producer, e).await;
        sent.push(e.clone());
    }
    let unique = events.len() as i64;
    assert!(
        sent.len() as i64 > unique + 150,
        "the stream has duplicates"
    );

    wait_processed(&first, unique).await;
    let expected = recount(&creators, &sent, Utc::now());
    let got = served(&first, &keys, &creators).await;
    assert_eq!(got, expected, "analytics differ from the recount");
    check_studio(&first, &keys, &creators, &sent).await;
    // The numbers are not trivial.
    assert!(
        expected
            .values()
            .all(|a| a.followers > 0 && a.avg_views_30d > 0 && a.engagement_rate > 0.0)
    );
    assert!(
        expected
            .values()
            .all(|a| !a.audience_countries.is_empty() && a.gifts_received_diamonds_30d > 0)
    );
    let c0 = &expected[&creators[0]];
    assert_eq!(
        c0.videos_30d, 3,
        "the 40-day-old video is outside the window"
    );
    assert_eq!(
        expected[&creators[1]].videos_30d, 3,
        "the removed video does not count"
    );

    // The search projection catches up to the same numbers.
    let pool = first.pool.clone();
    let c0_id = Uuid::parse_str(&creators[0]).unwrap();
    let want = (
        c0.followers as i64,
        c0.avg_views_30d as i64,
        c0.engagement_rate,
    );
    testing::wait_for("projection refreshed", Duration::from_secs(60), || {
        let pool = pool.clone();
        async move {
            let row: (i64, i64, f64) = sqlx::query_as(
                "SELECT followers, avg_views_30d, engagement_rate FROM creator_stats WHERE creator_id = $1",
            )
            .bind(c0_id)
            .fetch_optional(&pool)
            .await
            .ok()??;
            (row == want).then_some(())
        }
    })
    .await;

    // Replay: a new consumer group into an empty database rebuilds the same numbers.
    let second = start_market(&kafka, &format!("{prefix}-b"), &shutdown).await;
    wait_processed(&second, unique).await;
    let replayed = served(&second, &keys, &creators).await;
    assert_eq!(replayed, expected, "a replay rebuilds the same analytics");
    check_studio(&second, &keys, &creators, &sent).await;
    shutdown.cancel();
}
