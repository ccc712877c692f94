//! One app session of an honest viewer: For You pages, watching by taste,
//! engagement, ads, sometimes Following, gifts and purchases.
//!
//! Every random draw comes from the session's own generator, in a fixed
//! order, so a seed decides what a viewer does with a given page.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::state::Sim;

/// What an honest viewer did with one For You page, before it is sent.
#[derive(Default)]
struct Page {
    /// Engagement events (`POST /v1/events`).
    events: Vec<Value>,
    /// Ad impressions, views and clicks (`POST /v1/ad-events`).
    ad_events: Vec<Value>,
    /// Organic items from the viewer's taste.
    taste: u32,
    organic: u32,
    /// Ad positions the ranker filled.
    filled: u64,
}

/// How many ad positions a page of `items` items offered: the configured
/// slots that fall within the page, plus the app-open position (the first)
/// on the first page of a session.
pub fn offered_ad_positions(slots: &[u32], items: usize, app_open: bool) -> u64 {
    slots
        .iter()
        .filter(|s| **s >= 1 && (**s as usize) <= items.max(1))
        .map(|s| s - 1)
        .chain(app_open.then_some(0))
        .collect::<HashSet<u32>>()
        .len() as u64
}

/// Engagement carries the serve token of the item it is with, as a real
/// client does, so it counts (docs/security.md).
pub fn attach_serve_tokens(items: &[Value], events: &mut [Value]) {
    let served: HashMap<&str, &str> = items
        .iter()
        .filter_map(|i| Some((i["video"]["video_id"].as_str()?, i["serve_token"].as_str()?)))
        .collect();
    for event in events {
        let token = event["video_id"]
            .as_str()
            .and_then(|v| served.get(v))
            .copied();
        if let Some(token) = token {
            event["serve_token"] = json!(token);
        }
    }
}

impl Sim {
    /// One app session of viewer `v`: For You pages (the first after app
    /// open), engagement, ads, sometimes Following, gifts and purchases.
    pub async fn session(&self, v: usize, session: u64) {
        let mut rng = self.viewer_rng(v, session);
        let viewer = &self.world.viewers[v];
        let token = self.viewers[v].token.as_str();
        let pages = rng.random_range(1..=4);
        let context =
            json!({"country": viewer.country, "language": "en", "device_os": viewer.device});
        for page in 0..pages {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            self.for_you_page(&mut rng, v, page == 0, &context).await;
        }
        if rng.random_bool(0.15) {
            self.api
                .get("GET /v1/feed/following", "/v1/feed/following", token)
                .await;
        }
        if viewer.spender && rng.random_bool(0.5) {
            self.spend(&mut rng, v).await;
        }
    }

    /// Fetches one For You page and acts on it: a cheater cheats, an honest
    /// viewer watches, engages, sees ads and reports all of it.
    async fn for_you_page(&self, rng: &mut StdRng, v: usize, app_open: bool, context: &Value) {
        let viewer = &self.world.viewers[v];
        let token = self.viewers[v].token.as_str();
        let path = format!(
            "/v1/feed/for-you?page_size={}&country={}&device_os={}&app_open={app_open}",
            self.args.page_size, viewer.country, viewer.device
        );
        let reply = self.api.get("GET /v1/feed/for-you", &path, token).await;
        if !reply.ok() {
            return;
        }
        let items = reply.body["items"].as_array().cloned().unwrap_or_default();
        if self.is_abuser(v) {
            self.cheat(token, context, &items).await;
            return;
        }
        let offered = offered_ad_positions(&self.args.ad_slots, items.len(), app_open);
        let mut page = Page::default();
        for item in &items {
            if item["sponsored"] == true {
                page.filled += 1;
                self.see_ad(rng, v, &item["ad"], &mut page.ad_events);
                continue;
            }
            let video = &item["video"];
            let Some(video_id) = video["video_id"].as_str() else {
                continue;
            };
            page.organic += 1;
            if self
                .watch(rng, (token, viewer.taste), item, video_id, &mut page.events)
                .await
            {
                page.taste += 1;
            }
        }
        attach_serve_tokens(&items, &mut page.events);
        {
            let mut tally = self.tally.lock();
            tally.offered_ad_positions += offered;
            tally.filled_ad_positions += page.filled;
            tally
                .feeds
                .entry(v)
                .or_default()
                .push((page.taste, page.organic));
        }
        self.send_page_events(token, context, &page).await;
    }

    /// An ad in the feed: its impression, sometimes a view, rarely a click
    /// (counted as honest), and the impression tallied for billing.
    fn see_ad(&self, rng: &mut StdRng, v: usize, ad: &Value, ad_events: &mut Vec<Value>) {
        let token = ad["impression_token"].as_str().unwrap_or_default();
        if token.is_empty() {
            return;
        }
        let campaign = ad["campaign_id"].as_str().unwrap_or_default().to_owned();
        let impression_id = uuid::Uuid::now_v7().to_string();
        // Shown a few seconds ago; a click or view now, as a person would (a
        // click within half a second of its impression is filtered as
        // invalid traffic).
        let shown_at =
            chrono::Utc::now() - chrono::Duration::milliseconds(rng.random_range(2_000..8_000));
        ad_events.push(json!({"event_id": impression_id, "kind": "impression", "impression_token": token, "occurred_at": shown_at}));
        if rng.random_bool(0.3) {
            ad_events.push(json!({"event_id": uuid::Uuid::now_v7().to_string(), "kind": "view", "impression_token": token, "watched_ms": 6500}));
        }
        if rng.random_bool(0.03) {
            ad_events.push(json!({"event_id": uuid::Uuid::now_v7().to_string(), "kind": "click", "impression_token": token}));
            *self
                .tally
                .lock()
                .honest_clicks
                .entry((v, campaign.clone()))
                .or_default() += 1;
        }
        self.tally
            .lock()
            .impressions
            .entry(campaign)
            .or_default()
            .insert(token.to_owned());
    }

