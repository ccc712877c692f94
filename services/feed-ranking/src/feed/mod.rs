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

use crate::catalog::{Catalog, VideoEntry};
use crate::collab::{self, Neighbour};
use crate::embed;
use crate::learn::LearningConfig;
use crate::rank;
use crate::state::{self, UserState};

mod config;
pub use config::{FeedConfig, MAX_CO_SOURCES, Scoring};

/// Everything about the viewer the feed needs, read in one round trip.
/// (The seen-set is not read whole: only the candidates are looked up.)
#[derive(Default)]
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
    /// The videos the viewer engaged with lately, newest first (from the
    /// co-engagement consumer's state).
    pub recent: Vec<String>,
    /// How far the learned ranking model moves each scoring weight from
    /// the hand-set one (see [`rank`]); None before any labelled impression.
    pub ranking: Option<[f32; rank::SIGNALS]>,
    /// How many labels the models learned `ranking` from.
    pub ranking_examples: u64,
}

/// state, profile, follows, suppressed creators, suppressed sounds,
/// keywords, regional trending, global trending, the co-engagement state,
/// the ranking models.
type ViewerRows = (
    Option<Vec<u8>>,
    HashMap<String, String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Option<Vec<u8>>,
    HashMap<String, Vec<u8>>,
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
    let (state, profile, follows, sup_c, sup_s, keywords, regional, global, co, models): ViewerRows =
        redis::pipe()
            .get(state::state_key(r, user))
            .hgetall(state::profile_key(r, user))
            .smembers(state::follows_key(r, user))
            .hkeys(state::suppressed_creators_key(r, user))
            .hkeys(state::suppressed_sounds_key(r, user))
            .smembers(state::keywords_key(r, user))
            .zrevrange(country_key, 0, n)
            .zrevrange(state::trending_key(r, None), 0, n)
            .get(state::co_state_key(r, user))
            .hgetall(state::rank_model_key(r))
            .query_async(&mut conn)
            .await?;
    let ranking = rank::decode_models(&models);
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
        recent: UserState::decode_opt(co)
            .map(|c| c.recent_videos(MAX_CO_SOURCES))
            .unwrap_or_default(),
        ranking: rank::served_delta(&ranking),
        ranking_examples: rank::examples(&ranking),
    })
}

/// Why a candidate was picked; the reason text is only written for the
/// items that make the page.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Viewers of a recent video engaged with it next.
    CoEngaged,
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
    /// Co-engagement with the viewer's recent videos (see [`collab`]).
    co: f32,
    /// The recent video that contributed most to `co`.
    because: Option<Arc<VideoEntry>>,
    /// What the score combined, as served (see [`rank::features`]).
    features: [f32; rank::FEATURES],
}

