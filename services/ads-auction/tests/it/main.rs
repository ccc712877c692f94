#![allow(clippy::field_reassign_with_default)] // tests tweak a default config field by field
//! ads-auction integration tests: the real service (and the content service
//! it calls) on ephemeral ports, with their own databases, Redis prefix and
//! topics, against real PostgreSQL, Redis and the Kafka-API broker.
//!
//! Auction expectations are computed by hand in the comments: eCPM in
//! millicents per 1000 impressions = bid_cents x 1000 for a CPM bid at
//! quality 1 (a fresh creative's prior quality is 1); GSP price per
//! impression = floor(max(next eCPM, reserve) / 1000) + 1 millicents.

use std::collections::HashSet;
use std::time::Duration;

use loop_ads_auction::Config;
use loop_platform::auth::Role;
use loop_platform::kafka::{Producer, topics};
use loop_platform::testing;
use loop_proto::ads_auction::v1 as pb;
use loop_proto::ads_auction::v1::ads_auction_service_client::AdsAuctionServiceClient;
use loop_proto::common::v1 as common;
use loop_proto::content::v1 as content;
use loop_proto::content::v1::content_service_client::ContentServiceClient;
use loop_proto::events::v1 as ev;
use loop_proto::wallet::v1 as wpb;
use loop_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use loop_testkit::Sandbox;
use loop_testkit::fixtures::{self, NewUser};
use loop_wallet::payments::{TestProvider, TestReceipt};
use sqlx::PgPool;
use tonic::transport::Channel;
use tonic::{Code, Request};
use uuid::Uuid;

struct Harness {
    ads: AdsAuctionServiceClient<Channel>,
    content: ContentServiceClient<Channel>,
    users: fixtures::Content,
    keys: loop_platform::testing::TestKeys,
    config: Config,
    producer: Producer,
    pool: PgPool,
    /// The wallet service and its test receipts (metered harnesses only).
    wallet: Option<(WalletServiceClient<Channel>, TestProvider)>,
    /// Content, ads-auction and (metered) the wallet; dropping it stops them.
    _sandbox: Sandbox,
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> Option<prost_types::Timestamp> {
    Some(loop_platform::time::to_timestamp(t))
}

impl Harness {
    /// Ads and content; the wallet is `unmetered` (the auction alone).
    async fn start(tune: impl FnOnce(&mut Config)) -> Self {
        Self::start_with(false, tune).await
    }

    /// Ads, content and the wallet service, with budgets paid from wallet cents.
    async fn start_metered(tune: impl FnOnce(&mut Config)) -> Self {
        Self::start_with(true, tune).await
    }

    async fn start_with(metered: bool, tune: impl FnOnce(&mut Config)) -> Self {
        let sandbox = Sandbox::builder().name("ads");
        let sandbox = if metered {
            sandbox.wallet_with(|c| c.database.max_connections = 4)
        } else {
            sandbox.unmetered_ads()
        };
        let sandbox = sandbox
            .ads_with(|config| {
                config.index.refresh_interval_ms = 100;
                config.auction.reserve_ecpm_millicents = 50_000;
                config.auction.debug_enabled = true;
                config.billing.settle_interval_secs = 1;
                tune(config);
            })
            .start()
            .await;
        let wallet = metered.then(|| {
            let wallet = sandbox.wallet();
            (
                WalletServiceClient::new(wallet.channel()),
                TestProvider::new(wallet.config.payments.test_secret.expose()),
            )
        });
        let config = sandbox.ads().config.clone();
        let pool = loop_platform::db::connect(&config.database)
            .await
            .expect("pool");
        Self {
            ads: AdsAuctionServiceClient::new(sandbox.ads().channel()),
            content: ContentServiceClient::new(sandbox.content().channel()),
            users: sandbox.content_fixture(),
            keys: loop_platform::testing::TestKeys,
            producer: Producer::new(&config.kafka, "ads-test").expect("producer"),
            config,
            pool,
            wallet,
            _sandbox: sandbox,
        }
    }

    /// Adds `cents` to `advertiser`'s wallet with a signed test receipt.
    async fn fund(&self, advertiser: &str, cents: i64) {
        let (wallet, receipts) = self.wallet.as_ref().expect("a metered harness");
        wallet
            .clone()
            .top_up_cents(self.req(
                advertiser,
                wpb::TopUpCentsRequest {
                    idempotency_key: Uuid::now_v7().to_string(),
                    amount_cents: cents,
                    receipt: Some(receipts.sign(&TestReceipt {
                        receipt_id: Uuid::now_v7().to_string(),
                        product_id: "loop.cents".into(),
                        amount_cents: cents,
                    })),
                },
            ))
            .await
            .expect("top up");
    }

