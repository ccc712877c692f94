//! [`Sandbox`]: the services one test needs, in process on ephemeral ports,
//! each with a test database of its own, sharing one topic prefix and one
//! Redis prefix. Ask for the services under test; the ones they call are
//! added and started first. Dropping the sandbox stops every service, drops
//! its databases and deletes its Redis keys.
//!
//! ```ignore
//! let sandbox = Sandbox::builder()
//!     .name("market")
//!     .market_with(|c| c.marketplace.min_followers = 2) // + content, wallet
//!     .start()
//!     .await;
//! let users = sandbox.content_fixture();
//! ```

#![allow(clippy::field_reassign_with_default)] // configs are tuned field by field

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use loop_platform::config::{DatabaseConfig, KafkaConfig, RedisConfig};
use loop_platform::testing::{self, TestDb};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// How long a service may take to report SERVING on a loaded test machine.
const READY_WITHIN: Duration = Duration::from_secs(120);

/// The services a sandbox runs, in the order it starts them: each after the
/// ones it calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    /// First: content may call it (publishing from an upload).
    Media,
    Content,
    Wallet,
    AdsAuction,
    FeedRanking,
    CreatorMarketplace,
    Commerce,
    Gateway,
}

impl Service {
    /// The services this one calls, given whether ads-auction meters its
    /// budgets through the wallet. The feed ranker also fills ad slots from
    /// ads-auction when the sandbox runs it (organic feeds otherwise).
    fn calls(self, metered_ads: bool) -> &'static [Service] {
        use Service::*;
        match self {
            Media | Content => &[],
            Wallet | FeedRanking => &[Content],
            AdsAuction if metered_ads => &[Content, Wallet],
            AdsAuction => &[Content],
            CreatorMarketplace => &[Content, Wallet],
            Commerce => &[Content, Wallet],
            Gateway => &[
                Media,
                Content,
                Wallet,
                AdsAuction,
                FeedRanking,
                CreatorMarketplace,
                Commerce,
            ],
        }
    }

    /// The gRPC service name a health check asks for (the gateway serves HTTP).
    fn grpc_name(self) -> Option<&'static str> {
        Some(match self {
            Service::Media => "loop.media.v1.MediaService",
            Service::Content => "loop.content.v1.ContentService",
            Service::Wallet => "loop.wallet.v1.WalletService",
            Service::AdsAuction => "loop.ads_auction.v1.AdsAuctionService",
            Service::FeedRanking => "loop.feed_ranking.v1.FeedRankingService",
            Service::CreatorMarketplace => "loop.creator_marketplace.v1.CreatorMarketplaceService",
            Service::Commerce => "loop.commerce.v1.CommerceService",
            Service::Gateway => return None,
        })
    }
}

/// Adjusts a service's test configuration before it starts.
type Tune<'a, C> = Box<dyn FnOnce(&mut C) + 'a>;

fn tune<C>(config: &mut C, tunes: Vec<Tune<'_, C>>) {
    for tune in tunes {
        tune(config);
    }
}

/// One started service: its final configuration and where it listens.
pub struct Running<C> {
    pub config: C,
    pub addr: SocketAddr,
}

impl<C> Running<C> {
    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A lazily connecting gRPC channel to the service.
    pub fn channel(&self) -> Channel {
        loop_platform::grpc::channel(&self.url()).expect("channel to a sandbox service")
    }
}

/// Chooses the services of a [`Sandbox`] and their configuration.
pub struct SandboxBuilder<'a> {
    name: String,
    wanted: BTreeSet<Service>,
    metered_ads: bool,
    content: Vec<Tune<'a, loop_content::Config>>,
    #[cfg(feature = "wallet")]
    wallet: Vec<Tune<'a, loop_wallet::Config>>,
    #[cfg(feature = "ads-auction")]
    ads: Vec<Tune<'a, loop_ads_auction::Config>>,
    #[cfg(feature = "feed-ranking")]
    ranker: Vec<Tune<'a, loop_feed_ranking::Config>>,
    #[cfg(feature = "creator-marketplace")]
    market: Vec<Tune<'a, loop_creator_marketplace::Config>>,
    #[cfg(feature = "commerce")]
    commerce: Vec<Tune<'a, loop_commerce::Config>>,
    #[cfg(feature = "gateway")]
    gateway: Vec<Tune<'a, loop_gateway::Config>>,
    #[cfg(feature = "media")]
    media: Vec<Tune<'a, loop_media::Config>>,
}