impl Candidate {
    fn reason(&self, country: &str) -> (ReasonKind, String) {
        let tag = self.tag.as_deref().unwrap_or_else(|| best_tag(&self.video));
        match self.source {
            Source::CoEngaged => (
                ReasonKind::InterestMatch,
                format!(
                    "Viewers of {} also watched this",
                    self.because
                        .as_deref()
                        .map_or_else(|| "videos you liked".to_owned(), title)
                ),
            ),
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

/// How a reason names a video: its caption (quoted, at most 40 characters),
/// else its hashtag.
fn title(video: &VideoEntry) -> String {
    let caption = video.caption.trim();
    if caption.is_empty() {
        return format!("#{}", best_tag(video));
    }
    match caption.char_indices().nth(40) {
        Some((cut, _)) => format!("\"{}...\"", caption[..cut].trim_end()),
        None => format!("\"{caption}\""),
    }
}

/// How many times `explore_candidates` are sampled for a viewer the ranker
/// has no signal about.
const COLD_EXPLORE_FACTOR: usize = 4;

/// How many of a viewer's last served videos say which topics they were
/// shown (viewers without signal only).
const RECENT_TOPICS_FROM: isize = 40;

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
            co: 0.0,
            because: None,
            features: [0.0; rank::FEATURES],
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
/// with [`record_seen`]. Redis (the viewer was read by [`load_viewer`]): the
/// neighbours of the viewer's recent videos (once they engaged), then the
/// candidates in the seen-set.
pub async fn for_you(
    r: &Redis,
    catalog: &Catalog,
    learning: &LearningConfig,
    config: &FeedConfig,
    viewer: &Viewer,
    page_size: usize,
) -> redis::RedisResult<Built> {
    let signal = Signal::of(viewer, learning.dim);
    let neighbours = if signal.has_positive {
        collab::neighbours(r, &viewer.recent, config).await?
    } else {
        Vec::new()
    };
    let page = Page {
        catalog,
        config,
        viewer,
        query: signal.query(),
        scoring: signal.scoring(),
        cold_start: !signal.has_positive,
        declared: viewer.interests.iter().map(String::as_str).collect(),
        neighbours,
    };
    let mut candidates = page.allowed(page.gather());
    let co_max = page.drop_seen(r, &mut candidates).await?;
    let shown = if page.query.is_none() {
        page.recent_topics(r).await?
    } else {
        HashSet::new()
    };
    page.score(&mut candidates, co_max);
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.video.video_id.cmp(&b.video.video_id))
    });
    let items = page.arrange(candidates, page_size, &shown);
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
    /// Videos co-engaged with the viewer's recent ones, best first.
    neighbours: Vec<Neighbour>,
}

