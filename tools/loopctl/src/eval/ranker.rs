//! Loop itself under evaluation, in-process and on its real code path:
//! every rating becomes the engagement events a client would send, applied
//! by the ranker's own consumer batch handlers (the taste and the
//! co-engagement `loop_feed_ranking::learn::EngagementHandler`, as the live
//! consumers and `replay --rebuild` call them, without the broker), and each
//! page comes from `loop_feed_ranking::feed::for_you` over an in-process
//! catalog (how every replica builds its own) and real Redis under a key
//! prefix of its own.

use std::collections::HashMap;
use std::sync::Arc;

use loop_feed_ranking::catalog::Catalog;
use loop_feed_ranking::learn::EngagementHandler;
use loop_feed_ranking::{FeedConfig, LearningConfig, feed, learned, rank, state};
use loop_platform::cache::Redis;
use loop_platform::config::{RedisConfig, Secret};
use loop_platform::kafka::{BatchHandler, Delivery, topics};
use loop_proto::events::v1::{EngagementCredit, EngagementEvent, EngagementKind, VideoSnapshot};
use loop_proto::feed_ranking::v1 as pb;
use prost::Message;

use super::data::{Dataset, Outcome, Rating};

/// How the evaluation drives Loop (printed with the results).
pub const PATH: &str = "engagement applied by loop_feed_ranking::learn::EngagementHandler (the taste and the co-engagement consumers' batch handlers, without the broker); pages from loop_feed_ranking::feed::for_you over an in-process catalog, each served page reported back as impressions carrying the page's features (what the gateway's serve tokens carry), so the ranking weights learn from served-then-engaged labels; state in real Redis under a fresh key prefix, deleted afterwards";

/// Partitions the events are spread over, by user (as the topic is keyed).
const PARTITIONS: usize = 6;
/// Events per handler call (the consumer's default `max_batch`).
const BATCH: usize = 500;
/// Every movie is a video of this length.
const DURATION_MS: u32 = 60_000;

pub fn user_id(user: u32) -> String {
    format!("00000000-0000-7000-8000-{user:012}")
}

pub fn video_id(item: u32) -> String {
    format!("00000000-0000-7000-9000-{item:012}")
}

/// One page: the items and why each is there.
pub struct Page {
    pub items: Vec<u32>,
    /// A label per item: its reason kind, or `collaborative` for
    /// co-engagement reasons ("Viewers of ... also watched this").
    pub sources: Vec<String>,
    /// Per item, the features it was scored with (`FeedItem.features`).
    pub features: Vec<Vec<f32>>,
}

/// Which weights a page is scored with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// The hand-set weights moved by what the ranking model learned.
    Learned,
    /// The hand-set weights alone (`feed.learned_scoring` off).
    HandSet,
}

/// What the ranking model learned (all partitions together).
#[derive(Debug, Clone, Default)]
pub struct Learned {
    pub examples: u64,
    pub positives: u64,
    /// (signal, hand-set weight, weight served).
    pub weights: Vec<(String, f32, f32)>,
}

pub struct LoopRanker {
    redis: Redis,
    handler: EngagementHandler,
    co: EngagementHandler,
    catalog: Arc<Catalog>,
    learning: LearningConfig,
    feed: FeedConfig,
    offsets: [i64; PARTITIONS],
    items: HashMap<String, u32>,
    cursor: Option<learned::Cursor>,
    /// Added to every event time: the log's last rating lands a minute ago,
    /// so time-decayed state (trending) is what it would be live.
    shift_s: i64,
    /// Impressions reported so far (their event ids).
    impressions: u64,
}

