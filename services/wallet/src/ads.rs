//! Ad budgets (internal: ads-auction's service token). A campaign's reserve
//! is the hold `user:<advertiser>:ads:<campaign>` (CENTS): reserve moves
//! cents into it, charge moves billed spend to `system:ad_revenue` (never
//! beyond the reserve: the rest is written off), release returns cents.

use loop_platform::auth::Caller;
use loop_platform::ids::parse_id;
use loop_proto::events::v1 as ev;
use loop_proto::wallet::v1 as pb;
use uuid::Uuid;

use crate::error::{WalletError, WalletResult};
use crate::events;
use crate::idempotency::{self, Key};
use crate::ledger::{self, Account, Asset, Hold, Posting, SystemAccount, pick_shard};
use crate::service::WalletService;

struct Budget {
    advertiser: Uuid,
    campaign: Uuid,
    amount: i64,
}

fn parse(advertiser: &str, campaign: &str, amount: i64) -> WalletResult<Budget> {
    let advertiser = parse_id("advertiser_id", advertiser)?;
    let campaign = parse_id("campaign_id", campaign)?;
    if amount <= 0 {
        return Err(WalletError::invalid(
            "amount_cents",
            "must be greater than 0",
        ));
    }
    Ok(Budget {
        advertiser,
        campaign,
        amount,
    })
}

fn changed(
    b: &Budget,
    transaction_id: String,
    kind: ev::AdBudgetChangeKind,
    amount: i64,
    written_off: i64,
    reserved: i64,
) -> ev::wallet_event::Payload {
    ev::wallet_event::Payload::AdBudgetChanged(ev::AdBudgetChanged {
        transaction_id,
        advertiser_id: b.advertiser.to_string(),
        campaign_id: b.campaign.to_string(),
        kind: kind as i32,
        amount_cents: amount,
        written_off_cents: written_off,
        reserved_cents: reserved,
    })
}

