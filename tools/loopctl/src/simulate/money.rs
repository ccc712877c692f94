//! Money during traffic: viewers buy coins and send gifts, creators cash
//! out their diamonds and the administrator approves.

use std::sync::atomic::Ordering;

use rand::Rng;
use rand::rngs::StdRng;
use reqwest::Method;
use serde_json::{Value, json};

use super::state::{Sim, Video};

impl Sim {
    /// Buys coins when short, then gifts in a LIVE room or on a video of
    /// the viewer's taste.
    pub async fn spend(&self, rng: &mut StdRng, v: usize) {
        let token = self.viewers[v].token.as_str();
        let balance = self
            .api
            .get("GET /v1/wallet/balance", "/v1/wallet/balance", token)
            .await;
        let coins = balance.body["coins"]["available"].as_i64().unwrap_or(0);
        if coins < 50 && !self.buy_coins(token).await {
            return;
        }
        let Some(body) = self.gift_body(rng, v, token).await else {
            return;
        };
        let key = format!("sim-gift-{}-{}", self.run_id, uuid::Uuid::now_v7().simple());
        let reply = self
            .api
            .call(
                "POST /v1/wallet/gifts",
                Method::POST,
                "/v1/wallet/gifts",
                Some(token),
                Some(&body),
                Some(&key),
            )
            .await;
        if reply.ok() {
            let mut tally = self.tally.lock();
            tally.gifts += 1;
            tally.coins_gifted += reply.body["coins_spent"].as_i64().unwrap_or(0);
        }
    }

    /// Buys the first coin package with a signed test receipt. Whether the
    /// purchase went through.
    async fn buy_coins(&self, token: &str) -> bool {
        let Some(package) = self.packages.first() else {
            return false;
        };
        let n = self.receipt_counter.fetch_add(1, Ordering::Relaxed);
        let receipt = loop_wallet::payments::TestProvider::new(&self.args.receipt_secret).sign(
            &loop_wallet::payments::TestReceipt {
                receipt_id: format!("sim-{}-{n}", self.run_id),
                product_id: package["store_product_id"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                amount_cents: package["price_cents"].as_i64().unwrap_or(0),
            },
        );
        let key = format!("sim-buy-{}-{n}", self.run_id);
        let reply = self
            .api
            .call(
                "POST /v1/wallet/purchases",
                Method::POST,
                "/v1/wallet/purchases",
                Some(token),
                Some(&json!({"package_id": package["package_id"], "receipt": {"provider": "test", "receipt_data": receipt.receipt_data, "signature": receipt.signature}})),
                Some(&key),
            )
            .await;
        if reply.ok() {
            self.tally.lock().purchases += 1;
        }
        reply.ok()
    }

    /// The gift to send: one of the cheapest, to a LIVE creator (joining the
    /// room first) or else on a video of the viewer's taste; none when the
    /// catalog has no such video.
    async fn gift_body(&self, rng: &mut StdRng, v: usize, token: &str) -> Option<Value> {
        let gift = &self.gifts[rng.random_range(0..self.gifts.len().clamp(1, 3))];
        let count = rng.random_range(1..=5u32);
        let room = {
            let rooms = self.rooms.read();
            (!rooms.is_empty()).then(|| rooms[rng.random_range(0..rooms.len())].clone())
        };
        if let Some((room_id, creator)) = room {
            self.api
                .post(
                    "POST /v1/live/{id}/join",
                    &format!("/v1/live/{room_id}/join"),
                    Some(token),
                    &json!({}),
                )
                .await;
            return Some(
                json!({"gift_id": gift["gift_id"], "recipient_id": self.creators[creator].user_id, "live_room_id": room_id, "count": count}),
            );
        }
        let video = {
            let videos = self.videos.read();
            let taste = self.world.viewers[v].taste;
            let mine: Vec<&Video> = videos
                .iter()
                .filter(|x| self.world.creators[x.creator].family == taste)
                .collect();
            if mine.is_empty() {
                return None;
            }
            mine[rng.random_range(0..mine.len())].clone()
        };
        Some(
            json!({"gift_id": gift["gift_id"], "recipient_id": self.creators[video.creator].user_id, "video_id": video.id, "count": count}),
        )
    }

    /// Creators with enough diamonds cash out; the administrator approves.
    pub async fn payouts(&self) {
        for (i, creator) in self.creators.iter().enumerate().take(20) {
            let balance = self
                .api
                .get(
                    "GET /v1/wallet/balance",
                    "/v1/wallet/balance",
                    &creator.token,
                )
                .await;
            let diamonds = balance.body["diamonds"]["available"].as_i64().unwrap_or(0);
            if diamonds < 2_000 {
                continue;
            }
            let key = format!("sim-payout-{}-{i}", self.run_id);
            let reply = self
                .api
                .call(
                    "POST /v1/wallet/payouts",
                    Method::POST,
                    "/v1/wallet/payouts",
                    Some(&creator.token),
                    Some(&json!({"diamonds": diamonds.min(150_000)})),
                    Some(&key),
                )
                .await;
            if let Some(payout) = reply.body["payout_id"].as_str().filter(|_| reply.ok()) {
                self.tally.lock().payouts_requested += 1;
                let key = format!("sim-approve-{}-{i}", self.run_id);
                self.api
                    .call(
                        "POST /v1/admin/payouts/{id}/approve",
                        Method::POST,
                        &format!("/v1/admin/payouts/{payout}/approve"),
                        Some(&self.admin.token),
                        Some(&json!({})),
                        Some(&key),
                    )
                    .await;
            }
        }
    }
}
