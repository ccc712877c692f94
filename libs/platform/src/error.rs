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

/// A service's error: the platform's [`AppError`], or a refusal by one of
/// the service's business rules (`R`, declared once in `loop_proto` with
/// `error_reasons!` so callers match the same typed values). Mapped to
/// `tonic::Status` once, below; the gateway maps statuses to HTTP once.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError<R: ErrorReason> {
    #[error(transparent)]
    App(#[from] AppError),
    /// The rule's code (FAILED_PRECONDITION or ALREADY_EXISTS) with a
    /// `google.rpc.ErrorInfo` naming the reason and the service's domain.
    #[error("{}: {message}", .reason.as_str())]
    Rule { reason: R, message: String },
}

pub use loop_proto::ErrorReason;

impl<R: ErrorReason> ServiceError<R> {
    pub fn rule(reason: R, message: impl Into<String>) -> Self {
        Self::Rule {
            reason,
            message: message.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::App(AppError::invalid(field, message))
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::App(AppError::not_found(what))
    }

    pub fn denied(what: impl Into<String>) -> Self {
        Self::App(AppError::PermissionDenied(what.into()))
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::App(AppError::internal(err))
    }

    /// The rule this error reports, if it is one.
    pub fn reason(&self) -> Option<R> {
        match self {
            Self::Rule { reason, .. } => Some(*reason),
            Self::App(_) => None,
        }
    }

    /// Whether the request may have been refused because the state moved on
    /// since an earlier success with the same idempotency key (so a stored
    /// result, if any, is the answer).
    pub fn is_state_dependent(&self) -> bool {
        match self {
            Self::Rule { .. } => true,
            Self::App(e) => matches!(
                e,
                AppError::NotFound(_)
                    | AppError::AlreadyExists(_)
                    | AppError::FailedPrecondition(_)
            ),
        }
    }
}

impl<R: ErrorReason> From<sqlx::Error> for ServiceError<R> {
    fn from(err: sqlx::Error) -> Self {
        Self::App(err.into())
    }
}

impl<R: ErrorReason> From<redis::RedisError> for ServiceError<R> {
    fn from(err: redis::RedisError) -> Self {
        Self::App(err.into())
    }
}

impl<R: ErrorReason> From<ServiceError<R>> for Status {
    fn from(err: ServiceError<R>) -> Self {
        match err {
            ServiceError::App(app) => app.into(),
            ServiceError::Rule { reason, message } => {
                with_reason(reason.code(), reason.as_str(), R::DOMAIN, &message)
            }
        }
    }
}

/// The typed reason of a status raised by the service whose reasons are `R`
/// (`None` for other statuses, or reasons from another service's domain).
pub fn reason_of<R: ErrorReason>(status: &Status) -> Option<R> {
    let details = status.get_error_details();
    let info = details.error_info()?;
    (info.domain == R::DOMAIN)
        .then(|| R::parse(&info.reason))
        .flatten()
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
    fn a_rule_carries_its_code_reason_and_domain_and_callers_read_it_typed() {
        use loop_proto::wallet::Reason;
        let status: Status =
            ServiceError::rule(Reason::InsufficientFunds, "you have 3 coins").into();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "INSUFFICIENT_FUNDS: you have 3 coins");
        assert_eq!(
            reason_of::<Reason>(&status),
            Some(Reason::InsufficientFunds)
        );
        // Another service's reason of the same name is not this one.
        assert_eq!(reason_of::<loop_proto::ads_auction::Reason>(&status), None);
        let status: Status = ServiceError::rule(Reason::IdempotencyKeyReused, "x").into();
        assert_eq!(status.code(), Code::AlreadyExists);
        let status: Status = ServiceError::<Reason>::invalid("count", "1..999").into();
        assert_eq!(status_field(&status).as_deref(), Some("count"));
        assert_eq!(reason_of::<Reason>(&status), None);
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
