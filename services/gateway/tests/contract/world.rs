//! The objects the fuzzed requests point at: a viewer, a creator, an
//! advertiser and the admin, and one of each resource (a video, a sound, a
//! LIVE room, an ad campaign...) created through the API first, so a valid
//! request can name real ids. Also the callers each operation is sent as.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{Value, json};

use crate::doc::Operation;
use crate::generate::Fixture;

pub struct World {
    pub base: String,
    pub http: reqwest::Client,
    pub viewer: String,
    pub creator: String,
    pub advertiser: String,
    pub admin: String,
    /// Ids by the name the document gives them (`video_id`, `room_id`...).
    ids: HashMap<&'static str, String>,
    creator_handle: String,
}

/// Setup calls, each of which must succeed.
struct Setup<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
}

impl Setup<'_> {
    async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Value) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("Idempotency-Key", uuid::Uuid::now_v7().to_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if !body.is_null() {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("setup request");
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "setup {method} {path}: {status} {body}"
        );
        body
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Value {
        self.call(Method::POST, path, Some(token), body).await
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        self.call(Method::GET, path, Some(token), Value::Null).await
    }

    /// A processed upload of a generated clip (`upload_id`), sent with tus.
    async fn ready_upload(&self, token: &str) -> String {
        let dir = std::env::temp_dir().join(format!("loop-fz-{}", uuid::Uuid::now_v7()));
        let clip = loop_testkit::clips::generate(&dir, "fz.mp4", 2, 320, 240);
        let bytes = std::fs::read(&clip).expect("clip");
        let _ = std::fs::remove_dir_all(&dir);
        let upload = self
            .post(
                "/v1/uploads",
                token,
                json!({"size_bytes": bytes.len(), "content_type": "video/mp4"}),
            )
            .await;
        let upload_id = id(&upload, "upload_id");
        let path = format!("/v1/uploads/{upload_id}");
        let resp = self
            .http
            .patch(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Upload-Offset", "0")
            .header("Content-Type", "application/offset+octet-stream")
            .body(bytes)
            .send()
            .await
            .expect("upload");
        assert!(
            resp.status().is_success(),
            "setup PATCH {path}: {}",
            resp.status()
        );
        loop_platform::testing::wait_for(
            "the setup upload to be processed",
            std::time::Duration::from_secs(120),
            || async { (self.get(&path, token).await["state"] == "ready").then_some(()) },
        )
        .await;
        upload_id
    }

    async fn sign_up(&self, handle: &str, role: &str) -> String {
        let body = json!({"handle": handle, "password": "correct horse battery", "birth_date": "1990-02-03",
                          "country": "US", "language": "en", "interests": ["dance"], "role": role});
        let session = self.call(Method::POST, "/v1/auth/signup", None, body).await;
        id(&session, "token")
    }
}

fn id(body: &Value, field: &str) -> String {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {body}"))
        .to_owned()
}

pub use loop_testkit::fixtures::test_receipt as receipt;

impl World {
    pub async fn build(base: &str) -> Self {
        let http = reqwest::Client::new();
        let api = Setup { http: &http, base };
        let viewer = api.sign_up("fz_viewer", "viewer").await;
        let creator = api.sign_up("fz_creator", "creator").await;
        let advertiser = api.sign_up("fz_brand", "advertiser").await;
        let login = json!({"handle": "admin", "password": loop_content::DEV_ADMIN_PASSWORD});
        let admin = id(
            &api.call(Method::POST, "/v1/auth/login", None, login).await,
            "token",
        );
        let mut ids: HashMap<&'static str, String> = HashMap::new();
        ids.insert(
            "user_id",
            id(&api.get("/v1/users/me", &creator).await, "user_id"),
        );
        let creator_id = ids["user_id"].clone();
        api.post(
            &format!("/v1/users/{creator_id}/follow"),
            &viewer,
            Value::Null,
        )
        .await;

        let sound = api
            .post(
                "/v1/sounds",
                &creator,
                json!({"title": "Beat", "artist": "Fz", "duration_ms": 30000}),
            )
            .await;
        ids.insert("sound_id", id(&sound, "sound_id"));
        ids.insert("upload_id", api.ready_upload(&creator).await);
        let video = api
            .post(
                "/v1/videos",
                &creator,
                json!({"caption": "fuzz #dance", "duration_ms": 15000,
            "media_url": "https://cdn.loop.test/fz.mp4", "sound_id": ids["sound_id"]}),
            )
            .await;
        ids.insert("video_id", id(&video, "video_id"));
        // Moderation may remove a video: it gets one of its own.
        let doomed = json!({"caption": "to moderate", "duration_ms": 15000, "media_url": "https://cdn.loop.test/m.mp4"});
        let doomed = api.post("/v1/videos", &creator, doomed).await;
        ids.insert("moderated_video_id", id(&doomed, "video_id"));
        let ad_video = api
            .post(
                "/v1/videos",
                &advertiser,
                json!({"caption": "our shoe", "duration_ms": 15000,
            "media_url": "https://cdn.loop.test/shoe.mp4", "visibility": "private"}),
            )
            .await;
        ids.insert("ad_video_id", id(&ad_video, "video_id"));
        let path = format!("/v1/videos/{}/comments", ids["video_id"]);
        let comment = api.post(&path, &viewer, json!({"text": "nice"})).await;
        ids.insert("comment_id", id(&comment, "comment_id"));
        let room = api
            .post("/v1/live", &creator, json!({"title": "fuzz live"}))
            .await;
        ids.insert("room_id", id(&room, "room_id"));

        // Money: the viewer's coins become the creator's diamonds; the brand's cents pay ads.
        for _ in 0..2 {
            let buy =
                json!({"package_id": "coins_10000", "receipt": receipt("loop.coins_10000", 8999)});
            api.post("/v1/wallet/purchases", &viewer, buy).await;
        }
        let gifts = api.get("/v1/wallet/gifts", &viewer).await;
        ids.insert("gift_id", id(&gifts["items"][0], "gift_id"));
        let gift = json!({"gift_id": "galaxy", "recipient_id": creator_id, "video_id": ids["video_id"], "count": 8});
        api.post("/v1/wallet/gifts", &viewer, gift).await;
        let payout = api
            .post("/v1/wallet/payouts", &creator, json!({"diamonds": 2500}))
            .await;
        ids.insert("payout_id", id(&payout, "payout_id"));
        api.post(
            "/v1/wallet/top-ups",
            &advertiser,
            json!({"amount_cents": 10_000_000, "receipt": receipt("loop.cents", 10_000_000)}),
        )
        .await;

        Self::build_ads(&api, &advertiser, &creator, &mut ids).await;
        Self::build_marketplace(&api, [&advertiser, &creator, &admin], &mut ids).await;
        Self::build_shop(&api, [&advertiser, &creator, &viewer, &admin], &mut ids).await;
        Self {
            base: base.to_owned(),
            http,
            viewer,
            creator,
            advertiser,
            admin,
            ids,
            creator_handle: "fz_creator".into(),
        }
    }

    async fn build_ads(
        api: &Setup<'_>,
        advertiser: &str,
        creator: &str,
        ids: &mut HashMap<&'static str, String>,
    ) {
        let campaign = api
            .post(
                "/v1/ads/campaigns",
                advertiser,
                json!({"idempotency_key": "fz-campaign-1",
            "name": "Fuzz", "objective": "traffic", "total_budget_cents": 500_000}),
            )
            .await;
        ids.insert("ads_campaign_id", id(&campaign, "campaign_id"));
        let group = api.post(&format!("/v1/ads/campaigns/{}/ad-groups", ids["ads_campaign_id"]), advertiser,
            json!({"name": "Fuzz group", "format": "in_feed", "daily_budget_cents": 2000, "bid_type": "cpm",
                   "bid_cents": 300, "schedule": {"starts_at": chrono::Utc::now().to_rfc3339()}})).await;
        ids.insert("ad_group_id", id(&group, "ad_group_id"));
        let creative = api.post(&format!("/v1/ads/ad-groups/{}/creatives", ids["ad_group_id"]), advertiser,
            json!({"video_id": ids["ad_video_id"], "display_name": "Fuzz", "call_to_action": "shop_now",
                   "landing_url": "https://brand.test/fz"})).await;
        ids.insert("creative_id", id(&creative, "creative_id"));
        let code = api
            .post(
                "/v1/spark-codes",
                creator,
                json!({"video_id": ids["video_id"]}),
            )
            .await;
        ids.insert("code", id(&code, "code"));
    }

    async fn build_marketplace(
        api: &Setup<'_>,
        [advertiser, creator, admin]: [&str; 3],
        ids: &mut HashMap<&'static str, String>,
    ) {
        let application = api
            .post(
                "/v1/marketplace/creator/application",
                creator,
                json!({"categories": ["dance"], "rate_cents": 30000, "pitch": "moves"}),
            )
            .await;
        ids.insert("application_id", id(&application, "application_id"));
        api.post(
            &format!(
                "/v1/admin/marketplace/applications/{}/review",
                ids["application_id"]
            ),
            admin,
            json!({"decision": "approve"}),
        )
        .await;
        let deadline = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
        let campaign = api.post("/v1/marketplace/campaigns", advertiser, json!({"title": "Fuzz summer",
            "brief": "Dance with us", "video_count": 1, "required_hashtag": "dance", "budget_per_creator_cents": 5000,
            "max_creators": 50, "deadline": deadline, "visibility": "public"})).await;
        ids.insert("market_campaign_id", id(&campaign, "campaign_id"));
        api.post(
            &format!(
                "/v1/marketplace/campaigns/{}/publish",
                ids["market_campaign_id"]
            ),
            advertiser,
            Value::Null,
        )
        .await;
        let collab = api
            .post(
                &format!(
                    "/v1/marketplace/campaigns/{}/invitations",
                    ids["market_campaign_id"]
                ),
                advertiser,
                json!({"creator_id": ids["user_id"], "pitch": "join"}),
            )
            .await;
        ids.insert("collaboration_id", id(&collab, "collaboration_id"));
        let accepted = api
            .post(
                &format!(
                    "/v1/marketplace/collaborations/{}/accept-invitation",
                    ids["collaboration_id"]
                ),
                creator,
                Value::Null,
            )
            .await;
        ids.insert("escrow_id", id(&accepted, "escrow_id"));
    }

    /// The shop: the advertiser (a brand) sells an approved product open
    /// to affiliates and invites the creator to it; the creator features
    /// it; the viewer opens it from the creator's showcase and buys it
    /// (paid, on hold), so order, product and invitation routes meet real
    /// objects.
    async fn build_shop(
        api: &Setup<'_>,
        [seller, creator, buyer, admin]: [&str; 4],
        ids: &mut HashMap<&'static str, String>,
    ) {
        let shop = api
            .post(
                "/v1/shop",
                seller,
                json!({"name": "Fuzz shop", "description": "shoes"}),
            )
            .await;
        ids.insert("shop_id", id(&shop, "shop_id"));
        let product = api
            .post(
                "/v1/products",
                seller,
                json!({"title": "Fuzz shoe", "description": "runs", "category": "shoes",
                       "image_urls": ["https://cdn.loop.test/shoe.jpg"],
                       "skus": [{"name": "42", "price_cents": 5000, "stock": 1000}]}),
            )
            .await;
        ids.insert("product_id", id(&product, "product_id"));
        ids.insert("sku_id", id(&product["skus"][0], "sku_id"));
        let product_id = ids["product_id"].clone();
        api.post(
            &format!("/v1/admin/products/{product_id}/approve"),
            admin,
            json!({"expected_version": product["version"]}),
        )
        .await;
        api.call(
            Method::PUT,
            &format!("/v1/products/{product_id}/affiliate"),
            Some(seller),
            json!({"rate_bps": 1000}),
        )
        .await;
        let invitation = api
            .post(
                &format!("/v1/products/{product_id}/invitations"),
                seller,
                json!({"creator_id": ids["user_id"], "rate_bps": 2000}),
            )
            .await;
        ids.insert("invitation_id", id(&invitation, "invitation_id"));
        api.post("/v1/showcase", creator, json!({"product_id": product_id}))
            .await;
        api.post(
            &format!("/v1/products/{product_id}/referrals"),
            buyer,
            json!({"creator_id": ids["user_id"], "source": "showcase"}),
        )
        .await;
        let order = api
            .post(
                "/v1/orders",
                buyer,
                json!({"shop_id": ids["shop_id"], "items": [{"sku_id": ids["sku_id"], "quantity": 1}]}),
            )
            .await;
        let order_id = id(&order, "order_id");
        api.post(
            &format!("/v1/orders/{order_id}/pay"),
            buyer,
            json!({"receipt": receipt(&format!("commerce:order:{order_id}"), 5000)}),
        )
        .await;
        ids.insert("order_id", order_id);
    }

    /// Whom `op` is sent as: the role it is for.
    pub fn caller(&self, op: &Operation) -> &str {
        let p = op.path.as_str();
        let creator_actions = [
            "/accept-invitation",
            "/decline-invitation",
            "/submit",
            "/applications",
            "/v1/marketplace/creator/",
            "/v1/spark-codes",
            "/v1/users/me/creator-profile",
            "/v1/sounds",
            "/end",
        ];
        let creator_writes = ["/v1/videos", "/v1/live", "/v1/wallet/payouts"];
        if p.starts_with("/v1/admin") || (p == "/v1/challenges" && op.method == Method::POST) {
            &self.admin
        } else if creator_actions.iter().any(|s| p.contains(s))
            || (op.method != Method::GET
                && creator_writes
                    .iter()
                    .any(|w| p == *w || p == "/v1/videos/{video_id}"))
            || p == "/v1/wallet/payouts"
        {
            &self.creator
        } else if p.starts_with("/v1/ads/")
            || p.starts_with("/v1/marketplace/")
            || p == "/v1/wallet/top-ups"
            || p.starts_with("/v1/wallet/escrows/")
        {
            &self.advertiser
        } else if Self::sells(op) {
            // The shop's seller (the brand).
            &self.advertiser
        } else if p.starts_with("/v1/showcase")
            || p == "/v1/commissions"
            || p.starts_with("/v1/invitations")
        {
            &self.creator
        } else {
            &self.viewer
        }
    }

    /// A seller's shop operation: the shop, products, stock, shipping,
    /// refunds, affiliate rates and invitations (a product's referrals and
    /// reads by others are the buyer's).
    fn sells(op: &Operation) -> bool {
        let p = op.path.as_str();
        p == "/v1/shop"
            || p.starts_with("/v1/skus/")
            || p.ends_with("/ship")
            || p.ends_with("/refund")
            || p.ends_with("/affiliate")
            || p.contains("/invitations") && p.starts_with("/v1/products/")
            || (op.method != Method::GET
                && (p == "/v1/products" || p == "/v1/products/{product_id}"))
    }

    /// The real value of a field named `name` in `op`, if the world has one.
    pub fn fixture(&self, op: &Operation, name: &str) -> Fixture {
        let ads = op.path.starts_with("/v1/ads/");
        let use_id = |key: &str| Fixture::Use(Value::String(self.ids[key].clone()));
        let path = op.path.as_str();
        match name {
            "page_token" | "serve_token" => Fixture::Omit,
            // Exactly one of a pair: the world names the first.
            "ad_group_id" if path == "/v1/ads/reports" => Fixture::Omit,
            // Only admins name another user's wallet; a minimum under a maximum.
            "user_id" | "creator_id" if path.starts_with("/v1/wallet/") => Fixture::Omit,
            "follower_max" if path == "/v1/marketplace/creators" => Fixture::Omit,
            // A real account logs in (the wrong password is a documented 401).
            "handle" if path == "/v1/auth/login" => Fixture::Use(json!("fz_viewer")),
            "password" if path == "/v1/auth/login" => Fixture::Use(json!("correct horse battery")),
            // A zone the database knows.
            "time_zone" => Fixture::Use(json!("Europe/Paris")),
            "campaign_id" if ads => use_id("ads_campaign_id"),
            "campaign_id" => use_id("market_campaign_id"),
            "video_id" if ads => use_id("ad_video_id"),
            "video_id" if path.ends_with("/moderation") => use_id("moderated_video_id"),
            "user_id" | "creator_id" | "recipient_id" => use_id("user_id"),
            "room_id" | "live_room_id" => use_id("room_id"),
            "parent_comment_id" => use_id("comment_id"),
            "remix_of_video_id" => use_id("video_id"),
            // An edit names each SKU once (the world has one): new ones otherwise.
            "sku_id" if path == "/v1/products/{product_id}" => Fixture::Omit,
            // A visit from the showcase names no video or room (which of
            // the two the schema cannot say).
            "source" if path.ends_with("/referrals") => Fixture::Use(json!("showcase")),
            "source_id" if path.ends_with("/referrals") => Fixture::Omit,
            // Plausible for the world's 15-second video (at most ten plays).
            "watch_ms" => Fixture::Use(json!(12_000)),
            "video_ids" => Fixture::Use(json!([self.ids["video_id"]])),
            "handle" if op.path.contains("{handle}") => {
                Fixture::Use(Value::String(self.creator_handle.clone()))
            }
            "name" if op.path.contains("{name}") => Fixture::Use(json!("dance")),
            "package_id" => Fixture::Use(json!("coins_100")),
            "receipt" if op.path == "/v1/wallet/purchases" => {
                Fixture::Use(receipt("loop.coins_100", 99))
            }
            key if self.ids.contains_key(key) => use_id(key),
            _ => Fixture::Generate,
        }
    }

    /// Fixes up what a generated valid request cannot know: a top-up's
    /// receipt is signed for the amount asked.
    pub fn fixup(&self, op: &Operation, body: &mut Value) {
        if op.path == "/v1/wallet/top-ups" && body.is_object() {
            let cents = body["amount_cents"].as_i64().unwrap_or(100);
            body["receipt"] = receipt("loop.cents", cents);
        }
    }
}
