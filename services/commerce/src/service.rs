//! The gRPC surface: authenticates each call, then delegates to the handler
//! of the same name (`catalog`, `orders`). Errors map to `tonic::Status`
//! once, in the platform.

use std::sync::Arc;
use std::time::Duration;

use loop_platform::auth::JwtKeys;
use loop_proto::commerce::v1 as pb;
use loop_proto::commerce::v1::commerce_service_server::CommerceService as CommerceApi;
use sqlx::PgPool;

use crate::clock::Clock;
use crate::config::Config;
use crate::error::CommerceError;
use crate::wallet::Wallet;

#[derive(Clone)]
pub struct CommerceService {
    pub(crate) pool: PgPool,
    pub(crate) keys: JwtKeys,
    pub(crate) config: Arc<Config>,
    pub(crate) wallet: Wallet,
    pub(crate) clock: Clock,
}

impl CommerceService {
    pub fn new(
        pool: PgPool,
        keys: JwtKeys,
        config: Arc<Config>,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let wallet = Wallet::new(
            loop_platform::grpc::channel(&config.services.wallet_url)?,
            keys.clone(),
            Duration::from_millis(config.services.wallet_timeout_ms),
        );
        Ok(Self {
            pool,
            keys,
            config,
            wallet,
            clock,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

loop_platform::authenticated_api! {
    impl CommerceApi for CommerceService, error CommerceError;
    open_shop(pb::OpenShopRequest) -> pb::OpenShopResponse;
    get_shop(pb::GetShopRequest) -> pb::GetShopResponse;
    create_product(pb::CreateProductRequest) -> pb::CreateProductResponse;
    update_product(pb::UpdateProductRequest) -> pb::UpdateProductResponse;
    adjust_stock(pb::AdjustStockRequest) -> pb::AdjustStockResponse;
    review_product(pb::ReviewProductRequest) -> pb::ReviewProductResponse;
    get_product(pb::GetProductRequest) -> pb::GetProductResponse;
    list_products(pb::ListProductsRequest) -> pb::ListProductsResponse;
    set_affiliate_rate(pb::SetAffiliateRateRequest) -> pb::SetAffiliateRateResponse;
    place_order(pb::PlaceOrderRequest) -> pb::PlaceOrderResponse;
    pay_order(pb::PayOrderRequest) -> pb::PayOrderResponse;
    cancel_order(pb::CancelOrderRequest) -> pb::CancelOrderResponse;
    ship_order(pb::ShipOrderRequest) -> pb::ShipOrderResponse;
    confirm_delivery(pb::ConfirmDeliveryRequest) -> pb::ConfirmDeliveryResponse;
    refund_order(pb::RefundOrderRequest) -> pb::RefundOrderResponse;
    get_order(pb::GetOrderRequest) -> pb::GetOrderResponse;
    list_orders(pb::ListOrdersRequest) -> pb::ListOrdersResponse;
}
