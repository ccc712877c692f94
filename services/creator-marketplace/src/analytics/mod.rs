//! Creator analytics from in-house events.
//!
//! The consumer ([`AnalyticsHandler`]) applies each batch in one Postgres
//! transaction: every event id is inserted into `processed_events` first and
//! an event already there is skipped, so duplicates and redeliveries change
//! nothing. What is stored are facts whose effect does not depend on the
//! order of different topics (set rows for follows, likes, comments and
//! viewers; counters for views and shares; per-video facts), so the numbers
//! ([`compute`]) equal a recount of the raw events, and a replay into an
//! empty database rebuilds them. Which stream counts what:
//!
//! - views: `engagement.v1` VIEW (the only source of views);
//! - likes, comments, shares, follows, videos, viewer profiles: `content.v1`
//!   (the content service's authoritative records, not client reports);
//! - gifts: `wallet.v1` GiftSent;
//! - shop (GMV and conversion): `commerce.v1` ReferralRecorded (a visit
//!   from the creator's showcase, video or LIVE) and the orders attributed
//!   to the creator (OrderPaid with an affiliate, then OrderRefunded and
//!   OrderCancelled of the same order, which share its key and arrive after
//!   it): GMV = what buyers paid net of refunds, cancelled orders left out;
//!   conversion = orders neither cancelled nor fully refunded / visits,
//!   both over the window.
//!
//! Audience = distinct viewers of the creator's videos in the last 30 days,
//! split by the viewer's own profile (age band from the birth date at read
//! time, gender, country from UserRegistered); viewers without a profile
//! count in the total only, so a split sums to at most 1.
//!
//! Each batch marks the creators it touched dirty; [`run_refresher`] copies
//! their recomputed metrics into `creator_stats`, the table search reads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use loop_platform::config::KafkaConfig;
use loop_platform::kafka::{BatchHandler, Delivery, topics};
use loop_proto::common::v1::{AgeBand, Gender};
use loop_proto::creator_marketplace::v1 as pb;
use loop_proto::events::v1 as ev;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::Config;

mod apply;

use apply::apply;

/// The analytics window.
pub const WINDOW_DAYS: i64 = 30;

pub struct AnalyticsHandler {
    pool: PgPool,
    engagement_topic: String,
    content_topic: String,
    wallet_topic: String,
    commerce_topic: String,
}

impl AnalyticsHandler {
    pub fn new(pool: PgPool, kafka: &KafkaConfig) -> Self {
        Self {
            pool,
            engagement_topic: kafka.topic(topics::ENGAGEMENT),
            content_topic: kafka.topic(topics::CONTENT),
            wallet_topic: kafka.topic(topics::WALLET),
            commerce_topic: kafka.topic(topics::COMMERCE),
        }
    }
}

/// Views seen by the analytics, by the credit the gateway gave them (only
/// COUNTED and legacy ones count).
static ENGAGEMENT_COUNTED: std::sync::LazyLock<prometheus::IntCounterVec> =
    std::sync::LazyLock::new(|| {
        loop_platform::metrics::counter_vec(
            "loop_marketplace_views_total",
            "View events the creator analytics saw, by credit; only ENGAGEMENT_CREDIT_COUNTED (and legacy UNSPECIFIED) count",
            &["credit"],
        )
    });

/// One decoded event of any of the four topics.
enum Event {
    Engagement(ev::EngagementEvent),
    Content(ev::ContentEvent),
    Wallet(ev::WalletEvent),
    Commerce(ev::CommerceEvent),
}

fn uuid(field: &str, value: &str) -> Result<Uuid, String> {
    Uuid::parse_str(value).map_err(|_| format!("{field} is not a UUID: {value:?}"))
}

fn when(ts: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    ts.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .unwrap_or_else(Utc::now)
}

