//! Conversions between chrono and protobuf times, and demographic helpers.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use loop_proto::common::v1::AgeBand;

use crate::error::AppError;

pub fn to_timestamp(dt: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: dt.timestamp(),
        nanos: i32::try_from(dt.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn opt_timestamp(dt: Option<DateTime<Utc>>) -> Option<prost_types::Timestamp> {
    dt.map(to_timestamp)
}

/// A required timestamp field.
pub fn from_timestamp(
    field: &str,
    ts: Option<&prost_types::Timestamp>,
) -> Result<DateTime<Utc>, AppError> {
    let ts = ts.ok_or_else(|| AppError::invalid(field, "is required"))?;
    let nanos =
        u32::try_from(ts.nanos).map_err(|_| AppError::invalid(field, "nanos out of range"))?;
    DateTime::from_timestamp(ts.seconds, nanos)
        .ok_or_else(|| AppError::invalid(field, "out of range"))
}

/// Whole years between `birth` and `today`.
pub fn age_on(birth: NaiveDate, today: NaiveDate) -> i32 {
    let mut age = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

/// The targeting/analytics age band of someone born on `birth`.
pub fn age_band(birth: NaiveDate, today: NaiveDate) -> AgeBand {
    match age_on(birth, today) {
        i32::MIN..=12 => AgeBand::Unspecified,
        13..=17 => AgeBand::AgeBand1317,
        18..=24 => AgeBand::AgeBand1824,
        25..=34 => AgeBand::AgeBand2534,
        35..=44 => AgeBand::AgeBand3544,
        45..=54 => AgeBand::AgeBand4554,
        _ => AgeBand::AgeBand55Plus,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    #[test]
    fn age_counts_birthdays() {
        assert_eq!(age_on(d(2000, 6, 15), d(2018, 6, 14)), 17);
        assert_eq!(age_on(d(2000, 6, 15), d(2018, 6, 15)), 18);
    }

    #[test]
    fn bands_have_inclusive_edges() {
        let today = d(2026, 1, 1);
        assert_eq!(age_band(d(2013, 1, 1), today), AgeBand::AgeBand1317);
        assert_eq!(age_band(d(2008, 1, 2), today), AgeBand::AgeBand1317);
        assert_eq!(age_band(d(2008, 1, 1), today), AgeBand::AgeBand1824);
        assert_eq!(age_band(d(1971, 1, 1), today), AgeBand::AgeBand55Plus);
        assert_eq!(age_band(d(2020, 1, 1), today), AgeBand::Unspecified);
    }

    #[test]
    fn timestamps_round_trip() {
        let now = Utc::now();
        let back = from_timestamp("t", Some(&to_timestamp(now))).expect("valid");
        assert_eq!(back, now);
        assert!(from_timestamp("starts_at", None).is_err());
    }
}
