//! Marketplace escrow (internal: creator-marketplace's service token).
//!
//! Hold: CENTS `user:<payer>` -> `user:<payer>:escrow:<id>`. Release: the
//! hold -> `user:<payee>` (amount - fee) and `system:revenue` (fee). Refund:
//! the hold -> `user:<payer>`.

use chrono::{DateTime, Utc};
use loop_platform::auth::{Caller, Role};
use loop_platform::ids::parse_id;
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
struct EscrowRow {
    escrow_id: Uuid,
    payer_id: Uuid,
    payee_id: Uuid,
    amount_cents: i64,
    reference: String,
    status: i16,
    platform_fee_bps: i32,
    platform_fee_cents: i64,
    payee_cents: i64,
    created_at: DateTime<Utc>,
    settled_at: Option<DateTime<Utc>>,
}

const ESCROW_COLUMNS: &str = "escrow_id, payer_id, payee_id, amount_cents, reference, status, platform_fee_bps, platform_fee_cents, payee_cents, created_at, settled_at";

const HELD: i16 = pb::EscrowStatus::Held as i16;
const RELEASED: i16 = pb::EscrowStatus::Released as i16;
const REFUNDED: i16 = pb::EscrowStatus::Refunded as i16;

impl EscrowRow {
    fn to_proto(&self) -> pb::Escrow {
        pb::Escrow {
            escrow_id: self.escrow_id.to_string(),
            payer_id: self.payer_id.to_string(),
            payee_id: self.payee_id.to_string(),
            amount_cents: self.amount_cents,
            reference: self.reference.clone(),
            status: i32::from(self.status),
            platform_fee_bps: u32::try_from(self.platform_fee_bps).unwrap_or(0),
            platform_fee_cents: self.platform_fee_cents,
            payee_cents: self.payee_cents,
            created_at: Some(loop_platform::time::to_timestamp(self.created_at)),
            settled_at: loop_platform::time::opt_timestamp(self.settled_at),
        }
    }
}

