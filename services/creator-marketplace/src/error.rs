//! The service's error: the platform's [`ServiceError`] over this service's
//! typed reasons ([`Reason`], declared in `loop_proto` beside the contract),
//! mapped to `tonic::Status` once, in the platform.

use loop_platform::error::ServiceError;

pub use loop_platform::error::{reason_of, status_reason};
pub use loop_proto::creator_marketplace::Reason;

pub type MktError = ServiceError<Reason>;
pub type MktResult<T> = Result<T, MktError>;

/// FAILED_PRECONDITION INVALID_STATE: the state machine forbids the call.
pub fn invalid_state(message: impl Into<String>) -> MktError {
    MktError::rule(Reason::InvalidState, message)
}
