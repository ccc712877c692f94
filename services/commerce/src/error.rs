//! The service's error: the platform's [`ServiceError`] over this service's
//! typed reasons ([`Reason`], declared in `loop_proto` beside the contract),
//! mapped to `tonic::Status` once, in the platform.

use loop_platform::error::ServiceError;

pub use loop_platform::error::{reason_of, status_reason};
pub use loop_proto::commerce::Reason;

pub type CommerceError = ServiceError<Reason>;
pub type CommerceResult<T> = Result<T, CommerceError>;

/// The wallet or the database is out of reach; the caller may retry.
pub fn unavailable(message: impl Into<String>) -> CommerceError {
    CommerceError::App(loop_platform::AppError::Unavailable(message.into()))
}
