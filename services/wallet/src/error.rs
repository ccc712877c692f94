//! The wallet's errors, mapped once to `tonic::Status`.
//!
//! Broken business rules are FAILED_PRECONDITION (or ALREADY_EXISTS) with a
//! `google.rpc.ErrorInfo` whose `reason` is the rule's UPPER_SNAKE code, as
//! the contract names them, so clients can branch on the rule and the
//! gateway can return it. Everything else is the platform's [`AppError`].

use loop_platform::AppError;
use tonic::{Code, Status};

pub const ERROR_DOMAIN: &str = "wallet.loop";

/// A business rule that refused the request (declared in `loop_proto`,
/// where callers match it too).
pub use loop_proto::wallet::Reason as Rule;

/// The status code of a refused rule.
fn code(rule: Rule) -> Code {
    match rule {
        Rule::ReceiptAlreadyRedeemed | Rule::IdempotencyKeyReused => Code::AlreadyExists,
        _ => Code::FailedPrecondition,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("{}: {message}", .rule.as_str())]
    Rule { rule: Rule, message: String },
    #[error(transparent)]
    App(#[from] AppError),
}

pub type WalletResult<T> = Result<T, WalletError>;

impl WalletError {
    pub fn rule(rule: Rule, message: impl Into<String>) -> Self {
        Self::Rule {
            rule,
            message: message.into(),
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::App(AppError::invalid(field, message))
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::App(AppError::not_found(what))
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::App(AppError::internal(err))
    }

    /// The rule this error reports, if it is one.
    pub fn rule_of(&self) -> Option<Rule> {
        match self {
            Self::Rule { rule, .. } => Some(*rule),
            Self::App(_) => None,
        }
    }

    /// Whether the request may have been refused because the state moved on
    /// since an earlier success with the same idempotency key (so the stored
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

impl From<sqlx::Error> for WalletError {
    fn from(err: sqlx::Error) -> Self {
        Self::App(err.into())
    }
}

impl From<redis::RedisError> for WalletError {
    fn from(err: redis::RedisError) -> Self {
        Self::App(err.into())
    }
}

impl From<WalletError> for Status {
    fn from(err: WalletError) -> Self {
        match err {
            WalletError::Rule { rule, message } => {
                loop_platform::error::with_reason(code(rule), rule.as_str(), ERROR_DOMAIN, &message)
            }
            WalletError::App(app) => app.into(),
        }
    }
}

pub use loop_platform::error::status_reason;

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
