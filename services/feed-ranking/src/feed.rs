//! For You: candidates (ANN neighbours of the viewer's vector, trending in
//! their country and globally, fresh uploads for exploration, followed
//! creators, active challenges) -> score -> rules (never seen, no two in a
//! row from one creator or sound, suppressed creators/sounds, keyword
//! filters, only servable videos) -> items with a "why this video" reason.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use loop_platform::cache::Redis;
use loop_proto::feed_ranking::v1 as pb;
use pb::ReasonKind;
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, VideoEntry};
use crate::embed;
use crate::learn::LearningConfig;
use crate::state::{self, UserState};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    pub default_page_size: u32,
    pub max_page_size: u32,
    /// Nearest neighbours fetched from the ANN index.
    pub ann_candidates: usize,
    /// HNSW search breadth (ef); at least `ann_candidates`. Higher finds
    /// truer neighbours at more CPU per request.
    pub ann_ef: usize,
    /// How often each replica picks up changed learned video vectors.
    pub learned_refresh_ms: u64,
    pub trending_candidates: usize,
    pub fresh_candidates: usize,
    /// Random catalog videos added for exploration.
    pub explore_candidates: usize,
    /// Share of each page reserved for exploration (fresh and trending
    /// videos outside the viewer's interests).
    pub exploration_share: f32,
    /// How many shown videos are remembered per viewer (never shown twice).
    pub seen_set_size: usize,
    /// Weight of a video's learned vector next to its content vector.
    pub learned_weight: f32,
    /// 1-based positions offered to ads-auction (organic items take those it
    /// leaves empty); never two adjacent. The first position after app open
    /// is also offered (TopView).
    pub ad_slots: Vec<u32>,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            default_page_size: 10,
            max_page_size: 50,
            ann_candidates: 64,
            ann_ef: 64,
            learned_refresh_ms: 500,
            trending_candidates: 40,
            fresh_candidates: 20,
            explore_candidates: 40,
            exploration_share: 0.15,
            seen_set_size: 5000,
            learned_weight: 1.0,
            ad_slots: vec![4, 11],
        }
    }
}

impl FeedConfig {
    pub fn validate_into(&self, problems: &mut Vec<String>) {
        if self.default_page_size == 0
            || self.default_page_size > self.max_page_size
            || self.max_page_size > 200
        {
            problems.push("feed: need 0 < default_page_size <= max_page_size <= 200".into());
        }
        if !(0.0..=1.0).contains(&self.exploration_share) {
            problems.push("feed.exploration_share: must be 0..=1".into());
        }
        let mut slots = self.ad_slots.clone();
        slots.sort_unstable();
        if slots.iter().any(|s| *s == 0 || *s > self.max_page_size)
            || slots.windows(2).any(|w| w[1] - w[0] < 2)
        {
            problems.push(
                "feed.ad_slots: 1-based positions within max_page_size, no two adjacent (never two ads in a row)"
                    .into(),
            );
        }
        if !(10..=60_000).contains(&self.learned_refresh_ms) {
            problems.push("feed.learned_refresh_ms: must be 10..=60000".into());
        }
        if self.ann_ef > 2_000 {
            problems.push("feed.ann_ef: at most 2000".into());
        }
        if self.ann_candidates == 0 || self.seen_set_size < 100 {
            problems.push(
                "feed: ann_candidates must be positive and seen_set_size at least 100".into(),
            );
        }
    }
}

/// Everything about the viewer the feed needs, read in one round trip.
/// (The seen-set is not read whole: only the candidates are looked up.)
pub struct Viewer {
    pub user_id: String,
    /// Trending video ids: the viewer's country first (may be empty), then global.
    pub trending_regional: Vec<String>,
    pub trending_global: Vec<String>,
    pub state: Option<UserState>,
    pub interests: Vec<String>,
    pub country: String,
    pub follows: Vec<String>,
    pub suppressed_creators: HashSet<String>,
    pub suppressed_sounds: HashSet<String>,
    pub keywords: Vec<String>,
    /// `GENDER_*` from the sign-up profile (0: unknown).
    pub gender: i32,
    /// YYYY-MM-DD from the sign-up profile, for the age band.
    pub birth_date: Option<String>,
}

