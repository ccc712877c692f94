//! The wallet: balances, history, coin packages and purchases, gifts,
//! payouts (admins decide), leaderboards, escrow reads and advertisers'
//! top-ups. Every mutating call needs an `Idempotency-Key` header: a retry
//! with the same key returns the first result and moves no money.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use chrono::{DateTime, Utc};
use http::StatusCode;
use http::request::Parts;
use loop_proto::wallet::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::dto::{Page, PageQuery, enum_from_str, enum_to_str, opt, ts};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, AuthUser};

/// The `Idempotency-Key` header (8..128 of [A-Za-z0-9_:.-]).
pub struct IdempotencyKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(|v| IdempotencyKey(v.to_owned()))
            .ok_or_else(|| {
                ApiError::invalid(
                    "Idempotency-Key",
                    "header is required on every wallet change (a unique key per operation; reuse it to retry)",
                )
            })
    }
}

pub(crate) fn asset_str(asset: i32) -> String {
    enum_to_str(
        pb::Asset::try_from(asset)
            .unwrap_or(pb::Asset::Unspecified)
            .as_str_name(),
        "ASSET_",
    )
}

mod handlers;
mod shapes;

pub use handlers::*;
pub use shapes::*;
