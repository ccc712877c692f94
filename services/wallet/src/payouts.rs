//! Payouts: a creator asks to cash out diamonds (or marketplace cents); the
//! amount moves to a hold `user:<id>:payout:<payout_id>` until an admin
//! approves (the money leaves: diamonds retire to `system:diamond_issuance`
//! and their cash value moves `system:revenue` -> `system:payouts`; cents go
//! to `system:payouts`) or rejects (the hold returns to the creator).

use chrono::{DateTime, Utc};
use loop_platform::auth::{Caller, Role};
use loop_platform::ids::{parse_id, parse_opt_id};
use loop_platform::pagination;
use loop_proto::common::v1::PageResponse;
use loop_proto::events::v1 as ev;
use loop_proto::wallet::v1 as pb;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{Rule, WalletError, WalletResult};
use crate::events;
use crate::idempotency::{self, Key};
use crate::ledger::{self, Account, Asset, Hold, Posting, SystemAccount, pick_shard};
use crate::service::WalletService;

#[derive(sqlx::FromRow, Debug, Clone)]
pub(crate) struct PayoutRow {
    payout_id: Uuid,
    creator_id: Uuid,
    asset: i16,
    amount: i64,
    cash_value_cents: i64,
    status: i16,
    reject_reason: String,
    decided_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
}

const PAYOUT_SELECT: &str = "SELECT payout_id, creator_id, asset, amount, cash_value_cents, status, reject_reason, decided_by, created_at, decided_at FROM payouts";

impl PayoutRow {
    fn to_proto(&self) -> pb::Payout {
        let diamonds = self.asset == Asset::Diamonds.id();
        pb::Payout {
            payout_id: self.payout_id.to_string(),
            creator_id: self.creator_id.to_string(),
            diamonds: if diamonds { self.amount } else { 0 },
            cents: if diamonds { 0 } else { self.amount },
            cash_value_cents: self.cash_value_cents,
            status: i32::from(self.status),
            reject_reason: self.reject_reason.clone(),
            decided_by: self.decided_by.map(|d| d.to_string()).unwrap_or_default(),
            created_at: Some(loop_platform::time::to_timestamp(self.created_at)),
            decided_at: loop_platform::time::opt_timestamp(self.decided_at),
        }
    }

    fn asset(&self) -> Asset {
        Asset::from_id(self.asset).unwrap_or(Asset::Diamonds)
    }
}

const PENDING: i16 = pb::PayoutStatus::Pending as i16;
const APPROVED: i16 = pb::PayoutStatus::Approved as i16;
const REJECTED: i16 = pb::PayoutStatus::Rejected as i16;

