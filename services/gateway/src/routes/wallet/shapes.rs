//! The wallet shapes (DTOs, query strings) and their proto mappings.

use super::*;

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
    #[schema(schema_with = providers)]
    pub provider: String,
    /// The store's receipt as the client received it (at most 64 KiB).
    #[schema(min_length = 1, max_length = 65536)]
    pub receipt_data: String,
    #[schema(min_length = 1)]
    pub signature: String,
}

const PROVIDERS: &[&str] = &["apple_app_store", "google_play", "stripe", "test"];

crate::constraints::enum_schemas! {
    providers => PROVIDERS;
    assets => ASSETS;
    payout_statuses => PAYOUT_STATUSES;
}

impl ReceiptBody {
    pub(crate) fn to_proto(&self) -> ApiResult<pb::PaymentReceipt> {
        let provider = enum_from_str(
            "receipt.provider",
            &self.provider,
            "PAYMENT_PROVIDER_",
            |s| pb::PaymentProvider::from_str_name(s).map(|p| p as i32),
            PROVIDERS,
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
    /// A package of `GET /v1/wallet/coin-packages`.
    #[schema(min_length = 1)]
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
    /// 100..=100000000.
    #[schema(minimum = 100, maximum = 100000000)]
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
    /// A gift of `GET /v1/wallet/gifts`.
    #[schema(min_length = 1)]
    pub gift_id: String,
    /// The creator receiving the diamonds (not yourself).
    #[schema(schema_with = crate::constraints::uuid)]
    pub recipient_id: String,
    /// Exactly one of video_id / live_room_id.
    #[schema(schema_with = crate::constraints::uuid)]
    pub video_id: Option<String>,
    #[schema(schema_with = crate::constraints::uuid)]
    pub live_room_id: Option<String>,
    /// 1..=999, default 1.
    #[schema(minimum = 1, maximum = 999)]
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
    #[schema(minimum = 1, maximum = 100_000_000_000_i64)]
    pub diamonds: Option<i64>,
    /// marketplace earnings (cents): exactly one of the two.
    #[schema(minimum = 1, maximum = 100_000_000_000_i64)]
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
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
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
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WhoQuery {
    /// Admins only: whose wallet.
    #[param(schema_with = crate::constraints::uuid)]
    pub user_id: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TransactionsQuery {
    /// coins, diamonds or cents.
    #[param(schema_with = assets)]
    pub asset: Option<String>,
    /// Admins only: whose history.
    #[param(schema_with = crate::constraints::uuid)]
    pub user_id: Option<String>,
    /// 1..=100, default 20.
    #[serde(default, deserialize_with = "crate::dto::page_size")]
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PayoutsQuery {
    /// pending, approved or rejected.
    #[param(schema_with = payout_statuses)]
    pub status: Option<String>,
    /// Admins: whose payouts (omit for everyone's; with status=pending, the review queue).
    #[param(schema_with = crate::constraints::uuid)]
    pub creator_id: Option<String>,
    /// 1..=100, default 20.
    #[serde(default, deserialize_with = "crate::dto::page_size")]
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    /// 1..=100, default 10.
    #[serde(default, deserialize_with = "crate::dto::page_size")]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TopCreatorsQuery {
    /// UTC day YYYY-MM-DD, today (the default) or before.
    #[param(format = Date, example = "2025-01-15")]
    pub date: Option<String>,
    /// 1..=100, default 10.
    #[serde(default, deserialize_with = "crate::dto::page_size")]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

pub(crate) const ASSETS: &[&str] = &["coins", "diamonds", "cents"];
pub(crate) const PAYOUT_STATUSES: &[&str] = &["pending", "approved", "rejected"];
