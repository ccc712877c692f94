//! `POST /v1/ad-events`: impressions, clicks and views of served ads, as the
//! client reports them. Validated as a whole batch (`events[i].field`; the
//! batch size, time and id rules are those of `POST /v1/events`), published
//! to `ads.v1` keyed by the viewer through the one `publish_all` engagement
//! uses too, acknowledged only once the broker has every event. The gateway does not verify the impression token
//! (only ads-auction holds its key); ads-auction bills each served ad's
//! billable action exactly once, whatever the retries.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use http::StatusCode;
use loop_platform::kafka::topics;
use loop_platform::time::to_timestamp;
use loop_proto::events::v1 as ev;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::routes::events::{ClientContextBody, check_batch, context, event_id, occurred_at};

/// `POST /v1/ad-events`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_ad_events))
}

const EVENT_TYPE: &str = "loop.events.v1.AdEvent";
const KINDS: &[&str] = &["impression", "click", "view"];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdEventBody {
    /// A UUID the client generates so a retried batch is not counted twice.
    #[schema(schema_with = crate::constraints::uuid)]
    pub event_id: Option<String>,
    /// impression (first frame on screen), click (call to action or landing
    /// page) or view (the ad left the screen or ended).
    #[schema(schema_with = kinds)]
    pub kind: String,
    /// Exactly as received with the ad (1..4096 characters).
    #[schema(min_length = 1, max_length = 4096)]
    pub impression_token: String,
    #[schema(schema_with = crate::constraints::uuid)]
    pub ad_id: Option<String>,
    #[schema(schema_with = crate::constraints::uuid)]
    pub ad_group_id: Option<String>,
    #[schema(schema_with = crate::constraints::uuid)]
    pub campaign_id: Option<String>,
    /// view (required), and only view: total time on screen, rewatches
    /// included, at most an hour.
    #[schema(maximum = 3600000)]
    pub watched_ms: Option<u32>,
    /// view: the creative's length as played, at most an hour.
    #[schema(maximum = 3600000)]
    pub creative_duration_ms: Option<u32>,
    /// view, and only view: played to the end at least once.
    pub completed: Option<bool>,
    /// When it happened on the device; clamped to now, at most 24 h old.
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdEventsBody {
    #[serde(default)]
    pub context: ClientContextBody,
    /// 1..=100 events.
    #[schema(min_items = 1, max_items = 100)]
    pub events: Vec<AdEventBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdEventsAccepted {
    pub accepted: usize,
    pub event_ids: Vec<String>,
}

crate::constraints::enum_schemas! {
    kinds => KINDS;
}

fn optional_id(field: String, value: Option<&String>) -> ApiResult<String> {
    match value {
        None => Ok(String::new()),
        Some(v) => uuid::Uuid::parse_str(v)
            .map(|u| u.to_string())
            .map_err(|_| ApiError::invalid(field, "must be a UUID")),
    }
}

/// Report impressions, clicks and views of ads (billing and reports).
#[utoipa::path(post, path = "/v1/ad-events", tag = "ads", security(("bearer" = [])), request_body = AdEventsBody,
    responses((status = 202, body = AdEventsAccepted), (status = 503, body = ErrorBody)))]
pub async fn post_ad_events(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<AdEventsBody>,
) -> ApiResult<(StatusCode, Json<AdEventsAccepted>)> {
    check_batch(body.events.len())?;
    let ctx = context(&body.context)?;
    let now = Utc::now();
    let mut out = Vec::with_capacity(body.events.len());
    for (i, e) in body.events.iter().enumerate() {
        let field = |name: &str| format!("events[{i}].{name}");
        if e.impression_token.is_empty() || e.impression_token.chars().count() > 4096 {
            return Err(ApiError::invalid(
                field("impression_token"),
                "is required (at most 4096 characters)",
            ));
        }
        let slot = ev::AdSlotRef {
            impression_token: e.impression_token.clone(),
            ad_id: optional_id(field("ad_id"), e.ad_id.as_ref())?,
            ad_group_id: optional_id(field("ad_group_id"), e.ad_group_id.as_ref())?,
            campaign_id: optional_id(field("campaign_id"), e.campaign_id.as_ref())?,
            user_id: user.user_id.clone(),
            context: Some(ctx.clone()),
        };
        if e.creative_duration_ms.is_some_and(|d| d > 3_600_000) {
            return Err(ApiError::invalid(
                field("creative_duration_ms"),
                "is implausible: more than an hour",
            ));
        }
        let is_view = e.kind == "view";
        if !is_view && (e.watched_ms.is_some() || e.completed.is_some()) {
            return Err(ApiError::invalid(
                field("watched_ms"),
                "only views carry watch time",
            ));
        }
        let payload = match e.kind.as_str() {
            "impression" => {
                ev::ad_event::Payload::Impression(ev::AdImpression { slot: Some(slot) })
            }
            "click" => ev::ad_event::Payload::Click(ev::AdClick { slot: Some(slot) }),
            "view" => {
                let watched_ms = e.watched_ms.ok_or_else(|| {
                    ApiError::invalid(field("watched_ms"), "is required for a view")
                })?;
                if watched_ms > 3_600_000 {
                    return Err(ApiError::invalid(
                        field("watched_ms"),
                        "is implausible: more than an hour",
                    ));
                }
                ev::ad_event::Payload::View(ev::AdView {
                    slot: Some(slot),
                    watched_ms,
                    creative_duration_ms: e.creative_duration_ms.unwrap_or(0),
                    completed: e.completed.unwrap_or(false),
                })
            }
            _ => {
                return Err(ApiError::invalid(
                    field("kind"),
                    format!("must be one of: {}", KINDS.join(", ")),
                ));
            }
        };
        let occurred_at = occurred_at(field("occurred_at"), e.occurred_at, now)?;
        let event_id = event_id(field("event_id"), e.event_id.as_ref())?;
        out.push(ev::AdEvent {
            event_id,
            occurred_at: Some(to_timestamp(occurred_at)),
            accepted_at: Some(to_timestamp(now)),
            payload: Some(payload),
        });
    }
    st.publish_all(topics::ADS, &user.user_id, EVENT_TYPE, &out)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(AdEventsAccepted {
            accepted: out.len(),
            event_ids: out.into_iter().map(|e| e.event_id).collect(),
        }),
    ))
}