/// state, profile, follows, suppressed creators, suppressed sounds,
/// keywords, regional trending, global trending.
type ViewerRows = (
    Option<Vec<u8>>,
    HashMap<String, String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
);

/// Reads everything about the viewer plus `trending` trending ids (regional
/// and global) in one round trip.
pub async fn load_viewer(
    r: &Redis,
    user: &str,
    country_hint: &str,
    trending: usize,
) -> redis::RedisResult<Viewer> {
    let mut conn = r.conn.clone();
    let n = trending.max(1) as isize - 1;
    let country_key = if country_hint.is_empty() {
        state::trending_key(r, Some("-"))
    } else {
        state::trending_key(r, Some(country_hint))
    };
    let (state, profile, follows, sup_c, sup_s, keywords, regional, global): ViewerRows =
        redis::pipe()
            .get(state::state_key(r, user))
            .hgetall(state::profile_key(r, user))
            .smembers(state::follows_key(r, user))
            .hkeys(state::suppressed_creators_key(r, user))
            .hkeys(state::suppressed_sounds_key(r, user))
            .smembers(state::keywords_key(r, user))
            .zrevrange(country_key, 0, n)
            .zrevrange(state::trending_key(r, None), 0, n)
            .query_async(&mut conn)
            .await?;
    let interests = profile
        .get("interests")
        .map(|s| {
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let country = if country_hint.is_empty() {
        profile.get("country").cloned().unwrap_or_default()
    } else {
        country_hint.to_owned()
    };
    Ok(Viewer {
        user_id: user.to_owned(),
        trending_regional: regional,
        trending_global: global,
        state: UserState::decode_opt(state),
        interests,
        country,
        follows,
        suppressed_creators: sup_c.into_iter().collect(),
        suppressed_sounds: sup_s.into_iter().collect(),
        keywords: keywords.into_iter().map(|k| k.to_lowercase()).collect(),
        gender: profile
            .get("gender")
            .and_then(|g| g.parse().ok())
            .unwrap_or_default(),
        birth_date: profile.get("birth_date").filter(|d| !d.is_empty()).cloned(),
    })
}

/// Why a candidate was picked; the reason text is only written for the
/// items that make the page.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Interest,
    ColdStart,
    RegionalPopular,
    TrendingRegional,
    TrendingGlobal,
    Fresh,
    Explore,
    Following,
    Challenge,
}

struct Candidate {
    video: Arc<VideoEntry>,
    score: f32,
    source: Source,
    /// The hashtag the reason names (interest, cold start, challenge).
    tag: Option<String>,
    exploration: bool,
    trending: f32,
    challenge: bool,
}

impl Candidate {
    fn reason(&self, country: &str) -> (ReasonKind, String) {
        let tag = self.tag.as_deref().unwrap_or_else(|| best_tag(&self.video));
        match self.source {
            Source::Interest => (
                ReasonKind::InterestMatch,
                format!("Because you watch #{tag} videos"),
            ),
            Source::ColdStart => (
                ReasonKind::ColdStartInterest,
                format!("Because you picked #{tag}"),
            ),
            Source::RegionalPopular => {
                (ReasonKind::RegionalPopular, format!("Popular in {country}"))
            }
            Source::TrendingRegional => (ReasonKind::Trending, format!("Trending in {country}")),
            Source::TrendingGlobal => (ReasonKind::Trending, "Trending on Loop".to_owned()),
            Source::Fresh => (ReasonKind::Fresh, "New on Loop".to_owned()),
            Source::Explore => (ReasonKind::Fresh, "Something new to try".to_owned()),
            Source::Following => (
                ReasonKind::Following,
                "From a creator you follow".to_owned(),
            ),
            Source::Challenge => (
                ReasonKind::Challenge,
                format!("Part of the #{tag} challenge"),
            ),
        }
    }
}

fn best_tag(video: &VideoEntry) -> &str {
    video
        .hashtags
        .first()
        .map_or(video.category.as_str(), String::as_str)
}

/// Candidates, each video once (the first source to offer it keeps it).
#[derive(Default)]
struct Pool {
    items: Vec<Candidate>,
    index: HashMap<usize, usize>,
}

impl Pool {
    fn offer(
        &mut self,
        video: Arc<VideoEntry>,
        source: Source,
        tag: Option<String>,
        exploration: bool,
    ) {
        let key = Arc::as_ptr(&video) as usize;
        if self.index.contains_key(&key) {
            return;
        }
        self.index.insert(key, self.items.len());
        self.items.push(Candidate {
            video,
            score: 0.0,
            source,
            tag,
            exploration,
            trending: 0.0,
            challenge: false,
        });
    }

    fn get_mut(&mut self, video: &Arc<VideoEntry>) -> Option<&mut Candidate> {
        let i = *self.index.get(&(Arc::as_ptr(video) as usize))?;
        self.items.get_mut(i)
    }
}

pub struct Built {
    pub items: Vec<pb::FeedItem>,
    pub cold_start: bool,
    /// The vector the page was scored with (learned, else declared interests).
    pub vector: Option<Vec<f32>>,
}

/// Builds one organic page for `viewer`; the caller records what it shows
/// with [`record_seen`]. Redis: one lookup of the candidates in the seen-set
/// (the viewer was read by [`load_viewer`]).
pub async fn for_you(
    r: &Redis,
    catalog: &Catalog,
    learning: &LearningConfig,
    config: &FeedConfig,
    viewer: &Viewer,
    page_size: usize,
) -> redis::RedisResult<Built> {
    let signal = Signal::of(viewer, learning.dim);
    let page = Page {
        catalog,
        config,
        viewer,
        query: signal.query(),
        scoring: signal.scoring(),
        cold_start: !signal.has_positive,
        declared: viewer.interests.iter().map(String::as_str).collect(),
    };
    let mut candidates = page.allowed(page.gather());
    page.drop_seen(r, &mut candidates).await?;
    page.score(&mut candidates);
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.video.video_id.cmp(&b.video.video_id))
    });
    let items = page.arrange(candidates, page_size);
    Ok(Built {
        items,
        cold_start: page.cold_start,
        vector: page.scoring.cloned(),
    })
}