impl AnalyticsHandler {
    fn decode(&self, d: &Delivery) -> Result<(Uuid, Event), String> {
        let (id, event) = if d.topic == self.engagement_topic {
            let e: ev::EngagementEvent = d.decode().map_err(|e| format!("undecodable: {e}"))?;
            (e.event_id.clone(), Event::Engagement(e))
        } else if d.topic == self.content_topic {
            let e: ev::ContentEvent = d.decode().map_err(|e| format!("undecodable: {e}"))?;
            (e.event_id.clone(), Event::Content(e))
        } else if d.topic == self.wallet_topic {
            let e: ev::WalletEvent = d.decode().map_err(|e| format!("undecodable: {e}"))?;
            (e.event_id.clone(), Event::Wallet(e))
        } else if d.topic == self.commerce_topic {
            let e: ev::CommerceEvent = d.decode().map_err(|e| format!("undecodable: {e}"))?;
            (e.event_id.clone(), Event::Commerce(e))
        } else {
            return Err(format!("unexpected topic {}", d.topic));
        };
        Ok((uuid("event_id", &id)?, event))
    }
}

impl BatchHandler for AnalyticsHandler {
    async fn handle(&self, batch: &[Delivery]) -> anyhow::Result<Vec<(usize, String)>> {
        let mut poison = Vec::new();
        let mut tx = self.pool.begin().await?;
        let mut dirty: BTreeSet<Uuid> = BTreeSet::new();
        for (index, d) in batch.iter().enumerate() {
            let (event_id, event) = match self.decode(d) {
                Ok(x) => x,
                Err(reason) => {
                    poison.push((index, reason));
                    continue;
                }
            };
            // Validate before recording the id, so a poison message is not
            // marked processed.
            if let Err(reason) = validate(&event) {
                poison.push((index, reason));
                continue;
            }
            let fresh = sqlx::query(
                "INSERT INTO processed_events (event_id) VALUES ($1) ON CONFLICT DO NOTHING",
            )
            .bind(event_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !fresh {
                continue;
            }
            apply(&mut tx, &event, &mut dirty).await?;
        }
        if !dirty.is_empty() {
            let ids: Vec<Uuid> = dirty.into_iter().collect();
            sqlx::query(
                "INSERT INTO dirty_creators (creator_id, marked_at) SELECT unnest($1::uuid[]), clock_timestamp() \
                 ON CONFLICT (creator_id) DO UPDATE SET marked_at = EXCLUDED.marked_at",
            )
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(poison)
    }
}

/// The ids an event needs, checked before anything is written.
fn validate(event: &Event) -> Result<(), String> {
    use ev::content_event::Payload as C;
    use ev::wallet_event::Payload as W;
    match event {
        Event::Engagement(e) => {
            if e.kind == ev::EngagementKind::View as i32 {
                uuid("user_id", &e.user_id)?;
                uuid("video_id", &e.video_id)?;
                uuid("creator_id", &e.creator_id)?;
            }
        }
        Event::Content(e) => match &e.payload {
            Some(C::VideoPublished(ev::VideoPublished { video }))
            | Some(C::VideoUpdated(ev::VideoUpdated { video })) => {
                let v = video.as_ref().ok_or("video snapshot missing")?;
                uuid("video.video_id", &v.video_id)?;
                uuid("video.creator_id", &v.creator_id)?;
            }
            Some(C::VideoRemoved(r)) => {
                uuid("video_id", &r.video_id)?;
            }
            Some(C::UserFollowed(ev::UserFollowed {
                follower_id,
                followee_id,
            }))
            | Some(C::UserUnfollowed(ev::UserUnfollowed {
                follower_id,
                followee_id,
            })) => {
                uuid("follower_id", follower_id)?;
                uuid("followee_id", followee_id)?;
            }
            Some(C::UserRegistered(u)) => {
                uuid("user_id", &u.user_id)?;
            }
            Some(C::VideoLiked(ev::VideoLiked {
                user_id,
                video_id,
                creator_id,
            }))
            | Some(C::VideoUnliked(ev::VideoUnliked {
                user_id,
                video_id,
                creator_id,
            }))
            | Some(C::VideoShared(ev::VideoShared {
                user_id,
                video_id,
                creator_id,
                ..
            })) => {
                uuid("user_id", user_id)?;
                uuid("video_id", video_id)?;
                uuid("creator_id", creator_id)?;
            }
            Some(C::CommentAdded(c)) => {
                uuid("comment_id", &c.comment_id)?;
                uuid("video_id", &c.video_id)?;
                uuid("creator_id", &c.creator_id)?;
            }
            Some(C::CommentDeleted(c)) => {
                uuid("comment_id", &c.comment_id)?;
                uuid("video_id", &c.video_id)?;
                uuid("creator_id", &c.creator_id)?;
            }
            _ => {}
        },
        Event::Wallet(e) => {
            if let Some(W::GiftSent(g)) = &e.payload {
                uuid("transaction_id", &g.transaction_id)?;
                uuid("recipient_id", &g.recipient_id)?;
            }
        }
        Event::Commerce(e) => {
            use ev::commerce_event::Payload as M;
            match &e.payload {
                Some(M::ReferralRecorded(r)) => {
                    uuid("creator_id", &r.creator_id)?;
                    uuid("product_id", &r.product_id)?;
                }
                Some(M::OrderPaid(o)) => {
                    uuid("order_id", &o.order_id)?;
                    if !o.affiliate_id.is_empty() {
                        uuid("affiliate_id", &o.affiliate_id)?;
                    }
                }
                Some(M::OrderRefunded(ev::OrderRefunded { order_id, .. }))
                | Some(M::OrderCancelled(ev::OrderCancelled { order_id, .. })) => {
                    uuid("order_id", order_id)?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

// --- The numbers ------------------------------------------------------------------

/// A creator's analytics as of `now`, computed from the stored facts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Analytics {
    pub creator_id: Uuid,
    pub followers: u64,
    pub avg_views_30d: u64,
    pub engagement_rate: f64,
    pub videos_30d: u32,
    /// Index = AgeBand value - 1 (13_17 .. 55_plus).
    pub age_bands: [f64; 6],
    /// Index = Gender value - 1 (female, male, non_binary, undisclosed).
    pub genders: [f64; 4],
    /// Every country, share of the audience.
    pub countries: BTreeMap<String, f64>,
    pub top_categories: Vec<(String, f64)>,
    pub top_hashtags: Vec<(String, f64)>,
    pub gifts_diamonds_30d: i64,
    pub shop: Shop,
    pub computed_at: DateTime<Utc>,
}

/// A creator's shop numbers over the window (see the module's doc).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Shop {
    pub gmv_cents: i64,
    pub orders: i64,
    pub visits: i64,
    pub conversion_rate: f64,
}

/// The shop numbers of `creator` since `since`.
pub async fn shop(pool: &PgPool, creator: Uuid, since: DateTime<Utc>) -> sqlx::Result<Shop> {
    let (gmv, orders): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(sum(total_cents - refunded_cents), 0)::bigint, \
                count(*) FILTER (WHERE refunded_cents < total_cents) \
         FROM shop_orders WHERE creator_id = $1 AND paid_at >= $2 AND NOT cancelled",
    )
    .bind(creator)
    .bind(since)
    .fetch_one(pool)
    .await?;
    let visits: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM shop_referrals WHERE creator_id = $1 AND occurred_at >= $2",
    )
    .bind(creator)
    .bind(since)
    .fetch_one(pool)
    .await?;
    Ok(Shop {
        gmv_cents: gmv,
        orders,
        visits,
        conversion_rate: ratio(orders, visits),
    })
}

fn ratio(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        0.0
    } else {
        (part as f64 / whole as f64).clamp(0.0, 1.0)
    }
}

/// Audience split of a set of viewers given as (birth_date, gender, country, count) groups.
pub struct Audience {
    pub total: i64,
    pub age_bands: [f64; 6],
    pub genders: [f64; 4],
    pub countries: BTreeMap<String, f64>,
}

pub fn audience(
    rows: &[(Option<NaiveDate>, i16, Option<String>, i64)],
    today: NaiveDate,
) -> Audience {
    let total: i64 = rows.iter().map(|r| r.3).sum();
    let mut ages = [0i64; 6];
    let mut genders = [0i64; 4];
    let mut countries: BTreeMap<String, i64> = BTreeMap::new();
    for (birth, gender, country, n) in rows {
        if let Some(b) = birth {
            let band = loop_platform::time::age_band(*b, today) as usize;
            if (1..=6).contains(&band) {
                ages[band - 1] += n;
            }
        }
        let g = usize::try_from(*gender).unwrap_or(0);
        if (1..=4).contains(&g) {
            genders[g - 1] += n;
        }
        if let Some(c) = country.as_ref().filter(|c| !c.is_empty()) {
            *countries.entry(c.clone()).or_default() += n;
        }
    }
    Audience {
        total,
        age_bands: ages.map(|n| ratio(n, total)),
        genders: genders.map(|n| ratio(n, total)),
        countries: countries
            .into_iter()
            .map(|(c, n)| (c, ratio(n, total)))
            .collect(),
    }
}

type AudienceRow = (Option<NaiveDate>, i16, Option<String>, i64);

/// The audience of `creator` (distinct viewers since `since`).
async fn creator_audience(
    pool: &PgPool,
    creator: Uuid,
    since: DateTime<Utc>,
) -> sqlx::Result<Vec<AudienceRow>> {
    sqlx::query_as::<_, AudienceRow>(
        "SELECT p.birth_date, COALESCE(p.gender, 0::smallint), p.country, count(*) \
         FROM creator_viewers cv LEFT JOIN viewers p ON p.user_id = cv.viewer_id \
         WHERE cv.creator_id = $1 AND cv.last_view_at >= $2 \
         GROUP BY 1, 2, 3",
    )
    .bind(creator)
    .bind(since)
    .fetch_all(pool)
    .await
}

/// The audience of a set of videos (distinct viewers, any time).
pub async fn videos_audience(pool: &PgPool, videos: &[Uuid]) -> sqlx::Result<Vec<AudienceRow>> {
    sqlx::query_as::<_, AudienceRow>(
        "SELECT p.birth_date, COALESCE(p.gender, 0::smallint), p.country, count(*) \
         FROM (SELECT DISTINCT viewer_id FROM video_viewers WHERE video_id = ANY($1)) vv \
         LEFT JOIN viewers p ON p.user_id = vv.viewer_id GROUP BY 1, 2, 3",
    )
    .bind(videos)
    .fetch_all(pool)
    .await
}

pub async fn compute(pool: &PgPool, creator: Uuid, now: DateTime<Utc>) -> sqlx::Result<Analytics> {
    let since = now - chrono::Duration::days(WINDOW_DAYS);
    let followers: i64 = sqlx::query_scalar("SELECT count(*) FROM follows WHERE followee_id = $1")
        .bind(creator)
        .fetch_one(pool)
        .await?;
    let (videos, views, interactions): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE(sum(s.views), 0)::bigint, COALESCE(sum(s.likes + s.comments + s.shares), 0)::bigint \
         FROM videos v LEFT JOIN video_stats s ON s.video_id = v.video_id \
         WHERE v.creator_id = $1 AND NOT v.removed AND v.published_at >= $2",
    )
    .bind(creator)
    .bind(since)
    .fetch_one(pool)
    .await?;
    let categories: Vec<(String, i64)> = sqlx::query_as(
        "SELECT v.category, sum(s.views)::bigint FROM videos v JOIN video_stats s ON s.video_id = v.video_id \
         WHERE v.creator_id = $1 AND NOT v.removed AND v.published_at >= $2 AND v.category <> '' AND s.views > 0 \
         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5",
    )
    .bind(creator)
    .bind(since)
    .fetch_all(pool)
    .await?;
    let hashtags: Vec<(String, i64)> = sqlx::query_as(
        "SELECT h, sum(s.views)::bigint FROM videos v JOIN video_stats s ON s.video_id = v.video_id \
         CROSS JOIN LATERAL unnest(v.hashtags) AS h \
         WHERE v.creator_id = $1 AND NOT v.removed AND v.published_at >= $2 AND s.views > 0 \
         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5",
    )
    .bind(creator)
    .bind(since)
    .fetch_all(pool)
    .await?;
    let gifts: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(diamonds), 0)::bigint FROM gifts WHERE recipient_id = $1 AND occurred_at >= $2",
    )
    .bind(creator)
    .bind(since)
    .fetch_one(pool)
    .await?;
    let aud = audience(
        &creator_audience(pool, creator, since).await?,
        now.date_naive(),
    );
    let shop = shop(pool, creator, since).await?;
    Ok(Analytics {
        creator_id: creator,
        followers: u64::try_from(followers).unwrap_or(0),
        avg_views_30d: if videos > 0 {
            u64::try_from(views / videos).unwrap_or(0)
        } else {
            0
        },
        engagement_rate: ratio(interactions, views),
        videos_30d: u32::try_from(videos).unwrap_or(u32::MAX),
        age_bands: aud.age_bands,
        genders: aud.genders,
        countries: aud.countries,
        top_categories: categories
            .into_iter()
            .map(|(c, n)| (c, ratio(n, views)))
            .collect(),
        top_hashtags: hashtags
            .into_iter()
            .map(|(h, n)| (h, ratio(n, views)))
            .collect(),
        gifts_diamonds_30d: gifts,
        shop,
        computed_at: now,
    })
}

