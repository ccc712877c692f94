//! Signed playback URLs: an HMAC-SHA256 over an upload id and an expiry,
//! shared by the gateway (which signs the URLs it hands to viewers and
//! checks them at its media edge) and the media service (which checks them
//! again before returning a byte). Whoever holds a valid, unexpired
//! signature may read that upload's outputs until it expires; nobody else.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The development key (refused outside LOOP_ENV=development by both services).
pub const DEV_URL_KEY: &str = "loop-dev-playback-url-key-0123456789abcdef";

/// The largest upload chunk the gateway forwards in one AppendChunk: every
/// media service accepts at least this much (its `uploads.max_chunk_bytes`
/// may not be smaller), so the two limits cannot disagree.
pub const MAX_FORWARDED_CHUNK_BYTES: usize = 1024 * 1024;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    Expired,
    Invalid,
}

fn mac(key: &[u8], upload_id: &str, expires: u64) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"loop-playback-v1\0");
    mac.update(upload_id.as_bytes());
    mac.update(b"\0");
    mac.update(expires.to_string().as_bytes());
    mac
}

/// The URL-safe signature of `upload_id` until `expires` (Unix seconds).
pub fn sign(key: &[u8], upload_id: &str, expires: u64) -> String {
    URL_SAFE_NO_PAD.encode(mac(key, upload_id, expires).finalize().into_bytes())
}

/// Checks `signature` (constant time), then the expiry against `now`.
pub fn verify(
    key: &[u8],
    upload_id: &str,
    expires: u64,
    signature: &str,
    now: u64,
) -> Result<(), UrlError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| UrlError::Invalid)?;
    mac(key, upload_id, expires)
        .verify_slice(&bytes)
        .map_err(|_| UrlError::Invalid)?;
    if expires <= now {
        return Err(UrlError::Expired);
    }
    Ok(())
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_signed_id_and_expiry_verify_and_only_until_then() {
        let key = DEV_URL_KEY.as_bytes();
        let id = "0193a0c4-1111-7000-8000-000000000001";
        let sig = sign(key, id, 2_000);
        assert_eq!(verify(key, id, 2_000, &sig, 1_000), Ok(()));
        assert_eq!(verify(key, id, 2_000, &sig, 2_000), Err(UrlError::Expired));
        assert_eq!(verify(key, id, 2_001, &sig, 1_000), Err(UrlError::Invalid));
        assert_eq!(
            verify(key, "other", 2_000, &sig, 1_000),
            Err(UrlError::Invalid)
        );
        assert_eq!(
            verify(b"another key of 32 bytes at least!", id, 2_000, &sig, 1_000),
            Err(UrlError::Invalid)
        );
        assert_eq!(
            verify(key, id, 2_000, "not base64!", 1_000),
            Err(UrlError::Invalid)
        );
    }
}
