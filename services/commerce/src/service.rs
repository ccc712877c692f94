//! The gRPC surface: authenticates each call, then delegates to the handler
//! of the same name (`catalog`, `orders`). Errors map to `tonic::Status`
//! once, in the platform.

use std::sync::Arc;
use std::time::Duration;

use loop_platform::auth::JwtKeys;
use loop_proto::commerce::v1 as pb;
use loop_proto::commerce::v1::commerce_service_server::CommerceService as CommerceApi;
use sqlx::PgPool;
use uuid::Uuid;

use crate::clock::Clock;
use crate::config::Config;
use crate::content::Content;
use crate::error::CommerceError;
use crate::wallet::Wallet;

#[derive(Clone)]
pub struct CommerceService {
    pub(crate) pool: PgPool,
    /// The auction bid writer's connections: the same database, committing
    /// without waiting for the WAL flush (`synchronous_commit = off`; see
    /// `auction::writer` for why bids, and only bids, may).
    pub(crate) bids_pool: PgPool,
    pub(crate) keys: JwtKeys,
    pub(crate) config: Arc<Config>,
    pub(crate) wallet: Wallet,
    pub(crate) clock: Clock,
    pub(crate) content: Content,
    pub(crate) auctions: Arc<crate::auction::Hub>,
    /// Wakes the outbox relay after hot-path commits that skip NOTIFY.
    pub(crate) relay_wake: Arc<tokio::sync::Notify>,
    /// Each shop's seller, which never changes: read once per shop and
    /// process (checkouts need it before their statement).
    pub(crate) shop_sellers: Arc<Memo<Uuid, Uuid>>,
    /// What checkouts read of a sellable SKU (product, version, names,
    /// price): checked again by the checkout's statement, which refuses a
    /// line whose SKU or product changed since (then read again).
    pub(crate) sku_lines: Arc<Memo<Uuid, crate::orders::SkuLine>>,
    pub(crate) hot_rows: Arc<HotRows>,
    /// Each hot SKU's batching task (single-line checkouts).
    pub(crate) hot_skus: Arc<crate::hot_sku::HotSkus>,
}

/// Turns at a SKU row: at most [`HotRows::PER_ROW`] checkouts of this
/// process run their statement on one SKU at a time; the rest wait here,
/// cheaply. Each statement does its work before the row (the buyer's turn,
/// the order) while the one ahead holds the row through its commit, so a
/// few overlap usefully; a convoy of waiters on the row's lock costs the
/// database more than it serves (every release wakes them all). Four
/// measured best in the checkout bench (docs/commerce.md).
#[derive(Default)]
pub(crate) struct HotRows(
    std::sync::Mutex<std::collections::HashMap<Uuid, Arc<tokio::sync::Semaphore>>>,
);

impl HotRows {
    const PER_ROW: usize = 4;
    const MAX: usize = 100_000;

    pub(crate) async fn turn(&self, row: Uuid) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let semaphore = {
            let mut map = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if map.len() >= Self::MAX {
                map.clear();
            }
            map.entry(row)
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(Self::PER_ROW)))
                .clone()
        };
        semaphore.acquire_owned().await.ok()
    }
}

