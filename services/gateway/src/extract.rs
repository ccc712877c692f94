//! Extractors that turn bad requests into field-level errors: JSON bodies,
//! query strings, the bearer token and the `Idempotency-Key` header.

use axum::extract::{FromRequest, FromRequestParts, Request};
use bytes::Bytes;
use http::StatusCode;
use http::request::Parts;
use loop_platform::auth::{Role, TokenError};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;

/// A JSON body; malformed JSON is `invalid_json`, a wrong or missing field is
/// `invalid_argument` naming the field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(&req) {
            return Err(not_json());
        }
        parse_json(&body(req, state).await?).map(ApiJson)
    }
}

/// A JSON body that may be left out: no body at all is `T::default()`; a
/// body present is read as an [`ApiJson`].
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = is_json(&req);
        let bytes = body(req, state).await?;
        if bytes.is_empty() {
            return Ok(OptionalJson(T::default()));
        }
        if !is_json {
            return Err(not_json());
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

fn not_json() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send the body as application/json",
    )
}

async fn body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state)
        .await
        .map_err(|e| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_body", e.body_text()))
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("malformed JSON: {inner}"),
            )
        } else if path == "." {
            // A missing required field: serde says "missing field `x`".
            let message = inner.to_string();
            let field = message
                .split('`')
                .nth(1)
                .map(str::to_owned)
                .unwrap_or_else(|| "body".into());
            ApiError::invalid(field, "is required")
        } else {
            let message = inner.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            ApiError::invalid(path, message)
        }
    })
}

/// Query parameters with the same error shape as bodies.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|err| {
                let path = err.path().to_string();
                let message = err.into_inner().to_string();
                if path == "." {
                    let field = message
                        .split('`')
                        .nth(1)
                        .map(str::to_owned)
                        .unwrap_or_else(|| "query".into());
                    ApiError::invalid(field, message)
                } else {
                    ApiError::invalid(path, message)
                }
            })
    }
}

/// The authenticated caller: a verified `Authorization: Bearer <jwt>`, or
/// the browser's session cookie (see `crate::web`).
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: String,
    pub token: String,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(user.clone());
        }
        let user = authenticate(parts, state)?;
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

pub fn authenticate(parts: &Parts, state: &AppState) -> Result<AuthUser, ApiError> {
    // The header wins; the browser client sends the session cookie instead
    // (set at sign-up/login, unreadable by scripts), which must come with
    // the CSRF header on anything but a read (crate::web).
    let token = match parts.headers.get(http::header::AUTHORIZATION) {
        Some(header) => header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthenticated("Authorization must be 'Bearer <token>'"))?,
        None => {
            let token = crate::web::cookie_token(&parts.headers, state.secure_cookies).ok_or_else(
                || ApiError::unauthenticated("missing Authorization: Bearer <token> header"),
            )?;
            crate::web::check_csrf(&parts.method, &parts.headers)?;
            token
        }
    };
    let claims = state.keys.verify(token).map_err(|e| match e {
        TokenError::Expired => ApiError::unauthenticated("token expired; log in again"),
        TokenError::BadSignature
        | TokenError::Malformed
        | TokenError::UnknownKey
        | TokenError::WrongUse => ApiError::unauthenticated("invalid token"),
    })?;
    // Services talk to each other directly; a service credential arriving
    // from a client was leaked or forged, and is worth nothing here.
    if claims.role == Role::Service {
        return Err(ApiError::unauthenticated(
            "service credentials are not accepted from clients",
        ));
    }
    Ok(AuthUser {
        user_id: claims.sub,
        token: token.to_owned(),
    })
}

/// The `Idempotency-Key` header, checked by the rule every service applies
/// (`loop_platform::validate::idempotency_key`: 8..128 of [A-Za-z0-9_:.-]).
pub struct IdempotencyKey(pub String);

/// The `Idempotency-Key` header as the document declares it: list it in a
/// route's `params(IdempotencyKeyHeader)` where the handler takes an
/// [`IdempotencyKey`].
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // a declaration for the document; the extractor reads the header
pub struct IdempotencyKeyHeader {
    /// A unique key per operation (a UUID fits); a retry with the same key
    /// returns the first result and moves no money.
    #[param(
        rename = "Idempotency-Key",
        pattern = "^[A-Za-z0-9_:.-]{8,128}$",
        min_length = 8,
        max_length = 128
    )]
    key: String,
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ApiError::invalid(
                    "Idempotency-Key",
                    "header is required on this request (a unique key per operation; reuse it to retry)",
                )
            })
            .and_then(|v| {
                loop_platform::validate::idempotency_key("Idempotency-Key", v)
                    .map(IdempotencyKey)
                    .map_err(|e| ApiError::from(tonic::Status::from(e)))
            })
    }
}
