//! Commerce integration tests against real PostgreSQL and the broker, with
//! the real wallet (and the content service it calls) in a test-kit sandbox:
//! the catalog, the order lifecycle with its money and stock, time rules on
//! a moved clock, concurrency at the last units.

#![allow(clippy::field_reassign_with_default)]

use std::time::Duration;

use loop_platform::auth::Role;
use loop_platform::testing;
use loop_proto::commerce::v1 as pb;
use loop_proto::commerce::v1::commerce_service_client::CommerceServiceClient;
use loop_proto::events::v1::{CommerceEvent, commerce_event::Payload};
use loop_proto::wallet::v1 as wpb;
use loop_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use loop_testkit::Sandbox;
use loop_wallet::payments::{TestProvider, TestReceipt};
use prost::Message;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

mod affiliates;
mod auction;
mod catalog;
mod concurrency;
mod crash;
mod flash;
mod invitations;
mod lifecycle;
mod refusals;
mod returns;
mod rules;
mod shoppable;

fn key() -> String {
    format!("k-{}", Uuid::now_v7())
}

fn reason(status: &tonic::Status) -> String {
    loop_platform::error::status_reason(status).unwrap_or_default()
}

/// An answer that decides nothing: the service shed load ("database busy,
/// retry" when its pool stays exhausted), timed out or was unreachable. A
/// real client sends the same request again with the same key.
fn transient(status: &tonic::Status) -> bool {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => true,
        // h2's Rapid Reset defence answers this without commerce's reason.
        Code::ResourceExhausted => loop_platform::error::status_reason(status).is_none(),
        _ => false,
    }
}

/// Calls `call` (one request, one idempotency key) until it gives a
/// definitive answer, backing off between transient ones (for two minutes
/// at most, then the transient answer is returned and the test says so).
async fn answered<T, F, Fut>(mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut pause = Duration::from_millis(20);
    loop {
        match call().await {
            Err(s) if transient(&s) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            other => return other,
        }
    }
}

fn field(status: &tonic::Status) -> String {
    loop_platform::error::status_field(status).unwrap_or_default()
}

fn user() -> String {
    Uuid::now_v7().to_string()
}

/// Commerce, the wallet and content in one sandbox.
pub struct Platform {
    sandbox: Sandbox,
    client: CommerceServiceClient<Channel>,
    wallet: WalletServiceClient<Channel>,
    receipts: TestProvider,
    admin: String,
    /// Commerce in a runtime of its own (crash tests), when not the sandbox's.
    crash: Option<crash::Killed>,
}

/// A seller's shop with one approved product.
pub struct Listing {
    seller: String,
    shop_id: String,
    product: pb::Product,
}

impl Listing {
    fn sku(&self, i: usize) -> String {
        self.product.skus[i].sku_id.clone()
    }
}

impl Platform {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(tune: impl FnOnce(&mut loop_commerce::Config)) -> Self {
        Self::start_in(Sandbox::builder().name("commerce").commerce_with(tune)).await
    }

    /// With the wallet's configuration adjusted too.
    async fn start_with_wallet(tune: impl FnOnce(&mut loop_wallet::Config)) -> Self {
        Self::start_in(
            Sandbox::builder()
                .name("commerce")
                .wallet_with(tune)
                .commerce(),
        )
        .await
    }

    async fn start_in(builder: loop_testkit::SandboxBuilder<'_>) -> Self {
        let sandbox = builder.start().await;
        let receipts = TestProvider::new(sandbox.wallet().config.payments.test_secret.expose());
        Self {
            client: CommerceServiceClient::new(sandbox.commerce().channel()),
            wallet: WalletServiceClient::new(sandbox.wallet().channel()),
            receipts,
            admin: user(),
            sandbox,
            crash: None,
        }
    }

    fn req<T>(&self, subject: &str, role: Role, msg: T) -> tonic::Request<T> {
        let token = testing::TestKeys.issue(subject, role, Duration::from_secs(3600));
        loop_platform::grpc::request(msg, Some(&token), Duration::from_secs(30))
    }

    fn admin<T>(&self, msg: T) -> tonic::Request<T> {
        self.req(&self.admin.clone(), Role::Admin, msg)
    }

    fn c(&self) -> CommerceServiceClient<Channel> {
        self.client.clone()
    }