/// A bounded in-process memo of facts read from the database: at most
/// [`Memo::MAX`] entries, then forgotten all at once and read again. Holds
/// only what the database confirmed; callers say why an entry cannot go
/// stale (or check it where it is used).
pub(crate) struct Memo<K, V>(std::sync::Mutex<std::collections::HashMap<K, V>>);

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self(std::sync::Mutex::default())
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> Memo<K, V> {
    const MAX: usize = 100_000;

    fn map(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<K, V>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        self.map().get(key).cloned()
    }

    pub(crate) fn insert(&self, key: K, value: V) {
        let mut map = self.map();
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(key, value);
    }

    pub(crate) fn forget(&self, key: &K) {
        self.map().remove(key);
    }
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
        let content = Content::new(
            loop_platform::grpc::channel(&config.services.content_url)?,
            Duration::from_millis(config.services.content_timeout_ms),
        );
        let bids_pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect_lazy_with(
                (*pool.connect_options())
                    .clone()
                    .options([("synchronous_commit", "off")]),
            );
        Ok(Self {
            pool,
            bids_pool,
            keys,
            config,
            wallet,
            clock,
            content,
            auctions: Arc::default(),
            relay_wake: Arc::default(),
            shop_sellers: Arc::default(),
            sku_lines: Arc::default(),
            hot_rows: Arc::default(),
            hot_skus: Arc::default(),
        })
    }

    /// Wakes this relay (rather than a NOTIFY) after hot-path commits.
    #[must_use]
    pub fn with_relay_waker(mut self, wake: Arc<tokio::sync::Notify>) -> Self {
        self.relay_wake = wake;
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

loop_platform::authenticated_api! {
    impl CommerceApi for CommerceService, error CommerceError;
    @public {
        type WatchAuctionStream = crate::auction::hub::UpdateStream;

        async fn watch_auction(
            &self,
            request: tonic::Request<pb::WatchAuctionRequest>,
        ) -> Result<tonic::Response<Self::WatchAuctionStream>, tonic::Status> {
            let caller = self.keys.caller(&request).map_err(CommerceError::from)?;
            Ok(tonic::Response::new(
                CommerceService::watch_auction(self, &caller, request.into_inner()).await?,
            ))
        }
    }
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
    request_return(pb::RequestReturnRequest) -> pb::RequestReturnResponse;
    answer_return(pb::AnswerReturnRequest) -> pb::AnswerReturnResponse;
    get_order(pb::GetOrderRequest) -> pb::GetOrderResponse;
    list_orders(pb::ListOrdersRequest) -> pb::ListOrdersResponse;
    retry_wallet_step(pb::RetryWalletStepRequest) -> pb::RetryWalletStepResponse;
    add_to_showcase(pb::AddToShowcaseRequest) -> pb::AddToShowcaseResponse;
    remove_from_showcase(pb::RemoveFromShowcaseRequest) -> pb::RemoveFromShowcaseResponse;
    list_showcase(pb::ListShowcaseRequest) -> pb::ListShowcaseResponse;
    record_referral(pb::RecordReferralRequest) -> pb::RecordReferralResponse;
    list_commissions(pb::ListCommissionsRequest) -> pb::ListCommissionsResponse;
    set_video_products(pb::SetVideoProductsRequest) -> pb::SetVideoProductsResponse;
    list_video_products(pb::ListVideoProductsRequest) -> pb::ListVideoProductsResponse;
    list_product_features(pb::ListProductFeaturesRequest) -> pb::ListProductFeaturesResponse;
    add_to_live_bag(pb::AddToLiveBagRequest) -> pb::AddToLiveBagResponse;
    remove_from_live_bag(pb::RemoveFromLiveBagRequest) -> pb::RemoveFromLiveBagResponse;
    pin_live_product(pb::PinLiveProductRequest) -> pb::PinLiveProductResponse;
    get_live_bag(pb::GetLiveBagRequest) -> pb::GetLiveBagResponse;
    start_auction(pb::StartAuctionRequest) -> pb::StartAuctionResponse;
    authorize_bidder(pb::AuthorizeBidderRequest) -> pb::AuthorizeBidderResponse;
    get_bidder_authorization(pb::GetBidderAuthorizationRequest) -> pb::AuthorizeBidderResponse;
    place_bid(pb::PlaceBidRequest) -> pb::PlaceBidResponse;
    get_auction(pb::GetAuctionRequest) -> pb::GetAuctionResponse;
    get_room_auction(pb::GetRoomAuctionRequest) -> pb::GetAuctionResponse;
    list_bid_increments(pb::ListBidIncrementsRequest) -> pb::ListBidIncrementsResponse;
    start_flash_sale(pb::StartFlashSaleRequest) -> pb::StartFlashSaleResponse;
    buy_flash_sale(pb::BuyFlashSaleRequest) -> pb::BuyFlashSaleResponse;
    get_flash_sale(pb::GetFlashSaleRequest) -> pb::GetFlashSaleResponse;
    invite_creator(pb::InviteCreatorRequest) -> pb::InviteCreatorResponse;
    answer_invitation(pb::AnswerInvitationRequest) -> pb::AnswerInvitationResponse;
    list_invitations(pb::ListInvitationsRequest) -> pb::ListInvitationsResponse;
}
