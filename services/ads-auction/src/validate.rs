//! Field validation for advertiser requests. Every error names its field
//! the way the contract does (`targeting.countries[2]`).

use chrono::NaiveDate;
use loop_platform::AppError;
use loop_proto::ads_auction::v1 as pb;
use loop_proto::common::v1 as common;

pub type VResult<T> = Result<T, AppError>;

pub const MIN_CAMPAIGN_BUDGET_CENTS: i64 = 5_000;
pub const MIN_DAILY_BUDGET_CENTS: i64 = 2_000;
/// Largest budget or bid accepted (cents): $1e9, far from i64 overflow in millicents.
pub use loop_platform::money::{MAX_CENTS, cents};

pub fn text(field: &str, value: &str, min: usize, max: usize) -> VResult<String> {
    let v = value.trim();
    let n = v.chars().count();
    if n < min {
        return Err(AppError::invalid(field, "must not be empty"));
    }
    if n > max {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_owned())
}

pub fn idempotency_key(value: &str) -> VResult<String> {
    loop_platform::validate::idempotency_key("idempotency_key", value)
}

/// An https URL of at most 2048 characters without spaces.
pub fn https_url(field: &str, value: &str) -> VResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if v.len() > 2048 {
        return Err(AppError::invalid(field, "must be at most 2048 characters"));
    }
    match v.strip_prefix("https://") {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && !v.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(v.to_owned())
        }
        _ => Err(AppError::invalid(field, "must be an https:// URL")),
    }
}

pub fn country(field: &str, value: &str) -> VResult<String> {
    let v = value.trim().to_uppercase();
    if v.len() == 2 && v.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(v)
    } else {
        Err(AppError::invalid(
            field,
            "must be an ISO 3166-1 alpha-2 code such as \"US\"",
        ))
    }
}

/// A BCP 47 primary language subtag, lower-cased ("pt-BR" is refused: target "pt").
pub fn language(field: &str, value: &str) -> VResult<String> {
    let v = value.trim().to_lowercase();
    if (2..=3).contains(&v.len()) && v.chars().all(|c| c.is_ascii_lowercase()) {
        Ok(v)
    } else {
        Err(AppError::invalid(
            field,
            "must be a primary language subtag such as \"en\" or \"pt\"",
        ))
    }
}

/// The primary subtag of a user's language tag ("pt-BR" -> "pt"); empty when unknown.
pub fn primary_language(tag: &str) -> String {
    tag.split(['-', '_'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_lowercase()
}

pub use loop_platform::validate::hashtag;

/// A category name from content's taxonomy: trimmed, lower-cased, 1..100 chars.
pub fn category(field: &str, value: &str) -> VResult<String> {
    let v = value.trim().to_lowercase();
    if v.is_empty() || v.chars().count() > 100 || v.chars().any(char::is_control) {
        return Err(AppError::invalid(field, "must be 1 to 100 characters"));
    }
    Ok(v)
}

/// A UTC day `YYYY-MM-DD`.
pub fn date(field: &str, value: &str) -> VResult<NaiveDate> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::invalid(field, "must be a date YYYY-MM-DD"))
}

fn enum_in<T: TryFrom<i32>>(field: &str, value: i32) -> VResult<T> {
    if value == 0 {
        return Err(AppError::invalid(field, "is required"));
    }
    T::try_from(value).map_err(|_| AppError::invalid(field, "is not a known value"))
}

pub fn objective(value: i32) -> VResult<pb::CampaignObjective> {
    enum_in("objective", value)
}

pub fn format(value: i32) -> VResult<pb::AdFormat> {
    enum_in("format", value)
}

pub fn bid_type(value: i32) -> VResult<pb::BidType> {
    enum_in("bid_type", value)
}

pub fn call_to_action(value: i32) -> VResult<pb::CallToAction> {
    enum_in("call_to_action", value)
}