/// Shares sorted by share descending, then key; at most `limit`.
pub fn top(map: &BTreeMap<String, f64>, limit: usize) -> Vec<pb::Share> {
    let mut v: Vec<(&String, &f64)> = map.iter().filter(|(_, s)| **s > 0.0).collect();
    v.sort_by(|a, b| b.1.total_cmp(a.1).then_with(|| a.0.cmp(b.0)));
    v.into_iter()
        .take(limit)
        .map(|(k, s)| pb::Share {
            key: k.clone(),
            share: *s,
        })
        .collect()
}

pub fn age_shares(shares: &[f64; 6]) -> Vec<pb::Share> {
    shares
        .iter()
        .enumerate()
        .filter(|(_, s)| **s > 0.0)
        .map(|(i, s)| pb::Share {
            key: AgeBand::try_from(i32::try_from(i + 1).unwrap_or(0))
                .unwrap_or(AgeBand::Unspecified)
                .as_str_name()
                .to_owned(),
            share: *s,
        })
        .collect()
}

pub fn gender_shares(shares: &[f64; 4]) -> Vec<pb::Share> {
    shares
        .iter()
        .enumerate()
        .filter(|(_, s)| **s > 0.0)
        .map(|(i, s)| pb::Share {
            key: Gender::try_from(i32::try_from(i + 1).unwrap_or(0))
                .unwrap_or(Gender::Unspecified)
                .as_str_name()
                .to_owned(),
            share: *s,
        })
        .collect()
}

