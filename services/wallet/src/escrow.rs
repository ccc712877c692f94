//! Escrow (internal: the marketplace's and commerce's service tokens).
//!
//! Hold: CENTS `user:<payer>` -> `user:<payer>:escrow:<id>`, or for a card
//! payment (commerce orders) `system:payment_provider` -> the hold, with the
//! store receipt redeemed once. Release: what the hold still has ->
//! `user:<payee>` (the rest), `system:revenue` (the fee) and, with a split,
//! `user:<affiliate>` (a commission). Refund (whole or partial): the hold ->
//! `user:<payer>`, or back to `system:payment_provider` when paid by card.

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
use crate::purchases::{event_provider, redeem};
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
    funded_by: i16,
    refunded_cents: i64,
    affiliate_id: Option<Uuid>,
    affiliate_cents: i64,
}

const ESCROW_COLUMNS: &str = "escrow_id, payer_id, payee_id, amount_cents, reference, status, platform_fee_bps, platform_fee_cents, payee_cents, created_at, settled_at, funded_by, refunded_cents, affiliate_id, affiliate_cents";

/// How a release divides what the escrow holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Release {
    /// floor(held x bps / 10000) to the platform, the rest to the payee.
    Bps(u32),
    /// Amounts the caller computed.
    Split {
        fee: i64,
        affiliate: Option<(Uuid, i64)>,
    },
}

/// What one settlement does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Settle {
    /// Releases what is held minus `keep` cents, which stay held for a
    /// later release (commerce pays a commission on its own day).
    Release(Release, i64),
    /// None: everything still held.
    Refund(Option<i64>),
}

