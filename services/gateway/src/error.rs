//! The one place gRPC statuses and request problems become HTTP responses:
//! `{"error":{"code","message","field"}}` with the right status code.
//! Internal details are logged, never returned.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;
use tonic::Code;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code: invalid_argument, not_found, already_exists,
    /// permission_denied, unauthenticated, failed_precondition,
    /// rate_limited, unavailable, deadline_exceeded, invalid_json,
    /// unsupported_media_type, internal.
    pub code: &'static str,
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The business rule that refused the request (UPPER_SNAKE, e.g.
    /// `INSUFFICIENT_FUNDS`, `IDEMPOTENCY_KEY_REUSED`), when the service
    /// named one (failed_precondition, already_exists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub reason: Option<String>,
    /// Seconds a client should wait before retrying (sent as `Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            reason: None,
            retry_after: None,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_argument",
            message: format!("{field}: {}", message.into()),
            field: Some(field),
            reason: None,
            retry_after: None,
        }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// A downstream answer lacked a field its contract promises: logged,
    /// and an internal error to the client.
    pub fn missing(what: &str) -> Self {
        tracing::error!(what, "a service answered without a required field");
        Self::internal()
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        let (http, code) = match status.code() {
            Code::InvalidArgument | Code::OutOfRange => {
                (StatusCode::BAD_REQUEST, "invalid_argument")
            }
            Code::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Code::AlreadyExists => (StatusCode::CONFLICT, "already_exists"),
            Code::Aborted => (StatusCode::CONFLICT, "aborted"),
            Code::PermissionDenied => (StatusCode::FORBIDDEN, "permission_denied"),
            Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Code::FailedPrecondition => (StatusCode::UNPROCESSABLE_ENTITY, "failed_precondition"),
            Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Code::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Code::DeadlineExceeded | Code::Cancelled => {
                (StatusCode::GATEWAY_TIMEOUT, "deadline_exceeded")
            }
            Code::Unimplemented => (StatusCode::NOT_IMPLEMENTED, "unimplemented"),
            Code::Ok | Code::Unknown | Code::Internal | Code::DataLoss => {
                tracing::error!(code = ?status.code(), message = %status.message(), "downstream internal error");
                return Self::internal();
            }
        };
        if code == "unavailable" || code == "deadline_exceeded" {
            tracing::warn!(code = ?status.code(), message = %status.message(), "downstream call failed");
            let message = if code == "unavailable" {
                "service unavailable, retry later"
            } else {
                "the request took too long"
            };
            return Self::new(http, code, message);
        }
        Self {
            status: http,
            code,
            message: status.message().to_owned(),
            field: loop_platform::error::status_field(&status),
            reason: {
                use tonic_types::StatusExt;
                status
                    .get_error_details()
                    .error_info()
                    .map(|i| i.reason.clone())
            },
            retry_after: loop_platform::error::status_retry_after(&status)
                .map(|d| d.as_secs().max(1)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code: self.code,
                    message: self.message,
                    field: self.field,
                    reason: self.reason,
                },
            }),
        )
            .into_response();
        let retry_after = self
            .retry_after
            .or((self.status == StatusCode::TOO_MANY_REQUESTS).then_some(60));
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_retry_delay_becomes_retry_after() {
        let status: tonic::Status = loop_platform::AppError::RetryLater {
            message: "slow down".into(),
            after: std::time::Duration::from_secs(7),
        }
        .into();
        let response = ApiError::from(status).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "7");
        // A 429 that names no delay still tells the client when to retry.
        let bare = ApiError::from(tonic::Status::resource_exhausted("quota")).into_response();
        assert_eq!(bare.headers()[http::header::RETRY_AFTER], "60");
    }
}
