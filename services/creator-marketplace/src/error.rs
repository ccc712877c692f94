//! The service's error: the platform's [`AppError`] plus the contract's
//! reason-carrying failures (FAILED_PRECONDITION / ALREADY_EXISTS with a
//! `google.rpc.ErrorInfo` whose `reason` is the UPPER_SNAKE code named in the
//! proto), mapped to `tonic::Status` once, here.

use loop_platform::AppError;
use loop_platform::error::with_reason;
use tonic::{Code, Status};

/// The ErrorInfo domain of every reason this service returns.
pub const DOMAIN: &str = "creator-marketplace.loop";

#[derive(Debug, thiserror::Error)]
pub enum MktError {
    #[error(transparent)]
    App(#[from] AppError),
    /// FAILED_PRECONDITION with a reason (`INVALID_STATE`, ...).
    #[error("{reason}: {message}")]
    Precondition {
        reason: &'static str,
        message: String,
    },
    /// ALREADY_EXISTS with a reason (`IDEMPOTENCY_KEY_REUSED`, ...).
    #[error("{reason}: {message}")]
    Exists {
        reason: &'static str,
        message: String,
    },
}

pub type MktResult<T> = Result<T, MktError>;

impl MktError {
    pub fn precondition(reason: &'static str, message: impl Into<String>) -> Self {
        Self::Precondition {
            reason,
            message: message.into(),
        }
    }

    pub fn exists(reason: &'static str, message: impl Into<String>) -> Self {
        Self::Exists {
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

    /// FAILED_PRECONDITION INVALID_STATE: the state machine forbids the call.
    pub fn state(message: impl Into<String>) -> Self {
        Self::precondition("INVALID_STATE", message)
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::App(AppError::internal(err))
    }

    /// The reason carried by a precondition or conflict, for tests and logs.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Self::Precondition { reason, .. } | Self::Exists { reason, .. } => Some(reason),
            Self::App(_) => None,
        }
    }
}

impl From<sqlx::Error> for MktError {
    fn from(err: sqlx::Error) -> Self {
        Self::App(err.into())
    }
}

impl From<MktError> for Status {
    fn from(err: MktError) -> Self {
        match err {
            MktError::App(app) => app.into(),
            MktError::Precondition { reason, message } => {
                with_reason(Code::FailedPrecondition, reason, DOMAIN, &message)
            }
            MktError::Exists { reason, message } => {
                with_reason(Code::AlreadyExists, reason, DOMAIN, &message)
            }
        }
    }
}

pub use loop_platform::error::status_reason;
