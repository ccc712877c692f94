//! The auction's rules as pure functions, so the service, the tests and
//! anyone replaying the bids compute the same price, leader and close.
//!
//! - **Increments by price band** ([`INCREMENTS`]): the next bid must be at
//!   least the current price plus the band's increment (the starting bid
//!   before any bid).
//! - **Proxy (maximum) bids**: a bid names an amount and a maximum (a plain
//!   bid's maximum is its amount). A challenger whose maximum beats the
//!   leader's leads at `max(amount, min(max, leader_max + increment(leader_max)))`;
//!   one whose maximum does not (ties go to the earlier bid) pushes the
//!   leader's price to `min(leader_max, max + increment(max))`. So the price
//!   is the second-highest maximum plus its increment, capped at the top
//!   maximum (never below the winner's own amount). The leader may raise
//!   their maximum without moving the price.
//! - **Anti-sniping**: an accepted bid within `extend_within` of the close
//!   moves the close to `extend_by` after the bid (if that is later);
//!   sudden death: never.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// The lowest starting bid: $1.
pub const MIN_STARTING_CENTS: i64 = 100;
/// The highest bid (or maximum) one may name: $10,000,000.
pub const MAX_BID_CENTS: i64 = 1_000_000_000;

/// The published increment table: from `.0` cents (inclusive) up to the
/// next band, bids rise by `.1` cents. $1 up to $30, $2 up to $50, $5 up to
/// $100, $10 up to $300, $25 up to $1,000, $50 above.
pub const INCREMENTS: &[(i64, i64)] = &[
    (0, 100),
    (3_000, 200),
    (5_000, 500),
    (10_000, 1_000),
    (30_000, 2_500),
    (100_000, 5_000),
];

/// The increment at `price_cents`.
pub fn increment(price_cents: i64) -> i64 {
    INCREMENTS
        .iter()
        .rev()
        .find(|(from, _)| price_cents >= *from)
        .map_or(INCREMENTS[0].1, |(_, inc)| *inc)
}

/// Anti-sniping, fixed when the auction starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub sudden_death: bool,
    pub extend_within: Duration,
    pub extend_by: Duration,
}

/// What the rules track of an auction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    pub starting_cents: i64,
    /// 0 before the first bid.
    pub price_cents: i64,
    pub leader: Option<Uuid>,
    pub leader_max_cents: i64,
    pub ends_at: DateTime<Utc>,
    pub extensions: u32,
    /// Accepted bids so far.
    pub seq: u32,
}

impl State {
    pub fn new(starting_cents: i64, ends_at: DateTime<Utc>) -> Self {
        Self {
            starting_cents,
            price_cents: 0,
            leader: None,
            leader_max_cents: 0,
            ends_at,
            extensions: 0,
            seq: 0,
        }
    }

    /// The lowest amount a challenger may bid now.
    pub fn next_min(&self) -> i64 {
        match self.leader {
            None => self.starting_cents,
            Some(_) => self.price_cents + increment(self.price_cents),
        }
    }
}

/// A bid as the rules see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bid {
    pub bidder: Uuid,
    /// The amount; with `at_next_min`, the most the bidder bids.
    pub amount_cents: i64,
    /// The bidder's maximum (a proxy bid); at most the amount: a plain bid.
    pub max_cents: i64,
    pub at: DateTime<Utc>,
    /// A quick bid: the lowest acceptable amount at its turn (at most
    /// `amount_cents`), whatever others bid meanwhile.
    pub at_next_min: bool,
}

impl Bid {
    /// A plain or proxy bid of `amount_cents` (maximum `max_cents`).
    pub fn new(bidder: Uuid, amount_cents: i64, max_cents: i64, at: DateTime<Utc>) -> Self {
        Self {
            bidder,
            amount_cents,
            max_cents,
            at,
            at_next_min: false,
        }
    }
}

/// Why the rules refuse a bid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// At or after the close.
    Closed,
    /// Below the starting bid or the current price plus the increment.
    TooLow { min_cents: i64 },
    /// The leader's new maximum does not exceed their standing one.
    MaxNotRaised { max_cents: i64 },
}

/// The outcome of one accepted bid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub extended: bool,
    /// The amount bid (a quick bid's, as resolved) and the bidder's
    /// maximum: replaying these as a plain or proxy bid gives the same state.
    pub amount_cents: i64,
    pub max_cents: i64,
}

/// Applies `bid` to `state` (the state is changed only when accepted).
pub fn apply(state: &mut State, timing: &Timing, bid: &Bid) -> Result<Accepted, Refused> {
    apply_at(state, timing, bid, true)
}