/// What the ranker knows of the viewer's taste.
struct Signal {
    /// The learned vector (normalised), once the viewer did anything.
    learned: Option<Vec<f32>>,
    /// The interests picked at sign-up as a vector.
    interests: Option<Vec<f32>>,
    /// Whether any engagement was positive (else: cold start).
    has_positive: bool,
}

impl Signal {
    fn of(viewer: &Viewer, dim: usize) -> Self {
        let learned = viewer
            .state
            .as_ref()
            .filter(|s| s.events_applied > 0 && embed::norm(&s.vector) > 1e-6)
            .map(|s| {
                let mut v = s.vector.clone();
                embed::normalize(&mut v);
                v
            });
        let has_positive = viewer.state.as_ref().is_some_and(|s| s.positive_events > 0);
        let interests = if viewer.interests.is_empty() {
            None
        } else {
            Some(embed::interests_vector(&viewer.interests, dim))
        };
        Self {
            learned,
            interests,
            has_positive,
        }
    }

    /// The learned vector scores every candidate once the viewer did
    /// anything; it steers the ANN search only once it holds positive
    /// signal (a vector made of skips alone says what to avoid, not where
    /// to look).
    fn query(&self) -> Option<&Vec<f32>> {
        if self.has_positive {
            self.learned.as_ref()
        } else {
            None
        }
    }

    /// What candidates are scored with: learned, else declared interests.
    fn scoring(&self) -> Option<&Vec<f32>> {
        self.learned.as_ref().or(self.interests.as_ref())
    }
}

