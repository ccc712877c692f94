//! Domain rules every service applies the same way, so a value one service
//! accepts another never refuses (a `#café` video can be a required or
//! branded tag) and clients learn one rule per field.

use crate::AppError;

/// Shortest and longest video the platform publishes, in milliseconds:
/// content refuses others, and the media service cannot be configured to
/// accept uploads that content would then refuse.
pub const MIN_VIDEO_DURATION_MS: u32 = 1_000;
pub const MAX_VIDEO_DURATION_MS: u32 = 600_000;

/// Longest hashtag, in characters.
pub const MAX_HASHTAG_CHARS: usize = 100;

/// A hashtag: strips one leading '#' run, lower-cases, then 1 to
/// [`MAX_HASHTAG_CHARS`] Unicode letters, digits or '_'.
pub fn hashtag(field: &str, value: &str) -> Result<String, AppError> {
    let v = value.trim().trim_start_matches('#').to_lowercase();
    if v.is_empty() || v.chars().count() > MAX_HASHTAG_CHARS {
        return Err(AppError::invalid(
            field,
            format!("hashtags must be 1 to {MAX_HASHTAG_CHARS} characters"),
        ));
    }
    if !v.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(AppError::invalid(
            field,
            format!("hashtag \"{v}\" may contain only letters, digits and '_'"),
        ));
    }
    Ok(v)
}

/// A BCP 47-style language tag ("en", "pt-BR"): a 2-3 letter primary
/// subtag, then 2-8 character alphanumeric subtags, at most 35 bytes.
pub fn language_tag(field: &str, value: &str) -> Result<String, AppError> {
    let v = value.trim();
    let mut parts = v.split('-');
    let primary = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    let rest =
        parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if primary && rest && v.len() <= 35 {
        Ok(v.to_owned())
    } else {
        Err(AppError::invalid(
            field,
            "must be a language tag such as \"en\" or \"pt-BR\"",
        ))
    }
}

/// An idempotency key: 8 to 128 characters of `[A-Za-z0-9_:.-]` (a UUID
/// fits), the same for every mutating call of every service.
pub fn idempotency_key(field: &str, value: &str) -> Result<String, AppError> {
    if value.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if !(8..=128).contains(&value.len())
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-'))
    {
        return Err(AppError::invalid(
            field,
            "must be 8..128 characters of [A-Za-z0-9_:.-]",
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashtags_are_unicode_and_normalised() {
        assert_eq!(hashtag("h", " #Café ").ok().as_deref(), Some("café"));
        assert_eq!(hashtag("h", "##Dance_2").ok().as_deref(), Some("dance_2"));
        for bad in ["", "#", "two words", "a-b", &"x".repeat(101)] {
            assert!(hashtag("h", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn idempotency_keys_have_one_format() {
        let uuid = "0190f3c2-8e1a-7c3e-9a51-3f0b6c2d4e5f";
        assert_eq!(idempotency_key("k", uuid).ok().as_deref(), Some(uuid));
        for bad in [
            "",
            "short",
            "has space here",
            "ключ-ключ-ключ",
            &"k".repeat(129),
        ] {
            assert!(idempotency_key("k", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn language_tags_have_one_format() {
        for good in ["en", "pt-BR", "zh-Hant-TW", "yue"] {
            assert_eq!(language_tag("l", good).ok().as_deref(), Some(good));
        }
        for bad in [
            "",
            "e",
            "english",
            "en_US",
            "en-",
            "en-toolongsubtag",
            "fr-ça",
        ] {
            assert!(language_tag("l", bad).is_err(), "{bad:?}");
        }
    }
}