impl Analytics {
    pub fn to_proto(&self) -> pb::CreatorAnalytics {
        let list = |v: &[(String, f64)]| {
            v.iter()
                .map(|(k, s)| pb::Share {
                    key: k.clone(),
                    share: *s,
                })
                .collect()
        };
        pb::CreatorAnalytics {
            creator_id: self.creator_id.to_string(),
            followers: self.followers,
            avg_views_30d: self.avg_views_30d,
            engagement_rate: self.engagement_rate,
            videos_30d: self.videos_30d,
            audience_age_bands: age_shares(&self.age_bands),
            audience_genders: gender_shares(&self.genders),
            audience_countries: top(&self.countries, 10),
            top_categories: list(&self.top_categories),
            top_hashtags: list(&self.top_hashtags),
            gifts_received_diamonds_30d: self.gifts_diamonds_30d,
            computed_at: Some(loop_platform::time::to_timestamp(self.computed_at)),
            shop_gmv_cents_30d: self.shop.gmv_cents,
            shop_orders_30d: u64::try_from(self.shop.orders).unwrap_or(0),
            shop_referral_visits_30d: u64::try_from(self.shop.visits).unwrap_or(0),
            shop_conversion_rate_30d: self.shop.conversion_rate,
        }
    }
}

// --- The search projection -----------------------------------------------------------

