//! Serve tokens: proof that a video was served to a user.
//!
//! Every For You and Following item carries one, signed here when the page
//! is served (user, video, its creator, position, time) and checked here when
//! the client reports engagement with it (`POST /v1/events`, field
//! `serve_token`). Only the gateway signs and checks them, so the key is an
//! HMAC key that never leaves it (`serve_tokens.keys`, rotated by `kid`).
//! What an event without a valid token may still do, and the dedupe windows,
//! are in [`credit`] and docs/security.md.

use std::collections::BTreeMap;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use loop_platform::config::Secret;
use serde::{Deserialize, Serialize};

/// The audience of serve tokens (never accepted as API credentials).
pub const AUDIENCE: &str = "loop-serve";
/// Accepted only when `LOOP_ENV=development`.
pub const DEV_SERVE_TOKEN_KEY: &str = "loop-dev-serve-token-key-change-me-0123456789";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServeTokenConfig {
    /// The key id new tokens are signed with.
    pub active_key: String,
    /// HMAC keys by id (32+ bytes each); keep the previous one while rotating.
    pub keys: BTreeMap<String, Secret<String>>,
    /// How long engagement with a served item can still be credited.
    pub ttl_secs: u64,
}

impl Default for ServeTokenConfig {
    fn default() -> Self {
        Self {
            active_key: "k1".into(),
            keys: BTreeMap::from([("k1".into(), Secret::new(DEV_SERVE_TOKEN_KEY.into()))]),
            ttl_secs: 24 * 3600,
        }
    }
}

impl ServeTokenConfig {
    pub fn validate_into(&self, problems: &mut Vec<String>) {
        if !self.keys.contains_key(&self.active_key) {
            problems.push("serve_tokens.active_key: must name one of serve_tokens.keys".into());
        }
        for (id, key) in &self.keys {
            if key.expose().len() < 32 {
                problems.push(format!("serve_tokens.keys.{id}: must be at least 32 bytes"));
            }
        }
        if !(60..=7 * 24 * 3600).contains(&self.ttl_secs) {
            problems.push("serve_tokens.ttl_secs: must be 60..=604800".into());
        }
    }

    pub fn development_only(&self, out: &mut Vec<String>) {
        for (id, key) in &self.keys {
            if key.expose() == DEV_SERVE_TOKEN_KEY {
                out.push(format!("serve_tokens.keys.{id}"));
            }
        }
    }
}

/// What a serve token says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Served {
    /// The user it was served to.
    pub sub: String,
    /// The video.
    pub vid: String,
    /// The video's creator (self-engagement is known without a lookup).
    pub cid: String,
    /// Position in the page.
    pub pos: u32,
    /// The ranker's features of the item (`FeedItem.features`), carried
    /// back on engagement so the ranker learns from what it served.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub f: Vec<f32>,
    pub iat: u64,
    pub exp: u64,
    pub aud: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeTokenError {
    Invalid,
    Expired,
}

pub struct ServeTokens {
    active: String,
    encoding: EncodingKey,
    decoding: BTreeMap<String, DecodingKey>,
    ttl: Duration,
}

impl ServeTokens {
    pub fn new(config: &ServeTokenConfig) -> Self {
        let secret = |id: &str| {
            config
                .keys
                .get(id)
                .map(|k| k.expose().as_bytes().to_vec())
                .unwrap_or_default()
        };
        Self {
            active: config.active_key.clone(),
            encoding: EncodingKey::from_secret(&secret(&config.active_key)),
            decoding: config
                .keys
                .keys()
                .map(|id| (id.clone(), DecodingKey::from_secret(&secret(id))))
                .collect(),
            ttl: Duration::from_secs(config.ttl_secs),
        }
    }

    pub fn sign(&self, user: &str, video: &str, creator: &str, position: u32) -> String {
        self.sign_with(user, video, creator, position, &[])
    }

    /// A token that also carries the ranker's `features` of the item (at
    /// most 16, each finite; anything else is left out).
    pub fn sign_with(
        &self,
        user: &str,
        video: &str,
        creator: &str,
        position: u32,
        features: &[f32],
    ) -> String {
        let f = if features.len() <= 16 && features.iter().all(|x| x.is_finite()) {
            features.to_vec()
        } else {
            Vec::new()
        };
        let iat = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.active.clone());
        let claims = Served {
            sub: user.to_owned(),
            vid: video.to_owned(),
            cid: creator.to_owned(),
            pos: position,
            f,
            iat,
            exp: iat + self.ttl.as_secs(),
            aud: AUDIENCE.to_owned(),
        };
        // HMAC signing of a serialisable struct cannot fail.
        jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap_or_default()
    }

    /// The claims of a token this gateway signed, if it is still valid.
    pub fn verify(&self, token: &str) -> Result<Served, ServeTokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| ServeTokenError::Invalid)?;
        let key = header
            .kid
            .and_then(|kid| self.decoding.get(&kid))
            .ok_or(ServeTokenError::Invalid)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 5;
        jsonwebtoken::decode::<Served>(token, key, &validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => ServeTokenError::Expired,
                _ => ServeTokenError::Invalid,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_a_trusted_key_and_rotate() {
        let tokens = ServeTokens::new(&ServeTokenConfig::default());
        let t = tokens.sign("u1", "v1", "c1", 3);
        let served = tokens.verify(&t).expect("valid");
        assert_eq!(
            (served.sub.as_str(), served.vid.as_str(), served.pos),
            ("u1", "v1", 3)
        );
        assert!(served.f.is_empty());
        // The ranker's features ride along, exactly.
        let features = [0.812, -0.25, 0.0, 1.0, 0.0, 0.0, 1.123];
        let with = tokens.sign_with("u1", "v1", "c1", 3, &features);
        assert_eq!(tokens.verify(&with).expect("valid").f, features);
        // Tampered: invalid.
        let mut parts: Vec<&str> = t.split('.').collect();
        parts[2] = "AAAA";
        assert_eq!(
            tokens.verify(&parts.join(".")),
            Err(ServeTokenError::Invalid)
        );
        // A new active key still accepts tokens of the old one while listed.
        let mut rotated = ServeTokenConfig::default();
        rotated.keys.insert(
            "k2".into(),
            Secret::new("another-serve-key-0123456789-abcdef".into()),
        );
        rotated.active_key = "k2".into();
        let next = ServeTokens::new(&rotated);
        assert!(next.verify(&t).is_ok());
        rotated.keys.remove("k1");
        assert_eq!(
            ServeTokens::new(&rotated).verify(&t),
            Err(ServeTokenError::Invalid)
        );
        // An API token is not a serve token.
        let api = loop_platform::auth::JwtKeys::development("gateway").issue(
            "u1",
            loop_platform::auth::Role::Viewer,
            Duration::from_secs(60),
        );
        assert_eq!(tokens.verify(&api), Err(ServeTokenError::Invalid));
    }
}
