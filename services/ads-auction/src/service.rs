//! The gRPC surface: authenticates each call, then delegates to the handler
//! of the same name (`campaigns`, `creatives`, `topview`, `challenges`,
//! `reports`, `serving`). Errors map to `tonic::Status` once (`error`).

use std::sync::Arc;
use std::time::Duration;

use loop_platform::auth::{Caller, JwtKeys, Role};
use loop_platform::cache::Redis;
use loop_platform::ids::parse_id;
use loop_proto::ads_auction::v1 as pb;
use loop_proto::ads_auction::v1::ads_auction_service_server::AdsAuctionService as AdsApi;
use loop_proto::content::v1::content_service_client::ContentServiceClient;
use sqlx::PgPool;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::Config;
use crate::error::{AdsError, AdsResult};
use crate::index::{self, Index};
use crate::model::{AD_GROUP_COLUMNS, AdGroupRow, CAMPAIGN_COLUMNS, CampaignRow};
use crate::serving::Server;
use crate::wallet::AdWallet;

#[derive(Clone)]
pub struct AdsService {
    pub(crate) pool: PgPool,
    pub(crate) redis: Redis,
    pub(crate) index: Arc<Index>,
    pub(crate) keys: JwtKeys,
    pub(crate) wallet: Arc<dyn AdWallet>,
    pub(crate) content: ContentServiceClient<Channel>,
    pub(crate) server: Server,
    pub(crate) config: Arc<Config>,
}

