//! Database rows and their protobuf forms.

use chrono::{DateTime, NaiveDate, Utc};
use loop_platform::time::{age_band, opt_timestamp, to_timestamp};
use loop_proto::common::v1::Role as ProtoRole;
use loop_proto::content::v1 as pb;
use loop_proto::events::v1 as ev;
use uuid::Uuid;

pub const VISIBILITY_PUBLIC: i16 = pb::Visibility::Public as i16;
pub const VISIBILITY_FOLLOWERS: i16 = pb::Visibility::Followers as i16;
pub const STATE_PENDING: i16 = pb::ModerationState::Pending as i16;
pub const STATE_APPROVED: i16 = pb::ModerationState::Approved as i16;
pub const STATE_REJECTED: i16 = pb::ModerationState::Rejected as i16;
pub const STATE_REMOVED: i16 = pb::ModerationState::Removed as i16;

pub fn role_to_proto(role: &str) -> ProtoRole {
    match role {
        "viewer" => ProtoRole::Viewer,
        "creator" => ProtoRole::Creator,
        "advertiser" => ProtoRole::Advertiser,
        "admin" => ProtoRole::Admin,
        _ => ProtoRole::Unspecified,
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub handle: String,
    pub display_name: String,
    pub birth_date: NaiveDate,
    pub country: String,
    pub language: String,
    pub gender: i16,
    pub role: String,
    pub declared_interests: Vec<String>,
    pub follower_count: i64,
    pub following_count: i64,
    pub created_at: DateTime<Utc>,
    pub bio: Option<String>,
    pub category: Option<String>,
    pub verified: Option<bool>,
}

/// Columns for `UserRow`; joins the creator profile.
pub const USER_SELECT: &str = "SELECT u.id, u.handle, u.display_name, u.birth_date, u.country, u.language, u.gender, u.role, \
     u.declared_interests, u.follower_count, u.following_count, u.created_at, cp.bio, cp.category, cp.verified \
     FROM users u LEFT JOIN creator_profiles cp ON cp.user_id = u.id";

impl UserRow {
    /// `private` includes the birth date (for the user themself and admins).
    pub fn to_proto(&self, private: bool) -> pb::User {
        let today = Utc::now().date_naive();
        pb::User {
            user_id: self.id.to_string(),
            handle: self.handle.clone(),
            display_name: self.display_name.clone(),
            role: role_to_proto(&self.role) as i32,
            country: self.country.clone(),
            language: self.language.clone(),
            gender: i32::from(self.gender),
            age_band: age_band(self.birth_date, today) as i32,
            declared_interests: self.declared_interests.clone(),
            follower_count: u64::try_from(self.follower_count).unwrap_or(0),
            following_count: u64::try_from(self.following_count).unwrap_or(0),
            created_at: Some(to_timestamp(self.created_at)),
            creator: self.bio.as_ref().map(|bio| pb::CreatorProfile {
                bio: bio.clone(),
                category: self.category.clone().unwrap_or_default(),
                verified: self.verified.unwrap_or(false),
            }),
            birth_date: if private {
                self.birth_date.format("%Y-%m-%d").to_string()
            } else {
                String::new()
            },
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VideoRow {
    pub id: Uuid,
    pub creator_id: Uuid,
    pub creator_handle: String,
    pub caption: String,
    pub hashtags: Vec<String>,
    pub sound_id: Option<Uuid>,
    pub duration_ms: i32,
    pub media_url: String,
    pub visibility: i16,
    pub moderation_state: i16,
    pub category: String,
    pub remix_of: Option<Uuid>,
    pub remix_kind: i16,
    pub width: i32,
    pub height: i32,
    pub like_count: i64,
    pub comment_count: i64,
    pub share_count: i64,
    pub published_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Columns for `VideoRow`, table alias `v`.
pub const VIDEO_SELECT: &str = "SELECT v.id, v.creator_id, u.handle AS creator_handle, v.caption, v.hashtags, v.sound_id, \
     v.duration_ms, v.media_url, v.visibility, v.moderation_state, v.category, v.remix_of, v.remix_kind, \
     v.width, v.height, v.like_count, v.comment_count, v.share_count, v.published_at, v.updated_at \
     FROM videos v JOIN users u ON u.id = v.creator_id";

impl VideoRow {
    /// Public and approved: may be served to anyone.
    pub fn servable(&self) -> bool {
        self.visibility == VISIBILITY_PUBLIC && self.moderation_state == STATE_APPROVED
    }

    pub fn is_gone(&self) -> bool {
        matches!(self.moderation_state, STATE_REJECTED | STATE_REMOVED)
    }

    pub fn to_proto(&self) -> pb::Video {
        pb::Video {
            video_id: self.id.to_string(),
            creator_id: self.creator_id.to_string(),
            creator_handle: self.creator_handle.clone(),
            caption: self.caption.clone(),
            hashtags: self.hashtags.clone(),
            sound_id: self.sound_id.map(|s| s.to_string()).unwrap_or_default(),
            duration_ms: u32::try_from(self.duration_ms).unwrap_or(0),
            media_url: self.media_url.clone(),
            visibility: i32::from(self.visibility),
            moderation_state: i32::from(self.moderation_state),
            category: self.category.clone(),
            remix_of_video_id: self.remix_of.map(|s| s.to_string()).unwrap_or_default(),
            remix_kind: i32::from(self.remix_kind),
            like_count: u64::try_from(self.like_count).unwrap_or(0),
            comment_count: u64::try_from(self.comment_count).unwrap_or(0),
            share_count: u64::try_from(self.share_count).unwrap_or(0),
            published_at: Some(to_timestamp(self.published_at)),
            updated_at: Some(to_timestamp(self.updated_at)),
            width: u32::try_from(self.width).unwrap_or(0),
            height: u32::try_from(self.height).unwrap_or(0),
        }
    }

    pub fn snapshot(&self) -> ev::VideoSnapshot {
        ev::VideoSnapshot {
            video_id: self.id.to_string(),
            creator_id: self.creator_id.to_string(),
            caption: self.caption.clone(),
            hashtags: self.hashtags.clone(),
            sound_id: self.sound_id.map(|s| s.to_string()).unwrap_or_default(),
            category: self.category.clone(),
            duration_ms: u32::try_from(self.duration_ms).unwrap_or(0),
            media_url: self.media_url.clone(),
            servable: self.servable(),
            published_at: Some(to_timestamp(self.published_at)),
            remix_of_video_id: self.remix_of.map(|s| s.to_string()).unwrap_or_default(),
            remix_kind: match self.remix_kind {
                1 => "duet",
                2 => "stitch",
                _ => "",
            }
            .into(),
            width: u32::try_from(self.width).unwrap_or(0),
            height: u32::try_from(self.height).unwrap_or(0),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommentRow {
    pub id: Uuid,
    pub video_id: Uuid,
    pub author_id: Uuid,
    pub author_handle: String,
    pub text: String,
    pub parent_id: Option<Uuid>,
    pub reply_count: i64,
    pub created_at: DateTime<Utc>,
}

pub const COMMENT_SELECT: &str = "SELECT c.id, c.video_id, c.author_id, u.handle AS author_handle, c.text, c.parent_id, \
     c.reply_count, c.created_at FROM comments c JOIN users u ON u.id = c.author_id";

impl CommentRow {
    pub fn to_proto(&self) -> pb::Comment {
        pb::Comment {
            comment_id: self.id.to_string(),
            video_id: self.video_id.to_string(),
            author_id: self.author_id.to_string(),
            author_handle: self.author_handle.clone(),
            text: self.text.clone(),
            parent_comment_id: self.parent_id.map(|p| p.to_string()).unwrap_or_default(),
            reply_count: u64::try_from(self.reply_count).unwrap_or(0),
            created_at: Some(to_timestamp(self.created_at)),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChallengeRow {
    pub id: Uuid,
    pub hashtag: String,
    pub description: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub sponsor_id: Option<Uuid>,
    pub created_by: Uuid,
}

impl ChallengeRow {
    pub fn to_proto(&self) -> pb::Challenge {
        pb::Challenge {
            challenge_id: self.id.to_string(),
            hashtag: self.hashtag.clone(),
            description: self.description.clone(),
            starts_at: Some(to_timestamp(self.starts_at)),
            ends_at: Some(to_timestamp(self.ends_at)),
            sponsor_id: self.sponsor_id.map(|s| s.to_string()).unwrap_or_default(),
            created_by: self.created_by.to_string(),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SoundRow {
    pub id: Uuid,
    pub title: String,
    pub artist: String,
    pub duration_ms: i32,
    pub created_at: DateTime<Utc>,
    pub video_count: i64,
}

impl SoundRow {
    pub fn to_proto(&self) -> pb::Sound {
        pb::Sound {
            sound_id: self.id.to_string(),
            title: self.title.clone(),
            artist: self.artist.clone(),
            duration_ms: u32::try_from(self.duration_ms).unwrap_or(0),
            video_count: u64::try_from(self.video_count).unwrap_or(0),
            created_at: Some(to_timestamp(self.created_at)),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReportRow {
    pub id: Uuid,
    pub video_id: Uuid,
    pub reporter_id: Uuid,
    pub reason: i16,
    pub details: String,
    pub status: i16,
    pub created_at: DateTime<Utc>,
}

impl ReportRow {
    pub fn to_proto(&self) -> pb::Report {
        pb::Report {
            report_id: self.id.to_string(),
            video_id: self.video_id.to_string(),
            reporter_id: self.reporter_id.to_string(),
            reason: i32::from(self.reason),
            details: self.details.clone(),
            status: i32::from(self.status),
            created_at: Some(to_timestamp(self.created_at)),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveRoomRow {
    pub id: Uuid,
    pub creator_id: Uuid,
    pub creator_handle: String,
    pub title: String,
    pub viewer_count: i64,
    pub total_viewers: i64,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

pub const LIVE_SELECT: &str = "SELECT r.id, r.creator_id, u.handle AS creator_handle, r.title, r.viewer_count, r.total_viewers, \
     r.started_at, r.ended_at FROM live_rooms r JOIN users u ON u.id = r.creator_id";

impl LiveRoomRow {
    pub fn to_proto(&self) -> pb::LiveRoom {
        pb::LiveRoom {
            room_id: self.id.to_string(),
            creator_id: self.creator_id.to_string(),
            creator_handle: self.creator_handle.clone(),
            title: self.title.clone(),
            viewer_count: u64::try_from(self.viewer_count).unwrap_or(0),
            open: self.ended_at.is_none(),
            started_at: Some(to_timestamp(self.started_at)),
            ended_at: opt_timestamp(self.ended_at),
        }
    }
}
