//! Field validation for content requests. Every error names its field.

use chrono::{Datelike, NaiveDate, Utc};
use loop_platform::AppError;

pub fn handle(value: &str) -> Result<String, AppError> {
    let v = value.trim().to_lowercase();
    if !(3..=24).contains(&v.chars().count()) {
        return Err(AppError::invalid("handle", "must be 3 to 24 characters"));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
    {
        return Err(AppError::invalid(
            "handle",
            "may contain only a-z, 0-9, '_' and '.'",
        ));
    }
    Ok(v)
}

pub fn password(value: &str) -> Result<(), AppError> {
    match value.chars().count() {
        0..=7 => Err(AppError::invalid(
            "password",
            "must be at least 8 characters",
        )),
        8..=128 => Ok(()),
        _ => Err(AppError::invalid(
            "password",
            "must be at most 128 characters",
        )),
    }
}

pub fn text(field: &str, value: &str, min: usize, max: usize) -> Result<String, AppError> {
    let v = value.trim();
    let n = v.chars().count();
    if n < min {
        return Err(AppError::invalid(
            field,
            if min <= 1 {
                "must not be empty".to_string()
            } else {
                format!("must be at least {min} characters")
            },
        ));
    }
    if n > max {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_owned())
}

/// A birth date (YYYY-MM-DD) at least 13 years ago and not before 1900.
pub fn birth_date(value: &str) -> Result<NaiveDate, AppError> {
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| AppError::invalid("birth_date", "must be a date YYYY-MM-DD"))?;
    let today = Utc::now().date_naive();
    if date > today || date.year() < 1900 {
        return Err(AppError::invalid(
            "birth_date",
            "is not a plausible birth date",
        ));
    }
    if loop_platform::time::age_on(date, today) < 13 {
        return Err(AppError::invalid(
            "birth_date",
            "users must be at least 13 years old",
        ));
    }
    Ok(date)
}

/// ISO 3166-1 alpha-2, returned upper-case.
pub fn country(value: &str) -> Result<String, AppError> {
    let v = value.trim().to_uppercase();
    if v.len() == 2 && v.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(v)
    } else {
        Err(AppError::invalid(
            "country",
            "must be an ISO 3166-1 alpha-2 code such as \"US\"",
        ))
    }
}

/// A BCP 47-style tag ("en", "pt-BR"): the platform's one rule.
pub fn language(value: &str) -> Result<String, AppError> {
    loop_platform::validate::language_tag("language", value)
}

pub use loop_platform::validate::hashtag;

/// The #tags written in a caption, lower-cased, in order of appearance.
pub fn caption_hashtags(caption: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = caption;
    while let Some(pos) = rest.find('#') {
        rest = &rest[pos + 1..];
        let tag: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !tag.is_empty() && tag.chars().count() <= 100 {
            out.push(tag.to_lowercase());
        }
    }
    out
}

/// Most hashtags on one video.
pub const MAX_HASHTAGS: usize = 30;

/// Union of explicit and caption hashtags, deduplicated, at most
/// [`MAX_HASHTAGS`]. The work is bounded by the cap, not by the input: a
/// list longer than the cap is refused before any tag is looked at, and the
/// union stops at the first tag past the cap.
pub fn video_hashtags(explicit: &[String], caption: &str) -> Result<Vec<String>, AppError> {
    let too_many = || {
        AppError::invalid(
            "hashtags",
            format!("at most {MAX_HASHTAGS} hashtags per video"),
        )
    };
    if explicit.len() > MAX_HASHTAGS {
        return Err(too_many());
    }
    let mut tags: Vec<String> = Vec::with_capacity(MAX_HASHTAGS);
    let caption_tags = caption_hashtags(caption);
    let explicit_tags = explicit
        .iter()
        .map(|t| hashtag("hashtags", t))
        .collect::<Result<Vec<_>, _>>()?;
    for t in explicit_tags.into_iter().chain(caption_tags) {
        if !tags.contains(&t) {
            if tags.len() == MAX_HASHTAGS {
                return Err(too_many());
            }
            tags.push(t);
        }
    }
    Ok(tags)
}