impl AdsService {
    pub fn new(
        pool: PgPool,
        redis: Redis,
        index: Arc<Index>,
        keys: JwtKeys,
        wallet: Arc<dyn AdWallet>,
        content: Channel,
        config: Arc<Config>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            server: Server::new(index.clone(), redis.clone(), config.clone()),
            pool,
            redis,
            index,
            keys,
            wallet,
            content: ContentServiceClient::new(content),
            config,
        })
    }

    /// A content request on the caller's behalf (their own token).
    pub(crate) fn as_caller<T>(&self, caller: &Caller, message: T) -> tonic::Request<T> {
        loop_platform::grpc::request(message, Some(&caller.token), Duration::from_secs(5))
    }

    /// A content request as this service.
    pub(crate) fn as_service<T>(&self, message: T) -> tonic::Request<T> {
        let token = self.keys.service_token(Duration::from_secs(60));
        loop_platform::grpc::request(message, Some(&token), Duration::from_secs(5))
    }

    /// Reloads ad groups into this replica's index right after a commit
    /// (other replicas reload on the NOTIFY sent in the transaction).
    pub(crate) async fn refresh(&self, ids: &[Uuid]) {
        if let Err(err) = index::reload(&self.pool, &self.index, ids).await {
            tracing::warn!(error = ?err, "index reload after change failed; polling will catch up");
        }
    }

    pub(crate) async fn campaign_for(
        &self,
        caller: &Caller,
        field: &str,
        id: &str,
    ) -> AdsResult<CampaignRow> {
        let id = parse_id(field, id)?;
        let row = sqlx::query_as::<_, CampaignRow>(&format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .filter(|c| caller.is_privileged() || c.advertiser_id.to_string() == caller.subject)
        .ok_or_else(|| AdsError::not_found("campaign not found"))?;
        Ok(row)
    }

    pub(crate) async fn ad_group_for(
        &self,
        caller: &Caller,
        field: &str,
        id: &str,
    ) -> AdsResult<(AdGroupRow, CampaignRow)> {
        let id = parse_id(field, id)?;
        let group = sqlx::query_as::<_, AdGroupRow>(&format!(
            "SELECT {AD_GROUP_COLUMNS} FROM ad_groups g WHERE g.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .filter(|g| caller.is_privileged() || g.advertiser_id.to_string() == caller.subject)
        .ok_or_else(|| AdsError::not_found("ad group not found"))?;
        let campaign = sqlx::query_as::<_, CampaignRow>(&format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1"
        ))
        .bind(group.campaign_id)
        .fetch_one(&self.pool)
        .await?;
        Ok((group, campaign))
    }
}

/// Advertiser rpcs: role ADVERTISER (admins pass too).
pub(crate) fn advertiser(caller: &Caller) -> AdsResult<Uuid> {
    caller.require_role(&[Role::Advertiser])?;
    Ok(caller.user_id()?)
}

/// Internal rpcs: a service identity (admins may call them for debugging).
pub(crate) fn internal(caller: &Caller) -> AdsResult<()> {
    if caller.is_privileged() {
        Ok(())
    } else {
        Err(AdsError::denied("this rpc is internal to the platform"))
    }
}

loop_platform::authenticated_api! {
    impl AdsApi for AdsService, error AdsError;
    create_campaign(pb::CreateCampaignRequest) -> pb::CreateCampaignResponse;
    get_campaign(pb::GetCampaignRequest) -> pb::GetCampaignResponse;
    list_campaigns(pb::ListCampaignsRequest) -> pb::ListCampaignsResponse;
    update_campaign(pb::UpdateCampaignRequest) -> pb::UpdateCampaignResponse;
    pause_campaign(pb::PauseCampaignRequest) -> pb::PauseCampaignResponse;
    resume_campaign(pb::ResumeCampaignRequest) -> pb::ResumeCampaignResponse;
    create_ad_group(pb::CreateAdGroupRequest) -> pb::CreateAdGroupResponse;
    get_ad_group(pb::GetAdGroupRequest) -> pb::GetAdGroupResponse;
    list_ad_groups(pb::ListAdGroupsRequest) -> pb::ListAdGroupsResponse;
    update_ad_group(pb::UpdateAdGroupRequest) -> pb::UpdateAdGroupResponse;
    pause_ad_group(pb::PauseAdGroupRequest) -> pb::PauseAdGroupResponse;
    resume_ad_group(pb::ResumeAdGroupRequest) -> pb::ResumeAdGroupResponse;
    create_creative(pb::CreateCreativeRequest) -> pb::CreateCreativeResponse;
    list_creatives(pb::ListCreativesRequest) -> pb::ListCreativesResponse;
    update_creative(pb::UpdateCreativeRequest) -> pb::UpdateCreativeResponse;
    get_top_view_quote(pb::GetTopViewQuoteRequest) -> pb::GetTopViewQuoteResponse;
    reserve_top_view(pb::ReserveTopViewRequest) -> pb::ReserveTopViewResponse;
    get_top_view_reservation(pb::GetTopViewReservationRequest) -> pb::GetTopViewReservationResponse;
    list_top_view_reservations(pb::ListTopViewReservationsRequest) -> pb::ListTopViewReservationsResponse;
    cancel_top_view_reservation(pb::CancelTopViewReservationRequest) -> pb::CancelTopViewReservationResponse;
    create_branded_challenge(pb::CreateBrandedChallengeRequest) -> pb::CreateBrandedChallengeResponse;
    list_active_challenges(pb::ListActiveChallengesRequest) -> pb::ListActiveChallengesResponse;
    issue_spark_code(pb::IssueSparkCodeRequest) -> pb::IssueSparkCodeResponse;
    list_spark_codes(pb::ListSparkCodesRequest) -> pb::ListSparkCodesResponse;
    revoke_spark_code(pb::RevokeSparkCodeRequest) -> pb::RevokeSparkCodeResponse;
    create_spark_ad(pb::CreateSparkAdRequest) -> pb::CreateSparkAdResponse;
    get_report(pb::GetReportRequest) -> pb::GetReportResponse;
    fill_ad_slots(pb::FillAdSlotsRequest) -> pb::FillAdSlotsResponse;
    get_ad_group_delivery(pb::GetAdGroupDeliveryRequest) -> pb::GetAdGroupDeliveryResponse;
}

impl AdsService {
    pub(crate) async fn fill_ad_slots(
        &self,
        caller: &Caller,
        req: pb::FillAdSlotsRequest,
    ) -> AdsResult<pb::FillAdSlotsResponse> {
        internal(caller)?;
        let offered = crate::serving::positions(&req.slot_positions).map_or(0, |p| p.len());
        let response = self.server.fill(req).await?;
        fill_metrics(offered, &response);
        Ok(response)
    }
}

/// Ad slots offered to the auction (after adjacent positions are dropped).
static SLOTS_OFFERED: std::sync::LazyLock<prometheus::IntCounter> =
    std::sync::LazyLock::new(|| {
        loop_platform::metrics::counter_vec(
            "loop_ads_slots_offered_total",
            "Ad slots FillAdSlots was asked to fill (fill rate = filled / offered)",
            &[],
        )
        .with_label_values::<&str>(&[])
    });

/// Ad slots filled, by ad format.
static SLOTS_FILLED: std::sync::LazyLock<prometheus::IntCounterVec> =
    std::sync::LazyLock::new(|| {
        loop_platform::metrics::counter_vec(
            "loop_ads_slots_filled_total",
            "Ad slots FillAdSlots filled, by ad format (in_feed, topview, spark)",
            &["format"],
        )
    });

fn fill_metrics(offered: usize, response: &pb::FillAdSlotsResponse) {
    SLOTS_OFFERED.inc_by(offered as u64);
    for slot in &response.slots {
        let format = slot
            .placement
            .as_ref()
            .and_then(|p| pb::AdFormat::try_from(p.format).ok())
            .map_or("unspecified", |f| match f {
                pb::AdFormat::InFeed => "in_feed",
                pb::AdFormat::Topview => "topview",
                pb::AdFormat::Spark => "spark",
                pb::AdFormat::Unspecified => "unspecified",
            });
        SLOTS_FILLED.with_label_values(&[format]).inc();
    }
}
