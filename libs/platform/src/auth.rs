//! Identity: EdDSA (Ed25519) JWTs, signed and verified with `jsonwebtoken`.
//!
//! Who may sign what is the point of this module:
//! - only the gateway holds the private key that signs **user** tokens
//!   (viewer, creator, advertiser, admin); it issues them at login;
//! - each service that calls another holds **its own** private key and can
//!   sign only tokens that name itself (`sub = "service:<name>"`,
//!   `iss = "<name>"`), so a compromised ranker can neither mint a user or
//!   admin token nor pass for the ads auction;
//! - every service holds only **public** keys (a JWKS), each key's id naming
//!   its issuer (`kid = "<issuer>:<label>"`, e.g. `gateway:2026-12`). A token
//!   verifies only with a key of the issuer it claims, and a user role only
//!   from the gateway. Several keys per issuer may be trusted at once, which
//!   is how keys rotate (docs/security.md).
//!
//! Clients send user tokens as `Authorization: Bearer`; the gateway forwards
//! the same token in the `authorization` gRPC metadata, so each service
//! verifies the caller itself instead of trusting a header anyone on the
//! network could set. The gateway refuses service tokens from clients.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::AppError;

/// The issuer of user tokens.
pub const USER_ISSUER: &str = "gateway";
/// The audience of tokens that authenticate API calls.
pub const API_AUDIENCE: &str = "loop-api";
/// Every issuer Loop has: the gateway (users) and each service (itself).
pub const ISSUERS: &[&str] = &[
    "gateway",
    "content",
    "feed-ranking",
    "wallet",
    "ads-auction",
    "creator-marketplace",
    "commerce",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Creator,
    Advertiser,
    Admin,
    /// Another Loop service acting on its own behalf.
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Creator => "creator",
            Self::Advertiser => "advertiser",
            Self::Admin => "admin",
            Self::Service => "service",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "viewer" => Ok(Self::Viewer),
            "creator" => Ok(Self::Creator),
            "advertiser" => Ok(Self::Advertiser),
            "admin" => Ok(Self::Admin),
            "service" => Ok(Self::Service),
            _ => Err(()),
        }
    }
}

/// The claims of an API token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// `gateway` for user tokens, the service's name for service tokens.
    pub iss: String,
    /// The user id (a UUID), or `service:<name>` for role `service`.
    pub sub: String,
    pub aud: String,
    pub role: Role,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Expires at, seconds since the epoch.
    pub exp: u64,
}

/// The subject of a service's own tokens.
pub fn service_subject(issuer: &str) -> String {
    format!("service:{issuer}")
}

/// Who is calling, as established from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub role: Role,
    /// The raw token, so a service can act on the caller's behalf downstream.
    pub token: String,
}

impl Caller {
    /// The caller's user id; service callers have none.
    pub fn user_id(&self) -> Result<Uuid, AppError> {
        Uuid::parse_str(&self.subject)
            .map_err(|_| AppError::PermissionDenied("a user token is required".into()))
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn is_privileged(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Service)
    }

    /// The calling service's name (`ads-auction`), when the caller is a service.
    pub fn service(&self) -> Option<&str> {
        (self.role == Role::Service)
            .then(|| self.subject.strip_prefix("service:"))
            .flatten()
    }

    pub fn require_role(&self, allowed: &[Role]) -> Result<(), AppError> {
        if allowed.contains(&self.role) || self.role == Role::Admin {
            Ok(())
        } else {
            let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
            Err(AppError::PermissionDenied(format!(
                "this call requires role {}",
                names.join(" or ")
            )))
        }
    }

    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AppError::PermissionDenied("admin only".into()))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("bad token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token signed by an unknown key")]
    UnknownKey,
    #[error("token not valid for this use")]
    WrongUse,
}

/// Why a key could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a JSON Web Key: {0}")]
    Json(String),
    #[error("only OKP/Ed25519 keys are supported")]
    Unsupported,
    #[error("kid must be '<issuer>:<label>' with a known issuer ({})", ISSUERS.join(", "))]
    Kid,
    #[error("the key material is not valid base64url of 32 bytes")]
    Material,
    #[error("the private key does not match its public key x")]
    Mismatch,
}

