//! For You's configuration: candidate counts, exploration, the seen-set,
//! co-engagement, and the weights of the one scoring function.

use serde::{Deserialize, Serialize};

/// The most recent videos For You may ask for neighbours (`co_sources`).
pub const MAX_CO_SOURCES: usize = 64;

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
    /// Co-engagement: how many of the viewer's latest videos are asked for
    /// the videos their viewers engaged with next.
    pub co_sources: usize,
    /// Neighbours read per source video (the most co-engaged).
    pub co_neighbours: usize,
    /// The strongest neighbours that become candidates (each candidate
    /// costs the page a seen-set and an audience lookup and a score).
    pub co_candidates: usize,
    /// Each older source video weighs this much of the next newer one.
    pub co_recency: f32,
    /// Co-engagement counts relative to the strongest neighbour's strength
    /// plus this much: when even the strongest is thin evidence (a couple
    /// of viewers), it counts for less than similarity does.
    pub co_evidence: f32,
    /// How the signals add up to a candidate's score: the hand-set
    /// weights, the prior of the learned ones.
    pub scoring: Scoring,
    /// Score with the weights learned from served-then-engaged labels
    /// (`learning.ranking`); false: the hand-set ones alone.
    pub learned_scoring: bool,
    /// What the hand-set weights are worth, in labels: the learned deltas
    /// are served times `n / (n + this)` after `n` labels.
    pub learned_prior_examples: f32,
}

/// The weights of one scoring function over every candidate: each signal
/// is in [0, 1] (similarity in [-1, 1]) and the score is their weighted sum.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    /// Cosine of the viewer's vector and the video's (content + learned).
    pub similarity: f32,
    /// Co-engagement with the viewer's recent videos, relative to their
    /// strongest neighbour's.
    pub co_engagement: f32,
    /// Trending strength (rank in the trending list): the popularity prior.
    pub trending: f32,
    /// From a followed creator.
    pub following: f32,
    /// Part of an active challenge.
    pub challenge: f32,
    /// Matches an interest picked at sign-up (cold start only).
    pub declared_interest: f32,
}

impl Default for Scoring {
    fn default() -> Self {
        Self {
            similarity: 1.0,
            co_engagement: 1.0,
            trending: 0.15,
            following: 0.15,
            challenge: 0.1,
            declared_interest: 0.3,
        }
    }
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
            co_sources: 10,
            co_neighbours: 60,
            co_candidates: 100,
            co_recency: 0.95,
            co_evidence: 3.0,
            scoring: Scoring::default(),
            learned_scoring: true,
            learned_prior_examples: 1000.0,
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
        if self.co_sources > MAX_CO_SOURCES || self.co_neighbours > 500 || self.co_candidates > 1000
        {
            problems.push(
                "feed: co_sources at most 64, co_neighbours at most 500, co_candidates at most 1000"
                    .into(),
            );
        }
        if !(0.0..=100.0).contains(&self.co_evidence) {
            problems.push("feed.co_evidence: must be 0..=100".into());
        }
        if !(0.0..=10_000_000.0).contains(&self.learned_prior_examples) {
            problems.push("feed.learned_prior_examples: must be 0..=10000000".into());
        }
        if !(self.co_recency > 0.0 && self.co_recency <= 1.0) {
            problems.push("feed.co_recency: must be in (0, 1]".into());
        }
        if self.ann_candidates == 0 || self.seen_set_size < 100 {
            problems.push(
                "feed: ann_candidates must be positive and seen_set_size at least 100".into(),
            );
        }
    }
}
