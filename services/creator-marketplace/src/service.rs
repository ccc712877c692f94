//! The gRPC surface: authenticates each call, then delegates to the handler
//! of the same name (`creators`, `search`, `campaigns`). Errors map to
//! `tonic::Status` once (`error`).

use std::sync::Arc;
use std::time::Duration;

use loop_platform::auth::{Caller, JwtKeys, Role};
use loop_proto::content::v1 as cpb;
use loop_proto::content::v1::content_service_client::ContentServiceClient;
use loop_proto::creator_marketplace::v1 as pb;
use loop_proto::creator_marketplace::v1::creator_marketplace_service_server::CreatorMarketplaceService as MarketApi;
use sqlx::PgPool;
use tonic::Status;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::Config;
use crate::error::{MktError, MktResult};
use crate::escrow::Wallet;

#[derive(Clone)]
pub struct MarketplaceService {
    pub(crate) pool: PgPool,
    pub(crate) keys: JwtKeys,
    pub(crate) config: Arc<Config>,
    pub(crate) wallet: Wallet,
    pub(crate) content: ContentServiceClient<Channel>,
}

impl MarketplaceService {
    pub fn new(pool: PgPool, keys: JwtKeys, config: Arc<Config>) -> anyhow::Result<Self> {
        let wallet = Wallet::new(
            loop_platform::grpc::channel(&config.services.wallet_url)?,
            keys.clone(),
            Duration::from_millis(config.marketplace.wallet_timeout_ms),
        );
        let content =
            ContentServiceClient::new(loop_platform::grpc::channel(&config.services.content_url)?);
        Ok(Self {
            pool,
            keys,
            config,
            wallet,
            content,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A content request as this service.
    fn as_service<T>(&self, message: T) -> tonic::Request<T> {
        let token = self.keys.service_token(Duration::from_secs(60));
        loop_platform::grpc::request(message, Some(&token), Duration::from_secs(5))
    }

    fn content_error(status: &Status) -> MktError {
        match status.code() {
            tonic::Code::NotFound => MktError::not_found("user not found"),
            _ => MktError::App(loop_platform::AppError::Unavailable(
                "content service unavailable, retry".into(),
            )),
        }
    }

    pub(crate) async fn content_user(&self, user: Uuid) -> MktResult<cpb::User> {
        self.content
            .clone()
            .get_user(self.as_service(cpb::GetUserRequest {
                key: Some(cpb::get_user_request::Key::UserId(user.to_string())),
            }))
            .await
            .map_err(|s| Self::content_error(&s))?
            .into_inner()
            .user
            .ok_or_else(|| MktError::not_found("user not found"))
    }

    /// The video as content knows it (None when unknown).
    pub(crate) async fn content_video(&self, video: Uuid) -> MktResult<Option<cpb::Video>> {
        match self
            .content
            .clone()
            .get_video(self.as_service(cpb::GetVideoRequest {
                video_id: video.to_string(),
            }))
            .await
        {
            Ok(r) => Ok(r.into_inner().video),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(Self::content_error(&s)),
        }
    }
}

/// Creator rpcs: role CREATOR (admins pass too).
pub(crate) fn creator(caller: &Caller) -> MktResult<Uuid> {
    caller.require_role(&[Role::Creator])?;
    Ok(caller.user_id()?)
}

/// Advertiser rpcs: role ADVERTISER (admins pass too).
pub(crate) fn advertiser(caller: &Caller) -> MktResult<Uuid> {
    caller.require_role(&[Role::Advertiser])?;
    Ok(caller.user_id()?)
}

loop_platform::authenticated_api! {
    impl MarketApi for MarketplaceService, error MktError;
    apply_as_creator(pb::ApplyAsCreatorRequest) -> pb::ApplyAsCreatorResponse;
    get_application_status(pb::GetApplicationStatusRequest) -> pb::GetApplicationStatusResponse;
    get_creator_profile(pb::GetCreatorProfileRequest) -> pb::GetCreatorProfileResponse;
    update_creator_profile(pb::UpdateCreatorProfileRequest) -> pb::UpdateCreatorProfileResponse;
    list_applications(pb::ListApplicationsRequest) -> pb::ListApplicationsResponse;
    review_application(pb::ReviewApplicationRequest) -> pb::ReviewApplicationResponse;
    get_creator_analytics(pb::GetCreatorAnalyticsRequest) -> pb::GetCreatorAnalyticsResponse;
    search_creators(pb::SearchCreatorsRequest) -> pb::SearchCreatorsResponse;
    create_campaign(pb::CreateCampaignRequest) -> pb::CreateCampaignResponse;
    get_campaign(pb::GetCampaignRequest) -> pb::GetCampaignResponse;
    list_campaigns(pb::ListCampaignsRequest) -> pb::ListCampaignsResponse;
    publish_campaign(pb::PublishCampaignRequest) -> pb::PublishCampaignResponse;
    invite_creator(pb::InviteCreatorRequest) -> pb::InviteCreatorResponse;
    apply_to_campaign(pb::ApplyToCampaignRequest) -> pb::ApplyToCampaignResponse;
    accept_invitation(pb::AcceptInvitationRequest) -> pb::AcceptInvitationResponse;
    decline_invitation(pb::DeclineInvitationRequest) -> pb::DeclineInvitationResponse;
    accept_application(pb::AcceptApplicationRequest) -> pb::AcceptApplicationResponse;
    reject_application(pb::RejectApplicationRequest) -> pb::RejectApplicationResponse;
    get_collaboration(pb::GetCollaborationRequest) -> pb::GetCollaborationResponse;
    list_collaborations(pb::ListCollaborationsRequest) -> pb::ListCollaborationsResponse;
    send_message(pb::SendMessageRequest) -> pb::SendMessageResponse;
    list_messages(pb::ListMessagesRequest) -> pb::ListMessagesResponse;
    submit_deliverable(pb::SubmitDeliverableRequest) -> pb::SubmitDeliverableResponse;
    approve_deliverable(pb::ApproveDeliverableRequest) -> pb::ApproveDeliverableResponse;
    request_changes(pb::RequestChangesRequest) -> pb::RequestChangesResponse;
    get_campaign_report(pb::GetCampaignReportRequest) -> pb::GetCampaignReportResponse;
    list_creator_video_stats(pb::ListCreatorVideoStatsRequest) -> pb::ListCreatorVideoStatsResponse;
}
