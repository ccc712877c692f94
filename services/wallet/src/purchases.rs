//! Coin packages, coin purchases and advertisers' cash top-ups.
//!
//! A purchase: COINS `system:coin_issuance` -> `user:<buyer>`; CENTS
//! `system:payment_provider` -> `system:revenue` (what the buyer paid). A
//! top-up: CENTS `system:payment_provider` -> `user:<advertiser>`.

use chrono::{DateTime, Utc};
use loop_platform::auth::{Caller, Role};
use loop_platform::error::is_unique_violation;
use loop_proto::events::v1 as ev;
use loop_proto::wallet::v1 as pb;

use crate::balances::transaction_proto;
use crate::error::{Rule, WalletError, WalletResult};
use crate::events;
use crate::idempotency::{self, Key};
use crate::ledger::{self, Account, Asset, Posting, SystemAccount, pick_shard};
use crate::payments::VerifiedReceipt;
use crate::service::WalletService;

pub(crate) fn event_provider(p: pb::PaymentProvider) -> ev::WalletPaymentProvider {
    match p {
        pb::PaymentProvider::AppleAppStore => ev::WalletPaymentProvider::AppleAppStore,
        pb::PaymentProvider::GooglePlay => ev::WalletPaymentProvider::GooglePlay,
        pb::PaymentProvider::Stripe => ev::WalletPaymentProvider::Stripe,
        pb::PaymentProvider::Test => ev::WalletPaymentProvider::Test,
        pb::PaymentProvider::Unspecified => ev::WalletPaymentProvider::Unspecified,
    }
}

/// Records the redemption of a store receipt (once ever).
pub(crate) async fn redeem(
    tx: &mut sqlx::PgConnection,
    receipt: &VerifiedReceipt,
    transaction_id: uuid::Uuid,
    user: uuid::Uuid,
) -> WalletResult<()> {
    let inserted = sqlx::query(
        "INSERT INTO receipt_redemptions (provider, receipt_id, transaction_id, user_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(i16::try_from(receipt.provider as i32).unwrap_or(0))
    .bind(&receipt.receipt_id)
    .bind(transaction_id)
    .bind(user)
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(err) if is_unique_violation(&err, None) => Err(WalletError::rule(
            Rule::ReceiptAlreadyRedeemed,
            "this store receipt was already redeemed",
        )),
        Err(err) => Err(err.into()),
    }
}

impl WalletService {
    pub(crate) async fn list_coin_packages(
        &self,
        _caller: &Caller,
        _req: pb::ListCoinPackagesRequest,
    ) -> WalletResult<pb::ListCoinPackagesResponse> {
        let mut packages: Vec<pb::CoinPackage> = self
            .config
            .coin_packages
            .iter()
            .filter(|p| p.active)
            .map(|p| pb::CoinPackage {
                package_id: p.package_id.clone(),
                coins: p.coins,
                price_cents: p.price_cents,
                display_name: p.display_name.clone(),
                store_product_id: p.store_product_id.clone(),
            })
            .collect();
        packages.sort_by_key(|p| (p.price_cents, p.coins));
        Ok(pb::ListCoinPackagesResponse { packages })
    }