/// A JSON Web Key (RFC 7517/8037) of type OKP, curve Ed25519; `d` only in
/// private keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub kid: String,
    pub x: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

/// A JWKS document: `{"keys": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// The issuer a key id names, if it is well formed and known.
pub fn kid_issuer(kid: &str) -> Option<&'static str> {
    let (issuer, label) = kid.split_once(':')?;
    let label_ok = (1..=64).contains(&label.len())
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !label_ok {
        return None;
    }
    ISSUERS.iter().copied().find(|i| *i == issuer)
}

fn decode32(text: &str) -> Result<[u8; 32], KeyError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
        .ok_or(KeyError::Material)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A private Ed25519 key that signs as one issuer.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    issuer: &'static str,
    seed: [u8; 32],
    encoding: EncodingKey,
    x: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, ***)", self.kid)
    }
}

impl SigningKey {
    /// The key with private `seed`, named `kid` (`<issuer>:<label>`).
    pub fn from_seed(kid: &str, seed: [u8; 32]) -> Result<Self, KeyError> {
        let issuer = kid_issuer(kid).ok_or(KeyError::Kid)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let der = key.to_pkcs8_der().map_err(|_| KeyError::Material)?;
        Ok(Self {
            kid: kid.to_owned(),
            issuer,
            seed,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            x: URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
        })
    }

    /// A fresh random key for `issuer`, labelled `label`.
    pub fn generate(issuer: &str, label: &str) -> Result<Self, KeyError> {
        Self::from_seed(&format!("{issuer}:{label}"), rand::random())
    }

    /// The well-known development key of `issuer` (one of [`ISSUERS`]; panics
    /// on another name): derived from its name, so anyone can sign with it. Accepted only when `LOOP_ENV=development`
    /// (see [`crate::config::Environment`]).
    pub fn development(issuer: &str) -> Self {
        let seed: [u8; 32] =
            Sha256::digest(format!("loop-development-signing-key/{issuer}").as_bytes()).into();
        let kid = format!("{issuer}:development");
        #[allow(clippy::expect_used)] // callers name one of ISSUERS, a fixed list
        Self::from_seed(&kid, seed).expect("development keys exist for every Loop issuer")
    }

    /// Parses a private JWK (`{"kty":"OKP","crv":"Ed25519","kid","x","d"}`).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let jwk: Jwk =
            serde_json::from_str(text.trim()).map_err(|e| KeyError::Json(e.to_string()))?;
        if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
            return Err(KeyError::Unsupported);
        }
        let d = jwk.d.as_deref().ok_or(KeyError::Material)?;
        let key = Self::from_seed(&jwk.kid, decode32(d)?)?;
        if key.x != jwk.x {
            return Err(KeyError::Mismatch);
        }
        Ok(key)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn issuer(&self) -> &'static str {
        self.issuer
    }

    /// The private JWK, for `loopctl keys generate` (print it only to the operator).
    pub fn private_jwk(&self) -> Jwk {
        Jwk {
            d: Some(URL_SAFE_NO_PAD.encode(self.seed)),
            ..self.public_jwk()
        }
    }

    /// The public JWK, to add to every verifier's trusted keys.
    pub fn public_jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            kid: self.kid.clone(),
            x: self.x.clone(),
            d: None,
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
        }
    }

    /// Signs `claims` (which must carry `iss` = this key's issuer, `aud` and
    /// `exp` for a verifier to accept them).
    pub fn sign<C: Serialize>(&self, claims: &C) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        // The key was checked when it was built, so signing cannot fail; an
        // empty token would only ever be refused downstream.
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap_or_default()
    }
}

/// The public keys a service trusts, by key id.
#[derive(Clone, Default)]
pub struct Verifier {
    keys: Arc<HashMap<String, (&'static str, DecodingKey)>>,
    /// API tokens this verifier accepted, by their exact text, until they
    /// expire (as Envoy's `jwt_authn` caches verified tokens): a client
    /// sends the same token on every call, and an Ed25519 verification
    /// costs tens of microseconds of CPU. Sound because nothing else can
    /// change a token's answer before its expiry: the keys of a verifier
    /// never change (a new key set is a new verifier) and the platform has
    /// no revocation of single tokens.
    verified: Arc<parking_lot::Mutex<HashMap<String, Claims>>>,
}

/// Verified tokens a [`Verifier`] remembers at most (then forgets all at
/// once: a bounded memory, ~0.5 KB a token).
const VERIFIED_MAX: usize = 16_384;

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        write!(f, "Verifier({kids:?})")
    }
}

