//! Keyset pagination: the page token is the sort key of the last item,
//! serialized and base64url-encoded, so pages stay stable under inserts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::AppError;

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

/// The effective page size of a request: the default when 0, capped at the maximum.
pub fn page_size(requested: u32) -> i64 {
    i64::from(match requested {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    })
}

pub fn encode<T: Serialize>(key: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// Decodes a page token; an empty token is the first page (`None`).
pub fn decode<T: DeserializeOwned>(token: &str) -> Result<Option<T>, AppError> {
    if token.is_empty() {
        return Ok(None);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| AppError::invalid("page_token", "is not a token this API issued"))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|_| AppError::invalid("page_token", "is not a token this API issued"))
}

/// Splits a query result fetched with `limit + 1` rows into the page and the
/// next token.
pub fn finish<T, K: Serialize>(
    mut rows: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> K,
) -> (Vec<T>, String) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(|r| encode(&key(r))).unwrap_or_default();
        (rows, next)
    } else {
        (rows, String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_tokens() {
        let token = encode(&(42i64, "abc"));
        let back: Option<(i64, String)> = decode(&token).expect("decodes");
        assert_eq!(back, Some((42, "abc".to_string())));
        assert!(decode::<(i64, String)>("").expect("empty ok").is_none());
        let err = decode::<(i64, String)>("!!!").expect_err("garbage");
        assert!(err.to_string().starts_with("page_token"));
    }

    #[test]
    fn finish_sets_next_token_only_when_more() {
        let (page, next) = finish(vec![1, 2, 3], 2, |x| *x);
        assert_eq!(page, vec![1, 2]);
        assert_eq!(decode::<i32>(&next).expect("ok"), Some(2));
        let (page, next) = finish(vec![1, 2], 2, |x| *x);
        assert_eq!(page.len(), 2);
        assert!(next.is_empty());
    }

    #[test]
    fn page_size_defaults_and_caps() {
        assert_eq!(page_size(0), 20);
        assert_eq!(page_size(5), 5);
        assert_eq!(page_size(10_000), 100);
    }
}
