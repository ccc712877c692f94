//! The transition table, who may act, and the clock, without a database.

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use super::*;
use crate::model::{DRAFT, PUBLIC};

const ALL_STATES: [i16; 9] = [
    state::INVITED,
    state::APPLIED,
    state::ACCEPTED,
    state::DECLINED,
    state::SUBMITTED,
    state::CHANGES_REQUESTED,
    state::APPROVED,
    state::PAID,
    state::EXPIRED_REFUNDED,
];

const ALL_ACTIONS: [Action; 10] = [
    Action::AcceptInvitation,
    Action::DeclineInvitation,
    Action::AcceptApplication,
    Action::RejectApplication,
    Action::Submit,
    Action::Approve,
    Action::RequestChanges,
    Action::AutoApprove,
    Action::Release,
    Action::Expire,
];

/// Every allowed transition, written out independently of `Action::edge`.
const ALLOWED: [(i16, Action, i16); 14] = [
    (state::INVITED, Action::AcceptInvitation, state::ACCEPTED),
    (state::INVITED, Action::DeclineInvitation, state::DECLINED),
    (state::APPLIED, Action::AcceptApplication, state::ACCEPTED),
    (state::APPLIED, Action::RejectApplication, state::DECLINED),
    (state::ACCEPTED, Action::Submit, state::SUBMITTED),
    (state::CHANGES_REQUESTED, Action::Submit, state::SUBMITTED),
    (state::SUBMITTED, Action::Approve, state::APPROVED),
    (
        state::SUBMITTED,
        Action::RequestChanges,
        state::CHANGES_REQUESTED,
    ),
    (state::SUBMITTED, Action::AutoApprove, state::APPROVED),
    (state::APPROVED, Action::Release, state::PAID),
    (state::INVITED, Action::Expire, state::EXPIRED_REFUNDED),
    (state::APPLIED, Action::Expire, state::EXPIRED_REFUNDED),
    (state::ACCEPTED, Action::Expire, state::EXPIRED_REFUNDED),
    (
        state::CHANGES_REQUESTED,
        Action::Expire,
        state::EXPIRED_REFUNDED,
    ),
];