    /// A campaign as its advertiser sees it.
    async fn get_campaign(&self, token: &str, campaign_id: &str) -> pb::Campaign {
        self.ads
            .clone()
            .get_campaign(self.req(
                token,
                pb::GetCampaignRequest {
                    campaign_id: campaign_id.into(),
                },
            ))
            .await
            .expect("get campaign")
            .into_inner()
            .campaign
            .expect("campaign")
    }

    /// Reserves `cents` of `advertiser`'s wallet for `campaign` as
    /// ads-auction does (with `key`): a wallet movement whose campaign-side
    /// commit then failed.
    async fn reserve_as_ads(&self, advertiser: &str, campaign: Uuid, key: &str, cents: i64) {
        let (wallet, _) = self.wallet.as_ref().expect("a metered harness");
        let token = self.keys.issue(
            loop_ads_auction::wallet::SERVICE_SUBJECT,
            Role::Service,
            Duration::from_secs(60),
        );
        wallet
            .clone()
            .reserve_ad_budget(self.req(
                &token,
                wpb::ReserveAdBudgetRequest {
                    idempotency_key: key.into(),
                    advertiser_id: advertiser.into(),
                    campaign_id: campaign.to_string(),
                    amount_cents: cents,
                },
            ))
            .await
            .expect("reserve");
    }

    /// (available, held) cents of the wallet user behind `token`.
    async fn cents(&self, token: &str) -> (i64, i64) {
        let (wallet, _) = self.wallet.as_ref().expect("a metered harness");
        wallet
            .clone()
            .get_balance(self.req(token, wpb::GetBalanceRequest::default()))
            .await
            .expect("balance")
            .into_inner()
            .balances
            .iter()
            .find(|b| b.asset == wpb::Asset::Cents as i32)
            .map_or((0, 0), |b| (b.available, b.held))
    }

    fn req<T>(&self, token: &str, message: T) -> Request<T> {
        loop_platform::grpc::request(message, Some(token), Duration::from_secs(20))
    }

    fn service_token(&self) -> String {
        self.keys.issue(
            "service:feed-ranking",
            Role::Service,
            Duration::from_secs(600),
        )
    }

    /// Signs up `handle` with `role`: (token, user id).
    async fn user(&self, handle: &str, role: common::Role) -> (String, String) {
        let role = match role {
            common::Role::Creator => Role::Creator,
            common::Role::Advertiser => Role::Advertiser,
            _ => Role::Viewer,
        };
        let user = self
            .users
            .sign_up(NewUser {
                handle: Some(handle.into()),
                role,
                ..NewUser::default()
            })
            .await;
        (
            self.keys
                .issue(&user.user_id, role, Duration::from_secs(3600)),
            user.user_id,
        )
    }

    async fn video(&self, token: &str) -> String {
        self.content
            .clone()
            .publish_video(self.req(
                token,
                content::PublishVideoRequest {
                    caption: "buy our #stuff".into(),
                    duration_ms: 15_000,
                    media_url: "https://cdn.loop.test/ad.mp4".into(),
                    ..Default::default()
                },
            ))
            .await
            .expect("publish")
            .into_inner()
            .video
            .expect("video")
            .video_id
    }

    async fn campaign(&self, token: &str, budget_cents: i64) -> pb::Campaign {
        self.ads
            .clone()
            .create_campaign(self.req(
                token,
                pb::CreateCampaignRequest {
                    idempotency_key: Uuid::new_v4().to_string(),
                    name: "spring sale".into(),
                    objective: pb::CampaignObjective::Traffic as i32,
                    total_budget_cents: budget_cents,
                },
            ))
            .await
            .expect("campaign")
            .into_inner()
            .campaign
            .expect("campaign")
    }

    fn ad_group_request(campaign_id: &str, bid_cents: i64) -> pb::CreateAdGroupRequest {
        pb::CreateAdGroupRequest {
            campaign_id: campaign_id.into(),
            name: format!("cpm {bid_cents}"),
            format: pb::AdFormat::InFeed as i32,
            daily_budget_cents: 2000,
            bid_type: pb::BidType::Cpm as i32,
            bid_cents,
            schedule: Some(pb::Schedule {
                starts_at: ts(chrono::Utc::now() - chrono::Duration::hours(1)),
                ..Default::default()
            }),
            targeting: None,
            frequency_cap_per_day: 0,
        }
    }

    async fn ad_group(&self, token: &str, req: pb::CreateAdGroupRequest) -> pb::AdGroup {
        self.ads
            .clone()
            .create_ad_group(self.req(token, req))
            .await
            .expect("ad group")
            .into_inner()
            .ad_group
            .expect("ad group")
    }

