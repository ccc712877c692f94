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
mod catalog;
mod concurrency;
mod lifecycle;
mod rules;

fn key() -> String {
    format!("k-{}", Uuid::now_v7())
}

fn reason(status: &tonic::Status) -> String {
    loop_platform::error::status_reason(status).unwrap_or_default()
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
        let sandbox = Sandbox::builder()
            .name("commerce")
            .commerce_with(tune)
            .start()
            .await;
        let receipts = TestProvider::new(sandbox.wallet().config.payments.test_secret.expose());
        Self {
            client: CommerceServiceClient::new(sandbox.commerce().channel()),
            wallet: WalletServiceClient::new(sandbox.wallet().channel()),
            receipts,
            admin: user(),
            sandbox,
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
        let seller = user();
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
        self.c()
            .place_order(
                self.req(
                    buyer,
                    Role::Viewer,
                    pb::PlaceOrderRequest {
                        idempotency_key: key(),
                        shop_id: shop.into(),
                        items: items
                            .iter()
                            .map(|(sku, quantity)| pb::OrderLine {
                                sku_id: (*sku).into(),
                                quantity: *quantity,
                            })
                            .collect(),
                        affiliate_id: String::new(),
                    },
                ),
            )
            .await
            .map(|r| r.into_inner().order.expect("order"))
    }

    fn receipt(&self, order: &pb::Order) -> wpb::PaymentReceipt {
        self.receipts.sign(&TestReceipt {
            receipt_id: Uuid::now_v7().to_string(),
            product_id: format!("commerce:order:{}", order.order_id),
            amount_cents: order.total_cents,
        })
    }

    async fn pay(&self, buyer: &str, order: &pb::Order) -> pb::Order {
        self.c()
            .pay_order(self.req(
                buyer,
                Role::Viewer,
                pb::PayOrderRequest {
                    idempotency_key: key(),
                    order_id: order.order_id.clone(),
                    receipt: Some(self.receipt(order)),
                },
            ))
            .await
            .expect("pay")
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