impl Verifier {
    /// Trusts every key of `set` (public parts only are read).
    pub fn from_set(set: &JwkSet) -> Result<Self, KeyError> {
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
                return Err(KeyError::Unsupported);
            }
            let issuer = kid_issuer(&jwk.kid).ok_or(KeyError::Kid)?;
            decode32(&jwk.x)?;
            let key = DecodingKey::from_ed_components(&jwk.x).map_err(|_| KeyError::Material)?;
            keys.insert(jwk.kid.clone(), (issuer, key));
        }
        Ok(Self {
            keys: Arc::new(keys),
            verified: Arc::default(),
        })
    }

    /// Parses a JWKS document.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let set: JwkSet =
            serde_json::from_str(text.trim()).map_err(|e| KeyError::Json(e.to_string()))?;
        Self::from_set(&set)
    }

    /// The development keys of every issuer (see [`SigningKey::development`]).
    pub fn development() -> Self {
        Self::from_set(&development_jwks()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies a token's signature, expiry and audience, and that it was
    /// signed by a key of the issuer it names; returns its claims and issuer.
    pub fn decode<C: DeserializeOwned>(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<(C, &'static str), TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Malformed);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let (issuer, key) = self.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[*issuer]);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        validation.leeway = 5;
        let data = jsonwebtoken::decode::<C>(token, key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => TokenError::Expired,
                K::InvalidSignature => TokenError::BadSignature,
                K::InvalidAudience | K::InvalidIssuer => TokenError::WrongUse,
                _ => TokenError::Malformed,
            }
        })?;
        Ok((data.claims, issuer))
    }

    /// Verifies an API token: user roles only from the gateway, role
    /// `service` only as the signing service itself.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        self.verify_at(token, now_secs())
    }

    /// [`Self::verify`] at `now` (seconds since the epoch) for the tokens it
    /// remembers; a token met for the first time is checked against the
    /// system clock.
    fn verify_at(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        {
            let mut verified = self.verified.lock();
            if let Some(claims) = verified.get(token) {
                // The leeway `decode` grants, so the answer is the same.
                if claims.exp + 5 >= now {
                    return Ok(claims.clone());
                }
                verified.remove(token);
                return Err(TokenError::Expired);
            }
        }
        let (claims, issuer): (Claims, _) = self.decode(token, API_AUDIENCE)?;
        let ok = match claims.role {
            Role::Service => issuer != USER_ISSUER && claims.sub == service_subject(issuer),
            _ => issuer == USER_ISSUER,
        };
        if !ok {
            return Err(TokenError::WrongUse);
        }
        let mut verified = self.verified.lock();
        if verified.len() >= VERIFIED_MAX {
            verified.clear();
        }
        verified.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }
}

/// The public development keys of every issuer.
pub fn development_jwks() -> JwkSet {
    JwkSet {
        keys: ISSUERS
            .iter()
            .map(|i| SigningKey::development(i).public_jwk())
            .collect(),
    }
}

/// A service's keys: the public keys it trusts, and its own signing key when
/// it calls other services (or, for the gateway, issues user tokens).
#[derive(Clone, Debug)]
pub struct JwtKeys {
    verifier: Verifier,
    signer: Option<Arc<SigningKey>>,
    /// This service's own current credential and when it expires: reused
    /// until half its life is gone, so hot paths do not sign per call.
    own: Arc<parking_lot::Mutex<Option<(String, u64)>>>,
}

impl JwtKeys {
    pub fn new(verifier: Verifier, signer: Option<SigningKey>) -> Self {
        Self {
            verifier,
            signer: signer.map(Arc::new),
            own: Arc::default(),
        }
    }

    /// The development keys, signing as `issuer` (tests and `LOOP_ENV=development`).
    pub fn development(issuer: &str) -> Self {
        Self::new(
            Verifier::development(),
            Some(SigningKey::development(issuer)),
        )
    }

