//! `loopctl simulate`: the platform under realistic traffic, driven only
//! through the gateway's public HTTP API, as real clients would.
//!
//! Viewers (each with a hidden taste over hashtag families, a daily-active
//! probability, a country, an age and a device) open the app, scroll For You
//! and Following, watch with a watch time drawn from their taste, like,
//! comment, share, follow, skip, say "not interested", buy coins and send
//! gifts in LIVE rooms; creators (Zipf popularity) post videos, go LIVE and
//! cash out; advertisers run In-Feed campaigns. Everything is derived from
//! `--seed` (what the server answers, and so the exact traffic, still
//! varies run to run), rate-limited to `--rate` requests per second.

mod client;
mod report;
mod world;

use futures::StreamExt as _;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use parking_lot::{Mutex, RwLock};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};

use client::Api;
use world::{FAMILIES, PASSWORD, World};

pub use report::text as render;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Base URL of the gateway.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        env = "LOOP_GATEWAY_URL"
    )]
    pub gateway: String,
    #[arg(long, default_value_t = 2000)]
    pub viewers: usize,
    #[arg(long, default_value_t = 200)]
    pub creators: usize,
    #[arg(long, default_value_t = 8)]
    pub advertisers: usize,
    /// Videos each creator posts at set-up, plus more for popular ones.
    #[arg(long, default_value_t = 3)]
    pub videos_per_creator: usize,
    /// How long traffic runs after set-up: 60s, 2m or plain seconds.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Target request rate over all simulated clients (requests per second).
    #[arg(long, default_value_t = 150.0)]
    pub rate: f64,
    /// Concurrent simulated sessions.
    #[arg(long, default_value_t = 48)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The ranker's ad positions (1-based), to compute the fill rate.
    #[arg(long, value_delimiter = ',', default_value = "4,11")]
    pub ad_slots: Vec<u32>,
    /// For You page size.
    #[arg(long, default_value_t = 8)]
    pub page_size: usize,
    /// Share of viewers who cheat: click floods on ads, the same like sent
    /// over and over, other viewers' serve tokens; creators also watch their
    /// own videos. The report shows it detected and none of it billed or
    /// counted.
    #[arg(long, default_value_t = 0.05)]
    pub abusers: f64,
    /// Write the report as JSON here too.
    #[arg(long, default_value = "target/simulate/report.json")]
    pub json: String,
    /// Administrator (reconciles the ledger, approves payouts).
    #[arg(long, default_value = "admin")]
    pub admin_handle: String,
    #[arg(
        long,
        env = "LOOP_ADMIN_PASSWORD",
        default_value = "loop-admin-dev-password"
    )]
    pub admin_password: String,
    /// HMAC key of the wallet's test receipts (development deployments).
    #[arg(
        long,
        env = "LOOP_WALLET_TEST_RECEIPT_SECRET",
        default_value = loop_wallet::config::DEV_TEST_RECEIPT_SECRET
    )]
    pub receipt_secret: String,
    /// Directory of the platform's pid files (`make up`), for peak RSS and CPU.
    #[arg(long, default_value = ".state/pids")]
    pub pid_dir: String,
    /// No live terminal view.
    #[arg(long)]
    pub quiet: bool,
    /// Also write the headline figures as a benchmark report
    /// (target/bench/simulate.json), for `make bench`'s summary.
    #[arg(long)]
    pub bench_report: bool,
}

/// `60s`, `2m`, `1h` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{s:?}: expected e.g. 60s, 2m or 90"))?;
    let factor = match unit {
        "ms" => 0.001,
        "s" | "" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{s:?}: unit must be ms, s, m or h")),
    };
    if n.is_nan() || n <= 0.0 {
        return Err(format!("{s:?}: must be positive"));
    }
    Ok(Duration::from_secs_f64(n * factor))
}

#[derive(Clone)]
struct Account {
    token: String,
    user_id: String,
}

#[derive(Clone)]
struct Video {
    id: String,
    creator: usize,
}

#[derive(Default)]
struct Tally {
    /// Per viewer, per For You page: (organic items from their taste, organic items).
    feeds: HashMap<usize, Vec<(u32, u32)>>,
    offered_ad_positions: u64,
    filled_ad_positions: u64,
    /// Impression ids (tokens) reported per campaign.
    impressions: HashMap<String, HashSet<String>>,
    purchases: u64,
    gifts: u64,
    coins_gifted: i64,
    payouts_requested: u64,
    freshness_ms: Vec<f64>,
    freshness_timeouts: u64,
    /// Invalid traffic sent on purpose (see `Args::abusers`).
    abuse: Abuse,
    /// Honest ad clicks per (viewer, campaign): the report must count
    /// exactly these (at most the per-day cap of each).
    honest_clicks: HashMap<(usize, String), u64>,
}

#[derive(Default)]
struct Abuse {
    /// Clicks sent in floods (each within a second of its impression).
    /// Flooded clicks per campaign.
    ad_clicks_flooded: HashMap<String, u64>,
    /// Engagement events by the credit the gateway answered with.
    credits: BTreeMap<String, u64>,
    /// Events carrying another viewer's serve token, refused (400).
    foreign_tokens_refused: u64,
    foreign_tokens_sent: u64,
}

struct Sim {
    args: Args,
    api: Api,
    world: World,
    viewers: Vec<Account>,
    creators: Vec<Account>,
    admin: Account,
    videos: RwLock<Vec<Video>>,
    /// Open LIVE rooms: (room id, creator index).
    rooms: RwLock<Vec<(String, usize)>>,
    packages: Vec<Value>,
    gifts: Vec<Value>,
    campaigns: Vec<(usize, String, i64)>,
    tally: Mutex<Tally>,
    stop: AtomicBool,
    receipt_counter: AtomicU64,
    run_id: String,
    /// The last (video, serve token) a cheater saw: the next one replays it.
    last_served: Mutex<Option<(String, Value, Value)>>,
}

fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

impl Sim {
    fn viewer_rng(&self, viewer: usize, session: u64) -> StdRng {
        StdRng::seed_from_u64(
            self.args
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add((viewer as u64) << 32)
                .wrapping_add(session),
        )
    }