/// One page being built: its inputs and what the viewer's signal decided.
struct Page<'a> {
    catalog: &'a Catalog,
    config: &'a FeedConfig,
    viewer: &'a Viewer,
    /// Steers the ANN search (see [`Signal::query`]).
    query: Option<&'a Vec<f32>>,
    /// Scores candidates (see [`Signal::scoring`]).
    scoring: Option<&'a Vec<f32>>,
    cold_start: bool,
    /// The interests picked at sign-up.
    declared: HashSet<&'a str>,
}

impl Page<'_> {
    /// Candidates from every source, each video once (the first source to
    /// offer it keeps it).
    fn gather(&self) -> Pool {
        let (catalog, config, viewer) = (self.catalog, self.config, self.viewer);
        let mut pool = Pool::default();
        if let Some(q) = self.query {
            for (video, _) in catalog.nearest(q, config.ann_candidates, config.ann_ef) {
                pool.offer(video, Source::Interest, None, false);
            }
        } else if !viewer.interests.is_empty() {
            // Cold start: the interests picked at sign-up, by hashtag.
            for video in catalog.by_hashtags(&viewer.interests, 20) {
                let tag = video
                    .hashtags
                    .iter()
                    .find(|t| self.declared.contains(t.as_str()))
                    .cloned();
                pool.offer(video, Source::ColdStart, tag, false);
            }
        }
        self.offer_trending(&mut pool);
        for video in catalog.newest(config.fresh_candidates) {
            pool.offer(video, Source::Fresh, None, true);
        }
        for video in catalog.sample(config.explore_candidates) {
            pool.offer(video, Source::Explore, None, true);
        }
        for video in catalog.by_creators(&viewer.follows, 5) {
            pool.offer(video, Source::Following, None, false);
        }
        for (video, tag) in catalog.challenge_videos(10) {
            pool.offer(video.clone(), Source::Challenge, Some(tag), false);
            if let Some(c) = pool.get_mut(&video) {
                c.challenge = true;
            }
        }
        pool
    }

    /// Trending: the viewer's country first, then global; the higher it
    /// ranks, the stronger its trending boost.
    fn offer_trending(&self, pool: &mut Pool) {
        let viewer = self.viewer;
        for (ids, regional) in [
            (&viewer.trending_regional, true),
            (&viewer.trending_global, false),
        ] {
            let n = ids.len().max(1) as f32;
            let source = match (regional, self.query.is_some()) {
                (true, false) => Source::RegionalPopular,
                (true, true) => Source::TrendingRegional,
                (false, _) => Source::TrendingGlobal,
            };
            for (rank, video) in self.catalog.get_many(ids) {
                let strength = 1.0 - rank as f32 / n;
                pool.offer(video.clone(), source, None, true);
                if let Some(c) = pool.get_mut(&video) {
                    c.trending = c.trending.max(strength);
                }
            }
        }
    }

    /// Rules that remove candidates outright, cheapest first (the seen-set
    /// is looked up only for what survives them): suppressed creators and
    /// sounds, the viewer's own videos, filtered keywords.
    fn allowed(&self, pool: Pool) -> Vec<Candidate> {
        let viewer = self.viewer;
        pool.items
            .into_iter()
            .filter(|c| {
                let v = &c.video;
                !viewer.suppressed_creators.contains(&v.creator_id)
                    && (v.sound_id.is_empty() || !viewer.suppressed_sounds.contains(&v.sound_id))
                    && v.creator_id != viewer.user_id
                    && !viewer
                        .keywords
                        .iter()
                        .any(|k| v.search_text.contains(k.as_str()))
            })
            .collect()
    }

    /// Drops what the viewer has seen: one ZMSCORE of the candidates.
    async fn drop_seen(
        &self,
        r: &Redis,
        candidates: &mut Vec<Candidate>,
    ) -> redis::RedisResult<()> {
        if candidates.is_empty() {
            return Ok(());
        }
        let mut conn = r.conn.clone();
        let mut cmd = redis::cmd("ZMSCORE");
        cmd.arg(state::seen_key(r, &self.viewer.user_id));
        for c in candidates.iter() {
            cmd.arg(&c.video.video_id);
        }
        let seen: Vec<Option<f64>> = cmd.query_async(&mut conn).await?;
        let mut seen = seen.into_iter();
        candidates.retain(|_| seen.next().flatten().is_none());
        Ok(())
    }

    /// Score: similarity of the viewer to the video's effective vector
    /// (content + learned), plus boosts for following, challenges, trending
    /// and, at cold start, the interests picked at sign-up.
    fn score(&self, candidates: &mut [Candidate]) {
        let follows: HashSet<&str> = self.viewer.follows.iter().map(String::as_str).collect();
        let learned = self
            .catalog
            .learned_of(candidates.iter().map(|c| c.video.video_id.as_str()));
        let query_norm = self.scoring.map_or(0.0, |q| embed::norm(q));
        let w = self.config.learned_weight;
        for (c, learned) in candidates.iter_mut().zip(learned) {
            let similarity = self.scoring.filter(|_| query_norm > 1e-9).map_or(0.0, |q| {
                similarity(q, query_norm, &c.video.content, learned, w)
            });
            let mut score = similarity + 0.15 * c.trending;
            if follows.contains(c.video.creator_id.as_str()) {
                score += 0.15;
            }
            if c.challenge {
                score += 0.1;
            }
            if self.cold_start
                && c.video
                    .hashtags
                    .iter()
                    .any(|t| self.declared.contains(t.as_str()))
            {
                score += 0.3;
            }
            c.score = score;
        }
    }

    /// Fills the page from the best-first `candidates` under the hard rules
    /// and preferences; every k-th position takes the best exploration item.
    fn arrange(&self, mut candidates: Vec<Candidate>, page_size: usize) -> Vec<pb::FeedItem> {
        let config = self.config;
        let explore_every = if config.exploration_share > 0.0 && self.query.is_some() {
            (1.0 / config.exploration_share).round().max(2.0) as usize
        } else {
            usize::MAX
        };
        let mut items: Vec<pb::FeedItem> = Vec::with_capacity(page_size);
        let mut last: Option<Arc<VideoEntry>> = None;
        // Without any signal about the viewer, a page samples distinct topics so
        // the first engagement tells the most.
        let mut topics_on_page: HashSet<String> = HashSet::new();
        let distinct_topics = self.query.is_none();
        while items.len() < page_size && !candidates.is_empty() {
            let position = items.len() + 1;
            let want_exploration = position.is_multiple_of(explore_every);
            // Hard rules: no two in a row from one creator or one sound.
            let allowed = |c: &Candidate| {
                last.as_ref().is_none_or(|l| {
                    c.video.creator_id != l.creator_id
                        && (c.video.sound_id.is_empty() || c.video.sound_id != l.sound_id)
                })
            };
            let new_topic =
                |c: &Candidate| !distinct_topics || !topics_on_page.contains(best_tag(&c.video));
            // Preferences, dropped in order when nothing satisfies them.
            let pick = candidates
                .iter()
                .position(|c| allowed(c) && new_topic(c) && (!want_exploration || c.exploration))
                .or_else(|| candidates.iter().position(|c| allowed(c) && new_topic(c)))
                .or_else(|| candidates.iter().position(allowed));
            let Some(index) = pick else { break };
            let c = candidates.remove(index);
            if distinct_topics {
                topics_on_page.insert(best_tag(&c.video).to_owned());
            }
            let (kind, reason) =
                if want_exploration && c.exploration && c.source == Source::Interest {
                    (ReasonKind::Fresh, "Something new to try".to_owned())
                } else {
                    c.reason(&self.viewer.country)
                };
            items.push(pb::FeedItem {
                position: u32::try_from(position - 1).unwrap_or(u32::MAX),
                item: Some(pb::feed_item::Item::Video(card(&c.video))),
                reason,
                reason_kind: kind as i32,
                score: c.score,
            });
            last = Some(c.video);
        }
        items
    }
}

