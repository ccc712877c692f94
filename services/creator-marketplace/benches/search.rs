//! Creator search benchmark: LOOP_BENCH_CREATORS (default 100 000) creators
//! with realistic distributions (power-law followers, views tied to
//! followers, engagement falling with size, home countries and categories
//! skewed, audiences peaked on one age band and the home country), then
//! searches with realistic filter combinations, each figure beside a
//! primary-key SELECT of one creator on the same PostgreSQL, same pool, same
//! run (these machines are noisy, so the ratio is what to compare).
//! Target: search p99 <= 20x the primary-key SELECT p99.
//!
//! Run: `cargo bench -p loop-creator-marketplace --bench search` (needs the
//! local PostgreSQL). Writes target/bench/search.json and prints a table.

use std::time::Instant;

use loop_creator_marketplace::search::{Query, search};
use loop_platform::bench::{Figure, Rng, env_usize, stats};
use loop_platform::testing::TestDb;
use loop_proto::common::v1::PageRequest;
use loop_proto::creator_marketplace::v1 as pb;
use serde_json::json;
use uuid::Uuid;

const COUNTRIES: [(&str, u64); 12] = [
    ("US", 30),
    ("BR", 12),
    ("IN", 10),
    ("ID", 8),
    ("MX", 7),
    ("GB", 6),
    ("DE", 5),
    ("FR", 5),
    ("JP", 5),
    ("PH", 4),
    ("CA", 4),
    ("TR", 4),
];
const CATEGORIES: [&str; 24] = [
    "comedy",
    "dance",
    "beauty",
    "food",
    "fitness",
    "gaming",
    "music",
    "pets",
    "fashion",
    "travel",
    "diy",
    "education",
    "sports",
    "tech",
    "parenting",
    "cars",
    "art",
    "finance",
    "health",
    "books",
    "outdoors",
    "science",
    "film",
    "asmr",
];

fn pick_country(rng: &mut Rng) -> &'static str {
    let total: u64 = COUNTRIES.iter().map(|c| c.1).sum();
    let mut r = rng.next_u64() % total;
    for (c, w) in COUNTRIES {
        if r < w {
            return c;
        }
        r -= w;
    }
    "US"
}

/// Zipf-ish: popular categories are picked more often.
fn pick_category(rng: &mut Rng) -> &'static str {
    let i = (rng.unit().powf(2.0) * CATEGORIES.len() as f64) as usize;
    CATEGORIES[i.min(CATEGORIES.len() - 1)]
}

struct Creator {
    id: Uuid,
    listed: bool,
    open: bool,
    country: String,
    categories: Vec<String>,
    rate: i64,
    followers: i64,
    avg_views: i64,
    er: f64,
    age: Vec<f64>,
    gender: Vec<f64>,
    countries: serde_json::Value,
}

fn creator(rng: &mut Rng) -> Creator {
    // Power law: most creators have ~1-10k followers, a few have millions.
    let u = rng.unit().max(1e-9);
    let followers = ((1000.0 / u.powf(1.1)) as i64).min(80_000_000);
    let avg_views = (followers as f64 * (0.05 + 0.6 * rng.unit())) as i64;
    let er =
        (0.12 / (1.0 + (followers as f64).log10() - 3.0) * (0.5 + rng.unit())).clamp(0.001, 0.4);
    let country = pick_country(rng).to_owned();
    let mut categories: Vec<String> = (0..1 + rng.below(3))
        .map(|_| pick_category(rng).to_owned())
        .collect();
    categories.sort();
    categories.dedup();
    // Audience peaked on one band (mostly 18-24 / 25-34), the rest spread.
    let peak = [1usize, 1, 1, 2, 2, 0, 3, 4][rng.below(8)];
    let mut age: Vec<f64> = (0..6)
        .map(|i| {
            if i == peak {
                3.0 + 4.0 * rng.unit()
            } else {
                rng.unit()
            }
        })
        .collect();
    let known = 0.85 + 0.15 * rng.unit();
    let s: f64 = age.iter().sum();
    age.iter_mut().for_each(|a| *a = *a / s * known);
    let female = rng.unit();
    let gender = vec![female * 0.95, (1.0 - female) * 0.9, 0.02, 0.03];
    let home = 0.3 + 0.5 * rng.unit();
    let mut countries = serde_json::Map::new();
    countries.insert(country.clone(), json!(home));
    let mut left = (1.0 - home) * known;
    for _ in 0..4 {
        let c = pick_country(rng);
        let share = left * rng.unit() * 0.6;
        left -= share;
        let e = countries.entry(c.to_owned()).or_insert(json!(0.0));
        *e = json!(e.as_f64().unwrap_or(0.0) + share);
    }
    Creator {
        id: Uuid::now_v7(),
        listed: rng.below(100) < 90,
        open: rng.below(100) < 95,
        country,
        categories,
        rate: 5_000 + (followers / 20).min(5_000_000),
        followers,
        avg_views,
        er,
        age,
        gender,
        countries: serde_json::Value::Object(countries),
    }
}

