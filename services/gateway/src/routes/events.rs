//! `POST /v1/events`: client-reported engagement, validated as a whole batch
//! (one bad event rejects the batch, naming `events[i].field`), enriched from
//! the video record, and published to `engagement.v1` keyed by user. The
//! response is sent only after the broker acknowledged every event, so an
//! accepted event is never lost.
//!
//! Likes are the exception: `POST /v1/videos/{video_id}/like` records the
//! like in content and publishes its engagement through [`publish_like`],
//! so a like is one client call and reaches the ranker from one place; the
//! `like` and `unlike` kinds are refused here.
//!
//! The handler is its steps: [`check_batch`] and the context, one lookup of
//! every named video ([`resolve_videos`]), the per-user event cap, one
//! [`build_event`] per event, then [`publish_engagement`] (credit, publish,
//! give the credit back if the broker refused). The batch, time and id
//! rules are shared with `POST /v1/ad-events`.

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
    #[schema(schema_with = crate::constraints::country)]
    pub country: String,
    /// A BCP 47 language tag ("en", "pt-BR").
    #[serde(default)]
    #[schema(schema_with = crate::constraints::language_tag)]
    pub language: String,
    /// ios, android or web.
    #[serde(default)]
    #[schema(schema_with = crate::constraints::device_os)]
    pub device_os: String,
    /// At most 32 characters.
    #[serde(default)]
    #[schema(max_length = 32)]
    pub app_version: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// A UUID the client generates so a retried batch is not counted twice
    /// (consumers dedupe by event id); the server assigns a UUIDv7 when absent.
    #[schema(schema_with = crate::constraints::uuid)]
    pub event_id: Option<String>,
    /// impression, view, share, comment, follow, quick_skip, not_interested or profile_visit.
    /// Likes are not reported here: `POST /v1/videos/{video_id}/like` records
    /// the like and its engagement in one call.
    #[schema(schema_with = kinds)]
    pub kind: String,
    #[schema(schema_with = crate::constraints::uuid)]
    pub video_id: String,
    /// view (required), and only view: how long it was watched (more than
    /// the duration means a rewatch; at most ten plays of the video).
    pub watch_ms: Option<u32>,
    /// view: the duration the client played (at most 10 minutes); the
    /// server's record is authoritative.
    #[schema(minimum = 1, maximum = 600000)]
    pub video_duration_ms: Option<u32>,
    /// not_interested, and only not_interested: video (default), creator or
    /// sound (when the video has one).
    #[schema(schema_with = targets)]
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

crate::constraints::enum_schemas! {
    kinds => KINDS;
    targets => &["video", "creator", "sound"];
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
    let language = match body.language.trim() {
        "" => String::new(),
        tag => crate::dto::language_tag("context.language", tag)?,
    };
    if body.app_version.chars().count() > 32 {
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
        language,
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
    check_batch(body.events.len())?;
    let ctx = context(&body.context)?;
    let now = Utc::now();
    let found = resolve_videos(&st, &user, &body.events).await?;
    let videos: HashMap<&str, &pb::Video> =
        found.iter().map(|v| (v.video_id.as_str(), v)).collect();
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
        let (event, was_served) = build_event(&st, &user, i, e, &videos, &ctx, now)?;
        out.push(event);
        served.push(was_served);
    }
    publish_engagement(&st, &user.user_id, &mut out, &served).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(EventsAccepted {
            accepted: out.len(),
            credits: out.iter().map(|e| credit::name(e.credit())).collect(),
            event_ids: out.into_iter().map(|e| e.event_id).collect(),
        }),
    ))
}

/// A batch carries 1 to [`MAX_BATCH`] events (`POST /v1/events` and
/// `POST /v1/ad-events` alike).
pub(crate) fn check_batch(len: usize) -> ApiResult<()> {
    if len == 0 || len > MAX_BATCH {
        return Err(ApiError::invalid(
            "events",
            format!("send 1 to {MAX_BATCH} events"),
        ));
    }
    Ok(())
}

