//! The wallet and the content service (a test-kit sandbox) in process on
//! ephemeral ports, each with its own database, plus the topic prefix and
//! Redis prefix of one test. The wallet runs in a runtime of its own so a
//! test can kill it hard.

#![allow(dead_code, clippy::field_reassign_with_default)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use loop_platform::auth::Role;
use loop_platform::testing::{self, TestDb};
use loop_proto::content::v1 as cpb;
use loop_proto::wallet::v1 as pb;
use loop_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use loop_testkit::fixtures::Content;
use loop_testkit::{Killable, Sandbox};
use loop_wallet::Config;
use loop_wallet::payments::{TestProvider, TestReceipt};
use sqlx::PgPool;
use tonic::transport::Channel;
use uuid::Uuid;

pub struct Platform {
    pub keys: loop_platform::testing::TestKeys,
    pub config: Config,
    pub addr: SocketAddr,
    pub wallet: Killable,
    pub client: WalletServiceClient<Channel>,
    /// Users, rooms and videos, through content's rpcs.
    pub content: Content,
    pub pool: PgPool,
    pub receipts: TestProvider,
    pub admin: String,
    _db: TestDb,
    /// The content service the wallet calls.
    _sandbox: Sandbox,
}

pub fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

impl Platform {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut Config)) -> Self {
        let sandbox = Sandbox::builder().name("wallet").content().start().await;
        let wallet_db = TestDb::create("wallet").await;
        let mut config = Config::default();
        config.database = wallet_db.config.clone();
        config.database.max_connections = 10;
        config.kafka = sandbox.kafka.clone();
        config.redis = sandbox.redis.clone();
        config.services.content_url = sandbox.content().url();
        config.outbox.poll_interval_ms = 50;
        config.leaderboards.projector_interval_ms = 50;
        tune(&mut config);
        let addr = free_addr();
        let wallet = start_wallet(config.clone(), addr);
        wallet.wait_serving(loop_wallet::SERVICE_NAME).await;
        let channel = loop_platform::grpc::channel(&format!("http://{addr}")).expect("channel");
        // A small pool: tests run in parallel on a server shared with other work.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(3)
            .connect(wallet_db.url())
            .await
            .expect("wallet db");
        Self {
            keys: loop_platform::testing::TestKeys,
            receipts: TestProvider::new(config.payments.test_secret.expose()),
            addr,
            wallet,
            client: WalletServiceClient::new(channel),
            content: sandbox.content_fixture(),
            pool,
            admin: Uuid::now_v7().to_string(),
            config,
            _db: wallet_db,
            _sandbox: sandbox,
        }
    }

    pub fn token(&self, subject: &str, role: Role) -> String {
        self.keys.issue(subject, role, Duration::from_secs(3600))
    }

    /// A request as `subject` with `role`.
    pub fn req<T>(&self, subject: &str, role: Role, msg: T) -> tonic::Request<T> {
        loop_platform::grpc::request(
            msg,
            Some(&self.token(subject, role)),
            Duration::from_secs(30),
        )
    }

    pub fn admin_req<T>(&self, msg: T) -> tonic::Request<T> {
        self.req(&self.admin.clone(), Role::Admin, msg)
    }

    pub fn client(&self) -> WalletServiceClient<Channel> {
        self.client.clone()
    }

    /// `n` users signed up in the content service.
    pub async fn seed_users(&self, n: usize, birth_date: &str, role: Role) -> Vec<String> {
        self.content.seed(n, birth_date, role).await
    }

    pub async fn creator(&self) -> String {
        self.seed_users(1, "1990-05-05", Role::Creator)
            .await
            .remove(0)
    }

    /// Opens a LIVE room hosted by `creator`.
    pub async fn go_live(&self, creator: &str) -> String {
        self.content.go_live(creator, "live now").await
    }

    pub async fn end_live(&self, creator: &str, room_id: &str) {
        self.content.end_live(creator, room_id).await;
    }

    pub async fn publish_video(&self, creator: &str) -> String {
        let video = cpb::PublishVideoRequest {
            duration_ms: 10_000,
            ..Content::video("gift me")
        };
        self.content.publish_video(creator, video).await
    }

    pub fn receipt(&self, product: &str, cents: i64) -> pb::PaymentReceipt {
        self.receipts.sign(&TestReceipt {
            receipt_id: Uuid::now_v7().to_string(),
            product_id: product.into(),
            amount_cents: cents,
        })
    }

    /// Buys `package` (e.g. coins_100) for `user`.
    pub async fn buy(&self, user: &str, package: &str) -> pb::PurchaseCoinsResponse {
        let pkg = self
            .config
            .coin_packages
            .iter()
            .find(|p| p.package_id == package)
            .expect("package");
        self.client()
            .purchase_coins(self.req(
                user,
                Role::Viewer,
                pb::PurchaseCoinsRequest {
                    idempotency_key: format!("buy-{}", Uuid::now_v7()),
                    package_id: package.into(),
                    receipt: Some(self.receipt(&pkg.store_product_id, pkg.price_cents)),
                },
            ))
            .await
            .expect("purchase")
            .into_inner()
    }

    /// (available, held) of each asset: coins, diamonds, cents.
    pub async fn balance(&self, user: &str) -> [(i64, i64); 3] {
        let b = self
            .client()
            .get_balance(self.admin_req(pb::GetBalanceRequest {
                user_id: user.into(),
            }))
            .await
            .expect("balance")
            .into_inner();
        let of = |asset: pb::Asset| {
            b.balances
                .iter()
                .find(|x| x.asset == asset as i32)
                .map_or((0, 0), |x| (x.available, x.held))
        };
        [
            of(pb::Asset::Coins),
            of(pb::Asset::Diamonds),
            of(pb::Asset::Cents),
        ]
    }

    pub async fn reconcile(&self) -> pb::ReconcileResponse {
        self.client()
            .reconcile(self.admin_req(pb::ReconcileRequest { limit: 0 }))
            .await
            .expect("reconcile")
            .into_inner()
    }

    /// Waits until the relay has published every committed event.
    pub async fn wait_outbox_drained(&self) {
        let pool = self.pool.clone();
        testing::wait_for("outbox drained", Duration::from_secs(120), || {
            let pool = pool.clone();
            async move {
                let n: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                        .fetch_one(&pool)
                        .await
                        .ok()?;
                (n == 0).then_some(())
            }
        })
        .await;
    }

    pub fn topic(&self) -> String {
        self.config
            .kafka
            .topic(loop_platform::kafka::topics::WALLET)
    }
}