/// Cosine of the viewer's `q` (of norm `query_norm`) and a video's
/// effective vector: its unit `content` plus `w` times its `learned` vector
/// (ignored unless of the same length).
fn similarity(
    q: &[f32],
    query_norm: f32,
    content: &[f32],
    learned: Option<Arc<[f32]>>,
    w: f32,
) -> f32 {
    let qc = embed::dot(q, content);
    match learned.filter(|l| l.len() == content.len()) {
        // cos(q, c + w l) without building the sum: |c + w l|^2 =
        // |c|^2 + 2w c.l + w^2 |l|^2.
        Some(l) => {
            let norm_sq = embed::dot(content, content)
                + 2.0 * w * embed::dot(content, &l)
                + w * w * embed::dot(&l, &l);
            if norm_sq < 1e-12 {
                0.0
            } else {
                (qc + w * embed::dot(q, &l)) / (query_norm * norm_sq.sqrt())
            }
        }
        // Unit content vector: the cosine is the dot product.
        None => qc / query_norm,
    }
}

/// Shown means seen: records the page's videos (organic and sponsored) in
/// the viewer's seen-set, trimmed to `seen_set_size`.
pub fn record_seen(r: &Redis, config: &FeedConfig, user: &str, items: &[pb::FeedItem]) {
    let now = chrono::Utc::now().timestamp_millis();
    let key = state::seen_key(r, user);
    let mut pipe = redis::pipe();
    let mut any = false;
    for item in items {
        let video = match &item.item {
            Some(pb::feed_item::Item::Video(v)) => Some(v),
            Some(pb::feed_item::Item::Ad(a)) => a.video.as_ref(),
            None => None,
        };
        if let Some(v) = video {
            pipe.zadd(&key, &v.video_id, now).ignore();
            any = true;
        }
    }
    if !any {
        return;
    }
    pipe.zremrangebyrank(&key, 0, -(config.seen_set_size as isize) - 1)
        .ignore();
    // Not awaited: the page does not wait for this write. It is queued on
    // the connection before the response reaches the client, and commands
    // on one connection run in order, so the viewer's next page reads the
    // seen-set after it. A failed write is logged (those videos may repeat).
    let mut conn = r.conn.clone();
    tokio::spawn(async move {
        if let Err(err) = pipe.query_async::<()>(&mut conn).await {
            tracing::warn!(error = %err, "recording shown videos failed");
        }
    });
}

