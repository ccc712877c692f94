//! Content, wallet and the marketplace in process on ephemeral ports, each
//! with its own database, sharing one topic prefix.

#![allow(dead_code, clippy::field_reassign_with_default)]

use std::net::SocketAddr;
use std::time::Duration;

use loop_creator_marketplace::Config;
use loop_platform::auth::Role;
use loop_platform::config::KafkaConfig;
use loop_platform::testing::{self, TestDb};
use loop_proto::content::v1 as cpb;
use loop_proto::content::v1::content_service_client::ContentServiceClient;
use loop_proto::creator_marketplace::v1 as pb;
use loop_proto::creator_marketplace::v1::creator_marketplace_service_client::CreatorMarketplaceServiceClient;
use loop_proto::wallet::v1 as wpb;
use loop_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use loop_wallet::payments::{TestProvider, TestReceipt};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use uuid::Uuid;

pub struct Platform {
    pub keys: loop_platform::testing::TestKeys,
    pub kafka: KafkaConfig,
    pub config: Config,
    pub market: CreatorMarketplaceServiceClient<Channel>,
    pub content: ContentServiceClient<Channel>,
    pub wallet: WalletServiceClient<Channel>,
    pub pool: PgPool,
    pub content_pool: PgPool,
    pub receipts: TestProvider,
    pub admin: String,
    pub shutdown: CancellationToken,
    _dbs: Vec<TestDb>,
}

async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    (l, addr)
}

async fn healthy(channel: Channel, service: &'static str) {
    let health = tonic_health::pb::health_client::HealthClient::new(channel);
    testing::wait_for(service, Duration::from_secs(120), || {
        let mut health = health.clone();
        async move {
            health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .ok()
                .filter(|r| r.get_ref().status == 1)
        }
    })
    .await;
}

/// The marketplace's test configuration (fast jobs, 2 followers to apply).
pub fn market_config(db: &TestDb, kafka: &KafkaConfig, prefix: &str) -> Config {
    let mut config = Config::default();
    config.database = db.config.clone();
    config.database.max_connections = 6;
    config.kafka = kafka.clone();
    config.consumer.group_id = format!("{prefix}-market");
    config.marketplace.min_followers = 2;
    config.jobs.refresh_interval_ms = 50;
    config.jobs.sweep_interval_ms = 100;
    config
}

impl Platform {
    pub async fn start() -> Self {
        testing::init_telemetry();
        let prefix = testing::unique("mkt");
        let kafka = testing::kafka_config(&prefix);
        let shutdown = CancellationToken::new();

        let content_db = TestDb::create("mcontent").await;
        let mut content = loop_content::Config::default();
        content.database = content_db.config.clone();
        content.database.max_connections = 4;
        content.kafka = kafka.clone();
        content.outbox.poll_interval_ms = 50;
        content.bootstrap_admin.password = loop_platform::config::Secret::new(String::new());
        let (content_listener, content_addr) = listener().await;
        tokio::spawn(loop_content::run(
            content,
            content_listener,
            shutdown.clone(),
        ));

        let wallet_db = TestDb::create("mwallet").await;
        let mut wallet = loop_wallet::Config::default();
        wallet.database = wallet_db.config.clone();
        wallet.database.max_connections = 4;
        wallet.kafka = kafka.clone();
        wallet.redis = testing::redis_config(&prefix);
        wallet.services.content_url = format!("http://{content_addr}");
        wallet.outbox.poll_interval_ms = 50;
        let receipts = TestProvider::new(wallet.payments.test_secret.expose());
        let (wallet_listener, wallet_addr) = listener().await;
        tokio::spawn(loop_wallet::run(wallet, wallet_listener, shutdown.clone()));

        let market_db = TestDb::create("market").await;
        let mut config = market_config(&market_db, &kafka, &prefix);
        config.services.content_url = format!("http://{content_addr}");
        config.services.wallet_url = format!("http://{wallet_addr}");
        let (market_listener, market_addr) = listener().await;
        tokio::spawn(loop_creator_marketplace::run(
            config.clone(),
            market_listener,
            shutdown.clone(),
        ));

        let channel =
            |a: SocketAddr| loop_platform::grpc::channel(&format!("http://{a}")).expect("channel");
        healthy(channel(content_addr), "loop.content.v1.ContentService").await;
        healthy(channel(wallet_addr), loop_wallet::SERVICE_NAME).await;
        healthy(channel(market_addr), loop_creator_marketplace::SERVICE_NAME).await;
        let small = || sqlx::postgres::PgPoolOptions::new().max_connections(2);
        Self {
            keys: loop_platform::testing::TestKeys,
            kafka,
            market: CreatorMarketplaceServiceClient::new(channel(market_addr)),
            content: ContentServiceClient::new(channel(content_addr)),
            wallet: WalletServiceClient::new(channel(wallet_addr)),
            pool: small().connect(market_db.url()).await.expect("market db"),
            content_pool: small().connect(content_db.url()).await.expect("content db"),
            receipts,
            admin: Uuid::now_v7().to_string(),
            config,
            shutdown,
            _dbs: vec![content_db, wallet_db, market_db],
        }
    }