pub fn media_url(value: &str) -> Result<String, AppError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(AppError::invalid("media_url", "is required"));
    }
    if v.len() > 2048 {
        return Err(AppError::invalid(
            "media_url",
            "must be at most 2048 characters",
        ));
    }
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !v.chars().any(char::is_whitespace) => Ok(v.to_owned()),
        _ => Err(AppError::invalid("media_url", "must be an http(s) URL")),
    }
}

pub fn duration_ms(field: &str, value: u32) -> Result<i32, AppError> {
    use loop_platform::validate::{MAX_VIDEO_DURATION_MS, MIN_VIDEO_DURATION_MS};
    if !(MIN_VIDEO_DURATION_MS..=MAX_VIDEO_DURATION_MS).contains(&value) {
        return Err(AppError::invalid(
            field,
            format!(
                "must be between 1 second and 10 minutes ({MIN_VIDEO_DURATION_MS}..={MAX_VIDEO_DURATION_MS} ms)"
            ),
        ));
    }
    i32::try_from(value).map_err(|_| AppError::invalid(field, "out of range"))
}

/// Interests picked at sign-up: at most 20 hashtag-like names.
pub fn interests(values: &[String]) -> Result<Vec<String>, AppError> {
    if values.len() > 20 {
        return Err(AppError::invalid(
            "declared_interests",
            "at most 20 interests",
        ));
    }
    let mut out = Vec::new();
    for v in values {
        let v = hashtag("declared_interests", v)?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

/// A category name (same rules as a hashtag), or empty.
pub fn category(value: &str) -> Result<String, AppError> {
    if value.trim().is_empty() {
        Ok(String::new())
    } else {
        hashtag("category", value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles() {
        assert_eq!(handle(" Alice_01 ").expect("valid"), "alice_01");
        assert!(handle("ab").is_err());
        assert!(handle("has space").is_err());
        assert!(handle(&"a".repeat(25)).is_err());
    }

    #[test]
    fn caption_tags_are_extracted_and_merged() {
        assert_eq!(
            caption_hashtags("Hi #Dance and #cooking_tips! #"),
            vec!["dance", "cooking_tips"]
        );
        let tags =
            video_hashtags(&["#fun".into(), "dance".into()], "go #dance #Party").expect("valid");
        assert_eq!(tags, vec!["fun", "dance", "party"]);
        let too_many: Vec<String> = (0..31).map(|i| format!("t{i}")).collect();
        let err = video_hashtags(&too_many, "").expect_err("too many");
        assert!(err.to_string().starts_with("hashtags"));
        assert!(video_hashtags(&["bad tag".into()], "").is_err());
    }

    #[test]
    fn birth_dates_require_thirteen_years() {
        assert!(birth_date("2000-01-01").is_ok());
        assert!(birth_date("2000-13-01").is_err());
        let recent = (Utc::now().date_naive() - chrono::Duration::days(365 * 5))
            .format("%Y-%m-%d")
            .to_string();
        let err = birth_date(&recent).expect_err("too young");
        assert!(err.to_string().contains("13"));
    }

    #[test]
    fn urls_countries_languages() {
        assert!(media_url("https://cdn.loop.test/v/1.mp4").is_ok());
        assert!(media_url("ftp://x").is_err());
        assert!(media_url("https://").is_err());
        assert_eq!(country("us").expect("valid"), "US");
        assert!(country("USA").is_err());
        assert!(language("pt-BR").is_ok());
        assert!(language("english!").is_err());
    }

    #[test]
    fn text_limits_name_the_field() {
        let err = text("caption", "   ", 1, 10).expect_err("empty");
        assert_eq!(err.to_string(), "caption: must not be empty");
        let err = text("caption", &"x".repeat(11), 1, 10).expect_err("long");
        assert_eq!(err.to_string(), "caption: must be at most 10 characters");
    }
}
