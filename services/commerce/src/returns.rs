//! Returns: the buyer of a DELIVERED order asks for a return and refund
//! within the refund window (an amount, or everything not yet refunded, and
//! why); the seller or an admin approves it (the amount is refunded through
//! the normal refund path, even after the window, since it was asked in
//! time) or rejects it with a note; one nobody answers within
//! `orders.return_answer_hours` is approved by the sweeper. One request is
//! open per order at a time, and the seller's settlement waits while one is
//! open (the seller is not paid what the buyer may get back). Every change
//! locks the order row, so answers, the sweeper and the settlement never
//! race.

use chrono::{DateTime, Utc};
use loop_platform::auth::Caller;
use loop_platform::ids::parse_id;
use loop_proto::commerce::v1 as pb;
use loop_proto::events::v1 as ev;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{CommerceError, CommerceResult, Reason};
use crate::events;
use crate::machine::{Actor, Refusal, Status};
use crate::orders::{Begun, Key, OrderRow, count, order_for_update, refusal};
use crate::service::CommerceService;

pub(crate) const REQUESTED: i16 = 1;
const APPROVED: i16 = 2;
const REJECTED: i16 = 3;

/// At most this many characters in a reason or a note.
const MAX_TEXT: usize = 500;

#[derive(sqlx::FromRow)]
struct ReturnRow {
    request_id: Uuid,
    order_id: Uuid,
    amount_cents: i64,
    reason: String,
    status: i16,
    created_at: DateTime<Utc>,
    answer_due: DateTime<Utc>,
    answered_at: Option<DateTime<Utc>>,
    answered_by: String,
    note: String,
}

const RETURN_COLUMNS: &str = "request_id, order_id, amount_cents, reason, status, created_at, answer_due, answered_at, answered_by, note";

impl ReturnRow {
    fn to_proto(&self) -> pb::ReturnRequest {
        let status = match self.status {
            REQUESTED => pb::ReturnStatus::Requested,
            APPROVED => pb::ReturnStatus::Approved,
            REJECTED => pb::ReturnStatus::Rejected,
            _ => pb::ReturnStatus::Unspecified,
        };
        pb::ReturnRequest {
            request_id: self.request_id.to_string(),
            amount_cents: self.amount_cents,
            reason: self.reason.clone(),
            status: status as i32,
            created_at: Some(loop_platform::time::to_timestamp(self.created_at)),
            answer_due: Some(loop_platform::time::to_timestamp(self.answer_due)),
            answered_at: self.answered_at.map(loop_platform::time::to_timestamp),
            answered_by: self.answered_by.clone(),
            note: self.note.clone(),
        }
    }
}

fn who(actor: Actor) -> &'static str {
    match actor {
        Actor::Seller => "seller",
        Actor::Admin => "admin",
        Actor::Buyer => "buyer",
        Actor::System => "system",
    }
}

/// A reason or a note: trimmed, at most [`MAX_TEXT`] characters (and not
/// blank when `required`).
pub(crate) fn text(field: &str, value: &str, required: bool) -> CommerceResult<String> {
    let value = value.trim();
    let n = value.chars().count();
    if (required && n == 0) || n > MAX_TEXT {
        return Err(CommerceError::invalid(
            field,
            format!(
                "must be {}..{MAX_TEXT} characters",
                if required { 1 } else { 0 }
            ),
        ));
    }
    Ok(value.to_owned())
}

