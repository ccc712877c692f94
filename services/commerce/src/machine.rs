//! The order lifecycle as pure functions: which step each actor may take
//! in which state at which time, and how a settlement divides the money.
//! The service only loads, locks and stores (docs/commerce.md draws it):
//!
//! ```text
//! UNPAID --pay--> PAYING --wallet ok--> ON_HOLD --hold ends--> AWAITING_SHIPMENT --ship--> SHIPPED
//!   |  ^            |                      |                        |                        |
//!   |  +--refused---+                      |                        |                     deliver
//!   |                                      |                        |                        v
//!   +--cancel / unpaid timeout--> CANCELLED <--cancel (buyer in hold; seller, admin)--+   DELIVERED --settle (N days)--> COMPLETED
//!                                          <--not shipped in time / seller cancel-----+      |
//!                                                                                     full refund --> REFUNDED
//! ```

use chrono::{DateTime, Utc};
use loop_proto::commerce::v1 as pb;

/// Order states; the numbers are `loop.commerce.v1.OrderStatus` and the column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Unpaid = 1,
    Paying = 2,
    OnHold = 3,
    AwaitingShipment = 4,
    Shipped = 5,
    Delivered = 6,
    Completed = 7,
    Cancelled = 8,
    Refunded = 9,
}

impl Status {
    pub fn id(self) -> i16 {
        self as i16
    }

    pub fn from_id(id: i16) -> Option<Self> {
        use Status::*;
        [
            Unpaid,
            Paying,
            OnHold,
            AwaitingShipment,
            Shipped,
            Delivered,
            Completed,
            Cancelled,
            Refunded,
        ]
        .into_iter()
        .find(|s| s.id() == id)
    }

    pub fn to_proto(self) -> pb::OrderStatus {
        pb::OrderStatus::try_from(i32::from(self.id())).unwrap_or(pb::OrderStatus::Unspecified)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Unpaid => "UNPAID",
            Self::Paying => "PAYING",
            Self::OnHold => "ON_HOLD",
            Self::AwaitingShipment => "AWAITING_SHIPMENT",
            Self::Shipped => "SHIPPED",
            Self::Delivered => "DELIVERED",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
            Self::Refunded => "REFUNDED",
        }
    }
}

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Buyer,
    Seller,
    Admin,
    /// The sweeper (timeouts, settlement) or the service finishing a wallet step.
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Pay,
    PaymentConfirmed,
    PaymentRefused,
    Cancel,
    Ship,
    Deliver,
    /// A refund after delivery; `full` when it returns everything left.
    Refund {
        full: bool,
    },
    Settle,
}

/// The times a decision depends on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Times {
    pub now: Option<DateTime<Utc>>,
    pub hold_until: Option<DateTime<Utc>>,
    pub refund_until: Option<DateTime<Utc>>,
    pub settle_at: Option<DateTime<Utc>>,
}

/// Why a step is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The actor never takes this step, whatever the state
    /// (PERMISSION_DENIED with this message).
    NotYourStep(String),
    /// INVALID_TRANSITION with this message.
    Transition(String),
    /// REFUND_WINDOW_CLOSED.
    RefundWindowClosed,
}

/// ON_HOLD once the hold has passed is AWAITING_SHIPMENT (the sweeper
/// stores it, but no rule waits for the sweeper).
pub fn effective(status: Status, t: &Times) -> Status {
    match (status, t.now, t.hold_until) {
        (Status::OnHold, Some(now), Some(until)) if now >= until => Status::AwaitingShipment,
        _ => status,
    }
}

/// Whether `actor` ever takes `step` (in some state). A party asking for a
/// step that is never theirs is refused as such (PERMISSION_DENIED), before
/// the state is looked at (INVALID_TRANSITION).
pub fn takes(step: Step, actor: Actor) -> bool {
    use Actor::*;
    match step {
        Step::Pay => actor == Buyer,
        Step::PaymentConfirmed | Step::PaymentRefused | Step::Settle => actor == System,
        Step::Cancel => true,
        Step::Ship => matches!(actor, Seller | Admin),
        // The system: a return request nobody answered in time.
        Step::Refund { .. } => matches!(actor, Seller | Admin | System),
        // The system: the carrier window passed without a confirmation.
        Step::Deliver => matches!(actor, Buyer | Admin | System),
    }
}