/// Builder methods: `x()` runs service x (and what it calls) with the test
/// defaults, `x_with(tune)` also adjusts its configuration after them; tunes
/// given for one service apply in order.
macro_rules! service_methods {
    ($feature:literal, $service:expr, $field:ident, $plain:ident, $with:ident, $config:ty) => {
        #[cfg(feature = $feature)]
        pub fn $plain(self) -> Self {
            self.with_service($service)
        }

        #[cfg(feature = $feature)]
        pub fn $with(mut self, tune: impl FnOnce(&mut $config) + 'a) -> Self {
            self.$field.push(Box::new(tune));
            self.with_service($service)
        }
    };
}

impl<'a> SandboxBuilder<'a> {
    /// Names the sandbox's databases, topic prefix and Redis prefix
    /// (`sandbox` unless told otherwise), so leftovers are traceable.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    fn with_service(mut self, service: Service) -> Self {
        self.wanted.insert(service);
        self
    }

    service_methods!(
        "content",
        Service::Content,
        content,
        content,
        content_with,
        loop_content::Config
    );
    service_methods!(
        "wallet",
        Service::Wallet,
        wallet,
        wallet,
        wallet_with,
        loop_wallet::Config
    );
    service_methods!(
        "ads-auction",
        Service::AdsAuction,
        ads,
        ads,
        ads_with,
        loop_ads_auction::Config
    );
    service_methods!(
        "feed-ranking",
        Service::FeedRanking,
        ranker,
        ranker,
        ranker_with,
        loop_feed_ranking::Config
    );
    service_methods!(
        "creator-marketplace",
        Service::CreatorMarketplace,
        market,
        market,
        market_with,
        loop_creator_marketplace::Config
    );
    service_methods!(
        "commerce",
        Service::Commerce,
        commerce,
        commerce,
        commerce_with,
        loop_commerce::Config
    );
    service_methods!(
        "media",
        Service::Media,
        media,
        media,
        media_with,
        loop_media::Config
    );
    service_methods!(
        "gateway",
        Service::Gateway,
        gateway,
        gateway,
        gateway_with,
        loop_gateway::Config
    );

    /// Runs ads-auction without the wallet: budgets are not metered
    /// (`wallet.mode = "unmetered"`), the auction alone.
    #[cfg(feature = "ads-auction")]
    pub fn unmetered_ads(mut self) -> Self {
        self.metered_ads = false;
        self.ads
            .push(Box::new(|c| c.wallet.mode = "unmetered".into()));
        self.with_service(Service::AdsAuction)
    }

    /// The wanted services and every service they call, in start order.
    fn services(&self) -> BTreeSet<Service> {
        let mut all = self.wanted.clone();
        loop {
            let called: BTreeSet<Service> = all
                .iter()
                .flat_map(|s| s.calls(self.metered_ads).iter().copied())
                .collect();
            if called.is_subset(&all) {
                return all;
            }
            all.extend(called);
        }
    }

    /// Starts every service (each after the ones it calls) and returns once
    /// all of them serve: gRPC health SERVING, the gateway's `/readyz` 200.
    pub async fn start(self) -> Sandbox {
        testing::init_telemetry();
        let services = self.services();
        let prefix = testing::unique(&self.name);
        let mut listeners = BTreeMap::new();
        for &service in &services {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            listeners.insert(service, (listener, addr));
        }
        let mut sandbox = Sandbox {
            kafka: testing::kafka_config(&prefix),
            redis: testing::redis_config(&prefix),
            addrs: listeners.iter().map(|(s, (_, a))| (*s, *a)).collect(),
            prefix,
            shutdown: CancellationToken::new(),
            tasks: Vec::new(),
            dbs: Vec::new(),
            content: None,
            #[cfg(feature = "wallet")]
            wallet: None,
            #[cfg(feature = "ads-auction")]
            ads: None,
            #[cfg(feature = "feed-ranking")]
            ranker: None,
            #[cfg(feature = "creator-marketplace")]
            market: None,
            #[cfg(feature = "commerce")]
            commerce: None,
            #[cfg(feature = "commerce")]
            commerce_clock: loop_commerce::Clock::system(),
            #[cfg(feature = "gateway")]
            gateway: None,
            #[cfg(feature = "media")]
            media: None,
        };
        let name = self.name.clone();
        self.spawn_all(&mut sandbox, &name, listeners).await;
        sandbox.wait_ready().await;
        sandbox
    }

    async fn spawn_all(
        mut self,
        sandbox: &mut Sandbox,
        name: &str,
        listeners: BTreeMap<Service, (TcpListener, SocketAddr)>,
    ) {
        for (service, (listener, _)) in listeners {
            match service {
                #[cfg(feature = "media")]
                Service::Media => {
                    let db = sandbox.database(name, "media").await;
                    let config = sandbox.media_config(db, std::mem::take(&mut self.media));
                    sandbox.media = Some(sandbox.spawn(service, listener, config, loop_media::run));
                }
                Service::Content => {
                    let db = sandbox.database(name, "content").await;
                    let config = sandbox.content_config(db, std::mem::take(&mut self.content));
                    sandbox.content =
                        Some(sandbox.spawn(service, listener, config, loop_content::run));
                }
                #[cfg(feature = "wallet")]
                Service::Wallet => {
                    let db = sandbox.database(name, "wallet").await;
                    let config = sandbox.wallet_config(db, std::mem::take(&mut self.wallet));
                    sandbox.wallet =
                        Some(sandbox.spawn(service, listener, config, loop_wallet::run));
                }
                #[cfg(feature = "ads-auction")]
                Service::AdsAuction => {
                    let db = sandbox.database(name, "ads").await;
                    let config = sandbox.ads_config(db, std::mem::take(&mut self.ads));
                    sandbox.ads =
                        Some(sandbox.spawn(service, listener, config, loop_ads_auction::run));
                }
                #[cfg(feature = "feed-ranking")]
                Service::FeedRanking => {
                    let config = sandbox.ranker_config(std::mem::take(&mut self.ranker));
                    sandbox.ranker =
                        Some(sandbox.spawn(service, listener, config, loop_feed_ranking::run));
                }
                #[cfg(feature = "creator-marketplace")]
                Service::CreatorMarketplace => {
                    let db = sandbox.database(name, "market").await;
                    let config = sandbox.market_config(db, std::mem::take(&mut self.market));
                    sandbox.market = Some(sandbox.spawn(
                        service,
                        listener,
                        config,
                        loop_creator_marketplace::run,
                    ));
                }
                #[cfg(feature = "commerce")]
                Service::Commerce => {
                    let db = sandbox.database(name, "commerce").await;
                    let config = sandbox.commerce_config(db, std::mem::take(&mut self.commerce));
                    let clock = sandbox.commerce_clock.clone();
                    sandbox.commerce = Some(sandbox.spawn(service, listener, config, |c, l, s| {
                        loop_commerce::run_with_clock(c, l, s, clock)
                    }));
                }
                #[cfg(feature = "gateway")]
                Service::Gateway => {
                    let config = sandbox.gateway_config(std::mem::take(&mut self.gateway));
                    sandbox.gateway =
                        Some(sandbox.spawn(service, listener, config, loop_gateway::run));
                }
                #[allow(unreachable_patterns)] // with every feature on
                other => unreachable!("{other:?} needs the testkit feature of its name"),
            }
        }
    }
}