/// The ErrorInfo reason of a status.
pub fn reason(status: &tonic::Status) -> String {
    loop_wallet::error::status_reason(status).unwrap_or_default()
}

pub fn field(status: &tonic::Status) -> String {
    loop_platform::error::status_field(status).unwrap_or_default()
}

/// Everything on `topic` up to each partition's high watermark (like
/// `testing::read_all`, with a deadline that suits a loaded machine).
pub async fn read_to_high_watermark(
    config: &loop_platform::config::KafkaConfig,
    topic: &str,
    timeout: Duration,
) -> Vec<loop_platform::kafka::Delivery> {
    use rdkafka::consumer::Consumer;
    use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
    let consumer = loop_platform::kafka::consumer(config, &testing::unique("hwm"), "earliest")
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .expect("metadata");
    let mut remaining = HashMap::new();
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(30))
                .expect("watermarks");
            if high > low {
                remaining.insert(p.id(), high);
                tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                    .expect("assign");
            }
        }
    }
    let mut out = Vec::new();
    if remaining.is_empty() {
        return out;
    }
    consumer.assign(&tpl).expect("assign");
    let deadline = tokio::time::Instant::now() + timeout;
    while !remaining.is_empty() {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(m)) => {
                let d = loop_platform::kafka::Delivery::from_message(&m);
                if remaining
                    .get(&d.partition)
                    .is_some_and(|h| d.offset + 1 >= *h)
                {
                    remaining.remove(&d.partition);
                }
                out.push(d);
            }
            Ok(Err(err)) => eprintln!("read_to_high_watermark: {err}"),
            Err(_) => panic!("reading {topic} timed out with partitions {remaining:?} unread"),
        }
    }
    out
}

/// The wallet in a runtime of its own, so a test can kill it hard.
pub fn start_wallet(config: Config, addr: SocketAddr) -> Killable {
    Killable::start("wallet", addr, move |listener, stop| {
        loop_wallet::run(config, listener, stop)
    })
}