/// Normalises and checks a Targeting (each problem names its field).
pub fn targeting(t: Option<pb::Targeting>) -> VResult<pb::Targeting> {
    let Some(mut t) = t else {
        return Ok(pb::Targeting::default());
    };
    let mut seen = std::collections::HashSet::new();
    for (i, v) in t.age_bands.iter().enumerate() {
        if *v == 0 || common::AgeBand::try_from(*v).is_err() {
            return Err(AppError::invalid(
                format!("targeting.age_bands[{i}]"),
                "is not a known age band",
            ));
        }
        if !seen.insert(*v) {
            return Err(AppError::invalid(
                format!("targeting.age_bands[{i}]"),
                "is listed twice",
            ));
        }
    }
    seen.clear();
    for (i, v) in t.genders.iter().enumerate() {
        if *v == 0 || common::Gender::try_from(*v).is_err() {
            return Err(AppError::invalid(
                format!("targeting.genders[{i}]"),
                "is not a known gender",
            ));
        }
        if !seen.insert(*v) {
            return Err(AppError::invalid(
                format!("targeting.genders[{i}]"),
                "is listed twice",
            ));
        }
    }
    seen.clear();
    for (i, v) in t.device_os.iter().enumerate() {
        if *v == 0 || common::DeviceOs::try_from(*v).is_err() {
            return Err(AppError::invalid(
                format!("targeting.device_os[{i}]"),
                "is not a known device OS",
            ));
        }
        if !seen.insert(*v) {
            return Err(AppError::invalid(
                format!("targeting.device_os[{i}]"),
                "is listed twice",
            ));
        }
    }
    if t.countries.len() > 250 {
        return Err(AppError::invalid("targeting.countries", "at most 250"));
    }
    t.countries = t
        .countries
        .iter()
        .enumerate()
        .map(|(i, c)| country(&format!("targeting.countries[{i}]"), c))
        .collect::<VResult<_>>()?;
    dedupe(&mut t.countries);
    if t.languages.len() > 100 {
        return Err(AppError::invalid("targeting.languages", "at most 100"));
    }
    t.languages = t
        .languages
        .iter()
        .enumerate()
        .map(|(i, c)| language(&format!("targeting.languages[{i}]"), c))
        .collect::<VResult<_>>()?;
    dedupe(&mut t.languages);
    if t.interest_categories.len() > 20 {
        return Err(AppError::invalid(
            "targeting.interest_categories",
            "at most 20",
        ));
    }
    t.interest_categories = t
        .interest_categories
        .iter()
        .enumerate()
        .map(|(i, c)| category(&format!("targeting.interest_categories[{i}]"), c))
        .collect::<VResult<_>>()?;
    dedupe(&mut t.interest_categories);
    if t.behaviors.len() > 20 {
        return Err(AppError::invalid("targeting.behaviors", "at most 20"));
    }
    for (i, b) in t.behaviors.iter_mut().enumerate() {
        let kind = pb::BehaviorKind::try_from(b.kind).unwrap_or(pb::BehaviorKind::Unspecified);
        b.value = match kind {
            pb::BehaviorKind::Unspecified => {
                return Err(AppError::invalid(
                    format!("targeting.behaviors[{i}].kind"),
                    "is required",
                ));
            }
            pb::BehaviorKind::EngagedWithCategory => {
                category(&format!("targeting.behaviors[{i}].value"), &b.value)?
            }
            pb::BehaviorKind::EngagedWithHashtag => {
                hashtag(&format!("targeting.behaviors[{i}].value"), &b.value)?
            }
        };
        b.lookback_days = match b.lookback_days {
            0 => 7,
            1..=7 => b.lookback_days,
            _ => {
                return Err(AppError::invalid(
                    format!("targeting.behaviors[{i}].lookback_days"),
                    "must be 1..=7 (0 means 7)",
                ));
            }
        };
    }
    Ok(t)
}

fn dedupe(values: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    values.retain(|v| seen.insert(v.clone()));
}

