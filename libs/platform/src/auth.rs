//! Identity: HS256 JWTs issued by the gateway and verified by every service.
//!
//! The gateway signs a token at login; clients send it as `Authorization:
//! Bearer`; the gateway forwards the same token in the `authorization` gRPC
//! metadata, so each service verifies the caller itself instead of trusting a
//! header anyone on the network could set. Service-to-service calls carry a
//! short-lived token with role `service`.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::error::AppError;

type HmacSha256 = Hmac<Sha256>;

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

/// The claims Loop puts in a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id (a UUID), or the service name for role `service`.
    pub sub: String,
    pub role: Role,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Expires at, seconds since the epoch.
    pub exp: u64,
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

/// Signs and verifies tokens with one shared key.
#[derive(Clone)]
pub struct JwtKeys {
    secret: Vec<u8>,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtKeys(***)")
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
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl JwtKeys {
    pub fn new(secret: &str) -> Self {
        Self {
            secret: secret.as_bytes().to_vec(),
        }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        #[allow(clippy::expect_used)]
        HmacSha256::new_from_slice(&self.secret).expect("hmac takes any key length")
    }

    /// A token for `subject` with `role`, valid for `ttl`.
    pub fn issue(&self, subject: &str, role: Role, ttl: Duration) -> String {
        let iat = now_secs();
        self.sign(&Claims {
            sub: subject.to_owned(),
            role,
            iat,
            exp: iat + ttl.as_secs(),
        })
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(HEADER),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let sig = mac.finalize().into_bytes();
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// Verifies signature (constant time) and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header = URL_SAFE_NO_PAD
            .decode(h)
            .map_err(|_| TokenError::Malformed)?;
        let header: serde_json::Value =
            serde_json::from_slice(&header).map_err(|_| TokenError::Malformed)?;
        if header.get("alg").and_then(|v| v.as_str()) != Some("HS256") {
            return Err(TokenError::Malformed);
        }
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        let payload = URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if claims.exp <= now_secs() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
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

    #[test]
    fn issued_tokens_verify() {
        let keys = JwtKeys::new("0123456789abcdef0123456789abcdef");
        let token = keys.issue("u1", Role::Creator, Duration::from_secs(60));
        let claims = keys.verify(&token).expect("valid");
        assert_eq!(claims.sub, "u1");
        assert_eq!(claims.role, Role::Creator);
    }

    #[test]
    fn tampered_tokens_fail() {
        let keys = JwtKeys::new("0123456789abcdef0123456789abcdef");
        let token = keys.issue("u1", Role::Viewer, Duration::from_secs(60));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = Claims {
            sub: "u1".into(),
            role: Role::Admin,
            iat: 0,
            exp: u64::MAX,
        };
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).expect("json"));
        assert_eq!(keys.verify(&parts.join(".")), Err(TokenError::BadSignature));
        let other = JwtKeys::new("another-key-another-key-another-key");
        assert_eq!(other.verify(&token), Err(TokenError::BadSignature));
        assert_eq!(keys.verify("a.b"), Err(TokenError::Malformed));
    }

    #[test]
    fn expired_tokens_fail() {
        let keys = JwtKeys::new("0123456789abcdef0123456789abcdef");
        let token = keys.sign(&Claims {
            sub: "u1".into(),
            role: Role::Viewer,
            iat: 1,
            exp: 2,
        });
        assert_eq!(keys.verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn caller_from_metadata() {
        let keys = JwtKeys::new("0123456789abcdef0123456789abcdef");
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
