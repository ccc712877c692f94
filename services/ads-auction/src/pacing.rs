//! Schedules and pacing: when an ad group may deliver, and how much of its
//! daily budget it may have used by now.
//!
//! The daily budget is spread evenly over the ad group's active time today
//! (its active hours in its time zone, clipped to the schedule's start and
//! end): by time `t` the pacer allows `daily x min(1, elapsed(t) / active +
//! burst)`. Time zones come from PostgreSQL's tz database as a current UTC
//! offset per zone (refreshed with the index), so no tz crate is needed;
//! around a DST switch a zone is off by an hour until the next refresh.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// When an ad group delivers, with its zone's current offset.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Bit h set = hour h (local) is active; 0 = every hour.
    pub active_hours: u32,
    pub utc_offset_secs: i32,
}

pub fn hours_mask(hours: &[i16]) -> u32 {
    hours
        .iter()
        .filter(|h| (0..24).contains(*h))
        .fold(0u32, |m, h| m | (1 << h))
}

impl Window {
    fn local(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::seconds(i64::from(self.utc_offset_secs))
    }

    /// The ad group's calendar day now (its time zone).
    pub fn local_day(&self, now: DateTime<Utc>) -> NaiveDate {
        self.local(now).date_naive()
    }

    fn hour_active(&self, hour: u32) -> bool {
        self.active_hours == 0 || self.active_hours & (1 << hour) != 0
    }

    pub fn started(&self, now: DateTime<Utc>) -> bool {
        now >= self.starts_at
    }

    pub fn ended(&self, now: DateTime<Utc>) -> bool {
        self.ends_at.is_some_and(|e| now >= e)
    }

    /// Inside the schedule and in an active hour.
    pub fn active_now(&self, now: DateTime<Utc>) -> bool {
        use chrono::Timelike;
        self.started(now) && !self.ended(now) && self.hour_active(self.local(now).hour())
    }

    /// Fraction of today's active time already elapsed; `None` when the ad
    /// group has no active time today.
    pub fn elapsed_fraction(&self, now: DateTime<Utc>) -> Option<f64> {
        let local_day = self.local_day(now);
        let midnight_local = local_day.and_hms_opt(0, 0, 0)?.and_utc();
        let midnight_utc = midnight_local - Duration::seconds(i64::from(self.utc_offset_secs));
        // The common case, all day and not clipped by the schedule today.
        if self.active_hours == 0
            && self.starts_at <= midnight_utc
            && self
                .ends_at
                .is_none_or(|e| e >= midnight_utc + Duration::days(1))
        {
            let elapsed = (now - midnight_utc).num_milliseconds();
            return Some((elapsed as f64 / 86_400_000.0).clamp(0.0, 1.0));
        }
        let (mut total, mut elapsed) = (0i64, 0i64);
        for hour in 0..24u32 {
            if !self.hour_active(hour) {
                continue;
            }
            let from = midnight_utc + Duration::hours(i64::from(hour));
            let to = from + Duration::hours(1);
            let from = from.max(self.starts_at);
            let to = self.ends_at.map_or(to, |e| to.min(e));
            if to <= from {
                continue;
            }
            total += (to - from).num_milliseconds();
            if now > from {
                elapsed += (now.min(to) - from).num_milliseconds();
            }
        }
        (total > 0).then(|| elapsed as f64 / total as f64)
    }

    /// What the pacer allows to be spent (or reserved) by now today.
    pub fn paced_target(&self, daily: i64, now: DateTime<Utc>, burst: f64) -> i64 {
        match self.elapsed_fraction(now) {
            Some(f) => ((f + burst).min(1.0) * daily as f64).floor() as i64,
            None => 0,
        }
    }
}

/// Fraction of the UTC day elapsed (TopView delivery pacing).
pub fn utc_day_fraction(now: DateTime<Utc>) -> f64 {
    use chrono::Timelike;
    f64::from(now.num_seconds_from_midnight()) / 86_400.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, h, m, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn all_day_pacing_is_linear() {
        let w = Window {
            starts_at: at(0, 0) - Duration::days(3),
            ends_at: None,
            active_hours: 0,
            utc_offset_secs: 0,
        };
        assert_eq!(w.paced_target(2_400_000, at(6, 0), 0.0), 600_000);
        assert_eq!(w.paced_target(2_400_000, at(6, 0), 0.05), 720_000);
        assert_eq!(w.paced_target(2_400_000, at(23, 59), 0.5), 2_400_000);
    }

    #[test]
    fn active_hours_in_the_local_zone() {
        // 09:00-11:00 in UTC+2 = 07:00-09:00 UTC.
        let w = Window {
            starts_at: at(0, 0) - Duration::days(3),
            ends_at: None,
            active_hours: hours_mask(&[9, 10]),
            utc_offset_secs: 7200,
        };
        assert!(!w.active_now(at(6, 59)));
        assert!(w.active_now(at(7, 0)));
        assert!(!w.active_now(at(9, 0)));
        assert_eq!(w.elapsed_fraction(at(8, 0)), Some(0.5));
        assert_eq!(w.paced_target(1000, at(6, 0), 0.0), 0);
    }

    #[test]
    fn the_schedule_clips_today() {
        // Starts at noon: the day's active time is 12h; at 18:00 half is gone.
        let w = Window {
            starts_at: at(12, 0),
            ends_at: None,
            active_hours: 0,
            utc_offset_secs: 0,
        };
        assert_eq!(w.elapsed_fraction(at(18, 0)), Some(0.5));
        assert!(!w.active_now(at(11, 0)));
        let ended = Window {
            ends_at: Some(at(13, 0)),
            ..w
        };
        assert!(ended.ended(at(13, 0)));
    }
}
