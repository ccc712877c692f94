//! Analytics equal a from-scratch recount of the raw events after a stream
//! with duplicates and redeliveries, and a replay into an empty database
//! (a new consumer group) rebuilds the same numbers.

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

mod common;

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

struct Video {
    id: String,
    creator: String,
    category: String,
    hashtags: Vec<String>,
}

/// A realistic stream: registrations, videos (one old, one removed), follows
/// and unfollows, views, likes and unlikes, comments and deletions, shares,
/// gifts.
fn stream(seed: u64) -> (Vec<String>, Vec<Ev>) {
    use ev::content_event::Payload as C;
    let mut rng = Rng(seed);
    let now = Utc::now();
    let creators: Vec<String> = (0..3).map(|_| Uuid::now_v7().to_string()).collect();
    let viewers: Vec<String> = (0..40).map(|_| Uuid::now_v7().to_string()).collect();
    let countries = ["US", "BR", "DE", "IN", "GB"];
    let births = [
        "2009-04-01",
        "2004-06-15",
        "1998-01-30",
        "1987-09-09",
        "1975-12-12",
        "1960-02-02",
    ];
    let mut out = Vec::new();
    for (i, v) in viewers.iter().enumerate() {
        if i % 8 == 7 {
            continue; // no profile: counts in the audience total only
        }
        out.push(content(
            now,
            C::UserRegistered(ev::UserRegistered {
                user_id: v.clone(),
                role: 1,
                country: countries[rng.below(countries.len())].into(),
                language: "en".into(),
                gender: 1 + rng.below(4) as i32,
                birth_date: births[rng.below(births.len())].into(),
                declared_interests: vec![],
            }),
        ));
    }
    let cats = ["beauty", "comedy", "food"];
    let tags = ["glow", "fyp", "morning", "recipe", "lol"];
    let mut videos = Vec::new();
    for (ci, c) in creators.iter().enumerate() {
        for k in 0..4 {
            let published = if ci == 0 && k == 3 {
                now - chrono::Duration::days(WINDOW_DAYS + 10)
            } else {
                now - chrono::Duration::days(rng.below(20) as i64)
            };
            let v = Video {
                id: Uuid::now_v7().to_string(),
                creator: c.clone(),
                category: cats[rng.below(3)].into(),
                hashtags: (0..1 + rng.below(3))
                    .map(|_| tags[rng.below(tags.len())].to_string())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            };
            out.push(content(
                published,
                C::VideoPublished(ev::VideoPublished {
                    video: Some(ev::VideoSnapshot {
                        video_id: v.id.clone(),
                        creator_id: c.clone(),
                        hashtags: v.hashtags.clone(),
                        category: v.category.clone(),
                        servable: true,
                        published_at: ts(published),
                        ..Default::default()
                    }),
                }),
            ));
            videos.push(v);
        }
    }
    for _ in 0..900 {
        let viewer = &viewers[rng.below(viewers.len())];
        let v = &videos[rng.below(videos.len())];
        let at = now - chrono::Duration::minutes(rng.below(60 * 24 * 10) as i64);
        match rng.below(10) {
            0..=4 => out.push(Ev::Engagement(ev::EngagementEvent {
                event_id: Uuid::now_v7().to_string(),
                occurred_at: ts(at),
                user_id: viewer.clone(),
                video_id: v.id.clone(),
                creator_id: v.creator.clone(),
                kind: ev::EngagementKind::View as i32,
                watch_ms: 5000,
                video_duration_ms: 15000,
                hashtags: v.hashtags.clone(),
                category: v.category.clone(),
                // What the gateway credited: most views count; repeats,
                // unserved views and creators' own views must not.
                credit: match rng.below(8) {
                    0 => ev::EngagementCredit::Duplicate,
                    1 => ev::EngagementCredit::Unverified,
                    2 => ev::EngagementCredit::OwnVideo,
                    3 => ev::EngagementCredit::Unspecified,
                    _ => ev::EngagementCredit::Counted,
                } as i32,
                ..Default::default()
            })),
            5 => out.push(content(
                at,
                C::VideoLiked(ev::VideoLiked {
                    user_id: viewer.clone(),
                    video_id: v.id.clone(),
                    creator_id: v.creator.clone(),
                }),
            )),
            6 => out.push(content(
                at,
                C::VideoUnliked(ev::VideoUnliked {
                    user_id: viewer.clone(),
                    video_id: v.id.clone(),
                    creator_id: v.creator.clone(),
                }),
            )),
            7 => {
                let comment = Uuid::now_v7().to_string();
                out.push(content(
                    at,
                    C::CommentAdded(ev::CommentAdded {
                        comment_id: comment.clone(),
                        video_id: v.id.clone(),
                        creator_id: v.creator.clone(),
                        author_id: viewer.clone(),
                        parent_comment_id: String::new(),
                    }),
                ));
                if rng.chance(30) {
                    out.push(content(
                        at,
                        C::CommentDeleted(ev::CommentDeleted {
                            comment_id: comment,
                            video_id: v.id.clone(),
                            creator_id: v.creator.clone(),
                        }),
                    ));
                }
            }
            8 => out.push(content(
                at,
                C::VideoShared(ev::VideoShared {
                    user_id: viewer.clone(),
                    video_id: v.id.clone(),
                    creator_id: v.creator.clone(),
                    channel: "copy_link".into(),
                }),
            )),
            _ => {
                let c = &creators[rng.below(creators.len())];
                let p = if rng.chance(75) {
                    C::UserFollowed(ev::UserFollowed {
                        follower_id: viewer.clone(),
                        followee_id: c.clone(),
                    })
                } else {
                    C::UserUnfollowed(ev::UserUnfollowed {
                        follower_id: viewer.clone(),
                        followee_id: c.clone(),
                    })
                };
                out.push(content(at, p));
            }
        }
    }
    // One of creator 1's videos is removed.
    let removed = videos.iter().find(|v| v.creator == creators[1]).unwrap();
    out.push(content(
        now,
        C::VideoRemoved(ev::VideoRemoved {
            video_id: removed.id.clone(),
            creator_id: removed.creator.clone(),
            reason: 1,
        }),
    ));
    for i in 0..12 {
        let c = &creators[i % 3];
        out.push(Ev::Wallet(ev::WalletEvent {
            event_id: Uuid::now_v7().to_string(),
            occurred_at: ts(now - chrono::Duration::days(if i == 0 { 45 } else { 1 })),
            payload: Some(ev::wallet_event::Payload::GiftSent(ev::GiftSent {
                transaction_id: Uuid::now_v7().to_string(),
                sender_id: viewers[i].clone(),
                recipient_id: c.clone(),
                gift_id: "rose".into(),
                gift_name: "Rose".into(),
                count: 1,
                coins: 1 + i as i64,
                diamonds: 1 + i as i64,
                video_id: videos[0].id.clone(),
                live_room_id: String::new(),
            })),
        }));
    }
    (creators, out)
}