async fn load(pool: &sqlx::PgPool, n: usize, rng: &mut Rng) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(n);
    let batch = 5_000;
    let mut done = 0;
    while done < n {
        let rows: Vec<Creator> = (0..batch.min(n - done)).map(|_| creator(rng)).collect();
        done += rows.len();
        ids.extend(rows.iter().map(|c| c.id));
        let age: Vec<String> = rows
            .iter()
            .map(|c| {
                format!(
                    "{{{}}}",
                    c.age
                        .iter()
                        .map(f64::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                )
            })
            .collect();
        let gender: Vec<String> = rows
            .iter()
            .map(|c| {
                format!(
                    "{{{}}}",
                    c.gender
                        .iter()
                        .map(f64::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                )
            })
            .collect();
        let cats: Vec<String> = rows
            .iter()
            .map(|c| format!("{{{}}}", c.categories.join(",")))
            .collect();
        sqlx::query(
            "INSERT INTO creator_stats (creator_id, has_profile, listed, open_to_offers, country, categories, rate_cents, \
             followers, avg_views_30d, engagement_rate, aud_age, aud_gender, aud_countries) \
             SELECT id, true, l, o, c, cats::text[], r, f, v, e, a::float8[], g::float8[], ac \
             FROM unnest($1::uuid[], $2::bool[], $3::bool[], $4::text[], $5::text[], $6::int8[], $7::int8[], $8::int8[], \
                         $9::float8[], $10::text[], $11::text[], $12::jsonb[]) AS t(id, l, o, c, cats, r, f, v, e, a, g, ac)",
        )
        .bind(rows.iter().map(|c| c.id).collect::<Vec<_>>())
        .bind(rows.iter().map(|c| c.listed).collect::<Vec<_>>())
        .bind(rows.iter().map(|c| c.open).collect::<Vec<_>>())
        .bind(rows.iter().map(|c| c.country.clone()).collect::<Vec<_>>())
        .bind(&cats)
        .bind(rows.iter().map(|c| c.rate).collect::<Vec<_>>())
        .bind(rows.iter().map(|c| c.followers).collect::<Vec<_>>())
        .bind(rows.iter().map(|c| c.avg_views).collect::<Vec<_>>())
        .bind(rows.iter().map(|c| c.er).collect::<Vec<_>>())
        .bind(&age)
        .bind(&gender)
        .bind(rows.iter().map(|c| c.countries.clone()).collect::<Vec<_>>())
        .execute(pool)
        .await
        .expect("load creators");
    }
    sqlx::query("ANALYZE creator_stats")
        .execute(pool)
        .await
        .expect("analyze");
    ids
}

fn audience(dim: pb::AudienceDimension, value: &str, min: f64) -> pb::AudienceFilter {
    pb::AudienceFilter {
        dimension: dim as i32,
        value: value.into(),
        min_share: min,
    }
}

/// What advertisers ask, in rough proportion.
fn mixes() -> Vec<(&'static str, pb::SearchCreatorsRequest)> {
    use pb::AudienceDimension as D;
    let page = |n| {
        Some(PageRequest {
            page_size: n,
            page_token: String::new(),
        })
    };
    vec![
        (
            "US mid-tier by followers",
            pb::SearchCreatorsRequest {
                countries: vec!["US".into()],
                follower_min: 10_000,
                follower_max: 1_000_000,
                sort: pb::CreatorSort::FollowersDesc as i32,
                page: page(20),
                ..Default::default()
            },
        ),
        (
            "category + engagement by engagement",
            pb::SearchCreatorsRequest {
                category: "beauty".into(),
                min_engagement_rate: 0.03,
                sort: pb::CreatorSort::EngagementRateDesc as i32,
                page: page(20),
                ..Default::default()
            },
        ),
        (
            "US, 18-24 >= 40% of audience",
            pb::SearchCreatorsRequest {
                countries: vec!["US".into()],
                audience: vec![audience(D::AgeBand, "AGE_BAND_18_24", 0.4)],
                sort: pb::CreatorSort::FollowersDesc as i32,
                page: page(20),
                ..Default::default()
            },
        ),
        (
            "audience BR >= 30%, female >= 50%, 10k+ avg views",
            pb::SearchCreatorsRequest {
                audience: vec![
                    audience(D::Country, "BR", 0.3),
                    audience(D::Gender, "GENDER_FEMALE", 0.5),
                ],
                min_avg_views: 10_000,
                sort: pb::CreatorSort::AvgViewsDesc as i32,
                page: page(20),
                ..Default::default()
            },
        ),
        (
            "fitness in US/GB/CA, 50k+, rate <= $500",
            pb::SearchCreatorsRequest {
                countries: vec!["US".into(), "GB".into(), "CA".into()],
                category: "fitness".into(),
                follower_min: 50_000,
                max_rate_cents: 50_000,
                sort: pb::CreatorSort::FollowersDesc as i32,
                page: page(20),
                ..Default::default()
            },
        ),
        (
            "everyone by avg views",
            pb::SearchCreatorsRequest {
                sort: pb::CreatorSort::AvgViewsDesc as i32,
                page: page(50),
                ..Default::default()
            },
        ),
        (
            "rare: JP gaming, 25-34 >= 30%, engagement >= 5%",
            pb::SearchCreatorsRequest {
                countries: vec!["JP".into()],
                category: "gaming".into(),
                audience: vec![audience(D::AgeBand, "AGE_BAND_25_34", 0.3)],
                min_engagement_rate: 0.05,
                sort: pb::CreatorSort::FollowersDesc as i32,
                page: page(20),
                ..Default::default()
            },
        ),
    ]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n = env_usize("LOOP_BENCH_CREATORS", 100_000);
    let rounds = env_usize("LOOP_BENCH_SEARCH_ROUNDS", 300);
    let db = TestDb::create("bench_search").await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(db.url())
        .await
        .expect("connect");
    loop_creator_marketplace::MIGRATOR
        .run(&pool)
        .await
        .expect("migrate");
    let mut rng = Rng(0x00C0_FFEE);
    let started = Instant::now();
    let ids = load(&pool, n, &mut rng).await;
    let load_secs = started.elapsed().as_secs_f64();
    eprintln!("loaded {n} creators in {load_secs:.1}s");

    let mixes = mixes();
    let queries: Vec<(&str, Query)> = mixes
        .iter()
        .map(|(name, req)| (*name, Query::parse(req).expect("valid search")))
        .collect();
    // Second pages through the token, as a client scrolls.
    let mut second_pages = Vec::new();
    for (name, req) in &mixes {
        let first = search(&pool, &Query::parse(req).expect("valid"))
            .await
            .expect("search");
        let token = first.page.map(|p| p.next_page_token).unwrap_or_default();
        if !token.is_empty() {
            let mut next = req.clone();
            next.page.get_or_insert_with(Default::default).page_token = token;
            second_pages.push((*name, Query::parse(&next).expect("valid token")));
        }
    }
    // Warm-up: both paths, so caches are equally warm.
    for (_, q) in queries.iter().chain(second_pages.iter()) {
        search(&pool, q).await.expect("search");
    }
    let pk = "SELECT creator_id, country, categories, rate_cents, followers, avg_views_30d, engagement_rate, aud_countries \
              FROM creator_stats WHERE creator_id = $1";
    for id in ids.iter().take(200) {
        sqlx::query(pk)
            .bind(id)
            .fetch_optional(&pool)
            .await
            .expect("pk");
    }

    let mut search_ms = Vec::new();
    let mut per_mix: Vec<Vec<f64>> = vec![Vec::new(); queries.len()];
    let mut pk_ms = Vec::new();
    let mut results = 0usize;
    let all: Vec<&Query> = queries
        .iter()
        .map(|q| &q.1)
        .chain(second_pages.iter().map(|q| &q.1))
        .collect();
    for round in 0..rounds {
        for (i, q) in all.iter().enumerate() {
            let t = Instant::now();
            let r = search(&pool, q).await.expect("search");
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            results += r.results.len();
            search_ms.push(ms);
            if i < per_mix.len() {
                per_mix[i].push(ms);
            }
            // One primary-key SELECT per search, interleaved.
            let id = ids[(round * all.len() + i) * 7919 % ids.len()];
            let t = Instant::now();
            sqlx::query(pk)
                .bind(id)
                .fetch_optional(&pool)
                .await
                .expect("pk");
            pk_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let s = stats(search_ms.clone());
    let p = stats(pk_ms);
    let mut figures = vec![
        Figure::new(
            "search p99 (mixed realistic filters, pages 1 and 2)",
            s.p99,
            "ms",
        )
        .against("primary-key SELECT p99", p.p99)
        .at_most(20.0),
        Figure::new("search p50", s.p50, "ms").against("primary-key SELECT p50", p.p50),
    ];
    let mut details = serde_json::Map::new();
    for ((name, _), samples) in queries.iter().zip(per_mix) {
        let st = stats(samples);
        figures.push(
            Figure::new(format!("p99: {name}"), st.p99, "ms")
                .against("primary-key SELECT p99", p.p99),
        );
        details.insert(
            (*name).to_owned(),
            json!({"p50_ms": st.p50, "p99_ms": st.p99}),
        );
    }
    // The plans, to show indexes are used (no sequential scan of creators).
    let mut plans = serde_json::Map::new();
    for (name, req) in &mixes {
        let q = Query::parse(req).expect("valid");
        let plan = loop_creator_marketplace::search::explain(&pool, &q)
            .await
            .expect("explain");
        plans.insert((*name).to_owned(), json!(plan));
    }
    loop_platform::bench::report(
        "search",
        &format!("{n} creators, {} searches over {} filter mixes (+ their second pages), one connection at a time", search_ms.len(), mixes.len()),
        &figures,
        json!({
            "creators": n,
            "load_secs": load_secs,
            "avg_results_per_search": results as f64 / search_ms.len() as f64,
            "per_mix": details,
            "plans": plans,
        }),
    )
    .expect("report");
}
