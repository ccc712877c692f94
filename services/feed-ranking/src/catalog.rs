//! The in-process candidate catalog: every servable video with its content
//! vector, an HNSW index over those vectors (USearch), the newest uploads,
//! each creator's recent videos, active challenges, and a copy of the
//! videos' learned vectors. Each replica builds its own: from the snapshot
//! in Redis (`snapshot.rs`, kept by the content consumer group), then from
//! `content.v1` where the snapshot ends (no consumer group, no commits), and
//! then follows the topic live.
//!
//! Each version of a video's vector is its own index point (key): an edited
//! video gets a new point and the old one is removed, as is a removed
//! video's; lookups still check that a point is current.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use loop_platform::cache::Redis;
use loop_platform::config::KafkaConfig;
use loop_platform::kafka::{Delivery, topics};
use loop_proto::events::v1::{
    ChallengeCreated, ContentEvent, VideoSnapshot, content_event::Payload,
};
use parking_lot::RwLock;
use prost::Message;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::embed::{self, Features};
use crate::snapshot;

#[derive(Debug, Clone)]
pub struct VideoEntry {
    pub video_id: String,
    pub creator_id: String,
    pub sound_id: String,
    pub hashtags: Vec<String>,
    pub caption: String,
    pub category: String,
    pub media_url: String,
    pub duration_ms: u32,
    pub published_at: Option<prost_types::Timestamp>,
    /// Unit-length content vector (zero for a video without features).
    pub content: Vec<f32>,
    /// Lower-cased caption and hashtags, for keyword filters.
    pub search_text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChallengeEntry {
    pub hashtag: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// The ANN index: USearch's HNSW over unit vectors with inner-product
/// distance (`1 - a.b`, the cosine distance without the norms). Adds and
/// searches run concurrently; growing the capacity needs the write lock.
struct AnnIndex {
    index: RwLock<usearch::Index>,
}

/// Concurrent operations USearch keeps a context for (more callers at once
/// would fail, not wait: far above the ranker's worker and blocking threads).
const ANN_THREADS: usize = 256;

impl AnnIndex {
    fn new(dim: usize) -> anyhow::Result<Self> {
        let options = usearch::IndexOptions {
            dimensions: dim,
            metric: usearch::MetricKind::IP,
            quantization: usearch::ScalarKind::F32,
            connectivity: 16,
            expansion_add: 64,
            expansion_search: 64,
            multi: false,
        };
        let index = usearch::Index::new(&options)?;
        index.reserve_capacity_and_threads(1024, ANN_THREADS)?;
        Ok(Self {
            index: RwLock::new(index),
        })
    }

    fn add(&self, point: usize, vector: &[f32]) {
        {
            let index = self.index.read();
            if index.size() < index.capacity() {
                if let Err(err) = index.add(point as u64, vector) {
                    tracing::error!(point, error = %err, "ann index add failed");
                }
                return;
            }
        }
        let index = self.index.write();
        if index.size() >= index.capacity() {
            let grown = (index.capacity() * 2).max(1024);
            if let Err(err) = index.reserve_capacity_and_threads(grown, ANN_THREADS) {
                tracing::error!(capacity = grown, error = %err, "ann index cannot grow");
                return;
            }
        }
        if let Err(err) = index.add(point as u64, vector) {
            tracing::error!(point, error = %err, "ann index add failed");
        }
    }

    fn remove(&self, point: usize) {
        if let Err(err) = self.index.read().remove(point as u64) {
            tracing::warn!(point, error = %err, "ann index remove failed");
        }
    }

    /// The `k` nearest points with their distances, searching `ef` wide.
    fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<(usize, f32)> {
        let index = self.index.read();
        if index.expansion_search() != ef {
            index.change_expansion_search(ef);
        }
        match index.search(query, k) {
            Ok(m) => m
                .keys
                .into_iter()
                .zip(m.distances)
                .map(|(k, d)| (k as usize, d))
                .collect(),
            Err(err) => {
                tracing::error!(error = %err, "ann search failed");
                Vec::new()
            }
        }
    }
}

#[derive(Default)]
struct Inner {
    /// Servable videos only.
    videos: HashMap<String, Arc<VideoEntry>>,
    /// Every video id ever inserted (removed ones are skipped when sampling),
    /// for O(1) random exploration picks.
    all_ids: Vec<String>,
    /// HNSW point id -> video id (stale points map to videos no longer here
    /// or re-inserted under a newer point).
    points: Vec<String>,
    current_point: HashMap<String, usize>,
    recent: BTreeSet<(i64, String)>,
    by_creator: HashMap<String, BTreeSet<(i64, String)>>,
    by_hashtag: HashMap<String, BTreeSet<(i64, String)>>,
    challenges: Vec<ChallengeEntry>,
    /// Every category seen, with its vector (for a viewer's top categories).
    categories: HashMap<String, Vec<f32>>,
}

pub struct Catalog {
    dim: usize,
    index: AnnIndex,
    inner: RwLock<Inner>,
    /// Learned parts of video vectors (Redis is the truth; see `learned.rs`).
    learned: RwLock<HashMap<String, Arc<[f32]>>>,
    /// Set once the start-up load (snapshot + the topic up to its end at
    /// start) is done; until then feeds are served from a partial catalog.
    ready: AtomicBool,
}

fn ts_ms(t: Option<&prost_types::Timestamp>) -> i64 {
    t.map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
}

fn entry_of(v: &VideoSnapshot, dim: usize) -> Arc<VideoEntry> {
    let content = embed::content_vector(
        &Features {
            hashtags: &v.hashtags,
            category: &v.category,
            creator_id: &v.creator_id,
            sound_id: &v.sound_id,
            caption: &v.caption,
        },
        dim,
    );
    let search_text = format!("{} {}", v.caption, v.hashtags.join(" ")).to_lowercase();
    Arc::new(VideoEntry {
        video_id: v.video_id.clone(),
        creator_id: v.creator_id.clone(),
        sound_id: v.sound_id.clone(),
        hashtags: v.hashtags.clone(),
        caption: v.caption.clone(),
        category: v.category.clone(),
        media_url: v.media_url.clone(),
        duration_ms: v.duration_ms,
        published_at: v.published_at,
        content,
        search_text,
    })
}

impl Catalog {
    /// An empty catalog for `dim`-dimensional vectors.
    ///
    /// # Panics
    /// If the ANN index cannot be created (out of memory at start-up).
    pub fn new(dim: usize) -> Self {
        let index = match AnnIndex::new(dim) {
            Ok(index) => index,
            Err(err) => panic!("cannot create the ANN index: {err}"),
        };
        Self {
            dim,
            index,
            inner: RwLock::new(Inner::default()),
            learned: RwLock::new(HashMap::new()),
            ready: AtomicBool::new(false),
        }
    }

    pub fn len(&self) -> usize {
        self.inner.read().videos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn get(&self, id: &str) -> Option<Arc<VideoEntry>> {
        self.inner.read().videos.get(id).cloned()
    }

    /// The servable videos among `ids`, with their position in `ids`.
    pub fn get_many(&self, ids: &[String]) -> Vec<(usize, Arc<VideoEntry>)> {
        let inner = self.inner.read();
        ids.iter()
            .enumerate()
            .filter_map(|(i, id)| inner.videos.get(id).map(|v| (i, v.clone())))
            .collect()
    }

    /// Inserts or replaces a servable video; a non-servable snapshot removes it.
    pub fn upsert(&self, v: &VideoSnapshot) {
        if !v.servable {
            self.remove(&v.video_id);
            return;
        }
        let entry = entry_of(v, self.dim);
        if let Some((point, replaced)) = self.link(entry.clone()) {
            self.index.add(point, &entry.content);
            if let Some(old) = replaced {
                self.index.remove(old);
            }
        }
    }

    /// Loads many videos at once (start-up).
    pub fn upsert_many(&self, videos: &[VideoSnapshot]) {
        for v in videos {
            self.upsert(v);
        }
    }

    /// Makes `entry` the current version of its video; returns the new index
    /// point to insert when its vector changed (or it is new), and the point
    /// it replaces.
    fn link(&self, entry: Arc<VideoEntry>) -> Option<(usize, Option<usize>)> {
        let id = entry.video_id.clone();
        let at = ts_ms(entry.published_at.as_ref());
        let mut inner = self.inner.write();
        let known = inner.current_point.contains_key(&id);
        let same_vector = inner
            .videos
            .get(&id)
            .is_some_and(|old| old.content == entry.content);
        let was_servable = inner.videos.contains_key(&id);
        Self::unlink(&mut inner, &id);
        let point = if same_vector && known {
            None
        } else {
            let point = inner.points.len();
            inner.points.push(id.clone());
            let replaced = inner.current_point.insert(id.clone(), point);
            Some((point, replaced))
        };
        if !known && !was_servable {
            inner.all_ids.push(id.clone());
        }
        if !entry.category.is_empty() && !inner.categories.contains_key(&entry.category) {
            let v = embed::interests_vector(std::slice::from_ref(&entry.category), self.dim);
            inner.categories.insert(entry.category.clone(), v);
        }
        inner.recent.insert((at, id.clone()));
        inner
            .by_creator
            .entry(entry.creator_id.clone())
            .or_default()
            .insert((at, id.clone()));
        for tag in &entry.hashtags {
            inner
                .by_hashtag
                .entry(tag.clone())
                .or_default()
                .insert((at, id.clone()));
        }
        inner.videos.insert(id, entry);
        point
    }

    fn unlink(inner: &mut Inner, id: &str) {
        if let Some(old) = inner.videos.remove(id) {
            let at = ts_ms(old.published_at.as_ref());
            let key = (at, id.to_owned());
            inner.recent.remove(&key);
            if let Some(s) = inner.by_creator.get_mut(&old.creator_id) {
                s.remove(&key);
            }
            for tag in &old.hashtags {
                if let Some(s) = inner.by_hashtag.get_mut(tag) {
                    s.remove(&key);
                }
            }
        }
    }

    pub fn remove(&self, id: &str) {
        let point = {
            let mut inner = self.inner.write();
            Self::unlink(&mut inner, id);
            inner.current_point.remove(id)
        };
        if let Some(point) = point {
            self.index.remove(point);
        }
    }

    /// Adds a challenge (the same one twice is kept once: replays and
    /// snapshot loads repeat events).
    pub fn add_challenge(&self, c: ChallengeEntry) {
        let mut inner = self.inner.write();
        if !inner.challenges.contains(&c) {
            inner.challenges.push(c);
        }
    }

    /// Nearest servable videos to `query` (approximate), best first, with
    /// the search breadth `ef` (at least `k`).
    pub fn nearest(&self, query: &[f32], k: usize, ef: usize) -> Vec<(Arc<VideoEntry>, f32)> {
        if query.len() != self.dim || embed::norm(query) < 1e-9 {
            return Vec::new();
        }
        let mut unit = query.to_vec();
        embed::normalize(&mut unit);
        // Over-fetch a little: a point being replaced may still be found.
        let fetch = k + k / 8 + 4;
        let found = self.index.search(&unit, fetch, ef.max(fetch));
        let inner = self.inner.read();
        let mut out = Vec::with_capacity(k);
        for (point, distance) in found {
            let Some(id) = inner.points.get(point) else {
                continue;
            };
            if inner.current_point.get(id) != Some(&point) {
                continue;
            }
            if let Some(v) = inner.videos.get(id) {
                out.push((v.clone(), 1.0 - distance));
                if out.len() == k {
                    break;
                }
            }
        }
        out
    }

    /// The newest servable videos.
    pub fn newest(&self, n: usize) -> Vec<Arc<VideoEntry>> {
        let inner = self.inner.read();
        inner
            .recent
            .iter()
            .rev()
            .take(n)
            .filter_map(|(_, id)| inner.videos.get(id).cloned())
            .collect()
    }

    /// Up to `n` distinct servable videos picked at random (exploration).
    pub fn sample(&self, n: usize) -> Vec<Arc<VideoEntry>> {
        use rand::Rng;
        let inner = self.inner.read();
        if inner.all_ids.is_empty() {
            return Vec::new();
        }
        let mut rng = rand::rng();
        let mut out = Vec::with_capacity(n);
        let mut picked = HashSet::with_capacity(n);
        for _ in 0..n * 4 {
            if out.len() == n {
                break;
            }
            let i = rng.random_range(0..inner.all_ids.len());
            if picked.insert(i)
                && let Some(v) = inner.videos.get(&inner.all_ids[i])
            {
                out.push(v.clone());
            }
        }
        out
    }

    /// Each creator's newest `per_creator` videos.
    pub fn by_creators(&self, creators: &[String], per_creator: usize) -> Vec<Arc<VideoEntry>> {
        let inner = self.inner.read();
        creators
            .iter()
            .filter_map(|c| inner.by_creator.get(c))
            .flat_map(|set| set.iter().rev().take(per_creator))
            .filter_map(|(_, id)| inner.videos.get(id).cloned())
            .collect()
    }

    /// The newest `per_tag` videos of each hashtag.
    pub fn by_hashtags(&self, tags: &[String], per_tag: usize) -> Vec<Arc<VideoEntry>> {
        let inner = self.inner.read();
        tags.iter()
            .filter_map(|t| inner.by_hashtag.get(t))
            .flat_map(|set| set.iter().rev().take(per_tag))
            .filter_map(|(_, id)| inner.videos.get(id).cloned())
            .collect()
    }

    /// Newest videos of challenges running now: (video, hashtag).
    pub fn challenge_videos(&self, per_challenge: usize) -> Vec<(Arc<VideoEntry>, String)> {
        let now = Utc::now();
        let inner = self.inner.read();
        inner
            .challenges
            .iter()
            .filter(|c| c.starts_at <= now && now < c.ends_at)
            .flat_map(|c| {
                inner
                    .by_hashtag
                    .get(&c.hashtag)
                    .into_iter()
                    .flat_map(move |set| set.iter().rev().take(per_challenge))
                    .filter_map(|(_, id)| inner.videos.get(id).cloned())
                    .map(move |v| (v, c.hashtag.clone()))
            })
            .collect()
    }

    /// The `n` categories closest to `vector` (cosine > 0), strongest first.
    pub fn top_categories(&self, vector: &[f32], n: usize) -> Vec<(String, f32)> {
        let norm = embed::norm(vector);
        if norm < 1e-9 {
            return Vec::new();
        }
        let inner = self.inner.read();
        let mut scored: Vec<(String, f32)> = inner
            .categories
            .iter()
            .map(|(c, v)| (c.clone(), embed::dot(vector, v) / norm))
            .filter(|(_, w)| *w > 0.0)
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        scored.truncate(n);
        scored
    }

    /// Every hashtag and category present, for interest explanations.
    pub fn tags(&self) -> Vec<String> {
        self.inner
            .read()
            .by_hashtag
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// The learned part of each video's vector (None: nothing learned yet).
    pub fn learned_of<'a>(&self, videos: impl Iterator<Item = &'a str>) -> Vec<Option<Arc<[f32]>>> {
        let learned = self.learned.read();
        videos.map(|id| learned.get(id).cloned()).collect()
    }

    /// Stores learned vectors (video, vector).
    pub fn set_learned(&self, updates: Vec<(String, Arc<[f32]>)>) {
        let mut learned = self.learned.write();
        for (id, v) in updates {
            learned.insert(id, v);
        }
    }

    pub fn apply_challenge(&self, c: &ChallengeCreated) {
        let to_dt = |t: Option<&prost_types::Timestamp>| {
            t.and_then(|t| DateTime::from_timestamp(t.seconds, 0))
        };
        if let (Some(starts_at), Some(ends_at)) =
            (to_dt(c.starts_at.as_ref()), to_dt(c.ends_at.as_ref()))
        {
            self.add_challenge(ChallengeEntry {
                hashtag: c.hashtag.clone(),
                starts_at,
                ends_at,
            });
        }
    }

    pub fn apply(&self, event: &ContentEvent) {
        match &event.payload {
            Some(Payload::VideoPublished(p)) => {
                if let Some(v) = &p.video {
                    self.upsert(v);
                }
            }
            Some(Payload::VideoUpdated(p)) => {
                if let Some(v) = &p.video {
                    self.upsert(v);
                }
            }
            Some(Payload::VideoRemoved(r)) => self.remove(&r.video_id),
            Some(Payload::ChallengeCreated(c)) => self.apply_challenge(c),
            _ => {}
        }
    }
}

/// Builds `catalog` from the snapshot in Redis (if any), then reads
/// `content.v1` from where the snapshot ends (the beginning without one) and
/// follows it until `shutdown`. No consumer group offsets are used: every
/// replica builds the whole catalog. Marks the catalog ready once it has
/// read the topic up to where it ended at start.
pub async fn follow_content(
    catalog: Arc<Catalog>,
    kafka: KafkaConfig,
    redis: Redis,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let topic = kafka.topic(topics::CONTENT);
    let started = std::time::Instant::now();
    let loaded = snapshot::load(&redis).await?;
    let (videos, challenges) = (loaded.videos.len(), loaded.challenges.len());
    {
        let catalog = catalog.clone();
        let snapshot::Loaded {
            videos, challenges, ..
        } = loaded.clone();
        // Index building is CPU-bound: keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            catalog.upsert_many(&videos);
            for c in &challenges {
                catalog.apply_challenge(c);
            }
        })
        .await?;
    }
    if videos > 0 {
        tracing::info!(
            videos,
            challenges,
            seconds = started.elapsed().as_secs_f64(),
            "catalog loaded from the snapshot"
        );
    }
    let group = format!("feed-ranking-catalog-{}", uuid::Uuid::new_v4().simple());
    // New uploads reach For You a quarter second later at worst; every
    // replica follows the topic, so its idle polling adds up.
    let consumer = loop_platform::kafka::consumer_with_fetch_wait(
        &kafka,
        &group,
        "earliest",
        loop_platform::kafka::FETCH_WAIT_BACKGROUND,
    )?;
    let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
    let mut tpl = TopicPartitionList::new();
    // Partition -> offset to reach before the catalog counts as ready.
    let mut behind: HashMap<i32, i64> = HashMap::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            let from = loaded
                .offsets
                .get(&p.id())
                .map_or(Offset::Beginning, |o| Offset::Offset(o + 1));
            tpl.add_partition_offset(&topic, p.id(), from)?;
            let (_, high) = consumer.fetch_watermarks(&topic, p.id(), Duration::from_secs(10))?;
            let next = loaded.offsets.get(&p.id()).map_or(0, |o| o + 1);
            if high > next {
                behind.insert(p.id(), high);
            }
        }
    }
    consumer.assign(&tpl)?;
    tracing::info!(topic = %topic, partitions = tpl.count(), catching_up = behind.len(), "catalog following content events");
    if behind.is_empty() {
        catalog.set_ready();
    }
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => break,
            m = consumer.recv() => m,
        };
        match message {
            Ok(m) => {
                let d = Delivery::from_message(&m);
                match ContentEvent::decode(d.payload.as_slice()) {
                    Ok(event) => catalog.apply(&event),
                    Err(err) => {
                        tracing::warn!(offset = d.offset, partition = d.partition, error = %err, "undecodable content event skipped by the catalog")
                    }
                }
                if !behind.is_empty()
                    && behind
                        .get(&d.partition)
                        .is_some_and(|high| d.offset + 1 >= *high)
                {
                    behind.remove(&d.partition);
                    if behind.is_empty() {
                        catalog.set_ready();
                        tracing::info!(
                            videos = catalog.len(),
                            seconds = started.elapsed().as_secs_f64(),
                            "catalog caught up"
                        );
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "catalog consume error"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(id: &str, creator: &str, tags: &[&str], servable: bool) -> VideoSnapshot {
        VideoSnapshot {
            video_id: id.into(),
            creator_id: creator.into(),
            hashtags: tags.iter().map(|t| (*t).to_string()).collect(),
            servable,
            published_at: Some(prost_types::Timestamp {
                seconds: 1_800_000_000 + id.len() as i64,
                nanos: 0,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn nearest_finds_the_family_and_skips_removed_videos() {
        let c = Catalog::new(64);
        for i in 0..30 {
            c.upsert(&snap(
                &format!("dance{i}"),
                &format!("d{}", i % 3),
                &["dance"],
                true,
            ));
            c.upsert(&snap(
                &format!("food{i}"),
                &format!("f{}", i % 3),
                &["cooking"],
                true,
            ));
        }
        let q = embed::interests_vector(&["dance".to_string()], 64);
        let near = c.nearest(&q, 10, 64);
        assert_eq!(near.len(), 10);
        assert!(near.iter().all(|(v, _)| v.hashtags == vec!["dance"]));
        c.remove("dance0");
        c.upsert(&snap("dance1", "d1", &["dance"], false));
        let near = c.nearest(&q, 40, 64);
        assert!(
            near.iter()
                .all(|(v, _)| v.video_id != "dance0" && v.video_id != "dance1")
        );
        assert_eq!(c.len(), 58);
    }

    #[test]
    fn re_embedding_an_edited_video_keeps_one_entry() {
        let c = Catalog::new(64);
        c.upsert(&snap("v1", "c", &["dance"], true));
        c.upsert(&snap("v1", "c", &["cooking"], true));
        let q = embed::interests_vector(&["cooking".to_string()], 64);
        let near = c.nearest(&q, 5, 64);
        assert_eq!(near.len(), 1);
        assert_eq!(near[0].0.hashtags, vec!["cooking"]);
        assert_eq!(c.by_creators(&["c".into()], 10).len(), 1);
    }
}
