//! One error type for every service, mapped once to `tonic::Status`.
//!
//! Validation errors carry the offending field as a `google.rpc.BadRequest`
//! detail so the gateway can return `{"error":{"code","message","field"}}`.
//! Internal errors are logged with their cause and returned as a bare
//! "internal error": details never reach clients.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub type AppResult<T> = Result<T, AppError>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A request field is missing or wrong.
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is well-formed but the system's state forbids it.
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Unauthenticated(String),
    /// Rate limits and quotas.
    #[error("{0}")]
    ResourceExhausted(String),
    /// A dependency is down; the caller may retry.
    #[error("{0}")]
    Unavailable(String),
    /// Too much too soon: retry after `after` (sent as a
    /// `google.rpc.RetryInfo` detail, which the gateway turns into
    /// `Retry-After`).
    #[error("{message}")]
    RetryLater {
        message: String,
        after: std::time::Duration,
    },
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument { .. } => Code::InvalidArgument,
            Self::NotFound(_) => Code::NotFound,
            Self::AlreadyExists(_) => Code::AlreadyExists,
            Self::FailedPrecondition(_) => Code::FailedPrecondition,
            Self::PermissionDenied(_) => Code::PermissionDenied,
            Self::Unauthenticated(_) => Code::Unauthenticated,
            Self::ResourceExhausted(_) => Code::ResourceExhausted,
            Self::Unavailable(_) => Code::Unavailable,
            Self::RetryLater { .. } => Code::ResourceExhausted,
            Self::Internal(_) => Code::Internal,
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut => Self::Unavailable("database busy, retry".into()),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<redis::RedisError> for AppError {
    fn from(err: redis::RedisError) -> Self {
        Self::Internal(err.into())
    }
}

impl From<AppError> for Status {
    fn from(err: AppError) -> Self {
        match err {
            AppError::InvalidArgument { field, message } => {
                let text = format!("{field}: {message}");
                let details = ErrorDetails::with_bad_request_violation(field, message);
                Status::with_error_details(Code::InvalidArgument, text, details)
            }
            AppError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                Status::internal("internal error")
            }
            AppError::Unavailable(msg) => {
                tracing::warn!(message = %msg, "dependency unavailable");
                Status::unavailable(msg)
            }
            AppError::RetryLater { message, after } => {
                let details = ErrorDetails::with_retry_info(Some(after));
                Status::with_error_details(Code::ResourceExhausted, message, details)
            }
            other => Status::new(other.code(), other.to_string()),
        }
    }
}

/// The field named by a status' `BadRequest` detail, if any.
pub fn status_field(status: &Status) -> Option<String> {
    status
        .get_error_details()
        .bad_request()
        .and_then(|br| br.field_violations.first().map(|v| v.field.clone()))
}

/// A status for a domain rule: `code`, the message `REASON: message`, and a
/// `google.rpc.ErrorInfo` with the machine-readable reason and the service's
/// error domain (clients branch on the reason, not the text).
pub fn with_reason(code: Code, reason: &str, domain: &str, message: &str) -> Status {
    let details = ErrorDetails::with_error_info(reason, domain, std::collections::HashMap::new());
    Status::with_error_details(code, format!("{reason}: {message}"), details)
}

/// How long a status asks the caller to wait (`RetryInfo`), if it says.
pub fn status_retry_after(status: &Status) -> Option<std::time::Duration> {
    status
        .get_error_details()
        .retry_info()
        .and_then(|info| info.retry_delay)
}

/// The `ErrorInfo.reason` of a status, if any.
pub fn status_reason(status: &Status) -> Option<String> {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
}

/// Whether a Postgres error is a unique violation (optionally of a named constraint).
pub fn is_unique_violation(err: &sqlx::Error, constraint: Option<&str>) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some("23505")
                && constraint.is_none_or(|c| db.constraint() == Some(c))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn retry_later_carries_its_delay() {
        let status: Status = AppError::RetryLater {
            message: "sold out for now".into(),
            after: std::time::Duration::from_secs(7),
        }
        .into();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status_retry_after(&status),
            Some(std::time::Duration::from_secs(7))
        );
        assert_eq!(status_retry_after(&Status::unavailable("x")), None);
    }

    use super::*;

    #[test]
    fn invalid_argument_carries_the_field() {
        let status: Status = AppError::invalid("caption", "must not be empty").into();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "caption: must not be empty");
        assert_eq!(status_field(&status).as_deref(), Some("caption"));
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let status: Status = AppError::internal(anyhow::anyhow!("password=hunter2 at db")).into();
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
    }

    #[test]
    fn every_variant_maps_to_its_code() {
        let cases = [
            (AppError::not_found("x"), Code::NotFound),
            (AppError::AlreadyExists("x".into()), Code::AlreadyExists),
            (
                AppError::FailedPrecondition("x".into()),
                Code::FailedPrecondition,
            ),
            (
                AppError::PermissionDenied("x".into()),
                Code::PermissionDenied,
            ),
            (AppError::Unauthenticated("x".into()), Code::Unauthenticated),
            (
                AppError::ResourceExhausted("x".into()),
                Code::ResourceExhausted,
            ),
            (AppError::Unavailable("x".into()), Code::Unavailable),
        ];
        for (err, code) in cases {
            assert_eq!(Status::from(err).code(), code);
        }
    }
}
