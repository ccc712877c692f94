//! The JSON shapes of the public API and their conversions from protobuf.
//! Enums travel as lower-case strings (`"public"`, `"duet"`), derived from the
//! proto enum names so the two cannot drift.

use chrono::{DateTime, Utc};
use loop_proto::content::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// `VISIBILITY_PUBLIC` -> `public`.
pub fn enum_to_str(proto_name: &str, prefix: &str) -> String {
    proto_name
        .strip_prefix(prefix)
        .unwrap_or(proto_name)
        .to_lowercase()
}

/// `public` -> the proto value, naming `field` when unknown. Empty -> 0 (unspecified).
pub fn enum_from_str(
    field: &str,
    value: &str,
    prefix: &str,
    parse: fn(&str) -> Option<i32>,
    allowed: &[&str],
) -> Result<i32, ApiError> {
    if value.is_empty() {
        return Ok(0);
    }
    parse(&format!("{prefix}{}", value.to_uppercase()))
        .filter(|v| *v != 0)
        .ok_or_else(|| ApiError::invalid(field, format!("must be one of: {}", allowed.join(", "))))
}

pub fn ts(t: Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
}

/// An empty proto string as an absent JSON field.
pub fn opt(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub user_id: String,
    pub handle: String,
    pub display_name: String,
    /// viewer, creator, advertiser or admin.
    pub role: String,
    pub country: String,
    pub language: String,
    pub gender: String,
    /// 13_17, 18_24, 25_34, 35_44, 45_54 or 55_plus.
    pub age_band: String,
    pub declared_interests: Vec<String>,
    pub follower_count: u64,
    pub following_count: u64,
    pub created_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator: Option<CreatorProfileDto>,
    /// Only in your own profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatorProfileDto {
    pub bio: String,
    pub category: String,
    pub verified: bool,
}

