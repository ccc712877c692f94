//! Content, wallet and the marketplace (a test-kit sandbox) in process on
//! ephemeral ports, each with its own database, sharing one topic prefix.

#![allow(dead_code, clippy::field_reassign_with_default)]

use std::time::Duration;

use loop_creator_marketplace::Config;
use loop_platform::auth::Role;
use loop_platform::config::KafkaConfig;
use loop_platform::testing::TestDb;
use loop_proto::content::v1 as cpb;
use loop_proto::creator_marketplace::v1 as pb;
use loop_proto::creator_marketplace::v1::creator_marketplace_service_client::CreatorMarketplaceServiceClient;
use loop_proto::wallet::v1 as wpb;
use loop_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use loop_testkit::Sandbox;
use loop_testkit::fixtures::Content;
use loop_wallet::payments::{TestProvider, TestReceipt};
use sqlx::PgPool;
use tonic::transport::Channel;
use uuid::Uuid;

pub struct Platform {
    pub keys: loop_platform::testing::TestKeys,
    pub kafka: KafkaConfig,
    pub config: Config,
    pub market: CreatorMarketplaceServiceClient<Channel>,
    /// Users, follows and videos, through content's rpcs.
    pub content: Content,
    pub wallet: WalletServiceClient<Channel>,
    pub pool: PgPool,
    pub receipts: TestProvider,
    pub admin: String,
    /// Content, the wallet and the marketplace; dropping it stops them.
    _sandbox: Sandbox,
}

/// The marketplace's test knobs: fast jobs, 2 followers to apply.
pub fn fast_market(config: &mut Config) {
    config.database.max_connections = 6;
    config.marketplace.min_followers = 2;
    config.jobs.refresh_interval_ms = 50;
    config.jobs.sweep_interval_ms = 100;
}

/// The marketplace's test configuration on `db` and `kafka`, consuming as
/// `<prefix>-market`.
pub fn market_config(db: &TestDb, kafka: &KafkaConfig, prefix: &str) -> Config {
    let mut config = Config::default();
    config.database = db.config.clone();
    config.kafka = kafka.clone();
    config.consumer.group_id = format!("{prefix}-market");
    fast_market(&mut config);
    config
}

impl Platform {
    pub async fn start() -> Self {
        let sandbox = Sandbox::builder()
            .name("mkt")
            .content_with(|c| c.database.max_connections = 4)
            .wallet_with(|c| c.database.max_connections = 4)
            .market_with(fast_market)
            .start()
            .await;
        let config = sandbox.market().config.clone();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(config.database.url.expose())
            .await
            .expect("market db");
        Self {
            keys: loop_platform::testing::TestKeys,
            kafka: sandbox.kafka.clone(),
            market: CreatorMarketplaceServiceClient::new(sandbox.market().channel()),
            content: sandbox.content_fixture(),
            wallet: WalletServiceClient::new(sandbox.wallet().channel()),
            pool,
            receipts: TestProvider::new(sandbox.wallet().config.payments.test_secret.expose()),
            admin: Uuid::now_v7().to_string(),
            config,
            _sandbox: sandbox,
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

    /// `n` users signed up in the content service.
    pub async fn seed_users(&self, n: usize, birth_date: &str, role: Role) -> Vec<String> {
        self.content.seed(n, birth_date, role).await
    }

    /// An adult creator with `followers` followers.
    pub async fn creator_with_followers(&self, followers: usize) -> String {
        let creator = self
            .seed_users(1, "1995-03-03", Role::Creator)
            .await
            .remove(0);
        for f in self.seed_users(followers, "2000-01-01", Role::Viewer).await {
            self.content.follow(&f, &creator).await;
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
        let video = cpb::PublishVideoRequest {
            hashtags: hashtags.iter().map(|h| (*h).to_owned()).collect(),
            category: "beauty".into(),
            ..Content::video("my routine")
        };
        self.content.publish_video(creator, video).await
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

/// The ErrorInfo reason of a status.
pub fn reason(status: &tonic::Status) -> String {
    loop_creator_marketplace::error::status_reason(status).unwrap_or_default()
}

/// The BadRequest field of a status.
pub fn field(status: &tonic::Status) -> String {
    loop_platform::error::status_field(status).unwrap_or_default()
}
