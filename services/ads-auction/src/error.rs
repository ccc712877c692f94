//! The service's error: the platform's [`ServiceError`] over this service's
//! typed reasons ([`Reason`], declared in `loop_proto` beside the contract),
//! mapped to `tonic::Status` once, in the platform.

use loop_platform::error::ServiceError;

pub use loop_platform::error::{reason_of, status_reason};
pub use loop_proto::ads_auction::Reason;

pub type AdsError = ServiceError<Reason>;
pub type AdsResult<T> = Result<T, AdsError>;