/// Running services; see the [module documentation](self).
pub struct Sandbox {
    /// The unique prefix of this sandbox's topics, Redis keys and consumer groups.
    pub prefix: String,
    /// Every service's Kafka settings (topics prefixed with `prefix.`).
    pub kafka: KafkaConfig,
    /// The Redis settings of the wallet, the ranker and the gateway
    /// (ads-auction uses `<prefix>:ads`).
    pub redis: RedisConfig,
    addrs: BTreeMap<Service, SocketAddr>,
    shutdown: CancellationToken,
    tasks: Vec<(Service, JoinHandle<()>)>,
    dbs: Vec<TestDb>,
    content: Option<Running<loop_content::Config>>,
    #[cfg(feature = "wallet")]
    wallet: Option<Running<loop_wallet::Config>>,
    #[cfg(feature = "ads-auction")]
    ads: Option<Running<loop_ads_auction::Config>>,
    #[cfg(feature = "feed-ranking")]
    ranker: Option<Running<loop_feed_ranking::Config>>,
    #[cfg(feature = "creator-marketplace")]
    market: Option<Running<loop_creator_marketplace::Config>>,
    #[cfg(feature = "commerce")]
    commerce: Option<Running<loop_commerce::Config>>,
    /// The clock of commerce's time rules: move it to let days pass.
    #[cfg(feature = "commerce")]
    commerce_clock: loop_commerce::Clock,
    #[cfg(feature = "gateway")]
    gateway: Option<Running<loop_gateway::Config>>,
    #[cfg(feature = "media")]
    media: Option<Running<loop_media::Config>>,
}

