//! The in-app shop (served by commerce): shops, products with SKUs (admins
//! review each version before sale), checkout, payment by card into wallet
//! escrow, and the order lifecycle. Who may do what (the seller on their
//! shop, the buyer on their orders, admins) is checked by the service from
//! the forwarded token. Every order change needs an `Idempotency-Key`.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use http::StatusCode;
use loop_proto::commerce::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{Page, PageQuery, enum_from_str, enum_to_str, opt, ts};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, AuthUser, IdempotencyKey, IdempotencyKeyHeader};
use crate::responses::{Conflict, Forbidden, NotFound, Unprocessable};

/// Every shop route: each resource's own router.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(shops::router())
        .merge(products::router())
        .merge(orders::router())
        .merge(affiliates::router())
        .merge(auctions::router())
        .merge(shoppable::router())
        .merge(flash::router())
        .merge(invitations::router())
}

pub(crate) const ORDER_STATUSES: &[&str] = &[
    "unpaid",
    "paying",
    "on_hold",
    "awaiting_shipment",
    "shipped",
    "delivered",
    "completed",
    "cancelled",
    "refunded",
];
pub(crate) const PRODUCT_STATUSES: &[&str] = &["pending_review", "approved", "rejected"];
pub(crate) const ORDER_ROLES: &[&str] = &["buyer", "seller"];
pub(crate) const RETURN_STATUSES: &[&str] = &["requested", "approved", "rejected"];

crate::constraints::enum_schemas! {
    order_statuses => ORDER_STATUSES;
    return_statuses => RETURN_STATUSES;
    product_statuses => PRODUCT_STATUSES;
    order_roles => ORDER_ROLES;
}

mod affiliates;
mod auctions;
mod flash;
mod invitations;
mod orders;
mod products;
mod shapes;
mod shoppable;
mod shops;

pub use flash::FlashSaleDto;
pub use shapes::*;