fn who(actor: Actor) -> &'static str {
    match actor {
        Actor::Buyer => "the buyer",
        Actor::Seller => "the seller",
        Actor::Admin => "an admin",
        Actor::System => "the system",
    }
}

/// The state `step` by `actor` leads to from `status`, or why it may not.
pub fn next(status: Status, step: Step, actor: Actor, t: &Times) -> Result<Status, Refusal> {
    use Actor::*;
    use Status::*;
    if !takes(step, actor) {
        let whose = match step {
            Step::Pay => "only the buyer pays an order",
            Step::Ship => "only the seller (or an admin) ships an order",
            Step::Deliver => {
                "only the buyer (or an admin, for the carrier) confirms delivery; the service does after the carrier window"
            }
            Step::Refund { .. } => "only the seller (or an admin) refunds an order",
            _ => "only the service takes this step",
        };
        return Err(Refusal::NotYourStep(format!(
            "{} cannot {} an order: {whose}",
            who(actor),
            step_name(step)
        )));
    }
    let current = effective(status, t);
    let to = match (current, step, actor) {
        (Unpaid, Step::Pay, Buyer) => Some(Paying),
        (Paying, Step::PaymentConfirmed, System) => Some(OnHold),
        (Paying, Step::PaymentRefused, System) => Some(Unpaid),
        (Unpaid, Step::Cancel, Buyer | Seller | Admin | System) => Some(Cancelled),
        (OnHold, Step::Cancel, Buyer | Seller | Admin) => Some(Cancelled),
        (AwaitingShipment, Step::Cancel, Seller | Admin | System) => Some(Cancelled),
        (AwaitingShipment, Step::Ship, Seller | Admin) => Some(Shipped),
        (Shipped, Step::Deliver, Buyer | Admin | System) => Some(Delivered),
        (Delivered, Step::Refund { full }, Seller | Admin | System) => {
            let open = matches!((t.now, t.refund_until), (Some(now), Some(until)) if now < until);
            if !open {
                return Err(Refusal::RefundWindowClosed);
            }
            Some(if full { Refunded } else { Delivered })
        }
        // The seller was paid: the window closed before (refund_window_days
        // <= settle_after_days), whether or not a commission is still held.
        (Completed, Step::Refund { .. }, Seller | Admin | System) => {
            return Err(Refusal::RefundWindowClosed);
        }
        (Delivered, Step::Settle, System) => {
            let due = matches!((t.now, t.settle_at), (Some(now), Some(at)) if now >= at);
            due.then_some(Completed)
        }
        _ => None,
    };
    to.ok_or_else(|| {
        let who = who(actor);
        let why = match (current, step, actor) {
            (AwaitingShipment, Step::Cancel, Buyer) => {
                " (the buyer may cancel only within the hold after payment; ask the seller)"
                    .to_owned()
            }
            (OnHold, Step::Ship, _) => {
                " (the buyer may still cancel until the hold ends)".to_owned()
            }
            _ => String::new(),
        };
        Refusal::Transition(format!(
            "{who} cannot {} an order that is {}{why}",
            step_name(step),
            current.name()
        ))
    })
}

fn step_name(step: Step) -> &'static str {
    match step {
        Step::Pay => "pay",
        Step::PaymentConfirmed => "confirm the payment of",
        Step::PaymentRefused => "refuse the payment of",
        Step::Cancel => "cancel",
        Step::Ship => "ship",
        Step::Deliver => "confirm delivery of",
        Step::Refund { .. } => "refund",
        Step::Settle => "settle",
    }
}

/// `floor(amount x bps / 10000)`: every percentage of an amount, rounded down.
pub fn percent_floor(amount: i64, bps: u32) -> i64 {
    i64::try_from(i128::from(amount) * i128::from(bps) / 10_000).unwrap_or(0)
}

