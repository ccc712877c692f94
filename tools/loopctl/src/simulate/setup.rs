//! Set-up before traffic (not measured): the population's accounts, the
//! wallet's catalog, the videos, the campaigns, the LIVE rooms, and a ranker
//! that serves full pages.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use anyhow::bail;
use futures::StreamExt as _;
use parking_lot::{Mutex, RwLock};
use reqwest::Method;
use serde_json::{Value, json};

use super::args::Args;
use super::bar;
use super::client::Api;
use super::state::{Account, Sim, Tally, Video};
use super::world::{PASSWORD, World};

/// Everyone who signed up (or logged in again) for this run.
struct Population {
    admin: Account,
    creators: Vec<Account>,
    viewers: Vec<Account>,
    advertisers: Vec<Account>,
    /// The viewer that waits for the catalog and measures freshness.
    probe: Account,
}

/// The simulation ready for traffic, with the accounts `Sim` does not keep.
pub struct Prepared {
    pub sim: Sim,
    pub advertisers: Vec<Account>,
    pub probe: Account,
}

/// Fails unless the gateway answers its readiness probe.
pub async fn ensure_ready(api: &Api, args: &Args) -> anyhow::Result<()> {
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
    Ok(())
}

/// Everything before traffic, in order: accounts, the wallet's catalog,
/// the videos, the campaigns, the LIVE rooms, then a wait for the ranker.
pub async fn prepare(
    args: Args,
    api: Api,
    world: World,
    run_id: String,
    clips: Vec<Vec<u8>>,
) -> anyhow::Result<Prepared> {
    let people = sign_up(&api, &args, &world).await?;
    let (packages, gifts) = wallet_catalog(&api, &people.probe).await?;
    let mut sim = Sim {
        args,
        api,
        world,
        viewers: people.viewers,
        creators: people.creators,
        admin: people.admin,
        videos: RwLock::new(Vec::new()),
        rooms: RwLock::new(Vec::new()),
        packages,
        gifts,
        campaigns: Vec::new(),
        tally: Mutex::new(Tally::default()),
        stop: AtomicBool::new(false),
        receipt_counter: AtomicU64::new(0),
        last_served: Mutex::new(None),
        run_id,
        clips,
        media: Mutex::default(),
    };
    sim.publish_catalog().await;
    sim.campaigns = sim.launch_campaigns(&people.advertisers).await?;
    sim.open_live_rooms().await;
    sim.wait_for_catalog(&people.probe).await?;
    Ok(Prepared {
        sim,
        advertisers: people.advertisers,
        probe: people.probe,
    })
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
    Ok(Account::from_auth(&reply.body))
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

/// The administrator logs in; then creators, viewers, advertisers and the
/// probe sign up, in that order.
async fn sign_up(api: &Api, args: &Args, world: &World) -> anyhow::Result<Population> {
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
    let admin = Account::from_auth(&reply.body);
    let creators = accounts(
        api,
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
        api,
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
        api,
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
        api,
        json!({"handle": format!("sim{}_probe", args.seed), "password": PASSWORD, "birth_date": "1990-01-01", "country": "US", "language": "en", "role": "viewer"}),
    )
    .await?;
    Ok(Population {
        admin,
        creators,
        viewers,
        advertisers,
        probe,
    })
}

/// The wallet's coin packages and gifts (cheapest gift first).
async fn wallet_catalog(api: &Api, probe: &Account) -> anyhow::Result<(Vec<Value>, Vec<Value>)> {
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
    Ok((packages, gifts))
}

impl Sim {
    /// The catalog: popular creators post more.
    async fn publish_catalog(&self) {
        let per_creator: Vec<usize> = self
            .world
            .creators
            .iter()
            .map(|c| self.args.videos_per_creator + (6.0 * c.popularity.sqrt()) as usize)
            .collect();
        let total: usize = per_creator.iter().sum();
        let clips = if self.clips.is_empty() {
            0
        } else {
            per_creator
                .iter()
                .map(|n| (*n).min(self.args.clips_per_creator))
                .sum()
        };
        let what = if clips > 0 {
            format!("videos ({clips} from clips: uploaded, processed, published)")
        } else {
            "videos".to_owned()
        };
        let progress = bar(total as u64, &what, self.args.quiet);
        // Published concurrently, then put back in (creator, take) order so the
        // catalog a seed builds is the same whatever the completion order.
        let jobs = per_creator
            .iter()
            .enumerate()
            .flat_map(|(c, n)| (0..*n).map(move |k| (c, k)));
        let mut published: Vec<(usize, usize, String)> = futures::stream::iter(jobs)
            .map(|(c, k)| {
                let progress = &progress;
                async move {
                    let id = self.publish(c, k, k < self.args.clips_per_creator).await;
                    progress.inc(1);
                    id.map(|id| (c, k, id))
                }
            })
            .buffer_unordered(self.args.concurrency.max(1))
            .filter_map(std::future::ready)
            .collect()
            .await;
        published.sort_unstable_by_key(|(c, k, _)| (*c, *k));
        self.videos.write().extend(
            published
                .into_iter()
                .map(|(creator, _, id)| Video { id, creator }),
        );
        progress.finish();
    }

    /// The most popular creators go LIVE.
    async fn open_live_rooms(&self) {
        for c in 0..self.creators.len().min(5) {
            let room = self
                .api
                .post(
                    "POST /v1/live",
                    "/v1/live",
                    Some(&self.creators[c].token),
                    &json!({"title": "live now"}),
                )
                .await;
            let room_id = match room.body["room_id"].as_str() {
                Some(id) => Some(id.to_owned()),
                // Still live from an earlier run: use the open room.
                None => self
                    .api
                    .get(
                        "GET /v1/live",
                        "/v1/live?page_size=100",
                        &self.creators[c].token,
                    )
                    .await
                    .body["items"]
                    .as_array()
                    .and_then(|rooms| {
                        rooms
                            .iter()
                            .find(|r| r["creator_id"] == self.creators[c].user_id.as_str())
                            .and_then(|r| r["room_id"].as_str().map(str::to_owned))
                    }),
            };
            if let Some(room_id) = room_id {
                self.rooms.write().push((room_id, c));
            }
        }
    }

    /// Waits until the ranker serves the catalog (a full page for the probe).
    async fn wait_for_catalog(&self, probe: &Account) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let feed = self
                .api
                .get(
                    "GET /v1/feed/for-you",
                    &format!(
                        "/v1/feed/for-you?page_size={}&ads=false",
                        self.args.page_size
                    ),
                    &probe.token,
                )
                .await;
            if feed.body["items"]
                .as_array()
                .is_some_and(|i| i.len() >= self.args.page_size)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the ranker serves no full page after 2 minutes: is feed-ranking following content.v1?"
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