    /// A token for `subject` with `role`, valid for `ttl`, signed with this
    /// service's key. Only the gateway's key makes user tokens that verify,
    /// and a service's key only tokens for itself; a service with no signing
    /// key returns an empty token, which every verifier refuses.
    pub fn issue(&self, subject: &str, role: Role, ttl: Duration) -> String {
        let Some(signer) = &self.signer else {
            tracing::error!("this service has no auth.signing_key; cannot sign a token");
            return String::new();
        };
        let iat = now_secs();
        signer.sign(&Claims {
            iss: signer.issuer().to_owned(),
            sub: subject.to_owned(),
            aud: API_AUDIENCE.to_owned(),
            role,
            iat,
            exp: iat + ttl.as_secs(),
        })
    }

    /// This service's own credential (`service:<name>`), valid for at
    /// least half of `ttl` (one is signed per half-life, then reused).
    pub fn service_token(&self, ttl: Duration) -> String {
        let now = now_secs();
        let mut own = self.own.lock();
        if let Some((token, expires)) = own.as_ref()
            && now + ttl.as_secs() / 2 < *expires
        {
            return token.clone();
        }
        let subject = self
            .signer
            .as_ref()
            .map(|s| service_subject(s.issuer()))
            .unwrap_or_default();
        let token = self.issue(&subject, Role::Service, ttl);
        *own = Some((token.clone(), now + ttl.as_secs()));
        token
    }