/// The commission locked at payment: each line's `floor(line x rate)`, summed.
pub fn commission(lines: &[(i64, u32)]) -> i64 {
    lines
        .iter()
        .map(|(cents, bps)| percent_floor(*cents, *bps))
        .sum()
}

/// A locked commission after refunds, pro rata and rounded down:
/// `floor(locked x (total - refunded) / total)`; 0 once all is refunded.
pub fn commission_after_refunds(locked: i64, total: i64, refunded: i64) -> i64 {
    if total <= 0 {
        return 0;
    }
    let net = i128::from((total - refunded).max(0));
    i64::try_from(i128::from(locked) * net / i128::from(total)).unwrap_or(0)
}

/// What a settlement pays: (seller, referral fee, affiliate commission) out
/// of what the buyer paid net of refunds. The fee is rounded down, the
/// commission is the locked one reduced pro rata by refunds (rounded down),
/// and the seller gets the rest, so the three always add up to the net.
pub fn settlement(
    total: i64,
    refunded: i64,
    fee_bps: u32,
    locked_commission: i64,
) -> (i64, i64, i64) {
    let net = (total - refunded).max(0);
    let fee = percent_floor(net, fee_bps);
    let affiliate = commission_after_refunds(locked_commission, total, refunded).min(net - fee);
    (net - fee - affiliate, fee, affiliate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: i64) -> Option<DateTime<Utc>> {
        Some(Utc.timestamp_opt(1_800_000_000, 0).single().expect("t") + chrono::Duration::hours(h))
    }

    #[test]
    fn the_buyer_cancels_freely_only_within_the_hold() {
        let t = Times {
            now: at(0),
            hold_until: at(1),
            ..Times::default()
        };
        assert_eq!(
            next(Status::OnHold, Step::Cancel, Actor::Buyer, &t),
            Ok(Status::Cancelled)
        );
        let later = Times { now: at(1), ..t };
        assert_eq!(effective(Status::OnHold, &later), Status::AwaitingShipment);
        let err = next(Status::OnHold, Step::Cancel, Actor::Buyer, &later).expect_err("late");
        assert!(
            matches!(err, Refusal::Transition(m) if m.contains("AWAITING_SHIPMENT") && m.contains("ask the seller"))
        );
        assert_eq!(
            next(Status::OnHold, Step::Cancel, Actor::Seller, &later),
            Ok(Status::Cancelled)
        );
        // Shipping waits for the hold to end.
        assert!(next(Status::OnHold, Step::Ship, Actor::Seller, &t).is_err());
        assert_eq!(
            next(Status::OnHold, Step::Ship, Actor::Seller, &later),
            Ok(Status::Shipped)
        );
    }

    #[test]
    fn the_service_confirms_delivery_only_of_a_shipped_order() {
        let t = Times {
            now: at(0),
            ..Times::default()
        };
        assert_eq!(
            next(Status::Shipped, Step::Deliver, Actor::System, &t),
            Ok(Status::Delivered)
        );
        for status in [
            Status::AwaitingShipment,
            Status::Delivered,
            Status::Cancelled,
        ] {
            assert!(
                matches!(
                    next(status, Step::Deliver, Actor::System, &t),
                    Err(Refusal::Transition(_))
                ),
                "{status:?}"
            );
        }
    }

    #[test]
    fn jumps_and_strangers_are_refused() {
        let t = Times {
            now: at(0),
            ..Times::default()
        };
        for (status, step, actor) in [
            (Status::Unpaid, Step::Ship, Actor::Seller),
            (Status::Unpaid, Step::Deliver, Actor::Buyer),
            (Status::Shipped, Step::Cancel, Actor::Seller),
            (Status::AwaitingShipment, Step::Cancel, Actor::Buyer),
            (Status::Completed, Step::Cancel, Actor::Admin),
            (Status::Cancelled, Step::Pay, Actor::Buyer),
            (Status::Paying, Step::Cancel, Actor::Buyer),
        ] {
            assert!(
                matches!(next(status, step, actor, &t), Err(Refusal::Transition(_))),
                "{status:?} {step:?} {actor:?}"
            );
        }
        // The wrong party is refused as such, in any state.
        for (status, step, actor) in [
            (Status::AwaitingShipment, Step::Ship, Actor::Buyer),
            (Status::Unpaid, Step::Ship, Actor::Buyer),
            (Status::Shipped, Step::Deliver, Actor::Seller),
            (Status::Delivered, Step::Refund { full: true }, Actor::Buyer),
            (Status::Unpaid, Step::Pay, Actor::Seller),
            (Status::Unpaid, Step::Pay, Actor::Admin),
            (Status::Delivered, Step::Settle, Actor::Admin),
        ] {
            assert!(
                matches!(next(status, step, actor, &t), Err(Refusal::NotYourStep(_))),
                "{status:?} {step:?} {actor:?}"
            );
        }
    }

    #[test]
    fn refunds_close_with_the_window_and_settlement_waits_for_its_day() {
        let t = Times {
            now: at(10),
            refund_until: at(11),
            settle_at: at(11),
            ..Times::default()
        };
        assert_eq!(
            next(
                Status::Delivered,
                Step::Refund { full: false },
                Actor::Seller,
                &t
            ),
            Ok(Status::Delivered)
        );
        assert_eq!(
            next(
                Status::Delivered,
                Step::Refund { full: true },
                Actor::Admin,
                &t
            ),
            Ok(Status::Refunded)
        );
        assert!(next(Status::Delivered, Step::Settle, Actor::System, &t).is_err());
        let later = Times { now: at(11), ..t };
        assert_eq!(
            next(
                Status::Delivered,
                Step::Refund { full: false },
                Actor::Seller,
                &later
            ),
            Err(Refusal::RefundWindowClosed)
        );
        assert_eq!(
            next(Status::Delivered, Step::Settle, Actor::System, &later),
            Ok(Status::Completed)
        );
        // After the settlement (a commission may still be held): closed.
        assert_eq!(
            next(
                Status::Completed,
                Step::Refund { full: false },
                Actor::Admin,
                &later
            ),
            Err(Refusal::RefundWindowClosed)
        );
    }

    #[test]
    fn the_fee_is_rounded_down_and_the_seller_gets_the_rest() {
        // 6% of 1999 = 119.94 -> 119; seller 1880.
        assert_eq!(settlement(1999, 0, 600, 0), (1880, 119, 0));
        // 6% of 16 = 0.96 -> 0.
        assert_eq!(settlement(16, 0, 600, 0), (16, 0, 0));
        // Refunds first: 6% of (10000 - 2500) = 450.
        assert_eq!(settlement(10_000, 2_500, 600, 0), (7_050, 450, 0));
        assert_eq!(settlement(500, 500, 600, 0), (0, 0, 0));
        // A 10% commission locked at 1,000 of 10,000; a quarter refunded:
        // commission 750, fee 450, seller 6,300.
        assert_eq!(settlement(10_000, 2_500, 600, 1_000), (6_300, 450, 750));
        // Pro rata rounds down: 333 x 2/3 = 222; 999 of 1000 refunded: 0.
        assert_eq!(commission_after_refunds(333, 3, 1), 222);
        assert_eq!(commission_after_refunds(7, 1000, 999), 0);
        // Per line: floor(1999 x 15%) + floor(5 x 15%) = 299 + 0.
        assert_eq!(commission(&[(1999, 1500), (5, 1500)]), 299);
        for total in [1, 7, 99, 1234, 999_999] {
            let locked = commission(&[(total, 8000)]);
            for refunded in [0, total / 3, total] {
                let (seller, fee, affiliate) = settlement(total, refunded, 600, locked);
                assert_eq!(seller + fee + affiliate, total - refunded);
                assert!(fee >= 0 && seller >= 0 && affiliate >= 0);
            }
        }
    }
}