fn apply_at(
    state: &mut State,
    timing: &Timing,
    bid: &Bid,
    check_close: bool,
) -> Result<Accepted, Refused> {
    if check_close && bid.at >= state.ends_at {
        return Err(Refused::Closed);
    }
    let min = state.next_min();
    let amount = if bid.at_next_min {
        if min > bid.amount_cents {
            return Err(Refused::TooLow { min_cents: min });
        }
        min
    } else {
        bid.amount_cents
    };
    let max = bid.max_cents.max(amount);
    match state.leader {
        Some(leader) if leader == bid.bidder => {
            // The leader raises their maximum; the price stays.
            if max <= state.leader_max_cents || max < state.next_min() {
                return Err(Refused::MaxNotRaised {
                    max_cents: state.leader_max_cents.max(state.next_min() - 1),
                });
            }
            state.leader_max_cents = max;
        }
        Some(_) => {
            if amount < min {
                return Err(Refused::TooLow { min_cents: min });
            }
            let top = state.leader_max_cents;
            if max > top {
                state.price_cents = amount.max(max.min(top + increment(top)));
                state.leader = Some(bid.bidder);
                state.leader_max_cents = max;
            } else {
                // Ties go to the earlier bid: the leader stays.
                state.price_cents = state.price_cents.max(top.min(max + increment(max)));
            }
        }
        None => {
            if amount < state.starting_cents {
                return Err(Refused::TooLow {
                    min_cents: state.starting_cents,
                });
            }
            state.price_cents = amount;
            state.leader = Some(bid.bidder);
            state.leader_max_cents = max;
        }
    }
    state.seq += 1;
    let mut extended = false;
    if !timing.sudden_death && state.ends_at - bid.at <= timing.extend_within {
        let to = bid.at + timing.extend_by;
        if to > state.ends_at {
            state.ends_at = to;
            state.extensions += 1;
            extended = true;
        }
    }
    Ok(Accepted {
        extended,
        amount_cents: amount,
        max_cents: max,
    })
}