    pub fn req<T>(&self, subject: &str, role: Role, msg: T) -> tonic::Request<T> {
        let token = self.keys.issue(subject, role, Duration::from_secs(3600));
        loop_platform::grpc::request(msg, Some(&token), Duration::from_secs(30))
    }

    pub fn admin<T>(&self, msg: T) -> tonic::Request<T> {
        self.req(&self.admin.clone(), Role::Admin, msg)
    }

    /// The service in-process (another replica), for its background steps.
    pub fn service(&self) -> loop_creator_marketplace::MarketplaceService {
        loop_creator_marketplace::MarketplaceService::new(
            self.pool.clone(),
            loop_platform::auth::JwtKeys::development("creator-marketplace"),
            std::sync::Arc::new(self.config.clone()),
        )
        .expect("service")
    }

    /// One sweep, as the service's background sweeper does.
    pub async fn sweep(&self) -> loop_creator_marketplace::sweeper::Swept {
        loop_creator_marketplace::sweeper::sweep_once(&self.service())
            .await
            .expect("sweep")
    }

    pub fn m(&self) -> CreatorMarketplaceServiceClient<Channel> {
        self.market.clone()
    }

    /// Users written straight to content's database.
    pub async fn seed_users(&self, n: usize, birth_date: &str, role: &str) -> Vec<String> {
        let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        sqlx::query(
            "INSERT INTO users (id, handle, display_name, password_hash, birth_date, country, language, role) \
             SELECT id, 'u' || replace(id::text, '-', ''), 'Seeded', 'not-a-login', $2::date, 'US', 'en', $3 \
             FROM unnest($1::uuid[]) AS id",
        )
        .bind(&ids)
        .bind(birth_date)
        .bind(role)
        .execute(&self.content_pool)
        .await
        .expect("seed users");
        ids.iter().map(Uuid::to_string).collect()
    }

    pub async fn follow(&self, follower: &str, creator: &str) {
        self.content
            .clone()
            .follow(self.req(
                follower,
                Role::Viewer,
                cpb::FollowRequest {
                    creator_id: creator.into(),
                },
            ))
            .await
            .expect("follow");
    }

    /// An adult creator with `followers` followers.
    pub async fn creator_with_followers(&self, followers: usize) -> String {
        let creator = self.seed_users(1, "1995-03-03", "creator").await.remove(0);
        for f in self.seed_users(followers, "2000-01-01", "viewer").await {
            self.follow(&f, &creator).await;
        }
        creator
    }

    /// A listed creator: applied and approved.
    pub async fn listed_creator(&self) -> String {
        let creator = self.creator_with_followers(2).await;
        let app = self
            .m()
            .apply_as_creator(self.req(
                &creator,
                Role::Creator,
                pb::ApplyAsCreatorRequest {
                    categories: vec!["beauty".into()],
                    rate_cents: 50_000,
                    pitch: "I make videos".into(),
                },
            ))
            .await
            .expect("apply")
            .into_inner()
            .application
            .expect("application");
        self.m()
            .review_application(self.admin(pb::ReviewApplicationRequest {
                application_id: app.application_id,
                decision: pb::ReviewDecision::Approve as i32,
                rejection_reason: String::new(),
            }))
            .await
            .expect("approve");
        creator
    }