    /// Whether viewer `v` is one of the cheaters (`Args::abusers`).
    fn is_abuser(&self, v: usize) -> bool {
        self.args.abusers > 0.0 && {
            let every = (1.0 / self.args.abusers).round().max(1.0) as usize;
            v % every == every - 1
        }
    }

    fn family_of_video(&self, item: &Value) -> Option<usize> {
        item["hashtags"]
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .find_map(world::family_of_tag)
    }

    /// One app session of viewer `v`: For You pages (the first after app
    /// open), engagement, ads, sometimes Following, gifts and purchases.
    async fn session(&self, v: usize, session: u64) {
        let mut rng = self.viewer_rng(v, session);
        let viewer = &self.world.viewers[v];
        let account = &self.viewers[v];
        let token = account.token.as_str();
        let pages = rng.random_range(1..=4);
        let context =
            json!({"country": viewer.country, "language": "en", "device_os": viewer.device});
        for page in 0..pages {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let app_open = page == 0;
            let path = format!(
                "/v1/feed/for-you?page_size={}&country={}&device_os={}&app_open={app_open}",
                self.args.page_size, viewer.country, viewer.device
            );
            let reply = self.api.get("GET /v1/feed/for-you", &path, token).await;
            if !reply.ok() {
                continue;
            }
            let items = reply.body["items"].as_array().cloned().unwrap_or_default();
            if self.is_abuser(v) {
                self.cheat(token, &context, &items).await;
                continue;
            }
            let offered = self
                .args
                .ad_slots
                .iter()
                .filter(|s| **s >= 1 && (**s as usize) <= items.len().max(1))
                .map(|s| s - 1)
                .chain(app_open.then_some(0))
                .collect::<HashSet<u32>>()
                .len() as u64;
            let (mut taste, mut organic) = (0u32, 0u32);
            let mut events = Vec::new();
            let mut ad_events = Vec::new();
            let mut filled = 0u64;
            for item in &items {
                if item["sponsored"] == true {
                    filled += 1;
                    let ad = &item["ad"];
                    let token = ad["impression_token"].as_str().unwrap_or_default();
                    if token.is_empty() {
                        continue;
                    }
                    let campaign = ad["campaign_id"].as_str().unwrap_or_default().to_owned();
                    let impression_id = uuid::Uuid::now_v7().to_string();
                    // Shown a few seconds ago; a click or view now, as a
                    // person would (a click within half a second of its
                    // impression is filtered as invalid traffic).
                    let shown_at = chrono::Utc::now()
                        - chrono::Duration::milliseconds(rng.random_range(2_000..8_000));
                    ad_events.push(json!({"event_id": impression_id, "kind": "impression", "impression_token": token, "occurred_at": shown_at}));
                    if rng.random_bool(0.3) {
                        ad_events.push(json!({"event_id": uuid::Uuid::now_v7().to_string(), "kind": "view", "impression_token": token, "watched_ms": 6500}));
                    }
                    if rng.random_bool(0.03) {
                        ad_events.push(json!({"event_id": uuid::Uuid::now_v7().to_string(), "kind": "click", "impression_token": token}));
                        *self
                            .tally
                            .lock()
                            .honest_clicks
                            .entry((v, campaign.clone()))
                            .or_default() += 1;
                    }
                    self.tally
                        .lock()
                        .impressions
                        .entry(campaign)
                        .or_default()
                        .insert(token.to_owned());
                    continue;
                }
                let video = &item["video"];
                let Some(video_id) = video["video_id"].as_str() else {
                    continue;
                };
                organic += 1;
                let family = self.family_of_video(video);
                let liked_family = family == Some(viewer.taste);
                if liked_family {
                    taste += 1;
                }
                let duration = video["duration_ms"].as_u64().unwrap_or(15_000).max(1_000);
                events.push(json!({"kind": "impression", "video_id": video_id}));
                if liked_family {
                    let watch = (duration as f64 * rng.random_range(0.92..2.3)) as u64;
                    events.push(json!({"kind": "view", "video_id": video_id, "watch_ms": watch}));
                    if rng.random_bool(0.6) {
                        events.push(json!({"kind": "like", "video_id": video_id}));
                        if rng.random_bool(0.3) {
                            self.api
                                .post(
                                    "POST /v1/videos/{id}/like",
                                    &format!("/v1/videos/{video_id}/like"),
                                    Some(token),
                                    &json!({}),
                                )
                                .await;
                        }
                    }
                    if rng.random_bool(0.08) {
                        events.push(json!({"kind": "share", "video_id": video_id}));
                        self.api
                            .post(
                                "POST /v1/videos/{id}/share",
                                &format!("/v1/videos/{video_id}/share"),
                                Some(token),
                                &json!({"channel": "copy_link"}),
                            )
                            .await;
                    }
                    if rng.random_bool(0.03) {
                        events.push(json!({"kind": "comment", "video_id": video_id}));
                        self.api
                            .post(
                                "POST /v1/videos/{id}/comments",
                                &format!("/v1/videos/{video_id}/comments"),
                                Some(token),
                                &json!({"text": "love this"}),
                            )
                            .await;
                    }
                    if rng.random_bool(0.03)
                        && let Some(creator) = video["creator_id"].as_str()
                    {
                        events.push(json!({"kind": "follow", "video_id": video_id}));
                        self.api
                            .post(
                                "POST /v1/users/{id}/follow",
                                &format!("/v1/users/{creator}/follow"),
                                Some(token),
                                &json!({}),
                            )
                            .await;
                    }
                } else if rng.random_bool(0.7) {
                    events.push(json!({"kind": "quick_skip", "video_id": video_id}));
                } else {
                    let watch = (duration as f64 * rng.random_range(0.1..0.5)) as u64;
                    events.push(json!({"kind": "view", "video_id": video_id, "watch_ms": watch}));
                    if rng.random_bool(0.02) {
                        events.push(json!({"kind": "not_interested", "video_id": video_id, "target": "video"}));
                    }
                }
            }
            // Engagement carries the serve token of the item it is with, as
            // a real client does, so it counts (docs/security.md).
            let served: HashMap<&str, &str> = items
                .iter()
                .filter_map(|i| {
                    Some((i["video"]["video_id"].as_str()?, i["serve_token"].as_str()?))
                })
                .collect();
            for event in &mut events {
                let token = event["video_id"]
                    .as_str()
                    .and_then(|v| served.get(v))
                    .copied();
                if let Some(token) = token {
                    event["serve_token"] = json!(token);
                }
            }
            {
                let mut tally = self.tally.lock();
                tally.offered_ad_positions += offered;
                tally.filled_ad_positions += filled;
                tally.feeds.entry(v).or_default().push((taste, organic));
            }
            for chunk in events.chunks(100) {
                self.api
                    .post(
                        "POST /v1/events",
                        "/v1/events",
                        Some(token),
                        &json!({"context": context, "events": chunk}),
                    )
                    .await;
            }
            if !ad_events.is_empty() {
                self.api
                    .post(
                        "POST /v1/ad-events",
                        "/v1/ad-events",
                        Some(token),
                        &json!({"context": context, "events": ad_events}),
                    )
                    .await;
            }
        }
        if rng.random_bool(0.15) {
            self.api
                .get("GET /v1/feed/following", "/v1/feed/following", token)
                .await;
        }
        if viewer.spender && rng.random_bool(0.5) {
            self.spend(&mut rng, v).await;
        }
    }