impl WalletService {
    pub(crate) async fn reserve_ad_budget(
        &self,
        caller: &Caller,
        req: pb::ReserveAdBudgetRequest,
    ) -> WalletResult<pb::ReserveAdBudgetResponse> {
        Self::require_internal(caller, &self.config.internal.ad_budget_callers)?;
        let b = parse(&req.advertiser_id, &req.campaign_id, req.amount_cents)?;
        let key = Key::new(
            &caller.subject,
            "ReserveAdBudget",
            &req.idempotency_key,
            &pb::ReserveAdBudgetRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        idempotency::run(&self.pool, &key, || async {
            let reserve = Account::hold(b.advertiser, Hold::Ads, &b.campaign.to_string());
            let posting =
                Posting::new(pb::TransactionKind::AdBudgetReserve, b.campaign.to_string())
                    .leg(Account::user(b.advertiser), Asset::Cents, -b.amount)
                    .leg(reserve.clone(), Asset::Cents, b.amount);
            let mut tx = self.pool.begin().await?;
            let balances = ledger::post(&mut tx, &posting, || {
                format!("the advertiser has fewer than {} cents available", b.amount)
            })
            .await?;
            let reserved = balances.get(1).copied().unwrap_or(0);
            events::emit(
                &mut tx,
                &b.advertiser.to_string(),
                changed(
                    &b,
                    posting.transaction_id.to_string(),
                    ev::AdBudgetChangeKind::Reserved,
                    b.amount,
                    0,
                    reserved,
                ),
            )
            .await?;
            let response = pb::ReserveAdBudgetResponse {
                reserved_cents: reserved,
            };
            if !key.store(&mut tx, &response).await? {
                return Err(idempotency::key_used());
            }
            tx.commit().await?;
            ledger::count_committed(posting.kind);
            self.committed();
            Ok(response)
        })
        .await
    }

    pub(crate) async fn charge_ad_spend(
        &self,
        caller: &Caller,
        req: pb::ChargeAdSpendRequest,
    ) -> WalletResult<pb::ChargeAdSpendResponse> {
        Self::require_internal(caller, &self.config.internal.ad_budget_callers)?;
        let b = parse(&req.advertiser_id, &req.campaign_id, req.amount_cents)?;
        let key = Key::new(
            &caller.subject,
            "ChargeAdSpend",
            &req.idempotency_key,
            &pb::ChargeAdSpendRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        idempotency::run(&self.pool, &key, || async {
            let reserve = Account::hold(b.advertiser, Hold::Ads, &b.campaign.to_string());
            let mut tx = self.pool.begin().await?;
            let balance: Option<i64> = sqlx::query_scalar(
                "SELECT balance FROM accounts WHERE account = $1 AND asset = $2 FOR UPDATE",
            )
            .bind(&reserve.name)
            .bind(Asset::Cents.id())
            .fetch_optional(&mut *tx)
            .await?;
            let balance = balance.ok_or_else(|| {
                WalletError::not_found("no ad budget reserve for this campaign (campaign_id)")
            })?;
            let charged = b.amount.min(balance);
            let written_off = b.amount - charged;
            let mut transaction_id = String::new();
            if charged > 0 {
                let posting = Posting::new(pb::TransactionKind::AdSpend, b.campaign.to_string())
                    .leg(reserve, Asset::Cents, -charged)
                    .leg(
                        Account::system(SystemAccount::AdRevenue, pick_shard(self.config.ledger.shards)),
                        Asset::Cents,
                        charged,
                    );
                ledger::post(&mut tx, &posting, || "the reserve is short".into()).await?;
                transaction_id = posting.transaction_id.to_string();
            }
            if written_off > 0 {
                tracing::warn!(campaign = %b.campaign, written_off, "ad spend beyond the reserve written off");
            }
            let reserved = balance - charged;
            events::emit(
                &mut tx,
                &b.advertiser.to_string(),
                changed(
                    &b,
                    transaction_id,
                    ev::AdBudgetChangeKind::Charged,
                    charged,
                    written_off,
                    reserved,
                ),
            )
            .await?;
            let response = pb::ChargeAdSpendResponse {
                charged_cents: charged,
                written_off_cents: written_off,
                reserved_cents: reserved,
            };
            if !key.store(&mut tx, &response).await? {
                return Err(idempotency::key_used());
            }
            tx.commit().await?;
            if charged > 0 {
                ledger::count_committed(pb::TransactionKind::AdSpend);
            }
            self.committed();
            Ok(response)
        })
        .await
    }

    pub(crate) async fn release_ad_budget(
        &self,
        caller: &Caller,
        req: pb::ReleaseAdBudgetRequest,
    ) -> WalletResult<pb::ReleaseAdBudgetResponse> {
        Self::require_internal(caller, &self.config.internal.ad_budget_callers)?;
        let b = parse(&req.advertiser_id, &req.campaign_id, req.amount_cents)?;
        let key = Key::new(
            &caller.subject,
            "ReleaseAdBudget",
            &req.idempotency_key,
            &pb::ReleaseAdBudgetRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        idempotency::run(&self.pool, &key, || async {
            let reserve = Account::hold(b.advertiser, Hold::Ads, &b.campaign.to_string());
            let posting =
                Posting::new(pb::TransactionKind::AdBudgetRelease, b.campaign.to_string())
                    .leg(reserve.clone(), Asset::Cents, -b.amount)
                    .leg(Account::user(b.advertiser), Asset::Cents, b.amount);
            let mut tx = self.pool.begin().await?;
            let balances = ledger::post(&mut tx, &posting, || {
                format!("the campaign's reserve holds less than {} cents", b.amount)
            })
            .await?;
            let reserved = balances.first().copied().unwrap_or(0);
            events::emit(
                &mut tx,
                &b.advertiser.to_string(),
                changed(
                    &b,
                    posting.transaction_id.to_string(),
                    ev::AdBudgetChangeKind::Released,
                    b.amount,
                    0,
                    reserved,
                ),
            )
            .await?;
            let response = pb::ReleaseAdBudgetResponse {
                reserved_cents: reserved,
            };
            if !key.store(&mut tx, &response).await? {
                return Err(idempotency::key_used());
            }
            tx.commit().await?;
            ledger::count_committed(posting.kind);
            self.committed();
            Ok(response)
        })
        .await
    }
}
