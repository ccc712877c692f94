//! Invalid traffic: which reported clicks and views a delivered impression
//! does not back, decided before anything is billed.
//!
//! A click or a view is **valid** only if
//! - the impression of the same token was recorded first (in an earlier
//!   batch, or earlier in this one: ads.v1 is keyed by user, so one
//!   viewer's events arrive in order);
//! - for a click, it came at least `billing.min_click_delay_ms` after that
//!   impression (by the client's clock for both, so a real tap is never
//!   judged by batching delays), and the viewer has not already clicked
//!   this campaign `billing.max_clicks_per_user_per_campaign_per_day` times
//!   in the last day;
//! - it is the first of its kind on its impression (a repeat with another
//!   event id is invalid; the same event redelivered is nothing at all).
//!
//! A view counts (and bills, for CPV) only when watched for 6 seconds or the
//! whole creative when it is shorter, by the creative's duration: a client's
//! "completed" flag alone counts for nothing.
//!
//! Invalid events are recorded once in `ad_invalid_traffic`, counted in the
//! reports' `invalid_events`, and never charged.

use chrono::{DateTime, Duration, Utc};

/// The length of a billable view.
pub const BILLABLE_VIEW_MS: u32 = 6_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    /// Not an invalid event, just not a countable one (a short view).
    NotCounted,
    Invalid(&'static str),
}

/// The limits of [`judge`].
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub min_click_delay: Duration,
    pub max_clicks_per_user_per_campaign_per_day: u32,
}

/// What is known about one reported click or view.
#[derive(Debug, Clone, Copy)]
pub struct Reported {
    pub is_click: bool,
    pub occurred_at: DateTime<Utc>,
    /// Views: how long it was watched.
    pub watched_ms: u32,
    /// Views: the creative's duration (0 when unknown).
    pub duration_ms: u32,
    /// When its impression happened, if one was recorded.
    pub impression_at: Option<DateTime<Utc>>,
    /// Clicks: valid clicks of this viewer on this campaign in the last day.
    pub clicks_before: u32,
}

/// Judges one click or view (impressions are always valid deliveries).
pub fn judge(r: &Reported, rules: &Rules) -> Verdict {
    let Some(impression_at) = r.impression_at else {
        return Verdict::Invalid("no_impression");
    };
    if r.is_click {
        if r.occurred_at - impression_at < rules.min_click_delay {
            return Verdict::Invalid("too_fast");
        }
        if r.clicks_before >= rules.max_clicks_per_user_per_campaign_per_day {
            return Verdict::Invalid("click_flood");
        }
        return Verdict::Valid;
    }
    let needed = match r.duration_ms {
        0 => BILLABLE_VIEW_MS,
        d => d.min(BILLABLE_VIEW_MS),
    };
    if r.watched_ms >= needed {
        Verdict::Valid
    } else {
        Verdict::NotCounted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            min_click_delay: Duration::milliseconds(500),
            max_clicks_per_user_per_campaign_per_day: 3,
        }
    }

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).expect("time")
    }

    fn click(after_ms: i64, before: u32) -> Reported {
        Reported {
            is_click: true,
            occurred_at: at(after_ms),
            watched_ms: 0,
            duration_ms: 0,
            impression_at: Some(at(0)),
            clicks_before: before,
        }
    }

    #[test]
    fn clicks_need_an_impression_a_human_delay_and_a_sane_rate() {
        assert_eq!(judge(&click(2_000, 0), &rules()), Verdict::Valid);
        let orphan = Reported {
            impression_at: None,
            ..click(2_000, 0)
        };
        assert_eq!(judge(&orphan, &rules()), Verdict::Invalid("no_impression"));
        assert_eq!(
            judge(&click(100, 0), &rules()),
            Verdict::Invalid("too_fast")
        );
        // A click dated before its impression is not a person either.
        assert_eq!(
            judge(&click(-5_000, 0), &rules()),
            Verdict::Invalid("too_fast")
        );
        assert_eq!(judge(&click(2_000, 2), &rules()), Verdict::Valid);
        assert_eq!(
            judge(&click(2_000, 3), &rules()),
            Verdict::Invalid("click_flood")
        );
    }

    #[test]
    fn views_count_at_six_seconds_or_the_whole_of_a_shorter_creative() {
        let view = |watched_ms, duration_ms| Reported {
            is_click: false,
            occurred_at: at(10_000),
            watched_ms,
            duration_ms,
            impression_at: Some(at(0)),
            clicks_before: 0,
        };
        assert_eq!(judge(&view(6_000, 30_000), &rules()), Verdict::Valid);
        assert_eq!(judge(&view(5_999, 30_000), &rules()), Verdict::NotCounted);
        assert_eq!(judge(&view(4_000, 4_000), &rules()), Verdict::Valid);
        assert_eq!(judge(&view(3_000, 4_000), &rules()), Verdict::NotCounted);
        assert_eq!(judge(&view(5_000, 0), &rules()), Verdict::NotCounted);
        let orphan = Reported {
            impression_at: None,
            ..view(9_000, 0)
        };
        assert_eq!(judge(&orphan, &rules()), Verdict::Invalid("no_impression"));
    }
}
