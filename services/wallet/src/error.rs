//! The wallet's errors: the platform's [`ServiceError`] over the wallet's
//! rules, mapped once (in the platform) to `tonic::Status`.
//!
//! Broken business rules are FAILED_PRECONDITION (or ALREADY_EXISTS) with a
//! `google.rpc.ErrorInfo` whose `reason` is the rule's UPPER_SNAKE code, as
//! the contract names them, so clients can branch on the rule and the
//! gateway can return it. Everything else is the platform's [`AppError`].

use loop_platform::error::ServiceError;

/// A business rule that refused the request (declared in `loop_proto`,
/// where callers match it too).
pub use loop_proto::wallet::Reason as Rule;

pub type WalletError = ServiceError<Rule>;
pub type WalletResult<T> = Result<T, WalletError>;

pub use loop_platform::error::{reason_of, status_reason};

/// SQLSTATEs raised by the ledger's SQL functions.
pub mod sqlstate {
    pub const INSUFFICIENT_FUNDS: &str = "WL001";
    pub const UNBALANCED: &str = "WL002";
    pub const KEY_USED: &str = "WL003";
    pub const DEADLOCK: &str = "40P01";
    pub const SERIALIZATION: &str = "40001";
    pub const UNIQUE: &str = "23505";
}

/// The SQLSTATE of a database error.
pub fn db_code(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::{Code, Status};

    #[test]
    fn rules_carry_their_reason_and_code() {
        let status: Status = WalletError::rule(
            Rule::InsufficientFunds,
            "you have 3 coins, the gift costs 5",
        )
        .into();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            status_reason(&status).as_deref(),
            Some("INSUFFICIENT_FUNDS")
        );
        assert!(status.message().starts_with("INSUFFICIENT_FUNDS: "));
        let status: Status = WalletError::rule(Rule::IdempotencyKeyReused, "x").into();
        assert_eq!(status.code(), Code::AlreadyExists);
        assert_eq!(
            status_reason(&status).as_deref(),
            Some("IDEMPOTENCY_KEY_REUSED")
        );
    }

    #[test]
    fn app_errors_keep_their_field() {
        let status: Status = WalletError::invalid("count", "must be 1..999").into();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            loop_platform::error::status_field(&status).as_deref(),
            Some("count")
        );
    }
}
