//! The wallet: balances, history, coin packages and purchases, gifts,
//! payouts (admins decide), leaderboards, escrow reads and advertisers'
//! top-ups. Every mutating call needs an `Idempotency-Key` header: a retry
//! with the same key returns the first result and moves no money.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use http::StatusCode;
use loop_proto::wallet::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{Page, PageQuery, enum_from_str, enum_to_str, opt, ts};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, AuthUser, IdempotencyKey, IdempotencyKeyHeader};
use crate::responses::{Conflict, Forbidden, NotFound, Unprocessable};

/// The wallet.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(balance))
        .routes(routes!(transactions))
        .routes(routes!(coin_packages))
        .routes(routes!(purchase))
        .routes(routes!(top_up))
        .routes(routes!(gift_catalog, send_gift))
        .routes(routes!(request_payout, list_payouts))
        .routes(routes!(approve_payout))
        .routes(routes!(reject_payout))
        .routes(routes!(reconcile))
        .routes(routes!(room_leaderboard))
        .routes(routes!(top_creators))
        .routes(routes!(get_escrow))
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