fn started<'s, C>(running: &'s Option<Running<C>>, service: &str) -> &'s Running<C> {
    running
        .as_ref()
        .unwrap_or_else(|| panic!("{service} is not in this sandbox: ask the builder for it"))
}

impl Sandbox {
    pub fn builder<'a>() -> SandboxBuilder<'a> {
        SandboxBuilder {
            name: "sandbox".into(),
            wanted: BTreeSet::new(),
            metered_ads: true,
            content: Vec::new(),
            #[cfg(feature = "wallet")]
            wallet: Vec::new(),
            #[cfg(feature = "ads-auction")]
            ads: Vec::new(),
            #[cfg(feature = "feed-ranking")]
            ranker: Vec::new(),
            #[cfg(feature = "creator-marketplace")]
            market: Vec::new(),
            #[cfg(feature = "commerce")]
            commerce: Vec::new(),
            #[cfg(feature = "gateway")]
            gateway: Vec::new(),
            #[cfg(feature = "media")]
            media: Vec::new(),
        }
    }

    /// Where `service` listens, if the sandbox runs it.
    pub fn addr(&self, service: Service) -> Option<SocketAddr> {
        self.addrs.get(&service).copied()
    }

    /// `http://<addr>` of a service the sandbox runs.
    #[cfg(any(feature = "wallet", feature = "feed-ranking", feature = "media"))]
    fn url(&self, service: Service) -> Option<String> {
        self.addr(service).map(|a| format!("http://{a}"))
    }

    /// Creates the test database of one service, kept until the sandbox drops.
    async fn database(&mut self, name: &str, service: &str) -> DatabaseConfig {
        let db = TestDb::create(&format!("{name}_{service}")).await;
        let config = db.config.clone();
        self.dbs.push(db);
        config
    }

    /// Runs one service until the sandbox drops; an early exit is printed
    /// (with its error) and fails the readiness wait at once.
    fn spawn<C, F>(
        &mut self,
        service: Service,
        listener: TcpListener,
        config: C,
        run: impl FnOnce(C, TcpListener, CancellationToken) -> F,
    ) -> Running<C>
    where
        C: Clone,
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let addr = listener.local_addr().expect("addr");
        let serving = run(config.clone(), listener, self.shutdown.clone());
        self.tasks.push((
            service,
            tokio::spawn(async move {
                if let Err(err) = serving.await {
                    eprintln!("sandbox: {service:?} exited: {err:#}");
                }
            }),
        ));
        Running { config, addr }
    }

    async fn wait_ready(&self) {
        for (service, task) in &self.tasks {
            let Some(addr) = self.addr(*service) else {
                continue;
            };
            let check = || {
                assert!(
                    !task.is_finished(),
                    "{service:?} exited while starting (its error is printed above)"
                );
                Self::ready(*service, addr)
            };
            testing::wait_for(&format!("{service:?} ready"), READY_WITHIN, check).await;
        }
    }

    async fn ready(service: Service, addr: SocketAddr) -> Option<()> {
        match service.grpc_name() {
            Some(name) => {
                let channel = loop_platform::grpc::channel(&format!("http://{addr}")).ok()?;
                serving(channel, name).await.then_some(())
            }
            None => http_ready(addr).await.then_some(()),
        }
    }
    pub fn content(&self) -> &Running<loop_content::Config> {
        started(&self.content, "content")
    }

    #[cfg(feature = "wallet")]
    pub fn wallet(&self) -> &Running<loop_wallet::Config> {
        started(&self.wallet, "wallet")
    }

    #[cfg(feature = "ads-auction")]
    pub fn ads(&self) -> &Running<loop_ads_auction::Config> {
        started(&self.ads, "ads-auction")
    }

    #[cfg(feature = "feed-ranking")]
    pub fn ranker(&self) -> &Running<loop_feed_ranking::Config> {
        started(&self.ranker, "feed-ranking")
    }

    #[cfg(feature = "creator-marketplace")]
    pub fn market(&self) -> &Running<loop_creator_marketplace::Config> {
        started(&self.market, "creator-marketplace")
    }

    #[cfg(feature = "commerce")]
    pub fn commerce(&self) -> &Running<loop_commerce::Config> {
        started(&self.commerce, "commerce")
    }

    /// Commerce's clock (holds, deadlines, refund windows, settlement):
    /// `advance` it to let time pass; the sweeper acts on its next round.
    #[cfg(feature = "commerce")]
    pub fn commerce_clock(&self) -> &loop_commerce::Clock {
        &self.commerce_clock
    }

    #[cfg(feature = "gateway")]
    pub fn gateway(&self) -> &Running<loop_gateway::Config> {
        started(&self.gateway, "gateway")
    }

    #[cfg(feature = "media")]
    pub fn media(&self) -> &Running<loop_media::Config> {
        started(&self.media, "media")
    }

    /// Seeds users, videos, follows and live rooms through content's rpcs.
    pub fn content_fixture(&self) -> crate::fixtures::Content {
        crate::fixtures::Content::new(self.content().channel())
    }
}

