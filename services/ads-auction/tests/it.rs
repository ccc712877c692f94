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

use loop_ads_auction::{Config, run};
use loop_platform::auth::Role;
use loop_platform::kafka::{Producer, topics};
use loop_platform::testing::{self, TestDb};
use loop_proto::ads_auction::v1 as pb;
use loop_proto::ads_auction::v1::ads_auction_service_client::AdsAuctionServiceClient;
use loop_proto::common::v1 as common;
use loop_proto::content::v1 as content;
use loop_proto::content::v1::content_service_client::ContentServiceClient;
use loop_proto::events::v1 as ev;
use loop_proto::wallet::v1 as wpb;
use loop_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use loop_wallet::payments::{TestProvider, TestReceipt};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Request};
use uuid::Uuid;

struct Harness {
    ads: AdsAuctionServiceClient<Channel>,
    content: ContentServiceClient<Channel>,
    keys: loop_platform::testing::TestKeys,
    config: Config,
    producer: Producer,
    pool: PgPool,
    shutdown: CancellationToken,
    /// The wallet service and its test receipts (metered harnesses only).
    wallet: Option<(WalletServiceClient<Channel>, TestProvider)>,
    _dbs: Vec<TestDb>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn healthy(channel: Channel, service: &str) {
    let health = tonic_health::pb::health_client::HealthClient::new(channel);
    testing::wait_for(service, Duration::from_secs(60), || {
        let mut health = health.clone();
        let service = service.to_owned();
        async move {
            health
                .check(tonic_health::pb::HealthCheckRequest { service })
                .await
                .ok()
                .filter(|r| r.get_ref().status == 1)
        }
    })
    .await;
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
        testing::init_telemetry();
        let content_db = TestDb::create("adsc").await;
        let ads_db = TestDb::create("ads").await;
        let prefix = testing::unique("ads");
        let shutdown = CancellationToken::new();

        let mut cc = loop_content::Config::default();
        cc.database = content_db.config.clone();
        cc.kafka = testing::kafka_config(&prefix);
        cc.outbox.poll_interval_ms = 50;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let content_addr = listener.local_addr().expect("addr");
        tokio::spawn(loop_content::run(cc.clone(), listener, shutdown.clone()));

        let mut config = Config::default();
        config.database = ads_db.config.clone();
        config.kafka = cc.kafka.clone();
        config.redis = testing::redis_config(&prefix);
        config.services.content_url = format!("http://{content_addr}");
        config.consumer.billing_group_id = format!("{prefix}-billing");
        config.consumer.content_group_id = format!("{prefix}-content");
        config.outbox.poll_interval_ms = 50;
        config.index.refresh_interval_ms = 100;
        config.auction.reserve_ecpm_millicents = 50_000;
        config.auction.debug_enabled = true;
        // Unpaced unless a test says otherwise: hand-computed outcomes do not
        // depend on the time of day.
        config.pacing.burst_fraction = 1.0;
        config.billing.settle_interval_secs = 1;
        let mut dbs = vec![content_db, ads_db];
        let mut wallet = None;
        if metered {
            let wallet_db = TestDb::create("adsw").await;
            let mut wc = loop_wallet::Config::default();
            wc.database = wallet_db.config.clone();
            wc.database.max_connections = 4;
            wc.kafka = cc.kafka.clone();
            wc.redis = testing::redis_config(&prefix);
            wc.services.content_url = format!("http://{content_addr}");
            wc.outbox.poll_interval_ms = 50;
            let receipts = TestProvider::new(wc.payments.test_secret.expose());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let wallet_addr = listener.local_addr().expect("addr");
            tokio::spawn(loop_wallet::run(wc, listener, shutdown.clone()));
            let channel =
                loop_platform::grpc::channel(&format!("http://{wallet_addr}")).expect("channel");
            healthy(channel.clone(), loop_wallet::SERVICE_NAME).await;
            config.wallet.mode = "grpc".into();
            config.services.wallet_url = format!("http://{wallet_addr}");
            wallet = Some((WalletServiceClient::new(channel), receipts));
            dbs.push(wallet_db);
        } else {
            config.wallet.mode = "unmetered".into();
        }
        tune(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(run(config.clone(), listener, shutdown.clone()));

        let content_channel =
            loop_platform::grpc::channel(&format!("http://{content_addr}")).expect("channel");
        let ads_channel = loop_platform::grpc::channel(&format!("http://{addr}")).expect("channel");
        healthy(content_channel.clone(), loop_content::SERVICE_NAME).await;
        healthy(ads_channel.clone(), loop_ads_auction::SERVICE_NAME).await;
        let pool = loop_platform::db::connect(&config.database)
            .await
            .expect("pool");
        Self {
            ads: AdsAuctionServiceClient::new(ads_channel),
            content: ContentServiceClient::new(content_channel),
            keys: loop_platform::testing::TestKeys,
            producer: Producer::new(&config.kafka, "ads-test").expect("producer"),
            config,
            pool,
            shutdown,
            wallet,
            _dbs: dbs,
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

    async fn user(&self, handle: &str, role: common::Role) -> (String, String) {
        let user = self
            .content
            .clone()
            .create_user(content::CreateUserRequest {
                handle: handle.into(),
                password: "correct horse battery".into(),
                birth_date: "1990-01-01".into(),
                country: "US".into(),
                language: "en".into(),
                role: role as i32,
                ..Default::default()
            })
            .await
            .expect("sign up")
            .into_inner()
            .user
            .expect("user");
        let platform_role = match role {
            common::Role::Creator => Role::Creator,
            common::Role::Advertiser => Role::Advertiser,
            _ => Role::Viewer,
        };
        (
            self.keys
                .issue(&user.user_id, platform_role, Duration::from_secs(3600)),
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

#[tokio::test]
async fn second_price_gsp_and_reserve_with_hand_computed_prices() {
    let h = Harness::start(|_| {}).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let video = h.video(&adv).await;
    // Three campaigns targeting DE: $3, $2 and $1 CPM (eCPM 300_000, 200_000, 100_000).
    let (a, _) = h.cpm_ad(&adv, &video, 300, country("DE")).await;
    let (b, _) = h.cpm_ad(&adv, &video, 200, country("DE")).await;
    let (c, _) = h.cpm_ad(&adv, &video, 100, country("DE")).await;

    // One slot: second price. a pays floor(200_000 / 1000) + 1 = 201 millicents.
    let r = h.fill(&viewer(), "DE", &[4]).await;
    assert_eq!(winners(&r), vec![(4, a.ad_group_id.clone(), 201)]);
    let slot = &r.slots[0];
    assert_eq!(slot.bid_type, pb::BidType::Cpm as i32);
    assert_eq!(slot.clearing_ecpm_millicents, 201_000);
    let placement = slot.placement.as_ref().expect("placement");
    assert_eq!(placement.display_name, "Acme");
    assert_eq!(placement.format, pb::AdFormat::InFeed as i32);

    // Two slots: a pays b's 200 + 1, b pays c's 100 + 1.
    let r = h.fill(&viewer(), "DE", &[11, 4]).await;
    assert_eq!(
        winners(&r),
        vec![
            (4, a.ad_group_id.clone(), 201),
            (11, b.ad_group_id.clone(), 101)
        ]
    );
    // Three slots: the last winner, with nobody below, pays the reserve: 50_000 / 1000 + 1.
    let r = h.fill(&viewer(), "DE", &[2, 5, 9]).await;
    assert_eq!(
        winners(&r),
        vec![
            (2, a.ad_group_id.clone(), 201),
            (5, b.ad_group_id.clone(), 101),
            (9, c.ad_group_id.clone(), 51)
        ]
    );
    // Never two ads in a row: of positions 4 and 5 only 4 is filled.
    let r = h.fill(&viewer(), "DE", &[4, 5]).await;
    assert_eq!(winners(&r).iter().map(|w| w.0).collect::<Vec<_>>(), vec![4]);

    // Reserve not met: a $0.40 CPM (eCPM 40_000 < reserve 50_000) alone in NZ.
    let (_low, _) = h.cpm_ad(&adv, &video, 40, country("NZ")).await;
    let r = h.fill(&viewer(), "NZ", &[4]).await;
    assert!(r.slots.is_empty(), "{r:?}");
    assert!(
        r.debug[0]
            .candidates
            .iter()
            .any(|c| c.filtered_reason == "below_reserve"),
        "{:?}",
        r.debug
    );
    // Nobody targets JP: nothing, and no Redis round trip needed.
    assert!(h.fill(&viewer(), "JP", &[4]).await.slots.is_empty());

    // Equal eCPMs: the lower ad group id wins, deterministically, and pays its bid.
    let (x, _) = h.cpm_ad(&adv, &video, 500, country("IT")).await;
    let (y, _) = h.cpm_ad(&adv, &video, 500, country("IT")).await;
    let first = std::cmp::min(x.ad_group_id.clone(), y.ad_group_id.clone());
    for _ in 0..3 {
        let r = h.fill(&viewer(), "IT", &[4]).await;
        assert_eq!(winners(&r), vec![(4, first.clone(), 500)]);
    }
    testing::clear_redis(&h.config.redis).await;
}

#[tokio::test]
async fn budget_exhaustion_and_frequency_caps_hand_computed() {
    let h = Harness::start(|_| {}).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let video = h.video(&adv).await;
    // a: $1000 CPM, daily $20 = 2_000_000 millicents; b: $400 CPM runner-up.
    // a pays 40_001 per impression and is admitted while
    // 40_001 k + bid 100_000 <= 2_000_000, i.e. for k = 0..=47: 48 impressions.
    let (a, _) = h.cpm_ad(&adv, &video, 100_000, country("BE")).await;
    let (b, _) = h.cpm_ad(&adv, &video, 40_000, country("BE")).await;
    let mut served_a = 0;
    for _ in 0..60 {
        let r = h.fill(&viewer(), "BE", &[4]).await;
        let w = winners(&r);
        assert_eq!(w.len(), 1, "{r:?}");
        if w[0].1 == a.ad_group_id {
            assert_eq!(w[0].2, 40_001);
            served_a += 1;
        } else {
            assert_eq!(w[0].1, b.ad_group_id, "the runner-up takes over");
            // b alone: pays the reserve, 51.
            assert_eq!(w[0].2, 51);
        }
    }
    assert_eq!(served_a, 48);

    // Frequency cap 2 per user per campaign per day.
    let c = h.campaign(&adv, 5000).await;
    let mut req = Harness::ad_group_request(&c.campaign_id, 300);
    req.targeting = country("AT");
    req.frequency_cap_per_day = 2;
    let capped = h.ad_group(&adv, req).await;
    h.creative(&adv, &capped.ad_group_id, &video).await;
    let user = viewer();
    for _ in 0..2 {
        let r = h.fill(&user, "AT", &[4]).await;
        assert_eq!(winners(&r), vec![(4, capped.ad_group_id.clone(), 51)]);
    }
    let r = h.fill(&user, "AT", &[4]).await;
    assert!(r.slots.is_empty(), "cap reached: {r:?}");
    assert!(
        r.debug[0]
            .candidates
            .iter()
            .any(|c| c.filtered_reason == "frequency_cap")
    );
    // Another user is not capped.
    assert_eq!(h.fill(&viewer(), "AT", &[4]).await.slots.len(), 1);

    // Campaign budget: $50 = 5_000_000 millicents. A $10 000 CPM with a $1000
    // daily budget, against a $4000 CPM runner-up, pays 400_001 and is
    // admitted while 400_001 k + 1_000_000 <= 5_000_000: k = 0..=9, 10 times.
    let big = h.campaign(&adv, 5000).await;
    let mut req = Harness::ad_group_request(&big.campaign_id, 1_000_000);
    req.daily_budget_cents = 100_000;
    req.targeting = country("FI");
    let big_group = h.ad_group(&adv, req).await;
    h.creative(&adv, &big_group.ad_group_id, &video).await;
    let (runner, _) = h.cpm_ad(&adv, &video, 400_000, country("FI")).await;
    let mut served_big = 0;
    let mut refused = false;
    for _ in 0..15 {
        let r = h.fill(&viewer(), "FI", &[4]).await;
        let w = winners(&r);
        if w[0].1 == big_group.ad_group_id {
            assert_eq!(w[0].2, 400_001);
            served_big += 1;
        } else {
            assert_eq!(w[0].1, runner.ad_group_id);
            refused |= r.debug[0]
                .candidates
                .iter()
                .any(|c| c.filtered_reason == "campaign_budget" || c.filtered_reason == "budget");
        }
    }
    assert_eq!(served_big, 10);
    assert!(refused, "the campaign budget refused it");
    testing::clear_redis(&h.config.redis).await;
}

#[tokio::test]
async fn targeting_excludes_and_minors_never_see_adult_only_ads() {
    let h = Harness::start(|_| {}).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let video = h.video(&adv).await;
    // Adults 18-24 in the US on Android, interested in cooking.
    let (g, _) = h
        .cpm_ad(
            &adv,
            &video,
            300,
            Some(pb::Targeting {
                age_bands: vec![common::AgeBand::AgeBand1824 as i32],
                countries: vec!["US".into()],
                device_os: vec![common::DeviceOs::Android as i32],
                interest_categories: vec!["cooking".into()],
                ..Default::default()
            }),
        )
        .await;
    // Engaged with #dance in the last 3 days.
    let (dance, _) = h
        .cpm_ad(
            &adv,
            &video,
            250,
            Some(pb::Targeting {
                countries: vec!["CA".into()],
                behaviors: vec![pb::Behavior {
                    kind: pb::BehaviorKind::EngagedWithHashtag as i32,
                    value: "Dance".into(),
                    lookback_days: 3,
                }],
                ..Default::default()
            }),
        )
        .await;
    let request = |age: common::AgeBand, c: &str, os: common::DeviceOs, interests: &[&str]| {
        pb::FillAdSlotsRequest {
            user_id: viewer(),
            context: Some(common::ClientContext {
                country: c.into(),
                language: "en-US".into(),
                device_os: os as i32,
                app_version: String::new(),
            }),
            profile: Some(pb::UserAdProfile {
                age_band: age as i32,
                interests: interests
                    .iter()
                    .map(|i| pb::InterestWeight {
                        category: (*i).into(),
                        weight: 0.5,
                    })
                    .collect(),
                ..Default::default()
            }),
            slot_positions: vec![3],
            request_id: "r1".into(),
            ..Default::default()
        }
    };
    use common::AgeBand as A;
    use common::DeviceOs as O;
    let hit = h
        .fill_with(request(
            A::AgeBand1824,
            "US",
            O::Android,
            &["cooking", "cars"],
        ))
        .await;
    assert_eq!(winners(&hit)[0].1, g.ad_group_id);
    for (why, req) in [
        (
            "a minor",
            request(A::AgeBand1317, "US", O::Android, &["cooking"]),
        ),
        (
            "unknown age",
            request(A::Unspecified, "US", O::Android, &["cooking"]),
        ),
        (
            "wrong country",
            request(A::AgeBand1824, "FR", O::Android, &["cooking"]),
        ),
        (
            "wrong OS",
            request(A::AgeBand1824, "US", O::Ios, &["cooking"]),
        ),
        (
            "no interest",
            request(A::AgeBand1824, "US", O::Android, &["cars"]),
        ),
    ] {
        let r = h.fill_with(req).await;
        assert!(r.slots.is_empty(), "{why}: {r:?}");
    }
    // Behaviours: #dance 2 days ago matches a 3-day lookback, 5 days ago does not.
    let behaviour = |days: i64| {
        let mut r = request(A::AgeBand3544, "CA", O::Ios, &[]);
        if let Some(p) = r.profile.as_mut() {
            p.recent_behaviors = vec![pb::RecentBehavior {
                kind: pb::BehaviorKind::EngagedWithHashtag as i32,
                value: "dance".into(),
                last_engaged_at: ts(chrono::Utc::now() - chrono::Duration::days(days)),
            }];
        }
        r
    };
    assert_eq!(
        winners(&h.fill_with(behaviour(2)).await)[0].1,
        dance.ad_group_id
    );
    assert!(h.fill_with(behaviour(5)).await.slots.is_empty());
    testing::clear_redis(&h.config.redis).await;
}

#[tokio::test]
async fn topview_serves_at_most_once_per_user_per_day_and_nowhere_else() {
    let h = Harness::start(|_| {}).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let video = h.video(&adv).await;
    let other_video = h.video(&adv).await;
    let c = h.campaign(&adv, 100_000).await;
    let mut req = Harness::ad_group_request(&c.campaign_id, 0);
    req.format = pb::AdFormat::Topview as i32;
    req.daily_budget_cents = 0;
    req.bid_type = 0;
    let tv_group = h.ad_group(&adv, req).await;
    let tv_creative = h.creative(&adv, &tv_group.ad_group_id, &video).await;
    // The same video as an In-Feed creative (must not run today), and another In-Feed ad.
    let (same_video_group, _) = h.cpm_ad(&adv, &video, 900, None).await;
    let (infeed, _) = h.cpm_ad(&adv, &other_video, 300, None).await;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let quote = h
        .ads
        .clone()
        .get_top_view_quote(h.req(
            &adv,
            pb::GetTopViewQuoteRequest {
                date: today.clone(),
            },
        ))
        .await
        .expect("quote")
        .into_inner();
    let reservation = h
        .ads
        .clone()
        .reserve_top_view(h.req(
            &adv,
            pb::ReserveTopViewRequest {
                idempotency_key: Uuid::new_v4().to_string(),
                creative_id: tv_creative.creative_id.clone(),
                date: today.clone(),
                impressions: 2000,
                expected_cpm_cents: quote.cpm_cents,
            },
        ))
        .await
        .expect("reserve")
        .into_inner()
        .reservation
        .expect("reservation");
    // ceil(2000 x 1000 / 1000) = 2000 cents committed.
    assert_eq!(reservation.total_price_cents, 2000);
    let campaign = h.get_campaign(&adv, &c.campaign_id).await;
    assert_eq!(campaign.committed_cents, 2000);

    let user = viewer();
    let open = |user: &str| pb::FillAdSlotsRequest {
        user_id: user.into(),
        app_open: true,
        slot_positions: vec![0, 4],
        request_id: "open".into(),
        ..Default::default()
    };
    let first = h.fill_with(open(&user)).await;
    let w = winners(&first);
    assert_eq!(w[0].0, 0);
    assert_eq!(w[0].1, tv_group.ad_group_id, "TopView is the first item");
    assert_eq!(
        w[0].2, 1000,
        "the rate card's CPM: 1000 millicents per impression"
    );
    assert_eq!(
        first.slots[0].placement.as_ref().map(|p| p.format),
        Some(pb::AdFormat::Topview as i32)
    );
    // Position 4 goes to the In-Feed auction, never to the TopView video's other creative.
    assert_eq!(w[1], (4, infeed.ad_group_id.clone(), 51));
    // Second app open the same day: no TopView; position 0 goes to In-Feed.
    let second = h.fill_with(open(&user)).await;
    assert!(
        winners(&second)
            .iter()
            .all(|w| w.1 != tv_group.ad_group_id && w.1 != same_video_group.ad_group_id),
        "{second:?}"
    );
    assert_eq!(winners(&second)[0].0, 0);
    // Another user still gets it; a feed page that is not an app open does not.
    let other = viewer();
    let mut not_open = open(&other);
    not_open.app_open = false;
    assert!(
        winners(&h.fill_with(not_open).await)
            .iter()
            .all(|w| w.1 != tv_group.ad_group_id)
    );
    assert_eq!(
        winners(&h.fill_with(open(&other)).await)[0].1,
        tv_group.ad_group_id
    );
    // Cancelling is refused once the day started.
    let err = h
        .ads
        .clone()
        .cancel_top_view_reservation(h.req(
            &adv,
            pb::CancelTopViewReservationRequest {
                reservation_id: reservation.reservation_id.clone(),
            },
        ))
        .await
        .expect_err("started");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(
        loop_ads_auction::error::status_reason(&err).as_deref(),
        Some("ALREADY_STARTED")
    );
    testing::clear_redis(&h.config.redis).await;
}

#[tokio::test]
async fn spark_ads_stop_serving_as_soon_as_the_code_is_revoked() {
    let h = Harness::start(|_| {}).await;
    let (creator, _) = h.user("dancer", common::Role::Creator).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let organic = h.video(&creator).await;
    let code = h
        .ads
        .clone()
        .issue_spark_code(h.req(
            &creator,
            pb::IssueSparkCodeRequest {
                video_id: organic.clone(),
                validity_days: 0,
            },
        ))
        .await
        .expect("issue")
        .into_inner()
        .spark_code
        .expect("code");
    assert_eq!(code.code.len(), 24);
    let days =
        (code.expires_at.expect("exp").seconds - code.created_at.expect("at").seconds) / 86_400;
    assert_eq!(days, 30, "default validity");
    // Validity outside 7..365 and someone else's video are refused.
    let err = h
        .ads
        .clone()
        .issue_spark_code(h.req(
            &creator,
            pb::IssueSparkCodeRequest {
                video_id: organic.clone(),
                validity_days: 6,
            },
        ))
        .await
        .expect_err("too short");
    assert_eq!(err.code(), Code::InvalidArgument);
    let (other_creator, _) = h.user("other", common::Role::Creator).await;
    let err = h
        .ads
        .clone()
        .issue_spark_code(h.req(
            &other_creator,
            pb::IssueSparkCodeRequest {
                video_id: organic.clone(),
                validity_days: 10,
            },
        ))
        .await
        .expect_err("not theirs");
    assert_eq!(err.code(), Code::PermissionDenied);

    let c = h.campaign(&adv, 5000).await;
    let mut req = Harness::ad_group_request(&c.campaign_id, 300);
    req.format = pb::AdFormat::Spark as i32;
    let g = h.ad_group(&adv, req).await;
    let spark = h
        .ads
        .clone()
        .create_spark_ad(h.req(
            &adv,
            pb::CreateSparkAdRequest {
                ad_group_id: g.ad_group_id.clone(),
                code: code.code.to_lowercase(),
                call_to_action: pb::CallToAction::LearnMore as i32,
                landing_url: "https://acme.test".into(),
            },
        ))
        .await
        .expect("spark ad")
        .into_inner()
        .creative
        .expect("creative");
    assert_eq!(spark.video_id, organic);
    assert_eq!(
        spark.display_name, "dancer",
        "sponsored by the creator's handle"
    );
    let r = h.fill(&viewer(), "US", &[4]).await;
    assert_eq!(winners(&r)[0].1, g.ad_group_id);
    assert_eq!(
        r.slots[0].placement.as_ref().map(|p| p.video_id.clone()),
        Some(organic.clone())
    );

    let revoked = h
        .ads
        .clone()
        .revoke_spark_code(h.req(
            &creator,
            pb::RevokeSparkCodeRequest {
                code: code.code.clone(),
            },
        ))
        .await
        .expect("revoke")
        .into_inner()
        .spark_code
        .expect("code");
    assert_eq!(revoked.status, pb::SparkCodeStatus::Revoked as i32);
    // At once: the very next auction no longer serves it.
    for _ in 0..3 {
        assert!(h.fill(&viewer(), "US", &[4]).await.slots.is_empty());
    }
    let creatives = h
        .ads
        .clone()
        .list_creatives(h.req(
            &adv,
            pb::ListCreativesRequest {
                ad_group_id: g.ad_group_id.clone(),
                page: None,
            },
        ))
        .await
        .expect("list")
        .into_inner()
        .creatives;
    assert_eq!(creatives[0].status, pb::CreativeStatus::Revoked as i32);
    // A revoked code cannot make new ads; revoking again is harmless.
    let err = h
        .ads
        .clone()
        .create_spark_ad(h.req(
            &adv,
            pb::CreateSparkAdRequest {
                ad_group_id: g.ad_group_id.clone(),
                code: code.code.clone(),
                call_to_action: pb::CallToAction::LearnMore as i32,
                landing_url: "https://acme.test".into(),
            },
        ))
        .await
        .expect_err("revoked");
    assert_eq!(
        loop_ads_auction::error::status_reason(&err).as_deref(),
        Some("SPARK_CODE_REVOKED")
    );
    h.ads
        .clone()
        .revoke_spark_code(h.req(
            &creator,
            pb::RevokeSparkCodeRequest {
                code: code.code.clone(),
            },
        ))
        .await
        .expect("idempotent");
    testing::clear_redis(&h.config.redis).await;
}

#[tokio::test]
async fn each_action_is_billed_exactly_once_whatever_the_redelivery() {
    let h = Harness::start(|_| {}).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let video = h.video(&adv).await;
    let (g, _) = h.cpm_ad(&adv, &video, 300, country("PT")).await;
    let user = viewer();
    let r = h.fill(&user, "PT", &[4]).await;
    let slot = r.slots[0].clone();
    assert_eq!(slot.price_millicents, 51);
    // The impression, the same event again (redelivery), the same token
    // reported again with a new event id, and a click (not billable for CPM).
    let event = Uuid::now_v7();
    h.report(event, &user, &slot, "impression").await;
    h.report(event, &user, &slot, "impression").await;
    h.report(Uuid::now_v7(), &user, &slot, "impression").await;
    h.report(Uuid::now_v7(), &user, &slot, "click").await;
    h.report(Uuid::now_v7(), &user, &slot, "view").await;
    // A token reported by another user is never billed.
    h.report(Uuid::now_v7(), &viewer(), &slot, "click").await;
    testing::wait_for(
        "impression, click and view recorded",
        Duration::from_secs(30),
        || async { (h.actions(&g.ad_group_id).await.0 == 3).then_some(()) },
    )
    .await;
    let billable: (i64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE(sum(charge_millicents), 0)::bigint FROM ad_actions \
         WHERE ad_group_id = $1::uuid AND billable",
    )
    .bind(&g.ad_group_id)
    .fetch_one(&h.pool)
    .await
    .expect("billable");
    assert_eq!(
        billable,
        (1, 51),
        "one impression billed at the token's price"
    );

    // The report counts it once; 51 millicents round down to 0 cents.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let report = h
        .ads
        .clone()
        .get_report(h.req(
            &adv,
            pb::GetReportRequest {
                scope: Some(pb::get_report_request::Scope::AdGroupId(
                    g.ad_group_id.clone(),
                )),
                start_date: today.clone(),
                end_date: today.clone(),
            },
        ))
        .await
        .expect("report")
        .into_inner();
    let totals = report.totals.expect("totals");
    assert_eq!(
        (totals.impressions, totals.clicks, totals.views_6s),
        (1, 1, 1)
    );
    assert!((totals.ctr - 1.0).abs() < 1e-9);
    assert_eq!(report.rows.len(), 1);

    // Exactly one AdBilled reached ads.v1 (through the outbox).
    let topic = h.config.kafka.topic(topics::ADS);
    testing::wait_for("AdBilled published", Duration::from_secs(30), || async {
        let all = testing::read_all(&h.config.kafka, &topic).await;
        let billed: Vec<ev::AdBilled> = all
            .iter()
            .filter_map(|d| d.decode::<ev::AdEvent>().ok())
            .filter_map(|e| match e.payload {
                Some(ev::ad_event::Payload::Billed(b)) => Some(b),
                _ => None,
            })
            .collect();
        (!billed.is_empty()).then_some(billed)
    })
    .await;
    let all = testing::read_all(&h.config.kafka, &topic).await;
    let billed: Vec<ev::AdBilled> = all
        .iter()
        .filter_map(|d| d.decode::<ev::AdEvent>().ok())
        .filter_map(|e| match e.payload {
            Some(ev::ad_event::Payload::Billed(b)) => Some(b),
            _ => None,
        })
        .collect();
    assert_eq!(billed.len(), 1);
    assert_eq!(billed[0].charge_millicents, 51);
    assert_eq!(billed[0].source_event_id, event.to_string());

    // Learned rates: the click moved the creative's CTR above the prior.
    let admin = h.keys.issue(
        &Uuid::now_v7().to_string(),
        Role::Admin,
        Duration::from_secs(60),
    );
    testing::wait_for("pCTR learned", Duration::from_secs(30), || async {
        let d = h
            .ads
            .clone()
            .get_ad_group_delivery(h.req(
                &admin,
                pb::GetAdGroupDeliveryRequest {
                    ad_group_id: g.ad_group_id.clone(),
                },
            ))
            .await
            .ok()?
            .into_inner();
        (d.predicted_ctr > h.config.prediction.prior_ctr && d.impressions_today == 1).then_some(())
    })
    .await;
    testing::clear_redis(&h.config.redis).await;
}

#[tokio::test]
async fn twenty_tasks_serving_and_billing_never_overspend_a_small_budget() {
    // Reserve $400 CPM: a lone $1000 CPM ad group pays 40_001 per impression
    // and is admitted while 40_001 k + 100_000 <= 2_000_000: 48 impressions,
    // 1_920_048 millicents, whatever the interleaving of 20 tasks.
    let h = Harness::start(|c| c.auction.reserve_ecpm_millicents = 40_000_000).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let video = h.video(&adv).await;
    let (g, _) = h.cpm_ad(&adv, &video, 100_000, country("SE")).await;
    let h = std::sync::Arc::new(h);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let mut delivered = 0u32;
            let mut misses = 0;
            while misses < 3 {
                let user = viewer();
                let r = h.fill(&user, "SE", &[4]).await;
                match r.slots.first() {
                    Some(slot) => {
                        misses = 0;
                        h.report(Uuid::now_v7(), &user, slot, "impression").await;
                        delivered += 1;
                    }
                    None => misses += 1,
                }
            }
            delivered
        }));
    }
    let mut delivered = 0;
    for t in tasks {
        delivered += t.await.expect("task");
    }
    assert_eq!(delivered, 48);
    testing::wait_for(
        "every delivered impression billed",
        Duration::from_secs(60),
        || async { (h.actions(&g.ad_group_id).await.0 == i64::from(delivered)).then_some(()) },
    )
    .await;
    let (count, charged, written_off) = h.actions(&g.ad_group_id).await;
    assert_eq!(count, 48, "billed count equals delivered impressions");
    assert_eq!(charged, 48 * 40_001);
    assert!(charged <= 2_000_000, "never above the daily budget");
    assert_eq!(written_off, 0, "serving alone kept within the budget");
    let spent: i64 = sqlx::query_scalar(
        "SELECT spent_millicents FROM ad_group_spend WHERE ad_group_id = $1::uuid",
    )
    .bind(&g.ad_group_id)
    .fetch_one(&h.pool)
    .await
    .expect("spend");
    assert_eq!(spent, 48 * 40_001);
    testing::clear_redis(&h.config.redis).await;
}

#[tokio::test]
async fn advertiser_api_validates_fields_owns_objects_and_is_idempotent() {
    let h = Harness::start(|_| {}).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let (rival, _) = h.user("rival", common::Role::Advertiser).await;
    let (viewer_token, viewer_id) = h.user("viewer", common::Role::Viewer).await;
    let field = |s: &tonic::Status| loop_platform::error::status_field(s);

    let create = |key: &str, budget: i64| pb::CreateCampaignRequest {
        idempotency_key: key.into(),
        name: "launch".into(),
        objective: pb::CampaignObjective::Reach as i32,
        total_budget_cents: budget,
    };
    let err = h
        .ads
        .clone()
        .create_campaign(h.req(&adv, create("key-0001", 4999)))
        .await
        .expect_err("too small");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(field(&err).as_deref(), Some("total_budget_cents"));
    let first = h
        .ads
        .clone()
        .create_campaign(h.req(&adv, create("key-0001", 5000)))
        .await
        .expect("create")
        .into_inner();
    let retry = h
        .ads
        .clone()
        .create_campaign(h.req(&adv, create("key-0001", 5000)))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, retry, "a retry returns the first result");
    let err = h
        .ads
        .clone()
        .create_campaign(h.req(&adv, create("key-0001", 6000)))
        .await
        .expect_err("reused");
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(
        loop_ads_auction::error::status_reason(&err).as_deref(),
        Some("IDEMPOTENCY_KEY_REUSED")
    );
    let campaign = first.campaign.expect("campaign");
    let listed = h
        .ads
        .clone()
        .list_campaigns(h.req(&adv, pb::ListCampaignsRequest::default()))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.campaigns.len(), 1, "the retry created nothing");