/// (fee, affiliate cents, payee cents) of releasing `held`.
fn divide(held: i64, release: &Release) -> (i64, i64, i64) {
    match release {
        Release::Bps(bps) => {
            let fee = i64::try_from(i128::from(held) * i128::from(*bps) / 10_000).unwrap_or(0);
            (fee, 0, held - fee)
        }
        Release::Split { fee, affiliate } => {
            // Saturating: fee and affiliate are the caller's numbers; a sum
            // past what is held comes out negative and is refused below.
            let aff = affiliate.map_or(0, |(_, c)| c);
            (*fee, aff, held.saturating_sub(fee.saturating_add(aff)))
        }
    }
}

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
            refunded_cents: self.refunded_cents,
            affiliate_id: self.affiliate_id.map(|a| a.to_string()).unwrap_or_default(),
            affiliate_cents: self.affiliate_cents,
            funded_by: i32::from(self.funded_by),
        }
    }

    /// What is still held: the amount minus refunds and what earlier
    /// (partial) releases paid out.
    fn held(&self) -> i64 {
        self.amount_cents
            - self.refunded_cents
            - self.platform_fee_cents
            - self.payee_cents
            - self.affiliate_cents
    }

    fn provider(&self) -> pb::PaymentProvider {
        pb::PaymentProvider::try_from(i32::from(self.funded_by))
            .unwrap_or(pb::PaymentProvider::Unspecified)
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
        idempotency::run(&self.pool, &key, || {
            self.hold_once(payer, payee, &req, &reference, &key)
        })
        .await
    }

    async fn hold_once(
        &self,
        payer: Uuid,
        payee: Uuid,
        req: &pb::HoldEscrowRequest,
        reference: &str,
        key: &Key,
    ) -> WalletResult<pb::HoldEscrowResponse> {
        let receipt = match &req.receipt {
            None => None,
            Some(receipt) => {
                let verified = self.providers.verify(Some(receipt)).await?;
                if verified.product_id != reference || verified.amount_cents != req.amount_cents {
                    return Err(WalletError::invalid(
                        "receipt.receipt_data",
                        format!(
                            "is for product {} at {} cents, not {reference} at {} cents",
                            verified.product_id, verified.amount_cents, req.amount_cents
                        ),
                    ));
                }
                Some(verified)
            }
        };
        let escrow_id = loop_platform::ids::new_id();
        let hold = Account::hold(payer, Hold::Escrow, &escrow_id.to_string());
        let source = match receipt {
            Some(_) => Account::system(
                SystemAccount::PaymentProvider,
                pick_shard(self.config.ledger.shards),
            ),
            None => Account::user(payer),
        };
        let posting = Posting::new(pb::TransactionKind::EscrowHold, escrow_id.to_string())
            .leg(source, Asset::Cents, -req.amount_cents)
            .leg(hold, Asset::Cents, req.amount_cents);
        let funded_by = receipt
            .as_ref()
            .map_or(pb::PaymentProvider::Unspecified, |r| r.provider);
        let mut tx = self.pool.begin().await?;
        if let Some(receipt) = &receipt {
            redeem(&mut tx, receipt, posting.transaction_id, payer).await?;
        }
        let row = sqlx::query_as::<_, EscrowRow>(&format!(
            "INSERT INTO escrows (escrow_id, payer_id, payee_id, amount_cents, reference, funded_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {ESCROW_COLUMNS}"
        ))
        .bind(escrow_id)
        .bind(payer)
        .bind(payee)
        .bind(req.amount_cents)
        .bind(reference)
        .bind(i16::try_from(funded_by as i32).unwrap_or(0))
        .fetch_one(&mut *tx)
        .await?;
        ledger::post(&mut tx, &posting, || {
            format!(
                "the payer has fewer than {} cents available",
                req.amount_cents
            )
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
                reference: reference.to_owned(),
                provider: event_provider(funded_by) as i32,
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
        if req.keep_cents < 0 {
            return Err(WalletError::invalid(
                "keep_cents",
                "must be 0 (release everything held) or more",
            ));
        }
        let release = match &req.split {
            None => Release::Bps(req.platform_fee_bps),
            Some(split) => {
                if req.platform_fee_bps != 0 {
                    return Err(WalletError::invalid(
                        "platform_fee_bps",
                        "must be 0 when split is set",
                    ));
                }
                if split.platform_fee_cents < 0 {
                    return Err(WalletError::invalid(
                        "split.platform_fee_cents",
                        "must be 0 or more",
                    ));
                }
                if split.affiliate_cents < 0 {
                    return Err(WalletError::invalid(
                        "split.affiliate_cents",
                        "must be 0 or more",
                    ));
                }
                let affiliate = if split.affiliate_cents > 0 {
                    Some((
                        parse_id("split.affiliate_id", &split.affiliate_id)?,
                        split.affiliate_cents,
                    ))
                } else if split.affiliate_id.is_empty() {
                    None
                } else {
                    return Err(WalletError::invalid(
                        "split.affiliate_cents",
                        "must be greater than 0 when split.affiliate_id is set",
                    ));
                };
                Release::Split {
                    fee: split.platform_fee_cents,
                    affiliate,
                }
            }
        };
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
            let escrow = self
                .settle(id, Settle::Release(release.clone(), req.keep_cents), &key)
                .await?;
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
        if req.amount_cents < 0 {
            return Err(WalletError::invalid(
                "amount_cents",
                "must be 0 (everything still held) or more",
            ));
        }
        let amount = (req.amount_cents > 0).then_some(req.amount_cents);
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
            let escrow = self.settle(id, Settle::Refund(amount), &key).await?;
            Ok(pb::RefundEscrowResponse {
                escrow: Some(escrow),
            })
        })
        .await
    }

    /// HELD -> RELEASED, or a refund (HELD -> REFUNDED once nothing is left).
    async fn settle(&self, id: Uuid, what: Settle, key: &Key) -> WalletResult<pb::Escrow> {
        let mut tx = self.pool.begin().await?;
        let escrow = escrow_for_update(&mut tx, id).await?;
        if escrow.status != HELD {
            return Err(WalletError::rule(
                Rule::EscrowNotHeld,
                "the escrow was already released or refunded",
            ));
        }
        let hold = Account::hold(escrow.payer_id, Hold::Escrow, &id.to_string());
        let held = escrow.held();
        let shard = pick_shard(self.config.ledger.shards);
        let (posting, row, payload) = match what {
            Settle::Release(release, keep) => {
                if keep > held {
                    return Err(WalletError::invalid(
                        "keep_cents",
                        format!("must be at most the {held} cents held"),
                    ));
                }
                let released = held - keep;
                let (fee, aff, payee_cents) = divide(released, &release);
                if payee_cents < 0 {
                    return Err(WalletError::invalid(
                        "split",
                        format!(
                            "platform_fee_cents + affiliate_cents ({}) exceed the {released} cents released",
                            i128::from(fee) + i128::from(aff)
                        ),
                    ));
                }
                let affiliate = match &release {
                    Release::Split {
                        affiliate: Some((a, _)),
                        ..
                    } => Some(*a),
                    _ => None,
                };
                if affiliate.is_some_and(|a| a == escrow.payer_id || a == escrow.payee_id) {
                    return Err(WalletError::invalid(
                        "split.affiliate_id",
                        "must differ from the payer and the payee",
                    ));
                }
                if affiliate.is_some() && escrow.affiliate_id.is_some_and(|a| Some(a) != affiliate)
                {
                    return Err(WalletError::invalid(
                        "split.affiliate_id",
                        "must be the affiliate an earlier release of this escrow paid",
                    ));
                }
                let mut posting = Posting::new(pb::TransactionKind::EscrowRelease, id.to_string())
                    .leg(hold, Asset::Cents, -released)
                    .leg(Account::user(escrow.payee_id), Asset::Cents, payee_cents)
                    .leg(
                        Account::system(SystemAccount::Revenue, shard),
                        Asset::Cents,
                        fee,
                    );
                if let Some(a) = affiliate {
                    posting = posting.leg(Account::user(a), Asset::Cents, aff);
                }
                let bps = match release {
                    Release::Bps(bps) => bps,
                    Release::Split { .. } => 0,
                };
                // A partial release (keep > 0) leaves the escrow HELD with
                // the rest; the parts add up over the releases.
                let status = if keep > 0 { HELD } else { RELEASED };
                let row = sqlx::query_as::<_, EscrowRow>(&format!(
                    "UPDATE escrows SET status = $2, platform_fee_bps = $3, platform_fee_cents = platform_fee_cents + $4, \
                     payee_cents = payee_cents + $5, affiliate_id = COALESCE($6, affiliate_id), \
                     affiliate_cents = affiliate_cents + $7, settled_at = CASE WHEN $2 = {RELEASED} THEN now() END \
                     WHERE escrow_id = $1 RETURNING {ESCROW_COLUMNS}"
                ))
                .bind(id)
                .bind(status)
                .bind(i32::try_from(bps).unwrap_or(0))
                .bind(fee)
                .bind(payee_cents)
                .bind(affiliate)
                .bind(aff)
                .fetch_one(&mut *tx)
                .await?;
                let payload = ev::wallet_event::Payload::EscrowReleased(ev::EscrowReleased {
                    escrow_id: id.to_string(),
                    transaction_id: posting.transaction_id.to_string(),
                    payer_id: escrow.payer_id.to_string(),
                    payee_id: escrow.payee_id.to_string(),
                    amount_cents: released,
                    platform_fee_bps: bps,
                    platform_fee_cents: fee,
                    payee_cents,
                    reference: escrow.reference.clone(),
                    affiliate_id: affiliate.map(|a| a.to_string()).unwrap_or_default(),
                    affiliate_cents: aff,
                    remaining_cents: keep,
                });
                (posting, row, payload)
            }
            Settle::Refund(amount) => {
                let amount = amount.unwrap_or(held);
                if amount > held {
                    return Err(WalletError::invalid(
                        "amount_cents",
                        format!("must be at most the {held} cents still held"),
                    ));
                }
                let provider = escrow.provider();
                let destination = if provider == pb::PaymentProvider::Unspecified {
                    Account::user(escrow.payer_id)
                } else {
                    Account::system(SystemAccount::PaymentProvider, shard)
                };
                let posting = Posting::new(pb::TransactionKind::EscrowRefund, id.to_string())
                    .leg(hold, Asset::Cents, -amount)
                    .leg(destination, Asset::Cents, amount);
                // Nothing left: REFUNDED, or RELEASED when an earlier partial
                // release paid out part of it.
                let released_before =
                    escrow.platform_fee_cents + escrow.payee_cents + escrow.affiliate_cents;
                let status = match (amount == held, released_before > 0) {
                    (false, _) => HELD,
                    (true, false) => REFUNDED,
                    (true, true) => RELEASED,
                };
                let row = sqlx::query_as::<_, EscrowRow>(&format!(
                    "UPDATE escrows SET status = $2, refunded_cents = refunded_cents + $3, \
                     settled_at = CASE WHEN $2 <> {HELD} THEN now() END \
                     WHERE escrow_id = $1 RETURNING {ESCROW_COLUMNS}"
                ))
                .bind(id)
                .bind(status)
                .bind(amount)
                .fetch_one(&mut *tx)
                .await?;
                let payload = ev::wallet_event::Payload::EscrowRefunded(ev::EscrowRefunded {
                    escrow_id: id.to_string(),
                    transaction_id: posting.transaction_id.to_string(),
                    payer_id: escrow.payer_id.to_string(),
                    payee_id: escrow.payee_id.to_string(),
                    amount_cents: amount,
                    reference: escrow.reference.clone(),
                    remaining_cents: held - amount,
                    provider: event_provider(provider) as i32,
                });
                (posting, row, payload)
            }
        };
        ledger::post(&mut tx, &posting, || "the escrow hold is short".into()).await?;
        events::emit(&mut tx, &escrow.payer_id.to_string(), payload).await?;
        let proto = row.to_proto();
        let stored = if posting.kind == pb::TransactionKind::EscrowRelease {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_divides_what_is_held_and_the_payee_gets_the_rest() {
        // floor(999 x 15%) = 149 (149.85 rounded down), payee 850.
        assert_eq!(divide(999, &Release::Bps(1500)), (149, 0, 850));
        assert_eq!(divide(999, &Release::Bps(0)), (0, 0, 999));
        assert_eq!(divide(999, &Release::Bps(10_000)), (999, 0, 0));
        let a = Uuid::nil();
        assert_eq!(
            divide(
                1000,
                &Release::Split {
                    fee: 60,
                    affiliate: Some((a, 100))
                }
            ),
            (60, 100, 840)
        );
        // More than held: a negative payee share, which settle refuses.
        assert!(
            divide(
                10,
                &Release::Split {
                    fee: 6,
                    affiliate: Some((a, 5))
                }
            )
            .2 < 0
        );
        // The caller's numbers near i64::MAX neither overflow nor wrap to a
        // payable share.
        assert!(
            divide(
                10,
                &Release::Split {
                    fee: i64::MAX,
                    affiliate: Some((a, i64::MAX))
                }
            )
            .2 < 0
        );
    }
}