async fn open_request(conn: &mut PgConnection, order: Uuid) -> CommerceResult<Option<ReturnRow>> {
    Ok(sqlx::query_as::<_, ReturnRow>(&format!(
        "SELECT {RETURN_COLUMNS} FROM return_requests WHERE order_id = $1 AND status = $2"
    ))
    .bind(order)
    .bind(REQUESTED)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Whether the order has an open return request (its settlement waits).
pub(crate) async fn pending(conn: &mut PgConnection, order: Uuid) -> CommerceResult<bool> {
    Ok(open_request(conn, order).await?.is_some())
}

/// The order's latest return request, for its proto.
pub(crate) async fn latest(
    pool: &sqlx::PgPool,
    order: Uuid,
) -> CommerceResult<Option<pb::ReturnRequest>> {
    let row = sqlx::query_as::<_, ReturnRow>(&format!(
        "SELECT {RETURN_COLUMNS} FROM return_requests WHERE order_id = $1 ORDER BY created_at DESC, request_id DESC LIMIT 1"
    ))
    .bind(order)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(ReturnRow::to_proto))
}

pub(crate) fn return_pending() -> CommerceError {
    CommerceError::rule(
        Reason::ReturnPending,
        "order_id: the buyer's return request is open; answer it (approve or reject) first",
    )
}

impl CommerceService {
    pub(crate) async fn request_return(
        &self,
        caller: &Caller,
        req: pb::RequestReturnRequest,
    ) -> CommerceResult<pb::RequestReturnResponse> {
        let id = parse_id("order_id", &req.order_id)?;
        let reason = text("reason", &req.reason, true)?;
        crate::orders::refund_amount(req.amount_cents)?;
        let key = Key::new(
            caller,
            "RequestReturn",
            &req.idempotency_key,
            &pb::RequestReturnRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        let (mut tx, order, actor) = match self.begin_keyed(id, caller, &key).await? {
            Begun::Fresh(tx, order, actor) => (tx, order, actor),
            Begun::Repeat(order) => {
                return Ok(pb::RequestReturnResponse { order: Some(order) });
            }
        };
        if actor != Actor::Buyer {
            return Err(CommerceError::denied(
                "only the buyer asks for a return (the seller refunds directly)",
            ));
        }
        let now = self.clock.now();
        let t = self.times(&order, now);
        let status = crate::machine::effective(order.status(), &t);
        if !matches!(status, Status::Delivered | Status::Completed) {
            return Err(refusal(Refusal::Transition(format!(
                "the buyer cannot ask for a return of an order that is {} (only once delivered)",
                status.name()
            ))));
        }
        // A completed order was settled after its window closed.
        let in_window = matches!(t.refund_until, Some(until) if now < until);
        if !in_window || order.settle_due || status == Status::Completed {
            return Err(refusal(Refusal::RefundWindowClosed));
        }
        if pending(&mut tx, id).await? {
            return Err(CommerceError::rule(
                Reason::ReturnPending,
                "order_id: a return request of this order is open already",
            ));
        }
        let refundable = order.total_cents - order.refunded_cents;
        let amount = if req.amount_cents == 0 {
            refundable
        } else {
            req.amount_cents
        };
        if amount > refundable || amount <= 0 {
            return Err(CommerceError::rule(
                Reason::RefundTooLarge,
                format!("amount_cents: at most the {refundable} cents not yet refunded"),
            ));
        }
        let request = loop_platform::ids::new_id();
        let answer_due = now + chrono::Duration::hours(self.config.orders.return_answer_hours);
        sqlx::query(
            "INSERT INTO return_requests (request_id, order_id, amount_cents, reason, created_at, answer_due) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(request)
        .bind(id)
        .bind(amount)
        .bind(&reason)
        .bind(now)
        .bind(answer_due)
        .execute(&mut *tx)
        .await?;
        events::emit(
            &mut tx,
            &id.to_string(),
            now,
            ev::commerce_event::Payload::ReturnRequested(ev::ReturnRequested {
                order_id: id.to_string(),
                request_id: request.to_string(),
                amount_cents: amount,
                answer_due: Some(loop_platform::time::to_timestamp(answer_due)),
            }),
        )
        .await?;
        key.remember(&mut tx, id).await?;
        tx.commit().await?;
        Ok(pb::RequestReturnResponse {
            order: Some(self.order(id).await?),
        })
    }

    pub(crate) async fn answer_return(
        &self,
        caller: &Caller,
        req: pb::AnswerReturnRequest,
    ) -> CommerceResult<pb::AnswerReturnResponse> {
        let id = parse_id("order_id", &req.order_id)?;
        let note = text("note", &req.note, !req.approve)?;
        let key = Key::new(
            caller,
            "AnswerReturn",
            &req.idempotency_key,
            &pb::AnswerReturnRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        let (mut tx, order, actor) = match self.begin_keyed(id, caller, &key).await? {
            Begun::Fresh(tx, order, actor) => (tx, order, actor),
            Begun::Repeat(order) => {
                return Ok(pb::AnswerReturnResponse { order: Some(order) });
            }
        };
        if !matches!(actor, Actor::Seller | Actor::Admin) {
            return Err(CommerceError::denied(
                "only the seller (or an admin) answers a return request",
            ));
        }
        let Some(open) = open_request(&mut tx, id).await? else {
            return Err(CommerceError::rule(
                Reason::NoReturnPending,
                "order_id: the order has no open return request",
            ));
        };
        let refund = self
            .answer(&mut tx, &order, &open, actor, req.approve, &note)
            .await?;
        key.remember(&mut tx, id).await?;
        tx.commit().await?;
        if let Some((refund, to)) = refund {
            count(to);
            self.send_refund(refund).await;
        }
        Ok(pb::AnswerReturnResponse {
            order: Some(self.order(id).await?),
        })
    }

    /// Stores the answer to the open request (and, approved, records its
    /// refund): the refund to send after the commit and the state reached.
    async fn answer(
        &self,
        tx: &mut PgConnection,
        order: &OrderRow,
        open: &ReturnRow,
        actor: Actor,
        approve: bool,
        note: &str,
    ) -> CommerceResult<Option<(Uuid, Status)>> {
        let now = self.clock.now();
        let refund = if approve {
            Some(
                self.record_refund(
                    tx,
                    order,
                    actor,
                    open.amount_cents,
                    &format!("return: {}", open.reason),
                    format!("return/{}", open.request_id),
                    open.created_at,
                )
                .await?,
            )
        } else {
            None
        };
        sqlx::query(
            "UPDATE return_requests SET status = $2, answered_at = $3, answered_by = $4, note = $5, refund_id = $6 \
             WHERE request_id = $1",
        )
        .bind(open.request_id)
        .bind(if approve { APPROVED } else { REJECTED })
        .bind(now)
        .bind(who(actor))
        .bind(note)
        .bind(refund.map(|(r, _)| r))
        .execute(&mut *tx)
        .await?;
        events::emit(
            tx,
            &open.order_id.to_string(),
            now,
            ev::commerce_event::Payload::ReturnAnswered(ev::ReturnAnswered {
                order_id: open.order_id.to_string(),
                request_id: open.request_id.to_string(),
                approved: approve,
                answered_by: who(actor).to_owned(),
            }),
        )
        .await?;
        Ok(refund)
    }

    /// The sweeper: approves `order`'s open request if nobody answered it
    /// by its `answer_due`.
    pub(crate) async fn approve_unanswered_return(&self, order_id: Uuid) -> CommerceResult<()> {
        let mut tx = self.pool.begin().await?;
        let order = order_for_update(&mut tx, order_id).await?;
        let Some(open) = open_request(&mut tx, order_id).await? else {
            return Ok(());
        };
        if open.answer_due > self.clock.now() {
            return Ok(());
        }
        let refund = self
            .answer(
                &mut tx,
                &order,
                &open,
                Actor::System,
                true,
                "approved: the seller did not answer in time",
            )
            .await?;
        tx.commit().await?;
        if let Some((refund, to)) = refund {
            count(to);
            self.send_refund(refund).await;
        }
        Ok(())
    }
}