    // Ad group validation names fields.
    let mut bad = Harness::ad_group_request(&campaign.campaign_id, 300);
    bad.daily_budget_cents = 1999;
    let err = h
        .ads
        .clone()
        .create_ad_group(h.req(&adv, bad))
        .await
        .expect_err("daily");
    assert_eq!(field(&err).as_deref(), Some("daily_budget_cents"));
    let mut bad = Harness::ad_group_request(&campaign.campaign_id, 300);
    bad.targeting = Some(pb::Targeting {
        countries: vec!["US".into(), "Mars".into()],
        ..Default::default()
    });
    let err = h
        .ads
        .clone()
        .create_ad_group(h.req(&adv, bad))
        .await
        .expect_err("country");
    assert_eq!(field(&err).as_deref(), Some("targeting.countries[1]"));
    let mut bad = Harness::ad_group_request(&campaign.campaign_id, 300);
    if let Some(s) = bad.schedule.as_mut() {
        s.time_zone = "Mars/Olympus".into();
    }
    let err = h
        .ads
        .clone()
        .create_ad_group(h.req(&adv, bad))
        .await
        .expect_err("tz");
    assert_eq!(field(&err).as_deref(), Some("schedule.time_zone"));

    // Someone else's campaign does not exist for you; viewers are not advertisers.
    let err = h
        .ads
        .clone()
        .get_campaign(h.req(
            &rival,
            pb::GetCampaignRequest {
                campaign_id: campaign.campaign_id.clone(),
            },
        ))
        .await
        .expect_err("not theirs");
    assert_eq!(err.code(), Code::NotFound);
    let err = h
        .ads
        .clone()
        .list_campaigns(h.req(&viewer_token, pb::ListCampaignsRequest::default()))
        .await
        .expect_err("viewer");
    assert_eq!(err.code(), Code::PermissionDenied);
    // FillAdSlots is internal: an end-user token is refused.
    let err = h
        .ads
        .clone()
        .fill_ad_slots(h.req(
            &viewer_token,
            pb::FillAdSlotsRequest {
                user_id: viewer_id,
                slot_positions: vec![1],
                request_id: "x".into(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("internal");
    assert_eq!(err.code(), Code::PermissionDenied);

    // Pause stops delivery at once; resume brings it back; budget below spend refused.
    let video = h.video(&adv).await;
    let mut req = Harness::ad_group_request(&campaign.campaign_id, 300);
    req.targeting = country("NO");
    let g = h.ad_group(&adv, req).await;
    h.creative(&adv, &g.ad_group_id, &video).await;
    assert_eq!(h.fill(&viewer(), "NO", &[4]).await.slots.len(), 1);
    let paused = h
        .ads
        .clone()
        .pause_campaign(h.req(
            &adv,
            pb::PauseCampaignRequest {
                campaign_id: campaign.campaign_id.clone(),
            },
        ))
        .await
        .expect("pause")
        .into_inner()
        .campaign
        .expect("campaign");
    assert_eq!(paused.status, pb::CampaignStatus::Paused as i32);
    assert!(h.fill(&viewer(), "NO", &[4]).await.slots.is_empty());
    let got = h
        .ads
        .clone()
        .get_ad_group(h.req(
            &adv,
            pb::GetAdGroupRequest {
                ad_group_id: g.ad_group_id.clone(),
            },
        ))
        .await
        .expect("get")
        .into_inner()
        .ad_group
        .expect("group");
    assert_eq!(got.delivery_state, pb::DeliveryState::CampaignPaused as i32);
    h.ads
        .clone()
        .resume_campaign(h.req(
            &adv,
            pb::ResumeCampaignRequest {
                campaign_id: campaign.campaign_id.clone(),
            },
        ))
        .await
        .expect("resume");
    assert_eq!(h.fill(&viewer(), "NO", &[4]).await.slots.len(), 1);
    // Edit the bid: the next auction prices with it (alone: still the reserve).
    let updated = h
        .ads
        .clone()
        .update_ad_group(h.req(
            &adv,
            pb::UpdateAdGroupRequest {
                ad_group_id: g.ad_group_id.clone(),
                bid_cents: 40,
                update_mask: vec!["bid_cents".into()],
                ..Default::default()
            },
        ))
        .await
        .expect("update")
        .into_inner()
        .ad_group
        .expect("group");
    assert_eq!(updated.bid_cents, 40);
    assert!(
        h.fill(&viewer(), "NO", &[4]).await.slots.is_empty(),
        "$0.40 CPM is now below the reserve"
    );
    let err = h
        .ads
        .clone()
        .update_ad_group(h.req(
            &adv,
            pb::UpdateAdGroupRequest {
                ad_group_id: g.ad_group_id.clone(),
                update_mask: vec!["bid_type".into()],
                ..Default::default()
            },
        ))
        .await
        .expect_err("bid type is fixed");
    assert_eq!(field(&err).as_deref(), Some("update_mask[0]"));
    let seen: HashSet<String> = listed
        .campaigns
        .iter()
        .map(|c| c.campaign_id.clone())
        .collect();
    assert!(seen.contains(&campaign.campaign_id));
    testing::clear_redis(&h.config.redis).await;
}

#[tokio::test]
async fn campaign_budgets_are_reserved_from_and_spend_charged_to_the_advertisers_wallet() {
    let h = Harness::start_metered(|_| {}).await;
    let (adv, _) = h.user("acme", common::Role::Advertiser).await;
    let create = |budget: i64| pb::CreateCampaignRequest {
        idempotency_key: Uuid::now_v7().to_string(),
        name: "spring sale".into(),
        objective: pb::CampaignObjective::Traffic as i32,
        total_budget_cents: budget,
    };
    let campaigns = || async {
        h.ads
            .clone()
            .list_campaigns(h.req(&adv, pb::ListCampaignsRequest::default()))
            .await
            .expect("list")
            .into_inner()
            .campaigns
            .len()
    };

    // No cents: refused with the reason, and nothing is created.
    let err = h
        .ads
        .clone()
        .create_campaign(h.req(&adv, create(5_000)))
        .await
        .expect_err("an empty wallet cannot fund a budget");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(
        loop_ads_auction::error::status_reason(&err).as_deref(),
        Some("INSUFFICIENT_FUNDS")
    );
    assert_eq!(campaigns().await, 0);

    // Funded: the budget moves from available to held.
    h.fund(&adv, 10_000).await;
    let c = h.campaign(&adv, 5_000).await;
    assert_eq!(h.cents(&adv).await, (5_000, 5_000));

    // Raising the budget reserves the difference; lowering it releases it;
    // raising it past the balance is refused and changes nothing.
    let update = |budget: i64| pb::UpdateCampaignRequest {
        campaign_id: c.campaign_id.clone(),
        total_budget_cents: budget,
        update_mask: vec!["total_budget_cents".into()],
        ..Default::default()
    };
    h.ads
        .clone()
        .update_campaign(h.req(&adv, update(7_000)))
        .await
        .expect("raise");
    assert_eq!(h.cents(&adv).await, (3_000, 7_000));
    h.ads
        .clone()
        .update_campaign(h.req(&adv, update(6_000)))
        .await
        .expect("lower");
    assert_eq!(h.cents(&adv).await, (4_000, 6_000));
    let err = h
        .ads
        .clone()
        .update_campaign(h.req(&adv, update(20_000)))
        .await
        .expect_err("past the balance");
    assert_eq!(
        loop_ads_auction::error::status_reason(&err).as_deref(),
        Some("INSUFFICIENT_FUNDS")
    );
    let now = h.get_campaign(&adv, &c.campaign_id).await;
    assert_eq!(now.total_budget_cents, 6_000);
    assert_eq!(h.cents(&adv).await, (4_000, 6_000));

    // Billed spend is charged to the wallet from the reserve: 20 viewers'
    // impressions at 51 millicents (the reserve price + 1) bill 1,020
    // millicents, which settle as 1 whole cent.
    let mut group = Harness::ad_group_request(&c.campaign_id, 300);
    group.targeting = country("PT");
    let g = h.ad_group(&adv, group).await;
    let video = h.video(&adv).await;
    h.creative(&adv, &g.ad_group_id, &video).await;
    testing::wait_for("the ad serves", Duration::from_secs(30), || async {
        (!h.fill(&viewer(), "PT", &[4]).await.slots.is_empty()).then_some(())
    })
    .await;
    let mut reported = 0;
    while reported < 20 {
        let user = viewer();
        let r = h.fill(&user, "PT", &[4]).await;
        let slot = r.slots.first().expect("a slot").clone();
        assert_eq!(slot.price_millicents, 51);
        h.report(Uuid::now_v7(), &user, &slot, "impression").await;
        reported += 1;
    }
    let settled = testing::wait_for("1 cent settled", Duration::from_secs(60), || async {
        let (settled,): (i64,) =
            sqlx::query_as("SELECT settled_cents FROM campaigns WHERE id = $1::uuid")
                .bind(&c.campaign_id)
                .fetch_one(&h.pool)
                .await
                .expect("campaign");
        (settled >= 1).then_some(settled)
    })
    .await;
    assert_eq!(settled, 1);
    assert_eq!(h.cents(&adv).await, (4_000, 5_999));
}

#[tokio::test]
async fn a_reserve_made_for_a_campaign_that_never_committed_is_released() {
    let h = Harness::start_metered(|_| {}).await;
    let (adv, adv_id) = h.user("acme", common::Role::Advertiser).await;
    h.fund(&adv, 10_000).await;
    // A CreateCampaign reserved 4,000 cents for campaign `lost`, then its
    // commit failed: the wallet holds the reserve, no campaign exists, and
    // its note (older than the 10 s grace) is left. Another note, `never`,
    // is for a create that failed before the wallet moved anything.
    let (lost, never) = (Uuid::now_v7(), Uuid::now_v7());
    h.reserve_as_ads(&adv_id, lost, &format!("campaign:{lost}:v1"), 4_000)
        .await;
    assert_eq!(h.cents(&adv).await, (6_000, 4_000));
    for (campaign, cents) in [(lost, 4_000i64), (never, 2_000)] {
        sqlx::query(
            "INSERT INTO wallet_intents (campaign_id, advertiser_id, amount_cents, created_at) \
             VALUES ($1, $2::uuid, $3, now() - interval '1 minute')",
        )
        .bind(campaign)
        .bind(&adv_id)
        .bind(cents)
        .execute(&h.pool)
        .await
        .expect("intent");
    }
    // The settlement loop (every second here) releases the orphan and
    // closes both notes; the one that reserved nothing moves nothing.
    testing::wait_for("the notes closed", Duration::from_secs(30), || async {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM wallet_intents")
            .fetch_one(&h.pool)
            .await
            .expect("count");
        (left == 0).then_some(())
    })
    .await;
    assert_eq!(h.cents(&adv).await, (10_000, 0));
    // A campaign created normally leaves no note behind.
    h.campaign(&adv, 5_000).await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM wallet_intents")
        .fetch_one(&h.pool)
        .await
        .expect("count");
    assert_eq!(left, 0);
    assert_eq!(h.cents(&adv).await, (5_000, 5_000));
}

#[tokio::test]
async fn a_budget_change_that_did_not_commit_is_completed_and_blocks_others_until_then() {
    let h = Harness::start_metered(|_| {}).await;
    let (adv, adv_id) = h.user("acme", common::Role::Advertiser).await;
    h.fund(&adv, 10_000).await;
    let c = h.campaign(&adv, 5_000).await;
    let id = Uuid::parse_str(&c.campaign_id).expect("id");
    assert_eq!(h.cents(&adv).await, (5_000, 5_000));
    let update = |budget: i64| pb::UpdateCampaignRequest {
        campaign_id: c.campaign_id.clone(),
        total_budget_cents: budget,
        update_mask: vec!["total_budget_cents".into()],
        ..Default::default()
    };

    // An UpdateCampaign to 7,000 at version 2 noted its change and reserved
    // the 2,000 in the wallet (with its key), then its commit failed.
    h.reserve_as_ads(&adv_id, id, &format!("campaign:{id}:v2:7000"), 2_000)
        .await;
    sqlx::query(
        "INSERT INTO budget_intents (campaign_id, advertiser_id, version, budget_cents, diff_cents) \
         VALUES ($1, $2::uuid, 2, 7000, 2000)",
    )
    .bind(id)
    .bind(&adv_id)
    .execute(&h.pool)
    .await
    .expect("note");
    assert_eq!(h.cents(&adv).await, (3_000, 7_000));

    // While it is pending, another budget change is refused (nothing moves).
    let err = h
        .ads
        .clone()
        .update_campaign(h.req(&adv, update(6_000)))
        .await
        .expect_err("pending");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(h.cents(&adv).await, (3_000, 7_000));

    // Past the grace, the settlement loop completes it: the same reserve
    // again (moved once), then the budget and version.
    sqlx::query("UPDATE budget_intents SET created_at = now() - interval '1 minute'")
        .execute(&h.pool)
        .await
        .expect("age");
    let done = testing::wait_for("the change completed", Duration::from_secs(30), || async {
        let (budget, version): (i64, i64) =
            sqlx::query_as("SELECT total_budget_cents, version FROM campaigns WHERE id = $1")
                .bind(id)
                .fetch_one(&h.pool)
                .await
                .expect("campaign");
        (version == 2).then_some(budget)
    })
    .await;
    assert_eq!(done, 7_000);
    assert_eq!(h.cents(&adv).await, (3_000, 7_000), "reserved once");

    // And the next change goes through.
    h.ads
        .clone()
        .update_campaign(h.req(&adv, update(6_000)))
        .await
        .expect("lower");
    assert_eq!(h.cents(&adv).await, (4_000, 6_000));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM budget_intents")
        .fetch_one(&h.pool)
        .await
        .expect("count");
    assert_eq!(left, 0);
}

#[tokio::test]
async fn clicks_without_a_delivered_impression_are_invalid_and_never_billed() {
    let h = Harness::start(|c| c.auction.default_frequency_cap = 100).await;
    let (adv, _) = h.user("clickbait", common::Role::Advertiser).await;
    let video = h.video(&adv).await;
    let c = h.campaign(&adv, 5000).await;
    let mut req = Harness::ad_group_request(&c.campaign_id, 200);
    req.bid_type = pb::BidType::Cpc as i32;
    req.targeting = country("NO");
    let g = h.ad_group(&adv, req).await;
    h.creative(&adv, &g.ad_group_id, &video).await;
    let slot = |user: String| {
        let h = &h;
        async move {
            let r = h.fill(&user, "NO", &[4]).await;
            assert_eq!(r.slots.len(), 1, "{r:?}");
            (user, r.slots[0].clone())
        }
    };
    let now = chrono::Utc::now();
    // 1. A click on a token whose impression was never reported.
    let (u1, s1) = slot(viewer()).await;
    h.report_at(Uuid::now_v7(), &u1, &s1, "click", now).await;
    // 2. A click 100 ms after its impression: no person is that fast.
    let (u2, s2) = slot(viewer()).await;
    h.report_at(Uuid::now_v7(), &u2, &s2, "impression", now)
        .await;
    h.report_at(
        Uuid::now_v7(),
        &u2,
        &s2,
        "click",
        now + chrono::Duration::milliseconds(100),
    )
    .await;
    // 3. A real click, billed once; the same token clicked again is a repeat.
    let (u3, s3) = slot(viewer()).await;
    h.report(Uuid::now_v7(), &u3, &s3, "impression").await;
    h.report(Uuid::now_v7(), &u3, &s3, "click").await;
    h.report(Uuid::now_v7(), &u3, &s3, "click").await;
    // 4. A viewer clicking every ad of the campaign: past 3 a day, invalid.
    let u4 = viewer();
    let mut billed = vec![s3.price_millicents];
    for n in 0..4 {
        let (_, s) = slot(u4.clone()).await;
        h.report(Uuid::now_v7(), &u4, &s, "impression").await;
        h.report(Uuid::now_v7(), &u4, &s, "click").await;
        if n < 3 {
            billed.push(s.price_millicents);
        }
    }

    let invalid = || async {
        sqlx::query_as::<_, (String, i64)>(
            "SELECT reason, count(*) FROM ad_invalid_traffic WHERE ad_group_id = $1::uuid GROUP BY 1 ORDER BY 1",
        )
        .bind(&g.ad_group_id)
        .fetch_all(&h.pool)
        .await
        .expect("invalid")
    };
    let expected = vec![
        ("click_flood".to_owned(), 1),
        ("no_impression".to_owned(), 1),
        ("repeat".to_owned(), 1),
        ("too_fast".to_owned(), 1),
    ];
    testing::wait_for(
        "invalid traffic recorded",
        Duration::from_secs(30),
        || async { (invalid().await == expected).then_some(()) },
    )
    .await;
    // Billed: the impressions (not billable for CPC) and 1 + 3 real clicks.
    let clicks: (i64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE(sum(charge_millicents), 0)::bigint FROM ad_actions \
         WHERE ad_group_id = $1::uuid AND action = 2",
    )
    .bind(&g.ad_group_id)
    .fetch_one(&h.pool)
    .await
    .expect("clicks");
    assert_eq!(
        clicks,
        (4, billed.iter().sum::<i64>()),
        "only clicks a delivered impression backs are recorded and charged"
    );
    let report = h
        .ads
        .clone()
        .get_report(h.req(
            &adv,
            pb::GetReportRequest {
                scope: Some(pb::get_report_request::Scope::AdGroupId(
                    g.ad_group_id.clone(),
                )),
                start_date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
                end_date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
            },
        ))
        .await
        .expect("report")
        .into_inner();
    let totals = report.totals.expect("totals");
    assert_eq!((totals.clicks, totals.invalid_events), (4, 4), "{totals:?}");
    testing::clear_redis(&h.config.redis).await;
}
