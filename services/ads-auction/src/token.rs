//! Impression tokens: `base64url(ImpressionTokenClaims) "." base64url(HMAC-SHA256)`
//! under a key only ads-auction holds (key id in the claims, so keys rotate).
//! The token fixes the price per billable event at serve time.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use loop_proto::ads_auction::v1::ImpressionTokenClaims;
use prost::Message;
use sha2::Sha256;

use crate::TokenConfig;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("bad token signature")]
    BadSignature,
}

/// Signs and verifies impression tokens.
#[derive(Clone)]
pub struct TokenKeys {
    active: String,
    keys: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(***)")
    }
}

impl TokenKeys {
    pub fn new(config: &TokenConfig) -> Self {
        Self {
            active: config.active_key.clone(),
            keys: config
                .keys
                .iter()
                .map(|(id, k)| (id.clone(), k.expose().as_bytes().to_vec()))
                .collect(),
        }
    }

    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    fn mac(&self, key_id: &str) -> Result<HmacSha256, TokenError> {
        let key = self.keys.get(key_id).ok_or(TokenError::UnknownKey)?;
        HmacSha256::new_from_slice(key).map_err(|_| TokenError::UnknownKey)
    }

    /// Signs `claims` (whose `key_id` is set to the active key).
    pub fn sign(&self, claims: &mut ImpressionTokenClaims) -> Result<String, TokenError> {
        claims.key_id.clone_from(&self.active);
        let payload = claims.encode_to_vec();
        let mut mac = self.mac(&self.active)?;
        mac.update(&payload);
        let sig = mac.finalize().into_bytes();
        Ok(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(sig)
        ))
    }

    /// Verifies the signature (constant time) and returns the claims; expiry
    /// and the user are the caller's to check.
    pub fn verify(&self, token: &str) -> Result<ImpressionTokenClaims, TokenError> {
        let (p, s) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| TokenError::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| TokenError::Malformed)?;
        let claims =
            ImpressionTokenClaims::decode(payload.as_slice()).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac(&claims.key_id)?;
        mac.update(&payload);
        mac.verify_slice(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loop_platform::config::Secret;

    fn keys(active: &str) -> TokenKeys {
        let mut keys = BTreeMap::new();
        keys.insert("k1".to_owned(), Secret::new("a".repeat(32)));
        keys.insert("k2".to_owned(), Secret::new("b".repeat(32)));
        TokenKeys::new(&TokenConfig {
            active_key: active.into(),
            keys,
            ttl_secs: 60,
        })
    }

    #[test]
    fn tokens_round_trip_rotate_and_resist_tampering() {
        let mut claims = ImpressionTokenClaims {
            impression_id: "imp".into(),
            user_id: "u".into(),
            price_millicents: 201,
            ..Default::default()
        };
        let old = keys("k1").sign(&mut claims).expect("sign");
        // After rotation to k2, tokens signed with k1 still verify.
        let back = keys("k2").verify(&old).expect("verify");
        assert_eq!(back.price_millicents, 201);
        assert_eq!(back.key_id, "k1");
        // Raising the price breaks the signature.
        let (_, sig) = old.split_once('.').expect("dot");
        let mut forged = back.clone();
        forged.price_millicents = 1;
        let forged = format!("{}.{sig}", URL_SAFE_NO_PAD.encode(forged.encode_to_vec()));
        assert_eq!(keys("k1").verify(&forged), Err(TokenError::BadSignature));
        assert_eq!(keys("k1").verify("nope"), Err(TokenError::Malformed));
    }
}
