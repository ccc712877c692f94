//! The collaboration state machine, with no IO: given where a collaboration
//! is, what someone asks of it, who asks and the clock, it answers where the
//! collaboration goes next or why it may not. The handlers ask it and then
//! persist the answer (row lock, escrow, history), so the rules live in one
//! place and are tested without a database or a wallet.
//!
//! | from                        | action               | to                | who                 | clock                               |
//! |-----------------------------|----------------------|-------------------|---------------------|-------------------------------------|
//! | (none)                      | [`Opening::Invite`]  | INVITED           | campaign's owner¹   | campaign published, open, not full  |
//! | (none)                      | [`Opening::Apply`]   | APPLIED           | a listed creator¹   | same, and the campaign is PUBLIC    |
//! | INVITED                     | `AcceptInvitation`   | ACCEPTED          | the creator         | before the deadline; a seat is free |
//! | INVITED                     | `DeclineInvitation`  | DECLINED          | the creator         |                                     |
//! | APPLIED                     | `AcceptApplication`  | ACCEPTED          | advertiser or admin | before the deadline; a seat is free |
//! | APPLIED                     | `RejectApplication`  | DECLINED          | advertiser or admin |                                     |
//! | ACCEPTED, CHANGES_REQUESTED | `Submit`             | SUBMITTED         | the creator         | before the deadline                 |
//! | SUBMITTED                   | `Approve`            | APPROVED          | advertiser or admin |                                     |
//! | SUBMITTED                   | `RequestChanges`     | CHANGES_REQUESTED | advertiser or admin | before the deadline                 |
//! | SUBMITTED                   | `AutoApprove`        | APPROVED          | the service         | auto-approval delay over            |
//! | APPROVED                    | `Release`            | PAID              | the service         |                                     |
//! | any open state²             | `Expire`             | EXPIRED_REFUNDED  | the service         | the deadline has passed             |
//!
//! ¹ Opening a collaboration is checked by the handler's role and campaign
//! ownership/visibility lookups; this module checks the campaign's state.
//! ² INVITED, APPLIED, ACCEPTED or CHANGES_REQUESTED: everything not yet
//! submitted (work under review or approved never expires).
//!
//! DECLINED, PAID and EXPIRED_REFUNDED are terminal. Refusals are typed
//! ([`Refusal`]) and become the service's errors in one place
//! (`From<Refusal> for MktError`), with the reasons and messages the
//! contract has always returned.

use chrono::{DateTime, Duration, Utc};

use crate::error::{MktError, Reason, invalid_state};
use crate::model::{CLOSED, CampaignRow, CollabRow, INVITE_ONLY, PUBLISHED, state};

/// How a collaboration comes to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// The advertiser invites a creator: INVITED.
    Invite,
    /// A creator applies to a public campaign: APPLIED.
    Apply,
}

/// What is asked of an existing collaboration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    AcceptInvitation,
    DeclineInvitation,
    AcceptApplication,
    RejectApplication,
    Submit,
    Approve,
    RequestChanges,
    /// The sweeper approves a submission left unanswered.
    AutoApprove,
    /// The escrow was released to the creator.
    Release,
    /// The sweeper closes a collaboration left open past its deadline.
    Expire,
}

/// The side of the collaboration an action belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Creator,
    /// The campaign's advertiser, or an admin acting for them.
    Advertiser,
    /// The service itself (sweeper, payout).
    Service,
}

/// What the clock must say for an action to go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    Any,
    /// Strictly before the collaboration's deadline.
    BeforeDeadline,
    /// At or after the deadline.
    AfterDeadline,
    /// At least `auto_approve_after` past the later of submission and deadline.
    AutoApprovalDue,
}

const OPEN_STATES: &[i16] = &[
    state::INVITED,
    state::APPLIED,
    state::ACCEPTED,
    state::CHANGES_REQUESTED,
];

impl Action {
    fn side(self) -> Side {
        match self {
            Self::AcceptInvitation | Self::DeclineInvitation | Self::Submit => Side::Creator,
            Self::AcceptApplication
            | Self::RejectApplication
            | Self::Approve
            | Self::RequestChanges => Side::Advertiser,
            Self::AutoApprove | Self::Release | Self::Expire => Side::Service,
        }
    }