/// Replays accepted bids in order, leaving out `skip` (bidders whose
/// payment failed at the close): the state the rules reach (`seq` counts
/// the bids it accepted). Each bid was in time when the auction accepted
/// it, so the replay does not refuse one for lateness; without skipped
/// bidders a bid may no longer clear the minimum and is left out.
pub fn replay(
    starting_cents: i64,
    original_ends_at: DateTime<Utc>,
    timing: &Timing,
    bids: &[Bid],
    skip: &[Uuid],
) -> State {
    let mut state = State::new(starting_cents, original_ends_at);
    for bid in bids.iter().filter(|b| !skip.contains(&b.bidder)) {
        let _ = apply_at(&mut state, timing, bid, false);
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("time")
    }

    fn timing() -> Timing {
        Timing {
            sudden_death: false,
            extend_within: Duration::seconds(10),
            extend_by: Duration::seconds(15),
        }
    }

    fn bid(who: u128, amount: i64, max: i64, secs: i64) -> Bid {
        Bid::new(
            Uuid::from_u128(who),
            amount,
            max,
            t0() + Duration::seconds(secs),
        )
    }

    #[test]
    fn a_quick_bid_takes_the_lowest_acceptable_amount_at_its_turn() {
        let mut s = State::new(100, t0() + Duration::seconds(100));
        let quick = |who: u128, cap: i64| Bid {
            at_next_min: true,
            ..bid(who, cap, 0, 1)
        };
        let a = apply(&mut s, &timing(), &quick(1, 10_000)).expect("first");
        assert_eq!((a.amount_cents, s.price_cents), (100, 100));
        let b = apply(&mut s, &timing(), &quick(2, 10_000)).expect("second");
        assert_eq!((b.amount_cents, s.price_cents), (200, 200));
        assert_eq!(
            apply(&mut s, &timing(), &quick(3, 250)),
            Err(Refused::TooLow { min_cents: 300 })
        );
    }

    #[test]
    fn increments_follow_the_published_bands() {
        assert_eq!(increment(100), 100);
        assert_eq!(increment(2_999), 100);
        assert_eq!(increment(3_000), 200);
        assert_eq!(increment(4_999), 200);
        assert_eq!(increment(5_000), 500);
        assert_eq!(increment(10_000), 1_000);
        assert_eq!(increment(29_999), 1_000);
        assert_eq!(increment(30_000), 2_500);
        assert_eq!(increment(100_000), 5_000);
        assert_eq!(increment(10_000_000), 5_000);
        assert!(INCREMENTS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn plain_bids_must_clear_the_price_plus_the_increment() {
        let mut s = State::new(1_000, t0() + Duration::seconds(100));
        assert_eq!(
            apply(&mut s, &timing(), &bid(1, 900, 900, 1)),
            Err(Refused::TooLow { min_cents: 1_000 })
        );
        apply(&mut s, &timing(), &bid(1, 1_000, 1_000, 1)).expect("opening bid");
        assert_eq!((s.price_cents, s.next_min()), (1_000, 1_100));
        assert_eq!(
            apply(&mut s, &timing(), &bid(2, 1_099, 1_099, 2)),
            Err(Refused::TooLow { min_cents: 1_100 })
        );
        apply(&mut s, &timing(), &bid(2, 1_100, 1_100, 2)).expect("raise");
        assert_eq!(s.leader, Some(Uuid::from_u128(2)));
        assert_eq!(s.price_cents, 1_100);
        // At $30 the step becomes $2.
        apply(&mut s, &timing(), &bid(1, 3_000, 3_000, 3)).expect("jump");
        assert_eq!(s.next_min(), 3_200);
        assert_eq!(s.seq, 3);
    }

    #[test]
    fn proxy_bids_price_at_the_second_max_plus_increment_capped_at_the_top() {
        let mut s = State::new(100, t0() + Duration::seconds(100));
        // A opens at $1 with a $50 maximum.
        apply(&mut s, &timing(), &bid(1, 100, 5_000, 1)).expect("a");
        assert_eq!((s.price_cents, s.leader_max_cents), (100, 5_000));
        // B bids $20 plainly: A's proxy answers at $21.
        apply(&mut s, &timing(), &bid(2, 2_000, 2_000, 2)).expect("b");
        assert_eq!(s.leader, Some(Uuid::from_u128(1)));
        assert_eq!(s.price_cents, 2_100);
        // C's maximum of $60 beats A's $50: C leads at $50 + $5 = $55.
        apply(&mut s, &timing(), &bid(3, 2_200, 6_000, 3)).expect("c");
        assert_eq!(s.leader, Some(Uuid::from_u128(3)));
        assert_eq!(s.price_cents, 5_500);
        // D's maximum ties C's: the earlier bid (C) keeps it, at the cap.
        apply(&mut s, &timing(), &bid(4, 6_000, 6_000, 4)).expect("d");
        assert_eq!(s.leader, Some(Uuid::from_u128(3)));
        assert_eq!(s.price_cents, 6_000);
        // E beats it by a cent more than the step: capped at E's maximum.
        apply(&mut s, &timing(), &bid(5, 6_500, 6_700, 5)).expect("e");
        assert_eq!(s.leader, Some(Uuid::from_u128(5)));
        assert_eq!(s.price_cents, 6_500);
        // The leader raises their maximum: the price stays.
        apply(&mut s, &timing(), &bid(5, 6_500, 9_000, 6)).expect("raise max");
        assert_eq!((s.price_cents, s.leader_max_cents), (6_500, 9_000));
        assert!(matches!(
            apply(&mut s, &timing(), &bid(5, 6_500, 8_000, 7)),
            Err(Refused::MaxNotRaised { .. })
        ));
    }

    #[test]
    fn late_bids_extend_the_close_unless_sudden_death() {
        let end = t0() + Duration::seconds(60);
        let mut s = State::new(100, end);
        apply(&mut s, &timing(), &bid(1, 100, 100, 10)).expect("early");
        assert_eq!((s.ends_at, s.extensions), (end, 0));
        apply(&mut s, &timing(), &bid(2, 200, 200, 55)).expect("late");
        assert_eq!(s.ends_at, t0() + Duration::seconds(70));
        assert_eq!(s.extensions, 1);
        // At 58 s the close (70 s) is 12 s away: no extension.
        apply(&mut s, &timing(), &bid(1, 300, 300, 58)).expect("not late");
        assert_eq!((s.ends_at, s.extensions), (t0() + Duration::seconds(70), 1));
        // At 62 s it is 8 s away: moved to 77 s.
        apply(&mut s, &timing(), &bid(2, 400, 400, 62)).expect("late again");
        assert_eq!((s.ends_at, s.extensions), (t0() + Duration::seconds(77), 2));
        assert_eq!(
            apply(&mut s, &timing(), &bid(1, 500, 500, 77)),
            Err(Refused::Closed)
        );
        let sudden = Timing {
            sudden_death: true,
            ..timing()
        };
        let mut s = State::new(100, end);
        apply(&mut s, &sudden, &bid(1, 100, 100, 59)).expect("last second");
        assert_eq!((s.ends_at, s.extensions), (end, 0));
        assert_eq!(
            apply(&mut s, &sudden, &bid(2, 200, 200, 60)),
            Err(Refused::Closed)
        );
    }

    #[test]
    fn replay_without_a_failed_payer_offers_the_next_bidder() {
        let bids = [
            bid(1, 100, 100, 1),
            bid(2, 200, 1_000, 2),
            bid(3, 300, 300, 3),
        ];
        let all = replay(100, t0() + Duration::seconds(100), &timing(), &bids, &[]);
        assert_eq!(all.leader, Some(Uuid::from_u128(2)));
        assert_eq!(all.price_cents, 400);
        let without = replay(
            100,
            t0() + Duration::seconds(100),
            &timing(),
            &bids,
            &[Uuid::from_u128(2)],
        );
        assert_eq!(without.leader, Some(Uuid::from_u128(3)));
        assert_eq!(without.price_cents, 300);
    }
}