pub fn card(v: &VideoEntry) -> pb::VideoCard {
    pb::VideoCard {
        video_id: v.video_id.clone(),
        creator_id: v.creator_id.clone(),
        sound_id: v.sound_id.clone(),
        hashtags: v.hashtags.clone(),
        caption: v.caption.clone(),
        category: v.category.clone(),
        media_url: v.media_url.clone(),
        duration_ms: v.duration_ms,
        published_at: v.published_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_is_the_cosine_with_content_plus_weighted_learned() {
        let q = [1.0, 0.0];
        // Unit content, no learned vector: the dot product over |q|.
        assert_eq!(similarity(&q, 1.0, &[0.6, 0.8], None, 0.5), 0.6);
        // A learned vector of another length is ignored.
        let other: Arc<[f32]> = Arc::from(vec![1.0, 0.0, 0.0]);
        assert_eq!(similarity(&q, 1.0, &[0.6, 0.8], Some(other), 0.5), 0.6);
        // c + w l = (0, 1) + 1 * (1, -1) = (1, 0): the same direction as q.
        let learned: Arc<[f32]> = Arc::from(vec![1.0, -1.0]);
        let s = similarity(&q, 1.0, &[0.0, 1.0], Some(learned), 1.0);
        assert!((s - 1.0).abs() < 1e-6, "{s}");
        // An effective vector of (almost) zero length scores nothing.
        let cancel: Arc<[f32]> = Arc::from(vec![0.0, -1.0]);
        assert_eq!(similarity(&q, 1.0, &[0.0, 1.0], Some(cancel), 1.0), 0.0);
    }
}
