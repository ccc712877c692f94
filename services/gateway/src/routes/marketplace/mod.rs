//! Creator marketplace (served by creator-marketplace): creator applications
//! and profiles, analytics, advertiser search, campaigns, collaborations
//! (invitations, applications), their threads, deliverables, escrowed
//! payment and reports. Roles (advertiser / creator / admin) and ownership
//! are checked by the service from the forwarded token. Enums travel as
//! lower-case strings without their proto prefix (`invite_only`,
//! `18_24`, `female`).

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use http::StatusCode;
use loop_platform::time::to_timestamp;
use loop_proto::creator_marketplace::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{Page, PageQuery, enum_from_str, enum_to_str, opt, ts};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, AuthUser, IdempotencyKey, IdempotencyKeyHeader};
use crate::responses::{Conflict, Forbidden, NotFound, Unprocessable};

/// Every marketplace route: each resource's own router.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(creators::router())
        .merge(search::router())
        .merge(campaigns::router())
        .merge(collaborations::router())
        .merge(studio::router())
}

/// The marketplace's enumerations and lists as the document states them.
pub(crate) const COLLABORATION_STATES: &[&str] = &[
    "invited",
    "applied",
    "accepted",
    "declined",
    "submitted",
    "changes_requested",
    "approved",
    "paid",
    "expired_refunded",
];
pub(crate) const VISIBILITIES: &[&str] = &["invite_only", "public"];
pub(crate) const SCOPES: &[&str] = &["mine", "open"];
pub(crate) const CAMPAIGN_STATUSES: &[&str] = &["draft", "published", "closed"];
pub(crate) const APPLICATION_STATUSES: &[&str] = &["pending", "approved", "rejected"];
pub(crate) const REVIEW_DECISIONS: &[&str] = &["approve", "reject"];
pub(crate) const SORTS: &[&str] = &[
    "followers",
    "avg_views",
    "engagement_rate",
    "shop_gmv",
    "shop_conversion",
];

crate::constraints::enum_schemas! {
    collaboration_states => COLLABORATION_STATES;
    visibilities => VISIBILITIES;
    scopes => SCOPES;
    campaign_statuses => CAMPAIGN_STATUSES;
    application_statuses => APPLICATION_STATUSES;
    review_decisions => REVIEW_DECISIONS;
    sorts => SORTS;
}

/// 1..5 categories, each 1..40 of [A-Za-z0-9_-] (compared lower-cased), each once.
fn categories_1_5() -> utoipa::openapi::schema::Array {
    market_categories(1, 5)
}

/// Up to 20 accepted brand categories.
fn categories_0_20() -> utoipa::openapi::schema::Array {
    market_categories(0, 20)
}

pub(crate) fn market_categories(min: usize, max: usize) -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let category = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[A-Za-z0-9_-]{1,40}$"));
    ArrayBuilder::new()
        .items(category)
        .min_items(Some(min))
        .max_items(Some(max))
        .unique_items(true)
        .build()
}

mod campaigns;
mod collaborations;
mod creators;
mod search;
mod shapes;
mod studio;

pub use shapes::*;
