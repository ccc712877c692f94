//! Identifiers: UUIDv7 (time-ordered) for everything Loop creates.

use uuid::Uuid;

use crate::error::AppError;

pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// Parses a UUID request field, naming the field on error.
pub fn parse_id(field: &str, value: &str) -> Result<Uuid, AppError> {
    if value.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    Uuid::parse_str(value).map_err(|_| AppError::invalid(field, "must be a UUID"))
}

/// Parses an optional UUID field (empty means none).
pub fn parse_opt_id(field: &str, value: &str) -> Result<Option<Uuid>, AppError> {
    if value.is_empty() {
        Ok(None)
    } else {
        parse_id(field, value).map(Some)
    }
}