/// creator, category, hashtags, published_at, removed.
type VideoFacts = (String, String, Vec<String>, DateTime<Utc>, bool);

/// The analytics of every creator, recounted from the unique events in
/// production order, with the same definitions as the service.
fn recount(
    creators: &[String],
    events: &[Ev],
    now: DateTime<Utc>,
) -> BTreeMap<String, pb::CreatorAnalytics> {
    use ev::content_event::Payload as C;
    let since = now - chrono::Duration::days(WINDOW_DAYS);
    let mut seen = BTreeSet::new();
    let mut follows: BTreeSet<(String, String)> = BTreeSet::new();
    let mut profiles: HashMap<String, (Option<NaiveDate>, i16, String)> = HashMap::new();
    let mut videos: HashMap<String, VideoFacts> = HashMap::new();
    let mut views: HashMap<String, i64> = HashMap::new();
    let mut likes: BTreeSet<(String, String)> = BTreeSet::new();
    let mut comments: HashMap<String, String> = HashMap::new();
    let mut shares: HashMap<String, i64> = HashMap::new();
    let mut audience: HashMap<String, HashMap<String, DateTime<Utc>>> = HashMap::new();
    let mut gifts: HashMap<String, (String, i64, DateTime<Utc>)> = HashMap::new();
    for e in events {
        if !seen.insert(e.id()) {
            continue;
        }
        match e {
            Ev::Engagement(x) => {
                // Brand deals are priced on these: only credited views count.
                if !matches!(
                    x.credit(),
                    ev::EngagementCredit::Counted | ev::EngagementCredit::Unspecified
                ) {
                    continue;
                }
                *views.entry(x.video_id.clone()).or_default() += 1;
                let at = loop_platform::time::from_timestamp("t", x.occurred_at.as_ref()).unwrap();
                let last = audience
                    .entry(x.creator_id.clone())
                    .or_default()
                    .entry(x.user_id.clone())
                    .or_insert(at);
                *last = (*last).max(at);
            }
            Ev::Wallet(x) => {
                if let Some(ev::wallet_event::Payload::GiftSent(g)) = &x.payload {
                    let at =
                        loop_platform::time::from_timestamp("t", x.occurred_at.as_ref()).unwrap();
                    gifts.entry(g.transaction_id.clone()).or_insert((
                        g.recipient_id.clone(),
                        g.diamonds,
                        at,
                    ));
                }
            }
            Ev::Content(x) => match x.payload.as_ref().unwrap() {
                C::VideoPublished(p) => {
                    let v = p.video.as_ref().unwrap();
                    let at =
                        loop_platform::time::from_timestamp("t", v.published_at.as_ref()).unwrap();
                    videos.insert(
                        v.video_id.clone(),
                        (
                            v.creator_id.clone(),
                            v.category.clone(),
                            v.hashtags.clone(),
                            at,
                            false,
                        ),
                    );
                }
                C::VideoRemoved(r) => {
                    if let Some(v) = videos.get_mut(&r.video_id) {
                        v.4 = true;
                    }
                }
                C::UserFollowed(f) => {
                    follows.insert((f.followee_id.clone(), f.follower_id.clone()));
                }
                C::UserUnfollowed(f) => {
                    follows.remove(&(f.followee_id.clone(), f.follower_id.clone()));
                }
                C::UserRegistered(u) => {
                    profiles.insert(
                        u.user_id.clone(),
                        (
                            NaiveDate::parse_from_str(&u.birth_date, "%Y-%m-%d").ok(),
                            u.gender as i16,
                            u.country.clone(),
                        ),
                    );
                }
                C::VideoLiked(l) => {
                    likes.insert((l.video_id.clone(), l.user_id.clone()));
                }
                C::VideoUnliked(l) => {
                    likes.remove(&(l.video_id.clone(), l.user_id.clone()));
                }
                C::CommentAdded(c) => {
                    comments.insert(c.comment_id.clone(), c.video_id.clone());
                }
                C::CommentDeleted(c) => {
                    comments.remove(&c.comment_id);
                }
                C::VideoShared(s) => *shares.entry(s.video_id.clone()).or_default() += 1,
                _ => {}
            },
        }
    }
    let mut out = BTreeMap::new();
    for c in creators {
        let window: Vec<(&String, &VideoFacts)> = videos
            .iter()
            .filter(|(_, v)| &v.0 == c && !v.4 && v.3 >= since)
            .collect();
        let n = window.len() as i64;
        let views_of = |id: &String| views.get(id).copied().unwrap_or(0);
        let total_views: i64 = window.iter().map(|(id, _)| views_of(id)).sum();
        let interactions: i64 = window
            .iter()
            .map(|(id, _)| {
                likes.iter().filter(|l| &l.0 == *id).count() as i64
                    + comments.values().filter(|v| v == id).count() as i64
                    + shares.get(*id).copied().unwrap_or(0)
            })
            .sum();
        let ratio = |a: i64, b: i64| {
            if b <= 0 {
                0.0
            } else {
                (a as f64 / b as f64).clamp(0.0, 1.0)
            }
        };
        let top5 = |m: BTreeMap<String, i64>| {
            let mut v: Vec<(String, i64)> = m.into_iter().filter(|x| x.1 > 0).collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.into_iter()
                .take(5)
                .map(|(k, x)| pb::Share {
                    key: k,
                    share: ratio(x, total_views),
                })
                .collect::<Vec<_>>()
        };
        let mut cats = BTreeMap::new();
        let mut tags = BTreeMap::new();
        for (id, v) in &window {
            if !v.1.is_empty() {
                *cats.entry(v.1.clone()).or_insert(0) += views_of(id);
            }
            for h in &v.2 {
                *tags.entry(h.clone()).or_insert(0) += views_of(id);
            }
        }
        let rows: Vec<(Option<NaiveDate>, i16, Option<String>, i64)> = audience
            .get(c)
            .map(|m| {
                m.iter()
                    .filter(|(_, at)| **at >= since)
                    .map(|(viewer, _)| match profiles.get(viewer) {
                        Some((b, g, country)) => (*b, *g, Some(country.clone()), 1),
                        None => (None, 0, None, 1),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let aud = analytics::audience(&rows, now.date_naive());
        out.insert(
            c.clone(),
            pb::CreatorAnalytics {
                creator_id: c.clone(),
                followers: follows.iter().filter(|f| &f.0 == c).count() as u64,
                avg_views_30d: if n > 0 { (total_views / n) as u64 } else { 0 },
                engagement_rate: ratio(interactions, total_views),
                videos_30d: n as u32,
                audience_age_bands: analytics::age_shares(&aud.age_bands),
                audience_genders: analytics::gender_shares(&aud.genders),
                audience_countries: analytics::top(&aud.countries, 10),
                top_categories: top5(cats),
                top_hashtags: top5(tags),
                gifts_received_diamonds_30d: gifts
                    .values()
                    .filter(|g| &g.0 == c && g.2 >= since)
                    .map(|g| g.1)
                    .sum(),
                computed_at: None,
            },
        );
    }
    out
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
    shutdown.cancel();
}