/// Checks a schedule (except the time zone, which the database knows).
pub fn schedule(s: Option<&pb::Schedule>) -> VResult<pb::Schedule> {
    let s = s.ok_or_else(|| AppError::invalid("schedule", "is required"))?;
    let starts = loop_platform::time::from_timestamp("schedule.starts_at", s.starts_at.as_ref())?;
    if let Some(ends) = s.ends_at.as_ref() {
        let ends = loop_platform::time::from_timestamp("schedule.ends_at", Some(ends))?;
        if ends <= starts {
            return Err(AppError::invalid(
                "schedule.ends_at",
                "must be after schedule.starts_at",
            ));
        }
    }
    let mut seen = [false; 24];
    for (i, h) in s.active_hours.iter().enumerate() {
        let slot = seen.get_mut(*h as usize).ok_or_else(|| {
            AppError::invalid(format!("schedule.active_hours[{i}]"), "must be 0..=23")
        })?;
        if *slot {
            return Err(AppError::invalid(
                format!("schedule.active_hours[{i}]"),
                "is listed twice",
            ));
        }
        *slot = true;
    }
    let tz = s.time_zone.trim();
    if tz.len() > 64 || tz.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AppError::invalid(
            "schedule.time_zone",
            "must be an IANA time zone such as \"Europe/Paris\"",
        ));
    }
    let mut out = s.clone();
    out.time_zone = if tz.is_empty() {
        "UTC".into()
    } else {
        tz.to_owned()
    };
    out.active_hours.sort_unstable();
    Ok(out)
}

/// Whether an ad group that targets `age_bands` is adults-only (targets no minors).
pub fn adults_only(age_bands: &[i32]) -> bool {
    !age_bands.is_empty() && !age_bands.contains(&(common::AgeBand::AgeBand1317 as i32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: AppError) -> String {
        match err {
            AppError::InvalidArgument { field, .. } => field,
            other => panic!("not invalid: {other:?}"),
        }
    }

    #[test]
    fn targeting_errors_name_the_element() {
        let t = pb::Targeting {
            countries: vec!["US".into(), "fr".into(), "USA".into()],
            ..Default::default()
        };
        assert_eq!(
            field_of(targeting(Some(t)).expect_err("bad")),
            "targeting.countries[2]"
        );
        let t = pb::Targeting {
            behaviors: vec![pb::Behavior {
                kind: 2,
                value: "#Dance".into(),
                lookback_days: 9,
            }],
            ..Default::default()
        };
        assert_eq!(
            field_of(targeting(Some(t)).expect_err("bad")),
            "targeting.behaviors[0].lookback_days"
        );
        let ok = targeting(Some(pb::Targeting {
            countries: vec!["fr".into(), "FR".into()],
            languages: vec!["EN".into()],
            behaviors: vec![pb::Behavior {
                kind: 2,
                value: "#Dance".into(),
                lookback_days: 0,
            }],
            ..Default::default()
        }))
        .expect("valid");
        assert_eq!(ok.countries, vec!["FR"]);
        assert_eq!(ok.languages, vec!["en"]);
        assert_eq!(ok.behaviors[0].value, "dance");
        assert_eq!(ok.behaviors[0].lookback_days, 7);
    }

    #[test]
    fn schedules_and_urls() {
        let s = pb::Schedule {
            starts_at: Some(prost_types::Timestamp {
                seconds: 100,
                nanos: 0,
            }),
            ends_at: Some(prost_types::Timestamp {
                seconds: 50,
                nanos: 0,
            }),
            ..Default::default()
        };
        assert_eq!(
            field_of(schedule(Some(&s)).expect_err("bad")),
            "schedule.ends_at"
        );
        let s = pb::Schedule {
            starts_at: Some(prost_types::Timestamp {
                seconds: 100,
                nanos: 0,
            }),
            active_hours: vec![3, 24],
            ..Default::default()
        };
        assert_eq!(
            field_of(schedule(Some(&s)).expect_err("bad")),
            "schedule.active_hours[1]"
        );
        assert!(https_url("landing_url", "http://x.test").is_err());
        assert!(https_url("landing_url", "https://shop.test/a?b=c").is_ok());
        assert_eq!(primary_language("pt-BR"), "pt");
        assert!(adults_only(&[2, 3]));
        assert!(!adults_only(&[1, 2]));
        assert!(!adults_only(&[]));
    }
}
