//! Creators publishing: the catalog at set-up and new videos during traffic.

use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

use super::state::{Sim, Video};
use super::world;

impl Sim {
    /// Creators post new videos over time (by popularity).
    pub async fn creators_post(&self) {
        let mut rng = StdRng::seed_from_u64(self.args.seed ^ 0xC0FFEE);
        let every = Duration::from_secs_f64((self.args.duration.as_secs_f64() / 40.0).max(0.5));
        let mut n = 0;
        while !self.stop.load(Ordering::Relaxed) {
            tokio::time::sleep(every).await;
            let creator = self.world.pick_creator(&mut rng).index;
            if let Some(id) = self.publish(creator, 1000 + n, true).await {
                if self.args.abusers > 0.0 {
                    self.self_views(creator, &id).await;
                }
                self.videos.write().push(Video { id, creator });
            }
            n += 1;
        }
    }

    /// Creator `creator` publishes their `n`th take, from an uploaded clip
    /// when `clip` (and clips were generated) or else by media URL; the new
    /// video's id. A platform that refuses media URLs gets a clip.
    pub async fn publish(&self, creator: usize, n: usize, clip: bool) -> Option<String> {
        let family = world::family_tag(self.world.creators[creator].family);
        let mut video = json!({"caption": format!("take {n} #{family}"), "hashtags": [family], "category": family});
        let clip = clip && !self.clips.is_empty();
        if clip {
            video["upload_id"] = json!(self.upload_clip(creator, creator + n).await?);
        } else {
            video["duration_ms"] = json!(9_000 + (n % 7) * 2_000);
            video["media_url"] = json!(format!("https://cdn.loop.test/sim/{creator}/{n}.mp4"));
        }
        let reply = self
            .api
            .post(
                "POST /v1/videos",
                "/v1/videos",
                Some(&self.creators[creator].token),
                &video,
            )
            .await;
        if !clip
            && !self.clips.is_empty()
            && reply.status == 400
            && reply.body["error"]["field"] == "upload_id"
        {
            return Box::pin(self.publish(creator, n, true)).await;
        }
        let id = reply.body["video_id"].as_str().map(str::to_owned);
        if clip && let Some(id) = &id {
            self.media.lock().videos.push(id.clone());
        }
        id
    }
}