/// Each service's test configuration: wired to the sandbox's databases,
/// topics, Redis and the other services, with short poll intervals (tests
/// wait on conditions, so faster polling only makes them quicker), then
/// the test's own tunes.
impl Sandbox {
    fn content_config(
        &self,
        database: DatabaseConfig,
        tunes: Vec<Tune<'_, loop_content::Config>>,
    ) -> loop_content::Config {
        let mut c = loop_content::Config::default();
        c.database = database;
        c.kafka = self.kafka.clone();
        c.outbox.poll_interval_ms = 50;
        #[cfg(feature = "media")]
        {
            if let Some(media) = self.url(Service::Media) {
                c.media.url = media;
            }
        }
        tune(&mut c, tunes);
        c
    }

    /// The media service stores under a folder of the sandbox's own
    /// (removed with it) and polls often.
    #[cfg(feature = "media")]
    fn media_config(
        &self,
        database: DatabaseConfig,
        tunes: Vec<Tune<'_, loop_media::Config>>,
    ) -> loop_media::Config {
        let root = media_root(&self.prefix);
        let mut c = loop_media::Config::default();
        c.database = database;
        c.kafka = self.kafka.clone();
        c.storage.local_dir = root.join("store");
        c.processing.work_dir = root.join("work");
        c.processing.poll_interval_ms = 50;
        c.processing.preset = "ultrafast".into();
        c.outbox.poll_interval_ms = 50;
        tune(&mut c, tunes);
        c
    }

    #[cfg(feature = "wallet")]
    fn wallet_config(
        &self,
        database: DatabaseConfig,
        tunes: Vec<Tune<'_, loop_wallet::Config>>,
    ) -> loop_wallet::Config {
        let mut c = loop_wallet::Config::default();
        c.database = database;
        c.kafka = self.kafka.clone();
        c.redis = self.redis.clone();
        c.services.content_url = self.url(Service::Content).expect("content");
        c.outbox.poll_interval_ms = 50;
        tune(&mut c, tunes);
        c
    }

    #[cfg(feature = "ads-auction")]
    fn ads_config(
        &self,
        database: DatabaseConfig,
        tunes: Vec<Tune<'_, loop_ads_auction::Config>>,
    ) -> loop_ads_auction::Config {
        let prefix = &self.prefix;
        let mut c = loop_ads_auction::Config::default();
        c.database = database;
        c.kafka = self.kafka.clone();
        c.redis = testing::redis_config(&format!("{prefix}:ads"));
        c.services.content_url = self.url(Service::Content).expect("content");
        if let Some(wallet) = self.url(Service::Wallet) {
            c.services.wallet_url = wallet;
        }
        c.consumer.billing_group_id = format!("{prefix}-ads-billing");
        c.consumer.content_group_id = format!("{prefix}-ads-content");
        c.outbox.poll_interval_ms = 50;
        // Unpaced: hand-computed outcomes do not depend on the time of day.
        c.pacing.burst_fraction = 1.0;
        tune(&mut c, tunes);
        c
    }