impl LoopRanker {
    /// Connects under a fresh prefix and publishes every item to the catalog.
    pub async fn start(
        redis_url: &str,
        data: &Dataset,
        overrides: &[String],
    ) -> anyhow::Result<Self> {
        let (learning, feed) = configs(overrides)?;
        let prefix = format!(
            "loop:eval:{}:",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let redis = Redis::connect(&RedisConfig {
            url: Secret::new(redis_url.to_owned()),
            key_prefix: prefix,
            ..RedisConfig::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("--redis-url {redis_url}: {e}"))?;
        let catalog = Arc::new(Catalog::new(learning.dim));
        let last_s = data.ratings.iter().map(|r| r.at_s).max().unwrap_or(0);
        let shift_s = chrono::Utc::now().timestamp() - 60 - last_s;
        let mut first_s: HashMap<u32, i64> = HashMap::new();
        for r in &data.ratings {
            let t = first_s.entry(r.item).or_insert(r.at_s);
            *t = (*t).min(r.at_s);
        }
        let mut items = HashMap::new();
        for (i, item) in data.items.iter().enumerate() {
            let i = i as u32;
            let published = first_s.get(&i).copied().unwrap_or(last_s) + shift_s;
            catalog.upsert(&VideoSnapshot {
                video_id: video_id(i),
                creator_id: format!("00000000-0000-7000-a000-{i:012}"),
                caption: item.title.clone(),
                hashtags: item.hashtags.clone(),
                category: item.hashtags.first().cloned().unwrap_or_default(),
                duration_ms: DURATION_MS,
                servable: true,
                published_at: Some(prost_types::Timestamp {
                    seconds: published,
                    nanos: 0,
                }),
                ..Default::default()
            });
            items.insert(video_id(i), i);
        }
        catalog.set_ready();
        let handler =
            EngagementHandler::new(redis.clone(), learning.clone(), Some(catalog.clone()));
        let co = EngagementHandler::co_engagement(redis.clone(), learning.clone());
        Ok(Self {
            redis,
            handler,
            co,
            catalog,
            learning,
            feed,
            offsets: [0; PARTITIONS],
            items,
            cursor: None,
            shift_s,
            impressions: 0,
        })
    }

    /// The events a client sends for `rating` (the `index`-th of the log):
    /// an impression, then a complete view and a like, a partial view, or a
    /// quick skip.
    pub fn events(&self, index: usize, rating: &Rating) -> Vec<EngagementEvent> {
        let outcome = Outcome::of(rating.stars);
        let mut kinds = vec![(EngagementKind::Impression, 0)];
        match outcome {
            Outcome::Liked => {
                kinds.push((EngagementKind::View, DURATION_MS));
                kinds.push((EngagementKind::Like, 0));
            }
            Outcome::Partial => kinds.push((EngagementKind::View, DURATION_MS * 6 / 10)),
            Outcome::Skipped => kinds.push((EngagementKind::QuickSkip, 0)),
        }
        let at_s = rating.at_s + self.shift_s;
        kinds
            .into_iter()
            .enumerate()
            .map(|(n, (kind, watch_ms))| {
                let at = prost_types::Timestamp {
                    seconds: at_s,
                    nanos: n as i32 * 1_000_000,
                };
                EngagementEvent {
                    event_id: uuid::Uuid::from_u128(((index as u128) << 8) | n as u128).to_string(),
                    occurred_at: Some(at),
                    accepted_at: Some(at),
                    user_id: user_id(rating.user),
                    video_id: video_id(rating.item),
                    creator_id: format!("00000000-0000-7000-a000-{:012}", rating.item),
                    kind: kind as i32,
                    watch_ms,
                    video_duration_ms: DURATION_MS,
                    hashtags: self
                        .catalog
                        .get(&video_id(rating.item))
                        .map(|v| v.hashtags.clone())
                        .unwrap_or_default(),
                    category: self
                        .catalog
                        .get(&video_id(rating.item))
                        .map(|v| v.category.clone())
                        .unwrap_or_default(),
                    credit: EngagementCredit::Counted as i32,
                    ..Default::default()
                }
            })
            .collect()
    }

    /// Applies `events` through both consumers' handlers, in batches, each
    /// event at the next offset of its user's partition.
    pub async fn apply(&mut self, events: &[EngagementEvent]) -> anyhow::Result<()> {
        for chunk in events.chunks(BATCH) {
            let batch: Vec<Delivery> = chunk
                .iter()
                .map(|e| {
                    let p = partition_of(&e.user_id);
                    self.offsets[p] += 1;
                    Delivery {
                        topic: topics::ENGAGEMENT.to_owned(),
                        partition: p as i32,
                        offset: self.offsets[p],
                        key: e.user_id.clone().into_bytes(),
                        payload: e.encode_to_vec(),
                        headers: Vec::new(),
                        timestamp_ms: None,
                    }
                })
                .collect();
            for handler in [&self.handler, &self.co] {
                let poison = handler.handle(&batch).await?;
                if let Some((_, reason)) = poison.first() {
                    anyhow::bail!("the ranker refused an evaluation event: {reason}");
                }
            }
        }
        Ok(())
    }

    /// Records `items` as shown to `user`, as the feed does when it serves them.
    pub async fn mark_seen(&self, user: u32, items: &[u32]) -> anyhow::Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let key = state::seen_key(&self.redis, &user_id(user));
        let mut pipe = redis::pipe();
        for (n, item) in items.iter().enumerate() {
            pipe.zadd(&key, video_id(*item), n).ignore();
        }
        let mut conn = self.redis.conn.clone();
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    /// Picks up the videos' learned vectors, as each replica does every
    /// `feed.learned_refresh_ms`.
    pub async fn refresh(&mut self) -> anyhow::Result<()> {
        let cursor = learned::refresh_once(&self.catalog, &self.redis, self.cursor.take()).await?;
        self.cursor = Some(cursor);
        Ok(())
    }

    /// Reports `page` as shown to `user` at `at_s` (the log's time): one
    /// impression per item carrying its features, as a client sends them
    /// with the items' serve tokens (the gateway copies the features onto
    /// the events). Not recorded in the seen-set: the log, not the page,
    /// says what the user went on to rate.
    pub async fn report_shown(&mut self, user: u32, page: &Page, at_s: i64) -> anyhow::Result<()> {
        let mut events = Vec::with_capacity(page.items.len());
        for (n, (item, features)) in page.items.iter().zip(&page.features).enumerate() {
            self.impressions += 1;
            let at = prost_types::Timestamp {
                seconds: at_s + self.shift_s,
                nanos: n as i32 * 1_000,
            };
            events.push(EngagementEvent {
                event_id: uuid::Uuid::from_u128((1u128 << 100) | u128::from(self.impressions))
                    .to_string(),
                occurred_at: Some(at),
                accepted_at: Some(at),
                user_id: user_id(user),
                video_id: video_id(*item),
                creator_id: format!("00000000-0000-7000-a000-{item:012}"),
                kind: EngagementKind::Impression as i32,
                video_duration_ms: DURATION_MS,
                hashtags: self
                    .catalog
                    .get(&video_id(*item))
                    .map(|v| v.hashtags.clone())
                    .unwrap_or_default(),
                credit: EngagementCredit::Counted as i32,
                served_features: features.clone(),
                ..Default::default()
            });
        }
        self.apply(&events).await
    }

    /// What the ranking model learned so far.
    pub async fn learned(&self) -> anyhow::Result<Learned> {
        let mut conn = self.redis.conn.clone();
        let fields: HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
            .arg(state::rank_model_key(&self.redis))
            .query_async(&mut conn)
            .await?;
        let models = rank::decode_models(&fields);
        let delta = rank::shrink(
            rank::served_delta(&models).unwrap_or([0.0; rank::SIGNALS]),
            rank::examples(&models),
            self.feed.learned_prior_examples,
        );
        let prior = self.feed.scoring.signal_weights();
        Ok(Learned {
            examples: models.iter().map(|m| m.examples).sum(),
            positives: models.iter().map(|m| m.positives).sum(),
            weights: (0..rank::SIGNALS)
                .map(|i| {
                    let learned = if self.feed.learned_scoring {
                        prior[i] + delta[i]
                    } else {
                        prior[i]
                    };
                    (rank::SIGNAL_NAMES[i].to_owned(), prior[i], learned)
                })
                .collect(),
        })
    }

    /// The user's For You page of `k` items (with exploration or without).
    pub async fn recommend(
        &self,
        user: u32,
        k: usize,
        explore: bool,
        weights: Weights,
    ) -> anyhow::Result<Page> {
        let mut config = self.feed.clone();
        if !explore {
            config.exploration_share = 0.0;
        }
        if weights == Weights::HandSet {
            config.learned_scoring = false;
        }
        let viewer =
            feed::load_viewer(&self.redis, &user_id(user), "", config.trending_candidates).await?;
        let built = feed::for_you(
            &self.redis,
            &self.catalog,
            &self.learning,
            &config,
            &viewer,
            k,
        )
        .await?;
        let mut page = Page {
            items: Vec::with_capacity(k),
            sources: Vec::with_capacity(k),
            features: Vec::with_capacity(k),
        };
        for item in built.items {
            let Some(pb::feed_item::Item::Video(v)) = &item.item else {
                continue;
            };
            if let Some(i) = self.items.get(&v.video_id) {
                page.items.push(*i);
                page.sources.push(source_label(&item));
                page.features.push(item.features.clone());
            }
        }
        Ok(page)
    }

    /// Deletes every key under the evaluation's prefix.
    pub async fn clear(&self) -> anyhow::Result<()> {
        let mut conn = self.redis.conn.clone();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", self.redis.prefix))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

/// The ranker's learning and feed configuration: the defaults with
/// `overrides` (`learning.co_window=20`, `feed.scoring.similarity=0.5`: a
/// dotted path and a JSON value) applied, validated as the service does.
pub fn configs(overrides: &[String]) -> anyhow::Result<(LearningConfig, FeedConfig)> {
    let mut doc = serde_json::json!({
        "learning": LearningConfig::default(),
        "feed": FeedConfig::default(),
    });
    for o in overrides {
        let (path, value) = o
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--set {o:?}: expected KEY=VALUE"))?;
        let value: serde_json::Value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        let mut node = &mut doc;
        for part in path.split('.') {
            node = node
                .get_mut(part)
                .ok_or_else(|| anyhow::anyhow!("--set {path}: no such setting"))?;
        }
        *node = value;
    }
    let learning: LearningConfig = serde_json::from_value(doc["learning"].take())
        .map_err(|e| anyhow::anyhow!("--set: learning: {e}"))?;
    let feed: FeedConfig = serde_json::from_value(doc["feed"].take())
        .map_err(|e| anyhow::anyhow!("--set: feed: {e}"))?;
    let mut problems = Vec::new();
    learning.validate_into(&mut problems);
    feed.validate_into(&mut problems);
    if !problems.is_empty() {
        anyhow::bail!("--set: {}", problems.join("; "));
    }
    Ok((learning, feed))
}

fn partition_of(user: &str) -> usize {
    user.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    }) % PARTITIONS
}

/// `collaborative` for co-engagement reasons, else the reason kind's name
/// (`interest_match`, `trending`, ...), with exploration picks apart.
fn source_label(item: &pb::FeedItem) -> String {
    if item.reason.starts_with("Viewers of") {
        return "collaborative".to_owned();
    }
    if item.reason == "Something new to try" {
        return "exploration".to_owned();
    }
    item.reason_kind()
        .as_str_name()
        .trim_start_matches("REASON_KIND_")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::configs;

    #[test]
    fn settings_override_the_defaults_by_path_and_are_validated() {
        let (learning, feed) = configs(&[
            "learning.co_window=20".into(),
            "feed.scoring.similarity=0.5".into(),
        ])
        .expect("valid");
        assert_eq!(learning.co_window, 20);
        assert_eq!(feed.scoring.similarity, 0.5);
        let err = configs(&["feed.nope=1".into()]).expect_err("unknown");
        assert_eq!(err.to_string(), "--set feed.nope: no such setting");
        let err = configs(&["learning.co_window=1000".into()]).expect_err("invalid");
        assert!(err.to_string().contains("learning.co_window"), "{err}");
        assert!(configs(&["feed.co_sources".into()]).is_err());
    }
}