impl From<pb::User> for UserDto {
    fn from(u: pb::User) -> Self {
        Self {
            role: enum_to_str(u.role().as_str_name(), "ROLE_"),
            gender: enum_to_str(u.gender().as_str_name(), "GENDER_"),
            age_band: enum_to_str(u.age_band().as_str_name(), "AGE_BAND_"),
            user_id: u.user_id,
            handle: u.handle,
            display_name: u.display_name,
            country: u.country,
            language: u.language,
            declared_interests: u.declared_interests,
            follower_count: u.follower_count,
            following_count: u.following_count,
            created_at: ts(u.created_at),
            creator: u.creator.map(|c| CreatorProfileDto {
                bio: c.bio,
                category: c.category,
                verified: c.verified,
            }),
            birth_date: opt(u.birth_date),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VideoDto {
    pub video_id: String,
    pub creator_id: String,
    pub creator_handle: String,
    pub caption: String,
    pub hashtags: Vec<String>,
    pub sound_id: Option<String>,
    pub duration_ms: u32,
    pub media_url: String,
    /// public, followers or private.
    pub visibility: String,
    /// pending, approved, rejected or removed.
    pub moderation_state: String,
    pub category: String,
    pub remix_of_video_id: Option<String>,
    /// duet or stitch, for remixes.
    pub remix_kind: Option<String>,
    pub like_count: u64,
    pub comment_count: u64,
    pub share_count: u64,
    pub published_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// HLS master playlist, through a short-lived signed URL (videos
    /// published from an upload; fetch the video again for a fresh one).
    pub playback_url: Option<String>,
    /// Poster image, signed like `playback_url`.
    pub poster_url: Option<String>,
    /// Frame width in pixels the media service measured (of the rendered
    /// duet or stitch once rendered); absent for a video published by URL.
    pub width: Option<u32>,
    /// Frame height in pixels, as `width`.
    pub height: Option<u32>,
    /// width / height (e.g. 0.5625 for 9:16 portrait), when both are known.
    pub aspect_ratio: Option<f64>,
}

impl From<pb::Video> for VideoDto {
    fn from(v: pb::Video) -> Self {
        let (playback_url, poster_url) = crate::playback::signed_urls(&v.media_url).unzip();
        let measured = (v.width > 0 && v.height > 0).then_some((v.width, v.height));
        Self {
            playback_url,
            poster_url,
            width: measured.map(|(w, _)| w),
            height: measured.map(|(_, h)| h),
            aspect_ratio: measured.map(|(w, h)| f64::from(w) / f64::from(h)),
            visibility: enum_to_str(v.visibility().as_str_name(), "VISIBILITY_"),
            moderation_state: enum_to_str(v.moderation_state().as_str_name(), "MODERATION_STATE_"),
            remix_kind: (v.remix_kind() != pb::RemixKind::Unspecified)
                .then(|| enum_to_str(v.remix_kind().as_str_name(), "REMIX_KIND_")),
            video_id: v.video_id,
            creator_id: v.creator_id,
            creator_handle: v.creator_handle,
            caption: v.caption,
            hashtags: v.hashtags,
            sound_id: opt(v.sound_id),
            duration_ms: v.duration_ms,
            media_url: v.media_url,
            category: v.category,
            remix_of_video_id: opt(v.remix_of_video_id),
            like_count: v.like_count,
            comment_count: v.comment_count,
            share_count: v.share_count,
            published_at: ts(v.published_at),
            updated_at: ts(v.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommentDto {
    pub comment_id: String,
    pub video_id: String,
    pub author_id: String,
    pub author_handle: String,
    pub text: String,
    pub parent_comment_id: Option<String>,
    pub reply_count: u64,
    pub created_at: Option<DateTime<Utc>>,
}

impl From<pb::Comment> for CommentDto {
    fn from(c: pb::Comment) -> Self {
        Self {
            comment_id: c.comment_id,
            video_id: c.video_id,
            author_id: c.author_id,
            author_handle: c.author_handle,
            text: c.text,
            parent_comment_id: opt(c.parent_comment_id),
            reply_count: c.reply_count,
            created_at: ts(c.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChallengeDto {
    pub challenge_id: String,
    pub hashtag: String,
    pub description: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub sponsor_id: Option<String>,
}

impl From<pb::Challenge> for ChallengeDto {
    fn from(c: pb::Challenge) -> Self {
        Self {
            challenge_id: c.challenge_id,
            hashtag: c.hashtag,
            description: c.description,
            starts_at: ts(c.starts_at),
            ends_at: ts(c.ends_at),
            sponsor_id: opt(c.sponsor_id),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HashtagDto {
    pub name: String,
    pub video_count: u64,
    pub active_challenge: Option<ChallengeDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SoundDto {
    pub sound_id: String,
    pub title: String,
    pub artist: String,
    pub duration_ms: u32,
    pub video_count: u64,
    pub created_at: Option<DateTime<Utc>>,
}

impl From<pb::Sound> for SoundDto {
    fn from(s: pb::Sound) -> Self {
        Self {
            sound_id: s.sound_id,
            title: s.title,
            artist: s.artist,
            duration_ms: s.duration_ms,
            video_count: s.video_count,
            created_at: ts(s.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportDto {
    pub report_id: String,
    pub video_id: String,
    pub reporter_id: String,
    pub reason: String,
    pub details: String,
    /// open or resolved.
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
}

impl From<pb::Report> for ReportDto {
    fn from(r: pb::Report) -> Self {
        Self {
            reason: enum_to_str(r.reason().as_str_name(), "REPORT_REASON_"),
            status: enum_to_str(r.status().as_str_name(), "REPORT_STATUS_"),
            report_id: r.report_id,
            video_id: r.video_id,
            reporter_id: r.reporter_id,
            details: r.details,
            created_at: ts(r.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LiveRoomDto {
    pub room_id: String,
    pub creator_id: String,
    pub creator_handle: String,
    pub title: String,
    pub viewer_count: u64,
    pub open: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl From<pb::LiveRoom> for LiveRoomDto {
    fn from(r: pb::LiveRoom) -> Self {
        Self {
            room_id: r.room_id,
            creator_id: r.creator_id,
            creator_handle: r.creator_handle,
            title: r.title,
            viewer_count: r.viewer_count,
            open: r.open,
            started_at: ts(r.started_at),
            ended_at: ts(r.ended_at),
        }
    }
}

/// A page of a keyset-paginated list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `page_token` to get the next page; absent on the last page.
    pub next_page_token: Option<String>,
}

impl<T: ToSchema> Page<T> {
    pub fn new<P: Into<T>>(
        items: Vec<P>,
        page: Option<loop_proto::common::v1::PageResponse>,
    ) -> Self {
        Self {
            items: items.into_iter().map(Into::into).collect(),
            next_page_token: page.and_then(|p| opt(p.next_page_token)),
        }
    }
}

/// `?page_size=&page_token=` on every list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// 1..=100, default 20.
    #[serde(default, deserialize_with = "page_size")]
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    /// Opaque: the `next_page_token` of the previous page, with the same filters.
    pub page_token: Option<String>,
}

/// An optional count in `lo..=hi`, refused (naming the field) outside it.
pub fn bounded<'de, D: serde::Deserializer<'de>>(
    d: D,
    lo: u32,
    hi: u32,
) -> Result<Option<u32>, D::Error> {
    match Option::<u32>::deserialize(d)? {
        Some(n) if !(lo..=hi).contains(&n) => {
            Err(serde::de::Error::custom(format!("must be {lo}..={hi}")))
        }
        n => Ok(n),
    }
}

/// An ISO 3166-1 alpha-2 code (either case), upper-cased.
pub fn country(field: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim().to_uppercase();
    if v.len() == 2 && v.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(v)
    } else {
        Err(ApiError::invalid(
            field,
            "must be an ISO 3166-1 alpha-2 code such as \"US\"",
        ))
    }
}

/// A BCP 47-style language tag ("en", "pt-BR"): the platform's one rule,
/// the one content applies.
pub fn language_tag(field: &str, value: &str) -> Result<String, ApiError> {
    loop_platform::validate::language_tag(field, value)
        .map_err(|e| ApiError::from(tonic::Status::from(e)))
}

/// At most `max` UUIDs, each element's problem named (`field[i]`).
pub fn uuids(field: &str, values: &[String], max: usize) -> Result<(), ApiError> {
    if values.len() > max {
        return Err(ApiError::invalid(field, format!("at most {max}")));
    }
    for (i, v) in values.iter().enumerate() {
        if uuid::Uuid::parse_str(v).is_err() {
            return Err(ApiError::invalid(format!("{field}[{i}]"), "must be a UUID"));
        }
    }
    Ok(())
}

/// An optional count that fits a signed 64-bit integer (the document's `int64`).
pub fn count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<u64>::deserialize(d)? {
        Some(n) if i64::try_from(n).is_err() => Err(serde::de::Error::custom(format!(
            "must be at most {}",
            i64::MAX
        ))),
        n => Ok(n),
    }
}

/// `page_size`: 1..=100.
pub fn page_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    bounded(d, 1, 100)
}

impl PageQuery {
    pub fn to_proto(&self) -> Option<loop_proto::common::v1::PageRequest> {
        Some(loop_proto::common::v1::PageRequest {
            page_size: self.page_size.unwrap_or(0),
            page_token: self.page_token.clone().unwrap_or_default(),
        })
    }
}