/// When a client event happened: at most 24 hours old, clamped to now.
pub(crate) fn occurred_at(
    field: String,
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ApiResult<DateTime<Utc>> {
    match at {
        Some(t) if t < now - chrono::Duration::hours(24) => {
            Err(ApiError::invalid(field, "is more than 24 hours old"))
        }
        Some(t) => Ok(t.min(now)),
        None => Ok(now),
    }
}

/// The client's event id (a UUID, so a retried batch is recognised) or a
/// fresh UUIDv7.
pub(crate) fn event_id(field: String, id: Option<&String>) -> ApiResult<String> {
    match id {
        Some(id) => uuid::Uuid::parse_str(id)
            .map(|u| u.to_string())
            .map_err(|_| ApiError::invalid(field, "must be a UUID")),
        None => Ok(loop_platform::ids::new_id().to_string()),
    }
}

/// Every video the batch names, looked up once; a malformed id rejects the
/// batch. Unknown (or not visible) videos are absent from the answer.
async fn resolve_videos(
    st: &AppState,
    user: &AuthUser,
    events: &[EventBody],
) -> ApiResult<Vec<pb::Video>> {
    let mut ids: Vec<String> = events.iter().map(|e| e.video_id.clone()).collect();
    ids.sort();
    ids.dedup();
    for (i, e) in events.iter().enumerate() {
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
                .batch_get_videos(st.req(user, pb::BatchGetVideosRequest { video_ids: ids })),
        )
        .await?;
    Ok(found.videos)
}

/// Event `i` of the batch, validated (errors name `events[i].field`) and
/// enriched from its video; true when it presented a valid serve token.
fn build_event(
    st: &AppState,
    user: &AuthUser,
    i: usize,
    e: &EventBody,
    videos: &HashMap<&str, &pb::Video>,
    ctx: &common::ClientContext,
    now: DateTime<Utc>,
) -> ApiResult<(ev::EngagementEvent, bool)> {
    let field = |name: &str| format!("events[{i}].{name}");
    let kind = kind(field("kind"), &e.kind)?;
    let video = videos
        .get(e.video_id.as_str())
        .ok_or_else(|| ApiError::invalid(field("video_id"), "no such video"))?;
    let watch_ms = watch_ms(field("watch_ms"), kind, e.watch_ms, video)?;
    if e.video_duration_ms == Some(0) {
        return Err(ApiError::invalid(
            field("video_duration_ms"),
            "must be positive",
        ));
    }
    if e.video_duration_ms.is_some_and(|d| d > 600_000) {
        return Err(ApiError::invalid(
            field("video_duration_ms"),
            "is implausible: videos last at most 10 minutes",
        ));
    }
    let target = target(field("target"), kind, e.target.as_deref(), video)?;
    let occurred_at = occurred_at(field("occurred_at"), e.occurred_at, now)?;
    let event_id = event_id(field("event_id"), e.event_id.as_ref())?;
    let served = served(
        st,
        user,
        field("serve_token"),
        e.serve_token.as_deref(),
        &video.video_id,
    )?;
    let event = ev::EngagementEvent {
        watch_ms,
        not_interested_target: target as i32,
        // What the ranker scored the item with, for its weight learning.
        served_features: served.as_ref().map(|s| s.f.clone()).unwrap_or_default(),
        ..engagement(&user.user_id, video, kind, ctx, occurred_at, now, event_id)
    };
    Ok((event, served.is_some()))
}

/// What a viewer did with `video`, enriched from the video record so
/// consumers need no lookup; credited later, for a whole batch at once
/// ([`publish_engagement`]).
pub(crate) fn engagement(
    user_id: &str,
    video: &pb::Video,
    kind: ev::EngagementKind,
    ctx: &common::ClientContext,
    occurred_at: DateTime<Utc>,
    now: DateTime<Utc>,
    event_id: String,
) -> ev::EngagementEvent {
    ev::EngagementEvent {
        event_id,
        occurred_at: Some(to_timestamp(occurred_at)),
        user_id: user_id.to_owned(),
        video_id: video.video_id.clone(),
        creator_id: video.creator_id.clone(),
        sound_id: video.sound_id.clone(),
        kind: kind as i32,
        watch_ms: 0,
        video_duration_ms: video.duration_ms,
        not_interested_target: ev::NotInterestedTarget::Unspecified as i32,
        context: Some(ctx.clone()),
        accepted_at: Some(to_timestamp(now)),
        hashtags: video.hashtags.clone(),
        category: video.category.clone(),
        credit: ev::EngagementCredit::Unverified as i32,
        served_features: Vec::new(),
    }
}

fn kind(field: String, value: &str) -> ApiResult<ev::EngagementKind> {
    let kind = enum_from_str(
        &field,
        value,
        "ENGAGEMENT_KIND_",
        |s| ev::EngagementKind::from_str_name(s).map(|v| v as i32),
        KINDS,
    )?;
    match ev::EngagementKind::try_from(kind) {
        Ok(ev::EngagementKind::Like | ev::EngagementKind::Unlike) => Err(ApiError::invalid(
            field,
            "likes are recorded by POST (and removed by DELETE) /v1/videos/{video_id}/like, which also teaches the feed; they are not reported here",
        )),
        Ok(k) if k != ev::EngagementKind::Unspecified => Ok(k),
        _ => Err(ApiError::invalid(
            field,
            format!("must be one of: {}", KINDS.join(", ")),
        )),
    }
}

/// A view's watch time: required, and at most ten plays of the video;
/// other kinds carry none.
fn watch_ms(
    field: String,
    kind: ev::EngagementKind,
    watch_ms: Option<u32>,
    video: &pb::Video,
) -> ApiResult<u32> {
    match (kind == ev::EngagementKind::View, watch_ms) {
        (true, None) => Err(ApiError::invalid(field, "is required for a view")),
        (true, Some(w)) if u64::from(w) > 10 * u64::from(video.duration_ms.max(1)) => Err(
            ApiError::invalid(field, "is implausible: more than ten plays of the video"),
        ),
        (true, Some(w)) => Ok(w),
        (false, Some(_)) => Err(ApiError::invalid(field, "only views carry a watch time")),
        (false, None) => Ok(0),
    }
}

/// What a "not interested" is about (the video by default); other kinds
/// carry no target.
fn target(
    field: String,
    kind: ev::EngagementKind,
    target: Option<&str>,
    video: &pb::Video,
) -> ApiResult<ev::NotInterestedTarget> {
    if kind != ev::EngagementKind::NotInterested {
        return match target {
            Some(_) => Err(ApiError::invalid(
                field,
                "only not_interested events carry a target",
            )),
            None => Ok(ev::NotInterestedTarget::Unspecified),
        };
    }
    match target.unwrap_or("video") {
        "video" => Ok(ev::NotInterestedTarget::Video),
        "creator" => Ok(ev::NotInterestedTarget::Creator),
        "sound" if !video.sound_id.is_empty() => Ok(ev::NotInterestedTarget::Sound),
        "sound" => Err(ApiError::invalid(field, "this video has no sound")),
        _ => Err(ApiError::invalid(
            field,
            "must be one of: video, creator, sound",
        )),
    }
}

/// The claims of the engagement's serve token when it is a valid one of
/// the video for this user. Someone else's token, or another video's, is
/// refused; an expired one (an old feed page) still teaches the user's own
/// feed (None).
pub(crate) fn served(
    st: &AppState,
    user: &AuthUser,
    field: String,
    token: Option<&str>,
    video_id: &str,
) -> ApiResult<Option<crate::serve::Served>> {
    let Some(token) = token else {
        return Ok(None);
    };
    if token.len() > 2048 {
        return Err(ApiError::invalid(field, "at most 2048 characters"));
    }
    match st.serve_tokens.verify(token) {
        Ok(s) if s.sub == user.user_id && s.vid == video_id => Ok(Some(s)),
        Ok(_) | Err(ServeTokenError::Invalid) => Err(ApiError::invalid(
            field,
            "is not a serve token of this video for you",
        )),
        Err(ServeTokenError::Expired) => Ok(None),
    }
}

/// Credits `events` (one Redis round trip, [`credit::assign`]) and publishes
/// them all, in order, keyed by user (one partition: order kept); returns
/// only once the broker has them. When they cannot be published the
/// windows they claimed are given back, so a retry earns its credit.
pub(crate) async fn publish_engagement(
    st: &AppState,
    user_id: &str,
    events: &mut [ev::EngagementEvent],
    served: &[bool],
) -> ApiResult<()> {
    credit::assign(st, user_id, events, served).await;
    if let Err(err) = st
        .publish_all(topics::ENGAGEMENT, user_id, EVENT_TYPE, events)
        .await
    {
        credit::release(st, user_id, events).await;
        return Err(err);
    }
    Ok(())
}

/// The engagement a like or unlike implies, once content has recorded it
/// (`POST` / `DELETE /v1/videos/{video_id}/like`): published on
/// `engagement.v1` from here and credited by the same rules as any reported
/// event. This is the one path by which likes reach the ranker; `POST
/// /v1/events` refuses them. It is published whether or not the call changed
/// anything: a repeat is a `duplicate` consumers ignore, and a retry after a
/// failed publish earns the credit the first attempt gave back.
pub(crate) async fn publish_like(
    st: &AppState,
    user: &AuthUser,
    video: &pb::Video,
    kind: ev::EngagementKind,
    served: bool,
    ctx: &common::ClientContext,
) -> ApiResult<ev::EngagementCredit> {
    let now = Utc::now();
    let id = loop_platform::ids::new_id().to_string();
    let mut events = [engagement(&user.user_id, video, kind, ctx, now, now, id)];
    publish_engagement(st, &user.user_id, &mut events, &[served]).await?;
    Ok(events[0].credit())
}