async fn payout_for_update(tx: &mut PgConnection, id: Uuid) -> WalletResult<PayoutRow> {
    sqlx::query_as::<_, PayoutRow>(&format!("{PAYOUT_SELECT} WHERE payout_id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| WalletError::not_found("payout not found (payout_id)"))
}

impl WalletService {
    pub(crate) async fn request_payout(
        &self,
        caller: &Caller,
        req: pb::RequestPayoutRequest,
    ) -> WalletResult<pb::RequestPayoutResponse> {
        caller.require_role(&[Role::Creator])?;
        let me = caller.user_id()?;
        let (asset, amount) = match req.amount {
            Some(pb::request_payout_request::Amount::Diamonds(d)) if d > 0 => (
                Asset::Diamonds,
                loop_platform::money::cents("diamonds", d, 1)?,
            ),
            Some(pb::request_payout_request::Amount::Diamonds(_)) => {
                return Err(WalletError::invalid("diamonds", "must be greater than 0"));
            }
            Some(pb::request_payout_request::Amount::Cents(c)) if c > 0 => {
                (Asset::Cents, loop_platform::money::cents("cents", c, 1)?)
            }
            Some(pb::request_payout_request::Amount::Cents(_)) => {
                return Err(WalletError::invalid("cents", "must be greater than 0"));
            }
            None => return Err(WalletError::invalid("amount", "set diamonds or cents")),
        };
        let key = Key::new(
            &caller.subject,
            "RequestPayout",
            &req.idempotency_key,
            &pb::RequestPayoutRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        idempotency::run(&self.pool, &key, || {
            self.request_payout_once(me, asset, amount, &key)
        })
        .await
    }

    async fn request_payout_once(
        &self,
        me: Uuid,
        asset: Asset,
        amount: i64,
        key: &Key,
    ) -> WalletResult<pb::RequestPayoutResponse> {
        let money = &self.config.money;
        let cash = match asset {
            Asset::Diamonds => self.config.diamonds_cash_cents(amount),
            _ => amount,
        };
        if cash < money.min_payout_cents {
            return Err(WalletError::rule(
                Rule::BelowMinimumPayout,
                format!(
                    "a payout must be worth at least {} cents; this one is worth {cash}",
                    money.min_payout_cents
                ),
            ));
        }
        let mut tx = self.pool.begin().await?;
        // One request per creator at a time, so two cannot both pass the cap.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('payout:' || $1::text, 0))")
            .bind(me)
            .execute(&mut *tx)
            .await?;
        let today: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(cash_value_cents), 0)::BIGINT FROM payouts \
             WHERE creator_id = $1 AND status IN (1, 2) \
             AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
        )
        .bind(me)
        .fetch_one(&mut *tx)
        .await?;
        if today.saturating_add(cash) > money.daily_payout_cap_cents {
            return Err(WalletError::rule(
                Rule::DailyPayoutCap,
                format!(
                    "payouts are capped at {} cents per UTC day; {today} requested today, this adds {cash}",
                    money.daily_payout_cap_cents
                ),
            ));
        }
        // The available balance may be spread over shards: lock them in
        // account order (the ledger's global lock order) and debit greedily.
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT account, balance FROM accounts WHERE owner_id = $1 AND asset = $2 AND NOT holding \
             AND balance > 0 ORDER BY account FOR UPDATE",
        )
        .bind(me)
        .bind(asset.id())
        .fetch_all(&mut *tx)
        .await?;
        let available: i64 = rows.iter().map(|(_, b)| *b).sum();
        if available < amount {
            return Err(WalletError::rule(
                Rule::InsufficientFunds,
                format!(
                    "you have {available} {} available, fewer than {amount}",
                    asset.unit()
                ),
            ));
        }
        let payout_id = loop_platform::ids::new_id();
        let mut posting = Posting::new(pb::TransactionKind::PayoutRequest, payout_id.to_string());
        let mut left = amount;
        for (account, balance) in rows {
            if left == 0 {
                break;
            }
            let take = left.min(balance);
            left -= take;
            posting = posting.leg(
                Account {
                    name: account,
                    owner: Some(me),
                    holding: false,
                    system: false,
                },
                asset,
                -take,
            );
        }
        posting = posting.leg(
            Account::hold(me, Hold::Payout, &payout_id.to_string()),
            asset,
            amount,
        );
        let row = sqlx::query_as::<_, PayoutRow>(
            "INSERT INTO payouts (payout_id, creator_id, asset, amount, cash_value_cents) VALUES ($1, $2, $3, $4, $5) \
             RETURNING payout_id, creator_id, asset, amount, cash_value_cents, status, reject_reason, decided_by, created_at, decided_at",
        )
        .bind(payout_id)
        .bind(me)
        .bind(asset.id())
        .bind(amount)
        .bind(cash)
        .fetch_one(&mut *tx)
        .await?;
        ledger::post(&mut tx, &posting, || {
            format!("not enough {} available", asset.unit())
        })
        .await?;
        events::emit(
            &mut tx,
            &me.to_string(),
            ev::wallet_event::Payload::PayoutRequested(ev::PayoutRequested {
                payout_id: payout_id.to_string(),
                transaction_id: posting.transaction_id.to_string(),
                creator_id: me.to_string(),
                diamonds: if asset == Asset::Diamonds { amount } else { 0 },
                cents: if asset == Asset::Cents { amount } else { 0 },
                cash_value_cents: cash,
            }),
        )
        .await?;
        let response = pb::RequestPayoutResponse {
            payout: Some(row.to_proto()),
        };
        if !key.store(&mut tx, &response).await? {
            return Err(idempotency::key_used());
        }
        tx.commit().await?;
        ledger::count_committed(posting.kind);
        self.committed();
        Ok(response)
    }

    pub(crate) async fn list_payouts(
        &self,
        caller: &Caller,
        req: pb::ListPayoutsRequest,
    ) -> WalletResult<pb::ListPayoutsResponse> {
        let requested = parse_opt_id("creator_id", &req.creator_id)?;
        let creator = match requested {
            Some(id) if caller.is_admin() || caller.subject == id.to_string() => Some(id),
            Some(_) => {
                return Err(WalletError::App(loop_platform::AppError::PermissionDenied(
                    "only admins may list another creator's payouts".into(),
                )));
            }
            None if caller.is_admin() => None,
            None => Some(caller.user_id()?),
        };
        let status = match req.status {
            0 => None,
            s => Some(
                i16::try_from(
                    pb::PayoutStatus::try_from(s)
                        .map_err(|_| WalletError::invalid("status", "unknown payout status"))?
                        as i32,
                )
                .unwrap_or(0),
            ),
        };
        // The admin review queue (everyone's pending payouts) is oldest first.
        let ascending = creator.is_none() && status == Some(PENDING);
        let page = req.page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let cursor: Option<Uuid> = pagination::decode(&page.page_token)?;
        let order = if ascending { "ASC" } else { "DESC" };
        let cmp = if ascending { ">" } else { "<" };
        let rows = sqlx::query_as::<_, PayoutRow>(&format!(
            "{PAYOUT_SELECT} WHERE ($1::UUID IS NULL OR creator_id = $1) AND ($2::SMALLINT IS NULL OR status = $2) \
             AND ($3::UUID IS NULL OR payout_id {cmp} $3) ORDER BY payout_id {order} LIMIT $4"
        ))
        .bind(creator)
        .bind(status)
        .bind(cursor)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = pagination::finish(rows, limit, |r| r.payout_id);
        Ok(pb::ListPayoutsResponse {
            payouts: rows.iter().map(PayoutRow::to_proto).collect(),
            page: Some(PageResponse {
                next_page_token: next,
            }),
        })
    }

    pub(crate) async fn approve_payout(
        &self,
        caller: &Caller,
        req: pb::ApprovePayoutRequest,
    ) -> WalletResult<pb::ApprovePayoutResponse> {
        caller.require_admin()?;
        let admin = caller.user_id()?;
        let id = parse_id("payout_id", &req.payout_id)?;
        let key = Key::new(
            &caller.subject,
            "ApprovePayout",
            &req.idempotency_key,
            &pb::ApprovePayoutRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        idempotency::run(&self.pool, &key, || async {
            let row = self.decide(admin, id, APPROVED, "", &key).await?;
            Ok(pb::ApprovePayoutResponse { payout: Some(row) })
        })
        .await
    }

    pub(crate) async fn reject_payout(
        &self,
        caller: &Caller,
        req: pb::RejectPayoutRequest,
    ) -> WalletResult<pb::RejectPayoutResponse> {
        caller.require_admin()?;
        let admin = caller.user_id()?;
        let id = parse_id("payout_id", &req.payout_id)?;
        let reason = req.reason.trim().to_owned();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(WalletError::invalid("reason", "must be 1..500 characters"));
        }
        let key = Key::new(
            &caller.subject,
            "RejectPayout",
            &req.idempotency_key,
            &pb::RejectPayoutRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        idempotency::run(&self.pool, &key, || async {
            let row = self.decide(admin, id, REJECTED, &reason, &key).await?;
            Ok(pb::RejectPayoutResponse { payout: Some(row) })
        })
        .await
    }

    /// PENDING -> `status`, moving the held amount out (approve) or back (reject).
    async fn decide(
        &self,
        admin: Uuid,
        id: Uuid,
        status: i16,
        reason: &str,
        key: &Key,
    ) -> WalletResult<pb::Payout> {
        let mut tx = self.pool.begin().await?;
        let payout = payout_for_update(&mut tx, id).await?;
        if payout.status != PENDING {
            return Err(WalletError::rule(
                Rule::PayoutNotPending,
                "the payout was already decided",
            ));
        }
        let asset = payout.asset();
        let hold = Account::hold(payout.creator_id, Hold::Payout, &id.to_string());
        let shard = pick_shard(self.config.ledger.shards);
        let approve = status == APPROVED;
        let kind = if approve {
            pb::TransactionKind::PayoutApproval
        } else {
            pb::TransactionKind::PayoutRejection
        };
        let mut posting = Posting::new(kind, id.to_string()).leg(hold, asset, -payout.amount);
        posting = match (approve, asset) {
            (true, Asset::Diamonds) => posting
                .leg(
                    Account::system(SystemAccount::DiamondIssuance, shard),
                    Asset::Diamonds,
                    payout.amount,
                )
                .leg(
                    Account::system(SystemAccount::Revenue, shard),
                    Asset::Cents,
                    -payout.cash_value_cents,
                )
                .leg(
                    Account::system(SystemAccount::Payouts, shard),
                    Asset::Cents,
                    payout.cash_value_cents,
                ),
            (true, _) => posting.leg(
                Account::system(SystemAccount::Payouts, shard),
                asset,
                payout.amount,
            ),
            (false, Asset::Diamonds) => posting.leg(
                Account::user_shard(payout.creator_id, shard),
                asset,
                payout.amount,
            ),
            (false, _) => posting.leg(Account::user(payout.creator_id), asset, payout.amount),
        };
        ledger::post(&mut tx, &posting, || "the payout hold is short".into()).await?;
        let row = sqlx::query_as::<_, PayoutRow>(
            "UPDATE payouts SET status = $2, reject_reason = $3, decided_by = $4, decided_at = now() WHERE payout_id = $1 \
             RETURNING payout_id, creator_id, asset, amount, cash_value_cents, status, reject_reason, decided_by, created_at, decided_at",
        )
        .bind(id)
        .bind(status)
        .bind(reason)
        .bind(admin)
        .fetch_one(&mut *tx)
        .await?;
        let (diamonds, cents) = if asset == Asset::Diamonds {
            (payout.amount, 0)
        } else {
            (0, payout.amount)
        };
        let payload = if approve {
            ev::wallet_event::Payload::PayoutApproved(ev::PayoutApproved {
                payout_id: id.to_string(),
                transaction_id: posting.transaction_id.to_string(),
                creator_id: payout.creator_id.to_string(),
                diamonds,
                cents,
                cash_value_cents: payout.cash_value_cents,
                approved_by: admin.to_string(),
            })
        } else {
            ev::wallet_event::Payload::PayoutRejected(ev::PayoutRejected {
                payout_id: id.to_string(),
                transaction_id: posting.transaction_id.to_string(),
                creator_id: payout.creator_id.to_string(),
                diamonds,
                cents,
                reason: reason.to_owned(),
                rejected_by: admin.to_string(),
            })
        };
        events::emit(&mut tx, &payout.creator_id.to_string(), payload).await?;
        let proto = row.to_proto();
        let stored = if approve {
            key.store(
                &mut tx,
                &pb::ApprovePayoutResponse {
                    payout: Some(proto.clone()),
                },
            )
            .await?
        } else {
            key.store(
                &mut tx,
                &pb::RejectPayoutResponse {
                    payout: Some(proto.clone()),
                },
            )
            .await?
        };
        if !stored {
            return Err(idempotency::key_used());
        }
        tx.commit().await?;
        ledger::count_committed(posting.kind);
        self.committed();
        Ok(proto)
    }
}