    async fn creative(&self, token: &str, ad_group_id: &str, video_id: &str) -> pb::Creative {
        self.ads
            .clone()
            .create_creative(self.req(
                token,
                pb::CreateCreativeRequest {
                    ad_group_id: ad_group_id.into(),
                    video_id: video_id.into(),
                    display_name: "Acme".into(),
                    call_to_action: pb::CallToAction::ShopNow as i32,
                    landing_url: "https://acme.test/sale".into(),
                },
            ))
            .await
            .expect("creative")
            .into_inner()
            .creative
            .expect("creative")
    }

    /// A campaign with one CPM ad group (targeting `t`) and one creative.
    async fn cpm_ad(
        &self,
        token: &str,
        video: &str,
        bid_cents: i64,
        t: Option<pb::Targeting>,
    ) -> (pb::AdGroup, pb::Creative) {
        let c = self.campaign(token, 5000).await;
        let mut req = Self::ad_group_request(&c.campaign_id, bid_cents);
        req.targeting = t;
        let g = self.ad_group(token, req).await;
        let cr = self.creative(token, &g.ad_group_id, video).await;
        (g, cr)
    }

    async fn fill_with(&self, req: pb::FillAdSlotsRequest) -> pb::FillAdSlotsResponse {
        self.ads
            .clone()
            .fill_ad_slots(self.req(&self.service_token(), req))
            .await
            .expect("fill")
            .into_inner()
    }

    async fn fill(&self, user: &str, country: &str, positions: &[u32]) -> pb::FillAdSlotsResponse {
        self.fill_with(pb::FillAdSlotsRequest {
            user_id: user.into(),
            context: Some(common::ClientContext {
                country: country.into(),
                language: "en".into(),
                device_os: common::DeviceOs::Ios as i32,
                app_version: String::new(),
            }),
            profile: Some(pb::UserAdProfile {
                age_band: common::AgeBand::AgeBand2534 as i32,
                ..Default::default()
            }),
            slot_positions: positions.to_vec(),
            request_id: Uuid::new_v4().to_string(),
            debug: true,
            ..Default::default()
        })
        .await
    }

    /// Reports one client event the way the gateway does: an impression 10 s
    /// ago, a click or a 7-second view now (as a person would).
    async fn report(&self, event_id: Uuid, user: &str, slot: &pb::FilledSlot, kind: &str) {
        let now = chrono::Utc::now();
        let at = match kind {
            "impression" => now - chrono::Duration::seconds(10),
            _ => now,
        };
        self.report_at(event_id, user, slot, kind, at).await;
    }

    /// Reports one client event that happened at `at` (by the client's clock).
    async fn report_at(
        &self,
        event_id: Uuid,
        user: &str,
        slot: &pb::FilledSlot,
        kind: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        let placement = slot.placement.as_ref().expect("placement");
        let slot_ref = ev::AdSlotRef {
            impression_token: placement.impression_token.clone(),
            ad_id: placement.ad_id.clone(),
            ad_group_id: placement.ad_group_id.clone(),
            campaign_id: placement.campaign_id.clone(),
            user_id: user.into(),
            context: None,
        };
        let payload = match kind {
            "impression" => ev::ad_event::Payload::Impression(ev::AdImpression {
                slot: Some(slot_ref),
            }),
            "click" => ev::ad_event::Payload::Click(ev::AdClick {
                slot: Some(slot_ref),
            }),
            _ => ev::ad_event::Payload::View(ev::AdView {
                slot: Some(slot_ref),
                watched_ms: 7000,
                creative_duration_ms: 15_000,
                completed: false,
            }),
        };
        self.producer
            .publish(
                topics::ADS,
                user,
                "loop.events.v1.AdEvent",
                &ev::AdEvent {
                    event_id: event_id.to_string(),
                    occurred_at: ts(at),
                    accepted_at: ts(chrono::Utc::now()),
                    payload: Some(payload),
                },
            )
            .await
            .expect("publish ad event");
    }

    async fn actions(&self, ad_group: &str) -> (i64, i64, i64) {
        sqlx::query_as(
            "SELECT count(*), COALESCE(sum(charge_millicents), 0)::bigint, COALESCE(sum(written_off_millicents), 0)::bigint \
             FROM ad_actions WHERE ad_group_id = $1::uuid",
        )
        .bind(ad_group)
        .fetch_one(&self.pool)
        .await
        .expect("actions")
    }
}

fn viewer() -> String {
    Uuid::now_v7().to_string()
}

fn winners(r: &pb::FillAdSlotsResponse) -> Vec<(u32, String, i64)> {
    r.slots
        .iter()
        .map(|s| {
            (
                s.position,
                s.placement.as_ref().expect("placement").ad_group_id.clone(),
                s.price_millicents,
            )
        })
        .collect()
}

fn country(c: &str) -> Option<pb::Targeting> {
    Some(pb::Targeting {
        countries: vec![c.into()],
        ..Default::default()
    })
}

mod api;
mod auction;
mod billing;
mod challenges;
mod formats;
mod wallet;