const CREATOR: Actor = Actor {
    creator: true,
    advertiser: false,
    admin: false,
    service: false,
};
const ADVERTISER: Actor = Actor {
    creator: false,
    advertiser: true,
    admin: false,
    service: false,
};
const ADMIN: Actor = Actor {
    creator: false,
    advertiser: false,
    admin: true,
    service: false,
};
const STRANGER: Actor = Actor {
    creator: false,
    advertiser: false,
    admin: false,
    service: false,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 6, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

const AFTER: Duration = Duration::days(7);

/// Facts for a collaboration due at `t0()`, submitted an hour before it.
fn at(now: DateTime<Utc>) -> Facts {
    Facts {
        now,
        deadline: t0(),
        submitted_at: Some(t0() - Duration::hours(1)),
        auto_approve_after: AFTER,
    }
}

/// A moment at which every action's clock allows it.
fn facts_for(action: Action) -> Facts {
    match action.clock() {
        Clock::Any | Clock::BeforeDeadline => at(t0() - Duration::hours(2)),
        Clock::AfterDeadline => at(t0() + Duration::seconds(1)),
        Clock::AutoApprovalDue => at(t0() + AFTER),
    }
}

fn actor_for(action: Action) -> Actor {
    match action.side() {
        Side::Creator => CREATOR,
        Side::Advertiser => ADVERTISER,
        Side::Service => Actor::SERVICE,
    }
}

fn campaign(status: i16, visibility: i16, accepted: i32, max: i32) -> CampaignRow {
    CampaignRow {
        campaign_id: Uuid::nil(),
        advertiser_id: Uuid::nil(),
        title: "t".into(),
        brief: "b".into(),
        video_count: 1,
        required_hashtag: "tag".into(),
        budget_per_creator_cents: 1000,
        max_creators: max,
        deadline: t0(),
        visibility,
        status,
        accepted_creators: accepted,
        created_at: t0() - Duration::days(3),
        published_at: None,
    }
}

fn collab(creator: Uuid, advertiser: Uuid) -> CollabRow {
    CollabRow {
        collaboration_id: Uuid::nil(),
        campaign_id: Uuid::nil(),
        advertiser_id: advertiser,
        creator_id: creator,
        state: state::INVITED,
        pitch: String::new(),
        escrow_id: None,
        amount_cents: 1000,
        video_ids: Vec::new(),
        submitted_at: None,
        change_request_note: String::new(),
        paid_cents: 0,
        platform_fee_cents: 0,
        accepted_at: None,
        deadline: t0(),
        accept_key: None,
        approve_key: None,
        created_at: t0() - Duration::days(2),
        updated_at: t0() - Duration::days(2),
    }
}

fn reason_and_message(refusal: Refusal) -> (Option<&'static str>, String) {
    let err = MktError::from(refusal);
    let message = match &err {
        MktError::Rule { message, .. } => message.clone(),
        MktError::App(app) => app.to_string(),
    };
    (err.reason().map(Reason::as_str), message)
}

#[test]
fn every_allowed_transition_goes_where_the_table_says() {
    for (from, action, to) in ALLOWED {
        let got = decide(from, action, actor_for(action), &facts_for(action));
        assert_eq!(got, Ok(to), "{} --{action:?}-->", state::name(from));
    }
}

#[test]
fn every_other_pair_is_refused_as_the_wrong_state() {
    for from in ALL_STATES.into_iter().chain([0, 42]) {
        for action in ALL_ACTIONS {
            if ALLOWED.iter().any(|(f, a, _)| *f == from && *a == action) {
                continue;
            }
            assert_eq!(target(from, action), None, "{from} {action:?}");
            assert_eq!(
                decide(from, action, actor_for(action), &facts_for(action)),
                Err(Refusal::WrongState {
                    action,
                    state: from
                }),
                "{} --{action:?}-->",
                state::name(from)
            );
        }
    }
}

#[test]
fn terminal_states_take_no_action() {
    for terminal in [state::DECLINED, state::PAID, state::EXPIRED_REFUNDED] {
        for action in ALL_ACTIONS {
            assert_eq!(target(terminal, action), None, "{terminal} {action:?}");
        }
    }
}

#[test]
fn representative_forbidden_transitions() {
    let early = at(t0() - Duration::hours(2));
    // Skipping ahead, going back, and paying twice.
    assert!(decide(state::INVITED, Action::Submit, CREATOR, &early).is_err());
    assert!(decide(state::APPLIED, Action::AcceptInvitation, CREATOR, &early).is_err());
    assert!(
        decide(
            state::INVITED,
            Action::AcceptApplication,
            ADVERTISER,
            &early
        )
        .is_err()
    );
    assert!(decide(state::ACCEPTED, Action::Approve, ADVERTISER, &early).is_err());
    assert!(
        decide(
            state::CHANGES_REQUESTED,
            Action::Approve,
            ADVERTISER,
            &early
        )
        .is_err()
    );
    assert!(decide(state::APPROVED, Action::RequestChanges, ADVERTISER, &early).is_err());
    assert!(decide(state::SUBMITTED, Action::Submit, CREATOR, &early).is_err());
    assert!(decide(state::PAID, Action::Release, Actor::SERVICE, &early).is_err());
    // Work under review, approved or paid never expires.
    let late = at(t0() + Duration::days(1));
    for st in [state::SUBMITTED, state::APPROVED, state::PAID] {
        assert_eq!(
            decide(st, Action::Expire, Actor::SERVICE, &late),
            Err(Refusal::WrongState {
                action: Action::Expire,
                state: st
            })
        );
    }
}

#[test]
fn only_the_right_side_may_act() {
    let actors = [CREATOR, ADVERTISER, ADMIN, Actor::SERVICE, STRANGER];
    for action in ALL_ACTIONS {
        for actor in actors {
            let may = match action.side() {
                Side::Creator => actor == CREATOR,
                Side::Advertiser => actor == ADVERTISER || actor == ADMIN,
                Side::Service => actor == Actor::SERVICE,
            };
            let got = authorize(action, actor);
            if may {
                assert_eq!(got, Ok(()), "{action:?} by {actor:?}");
            } else {
                assert_eq!(
                    got,
                    Err(Refusal::NotYourSide(action)),
                    "{action:?} by {actor:?}"
                );
            }
        }
    }
}

#[test]
fn the_creator_acts_on_invitations_and_submissions() {
    for action in [
        Action::AcceptInvitation,
        Action::DeclineInvitation,
        Action::Submit,
    ] {
        assert_eq!(action.side(), Side::Creator, "{action:?}");
        // An admin cannot accept, decline or submit on a creator's behalf.
        assert_eq!(authorize(action, ADMIN), Err(Refusal::NotYourSide(action)));
    }
}

#[test]
fn the_advertiser_or_an_admin_acts_on_applications_and_reviews() {
    for action in [
        Action::AcceptApplication,
        Action::RejectApplication,
        Action::Approve,
        Action::RequestChanges,
    ] {
        assert_eq!(authorize(action, ADVERTISER), Ok(()), "{action:?}");
        assert_eq!(authorize(action, ADMIN), Ok(()), "{action:?}");
        assert_eq!(
            authorize(action, CREATOR),
            Err(Refusal::NotYourSide(action))
        );
    }
}

#[test]
fn callers_cannot_take_the_services_steps() {
    for action in [Action::AutoApprove, Action::Release, Action::Expire] {
        for actor in [CREATOR, ADVERTISER, ADMIN, STRANGER] {
            assert_eq!(authorize(action, actor), Err(Refusal::NotYourSide(action)));
        }
    }
}

#[test]
fn the_side_is_checked_before_the_state() {
    let early = at(t0() - Duration::hours(2));
    assert_eq!(
        decide(state::PAID, Action::AcceptInvitation, ADVERTISER, &early),
        Err(Refusal::NotYourSide(Action::AcceptInvitation))
    );
}

#[test]
fn deadline_bound_actions_stop_at_the_deadline() {
    let before = at(t0() - Duration::seconds(1));
    let on = at(t0());
    let after = at(t0() + Duration::seconds(1));
    let cases = [
        (state::INVITED, Action::AcceptInvitation, CREATOR),
        (state::APPLIED, Action::AcceptApplication, ADVERTISER),
        (state::ACCEPTED, Action::Submit, CREATOR),
        (state::CHANGES_REQUESTED, Action::Submit, CREATOR),
        (state::SUBMITTED, Action::RequestChanges, ADVERTISER),
    ];
    for (from, action, actor) in cases {
        assert!(decide(from, action, actor, &before).is_ok(), "{action:?}");
        // The deadline itself is already too late.
        assert_eq!(
            decide(from, action, actor, &on),
            Err(Refusal::DeadlinePassed(action))
        );
        assert_eq!(
            decide(from, action, actor, &after),
            Err(Refusal::DeadlinePassed(action))
        );
    }
}

#[test]
fn undated_actions_ignore_the_deadline() {
    let late = at(t0() + Duration::days(30));
    assert_eq!(
        decide(state::INVITED, Action::DeclineInvitation, CREATOR, &late),
        Ok(state::DECLINED)
    );
    assert_eq!(
        decide(state::APPLIED, Action::RejectApplication, ADMIN, &late),
        Ok(state::DECLINED)
    );
    // Approval stays possible after the deadline (request changes does not).
    assert_eq!(
        decide(state::SUBMITTED, Action::Approve, ADVERTISER, &late),
        Ok(state::APPROVED)
    );
    assert_eq!(
        decide(state::APPROVED, Action::Release, Actor::SERVICE, &late),
        Ok(state::PAID)
    );
}

#[test]
fn the_state_is_checked_before_the_clock() {
    let late = at(t0() + Duration::days(1));
    assert_eq!(
        decide(state::SUBMITTED, Action::AcceptInvitation, CREATOR, &late),
        Err(Refusal::WrongState {
            action: Action::AcceptInvitation,
            state: state::SUBMITTED
        })
    );
}

#[test]
fn expiry_is_due_from_the_deadline_on() {
    for from in [
        state::INVITED,
        state::APPLIED,
        state::ACCEPTED,
        state::CHANGES_REQUESTED,
    ] {
        assert_eq!(
            decide(
                from,
                Action::Expire,
                Actor::SERVICE,
                &at(t0() - Duration::seconds(1))
            ),
            Err(Refusal::NotDue(Action::Expire))
        );
        assert_eq!(
            decide(from, Action::Expire, Actor::SERVICE, &at(t0())),
            Ok(state::EXPIRED_REFUNDED)
        );
    }
}

#[test]
fn auto_approval_waits_from_the_later_of_submission_and_deadline() {
    let due = |f: &Facts| decide(state::SUBMITTED, Action::AutoApprove, Actor::SERVICE, f);
    // Submitted before the deadline: the delay runs from the deadline.
    assert_eq!(
        due(&at(t0() + AFTER - Duration::seconds(1))),
        Err(Refusal::NotDue(Action::AutoApprove))
    );
    assert_eq!(due(&at(t0() + AFTER)), Ok(state::APPROVED));
    // Submitted after the deadline: the delay runs from the submission.
    let submitted = t0() + Duration::days(2);
    let late = |now| Facts {
        submitted_at: Some(submitted),
        ..at(now)
    };
    assert_eq!(
        due(&late(t0() + AFTER)),
        Err(Refusal::NotDue(Action::AutoApprove))
    );
    assert_eq!(due(&late(submitted + AFTER)), Ok(state::APPROVED));
    // Never submitted: never due.
    let unsubmitted = Facts {
        submitted_at: None,
        ..at(t0() + Duration::days(365))
    };
    assert_eq!(due(&unsubmitted), Err(Refusal::NotDue(Action::AutoApprove)));
}

#[test]
fn opening_needs_a_published_open_campaign_with_a_seat() {
    let now = t0() - Duration::hours(1);
    let open_public = campaign(PUBLISHED, PUBLIC, 0, 2);
    assert_eq!(open(Opening::Invite, &open_public, now), Ok(state::INVITED));
    assert_eq!(open(Opening::Apply, &open_public, now), Ok(state::APPLIED));
    let invite_only = campaign(PUBLISHED, INVITE_ONLY, 0, 2);
    assert_eq!(open(Opening::Invite, &invite_only, now), Ok(state::INVITED));
    assert_eq!(
        open(Opening::Apply, &invite_only, now),
        Err(Refusal::InviteOnly)
    );
    for opening in [Opening::Invite, Opening::Apply] {
        assert_eq!(
            open(opening, &campaign(DRAFT, PUBLIC, 0, 2), now),
            Err(Refusal::CampaignNotPublished)
        );
        assert_eq!(
            open(opening, &campaign(CLOSED, PUBLIC, 0, 2), now),
            Err(Refusal::CampaignClosed)
        );
        // Published but past its deadline reads as closed.
        assert_eq!(
            open(opening, &open_public, t0()),
            Err(Refusal::CampaignClosed)
        );
        assert_eq!(
            open(opening, &campaign(PUBLISHED, PUBLIC, 2, 2), now),
            Err(Refusal::CampaignFull)
        );
    }
}

#[test]
fn invite_only_is_reported_before_the_campaigns_status() {
    let now = t0() - Duration::hours(1);
    assert_eq!(
        open(Opening::Apply, &campaign(DRAFT, INVITE_ONLY, 5, 1), now),
        Err(Refusal::InviteOnly)
    );
}

#[test]
fn seats_run_out_at_the_maximum() {
    assert_eq!(seat(0, 1), Ok(()));
    assert_eq!(seat(4, 5), Ok(()));
    assert_eq!(seat(5, 5), Err(Refusal::CampaignFull));
    assert_eq!(seat(6, 5), Err(Refusal::CampaignFull));
}

#[test]
fn escrow_is_held_from_acceptance_on() {
    let holding: Vec<i16> = ALL_STATES
        .into_iter()
        .filter(|s| holds_escrow(*s))
        .collect();
    assert_eq!(
        holding,
        [
            state::ACCEPTED,
            state::SUBMITTED,
            state::CHANGES_REQUESTED,
            state::APPROVED,
            state::PAID
        ]
    );
}

#[test]
fn declined_and_expired_are_void() {
    let void: Vec<i16> = ALL_STATES.into_iter().filter(|s| is_void(*s)).collect();
    assert_eq!(void, [state::DECLINED, state::EXPIRED_REFUNDED]);
}

#[test]
fn an_actor_is_matched_against_the_parties() {
    let (creator, advertiser) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let row = collab(creator, advertiser);
    assert_eq!(Actor::caller(&creator.to_string(), false, &row), CREATOR);
    assert_eq!(
        Actor::caller(&advertiser.to_string(), false, &row),
        ADVERTISER
    );
    assert_eq!(
        Actor::caller(&Uuid::from_u128(3).to_string(), true, &row),
        ADMIN
    );
    assert_eq!(
        Actor::caller(&Uuid::from_u128(3).to_string(), false, &row),
        STRANGER
    );
}

#[test]
fn facts_come_from_the_row() {
    let mut row = collab(Uuid::from_u128(1), Uuid::from_u128(2));
    row.submitted_at = Some(t0() - Duration::hours(5));
    let f = Facts::of(&row, t0(), AFTER);
    assert_eq!(f.deadline, row.deadline);
    assert_eq!(f.submitted_at, row.submitted_at);
    assert_eq!((f.now, f.auto_approve_after), (t0(), AFTER));
}

#[test]
fn refusals_keep_the_contracts_reasons_and_messages() {
    let cases = [
        (
            Refusal::WrongState {
                action: Action::AcceptInvitation,
                state: state::SUBMITTED,
            },
            Some("INVALID_STATE"),
            "the collaboration is SUBMITTED, not INVITED",
        ),
        (
            Refusal::WrongState {
                action: Action::RejectApplication,
                state: state::DECLINED,
            },
            Some("INVALID_STATE"),
            "the collaboration is DECLINED, not APPLIED",
        ),
        (
            Refusal::WrongState {
                action: Action::Submit,
                state: state::PAID,
            },
            Some("INVALID_STATE"),
            "the collaboration is PAID; only ACCEPTED or CHANGES_REQUESTED can submit",
        ),
        (
            Refusal::WrongState {
                action: Action::Approve,
                state: state::ACCEPTED,
            },
            Some("INVALID_STATE"),
            "the collaboration is ACCEPTED; only SUBMITTED can be approved",
        ),
        (
            Refusal::WrongState {
                action: Action::RequestChanges,
                state: state::APPROVED,
            },
            Some("INVALID_STATE"),
            "the collaboration is APPROVED; only SUBMITTED can be sent back",
        ),
        (
            Refusal::DeadlinePassed(Action::AcceptApplication),
            Some("DEADLINE_PASSED"),
            "the campaign deadline has passed",
        ),
        (
            Refusal::DeadlinePassed(Action::Submit),
            Some("DEADLINE_PASSED"),
            "the deadline has passed",
        ),
        (
            Refusal::DeadlinePassed(Action::RequestChanges),
            Some("DEADLINE_PASSED"),
            "the deadline has passed; approve instead",
        ),
        (
            Refusal::CampaignFull,
            Some("CAMPAIGN_FULL"),
            "the campaign has accepted its maximum of creators",
        ),
        (
            Refusal::CampaignClosed,
            Some("DEADLINE_PASSED"),
            "the campaign is closed",
        ),
        (
            Refusal::CampaignNotPublished,
            Some("INVALID_STATE"),
            "the campaign is not published",
        ),
        (
            Refusal::InviteOnly,
            Some("INVITE_ONLY"),
            "this campaign is by invitation only",
        ),
    ];
    for (refusal, reason, message) in cases {
        assert_eq!(
            reason_and_message(refusal),
            (reason, message.to_owned()),
            "{refusal:?}"
        );
    }
}

#[test]
fn refusing_a_side_is_permission_denied() {
    for (action, message) in [
        (
            Action::AcceptInvitation,
            "only the invited creator may accept an invitation",
        ),
        (
            Action::AcceptApplication,
            "only the campaign's advertiser may accept an application",
        ),
        (
            Action::DeclineInvitation,
            "the other side of the collaboration must decide",
        ),
        (
            Action::RejectApplication,
            "the other side of the collaboration must decide",
        ),
        (Action::Submit, "only the collaboration's creator submits"),
        (Action::Approve, "only the campaign's advertiser approves"),
        (
            Action::RequestChanges,
            "only the campaign's advertiser requests changes",
        ),
    ] {
        let err = MktError::from(Refusal::NotYourSide(action));
        assert!(
            matches!(
                &err,
                MktError::App(loop_platform::AppError::PermissionDenied(m)) if m == message
            ),
            "{action:?}: {err:?}"
        );
    }
}
