//! Which engagement counts: the one place that decides, for every event
//! `POST /v1/events` accepts and every like or unlike the like route
//! records, the credit consumers obey (see
//! `EngagementCredit` in proto/loop/events/v1/engagement.proto and
//! docs/security.md).
//!
//! - the creator's own video: `OWN_VIDEO`, never counted;
//! - a repeat of (user, video, kind) within the kind's window: `DUPLICATE`,
//!   ignored entirely (a like counts once; a view or impression once per
//!   30-minute session; the other kinds once a day);
//! - otherwise, with a valid serve token: `COUNTED`; without: `UNVERIFIED`
//!   (the user's own learning only).
//!
//! The window is a Redis key per (kind, user, video) set with `SET NX GET`
//! holding the event id that claimed it, so a client retrying the same
//! event (same `event_id`) gets the same credit, never a duplicate of
//! itself. When Redis cannot answer, nothing is credited (`UNVERIFIED`):
//! a count is never made without its dedupe. When the batch cannot be
//! published the claimed windows are released ([`release`]), so a retry
//! with new event ids is not refused as its own duplicate.

use std::time::Duration;

use loop_proto::events::v1::{EngagementCredit, EngagementEvent, EngagementKind};

use crate::AppState;

/// How long a repeat of the same kind stays a duplicate.
pub fn window(kind: EngagementKind) -> Duration {
    const MINUTE: u64 = 60;
    const DAY: u64 = 24 * 60 * MINUTE;
    Duration::from_secs(match kind {
        EngagementKind::Like | EngagementKind::Unlike => 365 * DAY,
        EngagementKind::View | EngagementKind::Impression => 30 * MINUTE,
        _ => DAY,
    })
}

pub fn name(credit: EngagementCredit) -> &'static str {
    match credit {
        EngagementCredit::Counted => "counted",
        EngagementCredit::Unverified | EngagementCredit::Unspecified => "unverified",
        EngagementCredit::Duplicate => "duplicate",
        EngagementCredit::OwnVideo => "own_video",
    }
}

fn window_key(st: &AppState, user_id: &str, e: &EngagementEvent) -> String {
    st.redis.key_of(&[
        "engaged:",
        e.kind().as_str_name(),
        ":",
        user_id,
        ":",
        &e.video_id,
    ])
}

/// Gives back the windows `events` claimed when they could not be published:
/// a retry (even with new event ids) then earns the credit instead of being
/// its own duplicate. Only a key still holding the event's id is released.
pub async fn release(st: &AppState, user_id: &str, events: &[EngagementEvent]) {
    static RELEASE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
        redis::Script::new(
            "for i, key in ipairs(KEYS) do \
               if redis.call('GET', key) == ARGV[i] then redis.call('DEL', key) end \
             end return 0",
        )
    });
    let claimed: Vec<&EngagementEvent> = events
        .iter()
        .filter(|e| {
            e.credit() != EngagementCredit::OwnVideo && e.credit() != EngagementCredit::Duplicate
        })
        .collect();
    if claimed.is_empty() {
        return;
    }
    let mut invocation = RELEASE.prepare_invoke();
    for e in &claimed {
        invocation.key(window_key(st, user_id, e)).arg(&e.event_id);
    }
    let mut conn = st.redis.conn.clone();
    let released = tokio::time::timeout(
        Duration::from_millis(500),
        invocation.invoke_async::<i64>(&mut conn),
    )
    .await;
    if !matches!(released, Ok(Ok(_))) {
        tracing::warn!(?released, "could not release engagement windows");
    }
}

/// Sets `credit` on each event; `served[i]` says whether event i presented
/// a valid serve token of its video for this user.
pub async fn assign(st: &AppState, user_id: &str, events: &mut [EngagementEvent], served: &[bool]) {
    let mut pipe = redis::pipe();
    let mut claimed = Vec::new();
    for (i, e) in events.iter_mut().enumerate() {
        if e.creator_id == user_id {
            e.set_credit(EngagementCredit::OwnVideo);
            continue;
        }
        pipe.cmd("SET")
            .arg(window_key(st, user_id, e))
            .arg(&e.event_id)
            .arg("NX")
            .arg("GET")
            .arg("EX")
            .arg(window(e.kind()).as_secs());
        claimed.push(i);
    }
    if claimed.is_empty() {
        return;
    }
    if st.credit_breaker.is_open() {
        return;
    }
    let mut conn = st.redis.conn.clone();
    // Longer than the limiter's budget: a credit lost to a slow moment is a
    // creator's view lost; a dead Redis is skipped above without waiting.
    let timeout = Duration::from_millis(500);
    let previous: Vec<Option<String>> =
        match tokio::time::timeout(timeout, pipe.query_async(&mut conn)).await {
            Ok(Ok(values)) => values,
            outcome => {
                tracing::warn!(?outcome, "engagement dedupe unavailable; crediting nothing");
                st.credit_breaker.trip();
                return;
            }
        };
    // Two events of one batch on the same key: the pipeline ran in order,
    // so the second already sees the first's id.
    for (i, before) in claimed.into_iter().zip(previous) {
        let e = &mut events[i];
        let first = before.as_deref().is_none_or(|id| id == e.event_id);
        let credit = match (first, served[i]) {
            (false, _) => EngagementCredit::Duplicate,
            (true, true) => EngagementCredit::Counted,
            (true, false) => EngagementCredit::Unverified,
        };
        e.set_credit(credit);
    }
}