/// Recomputes `creators` and writes their metrics into `creator_stats`.
pub async fn refresh(pool: &PgPool, creators: &[Uuid]) -> sqlx::Result<()> {
    let now = Utc::now();
    for creator in creators {
        let a = compute(pool, *creator, now).await?;
        let countries: HashMap<&String, f64> = a.countries.iter().map(|(k, v)| (k, *v)).collect();
        sqlx::query(
            "INSERT INTO creator_stats (creator_id, followers, avg_views_30d, engagement_rate, aud_age, aud_gender, aud_countries, computed_at, \
             shop_gmv_cents_30d, shop_conversion_rate_30d) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (creator_id) DO UPDATE SET followers = EXCLUDED.followers, avg_views_30d = EXCLUDED.avg_views_30d, \
             engagement_rate = EXCLUDED.engagement_rate, aud_age = EXCLUDED.aud_age, aud_gender = EXCLUDED.aud_gender, \
             aud_countries = EXCLUDED.aud_countries, computed_at = EXCLUDED.computed_at, \
             shop_gmv_cents_30d = EXCLUDED.shop_gmv_cents_30d, shop_conversion_rate_30d = EXCLUDED.shop_conversion_rate_30d",
        )
        .bind(creator)
        .bind(i64::try_from(a.followers).unwrap_or(i64::MAX))
        .bind(i64::try_from(a.avg_views_30d).unwrap_or(i64::MAX))
        .bind(a.engagement_rate)
        .bind(a.age_bands.to_vec())
        .bind(a.genders.to_vec())
        .bind(sqlx::types::Json(countries))
        .bind(now)
        .bind(a.shop.gmv_cents)
        .bind(a.shop.conversion_rate)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// One refresher round: recomputes up to `limit` dirty creators and clears
/// their marks, unless a batch marked them again meanwhile (the mark's time
/// changed, so the next round recomputes them). Replicas may overlap; a
/// recompute is idempotent. Also marks creators whose projection is older
/// than `stale_after` (the window slides without events). Returns how many
/// were recomputed.
pub async fn refresh_round(
    pool: &PgPool,
    limit: i64,
    stale_after: Duration,
) -> sqlx::Result<usize> {
    let stale_before = Utc::now() - chrono::Duration::from_std(stale_after).unwrap_or_default();
    sqlx::query(
        "INSERT INTO dirty_creators (creator_id) \
         SELECT creator_id FROM creator_stats WHERE computed_at < $1 LIMIT 1000 ON CONFLICT DO NOTHING",
    )
    .bind(stale_before)
    .execute(pool)
    .await?;
    let marked: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT creator_id, marked_at FROM dirty_creators ORDER BY marked_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    if marked.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = marked.iter().map(|m| m.0).collect();
    let times: Vec<DateTime<Utc>> = marked.iter().map(|m| m.1).collect();
    refresh(pool, &ids).await?;
    sqlx::query(
        "DELETE FROM dirty_creators d USING unnest($1::uuid[], $2::timestamptz[]) AS m(id, at) \
         WHERE d.creator_id = m.id AND d.marked_at = m.at",
    )
    .bind(&ids)
    .bind(&times)
    .execute(pool)
    .await?;
    Ok(ids.len())
}

pub async fn run_refresher(
    pool: PgPool,
    config: std::sync::Arc<Config>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let interval = Duration::from_millis(config.jobs.refresh_interval_ms);
    let stale = Duration::from_secs(config.jobs.stale_after_secs);
    loop {
        let more = match refresh_round(&pool, config.jobs.refresh_batch, stale).await {
            Ok(n) => usize::try_from(config.jobs.refresh_batch).is_ok_and(|b| n >= b),
            Err(err) => {
                tracing::warn!(error = ?err, "analytics refresh failed; retrying");
                false
            }
        };
        if more {
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
    }
}