    fn clock(&self) -> &loop_commerce::Clock {
        self.sandbox.commerce_clock()
    }

    /// A new seller's shop with one approved product of `skus` (name, price, stock).
    async fn listing(&self, skus: &[(&str, i64, i64)]) -> Listing {
        self.listing_by(user(), skus).await
    }

    /// `seller`'s shop with one approved product of `skus`.
    async fn listing_by(&self, seller: String, skus: &[(&str, i64, i64)]) -> Listing {
        let shop = self
            .c()
            .open_shop(self.req(
                &seller,
                Role::Creator,
                pb::OpenShopRequest {
                    name: "Corner shop".into(),
                    description: "things".into(),
                },
            ))
            .await
            .expect("shop")
            .into_inner()
            .shop
            .expect("shop");
        let product = self
            .c()
            .create_product(self.req(&seller, Role::Creator, product_body(skus)))
            .await
            .expect("product")
            .into_inner()
            .product
            .expect("product");
        let product = self.approve(&product).await;
        Listing {
            seller,
            shop_id: shop.shop_id,
            product,
        }
    }

    async fn approve(&self, product: &pb::Product) -> pb::Product {
        self.c()
            .review_product(self.admin(pb::ReviewProductRequest {
                product_id: product.product_id.clone(),
                expected_version: product.version,
                approve: true,
                reason: String::new(),
            }))
            .await
            .expect("approve")
            .into_inner()
            .product
            .expect("product")
    }

    async fn place(
        &self,
        buyer: &str,
        shop: &str,
        items: &[(&str, u32)],
    ) -> Result<pb::Order, tonic::Status> {
        let body = pb::PlaceOrderRequest {
            idempotency_key: key(),
            shop_id: shop.into(),
            items: items
                .iter()
                .map(|(sku, quantity)| pb::OrderLine {
                    sku_id: (*sku).into(),
                    quantity: *quantity,
                })
                .collect(),
        };
        answered(|| {
            let (mut client, req) = (self.c(), self.req(buyer, Role::Viewer, body.clone()));
            async move { client.place_order(req).await }
        })
        .await
        .map(|r| r.into_inner().order.expect("order"))
    }

    /// `creator` features the product in their showcase.
    async fn showcase(&self, creator: &str, product: &str) {
        self.c()
            .add_to_showcase(self.req(
                creator,
                Role::Creator,
                pb::AddToShowcaseRequest {
                    product_id: product.into(),
                },
            ))
            .await
            .expect("showcase");
    }

    /// `buyer` opened `product` from `creator`'s showcase.
    async fn visit(
        &self,
        buyer: &str,
        product: &str,
        creator: &str,
    ) -> Result<pb::Referral, tonic::Status> {
        self.c()
            .record_referral(self.req(
                buyer,
                Role::Viewer,
                pb::RecordReferralRequest {
                    product_id: product.into(),
                    creator_id: creator.into(),
                    source: pb::ReferralSource::Showcase as i32,
                    source_id: String::new(),
                },
            ))
            .await
            .map(|r| r.into_inner().referral.expect("referral"))
    }

    async fn commissions(&self, creator: &str) -> pb::ListCommissionsResponse {
        self.c()
            .list_commissions(self.req(
                creator,
                Role::Creator,
                pb::ListCommissionsRequest { page: None },
            ))
            .await
            .expect("commissions")
            .into_inner()
    }

    fn receipt(&self, order: &pb::Order) -> wpb::PaymentReceipt {
        self.receipts.sign(&TestReceipt {
            receipt_id: Uuid::now_v7().to_string(),
            product_id: format!("commerce:order:{}", order.order_id),
            amount_cents: order.total_cents,
        })
    }

    async fn pay(&self, buyer: &str, order: &pb::Order) -> pb::Order {
        let body = pb::PayOrderRequest {
            idempotency_key: key(),
            order_id: order.order_id.clone(),
            receipt: Some(self.receipt(order)),
        };
        answered(|| {
            let (mut client, req) = (self.c(), self.req(buyer, Role::Viewer, body.clone()));
            async move { client.pay_order(req).await }
        })
        .await
        .expect("pay")
        .into_inner()
        .order
        .expect("order")
    }

