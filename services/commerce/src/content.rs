//! What commerce asks the content service, on the caller's own token: who
//! made a video (a creator anchors products to their own videos only) and
//! who hosts a LIVE room and whether it is open (only the host fills the
//! room's shopping bag and pins). Content stays the source of truth; the
//! answer is stored with the anchor or bag item it allowed, so a buyer's
//! visit from the video or room is checked without asking again.

use std::time::Duration;

use loop_proto::content::v1 as pb;
use loop_proto::content::v1::content_service_client::ContentServiceClient;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::error::{CommerceError, CommerceResult, unavailable};

#[derive(Clone)]
pub struct Content {
    client: ContentServiceClient<Channel>,
    timeout: Duration,
}

/// A LIVE room as content sees it.
#[derive(Debug, Clone, Copy)]
pub struct Room {
    pub host_id: Uuid,
    pub open: bool,
}

fn map_status(status: &tonic::Status, what: &str, field: &str) -> CommerceError {
    match status.code() {
        Code::NotFound | Code::PermissionDenied => {
            CommerceError::not_found(format!("{what} not found ({field})"))
        }
        Code::InvalidArgument => CommerceError::invalid(field, "must be a UUID"),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
            unavailable("the content service is unavailable, retry")
        }
        _ => CommerceError::internal(anyhow::anyhow!("content {what} lookup: {status}")),
    }
}

impl Content {
    pub fn new(channel: Channel, timeout: Duration) -> Self {
        Self {
            client: ContentServiceClient::new(channel),
            timeout,
        }
    }

    fn request<T>(&self, message: T, token: &str) -> tonic::Request<T> {
        loop_platform::grpc::request(message, Some(token), self.timeout)
    }

    /// The creator of a video the caller can see.
    pub async fn video_creator(&self, token: &str, video_id: Uuid) -> CommerceResult<Uuid> {
        let video = self
            .client
            .clone()
            .get_video(self.request(
                pb::GetVideoRequest {
                    video_id: video_id.to_string(),
                },
                token,
            ))
            .await
            .map_err(|s| map_status(&s, "video", "video_id"))?
            .into_inner()
            .video
            .ok_or_else(|| {
                CommerceError::internal(anyhow::anyhow!("content answered without a video"))
            })?;
        Uuid::parse_str(&video.creator_id).map_err(CommerceError::internal)
    }

    /// The room's host and whether it is open.
    pub async fn room(&self, token: &str, room_id: Uuid) -> CommerceResult<Room> {
        let room = self
            .client
            .clone()
            .get_live_room(self.request(
                pb::GetLiveRoomRequest {
                    room_id: room_id.to_string(),
                },
                token,
            ))
            .await
            .map_err(|s| map_status(&s, "LIVE room", "room_id"))?
            .into_inner()
            .room
            .ok_or_else(|| {
                CommerceError::internal(anyhow::anyhow!("content answered without a room"))
            })?;
        Ok(Room {
            host_id: Uuid::parse_str(&room.creator_id).map_err(CommerceError::internal)?,
            open: room.open,
        })
    }
}
