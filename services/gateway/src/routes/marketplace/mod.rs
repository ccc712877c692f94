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
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, AuthUser, IdempotencyKey};

/// Every marketplace route: each resource's own router.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(creators::router())
        .merge(search::router())
        .merge(campaigns::router())
        .merge(collaborations::router())
}

mod campaigns;
mod collaborations;
mod creators;
mod search;
mod shapes;

pub use shapes::*;
