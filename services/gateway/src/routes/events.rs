//! `POST /v1/events`: client-reported engagement, validated as a whole batch
//! (one bad event rejects the batch, naming `events[i].field`), enriched from
//! the video record, and published to `engagement.v1` keyed by user. The
//! response is sent only after the broker acknowledged every event, so an
//! accepted event is never lost.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use http::StatusCode;
use loop_platform::kafka::topics;
use loop_platform::time::to_timestamp;
use loop_proto::common::v1 as common;
use loop_proto::content::v1 as pb;
use loop_proto::events::v1 as ev;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::credit;
use crate::dto::enum_from_str;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::serve::ServeTokenError;

/// `POST /v1/events`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_events))
}

/// The most events one request may carry.
pub const MAX_BATCH: usize = 100;
const EVENT_TYPE: &str = "loop.events.v1.EngagementEvent";
const KINDS: &[&str] = &[
    "impression",
    "view",
    "like",
    "unlike",
    "share",
    "comment",
    "follow",
    "quick_skip",
    "not_interested",
    "profile_visit",
];

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientContextBody {
    /// ISO 3166-1 alpha-2.
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub language: String,
    /// ios, android or web.
    #[serde(default)]
    pub device_os: String,
    #[serde(default)]
    pub app_version: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// A UUID the client generates so a retried batch is not counted twice
    /// (consumers dedupe by event id); the server assigns a UUIDv7 when absent.
    pub event_id: Option<String>,
    /// impression, view, like, unlike, share, comment, follow, quick_skip, not_interested or profile_visit.
    pub kind: String,
    pub video_id: String,
    /// view: how long it was watched (more than the duration means a rewatch).
    pub watch_ms: Option<u32>,
    /// view: the duration the client played; the server's record is authoritative.
    pub video_duration_ms: Option<u32>,
    /// not_interested: video (default), creator or sound.
    pub target: Option<String>,
    /// When it happened on the device; clamped to now, at most 24 h old.
    pub occurred_at: Option<DateTime<Utc>>,
    /// The `serve_token` of the For You / Following item this engagement is
    /// with. Without a valid one the event teaches only your own feed;
    /// with one it also counts toward the video's metrics and trending,
    /// once per window (docs/security.md).
    #[schema(max_length = 2048)]
    pub serve_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsBody {
    #[serde(default)]
    pub context: ClientContextBody,
    /// 1..=100 events.
    #[schema(min_items = 1, max_items = 100)]
    pub events: Vec<EventBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventsAccepted {
    pub accepted: usize,
    /// UUIDv7 per event, in request order.
    pub event_ids: Vec<String>,
    /// Per event, in request order: counted, unverified (no valid serve
    /// token: your own feed only), duplicate (already credited in its
    /// window) or own_video (your own video: never counted).
    pub credits: Vec<&'static str>,
}

pub(crate) fn context(body: &ClientContextBody) -> ApiResult<common::ClientContext> {
    let country = body.country.trim().to_uppercase();
    if !country.is_empty()
        && (country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()))
    {
        return Err(ApiError::invalid(
            "context.country",
            "must be an ISO 3166-1 alpha-2 code",
        ));
    }
    if body.language.len() > 35 {
        return Err(ApiError::invalid(
            "context.language",
            "must be a language tag such as \"en\"",
        ));
    }
    if body.app_version.len() > 32 {
        return Err(ApiError::invalid(
            "context.app_version",
            "at most 32 characters",
        ));
    }
    let device_os = enum_from_str(
        "context.device_os",
        &body.device_os,
        "DEVICE_OS_",
        |s| common::DeviceOs::from_str_name(s).map(|v| v as i32),
        &["ios", "android", "web"],
    )?;
    Ok(common::ClientContext {
        country,
        language: body.language.trim().to_owned(),
        device_os,
        app_version: body.app_version.clone(),
    })
}

/// Report what the viewer did; feeds learn from it within a second.
#[utoipa::path(post, path = "/v1/events", tag = "feed", security(("bearer" = [])), request_body = EventsBody,
    responses((status = 202, body = EventsAccepted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 429, description = "More events per minute than one person makes; see Retry-After", body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn post_events(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<EventsBody>,
) -> ApiResult<(StatusCode, Json<EventsAccepted>)> {
    if body.events.is_empty() || body.events.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "events",
            format!("send 1 to {MAX_BATCH} events"),
        ));
    }
    let ctx = context(&body.context)?;
    let now = Utc::now();

    // Resolve every video once; unknown (or not visible) videos reject the batch.
    let mut ids: Vec<String> = body.events.iter().map(|e| e.video_id.clone()).collect();
    ids.sort();
    ids.dedup();
    for (i, e) in body.events.iter().enumerate() {
        if uuid::Uuid::parse_str(&e.video_id).is_err() {
            return Err(ApiError::invalid(
                format!("events[{i}].video_id"),
                "must be a UUID",
            ));
        }
    }
    let found = st
        .call(
            st.content()
                .batch_get_videos(st.req(&user, pb::BatchGetVideosRequest { video_ids: ids })),
        )
        .await?;
    let videos: HashMap<&str, &pb::Video> = found
        .videos
        .iter()
        .map(|v| (v.video_id.as_str(), v))
        .collect();

    // Per-user cap on events (not requests): a flood is refused whole.
    st.limiter
        .check_n(
            crate::limits::Class::Events,
            &format!("events:{}", user.user_id),
            body.events.len(),
        )
        .await?;
    let mut out = Vec::with_capacity(body.events.len());
    let mut served = Vec::with_capacity(body.events.len());
    for (i, e) in body.events.iter().enumerate() {
        let field = |name: &str| format!("events[{i}].{name}");
        let kind = enum_from_str(
            &field("kind"),
            &e.kind,
            "ENGAGEMENT_KIND_",
            |s| ev::EngagementKind::from_str_name(s).map(|v| v as i32),
            KINDS,
        )?;
        if kind == 0 {
            return Err(ApiError::invalid(
                field("kind"),
                format!("must be one of: {}", KINDS.join(", ")),
            ));
        }
        let video = videos
            .get(e.video_id.as_str())
            .ok_or_else(|| ApiError::invalid(field("video_id"), "no such video"))?;
        let is_view = kind == ev::EngagementKind::View as i32;
        let watch_ms = match (is_view, e.watch_ms) {
            (true, None) => {
                return Err(ApiError::invalid(
                    field("watch_ms"),
                    "is required for a view",
                ));
            }
            (true, Some(w)) if u64::from(w) > 10 * u64::from(video.duration_ms.max(1)) => {
                return Err(ApiError::invalid(
                    field("watch_ms"),
                    "is implausible: more than ten plays of the video",
                ));
            }
            (true, Some(w)) => w,
            (false, Some(_)) => {
                return Err(ApiError::invalid(
                    field("watch_ms"),
                    "only views carry a watch time",
                ));
            }
            (false, None) => 0,
        };
        if e.video_duration_ms == Some(0) {
            return Err(ApiError::invalid(
                field("video_duration_ms"),
                "must be positive",
            ));
        }
        let target = if kind == ev::EngagementKind::NotInterested as i32 {
            match e.target.as_deref().unwrap_or("video") {
                "video" => ev::NotInterestedTarget::Video,
                "creator" => ev::NotInterestedTarget::Creator,
                "sound" if !video.sound_id.is_empty() => ev::NotInterestedTarget::Sound,
                "sound" => {
                    return Err(ApiError::invalid(
                        field("target"),
                        "this video has no sound",
                    ));
                }
                _ => {
                    return Err(ApiError::invalid(
                        field("target"),
                        "must be one of: video, creator, sound",
                    ));
                }
            }
        } else if e.target.is_some() {
            return Err(ApiError::invalid(
                field("target"),
                "only not_interested events carry a target",
            ));
        } else {
            ev::NotInterestedTarget::Unspecified
        };
        let occurred_at = match e.occurred_at {
            Some(t) if t < now - chrono::Duration::hours(24) => {
                return Err(ApiError::invalid(
                    field("occurred_at"),
                    "is more than 24 hours old",
                ));
            }
            Some(t) => t.min(now),
            None => now,
        };
        let event_id = match &e.event_id {
            Some(id) => uuid::Uuid::parse_str(id)
                .map_err(|_| ApiError::invalid(field("event_id"), "must be a UUID"))?
                .to_string(),
            None => loop_platform::ids::new_id().to_string(),
        };
        served.push(match &e.serve_token {
            None => false,
            Some(token) if token.len() > 2048 => {
                return Err(ApiError::invalid(
                    field("serve_token"),
                    "at most 2048 characters",
                ));
            }
            Some(token) => match st.serve_tokens.verify(token) {
                Ok(s) if s.sub == user.user_id && s.vid == video.video_id => true,
                // Someone else's token, or another video's: never honest.
                Ok(_) | Err(ServeTokenError::Invalid) => {
                    return Err(ApiError::invalid(
                        field("serve_token"),
                        "is not a serve token of this video for you",
                    ));
                }
                // An old feed page: still the user's own learning.
                Err(ServeTokenError::Expired) => false,
            },
        });
        out.push(ev::EngagementEvent {
            event_id,
            occurred_at: Some(to_timestamp(occurred_at)),
            user_id: user.user_id.clone(),
            video_id: video.video_id.clone(),
            creator_id: video.creator_id.clone(),
            sound_id: video.sound_id.clone(),
            kind,
            watch_ms,
            video_duration_ms: video.duration_ms,
            not_interested_target: target as i32,
            context: Some(ctx.clone()),
            accepted_at: Some(to_timestamp(now)),
            hashtags: video.hashtags.clone(),
            category: video.category.clone(),
            // Decided for the whole batch below, in one Redis round trip.
            credit: ev::EngagementCredit::Unverified as i32,
        });
    }

    credit::assign(&st, &user.user_id, &mut out, &served).await;

    // Publish all, in order, keyed by user (one partition: order kept), and
    // answer only once the broker has them.
    if let Err(err) = st
        .publish_all(topics::ENGAGEMENT, &user.user_id, EVENT_TYPE, &out)
        .await
    {
        credit::release(&st, &user.user_id, &out).await;
        return Err(err);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(EventsAccepted {
            accepted: out.len(),
            credits: out.iter().map(|e| credit::name(e.credit())).collect(),
            event_ids: out.into_iter().map(|e| e.event_id).collect(),
        }),
    ))
}