    pub fn receipt(&self, cents: i64) -> wpb::PaymentReceipt {
        self.receipts.sign(&TestReceipt {
            receipt_id: Uuid::now_v7().to_string(),
            product_id: "loop.cents".into(),
            amount_cents: cents,
        })
    }

    pub async fn fund(&self, advertiser: &str, cents: i64) {
        self.wallet
            .clone()
            .top_up_cents(self.req(
                advertiser,
                Role::Advertiser,
                wpb::TopUpCentsRequest {
                    idempotency_key: format!("top-{}", Uuid::now_v7()),
                    amount_cents: cents,
                    receipt: Some(self.receipt(cents)),
                },
            ))
            .await
            .expect("top up");
    }

    /// (available, held) cents of `user`.
    pub async fn cents(&self, user: &str) -> (i64, i64) {
        let b = self
            .wallet
            .clone()
            .get_balance(self.admin(wpb::GetBalanceRequest {
                user_id: user.into(),
            }))
            .await
            .expect("balance")
            .into_inner();
        b.balances
            .iter()
            .find(|x| x.asset == wpb::Asset::Cents as i32)
            .map_or((0, 0), |x| (x.available, x.held))
    }

    pub async fn reconcile(&self) -> wpb::ReconcileResponse {
        self.wallet
            .clone()
            .reconcile(self.admin(wpb::ReconcileRequest { limit: 0 }))
            .await
            .expect("reconcile")
            .into_inner()
    }

    /// A published campaign of `advertiser`.
    pub async fn campaign(
        &self,
        advertiser: &str,
        budget: i64,
        visibility: pb::CampaignVisibility,
    ) -> pb::Campaign {
        let created = self
            .m()
            .create_campaign(self.req(
                advertiser,
                Role::Advertiser,
                pb::CreateCampaignRequest {
                    title: "Summer glow".into(),
                    brief: "Show our sunscreen in your routine".into(),
                    deliverables: Some(pb::Deliverables {
                        video_count: 1,
                        required_hashtag: "#GlowAd".into(),
                    }),
                    budget_per_creator_cents: budget,
                    max_creators: 5,
                    deadline: Some(loop_platform::time::to_timestamp(
                        chrono::Utc::now() + chrono::Duration::days(3),
                    )),
                    visibility: visibility as i32,
                },
            ))
            .await
            .expect("create campaign")
            .into_inner()
            .campaign
            .expect("campaign");
        self.m()
            .publish_campaign(self.req(
                advertiser,
                Role::Advertiser,
                pb::PublishCampaignRequest {
                    campaign_id: created.campaign_id,
                },
            ))
            .await
            .expect("publish")
            .into_inner()
            .campaign
            .expect("campaign")
    }

    pub async fn publish_video(&self, creator: &str, hashtags: &[&str]) -> String {
        self.content
            .clone()
            .publish_video(self.req(
                creator,
                Role::Creator,
                cpb::PublishVideoRequest {
                    caption: "my routine".into(),
                    hashtags: hashtags.iter().map(|h| (*h).to_owned()).collect(),
                    duration_ms: 15_000,
                    media_url: "https://cdn.loop.test/v.mp4".into(),
                    category: "beauty".into(),
                    ..Default::default()
                },
            ))
            .await
            .expect("publish video")
            .into_inner()
            .video
            .expect("video")
            .video_id
    }

    pub async fn collab(&self, id: &str) -> pb::Collaboration {
        self.m()
            .get_collaboration(self.admin(pb::GetCollaborationRequest {
                collaboration_id: id.into(),
            }))
            .await
            .expect("get collaboration")
            .into_inner()
            .collaboration
            .expect("collaboration")
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The ErrorInfo reason of a status.
pub fn reason(status: &tonic::Status) -> String {
    loop_creator_marketplace::error::status_reason(status).unwrap_or_default()
}

/// The BadRequest field of a status.
pub fn field(status: &tonic::Status) -> String {
    loop_platform::error::status_field(status).unwrap_or_default()
}