    /// The transition table: the states the action starts from and the
    /// state it leads to.
    fn edge(self) -> (&'static [i16], i16) {
        match self {
            Self::AcceptInvitation => (&[state::INVITED], state::ACCEPTED),
            Self::DeclineInvitation => (&[state::INVITED], state::DECLINED),
            Self::AcceptApplication => (&[state::APPLIED], state::ACCEPTED),
            Self::RejectApplication => (&[state::APPLIED], state::DECLINED),
            Self::Submit => (
                &[state::ACCEPTED, state::CHANGES_REQUESTED],
                state::SUBMITTED,
            ),
            Self::Approve | Self::AutoApprove => (&[state::SUBMITTED], state::APPROVED),
            Self::RequestChanges => (&[state::SUBMITTED], state::CHANGES_REQUESTED),
            Self::Release => (&[state::APPROVED], state::PAID),
            Self::Expire => (OPEN_STATES, state::EXPIRED_REFUNDED),
        }
    }

    fn clock(self) -> Clock {
        match self {
            Self::AcceptInvitation
            | Self::AcceptApplication
            | Self::Submit
            | Self::RequestChanges => Clock::BeforeDeadline,
            Self::Expire => Clock::AfterDeadline,
            Self::AutoApprove => Clock::AutoApprovalDue,
            Self::DeclineInvitation | Self::RejectApplication | Self::Approve | Self::Release => {
                Clock::Any
            }
        }
    }
}

/// Who is acting, relative to the collaboration. Flags rather than one
/// role, because the rules ask "is this the creator?" and "is this the
/// advertiser or an admin?" independently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Actor {
    pub creator: bool,
    pub advertiser: bool,
    pub admin: bool,
    pub service: bool,
}

impl Actor {
    /// The service itself (the sweeper and the payout step).
    pub const SERVICE: Self = Self {
        creator: false,
        advertiser: false,
        admin: false,
        service: true,
    };

    /// A caller by subject, matched against the collaboration's parties the
    /// same way visibility is (`CollabRow::is_party`).
    pub fn caller(subject: &str, admin: bool, row: &CollabRow) -> Self {
        Self {
            creator: row.creator_id.to_string() == subject,
            advertiser: row.advertiser_id.to_string() == subject,
            admin,
            service: false,
        }
    }

    fn on(self, side: Side) -> bool {
        match side {
            Side::Creator => self.creator,
            Side::Advertiser => self.advertiser || self.admin,
            Side::Service => self.service,
        }
    }
}

/// The times the rules compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub now: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// `marketplace.auto_approve_after_secs`.
    pub auto_approve_after: Duration,
}

impl Facts {
    pub fn of(row: &CollabRow, now: DateTime<Utc>, auto_approve_after: Duration) -> Self {
        Self {
            now,
            deadline: row.deadline,
            submitted_at: row.submitted_at,
            auto_approve_after,
        }
    }

    fn allows(&self, clock: Clock) -> bool {
        match clock {
            Clock::Any => true,
            Clock::BeforeDeadline => self.deadline > self.now,
            Clock::AfterDeadline => self.deadline <= self.now,
            Clock::AutoApprovalDue => self
                .submitted_at
                .is_some_and(|s| s.max(self.deadline) + self.auto_approve_after <= self.now),
        }
    }
}

/// Why the state machine says no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The actor is not on the side the action belongs to.
    NotYourSide(Action),
    /// The collaboration is not in a state the action starts from.
    WrongState { action: Action, state: i16 },
    /// The deadline has passed for an action that must come before it.
    DeadlinePassed(Action),
    /// A service action whose time has not come (deadline or auto-approval).
    NotDue(Action),
    /// The campaign has accepted its maximum of creators.
    CampaignFull,
    /// The campaign is past its deadline.
    CampaignClosed,
    /// The campaign is still a draft.
    CampaignNotPublished,
    /// Creators may not apply to an invitation-only campaign.
    InviteOnly,
}

/// Whether `actor` may take `action` at all (whatever the state).
pub fn authorize(action: Action, actor: Actor) -> Result<(), Refusal> {
    if actor.on(action.side()) {
        Ok(())
    } else {
        Err(Refusal::NotYourSide(action))
    }
}

/// The transition table alone: where `action` leads from `from`, if it is
/// allowed there at all.
pub fn target(from: i16, action: Action) -> Option<i16> {
    let (sources, to) = action.edge();
    sources.contains(&from).then_some(to)
}

/// The state `action` leads to from `from` under `facts`, or why not: the
/// state is checked before the clock.
pub fn advance(from: i16, action: Action, facts: &Facts) -> Result<i16, Refusal> {
    let to = target(from, action).ok_or(Refusal::WrongState {
        action,
        state: from,
    })?;
    if facts.allows(action.clock()) {
        return Ok(to);
    }
    Err(match action.side() {
        Side::Service => Refusal::NotDue(action),
        Side::Creator | Side::Advertiser => Refusal::DeadlinePassed(action),
    })
}

