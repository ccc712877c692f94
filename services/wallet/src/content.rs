//! What the wallet asks the content service: who made a video, whether a LIVE
//! room is open and who hosts it, and a buyer's birth date.
//!
//! Gifts are the hot path, so room and video answers are cached in process:
//! a video's creator never changes (cached `video_cache_ttl_ms`, which bounds
//! how long a removed video still takes gifts); a room that ended never
//! reopens (remembered for good); an open room is trusted for
//! `room_cache_ttl_ms` (default 1 s), so at most that long after its host
//! ends it a gift may still land. Asking content directly (instead of a
//! cache fed from `content.v1`) keeps content the single source of truth and
//! needs no replay of the whole topic at start.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use loop_proto::content::v1 as pb;
use loop_proto::content::v1::content_service_client::ContentServiceClient;
use parking_lot::Mutex;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::config::ContentLookupConfig;
use crate::error::{WalletError, WalletResult};

/// Most entries a cache holds before it starts over.
const CACHE_LIMIT: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    pub host_id: Uuid,
    pub open: bool,
}

pub struct Content {
    client: ContentServiceClient<Channel>,
    config: ContentLookupConfig,
    rooms: Mutex<HashMap<Uuid, (Room, Instant)>>,
    videos: Mutex<HashMap<Uuid, (Uuid, Instant)>>,
}

fn cached<V: Copy>(
    map: &Mutex<HashMap<Uuid, (V, Instant)>>,
    id: Uuid,
    fresh: impl Fn(&V, Instant) -> bool,
) -> Option<V> {
    map.lock()
        .get(&id)
        .filter(|(v, at)| fresh(v, *at))
        .map(|(v, _)| *v)
}

fn remember<V>(map: &Mutex<HashMap<Uuid, (V, Instant)>>, id: Uuid, value: V) {
    let mut m = map.lock();
    if m.len() >= CACHE_LIMIT {
        m.clear();
    }
    m.insert(id, (value, Instant::now()));
}

impl Content {
    pub fn new(url: &str, config: ContentLookupConfig) -> anyhow::Result<Self> {
        Ok(Self {
            client: ContentServiceClient::new(loop_platform::grpc::channel(url)?),
            config,
            rooms: Mutex::new(HashMap::new()),
            videos: Mutex::new(HashMap::new()),
        })
    }

    fn request<T>(&self, message: T, token: &str) -> tonic::Request<T> {
        loop_platform::grpc::request(
            message,
            Some(token),
            Duration::from_millis(self.config.timeout_ms),
        )
    }

    fn map_status(status: tonic::Status, what: &str, field: &str) -> WalletError {
        match status.code() {
            Code::NotFound | Code::PermissionDenied => {
                WalletError::not_found(format!("{what} not found"))
            }
            Code::InvalidArgument => WalletError::invalid(field, "must be a UUID"),
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                WalletError::App(loop_platform::AppError::Unavailable(
                    "the content service is unavailable, retry".into(),
                ))
            }
            _ => WalletError::internal(anyhow::anyhow!("content {what} lookup: {status}")),
        }
    }

    /// The room's host and whether it is open.
    pub async fn room(&self, token: &str, room_id: Uuid) -> WalletResult<Room> {
        let ttl = Duration::from_millis(self.config.room_cache_ttl_ms);
        if let Some(room) = cached(&self.rooms, room_id, |r, at| !r.open || at.elapsed() < ttl) {
            return Ok(room);
        }
        let response = self
            .client
            .clone()
            .get_live_room(self.request(
                pb::GetLiveRoomRequest {
                    room_id: room_id.to_string(),
                },
                token,
            ))
            .await
            .map_err(|s| Self::map_status(s, "live room", "live_room_id"))?
            .into_inner();
        let room = response.room.ok_or_else(|| {
            WalletError::internal(anyhow::anyhow!("content answered without a room"))
        })?;
        let host_id = Uuid::parse_str(&room.creator_id).map_err(WalletError::internal)?;
        let room = Room {
            host_id,
            open: room.open,
        };
        remember(&self.rooms, room_id, room);
        Ok(room)
    }

    /// The creator of a video the caller can see.
    pub async fn video_creator(&self, token: &str, video_id: Uuid) -> WalletResult<Uuid> {
        let ttl = Duration::from_millis(self.config.video_cache_ttl_ms);
        if let Some(creator) = cached(&self.videos, video_id, |_, at| at.elapsed() < ttl) {
            return Ok(creator);
        }
        let response = self
            .client
            .clone()
            .get_video(self.request(
                pb::GetVideoRequest {
                    video_id: video_id.to_string(),
                },
                token,
            ))
            .await
            .map_err(|s| Self::map_status(s, "video", "video_id"))?
            .into_inner();
        let video = response.video.ok_or_else(|| {
            WalletError::internal(anyhow::anyhow!("content answered without a video"))
        })?;
        let creator = Uuid::parse_str(&video.creator_id).map_err(WalletError::internal)?;
        remember(&self.videos, video_id, creator);
        Ok(creator)
    }

    /// The caller's own birth date (content returns it to the user themself).
    pub async fn birth_date(&self, token: &str, user_id: Uuid) -> WalletResult<Option<NaiveDate>> {
        let response = self
            .client
            .clone()
            .get_user(self.request(
                pb::GetUserRequest {
                    key: Some(pb::get_user_request::Key::UserId(user_id.to_string())),
                },
                token,
            ))
            .await;
        let user = match response {
            Ok(r) => r.into_inner().user,
            Err(status) if status.code() == Code::NotFound => None,
            Err(status) => return Err(Self::map_status(status, "user", "user_id")),
        };
        Ok(user.and_then(|u| NaiveDate::parse_from_str(&u.birth_date, "%Y-%m-%d").ok()))
    }
}