    /// `seller` ships `order` (a test carrier and tracking number).
    async fn ship(&self, seller: &str, order: &str) -> pb::Order {
        self.c()
            .ship_order(self.req(
                seller,
                Role::Creator,
                pb::ShipOrderRequest {
                    idempotency_key: key(),
                    order_id: order.into(),
                    carrier: "UPS".into(),
                    tracking_number: "1Z999AA10123456784".into(),
                },
            ))
            .await
            .expect("ship")
            .into_inner()
            .order
            .expect("order")
    }

    /// `buyer` confirms delivery of `order`.
    async fn confirm_delivered(&self, buyer: &str, order: &str) -> pb::Order {
        self.c()
            .confirm_delivery(self.req(
                buyer,
                Role::Viewer,
                pb::ConfirmDeliveryRequest {
                    idempotency_key: key(),
                    order_id: order.into(),
                },
            ))
            .await
            .expect("deliver")
            .into_inner()
            .order
            .expect("order")
    }

    /// A paid order of `quantity` units of the listing's first SKU.
    async fn paid_order(&self, l: &Listing, buyer: &str, quantity: u32) -> pb::Order {
        let order = self
            .place(buyer, &l.shop_id, &[(&l.sku(0), quantity)])
            .await
            .expect("place");
        self.pay(buyer, &order).await
    }

    async fn order(&self, id: &str) -> pb::Order {
        self.c()
            .get_order(self.admin(pb::GetOrderRequest {
                order_id: id.into(),
            }))
            .await
            .expect("order")
            .into_inner()
            .order
            .expect("order")
    }

    async fn stock(&self, l: &Listing, i: usize) -> i64 {
        self.c()
            .get_product(self.admin(pb::GetProductRequest {
                product_id: l.product.product_id.clone(),
                version: 0,
            }))
            .await
            .expect("product")
            .into_inner()
            .product
            .expect("product")
            .skus[i]
            .stock
    }

    /// Moves commerce's clock and waits until the order reaches `status`.
    async fn advance_until(&self, by: Duration, order: &str, status: pb::OrderStatus) -> pb::Order {
        self.clock().advance(by);
        testing::wait_for(
            &format!("order {order} {status:?}"),
            Duration::from_secs(60),
            || async {
                let o = self.order(order).await;
                (o.status == status as i32).then_some(o)
            },
        )
        .await
    }

    /// (available, held) cents of a user in the wallet.
    async fn cents(&self, user: &str) -> (i64, i64) {
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

    async fn escrow(&self, id: &str) -> wpb::Escrow {
        self.wallet
            .clone()
            .get_escrow(self.admin(wpb::GetEscrowRequest {
                escrow_id: id.into(),
            }))
            .await
            .expect("escrow")
            .into_inner()
            .escrow
            .expect("escrow")
    }

    async fn reconciles(&self) -> bool {
        self.wallet
            .clone()
            .reconcile(self.admin(wpb::ReconcileRequest { limit: 0 }))
            .await
            .expect("reconcile")
            .into_inner()
            .consistent
    }

    /// Every commerce.v1 event once the outbox is drained.
    async fn events(&self) -> Vec<CommerceEvent> {
        let url = self.sandbox.commerce().config.database.url.expose().clone();
        let pool = sqlx::PgPool::connect(&url).await.expect("commerce db");
        testing::wait_for("commerce outbox drained", Duration::from_secs(60), || {
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
        pool.close().await;
        let topic = self
            .sandbox
            .kafka
            .topic(loop_platform::kafka::topics::COMMERCE);
        testing::read_all(&self.sandbox.kafka, &topic)
            .await
            .iter()
            .map(|d| CommerceEvent::decode(d.payload.as_slice()).expect("CommerceEvent"))
            .collect()
    }
}

fn product_body(skus: &[(&str, i64, i64)]) -> pb::CreateProductRequest {
    pb::CreateProductRequest {
        title: "Ceramic mug".into(),
        description: "Holds coffee".into(),
        category: "home".into(),
        image_urls: vec!["https://cdn.example/mug.jpg".into()],
        skus: skus
            .iter()
            .map(|(name, price, stock)| pb::SkuInput {
                sku_id: String::new(),
                name: (*name).into(),
                price_cents: *price,
                stock: *stock,
            })
            .collect(),
    }
}