/// [`authorize`] then [`advance`]: the whole decision, for handlers that do
/// nothing in between.
pub fn decide(from: i16, action: Action, actor: Actor, facts: &Facts) -> Result<i16, Refusal> {
    authorize(action, actor)?;
    advance(from, action, facts)
}

/// The state a new collaboration starts in, if the campaign takes new ones.
pub fn open(opening: Opening, campaign: &CampaignRow, now: DateTime<Utc>) -> Result<i16, Refusal> {
    if opening == Opening::Apply && campaign.visibility == INVITE_ONLY {
        return Err(Refusal::InviteOnly);
    }
    match campaign.effective_status(now) {
        PUBLISHED => {}
        CLOSED => return Err(Refusal::CampaignClosed),
        _ => return Err(Refusal::CampaignNotPublished),
    }
    seat(campaign.accepted_creators, campaign.max_creators)?;
    Ok(match opening {
        Opening::Invite => state::INVITED,
        Opening::Apply => state::APPLIED,
    })
}

/// Whether the campaign has a seat left for one more accepted creator.
pub fn seat(accepted: i32, max: i32) -> Result<(), Refusal> {
    if accepted >= max {
        Err(Refusal::CampaignFull)
    } else {
        Ok(())
    }
}

/// States in which the collaboration's escrow (if any) is still held or
/// was paid out, i.e. it counts against the campaign's seats.
pub fn holds_escrow(st: i16) -> bool {
    matches!(
        st,
        state::ACCEPTED
            | state::SUBMITTED
            | state::CHANGES_REQUESTED
            | state::APPROVED
            | state::PAID
    )
}

/// DECLINED or EXPIRED_REFUNDED: the collaboration ended without a deal
/// standing, so its thread is read-only and it can never be accepted again.
pub fn is_void(st: i16) -> bool {
    matches!(st, state::DECLINED | state::EXPIRED_REFUNDED)
}

impl From<Refusal> for MktError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotYourSide(action) => MktError::denied(not_your_side(action)),
            Refusal::WrongState { action, state: st } => invalid_state(wrong_state(action, st)),
            Refusal::DeadlinePassed(action) => MktError::rule(
                Reason::DeadlinePassed,
                match action {
                    Action::AcceptInvitation | Action::AcceptApplication => {
                        "the campaign deadline has passed"
                    }
                    Action::RequestChanges => "the deadline has passed; approve instead",
                    _ => "the deadline has passed",
                },
            ),
            Refusal::NotDue(_) => invalid_state("the collaboration is not due for this step"),
            Refusal::CampaignFull => MktError::rule(
                Reason::CampaignFull,
                "the campaign has accepted its maximum of creators",
            ),
            Refusal::CampaignClosed => {
                MktError::rule(Reason::DeadlinePassed, "the campaign is closed")
            }
            Refusal::CampaignNotPublished => invalid_state("the campaign is not published"),
            Refusal::InviteOnly => {
                MktError::rule(Reason::InviteOnly, "this campaign is by invitation only")
            }
        }
    }
}

fn not_your_side(action: Action) -> &'static str {
    match action {
        Action::AcceptInvitation => "only the invited creator may accept an invitation",
        Action::AcceptApplication => "only the campaign's advertiser may accept an application",
        Action::DeclineInvitation | Action::RejectApplication => {
            "the other side of the collaboration must decide"
        }
        Action::Submit => "only the collaboration's creator submits",
        Action::Approve => "only the campaign's advertiser approves",
        Action::RequestChanges => "only the campaign's advertiser requests changes",
        Action::AutoApprove | Action::Release | Action::Expire => {
            "only the service takes this step"
        }
    }
}

fn wrong_state(action: Action, st: i16) -> String {
    let now = state::name(st);
    match action {
        Action::Submit => {
            format!("the collaboration is {now}; only ACCEPTED or CHANGES_REQUESTED can submit")
        }
        Action::Approve | Action::AutoApprove => {
            format!("the collaboration is {now}; only SUBMITTED can be approved")
        }
        Action::RequestChanges => {
            format!("the collaboration is {now}; only SUBMITTED can be sent back")
        }
        Action::Release => format!("the collaboration is {now}; only APPROVED can be paid"),
        Action::Expire => format!("the collaboration is {now}; it can no longer expire"),
        Action::AcceptInvitation
        | Action::DeclineInvitation
        | Action::AcceptApplication
        | Action::RejectApplication => {
            let (from, _) = action.edge();
            let expected = from.first().map_or("UNKNOWN", |s| state::name(*s));
            format!("the collaboration is {now}, not {expected}")
        }
    }
}

#[cfg(test)]
mod tests;
