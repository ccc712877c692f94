//! Money amounts in requests: integer cents with one upper bound everywhere,
//! so no request can carry an amount whose arithmetic (fees, sums, millicent
//! conversions) could overflow, and every service names the same limit.

use crate::AppError;

/// The largest amount any request may carry: $1,000,000,000.
pub const MAX_CENTS: i64 = 100_000_000_000;

/// `value` in `min..=MAX_CENTS`, or an invalid-argument error naming `field`.
pub fn cents(field: &str, value: i64, min: i64) -> Result<i64, AppError> {
    if value < min {
        return Err(AppError::invalid(
            field,
            format!("must be at least {min} cents"),
        ));
    }
    if value > MAX_CENTS {
        return Err(AppError::invalid(
            field,
            format!("must be at most {MAX_CENTS} cents"),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_name_the_field() {
        assert_eq!(cents("budget", 1000, 1000).ok(), Some(1000));
        for bad in [999, MAX_CENTS + 1, i64::MAX, i64::MIN] {
            let err = cents("budget", bad, 1000).expect_err("out of range");
            assert!(
                matches!(err, AppError::InvalidArgument { ref field, .. } if field == "budget"),
                "{err:?}"
            );
        }
    }
}