    pub(crate) async fn purchase_coins(
        &self,
        caller: &Caller,
        req: pb::PurchaseCoinsRequest,
    ) -> WalletResult<pb::PurchaseCoinsResponse> {
        let me = caller.user_id()?;
        if req.package_id.is_empty() {
            return Err(WalletError::invalid("package_id", "is required"));
        }
        let key = Key::new(
            &caller.subject,
            "PurchaseCoins",
            &req.idempotency_key,
            &pb::PurchaseCoinsRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        idempotency::run(&self.pool, &key, || {
            self.purchase_once(caller, me, &req, &key)
        })
        .await
    }

    async fn purchase_once(
        &self,
        caller: &Caller,
        me: uuid::Uuid,
        req: &pb::PurchaseCoinsRequest,
        key: &Key,
    ) -> WalletResult<pb::PurchaseCoinsResponse> {
        let package = self
            .config
            .coin_packages
            .iter()
            .find(|p| p.active && p.package_id == req.package_id)
            .ok_or_else(|| WalletError::not_found("coin package not found (package_id)"))?;
        let receipt = self.providers.verify(req.receipt.as_ref()).await?;
        if receipt.product_id != package.store_product_id
            || receipt.amount_cents != package.price_cents
        {
            return Err(WalletError::invalid(
                "receipt.receipt_data",
                format!(
                    "is for product {} at {} cents, not package {} ({} at {} cents)",
                    receipt.product_id,
                    receipt.amount_cents,
                    package.package_id,
                    package.store_product_id,
                    package.price_cents
                ),
            ));
        }
        let birth = self.content.birth_date(&caller.token, me).await?;
        let today = Utc::now().date_naive();
        match birth {
            Some(b) if loop_platform::time::age_on(b, today) >= 18 => {}
            Some(_) => {
                return Err(WalletError::rule(
                    Rule::AgeRestricted,
                    "coin purchases require the buyer to be 18 or older",
                ));
            }
            None => {
                return Err(WalletError::rule(
                    Rule::AgeRestricted,
                    "coin purchases require the buyer to be 18 or older, and the buyer's age is unknown",
                ));
            }
        }
        let shard = pick_shard(self.config.ledger.shards);
        let posting = Posting::new(pb::TransactionKind::CoinPurchase, &package.package_id)
            .leg(
                Account::system(SystemAccount::CoinIssuance, shard),
                Asset::Coins,
                -package.coins,
            )
            .leg(Account::user(me), Asset::Coins, package.coins)
            .leg(
                Account::system(SystemAccount::PaymentProvider, shard),
                Asset::Cents,
                -package.price_cents,
            )
            .leg(
                Account::system(SystemAccount::Revenue, shard),
                Asset::Cents,
                package.price_cents,
            );
        let mut tx = self.pool.begin().await?;
        redeem(&mut tx, &receipt, posting.transaction_id, me).await?;
        let balances = ledger::post(&mut tx, &posting, || "unreachable".into()).await?;
        let created_at: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
            .fetch_one(&mut *tx)
            .await?;
        events::emit(
            &mut tx,
            &me.to_string(),
            ev::wallet_event::Payload::CoinsPurchased(ev::CoinsPurchased {
                transaction_id: posting.transaction_id.to_string(),
                user_id: me.to_string(),
                package_id: package.package_id.clone(),
                coins: package.coins,
                price_cents: package.price_cents,
                provider: event_provider(receipt.provider) as i32,
            }),
        )
        .await?;
        let response = pb::PurchaseCoinsResponse {
            transaction: Some(transaction_proto(&posting, created_at)),
            coins_balance: balances
                .get(usize::try_from(posting.leg_index(&Account::user(me)) - 1).unwrap_or(0))
                .copied()
                .unwrap_or(0),
        };
        if !key.store(&mut tx, &response).await? {
            return Err(idempotency::key_used());
        }
        tx.commit().await?;
        ledger::count_committed(posting.kind);
        self.committed();
        Ok(response)
    }

    pub(crate) async fn top_up_cents(
        &self,
        caller: &Caller,
        req: pb::TopUpCentsRequest,
    ) -> WalletResult<pb::TopUpCentsResponse> {
        caller.require_role(&[Role::Advertiser])?;
        let me = caller.user_id()?;
        if !(100..=100_000_000).contains(&req.amount_cents) {
            return Err(WalletError::invalid(
                "amount_cents",
                "must be 100..100000000",
            ));
        }
        let key = Key::new(
            &caller.subject,
            "TopUpCents",
            &req.idempotency_key,
            &pb::TopUpCentsRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        idempotency::run(&self.pool, &key, || self.top_up_once(me, &req, &key)).await
    }

    async fn top_up_once(
        &self,
        me: uuid::Uuid,
        req: &pb::TopUpCentsRequest,
        key: &Key,
    ) -> WalletResult<pb::TopUpCentsResponse> {
        let receipt = self.providers.verify(req.receipt.as_ref()).await?;
        if receipt.amount_cents != req.amount_cents {
            return Err(WalletError::invalid(
                "receipt.receipt_data",
                format!(
                    "is for {} cents, not the {} cents requested",
                    receipt.amount_cents, req.amount_cents
                ),
            ));
        }
        let shard = pick_shard(self.config.ledger.shards);
        let posting = Posting::new(pb::TransactionKind::CentsTopUp, &receipt.receipt_id)
            .leg(
                Account::system(SystemAccount::PaymentProvider, shard),
                Asset::Cents,
                -req.amount_cents,
            )
            .leg(Account::user(me), Asset::Cents, req.amount_cents);
        let mut tx = self.pool.begin().await?;
        redeem(&mut tx, &receipt, posting.transaction_id, me).await?;
        let balances = ledger::post(&mut tx, &posting, || "unreachable".into()).await?;
        let created_at: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
            .fetch_one(&mut *tx)
            .await?;
        events::emit(
            &mut tx,
            &me.to_string(),
            ev::wallet_event::Payload::CentsToppedUp(ev::CentsToppedUp {
                transaction_id: posting.transaction_id.to_string(),
                user_id: me.to_string(),
                amount_cents: req.amount_cents,
                provider: event_provider(receipt.provider) as i32,
            }),
        )
        .await?;
        let response = pb::TopUpCentsResponse {
            transaction: Some(transaction_proto(&posting, created_at)),
            cents_balance: balances.get(1).copied().unwrap_or(0),
        };
        if !key.store(&mut tx, &response).await? {
            return Err(idempotency::key_used());
        }
        tx.commit().await?;
        ledger::count_committed(posting.kind);
        self.committed();
        Ok(response)
    }
}