    /// Verifies an API token (see [`Verifier::verify`]).
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        self.verifier.verify(token)
    }

    /// The verified caller of a gRPC request (`authorization: Bearer <jwt>`).
    pub fn caller<T>(&self, request: &tonic::Request<T>) -> Result<Caller, AppError> {
        self.caller_from_metadata(request.metadata())
    }

    pub fn caller_from_metadata(
        &self,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<Caller, AppError> {
        let value = metadata
            .get("authorization")
            .ok_or_else(|| AppError::Unauthenticated("missing bearer token".into()))?;
        let value = value
            .to_str()
            .map_err(|_| AppError::Unauthenticated("malformed authorization header".into()))?;
        let token = value.strip_prefix("Bearer ").ok_or_else(|| {
            AppError::Unauthenticated("authorization must be 'Bearer <token>'".into())
        })?;
        let claims = self
            .verify(token)
            .map_err(|e| AppError::Unauthenticated(e.to_string()))?;
        Ok(Caller {
            subject: claims.sub,
            role: claims.role,
            token: token.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_token(key: &SigningKey, role: Role, exp: u64) -> String {
        key.sign(&Claims {
            iss: key.issuer().into(),
            sub: "u1".into(),
            aud: API_AUDIENCE.into(),
            role,
            iat: 1,
            exp,
        })
    }

    #[test]
    fn issued_tokens_verify() {
        let keys = JwtKeys::development("gateway");
        let token = keys.issue("u1", Role::Creator, Duration::from_secs(60));
        let claims = keys.verify(&token).expect("valid");
        assert_eq!(claims.sub, "u1");
        assert_eq!(claims.role, Role::Creator);
        assert_eq!(claims.iss, "gateway");
    }

    #[test]
    fn tampered_and_foreign_tokens_fail() {
        let keys = JwtKeys::development("gateway");
        let token = keys.issue("u1", Role::Viewer, Duration::from_secs(60));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = Claims {
            iss: "gateway".into(),
            sub: "u1".into(),
            aud: API_AUDIENCE.into(),
            role: Role::Admin,
            iat: 0,
            exp: u64::MAX / 2,
        };
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).expect("json"));
        assert_eq!(keys.verify(&parts.join(".")), Err(TokenError::BadSignature));
        // A key nobody trusts, even under the gateway's name.
        let stranger = SigningKey::generate("gateway", "stolen").expect("key");
        let far = now_secs() + 60;
        assert_eq!(
            keys.verify(&user_token(&stranger, Role::Admin, far)),
            Err(TokenError::UnknownKey)
        );
        assert_eq!(keys.verify("a.b"), Err(TokenError::Malformed));
    }

    #[test]
    fn a_service_key_cannot_mint_users_or_other_services() {
        let ranker = JwtKeys::development("feed-ranking");
        let far = Duration::from_secs(60);
        // Its own credential verifies.
        let own = ranker.service_token(far);
        assert_eq!(
            ranker.verify(&own).expect("own").sub,
            "service:feed-ranking"
        );
        // An admin, a user, or another service's name: refused.
        for (sub, role) in [
            ("u1", Role::Admin),
            ("u1", Role::Viewer),
            ("service:ads-auction", Role::Service),
        ] {
            let token = ranker.issue(sub, role, far);
            assert_eq!(ranker.verify(&token), Err(TokenError::WrongUse), "{sub}");
        }
        // And the gateway cannot pass for a service.
        let gateway = JwtKeys::development("gateway");
        let token = gateway.issue("service:wallet", Role::Service, far);
        assert_eq!(gateway.verify(&token), Err(TokenError::WrongUse));
    }

    #[test]
    fn a_remembered_token_answers_the_same_and_still_expires() {
        let key = SigningKey::development("gateway");
        let keys = JwtKeys::development("gateway");
        let exp = now_secs() + 60;
        let token = user_token(&key, Role::Viewer, exp);
        let first = keys.verifier.verify(&token).expect("valid");
        assert_eq!(keys.verifier.verified.lock().len(), 1, "remembered");
        assert_eq!(keys.verifier.verify(&token), Ok(first.clone()));
        // Clones share what they remember.
        assert_eq!(keys.clone().verifier.verify_at(&token, exp + 5), Ok(first));
        assert_eq!(
            keys.verifier.verify_at(&token, exp + 6),
            Err(TokenError::Expired)
        );
        assert!(keys.verifier.verified.lock().is_empty(), "forgotten");
        // Refused tokens are not remembered: a tampered copy still fails.
        let mut tampered = token.clone();
        tampered.pop();
        assert!(keys.verifier.verify(&tampered).is_err());
        assert!(keys.verifier.verified.lock().is_empty());
    }

    #[test]
    fn expired_and_wrong_audience_fail() {
        let key = SigningKey::development("gateway");
        let keys = JwtKeys::development("gateway");
        assert_eq!(
            keys.verify(&user_token(&key, Role::Viewer, 2)),
            Err(TokenError::Expired)
        );
        let other_use = key.sign(&Claims {
            iss: "gateway".into(),
            sub: "u1".into(),
            aud: "loop-serve".into(),
            role: Role::Viewer,
            iat: 1,
            exp: now_secs() + 60,
        });
        assert_eq!(keys.verify(&other_use), Err(TokenError::WrongUse));
    }

    #[test]
    fn keys_round_trip_and_rotate() {
        let old = SigningKey::generate("gateway", "2026-11").expect("key");
        let new = SigningKey::generate("gateway", "2026-12").expect("key");
        let parsed = SigningKey::parse(&serde_json::to_string(&new.private_jwk()).expect("json"))
            .expect("parses");
        assert_eq!(parsed.kid(), "gateway:2026-12");
        // Both keys trusted during the rotation: tokens of either verify.
        let jwks = serde_json::to_string(&JwkSet {
            keys: vec![old.public_jwk(), new.public_jwk()],
        })
        .expect("json");
        let verifier = Verifier::parse(&jwks).expect("jwks");
        let far = now_secs() + 60;
        assert!(
            verifier
                .verify(&user_token(&old, Role::Viewer, far))
                .is_ok()
        );
        assert!(
            verifier
                .verify(&user_token(&parsed, Role::Viewer, far))
                .is_ok()
        );
        // A public key never parses as a signing key; bad kids are refused.
        let public = serde_json::to_string(&new.public_jwk()).expect("json");
        assert_eq!(SigningKey::parse(&public).err(), Some(KeyError::Material));
        assert_eq!(
            SigningKey::generate("nobody", "1").err(),
            Some(KeyError::Kid)
        );
    }

    #[test]
    fn caller_from_metadata() {
        let keys = JwtKeys::development("gateway");
        let token = keys.issue("u9", Role::Admin, Duration::from_secs(60));
        let mut req = tonic::Request::new(());
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("ascii"),
        );
        let caller = keys.caller(&req).expect("caller");
        assert_eq!(caller.subject, "u9");
        assert!(caller.is_admin());
        let bare = tonic::Request::new(());
        assert!(matches!(
            keys.caller(&bare),
            Err(AppError::Unauthenticated(_))
        ));
    }
}
