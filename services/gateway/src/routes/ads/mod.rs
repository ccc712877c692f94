//! Ads (served by ads-auction): campaigns, ad groups and creatives
//! (advertisers), TopView reservations, Branded Hashtag Challenges, Spark
//! codes (creators) and Spark Ads, reports, and the ops view of delivery.
//! Roles and ownership are checked by ads-auction from the forwarded token.
//! Enums travel as lower-case strings without their proto prefix
//! (`in_feed`, `cpm`, `18_24`), field errors keep the contract's paths
//! (`targeting.countries[2]`).

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use http::StatusCode;
use loop_platform::time::to_timestamp;
use loop_proto::ads_auction::v1 as pb;
use loop_proto::common::v1 as common;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{Page, PageQuery, enum_from_str, enum_to_str, opt, ts};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, AuthUser};
use crate::responses::{Conflict, Forbidden, NotFound, Unprocessable};

fn parse_list(
    field: &str,
    values: &[String],
    prefix: &str,
    parse: fn(&str) -> Option<i32>,
    allowed: &[&str],
) -> ApiResult<Vec<i32>> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let n = enum_from_str(&format!("{field}[{i}]"), v, prefix, parse, allowed)?;
            if n == 0 {
                return Err(ApiError::invalid(
                    format!("{field}[{i}]"),
                    format!("must be one of: {}", allowed.join(", ")),
                ));
            }
            Ok(n)
        })
        .collect()
}

const OBJECTIVES: &[&str] = &["reach", "traffic", "video_views", "conversions"];
const FORMATS: &[&str] = &["in_feed", "topview", "spark"];
const BID_TYPES: &[&str] = &["cpm", "cpc", "cpv", "ocpm"];
const CTAS: &[&str] = &[
    "learn_more",
    "shop_now",
    "sign_up",
    "download",
    "watch_more",
    "book_now",
    "contact_us",
];
use crate::constraints::{AGE_BANDS, DEVICE_OSES as DEVICES, GENDERS};
const BEHAVIORS: &[&str] = &["engaged_with_category", "engaged_with_hashtag"];

crate::constraints::enum_schemas! {
    objectives => OBJECTIVES;
    formats => FORMATS;
    bid_types => BID_TYPES;
    ctas => CTAS;
    behaviors => BEHAVIORS;
    active_or_paused => ACTIVE_OR_PAUSED;
}

const ACTIVE_OR_PAUSED: &[&str] = &["active", "paused"];

fn cta(field: &str, value: &str) -> ApiResult<i32> {
    enum_from_str(
        field,
        value,
        "CALL_TO_ACTION_",
        |s| pb::CallToAction::from_str_name(s).map(|v| v as i32),
        CTAS,
    )
}

/// Every ads route: each resource's own router.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(campaigns::router())
        .merge(ad_groups::router())
        .merge(creatives::router())
        .merge(spark::router())
        .merge(topview::router())
        .merge(challenges::router())
        .merge(reports::router())
}

mod ad_groups;
mod campaigns;
mod challenges;
mod creatives;
mod reports;
mod shapes;
mod spark;
mod topview;

pub use shapes::*;