    #[cfg(feature = "feed-ranking")]
    fn ranker_config(
        &self,
        tunes: Vec<Tune<'_, loop_feed_ranking::Config>>,
    ) -> loop_feed_ranking::Config {
        let mut c = loop_feed_ranking::Config::default();
        c.redis = self.redis.clone();
        c.kafka = self.kafka.clone();
        c.services.content_url = self.url(Service::Content).expect("content");
        if let Some(ads) = self.url(Service::AdsAuction) {
            c.services.ads_auction_url = ads;
        }
        // A loaded test machine: give ads time (production keeps it short).
        c.services.ads_deadline_ms = 2_000;
        c.consumer.group_id = format!("{}-ranker", self.prefix);
        tune(&mut c, tunes);
        c
    }

    #[cfg(feature = "creator-marketplace")]
    fn market_config(
        &self,
        database: DatabaseConfig,
        tunes: Vec<Tune<'_, loop_creator_marketplace::Config>>,
    ) -> loop_creator_marketplace::Config {
        let mut c = loop_creator_marketplace::Config::default();
        c.database = database;
        c.kafka = self.kafka.clone();
        c.services.content_url = self.url(Service::Content).expect("content");
        c.services.wallet_url = self.url(Service::Wallet).expect("wallet");
        c.consumer.group_id = format!("{}-market", self.prefix);
        tune(&mut c, tunes);
        c
    }

    #[cfg(feature = "commerce")]
    fn commerce_config(
        &self,
        database: DatabaseConfig,
        tunes: Vec<Tune<'_, loop_commerce::Config>>,
    ) -> loop_commerce::Config {
        let mut c = loop_commerce::Config::default();
        c.database = database;
        c.kafka = self.kafka.clone();
        c.services.wallet_url = self.url(Service::Wallet).expect("wallet");
        c.services.content_url = self.url(Service::Content).expect("content");
        c.outbox.poll_interval_ms = 50;
        c.jobs.sweep_interval_ms = 50;
        tune(&mut c, tunes);
        c
    }

    #[cfg(feature = "gateway")]
    fn gateway_config(&self, tunes: Vec<Tune<'_, loop_gateway::Config>>) -> loop_gateway::Config {
        let url = |s| self.url(s).expect("the gateway's downstream services");
        let mut c = loop_gateway::Config::default();
        c.services.content_url = url(Service::Content);
        c.services.feed_ranking_url = url(Service::FeedRanking);
        c.services.wallet_url = url(Service::Wallet);
        c.services.ads_auction_url = url(Service::AdsAuction);
        c.services.creator_marketplace_url = url(Service::CreatorMarketplace);
        c.services.commerce_url = url(Service::Commerce);
        c.services.media_url = url(Service::Media);
        c.redis = self.redis.clone();
        c.kafka = self.kafka.clone();
        tune(&mut c, tunes);
        c
    }
}

impl Drop for Sandbox {
    /// Stops every service, deletes the sandbox's Redis keys (ads-auction's
    /// too: they share the prefix); the databases drop with their fields.
    fn drop(&mut self) {
        self.shutdown.cancel();
        #[cfg(feature = "media")]
        {
            if self.media.is_some() {
                let _ = std::fs::remove_dir_all(media_root(&self.prefix));
            }
        }
        let redis = self.redis.clone();
        // Drop runs inside the test's runtime; do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(testing::clear_redis(&redis));
            }
        })
        .join();
    }
}

/// Whether `service` on `channel` reports SERVING right now.
pub async fn serving(channel: Channel, service: &str) -> bool {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let check = health.check(tonic_health::pb::HealthCheckRequest {
        service: service.into(),
    });
    matches!(
        tokio::time::timeout(Duration::from_secs(5), check).await,
        Ok(Ok(r)) if r.get_ref().status
            == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    )
}

/// Waits (up to two minutes) until `service` on `channel` reports SERVING.
pub async fn wait_healthy(channel: Channel, service: &str) {
    testing::wait_for(service, READY_WITHIN, || {
        let channel = channel.clone();
        async move { serving(channel, service).await.then_some(()) }
    })
    .await;
}

#[cfg(feature = "gateway")]
async fn http_ready(addr: SocketAddr) -> bool {
    reqwest::get(format!("http://{addr}/readyz"))
        .await
        .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
}

#[cfg(not(feature = "gateway"))]
async fn http_ready(_: SocketAddr) -> bool {
    unreachable!("only the gateway answers HTTP")
}

/// The media service's folder (store and scratch) of a sandbox.
#[cfg(feature = "media")]
pub fn media_root(prefix: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("loop-media-{prefix}"))
}
