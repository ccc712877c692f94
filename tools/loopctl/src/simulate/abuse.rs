//! The cheaters (`Args::abusers`): click floods on ads, the same like sent
//! over and over, other viewers' serve tokens, and creators watching their
//! own videos. The report shows all of it detected, none billed or counted.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::state::Sim;

impl Sim {
    /// What a cheater does with a page: reports each ad's impression and
    /// floods it with clicks at once; likes the first video twenty times with
    /// its serve token; replays the last serve token another cheater saw.
    pub async fn cheat(&self, token: &str, context: &Value, items: &[Value]) {
        self.flood_ads(token, context, items).await;
        self.repeat_and_replay_likes(token, context, items).await;
    }

    /// Each ad's impression followed at once by five clicks.
    async fn flood_ads(&self, token: &str, context: &Value, items: &[Value]) {
        let mut ad_events = Vec::new();
        let mut flooded: HashMap<String, u64> = HashMap::new();
        for item in items.iter().filter(|i| i["sponsored"] == true) {
            let Some(t) = item["ad"]["impression_token"].as_str() else {
                continue;
            };
            let campaign = item["ad"]["campaign_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            ad_events.push(json!({"event_id": uuid::Uuid::now_v7().to_string(), "kind": "impression", "impression_token": t}));
            for _ in 0..5 {
                ad_events.push(json!({"event_id": uuid::Uuid::now_v7().to_string(), "kind": "click", "impression_token": t}));
                *flooded.entry(campaign.clone()).or_default() += 1;
            }
            self.tally
                .lock()
                .impressions
                .entry(campaign)
                .or_default()
                .insert(t.to_owned());
        }
        if ad_events.is_empty() {
            return;
        }
        let sent = self
            .api
            .post(
                "POST /v1/ad-events",
                "/v1/ad-events",
                Some(token),
                &json!({"context": context, "events": ad_events}),
            )
            .await;
        if sent.ok() {
            let mut tally = self.tally.lock();
            for (campaign, n) in flooded {
                *tally.abuse.ad_clicks_flooded.entry(campaign).or_default() += n;
            }
        }
    }

    /// Twenty likes of the first served video (through the like route, the
    /// one path for likes), then one like with the serve token another
    /// cheater was given (which must be refused).
    async fn repeat_and_replay_likes(&self, token: &str, context: &Value, items: &[Value]) {
        let Some(first) = items.iter().find(|i| i["serve_token"].is_string()) else {
            return;
        };
        let (video, served) = (&first["video"]["video_id"], &first["serve_token"]);
        let path = format!("/v1/videos/{}/like", video.as_str().unwrap_or_default());
        for _ in 0..20 {
            let reply = self
                .api
                .post(
                    "POST /v1/videos/{id}/like",
                    &path,
                    Some(token),
                    &json!({"context": context, "serve_token": served}),
                )
                .await;
            if reply.ok() {
                self.tally_credit(reply.body["credit"].as_str().unwrap_or_default());
            }
        }
        let replayed = self
            .last_served
            .lock()
            .replace((token.to_owned(), video.clone(), served.clone()))
            .filter(|(owner, _, _)| owner != token);
        if let Some((_, video, served)) = replayed {
            let video = video.as_str().unwrap_or_default();
            let reply = self
                .api
                .post(
                    "POST /v1/videos/{id}/like",
                    &format!("/v1/videos/{video}/like"),
                    Some(token),
                    &json!({"serve_token": served}),
                )
                .await;
            let mut tally = self.tally.lock();
            tally.abuse.foreign_tokens_sent += 1;
            if reply.status == 400 {
                tally.abuse.foreign_tokens_refused += 1;
            }
        }
    }

    /// Creators watching their own new video, over and over.
    pub async fn self_views(&self, creator: usize, video: &str) {
        let views: Vec<Value> = (0..20)
            .map(|_| json!({"kind": "view", "video_id": video, "watch_ms": 9000}))
            .collect();
        let reply = self
            .api
            .post(
                "POST /v1/events",
                "/v1/events",
                Some(&self.creators[creator].token),
                &json!({"events": views}),
            )
            .await;
        self.tally_credits(&reply.body);
    }

    /// Counts the credits the gateway gave a batch of events.
    fn tally_credits(&self, accepted: &Value) {
        for credit in accepted["credits"].as_array().into_iter().flatten() {
            self.tally_credit(credit.as_str().unwrap_or_default());
        }
    }

    fn tally_credit(&self, credit: &str) {
        *self
            .tally
            .lock()
            .abuse
            .credits
            .entry(credit.to_owned())
            .or_default() += 1;
    }
}