impl Page<'_> {
    /// Candidates from every source, each video once (the first source to
    /// offer it keeps it).
    fn gather(&self) -> Pool {
        let (catalog, config, viewer) = (self.catalog, self.config, self.viewer);
        let mut pool = Pool::default();
        self.offer_neighbours(&mut pool);
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
        // Knowing nothing of the viewer, sample wider: their pages should
        // be able to show every topic early (see `arrange`).
        let explore = if self.query.is_none() {
            config.explore_candidates * COLD_EXPLORE_FACTOR
        } else {
            config.explore_candidates
        };
        for video in catalog.sample(explore) {
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

    /// Co-engaged videos first: they carry the strongest signal of what
    /// this viewer watches next.
    fn offer_neighbours(&self, pool: &mut Pool) {
        if self.neighbours.is_empty() {
            return;
        }
        let strongest = &self.neighbours[..self.neighbours.len().min(self.config.co_candidates)];
        let ids: Vec<String> = strongest.iter().map(|n| n.video.clone()).collect();
        let sources: Vec<String> = strongest.iter().map(|n| n.because.clone()).collect();
        let because: HashMap<usize, Arc<VideoEntry>> =
            self.catalog.get_many(&sources).into_iter().collect();
        for (i, video) in self.catalog.get_many(&ids) {
            pool.offer(video.clone(), Source::CoEngaged, None, false);
            if let Some(c) = pool.get_mut(&video) {
                c.co = self.neighbours[i].score;
                c.because = because.get(&i).cloned();
            }
        }
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
    /// Returns the strongest co-engagement among all of them, seen ones
    /// included: the scale the co-engagement signal is measured on, so
    /// that once the strong neighbours have been shown, a weak one left
    /// over does not count as strong.
    async fn drop_seen(
        &self,
        r: &Redis,
        candidates: &mut Vec<Candidate>,
    ) -> redis::RedisResult<f32> {
        if candidates.is_empty() {
            return Ok(0.0);
        }
        let mut conn = r.conn.clone();
        let mut cmd = redis::cmd("ZMSCORE");
        cmd.arg(state::seen_key(r, &self.viewer.user_id));
        for c in candidates.iter() {
            cmd.arg(&c.video.video_id);
        }
        let seen: Vec<Option<f64>> = cmd.query_async(&mut conn).await?;
        let co_max = candidates.iter().map(|c| c.co).fold(0.0f32, f32::max);
        let mut seen = seen.into_iter();
        candidates.retain(|_| seen.next().flatten().is_none());
        Ok(co_max)
    }

    /// The topics of the last videos served to the viewer (for a viewer
    /// the ranker has no signal about: their next page shows other topics
    /// first, so that within a few pages every topic had its chance).
    async fn recent_topics(&self, r: &Redis) -> redis::RedisResult<HashSet<String>> {
        let mut conn = r.conn.clone();
        let recent: Vec<String> = redis::cmd("ZREVRANGE")
            .arg(state::seen_key(r, &self.viewer.user_id))
            .arg(0)
            .arg(RECENT_TOPICS_FROM - 1)
            .query_async(&mut conn)
            .await?;
        Ok(recent
            .iter()
            .filter_map(|id| self.catalog.get(id))
            .map(|v| best_tag(&v).to_owned())
            .collect())
    }

    /// Score: one weighted sum of the signals: the similarity of the
    /// viewer to the video's effective vector (content + learned), its
    /// co-engagement with the viewer's recent videos (relative to
    /// `co_max`, the strongest neighbour's, seen or not), trending (a
    /// popularity prior), following, challenges and, at cold start, the
    /// interests picked at sign-up. The weights are the hand-set ones
    /// (`feed.scoring`) moved by what the ranking model learned from
    /// served-then-engaged labels (see [`rank`]), unless
    /// `feed.learned_scoring` is off.
    fn score(&self, candidates: &mut [Candidate], co_max: f32) {
        let prior = self.config.scoring.signal_weights();
        let mut weights = prior;
        if let Some(delta) = self.viewer.ranking.filter(|_| self.config.learned_scoring) {
            let delta = rank::shrink(
                delta,
                self.viewer.ranking_examples,
                self.config.learned_prior_examples,
            );
            for (w, d) in weights.iter_mut().zip(delta) {
                *w += d;
            }
        }
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
            let co = if co_max > 0.0 {
                c.co / (co_max + self.config.co_evidence)
            } else {
                0.0
            };
            let flag = |on: bool| if on { 1.0 } else { 0.0 };
            let declared = self.cold_start
                && c.video
                    .hashtags
                    .iter()
                    .any(|t| self.declared.contains(t.as_str()));
            let signals = [
                similarity,
                co,
                c.trending,
                flag(follows.contains(c.video.creator_id.as_str())),
                flag(c.challenge),
                flag(declared),
            ];
            c.score = weights.iter().zip(&signals).map(|(w, x)| w * x).sum();
            c.features = rank::features(signals, &prior);
        }
    }

    /// Fills the page from the best-first `candidates` under the hard rules
    /// and preferences; every k-th position takes the best exploration item.
    fn arrange(
        &self,
        mut candidates: Vec<Candidate>,
        page_size: usize,
        shown: &HashSet<String>,
    ) -> Vec<pb::FeedItem> {
        let config = self.config;
        let explore_every = if config.exploration_share > 0.0 && self.query.is_some() {
            (1.0 / config.exploration_share).round().max(2.0) as usize
        } else {
            usize::MAX
        };
        let mut items: Vec<pb::FeedItem> = Vec::with_capacity(page_size);
        let mut last: Option<Arc<VideoEntry>> = None;
        // Without any signal about the viewer, a page samples distinct topics so
        // the first engagement tells the most, those not `shown` on their
        // last pages first (else a topic the scores rank low might never
        // come up, and a taste for it could not be learned).
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
            let unshown = |c: &Candidate| !distinct_topics || !shown.contains(best_tag(&c.video));
            // Preferences, dropped in order when nothing satisfies them.
            let pick = candidates
                .iter()
                .position(|c| {
                    allowed(c) && new_topic(c) && unshown(c) && (!want_exploration || c.exploration)
                })
                .or_else(|| {
                    candidates
                        .iter()
                        .position(|c| allowed(c) && new_topic(c) && unshown(c))
                })
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
                features: c.features.to_vec(),
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