async fn escrow_for_update(tx: &mut PgConnection, id: Uuid) -> WalletResult<EscrowRow> {
    sqlx::query_as::<_, EscrowRow>(&format!(
        "SELECT {ESCROW_COLUMNS} FROM escrows WHERE escrow_id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| WalletError::not_found("escrow not found (escrow_id)"))
}

impl WalletService {
    pub(crate) async fn hold_escrow(
        &self,
        caller: &Caller,
        req: pb::HoldEscrowRequest,
    ) -> WalletResult<pb::HoldEscrowResponse> {
        Self::require_internal(caller, &self.config.internal.escrow_callers)?;
        let payer = parse_id("payer_id", &req.payer_id)?;
        let payee = parse_id("payee_id", &req.payee_id)?;
        if payer == payee {
            return Err(WalletError::invalid(
                "payee_id",
                "must differ from payer_id",
            ));
        }
        if req.amount_cents <= 0 {
            return Err(WalletError::invalid(
                "amount_cents",
                "must be greater than 0",
            ));
        }
        let reference = req.reference.trim().to_owned();
        if reference.is_empty() || reference.chars().count() > 200 {
            return Err(WalletError::invalid(
                "reference",
                "must be 1..200 characters",
            ));
        }
        let key = Key::new(
            &caller.subject,
            "HoldEscrow",
            &req.idempotency_key,
            &pb::HoldEscrowRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        idempotency::run(&self.pool, &key, || async {
            let escrow_id = loop_platform::ids::new_id();
            let posting = Posting::new(pb::TransactionKind::EscrowHold, escrow_id.to_string())
                .leg(Account::user(payer), Asset::Cents, -req.amount_cents)
                .leg(
                    Account::hold(payer, Hold::Escrow, &escrow_id.to_string()),
                    Asset::Cents,
                    req.amount_cents,
                );
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query_as::<_, EscrowRow>(&format!(
                "INSERT INTO escrows (escrow_id, payer_id, payee_id, amount_cents, reference) VALUES ($1, $2, $3, $4, $5) RETURNING {ESCROW_COLUMNS}"
            ))
            .bind(escrow_id)
            .bind(payer)
            .bind(payee)
            .bind(req.amount_cents)
            .bind(&reference)
            .fetch_one(&mut *tx)
            .await?;
            ledger::post(&mut tx, &posting, || {
                format!("the payer has fewer than {} cents available", req.amount_cents)
            })
            .await?;
            events::emit(
                &mut tx,
                &payer.to_string(),
                ev::wallet_event::Payload::EscrowHeld(ev::EscrowHeld {
                    escrow_id: escrow_id.to_string(),
                    transaction_id: posting.transaction_id.to_string(),
                    payer_id: payer.to_string(),
                    payee_id: payee.to_string(),
                    amount_cents: req.amount_cents,
                    reference: reference.clone(),
                }),
            )
            .await?;
            let response = pb::HoldEscrowResponse {
                escrow: Some(row.to_proto()),
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

    pub(crate) async fn release_escrow(
        &self,
        caller: &Caller,
        req: pb::ReleaseEscrowRequest,
    ) -> WalletResult<pb::ReleaseEscrowResponse> {
        Self::require_internal(caller, &self.config.internal.escrow_callers)?;
        let id = parse_id("escrow_id", &req.escrow_id)?;
        if req.platform_fee_bps > 10_000 {
            return Err(WalletError::invalid("platform_fee_bps", "must be 0..10000"));
        }
        let key = Key::new(
            &caller.subject,
            "ReleaseEscrow",
            &req.idempotency_key,
            &pb::ReleaseEscrowRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        idempotency::run(&self.pool, &key, || async {
            let escrow = self.settle(id, Some(req.platform_fee_bps), &key).await?;
            Ok(pb::ReleaseEscrowResponse {
                escrow: Some(escrow),
            })
        })
        .await
    }

    pub(crate) async fn refund_escrow(
        &self,
        caller: &Caller,
        req: pb::RefundEscrowRequest,
    ) -> WalletResult<pb::RefundEscrowResponse> {
        Self::require_internal(caller, &self.config.internal.escrow_callers)?;
        let id = parse_id("escrow_id", &req.escrow_id)?;
        let key = Key::new(
            &caller.subject,
            "RefundEscrow",
            &req.idempotency_key,
            &pb::RefundEscrowRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        idempotency::run(&self.pool, &key, || async {
            let escrow = self.settle(id, None, &key).await?;
            Ok(pb::RefundEscrowResponse {
                escrow: Some(escrow),
            })
        })
        .await
    }

    /// HELD -> RELEASED (with a fee) or REFUNDED (without).
    async fn settle(
        &self,
        id: Uuid,
        release_fee_bps: Option<u32>,
        key: &Key,
    ) -> WalletResult<pb::Escrow> {
        let mut tx = self.pool.begin().await?;
        let escrow = escrow_for_update(&mut tx, id).await?;
        if escrow.status != HELD {
            return Err(WalletError::rule(
                Rule::EscrowNotHeld,
                "the escrow was already released or refunded",
            ));
        }
        let hold = Account::hold(escrow.payer_id, Hold::Escrow, &id.to_string());
        let amount = escrow.amount_cents;
        let (posting, status, bps, fee, payee_cents) = match release_fee_bps {
            Some(bps) => {
                let fee = i64::try_from(i128::from(amount) * i128::from(bps) / 10_000).unwrap_or(0);
                let shard = pick_shard(self.config.ledger.shards);
                let posting = Posting::new(pb::TransactionKind::EscrowRelease, id.to_string())
                    .leg(hold, Asset::Cents, -amount)
                    .leg(Account::user(escrow.payee_id), Asset::Cents, amount - fee)
                    .leg(
                        Account::system(SystemAccount::Revenue, shard),
                        Asset::Cents,
                        fee,
                    );
                (posting, RELEASED, bps, fee, amount - fee)
            }
            None => {
                let posting = Posting::new(pb::TransactionKind::EscrowRefund, id.to_string())
                    .leg(hold, Asset::Cents, -amount)
                    .leg(Account::user(escrow.payer_id), Asset::Cents, amount);
                (posting, REFUNDED, 0, 0, 0)
            }
        };
        ledger::post(&mut tx, &posting, || "the escrow hold is short".into()).await?;
        let row = sqlx::query_as::<_, EscrowRow>(&format!(
            "UPDATE escrows SET status = $2, platform_fee_bps = $3, platform_fee_cents = $4, payee_cents = $5, settled_at = now() \
             WHERE escrow_id = $1 RETURNING {ESCROW_COLUMNS}"
        ))
        .bind(id)
        .bind(status)
        .bind(i32::try_from(bps).unwrap_or(0))
        .bind(fee)
        .bind(payee_cents)
        .fetch_one(&mut *tx)
        .await?;
        let payload = if status == RELEASED {
            ev::wallet_event::Payload::EscrowReleased(ev::EscrowReleased {
                escrow_id: id.to_string(),
                transaction_id: posting.transaction_id.to_string(),
                payer_id: escrow.payer_id.to_string(),
                payee_id: escrow.payee_id.to_string(),
                amount_cents: amount,
                platform_fee_bps: bps,
                platform_fee_cents: fee,
                payee_cents,
                reference: escrow.reference.clone(),
            })
        } else {
            ev::wallet_event::Payload::EscrowRefunded(ev::EscrowRefunded {
                escrow_id: id.to_string(),
                transaction_id: posting.transaction_id.to_string(),
                payer_id: escrow.payer_id.to_string(),
                payee_id: escrow.payee_id.to_string(),
                amount_cents: amount,
                reference: escrow.reference.clone(),
            })
        };
        events::emit(&mut tx, &escrow.payer_id.to_string(), payload).await?;
        let proto = row.to_proto();
        let stored = if status == RELEASED {
            key.store(
                &mut tx,
                &pb::ReleaseEscrowResponse {
                    escrow: Some(proto.clone()),
                },
            )
            .await?
        } else {
            key.store(
                &mut tx,
                &pb::RefundEscrowResponse {
                    escrow: Some(proto.clone()),
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

    pub(crate) async fn get_escrow(
        &self,
        caller: &Caller,
        req: pb::GetEscrowRequest,
    ) -> WalletResult<pb::GetEscrowResponse> {
        let id = parse_id("escrow_id", &req.escrow_id)?;
        let row = sqlx::query_as::<_, EscrowRow>(&format!(
            "SELECT {ESCROW_COLUMNS} FROM escrows WHERE escrow_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let readable = |r: &EscrowRow| {
            caller.is_admin()
                || (caller.role == Role::Service
                    && self
                        .config
                        .internal
                        .escrow_callers
                        .contains(&caller.subject))
                || caller.subject == r.payer_id.to_string()
                || caller.subject == r.payee_id.to_string()
        };
        match row {
            Some(r) if readable(&r) => Ok(pb::GetEscrowResponse {
                escrow: Some(r.to_proto()),
            }),
            _ => Err(WalletError::not_found("escrow not found (escrow_id)")),
        }
    }
}