    /// What a cheater does with a page: reports each ad's impression and
    /// floods it with clicks at once; likes the first video fifty times with
    /// its serve token; replays the last serve token another cheater saw.
    async fn cheat(&self, token: &str, context: &Value, items: &[Value]) {
        let mut ad_events = Vec::new();
        let mut flooded: HashMap<String, u64> = HashMap::new();
        for item in items.iter().filter(|i| i["sponsored"] == true) {
            let Some(t) = item["ad"]["impression_token"].as_str() else {
                continue;
            };
            let campaign = item["ad"]["campaign_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            ad_events.push(json!({"event_id": uuid::Uuid::now_v7().to_string(), "kind": "impression", "impression_token": t}));
            for _ in 0..5 {
                ad_events.push(json!({"event_id": uuid::Uuid::now_v7().to_string(), "kind": "click", "impression_token": t}));
                *flooded.entry(campaign.clone()).or_default() += 1;
            }
            self.tally
                .lock()
                .impressions
                .entry(campaign)
                .or_default()
                .insert(t.to_owned());
        }
        if !ad_events.is_empty() {
            let sent = self
                .api
                .post(
                    "POST /v1/ad-events",
                    "/v1/ad-events",
                    Some(token),
                    &json!({"context": context, "events": ad_events}),
                )
                .await;
            if sent.ok() {
                let mut tally = self.tally.lock();
                for (campaign, n) in flooded {
                    *tally.abuse.ad_clicks_flooded.entry(campaign).or_default() += n;
                }
            }
        }
        let Some(first) = items.iter().find(|i| i["serve_token"].is_string()) else {
            return;
        };
        let (video, served) = (&first["video"]["video_id"], &first["serve_token"]);
        let likes: Vec<Value> = (0..50)
            .map(|_| json!({"kind": "like", "video_id": video, "serve_token": served}))
            .collect();
        let reply = self
            .api
            .post(
                "POST /v1/events",
                "/v1/events",
                Some(token),
                &json!({"context": context, "events": likes}),
            )
            .await;
        let replayed = self
            .last_served
            .lock()
            .replace((token.to_owned(), video.clone(), served.clone()))
            .filter(|(owner, _, _)| owner != token);
        self.tally_credits(&reply.body);
        if let Some((_, video, served)) = replayed {
            let reply = self
                .api
                .post("POST /v1/events", "/v1/events", Some(token), &json!({"events": [{"kind": "like", "video_id": video, "serve_token": served}]}))
                .await;
            let mut tally = self.tally.lock();
            tally.abuse.foreign_tokens_sent += 1;
            if reply.status == 400 {
                tally.abuse.foreign_tokens_refused += 1;
            }
        }
    }

    /// Creators watching their own new video, over and over.
    async fn self_views(&self, creator: usize, video: &str) {
        let views: Vec<Value> = (0..20)
            .map(|_| json!({"kind": "view", "video_id": video, "watch_ms": 9000}))
            .collect();
        let reply = self
            .api
            .post(
                "POST /v1/events",
                "/v1/events",
                Some(&self.creators[creator].token),
                &json!({"events": views}),
            )
            .await;
        self.tally_credits(&reply.body);
    }

    /// Counts the credits the gateway gave a batch of events.
    fn tally_credits(&self, accepted: &Value) {
        let mut tally = self.tally.lock();
        for credit in accepted["credits"].as_array().into_iter().flatten() {
            *tally
                .abuse
                .credits
                .entry(credit.as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
    }

    /// Buys coins when short, then gifts in a LIVE room or on a video of
    /// the viewer's taste.
    async fn spend(&self, rng: &mut StdRng, v: usize) {
        let token = self.viewers[v].token.as_str();
        let balance = self
            .api
            .get("GET /v1/wallet/balance", "/v1/wallet/balance", token)
            .await;
        let coins = balance.body["coins"]["available"].as_i64().unwrap_or(0);
        if coins < 50 {
            let Some(package) = self.packages.first() else {
                return;
            };
            let n = self.receipt_counter.fetch_add(1, Ordering::Relaxed);
            let receipt = loop_wallet::payments::TestProvider::new(&self.args.receipt_secret).sign(
                &loop_wallet::payments::TestReceipt {
                    receipt_id: format!("sim-{}-{n}", self.run_id),
                    product_id: package["store_product_id"]
                        .as_str()
                        .unwrap_or_default()
                        .into(),
                    amount_cents: package["price_cents"].as_i64().unwrap_or(0),
                },
            );
            let key = format!("sim-buy-{}-{n}", self.run_id);
            let reply = self
                .api
                .call(
                    "POST /v1/wallet/purchases",
                    Method::POST,
                    "/v1/wallet/purchases",
                    Some(token),
                    Some(&json!({"package_id": package["package_id"], "receipt": {"provider": "test", "receipt_data": receipt.receipt_data, "signature": receipt.signature}})),
                    Some(&key),
                )
                .await;
            if reply.ok() {
                self.tally.lock().purchases += 1;
            } else {
                return;
            }
        }
        let gift = &self.gifts[rng.random_range(0..self.gifts.len().clamp(1, 3))];
        let count = rng.random_range(1..=5u32);
        let room = {
            let rooms = self.rooms.read();
            (!rooms.is_empty()).then(|| rooms[rng.random_range(0..rooms.len())].clone())
        };
        let body = if let Some((room_id, creator)) = room {
            self.api
                .post(
                    "POST /v1/live/{id}/join",
                    &format!("/v1/live/{room_id}/join"),
                    Some(token),
                    &json!({}),
                )
                .await;
            json!({"gift_id": gift["gift_id"], "recipient_id": self.creators[creator].user_id, "live_room_id": room_id, "count": count})
        } else {
            let video = {
                let videos = self.videos.read();
                let taste = self.world.viewers[v].taste;
                let mine: Vec<&Video> = videos
                    .iter()
                    .filter(|x| self.world.creators[x.creator].family == taste)
                    .collect();
                if mine.is_empty() {
                    return;
                }
                mine[rng.random_range(0..mine.len())].clone()
            };
            json!({"gift_id": gift["gift_id"], "recipient_id": self.creators[video.creator].user_id, "video_id": video.id, "count": count})
        };
        let key = format!("sim-gift-{}-{}", self.run_id, uuid::Uuid::now_v7().simple());
        let reply = self
            .api
            .call(
                "POST /v1/wallet/gifts",
                Method::POST,
                "/v1/wallet/gifts",
                Some(token),
                Some(&body),
                Some(&key),
            )
            .await;
        if reply.ok() {
            let mut tally = self.tally.lock();
            tally.gifts += 1;
            tally.coins_gifted += reply.body["coins_spent"].as_i64().unwrap_or(0);
        }
    }

    /// Creators post new videos over time (by popularity).
    async fn creators_post(&self) {
        let mut rng = StdRng::seed_from_u64(self.args.seed ^ 0xC0FFEE);
        let every = Duration::from_secs_f64((self.args.duration.as_secs_f64() / 40.0).max(0.5));
        let mut n = 0;
        while !self.stop.load(Ordering::Relaxed) {
            tokio::time::sleep(every).await;
            let creator = self.world.pick_creator(&mut rng).index;
            if let Some(id) = self.publish(creator, 1000 + n).await {
                if self.args.abusers > 0.0 {
                    self.self_views(creator, &id).await;
                }
                self.videos.write().push(Video { id, creator });
            }
            n += 1;
        }
    }

    async fn publish(&self, creator: usize, n: usize) -> Option<String> {
        let family = world::family_tag(self.world.creators[creator].family);
        let reply = self
            .api
            .post(
                "POST /v1/videos",
                "/v1/videos",
                Some(&self.creators[creator].token),
                &json!({"caption": format!("take {n} #{family}"), "hashtags": [family], "category": family,
                        "duration_ms": 9_000 + (n % 7) * 2_000, "media_url": format!("https://cdn.loop.test/sim/{creator}/{n}.mp4")}),
            )
            .await;
        reply.body["video_id"].as_str().map(str::to_owned)
    }

    /// Creators with enough diamonds cash out; the administrator approves.
    async fn payouts(&self) {
        for (i, creator) in self.creators.iter().enumerate().take(20) {
            let balance = self
                .api
                .get(
                    "GET /v1/wallet/balance",
                    "/v1/wallet/balance",
                    &creator.token,
                )
                .await;
            let diamonds = balance.body["diamonds"]["available"].as_i64().unwrap_or(0);
            if diamonds < 2_000 {
                continue;
            }
            let key = format!("sim-payout-{}-{i}", self.run_id);
            let reply = self
                .api
                .call(
                    "POST /v1/wallet/payouts",
                    Method::POST,
                    "/v1/wallet/payouts",
                    Some(&creator.token),
                    Some(&json!({"diamonds": diamonds.min(150_000)})),
                    Some(&key),
                )
                .await;
            if let Some(payout) = reply.body["payout_id"].as_str().filter(|_| reply.ok()) {
                self.tally.lock().payouts_requested += 1;
                let key = format!("sim-approve-{}-{i}", self.run_id);
                self.api
                    .call(
                        "POST /v1/admin/payouts/{id}/approve",
                        Method::POST,
                        &format!("/v1/admin/payouts/{payout}/approve"),
                        Some(&self.admin.token),
                        Some(&json!({})),
                        Some(&key),
                    )
                    .await;
            }
        }
    }

    /// Freshness: a probe viewer in the cold state sends one like; the time
    /// until their next feed is no longer cold is how long the platform took
    /// to reflect the event (through gateway, broker and ranker).
    async fn probe_freshness(&self, probe: &Account) {
        let mut rng = StdRng::seed_from_u64(self.args.seed ^ 0xF2E5);
        while !self.stop.load(Ordering::Relaxed) {
            self.api
                .post(
                    "POST /v1/feed/refresh",
                    "/v1/feed/refresh",
                    Some(&probe.token),
                    &json!({}),
                )
                .await;
            let video = {
                let videos = self.videos.read();
                if videos.is_empty() {
                    return;
                }
                videos[rng.random_range(0..videos.len())].id.clone()
            };
            let sent = self
                .api
                .post("POST /v1/events", "/v1/events", Some(&probe.token), &json!({"context": {"country": "US"}, "events": [{"kind": "like", "video_id": video}]}))
                .await;
            if !sent.ok() {
                continue;
            }
            let started = Instant::now();
            let mut seen = false;
            while started.elapsed() < Duration::from_secs(10) {
                let feed = self
                    .api
                    .get(
                        "GET /v1/feed/for-you",
                        "/v1/feed/for-you?page_size=1&ads=false",
                        &probe.token,
                    )
                    .await;
                if feed.body["cold_start"] == false {
                    seen = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            {
                let mut tally = self.tally.lock();
                if seen {
                    tally
                        .freshness_ms
                        .push(started.elapsed().as_secs_f64() * 1000.0);
                } else {
                    tally.freshness_timeouts += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

fn bar(len: u64, what: &str, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        crate::progress(len, what)
    }
}

/// Signs up, or logs in when the handle exists (a rerun with the same seed).
async fn account(api: &Api, body: Value) -> anyhow::Result<Account> {
    let reply = api
        .post("POST /v1/auth/signup", "/v1/auth/signup", None, &body)
        .await;
    let reply = if reply.status == 409 {
        api.post(
            "POST /v1/auth/login",
            "/v1/auth/login",
            None,
            &json!({"handle": body["handle"], "password": body["password"]}),
        )
        .await
    } else {
        reply
    };
    if !reply.ok() {
        bail!(
            "signing up {}: HTTP {} {}",
            body["handle"],
            reply.status,
            reply.body
        );
    }
    Ok(Account {
        token: reply.body["token"].as_str().unwrap_or_default().to_owned(),
        user_id: reply.body["user"]["user_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    })
}

async fn accounts(
    api: &Api,
    bodies: Vec<Value>,
    what: &str,
    quiet: bool,
) -> anyhow::Result<Vec<Account>> {
    let progress = bar(bodies.len() as u64, what, quiet);
    let out: Vec<anyhow::Result<Account>> = futures::stream::iter(bodies)
        .map(|b| {
            let progress = progress.clone();
            async move {
                let a = account(api, b).await;
                progress.inc(1);
                a
            }
        })
        .buffered(8)
        .collect()
        .await;
    progress.finish();
    out.into_iter().collect()
}

/// Peak RSS (MiB) and CPU seconds of each process with a pid file in `dir`.
fn resources(dir: &str) -> BTreeMap<String, (f64, f64)> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".pid"))
        else {
            continue;
        };
        let Some(pid) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        else {
            continue;
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let peak_kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the ")" that ends the command name: utime is the
        // 12th, stime the 13th (clock ticks, 100 per second on Linux).
        let ticks: f64 = stat
            .rsplit_once(')')
            .map(|(_, rest)| {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let n = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
                n(11) + n(12)
            })
            .unwrap_or(0.0);
        if peak_kib > 0.0 {
            out.insert(name.to_owned(), (peak_kib / 1024.0, ticks / 100.0));
        }
    }
    out
}

/// Runs the whole simulation and returns the report (JSON).
pub async fn run(args: Args) -> anyhow::Result<Value> {
    let api = Api::new(&args.gateway, args.rate)?;
    let ready = api
        .call("GET /readyz", Method::GET, "/readyz", None, None, None)
        .await;
    if !ready.ok() {
        bail!(
            "the gateway at {} is not ready (HTTP {}): start the platform with `make up`",
            args.gateway,
            ready.status
        );
    }
    let world = World::new(args.seed, args.viewers, args.creators, args.advertisers);
    let run_id = format!("{}-{}", args.seed, chrono::Utc::now().timestamp_millis());
    eprintln!(
        "simulate: seed {}, {} viewers, {} creators, {} advertisers; set-up first (accounts, catalog, campaigns)",
        args.seed, args.viewers, args.creators, args.advertisers
    );

    // --- set-up (not measured) --------------------------------------------------
    let admin = {
        let reply = api
            .post(
                "POST /v1/auth/login",
                "/v1/auth/login",
                None,
                &json!({"handle": args.admin_handle, "password": args.admin_password}),
            )
            .await;
        if !reply.ok() {
            bail!(
                "cannot log in as {} (HTTP {}): pass --admin-handle/--admin-password",
                args.admin_handle,
                reply.status
            );
        }
        Account {
            token: reply.body["token"].as_str().unwrap_or_default().to_owned(),
            user_id: reply.body["user"]["user_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
    };
    let creators = accounts(
        &api,
        world
            .creators
            .iter()
            .map(|c| json!({"handle": c.handle, "password": PASSWORD, "birth_date": "1990-04-01", "country": "US", "language": "en", "role": "creator"}))
            .collect(),
        "creators",
        args.quiet,
    )
    .await?;
    let viewers = accounts(
        &api,
        world
            .viewers
            .iter()
            .map(|v| json!({"handle": v.handle, "password": PASSWORD, "birth_date": v.birth_date, "country": v.country, "language": "en", "interests": v.declared, "role": "viewer"}))
            .collect(),
        "viewers",
        args.quiet,
    )
    .await?;
    let advertisers = accounts(
        &api,
        world
            .advertisers
            .iter()
            .map(|a| json!({"handle": a.handle, "password": PASSWORD, "birth_date": "1985-01-01", "country": "US", "language": "en", "role": "advertiser"}))
            .collect(),
        "advertisers",
        args.quiet,
    )
    .await?;
    let probe = account(
        &api,
        json!({"handle": format!("sim{}_probe", args.seed), "password": PASSWORD, "birth_date": "1990-01-01", "country": "US", "language": "en", "role": "viewer"}),
    )
    .await?;

    let packages = api
        .get(
            "GET /v1/wallet/coin-packages",
            "/v1/wallet/coin-packages",
            &probe.token,
        )
        .await
        .body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut gifts = api
        .get("GET /v1/wallet/gifts", "/v1/wallet/gifts", &probe.token)
        .await
        .body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    gifts.sort_by_key(|g| g["coins"].as_i64().unwrap_or(i64::MAX));
    if packages.is_empty() || gifts.is_empty() {
        bail!("the wallet lists no coin packages or gifts");
    }

    let mut sim = Sim {
        args: args.clone(),
        api: api.clone(),
        world,
        viewers,
        creators,
        admin,
        videos: RwLock::new(Vec::new()),
        rooms: RwLock::new(Vec::new()),
        packages,
        gifts,
        campaigns: Vec::new(),
        tally: Mutex::new(Tally::default()),
        stop: AtomicBool::new(false),
        receipt_counter: AtomicU64::new(0),
        last_served: Mutex::new(None),
        run_id: run_id.clone(),
    };
    // The catalog: popular creators post more.
    let per_creator: Vec<usize> = sim
        .world
        .creators
        .iter()
        .map(|c| args.videos_per_creator + (6.0 * c.popularity.sqrt()) as usize)
        .collect();
    let total: usize = per_creator.iter().sum();
    let progress = bar(total as u64, "videos", args.quiet);
    // Published concurrently, then put back in (creator, take) order so the
    // catalog a seed builds is the same whatever the completion order.
    let jobs = per_creator
        .iter()
        .enumerate()
        .flat_map(|(c, n)| (0..*n).map(move |k| (c, k)));
    let mut published: Vec<(usize, usize, String)> = futures::stream::iter(jobs)
        .map(|(c, k)| {
            let (sim, progress) = (&sim, &progress);
            async move {
                let id = sim.publish(c, k).await;
                progress.inc(1);
                id.map(|id| (c, k, id))
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .filter_map(std::future::ready)
        .collect()
        .await;
    published.sort_unstable_by_key(|(c, k, _)| (*c, *k));
    sim.videos.write().extend(
        published
            .into_iter()
            .map(|(creator, _, id)| Video { id, creator }),
    );
    progress.finish();
    // Advertisers: an In-Feed CPM campaign each, with its own private video.
    for (a, account) in advertisers.iter().enumerate() {
        let adv = &sim.world.advertisers[a];
        let video = api
            .post("POST /v1/videos", "/v1/videos", Some(&account.token), &json!({"caption": format!("brand spot {a}"), "duration_ms": 15000, "media_url": format!("https://cdn.loop.test/ads/{a}.mp4"), "visibility": "private"}))
            .await;
        let Some(video_id) = video.body["video_id"].as_str() else {
            bail!(
                "advertiser {a} cannot publish: HTTP {} {}",
                video.status,
                video.body
            );
        };
        // Budgets are reserved from wallet cents: fund the budget first.
        let fund_key = format!("sim-{run_id}-fund{a}");
        let receipt = loop_wallet::payments::TestProvider::new(&args.receipt_secret).sign(
            &loop_wallet::payments::TestReceipt {
                receipt_id: fund_key.clone(),
                product_id: "loop.cents".into(),
                amount_cents: adv.total_budget_cents,
            },
        );
        let funded = api
            .call(
                "POST /v1/wallet/top-ups",
                Method::POST,
                "/v1/wallet/top-ups",
                Some(&account.token),
                Some(&json!({"amount_cents": adv.total_budget_cents, "receipt": {"provider": "test", "receipt_data": receipt.receipt_data, "signature": receipt.signature}})),
                Some(&fund_key),
            )
            .await;
        if funded.status != 201 {
            bail!(
                "advertiser {a} cannot fund its budget: HTTP {} {}",
                funded.status,
                funded.body
            );
        }
        let campaign = api
            .post("POST /v1/ads/campaigns", "/v1/ads/campaigns", Some(&account.token), &json!({"idempotency_key": format!("sim-{run_id}-c{a}"), "name": format!("sim {a}"), "objective": "reach", "total_budget_cents": adv.total_budget_cents}))
            .await;
        let Some(campaign_id) = campaign.body["campaign_id"].as_str() else {
            bail!(
                "advertiser {a} cannot create a campaign: HTTP {} {}",
                campaign.status,
                campaign.body
            );
        };
        let targeting = if adv.countries.is_empty() {
            json!({})
        } else {
            json!({"countries": adv.countries})
        };
        let group = api
            .post("POST /v1/ads/campaigns/{id}/ad-groups", &format!("/v1/ads/campaigns/{campaign_id}/ad-groups"), Some(&account.token),
                &json!({"name": "sim", "format": "in_feed", "daily_budget_cents": adv.daily_budget_cents, "bid_type": "cpm", "bid_cents": adv.bid_cents,
                        "schedule": {"starts_at": (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339()}, "targeting": targeting}))
            .await;
        let Some(group_id) = group.body["ad_group_id"].as_str() else {
            bail!(
                "advertiser {a} cannot create an ad group: HTTP {} {}",
                group.status,
                group.body
            );
        };
        api.post("POST /v1/ads/ad-groups/{id}/creatives", &format!("/v1/ads/ad-groups/{group_id}/creatives"), Some(&account.token),
            &json!({"video_id": video_id, "display_name": format!("Brand {a}"), "call_to_action": "learn_more", "landing_url": "https://brand.test"}))
            .await;
        sim.campaigns.push((
            a,
            campaign_id.to_owned(),
            adv.total_budget_cents.min(adv.daily_budget_cents),
        ));
    }
    // The most popular creators go LIVE.
    for c in 0..sim.creators.len().min(5) {
        let room = api
            .post(
                "POST /v1/live",
                "/v1/live",
                Some(&sim.creators[c].token),
                &json!({"title": "live now"}),
            )
            .await;
        let room_id = match room.body["room_id"].as_str() {
            Some(id) => Some(id.to_owned()),
            // Still live from an earlier run: use the open room.
            None => api
                .get(
                    "GET /v1/live",
                    "/v1/live?page_size=100",
                    &sim.creators[c].token,
                )
                .await
                .body["items"]
                .as_array()
                .and_then(|rooms| {
                    rooms
                        .iter()
                        .find(|r| r["creator_id"] == sim.creators[c].user_id.as_str())
                        .and_then(|r| r["room_id"].as_str().map(str::to_owned))
                }),
        };
        if let Some(room_id) = room_id {
            sim.rooms.write().push((room_id, c));
        }
    }
    // Wait until the ranker serves the catalog (a full page for the probe).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let feed = api
            .get(
                "GET /v1/feed/for-you",
                &format!("/v1/feed/for-you?page_size={}&ads=false", args.page_size),
                &probe.token,
            )
            .await;
        if feed.body["items"]
            .as_array()
            .is_some_and(|i| i.len() >= args.page_size)
        {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "the ranker serves no full page after 2 minutes: is feed-ranking following content.v1?"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let advertiser_accounts = advertisers;
    let sim = Arc::new(sim);
    // Set-up requests are not part of the measured serving figures.
    sim.api.recorder.endpoints.lock().clear();

    // --- traffic ------------------------------------------------------------------
    let resources_before = resources(&args.pid_dir);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let sessions = Arc::new(AtomicU64::new(0));
    for w in 0..args.concurrency.max(1) {
        let sim = sim.clone();
        let sessions = sessions.clone();
        tasks.spawn(async move {
            let mut rng = StdRng::seed_from_u64(sim.args.seed.wrapping_add(w as u64 * 7_919));
            while !sim.stop.load(Ordering::Relaxed) {
                let v = rng.random_range(0..sim.world.viewers.len());
                if !rng.random_bool(sim.world.viewers[v].active_probability) {
                    continue;
                }
                let n = sessions.fetch_add(1, Ordering::Relaxed);
                sim.session(v, n).await;
            }
        });
    }
    {
        let sim = sim.clone();
        tasks.spawn(async move { sim.creators_post().await });
    }
    {
        let sim = sim.clone();
        tasks.spawn(async move { sim.probe_freshness(&probe).await });
    }
    let progress = bar(args.duration.as_secs().max(1), "traffic (s)", args.quiet);
    let plain = args.quiet || !std::io::stderr().is_terminal();
    let mut last = (0u64, Instant::now());
    let mut payouts_done = false;
    while started.elapsed() < args.duration {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let elapsed = started.elapsed();
        progress.set_position(elapsed.as_secs());
        let (requests, errors) = sim.api.recorder.totals();
        let rps = (requests - last.0) as f64 / last.1.elapsed().as_secs_f64().max(1e-9);
        last = (requests, Instant::now());
        let feed = sim
            .api
            .recorder
            .endpoints
            .lock()
            .get("GET /v1/feed/for-you")
            .map(|s| report::latency(&s.latencies_ms));
        let line = format!(
            "{rps:.0} req/s, {requests} requests, {errors} errors, For You p50 {:.1} ms p99 {:.1} ms",
            feed.as_ref().map_or(0.0, |l| l.p50),
            feed.as_ref().map_or(0.0, |l| l.p99)
        );
        progress.set_message(line.clone());
        if plain && elapsed.as_secs().is_multiple_of(10) {
            eprintln!("  [{:>4}s] {line}", elapsed.as_secs());
        }
        if !payouts_done && elapsed > args.duration.mul_f64(0.7) {
            payouts_done = true;
            let sim = sim.clone();
            tasks.spawn(async move { sim.payouts().await });
        }
    }
    sim.stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    let seconds = started.elapsed().as_secs_f64();
    progress.finish_with_message("traffic done");
    let resources_after = resources(&args.pid_dir);

    // --- after: ledger, ads billing ---------------------------------------------------
    let rooms = sim.rooms.read().clone();
    for (room_id, c) in &rooms {
        sim.api
            .post(
                "POST /v1/live/{id}/end",
                &format!("/v1/live/{room_id}/end"),
                Some(&sim.creators[*c].token),
                &json!({}),
            )
            .await;
    }
    let reconcile = sim
        .api
        .get(
            "GET /v1/admin/wallet/reconcile",
            "/v1/admin/wallet/reconcile",
            &sim.admin.token,
        )
        .await;
    // Billed = delivered is checked on this run's own campaigns (fresh, so
    // exact); ads of other campaigns (e.g. `loopctl seed`'s demo ads) that
    // viewers were shown are counted but not compared.
    let (reported, other_impressions) = {
        let tally = sim.tally.lock();
        let own: HashSet<&str> = sim.campaigns.iter().map(|(_, c, _)| c.as_str()).collect();
        tally
            .impressions
            .iter()
            .fold((0u64, 0u64), |(mine, other), (campaign, tokens)| {
                if own.contains(campaign.as_str()) {
                    (mine + tokens.len() as u64, other)
                } else {
                    (mine, other + tokens.len() as u64)
                }
            })
    };
    // Billing runs behind the clients by the broker's and the consumer's
    // latency: wait (bounded) until it has caught up.
    let billing_deadline = Instant::now() + Duration::from_secs(60);
    // Floods of this run's campaigns (their reports are this run's alone).
    let flooded: u64 = {
        let own: HashSet<&str> = sim.campaigns.iter().map(|(_, c, _)| c.as_str()).collect();
        let tally = sim.tally.lock();
        tally
            .abuse
            .ad_clicks_flooded
            .iter()
            .filter(|(c, _)| own.contains(c.as_str()))
            .map(|(_, n)| n)
            .sum()
    };
    let (billed, spend, invalid_reported, clicks_counted) = loop {
        let (mut b, mut s, mut x, mut c) = (0u64, 0i64, 0u64, 0u64);
        for (a, campaign_id, _) in &sim.campaigns {
            let r = sim
                .api
                .get(
                    "GET /v1/ads/reports",
                    &format!(
                        "/v1/ads/reports?campaign_id={campaign_id}&start_date={}&end_date={}",
                        today(),
                        today()
                    ),
                    &advertiser_accounts[*a].token,
                )
                .await;
            b += r.body["totals"]["impressions"].as_u64().unwrap_or(0);
            s += r.body["totals"]["spend_cents"].as_i64().unwrap_or(0);
            x += r.body["totals"]["invalid_events"].as_u64().unwrap_or(0);
            c += r.body["totals"]["clicks"].as_u64().unwrap_or(0);
        }
        if (b >= reported && x >= flooded) || Instant::now() > billing_deadline {
            break (b, s, x, c);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    // --- the report ---------------------------------------------------------------------
    let endpoints = sim.api.recorder.endpoints.lock().clone();
    let tally = sim.tally.lock();
    let (requests, errors) = sim.api.recorder.totals();
    let server_errors: u64 = endpoints
        .values()
        .flat_map(|s| s.statuses.iter())
        .filter(|(c, _)| **c >= 500)
        .map(|(_, n)| n)
        .sum();
    let videos_per_creator: Vec<usize> = {
        let mut n = vec![0; sim.world.creators.len()];
        for v in sim.videos.read().iter() {
            n[v.creator] += 1;
        }
        n
    };
    let popularity = sim.world.popularity_share(&videos_per_creator);
    let (mut first, mut last_share, mut baseline, mut measured) = (0.0, 0.0, 0.0, 0usize);
    for (v, feeds) in &tally.feeds {
        if feeds.len() < 2 {
            continue;
        }
        let k = (feeds.len() / 2).min(10);
        let share = |pages: &[(u32, u32)]| {
            let (t, o) = pages
                .iter()
                .fold((0u32, 0u32), |acc, p| (acc.0 + p.0, acc.1 + p.1));
            if o == 0 {
                0.0
            } else {
                f64::from(t) / f64::from(o)
            }
        };
        first += share(&feeds[..k]);
        last_share += share(&feeds[feeds.len() - k..]);
        baseline += popularity[sim.world.viewers[*v].taste];
        measured += 1;
    }
    let m = measured.max(1) as f64;
    let fresh = report::latency(&tally.freshness_ms);
    let budget: i64 = sim.campaigns.iter().map(|(_, _, b)| b).sum();
    // Honest clicks the reports must count: this run's campaigns, at most
    // the per-viewer daily cap of each (ads-auction's default, 3).
    let honest_clicks: u64 = {
        let own: HashSet<&str> = sim.campaigns.iter().map(|(_, c, _)| c.as_str()).collect();
        tally
            .honest_clicks
            .iter()
            .filter(|((_, c), _)| own.contains(c.as_str()))
            .map(|(_, n)| (*n).min(3))
            .sum()
    };
    let abusers = (0..sim.viewers.len()).filter(|v| sim.is_abuser(*v)).count();
    let mut res = serde_json::Map::new();
    for (name, (rss, cpu_after)) in &resources_after {
        let cpu_before = resources_before.get(name).map_or(0.0, |r| r.1);
        res.insert(
            name.clone(),
            json!({"peak_rss_mib": rss, "cpu_seconds": cpu_after - cpu_before}),
        );
    }
    let report = json!({
        "config": {"seed": args.seed, "viewers": args.viewers, "creators": args.creators, "advertisers": args.advertisers,
                   "rate": args.rate, "concurrency": args.concurrency, "page_size": args.page_size, "duration_seconds": args.duration.as_secs_f64()},
        "started_at": chrono::Utc::now().to_rfc3339(),
        "duration_seconds": seconds,
        "sessions": sessions.load(Ordering::Relaxed),
        "totals": {"requests": requests, "per_second": requests as f64 / seconds.max(1e-9), "errors": errors, "server_errors": server_errors},
        "endpoints": report::endpoints_json(&endpoints, seconds),
        "learning": {"viewers_measured": measured, "first_share": first / m, "last_share": last_share / m,
                     "popularity_baseline_share": baseline / m, "families": FAMILIES},
        "freshness": {"samples": fresh.count, "p50_ms": fresh.p50, "p99_ms": fresh.p99, "timeouts": tally.freshness_timeouts},
        "money": {"purchases": tally.purchases, "gifts": tally.gifts, "gifts_per_second": tally.gifts as f64 / seconds.max(1e-9),
                  "coins_gifted": tally.coins_gifted, "payouts_requested": tally.payouts_requested,
                  "ledger_consistent": reconcile.body["consistent"] == true, "reconcile_status": reconcile.status},
        "ads": {"offered_positions": tally.offered_ad_positions, "filled": tally.filled_ad_positions,
                "fill_rate": tally.filled_ad_positions as f64 / (tally.offered_ad_positions.max(1) as f64),
                "spend_cents": spend, "budget_cents": budget, "impressions_reported": reported, "impressions_billed": billed,
                "impressions_of_other_campaigns": other_impressions,
                "billed_equals_delivered": billed == reported},
        "integrity": {"abusers": abusers, "ad_clicks_flooded": flooded, "invalid_ad_events_reported": invalid_reported,
                      "ad_clicks_counted": clicks_counted, "honest_ad_clicks": honest_clicks,
                      "flooded_clicks_billed_or_counted": clicks_counted.saturating_sub(honest_clicks),
                      "engagement_credits": tally.abuse.credits.clone(),
                      "foreign_serve_tokens_sent": tally.abuse.foreign_tokens_sent,
                      "foreign_serve_tokens_refused": tally.abuse.foreign_tokens_refused},
        "resources": Value::Object(res),
    });
    drop(tally);
    if let Some(dir) = std::path::Path::new(&args.json).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&args.json, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("writing {}", args.json))?;
    if args.bench_report {
        bench_report(&report)?;
    }
    Ok(report)
}

/// The simulation's headline figures in the benchmark report format.
fn bench_report(r: &Value) -> anyhow::Result<()> {
    use loop_platform::bench::Figure;
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let feed = &r["endpoints"]["GET /v1/feed/for-you"];
    let figures = [
        Figure::new(
            "requests per second (all endpoints, through the gateway)",
            f(&r["totals"]["per_second"]),
            "req/s",
        ),
        Figure::new("server errors (5xx)", f(&r["totals"]["server_errors"]), ""),
        Figure::new("For You p50 through the gateway", f(&feed["p50_ms"]), "ms"),
        Figure::new("For You p99 through the gateway", f(&feed["p99_ms"]), "ms"),
        Figure::new(
            "learning: taste share of the last feeds",
            f(&r["learning"]["last_share"]),
            "",
        )
        .against(
            "taste-blind popularity share",
            f(&r["learning"]["popularity_baseline_share"]),
        )
        .at_least(1.0),
        Figure::new(
            "freshness p99 (event accepted -> feed reflects it)",
            f(&r["freshness"]["p99_ms"]),
            "ms",
        ),
        Figure::new("gifts per second", f(&r["money"]["gifts_per_second"]), "/s"),
        Figure::new("ad fill rate", f(&r["ads"]["fill_rate"]), ""),
        Figure::new(
            "ad impressions billed",
            f(&r["ads"]["impressions_billed"]),
            "",
        )
        .against(
            "impressions delivered (reported by clients)",
            f(&r["ads"]["impressions_reported"]),
        )
        .exactly(1.0),
    ];
    loop_platform::bench::report(
        "simulate",
        &format!(
            "loopctl simulate: {} viewers, {} creators, {} advertisers, {:.0} s, seed {}; ledger reconciles: {}",
            r["config"]["viewers"],
            r["config"]["creators"],
            r["config"]["advertisers"],
            f(&r["duration_seconds"]),
            r["config"]["seed"],
            r["money"]["ledger_consistent"]
        ),
        &figures,
        Value::Null,
    )?;
    Ok(())
}
