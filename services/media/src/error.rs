//! The media service's errors: the platform's [`ServiceError`] over the
//! media rules declared in `loop_proto`, mapped once to `tonic::Status`.

use loop_platform::error::ServiceError;

pub use loop_proto::media::Reason as Rule;

pub type MediaError = ServiceError<Rule>;
pub type MediaResult<T> = Result<T, MediaError>;
