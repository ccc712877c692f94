//! The gRPC surface: authenticates each call, then delegates to the handler
//! of the same name (in `users`, `videos`, `social`, `catalog`,
//! `moderation`, `live`). Errors map to `tonic::Status` once, in the platform.

use std::sync::Arc;

use loop_platform::auth::JwtKeys;
use loop_proto::content::v1 as pb;
use loop_proto::content::v1::content_service_server::ContentService as ContentApi;
use loop_proto::media::v1::media_service_client::MediaServiceClient;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::Config;

#[derive(Clone)]
pub struct ContentService {
    pub(crate) pool: PgPool,
    pub(crate) keys: JwtKeys,
    pub(crate) config: Arc<Config>,
    /// The media service (publishing from an upload).
    pub(crate) media: Option<MediaServiceClient<tonic::transport::Channel>>,
}

impl ContentService {
    pub fn new(pool: PgPool, keys: JwtKeys, config: Arc<Config>) -> Self {
        let media = match loop_platform::grpc::channel(&config.media.url) {
            Ok(channel) => Some(MediaServiceClient::new(channel)),
            Err(err) => {
                tracing::error!(error = %err, "media.url is unusable; publishing from uploads is off");
                None
            }
        };
        Self {
            pool,
            keys,
            config,
            media,
        }
    }
}

// Implements the trait: `authed` rpcs require a verified caller and call
// `ContentService::<name>(&caller, request)`; `public` items are written out.
loop_platform::authenticated_api! {
    impl ContentApi for ContentService, error loop_platform::AppError;
    @public {
        async fn create_user(&self, request: Request<pb::CreateUserRequest>) -> Result<Response<pb::CreateUserResponse>, Status> {
            // Sign-up needs no token; a token, when present, may be an admin creating an admin.
            let caller = self.keys.caller(&request).ok();
            Ok(Response::new(ContentService::create_user(self, caller.as_ref(), request.into_inner()).await?))
        }

        async fn authenticate(&self, request: Request<pb::AuthenticateRequest>) -> Result<Response<pb::AuthenticateResponse>, Status> {
            Ok(Response::new(ContentService::authenticate(self, request.into_inner()).await?))
        }
    }
        get_user(pb::GetUserRequest) -> pb::GetUserResponse;
        batch_get_users(pb::BatchGetUsersRequest) -> pb::BatchGetUsersResponse;
        update_profile(pb::UpdateProfileRequest) -> pb::UpdateProfileResponse;
        upsert_creator_profile(pb::UpsertCreatorProfileRequest) -> pb::UpsertCreatorProfileResponse;
        publish_video(pb::PublishVideoRequest) -> pb::PublishVideoResponse;
        get_video(pb::GetVideoRequest) -> pb::GetVideoResponse;
        batch_get_videos(pb::BatchGetVideosRequest) -> pb::BatchGetVideosResponse;
        update_video(pb::UpdateVideoRequest) -> pb::UpdateVideoResponse;
        delete_video(pb::DeleteVideoRequest) -> pb::DeleteVideoResponse;
        list_creator_videos(pb::ListCreatorVideosRequest) -> pb::ListCreatorVideosResponse;
        list_following_videos(pb::ListFollowingVideosRequest) -> pb::ListFollowingVideosResponse;
        get_remix_lineage(pb::GetRemixLineageRequest) -> pb::GetRemixLineageResponse;
        follow(pb::FollowRequest) -> pb::FollowResponse;
        unfollow(pb::UnfollowRequest) -> pb::UnfollowResponse;
        list_followers(pb::ListFollowersRequest) -> pb::ListFollowersResponse;
        list_following(pb::ListFollowingRequest) -> pb::ListFollowingResponse;
        like_video(pb::LikeVideoRequest) -> pb::LikeVideoResponse;
        unlike_video(pb::UnlikeVideoRequest) -> pb::UnlikeVideoResponse;
        add_comment(pb::AddCommentRequest) -> pb::AddCommentResponse;
        list_comments(pb::ListCommentsRequest) -> pb::ListCommentsResponse;
        delete_comment(pb::DeleteCommentRequest) -> pb::DeleteCommentResponse;
        share_video(pb::ShareVideoRequest) -> pb::ShareVideoResponse;
        get_hashtag(pb::GetHashtagRequest) -> pb::GetHashtagResponse;
        list_hashtag_videos(pb::ListHashtagVideosRequest) -> pb::ListHashtagVideosResponse;
        create_challenge(pb::CreateChallengeRequest) -> pb::CreateChallengeResponse;
        list_challenges(pb::ListChallengesRequest) -> pb::ListChallengesResponse;
        create_sound(pb::CreateSoundRequest) -> pb::CreateSoundResponse;
        get_sound(pb::GetSoundRequest) -> pb::GetSoundResponse;
        list_sound_videos(pb::ListSoundVideosRequest) -> pb::ListSoundVideosResponse;
        report_video(pb::ReportVideoRequest) -> pb::ReportVideoResponse;
        list_reports(pb::ListReportsRequest) -> pb::ListReportsResponse;
        moderate_video(pb::ModerateVideoRequest) -> pb::ModerateVideoResponse;
        start_live(pb::StartLiveRequest) -> pb::StartLiveResponse;
        end_live(pb::EndLiveRequest) -> pb::EndLiveResponse;
        join_live(pb::JoinLiveRequest) -> pb::JoinLiveResponse;
        leave_live(pb::LeaveLiveRequest) -> pb::LeaveLiveResponse;
        get_live_room(pb::GetLiveRoomRequest) -> pb::GetLiveRoomResponse;
        list_live_rooms(pb::ListLiveRoomsRequest) -> pb::ListLiveRoomsResponse;
}
