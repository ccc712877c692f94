//! The wallet: balances, history, coin packages and purchases, gifts,
//! payouts (admins decide), leaderboards, escrow reads and advertisers'
//! top-ups. Every mutating call needs an `Idempotency-Key` header: a retry
//! with the same key returns the first result and moves no money.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use chrono::{DateTime, Utc};
use http::StatusCode;
use http::request::Parts;
use loop_proto::wallet::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::dto::{Page, PageQuery, enum_from_str, enum_to_str, opt, ts};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, AuthUser};

/// The `Idempotency-Key` header (8..128 of [A-Za-z0-9_:.-]).
pub struct IdempotencyKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(|v| IdempotencyKey(v.to_owned()))
            .ok_or_else(|| {
                ApiError::invalid(
                    "Idempotency-Key",
                    "header is required on every wallet change (a unique key per operation; reuse it to retry)",
                )
            })
    }
}

fn asset_str(asset: i32) -> String {
    enum_to_str(
        pb::Asset::try_from(asset)
            .unwrap_or(pb::Asset::Unspecified)
            .as_str_name(),
        "ASSET_",
    )
}

// --- DTOs ------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceDto {
    /// Spendable now.
    pub available: i64,
    /// In payout holds, escrows and ad reserves.
    pub held: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WalletBalanceDto {
    pub coins: BalanceDto,
    pub diamonds: BalanceDto,
    /// US cents.
    pub cents: BalanceDto,
    /// Cash value of the available diamonds, rounded down.
    pub diamonds_cash_value_cents: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryDto {
    /// `user:<id>`, `user:<id>:payout:<id>`, `system:<name>`...
    pub account: String,
    /// coins, diamonds or cents.
    pub asset: String,
    /// Positive credits, negative debits.
    pub amount: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionDto {
    pub transaction_id: String,
    /// coin_purchase, gift, payout_request...
    pub kind: String,
    /// Balanced per asset.
    pub entries: Vec<EntryDto>,
    pub reference: String,
    pub created_at: Option<DateTime<Utc>>,
}

impl From<pb::Transaction> for TransactionDto {
    fn from(t: pb::Transaction) -> Self {
        Self {
            kind: enum_to_str(t.kind().as_str_name(), "TRANSACTION_KIND_"),
            transaction_id: t.transaction_id,
            entries: t
                .entries
                .into_iter()
                .map(|e| EntryDto {
                    asset: asset_str(e.asset),
                    account: e.account,
                    amount: e.amount,
                })
                .collect(),
            reference: t.reference,
            created_at: ts(t.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CoinPackageDto {
    pub package_id: String,
    pub coins: i64,
    pub price_cents: i64,
    pub display_name: String,
    pub store_product_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GiftDto {
    pub gift_id: String,
    pub name: String,
    pub coins: i64,
    pub diamonds: i64,
    pub icon_url: String,
    pub animation_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListDto<T: ToSchema> {
    pub items: Vec<T>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    /// apple_app_store, google_play, stripe or test (development only).
    pub provider: String,
    /// The store's receipt as the client received it.
    pub receipt_data: String,
    pub signature: String,
}

impl ReceiptBody {
    fn to_proto(&self) -> ApiResult<pb::PaymentReceipt> {
        let provider = enum_from_str(
            "receipt.provider",
            &self.provider,
            "PAYMENT_PROVIDER_",
            |s| pb::PaymentProvider::from_str_name(s).map(|p| p as i32),
            &["apple_app_store", "google_play", "stripe", "test"],
        )?;
        Ok(pb::PaymentReceipt {
            provider,
            receipt_data: self.receipt_data.clone(),
            signature: self.signature.clone(),
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseBody {
    pub package_id: String,
    pub receipt: ReceiptBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PurchaseDto {
    pub transaction: TransactionDto,
    /// Your coins after the purchase.
    pub coins_balance: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpBody {
    /// 100..100000000.
    pub amount_cents: i64,
    pub receipt: ReceiptBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopUpDto {
    pub transaction: TransactionDto,
    pub cents_balance: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendGiftBody {
    pub gift_id: String,
    /// The creator receiving the diamonds.
    pub recipient_id: String,
    /// Exactly one of video_id / live_room_id.
    pub video_id: Option<String>,
    pub live_room_id: Option<String>,
    /// 1..999, default 1.
    pub count: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GiftSentDto {
    pub transaction_id: String,
    pub coins_spent: i64,
    pub diamonds_credited: i64,
    /// Your coins after the gift.
    pub coins_balance: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutBody {
    /// Cash out diamonds, or
    pub diamonds: Option<i64>,
    /// marketplace earnings (cents).
    pub cents: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutDto {
    pub payout_id: String,
    pub creator_id: String,
    pub diamonds: i64,
    pub cents: i64,
    pub cash_value_cents: i64,
    /// pending, approved or rejected.
    pub status: String,
    pub reject_reason: Option<String>,
    pub decided_by: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
}

impl From<pb::Payout> for PayoutDto {
    fn from(p: pb::Payout) -> Self {
        Self {
            status: enum_to_str(p.status().as_str_name(), "PAYOUT_STATUS_"),
            payout_id: p.payout_id,
            creator_id: p.creator_id,
            diamonds: p.diamonds,
            cents: p.cents,
            cash_value_cents: p.cash_value_cents,
            reject_reason: opt(p.reject_reason),
            decided_by: opt(p.decided_by),
            created_at: ts(p.created_at),
            decided_at: ts(p.decided_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    /// 1..500 characters, shown to the creator.
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeaderboardEntryDto {
    /// 1-based; ties share a rank.
    pub rank: u32,
    pub user_id: String,
    /// Coins (room gifters) or diamonds (top creators).
    pub score: i64,
}

impl From<pb::LeaderboardEntry> for LeaderboardEntryDto {
    fn from(e: pb::LeaderboardEntry) -> Self {
        Self {
            rank: e.rank,
            user_id: e.user_id,
            score: e.score,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomLeaderboardDto {
    pub entries: Vec<LeaderboardEntryDto>,
    /// Your own entry, when you have gifted in the room.
    pub me: Option<LeaderboardEntryDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopCreatorsDto {
    /// UTC day, YYYY-MM-DD.
    pub date: String,
    pub entries: Vec<LeaderboardEntryDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EscrowDto {
    pub escrow_id: String,
    pub payer_id: String,
    pub payee_id: String,
    pub amount_cents: i64,
    pub reference: String,
    /// held, released or refunded.
    pub status: String,
    pub platform_fee_bps: u32,
    pub platform_fee_cents: i64,
    pub payee_cents: i64,
    pub created_at: Option<DateTime<Utc>>,
    pub settled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssetTotalsDto {
    pub asset: String,
    /// 0 when consistent.
    pub entries_sum: i64,
    pub user_balances: i64,
    pub system_balances: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MismatchDto {
    pub account: String,
    pub asset: String,
    pub stored_balance: i64,
    pub entries_sum: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReconcileDto {
    pub consistent: bool,
    pub assets: Vec<AssetTotalsDto>,
    pub mismatched_accounts: Vec<MismatchDto>,
    pub unbalanced_transaction_ids: Vec<String>,
    pub negative_user_accounts: Vec<String>,
    pub checked_at: Option<DateTime<Utc>>,
}

// --- Queries -----------------------------------------------------------------------

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WhoQuery {
    /// Admins only: whose wallet.
    pub user_id: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TransactionsQuery {
    /// coins, diamonds or cents.
    pub asset: Option<String>,
    /// Admins only: whose history.
    pub user_id: Option<String>,
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PayoutsQuery {
    /// pending, approved or rejected.
    pub status: Option<String>,
    /// Admins: whose payouts (omit for everyone's; with status=pending, the review queue).
    pub creator_id: Option<String>,
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    /// 1..100, default 10.
    pub limit: Option<u32>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TopCreatorsQuery {
    /// UTC day YYYY-MM-DD, default today.
    pub date: Option<String>,
    /// 1..100, default 10.
    pub limit: Option<u32>,
}

// --- Handlers ----------------------------------------------------------------------

/// Your balances (admins: anyone's with `user_id`).
#[utoipa::path(get, path = "/v1/wallet/balance", tag = "wallet", security(("bearer" = [])),
    params(WhoQuery), responses((status = 200, body = WalletBalanceDto), (status = "4XX", body = ErrorBody)))]
pub async fn balance(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<WhoQuery>,
) -> ApiResult<Json<WalletBalanceDto>> {
    let r = st
        .call(st.wallet().get_balance(st.req(
            &user,
            pb::GetBalanceRequest {
                user_id: q.user_id.unwrap_or_default(),
            },
        )))
        .await?;
    let of = |asset: pb::Asset| {
        r.balances.iter().find(|b| b.asset == asset as i32).map_or(
            BalanceDto {
                available: 0,
                held: 0,
            },
            |b| BalanceDto {
                available: b.available,
                held: b.held,
            },
        )
    };
    Ok(Json(WalletBalanceDto {
        coins: of(pb::Asset::Coins),
        diamonds: of(pb::Asset::Diamonds),
        cents: of(pb::Asset::Cents),
        diamonds_cash_value_cents: r.diamonds_cash_value_cents,
    }))
}

/// Your transactions, newest first (keyset pages).
#[utoipa::path(get, path = "/v1/wallet/transactions", tag = "wallet", security(("bearer" = [])),
    params(TransactionsQuery), responses((status = 200, body = Page<TransactionDto>), (status = "4XX", body = ErrorBody)))]
pub async fn transactions(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<TransactionsQuery>,
) -> ApiResult<Json<Page<TransactionDto>>> {
    let asset = enum_from_str(
        "asset",
        q.asset.as_deref().unwrap_or_default(),
        "ASSET_",
        |s| pb::Asset::from_str_name(s).map(|a| a as i32),
        &["coins", "diamonds", "cents"],
    )?;
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = st
        .call(st.wallet().list_transactions(st.req(
            &user,
            pb::ListTransactionsRequest {
                page: page.to_proto(),
                asset,
                user_id: q.user_id.unwrap_or_default(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.transactions, r.page)))
}

/// Coin packages for sale, cheapest first.
#[utoipa::path(get, path = "/v1/wallet/coin-packages", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, body = ListDto<CoinPackageDto>), (status = "4XX", body = ErrorBody)))]
pub async fn coin_packages(
    State(st): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<ListDto<CoinPackageDto>>> {
    let r = st
        .call(
            st.wallet()
                .list_coin_packages(st.req(&user, pb::ListCoinPackagesRequest {})),
        )
        .await?;
    Ok(Json(ListDto {
        items: r
            .packages
            .into_iter()
            .map(|p| CoinPackageDto {
                package_id: p.package_id,
                coins: p.coins,
                price_cents: p.price_cents,
                display_name: p.display_name,
                store_product_id: p.store_product_id,
            })
            .collect(),
    }))
}

/// Buy a coin package with a store receipt (18+; a receipt credits once).
#[utoipa::path(post, path = "/v1/wallet/purchases", tag = "wallet", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)), request_body = PurchaseBody,
    responses((status = 201, body = PurchaseDto), (status = "4XX", body = ErrorBody)))]
pub async fn purchase(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(b): ApiJson<PurchaseBody>,
) -> ApiResult<(StatusCode, Json<PurchaseDto>)> {
    let r = st
        .call(st.wallet().purchase_coins(st.req(
            &user,
            pb::PurchaseCoinsRequest {
                idempotency_key: key,
                package_id: b.package_id,
                receipt: Some(b.receipt.to_proto()?),
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(PurchaseDto {
            transaction: r
                .transaction
                .ok_or_else(|| ApiError::missing("transaction"))?
                .into(),
            coins_balance: r.coins_balance,
        }),
    ))
}

/// Add cash to your advertiser balance with a store receipt.
#[utoipa::path(post, path = "/v1/wallet/top-ups", tag = "wallet", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)), request_body = TopUpBody,
    responses((status = 201, body = TopUpDto), (status = "4XX", body = ErrorBody)))]
pub async fn top_up(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(b): ApiJson<TopUpBody>,
) -> ApiResult<(StatusCode, Json<TopUpDto>)> {
    let r = st
        .call(st.wallet().top_up_cents(st.req(
            &user,
            pb::TopUpCentsRequest {
                idempotency_key: key,
                amount_cents: b.amount_cents,
                receipt: Some(b.receipt.to_proto()?),
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TopUpDto {
            transaction: r
                .transaction
                .ok_or_else(|| ApiError::missing("transaction"))?
                .into(),
            cents_balance: r.cents_balance,
        }),
    ))
}

/// The gift catalog, cheapest first.
#[utoipa::path(get, path = "/v1/wallet/gifts", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, body = ListDto<GiftDto>), (status = "4XX", body = ErrorBody)))]
pub async fn gift_catalog(
    State(st): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<ListDto<GiftDto>>> {
    let r = st
        .call(
            st.wallet()
                .get_gift_catalog(st.req(&user, pb::GetGiftCatalogRequest {})),
        )
        .await?;
    Ok(Json(ListDto {
        items: r
            .gifts
            .into_iter()
            .map(|g| GiftDto {
                gift_id: g.gift_id,
                name: g.name,
                coins: g.coins,
                diamonds: g.diamonds,
                icon_url: g.icon_url,
                animation_url: opt(g.animation_url),
            })
            .collect(),
    }))
}

/// Send gifts to a creator on a video or in a LIVE room (spends your coins).
#[utoipa::path(post, path = "/v1/wallet/gifts", tag = "wallet", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)), request_body = SendGiftBody,
    responses((status = 201, body = GiftSentDto), (status = "4XX", body = ErrorBody)))]
pub async fn send_gift(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(b): ApiJson<SendGiftBody>,
) -> ApiResult<(StatusCode, Json<GiftSentDto>)> {
    use pb::send_gift_request::Target;
    let target = match (b.video_id, b.live_room_id) {
        (Some(v), None) => Some(Target::VideoId(v)),
        (None, Some(r)) => Some(Target::LiveRoomId(r)),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "live_room_id",
                "give either video_id or live_room_id, not both",
            ));
        }
        (None, None) => None,
    };
    let r = st
        .call(st.wallet().send_gift(st.req(
            &user,
            pb::SendGiftRequest {
                idempotency_key: key,
                gift_id: b.gift_id,
                recipient_id: b.recipient_id,
                target,
                count: b.count.unwrap_or(1),
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(GiftSentDto {
            transaction_id: r.transaction_id,
            coins_spent: r.coins_spent,
            diamonds_credited: r.diamonds_credited,
            coins_balance: r.coins_balance,
        }),
    ))
}

/// Ask to cash out diamonds or marketplace cents (creators).
#[utoipa::path(post, path = "/v1/wallet/payouts", tag = "wallet", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)), request_body = PayoutBody,
    responses((status = 201, body = PayoutDto), (status = "4XX", body = ErrorBody)))]
pub async fn request_payout(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(b): ApiJson<PayoutBody>,
) -> ApiResult<(StatusCode, Json<PayoutDto>)> {
    use pb::request_payout_request::Amount;
    let amount = match (b.diamonds, b.cents) {
        (Some(d), None) => Some(Amount::Diamonds(d)),
        (None, Some(c)) => Some(Amount::Cents(c)),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "cents",
                "give either diamonds or cents, not both",
            ));
        }
        (None, None) => None,
    };
    let r = st
        .call(st.wallet().request_payout(st.req(
            &user,
            pb::RequestPayoutRequest {
                idempotency_key: key,
                amount,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(r.payout.ok_or_else(|| ApiError::missing("payout"))?.into()),
    ))
}

/// Your payouts, newest first (admins: anyone's; the pending queue oldest first).
#[utoipa::path(get, path = "/v1/wallet/payouts", tag = "wallet", security(("bearer" = [])),
    params(PayoutsQuery), responses((status = 200, body = Page<PayoutDto>), (status = "4XX", body = ErrorBody)))]
pub async fn list_payouts(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<PayoutsQuery>,
) -> ApiResult<Json<Page<PayoutDto>>> {
    let status = enum_from_str(
        "status",
        q.status.as_deref().unwrap_or_default(),
        "PAYOUT_STATUS_",
        |s| pb::PayoutStatus::from_str_name(s).map(|p| p as i32),
        &["pending", "approved", "rejected"],
    )?;
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = st
        .call(st.wallet().list_payouts(st.req(
            &user,
            pb::ListPayoutsRequest {
                page: page.to_proto(),
                status,
                creator_id: q.creator_id.unwrap_or_default(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.payouts, r.page)))
}

/// Approve a pending payout (admins).
#[utoipa::path(post, path = "/v1/admin/payouts/{payout_id}/approve", tag = "wallet", security(("bearer" = [])),
    params(("payout_id" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = PayoutDto), (status = "4XX", body = ErrorBody)))]
pub async fn approve_payout(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    Path(payout_id): Path<String>,
) -> ApiResult<Json<PayoutDto>> {
    let r = st
        .call(st.wallet().approve_payout(st.req(
            &user,
            pb::ApprovePayoutRequest {
                idempotency_key: key,
                payout_id,
            },
        )))
        .await?;
    Ok(Json(
        r.payout.ok_or_else(|| ApiError::missing("payout"))?.into(),
    ))
}

/// Reject a pending payout; the amount returns to the creator (admins).
#[utoipa::path(post, path = "/v1/admin/payouts/{payout_id}/reject", tag = "wallet", security(("bearer" = [])),
    params(("payout_id" = String, Path), ("Idempotency-Key" = String, Header)), request_body = RejectBody,
    responses((status = 200, body = PayoutDto), (status = "4XX", body = ErrorBody)))]
pub async fn reject_payout(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    Path(payout_id): Path<String>,
    ApiJson(b): ApiJson<RejectBody>,
) -> ApiResult<Json<PayoutDto>> {
    let r = st
        .call(st.wallet().reject_payout(st.req(
            &user,
            pb::RejectPayoutRequest {
                idempotency_key: key,
                payout_id,
                reason: b.reason,
            },
        )))
        .await?;
    Ok(Json(
        r.payout.ok_or_else(|| ApiError::missing("payout"))?.into(),
    ))
}

/// Check the ledger: per-asset sums, cached balances, balanced transactions (admins).
#[utoipa::path(get, path = "/v1/admin/wallet/reconcile", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, body = ReconcileDto), (status = "4XX", body = ErrorBody)))]
pub async fn reconcile(
    State(st): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<ReconcileDto>> {
    let r = st
        .call(
            st.wallet()
                .reconcile(st.req(&user, pb::ReconcileRequest { limit: 0 })),
        )
        .await?;
    Ok(Json(ReconcileDto {
        consistent: r.consistent,
        assets: r
            .assets
            .into_iter()
            .map(|a| AssetTotalsDto {
                asset: asset_str(a.asset),
                entries_sum: a.entries_sum,
                user_balances: a.user_balances,
                system_balances: a.system_balances,
            })
            .collect(),
        mismatched_accounts: r
            .mismatched_accounts
            .into_iter()
            .map(|m| MismatchDto {
                asset: asset_str(m.asset),
                account: m.account,
                stored_balance: m.stored_balance,
                entries_sum: m.entries_sum,
            })
            .collect(),
        unbalanced_transaction_ids: r.unbalanced_transaction_ids,
        negative_user_accounts: r.negative_user_accounts,
        checked_at: ts(r.checked_at),
    }))
}

/// Top gifters of a LIVE room, and your own rank.
#[utoipa::path(get, path = "/v1/live/{room_id}/leaderboard", tag = "wallet", security(("bearer" = [])),
    params(("room_id" = String, Path), LimitQuery),
    responses((status = 200, body = RoomLeaderboardDto), (status = "4XX", body = ErrorBody)))]
pub async fn room_leaderboard(
    State(st): State<AppState>,
    user: AuthUser,
    Path(room_id): Path<String>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> ApiResult<Json<RoomLeaderboardDto>> {
    let r = st
        .call(st.wallet().get_room_leaderboard(st.req(
            &user,
            pb::GetRoomLeaderboardRequest {
                live_room_id: room_id,
                limit: q.limit.unwrap_or(0),
            },
        )))
        .await?;
    Ok(Json(RoomLeaderboardDto {
        entries: r.entries.into_iter().map(Into::into).collect(),
        me: r.caller_entry.map(Into::into),
    }))
}

/// Top creators of a UTC day by diamonds received.
#[utoipa::path(get, path = "/v1/wallet/top-creators", tag = "wallet", security(("bearer" = [])),
    params(TopCreatorsQuery), responses((status = 200, body = TopCreatorsDto), (status = "4XX", body = ErrorBody)))]
pub async fn top_creators(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<TopCreatorsQuery>,
) -> ApiResult<Json<TopCreatorsDto>> {
    let r = st
        .call(st.wallet().get_top_creators(st.req(
            &user,
            pb::GetTopCreatorsRequest {
                date: q.date.unwrap_or_default(),
                limit: q.limit.unwrap_or(0),
            },
        )))
        .await?;
    Ok(Json(TopCreatorsDto {
        date: r.date,
        entries: r.entries.into_iter().map(Into::into).collect(),
    }))
}

/// An escrow you pay or are paid from (admins: any).
#[utoipa::path(get, path = "/v1/wallet/escrows/{escrow_id}", tag = "wallet", security(("bearer" = [])),
    params(("escrow_id" = String, Path)), responses((status = 200, body = EscrowDto), (status = "4XX", body = ErrorBody)))]
pub async fn get_escrow(
    State(st): State<AppState>,
    user: AuthUser,
    Path(escrow_id): Path<String>,
) -> ApiResult<Json<EscrowDto>> {
    let e = st
        .call(
            st.wallet()
                .get_escrow(st.req(&user, pb::GetEscrowRequest { escrow_id })),
        )
        .await?
        .escrow
        .ok_or_else(|| ApiError::missing("escrow"))?;
    Ok(Json(EscrowDto {
        status: enum_to_str(e.status().as_str_name(), "ESCROW_STATUS_"),
        escrow_id: e.escrow_id,
        payer_id: e.payer_id,
        payee_id: e.payee_id,
        amount_cents: e.amount_cents,
        reference: e.reference,
        platform_fee_bps: e.platform_fee_bps,
        platform_fee_cents: e.platform_fee_cents,
        payee_cents: e.payee_cents,
        created_at: ts(e.created_at),
        settled_at: ts(e.settled_at),
    }))
}
