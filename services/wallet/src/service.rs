//! The gRPC surface: authenticates each call, then delegates to the handler
//! of the same name (in `balances`, `purchases`, `gifts`, `payouts`,
//! `escrow`, `ads`, `leaderboard`, `reconcile`). Errors map to
//! `tonic::Status` once, in [`crate::error`].

use std::sync::Arc;

use loop_platform::auth::{Caller, JwtKeys, Role};
use loop_platform::cache::Redis;
use loop_proto::wallet::v1 as pb;
use loop_proto::wallet::v1::wallet_service_server::WalletService as WalletApi;
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::config::Config;
use crate::content::Content;
use crate::error::{WalletError, WalletResult};
use crate::payments::{Providers, TestProvider};

pub struct WalletService {
    pub(crate) pool: PgPool,
    pub(crate) redis: Redis,
    pub(crate) keys: JwtKeys,
    pub(crate) config: Arc<Config>,
    pub(crate) content: Content,
    pub(crate) providers: Providers,
    pub(crate) relay_wake: Arc<Notify>,
    pub(crate) projector_wake: Arc<Notify>,
}

impl WalletService {
    pub fn new(
        pool: PgPool,
        redis: Redis,
        keys: JwtKeys,
        config: Arc<Config>,
        relay_wake: Arc<Notify>,
        projector_wake: Arc<Notify>,
    ) -> anyhow::Result<Self> {
        let mut providers = Providers::default();
        if config.payments.test_provider_enabled {
            providers = providers.with(Arc::new(TestProvider::new(
                config.payments.test_secret.expose(),
            )));
        }
        Ok(Self {
            content: Content::new(&config.services.content_url, config.content.clone())?,
            pool,
            redis,
            keys,
            config,
            providers,
            relay_wake,
            projector_wake,
        })
    }

    /// Internal rpcs: a service token whose subject is allowed for them.
    pub(crate) fn require_internal(caller: &Caller, allowed: &[String]) -> WalletResult<()> {
        if caller.role == Role::Service && allowed.contains(&caller.subject) {
            Ok(())
        } else {
            Err(WalletError::App(loop_platform::AppError::PermissionDenied(
                format!(
                    "this call is internal; allowed callers: {}",
                    allowed.join(", ")
                ),
            )))
        }
    }

    /// Wakes the relay and the leaderboard projector after a commit.
    pub(crate) fn committed(&self) {
        self.relay_wake.notify_one();
        self.projector_wake.notify_one();
    }
}

// Implements the trait: each rpc requires a verified caller and calls
// `WalletService::<name>(&caller, request)`.
loop_platform::authenticated_api! {
    impl WalletApi for WalletService, error WalletError;
    get_balance(pb::GetBalanceRequest) -> pb::GetBalanceResponse;
    list_transactions(pb::ListTransactionsRequest) -> pb::ListTransactionsResponse;
    list_coin_packages(pb::ListCoinPackagesRequest) -> pb::ListCoinPackagesResponse;
    purchase_coins(pb::PurchaseCoinsRequest) -> pb::PurchaseCoinsResponse;
    get_gift_catalog(pb::GetGiftCatalogRequest) -> pb::GetGiftCatalogResponse;
    send_gift(pb::SendGiftRequest) -> pb::SendGiftResponse;
    request_payout(pb::RequestPayoutRequest) -> pb::RequestPayoutResponse;
    list_payouts(pb::ListPayoutsRequest) -> pb::ListPayoutsResponse;
    approve_payout(pb::ApprovePayoutRequest) -> pb::ApprovePayoutResponse;
    reject_payout(pb::RejectPayoutRequest) -> pb::RejectPayoutResponse;
    reconcile(pb::ReconcileRequest) -> pb::ReconcileResponse;
    get_room_leaderboard(pb::GetRoomLeaderboardRequest) -> pb::GetRoomLeaderboardResponse;
    get_top_creators(pb::GetTopCreatorsRequest) -> pb::GetTopCreatorsResponse;
    top_up_cents(pb::TopUpCentsRequest) -> pb::TopUpCentsResponse;
    hold_escrow(pb::HoldEscrowRequest) -> pb::HoldEscrowResponse;
    release_escrow(pb::ReleaseEscrowRequest) -> pb::ReleaseEscrowResponse;
    refund_escrow(pb::RefundEscrowRequest) -> pb::RefundEscrowResponse;
    get_escrow(pb::GetEscrowRequest) -> pb::GetEscrowResponse;
    reserve_ad_budget(pb::ReserveAdBudgetRequest) -> pb::ReserveAdBudgetResponse;
    charge_ad_spend(pb::ChargeAdSpendRequest) -> pb::ChargeAdSpendResponse;
    release_ad_budget(pb::ReleaseAdBudgetRequest) -> pb::ReleaseAdBudgetResponse;
}