    /// An organic feed item: watched through and engaged with when it is of
    /// the viewer's `taste`, mostly skipped otherwise. Returns whether it was
    /// of their taste.
    async fn watch(
        &self,
        rng: &mut StdRng,
        (token, taste): (&str, usize),
        item: &Value,
        video_id: &str,
        events: &mut Vec<Value>,
    ) -> bool {
        let video = &item["video"];
        let liked_family = self.family_of_video(video) == Some(taste);
        let duration = video["duration_ms"].as_u64().unwrap_or(15_000).max(1_000);
        events.push(json!({"kind": "impression", "video_id": video_id}));
        if liked_family {
            let watch = (duration as f64 * rng.random_range(0.92..2.3)) as u64;
            events.push(json!({"kind": "view", "video_id": video_id, "watch_ms": watch}));
            self.engage(rng, token, item, video_id, events).await;
        } else if rng.random_bool(0.7) {
            events.push(json!({"kind": "quick_skip", "video_id": video_id}));
        } else {
            let watch = (duration as f64 * rng.random_range(0.1..0.5)) as u64;
            events.push(json!({"kind": "view", "video_id": video_id, "watch_ms": watch}));
            if rng.random_bool(0.02) {
                events.push(
                    json!({"kind": "not_interested", "video_id": video_id, "target": "video"}),
                );
            }
        }
        liked_family
    }

    /// A liked video: liked (through the like route, the one path for a
    /// like, with the item's serve token), rarely shared, commented on or
    /// its creator followed.
    async fn engage(
        &self,
        rng: &mut StdRng,
        token: &str,
        item: &Value,
        video_id: &str,
        events: &mut Vec<Value>,
    ) {
        let video = &item["video"];
        if rng.random_bool(0.6) {
            self.api
                .post(
                    "POST /v1/videos/{id}/like",
                    &format!("/v1/videos/{video_id}/like"),
                    Some(token),
                    &json!({"serve_token": item["serve_token"]}),
                )
                .await;
        }
        if rng.random_bool(0.08) {
            events.push(json!({"kind": "share", "video_id": video_id}));
            self.api
                .post(
                    "POST /v1/videos/{id}/share",
                    &format!("/v1/videos/{video_id}/share"),
                    Some(token),
                    &json!({"channel": "copy_link"}),
                )
                .await;
        }
        if rng.random_bool(0.03) {
            events.push(json!({"kind": "comment", "video_id": video_id}));
            self.api
                .post(
                    "POST /v1/videos/{id}/comments",
                    &format!("/v1/videos/{video_id}/comments"),
                    Some(token),
                    &json!({"text": "love this"}),
                )
                .await;
        }
        if rng.random_bool(0.03)
            && let Some(creator) = video["creator_id"].as_str()
        {
            events.push(json!({"kind": "follow", "video_id": video_id}));
            self.api
                .post(
                    "POST /v1/users/{id}/follow",
                    &format!("/v1/users/{creator}/follow"),
                    Some(token),
                    &json!({}),
                )
                .await;
        }
    }

    /// Reports a page's engagement (in batches of 100) and its ad events.
    async fn send_page_events(&self, token: &str, context: &Value, page: &Page) {
        for chunk in page.events.chunks(100) {
            self.api
                .post(
                    "POST /v1/events",
                    "/v1/events",
                    Some(token),
                    &json!({"context": context, "events": chunk}),
                )
                .await;
        }
        if !page.ad_events.is_empty() {
            self.api
                .post(
                    "POST /v1/ad-events",
                    "/v1/ad-events",
                    Some(token),
                    &json!({"context": context, "events": page.ad_events}),
                )
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_positions_are_the_slots_within_the_page_plus_app_open() {
        // Slots 4 and 11 of an 8-item page: only the 4th fits.
        assert_eq!(offered_ad_positions(&[4, 11], 8, false), 1);
        // App open adds the first position.
        assert_eq!(offered_ad_positions(&[4, 11], 8, true), 2);
        assert_eq!(offered_ad_positions(&[4, 11], 12, true), 3);
        // Slot 1 on app open is one position, not two.
        assert_eq!(offered_ad_positions(&[1], 8, true), 1);
        // Slot 0 is no position; an empty page still offers its first.
        assert_eq!(offered_ad_positions(&[0], 8, false), 0);
        assert_eq!(offered_ad_positions(&[1, 2], 0, false), 1);
    }

    #[test]
    fn engagement_carries_the_serve_token_of_its_item() {
        let items = vec![
            json!({"video": {"video_id": "a"}, "serve_token": "ta"}),
            json!({"video": {"video_id": "b"}}),
            json!({"sponsored": true, "ad": {"impression_token": "x"}}),
        ];
        let mut events = vec![
            json!({"kind": "impression", "video_id": "a"}),
            json!({"kind": "view", "video_id": "b"}),
            json!({"kind": "share", "video_id": "c"}),
        ];
        attach_serve_tokens(&items, &mut events);
        assert_eq!(events[0]["serve_token"], "ta");
        assert!(events[1].get("serve_token").is_none());
        assert!(events[2].get("serve_token").is_none());
    }
}
