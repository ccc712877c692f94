//! What an engagement teaches: the weight of each action, and how one event
//! moves a viewer's vector (decay, then a step toward or away from the
//! video), from the event alone so a replay computes the same.

use loop_proto::events::v1::{EngagementEvent, EngagementKind};
use serde::{Deserialize, Serialize};

use crate::embed::{self, Features};
use crate::rank::RankLearning;
use crate::state::UserState;

/// How much each action pulls the viewer toward a video (negative: away).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// Watched to the end (>= 90%).
    pub complete_view: f32,
    /// Watched more than twice through.
    pub rewatch: f32,
    /// Per fraction watched below 90% (from 30%; shorter views carry no signal).
    pub partial_view: f32,
    pub like: f32,
    pub unlike: f32,
    pub share: f32,
    pub comment: f32,
    pub follow: f32,
    pub profile_visit: f32,
    pub gift: f32,
    /// A purchase from a video or LIVE (commerce.v1 OrderPaid with an
    /// attributed source): the strongest engagement there is.
    pub purchase: f32,
    pub quick_skip: f32,
    pub not_interested: f32,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            complete_view: 1.0,
            rewatch: 1.5,
            partial_view: 0.5,
            like: 1.2,
            unlike: -1.2,
            share: 1.5,
            comment: 1.0,
            follow: 1.5,
            profile_visit: 0.3,
            gift: 2.0,
            purchase: 3.0,
            quick_skip: -0.6,
            not_interested: -2.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LearningConfig {
    /// Vector dimension (changing it needs a rebuild).
    pub dim: usize,
    /// Step toward a video per unit of weight.
    pub learning_rate: f32,
    /// Step of a video's learned vector toward its viewer per unit of weight.
    pub video_learning_rate: f32,
    /// Interests fade with this half-life of event time.
    pub half_life_hours: f64,
    /// Weight of the declared interests next to the learned vector when ranking.
    pub cold_start_prior: f32,
    /// Recent event ids remembered per user to drop retried duplicates.
    pub dedupe_window: usize,
    /// Trending scores halve every this many hours.
    pub trending_half_life_hours: f64,
    /// How many of a viewer's latest positive engagements a new one counts
    /// as co-engaged with (0: no co-engagement). Each costs the consumer a
    /// counter increment per positive engagement.
    pub co_window: usize,
    /// How many of a viewer's latest positive engagements keep their
    /// co-engagement counts (at least `co_window`): when an older one
    /// leaves the viewer's history, what it added leaves the counts, so
    /// they are bounded (at most `co_history x co_window` pairs per
    /// viewer) and a replay still counts exactly the same. Each kept
    /// video costs the viewer's co-engagement state 17 bytes. Changing it
    /// (or `co_window`) needs a rebuild.
    pub co_history: usize,
    pub weights: Weights,
    /// How For You's scoring weights learn from labelled impressions
    /// (kept by the co-engagement consumer; see `rank`).
    pub ranking: RankLearning,
}

impl Default for LearningConfig {
    fn default() -> Self {
        Self {
            dim: 64,
            learning_rate: 0.2,
            video_learning_rate: 0.02,
            half_life_hours: 72.0,
            cold_start_prior: 0.5,
            // A client batch is at most 100 events (the gateway's limit), so
            // a whole retried batch is recognised; every id rides in the
            // state, which the batch script hashes byte by byte, so the
            // window is not larger.
            dedupe_window: 128,
            trending_half_life_hours: 12.0,
            co_window: 10,
            co_history: 200,
            weights: Weights::default(),
            ranking: RankLearning::default(),
        }
    }
}

impl LearningConfig {
    pub fn validate_into(&self, problems: &mut Vec<String>) {
        if !(8..=1024).contains(&self.dim) {
            problems.push("learning.dim: must be 8..=1024".into());
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            problems.push("learning.learning_rate: must be in (0, 1]".into());
        }
        if !(self.video_learning_rate >= 0.0 && self.video_learning_rate <= 1.0) {
            problems.push("learning.video_learning_rate: must be in [0, 1]".into());
        }
        if self.half_life_hours <= 0.0 || self.trending_half_life_hours <= 0.0 {
            problems.push("learning: half-lives must be positive".into());
        }
        self.ranking.validate_into(problems);
        if self.co_window > 64 {
            problems.push("learning.co_window: must be 0..=64".into());
        }
        if !(self.co_window..=2000).contains(&self.co_history) {
            problems.push(
                "learning.co_history: must be at least learning.co_window and at most 2000".into(),
            );
        }
        if !(100..=100_000).contains(&self.dedupe_window) {
            problems.push(
                "learning.dedupe_window: must be 100..=100000 (a retried client batch holds up to 100 events)"
                    .into(),
            );
        }
    }

    /// The pull of one event (0 when it carries no signal).
    pub fn weight(&self, e: &EngagementEvent) -> f32 {
        let w = &self.weights;
        match e.kind() {
            EngagementKind::View => {
                let fraction = e.watch_ms as f32 / e.video_duration_ms.max(1) as f32;
                if fraction >= 2.0 {
                    w.rewatch
                } else if fraction >= 0.9 {
                    w.complete_view
                } else if fraction >= 0.3 {
                    w.partial_view * fraction
                } else {
                    0.0
                }
            }
            EngagementKind::Like => w.like,
            EngagementKind::Unlike => w.unlike,
            EngagementKind::Share => w.share,
            EngagementKind::Comment => w.comment,
            EngagementKind::Follow => w.follow,
            EngagementKind::ProfileVisit => w.profile_visit,
            EngagementKind::QuickSkip => w.quick_skip,
            EngagementKind::NotInterested => w.not_interested,
            EngagementKind::Impression | EngagementKind::Unspecified => 0.0,
        }
    }

    /// The vector a viewer is ranked with: the learned vector (normalised)
    /// plus their declared interests as a prior; `None` when there is neither.
    pub fn ranking_vector(
        &self,
        learned: Option<&[f32]>,
        interests: &[String],
    ) -> Option<Vec<f32>> {
        let mut v = vec![0.0f32; self.dim];
        let mut any = false;
        if let Some(l) = learned.filter(|l| l.len() == self.dim && embed::norm(l) > 1e-6) {
            let n = embed::norm(l);
            v.iter_mut().zip(l).for_each(|(x, y)| *x += y / n);
            any = true;
        }
        if !interests.is_empty() {
            let i = embed::interests_vector(interests, self.dim);
            v.iter_mut()
                .zip(&i)
                .for_each(|(x, y)| *x += self.cold_start_prior * y);
            any = true;
        }
        any.then(|| {
            embed::normalize(&mut v);
            v
        })
    }

    /// Applies one event to `state` (decay, then a step of `weight`).
    pub fn apply(&self, state: &mut UserState, e: &EngagementEvent, weight: f32) {
        let event_ms = e
            .occurred_at
            .as_ref()
            .map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000);
        if state.vector.len() != self.dim {
            state.vector = vec![0.0; self.dim];
        }
        if state.last_event_ms > 0 && event_ms > state.last_event_ms {
            let hours = (event_ms - state.last_event_ms) as f64 / 3_600_000.0;
            let decay = 0.5f64.powf(hours / self.half_life_hours) as f32;
            state.vector.iter_mut().for_each(|x| *x *= decay);
        }
        state.last_event_ms = state.last_event_ms.max(event_ms);
        if weight > 0.0 {
            state.positive_events += 1;
        }
        if weight != 0.0 {
            let content = event_content_vector(e, self.dim);
            for (x, c) in state.vector.iter_mut().zip(&content) {
                *x += self.learning_rate * weight * c;
            }
        }
    }
}

/// The content vector of the event's video, computed from the event alone
/// (so replay does not depend on the catalog's timing).
pub fn event_content_vector(e: &EngagementEvent, dim: usize) -> Vec<f32> {
    embed::content_vector(
        &Features {
            hashtags: &e.hashtags,
            category: &e.category,
            creator_id: &e.creator_id,
            sound_id: &e.sound_id,
            caption: "",
        },
        dim,
    )
}

/// A monotone time weight for trending: adding `w * 2^(t / half_life)`
/// ranks like a sum of exponentially decayed weights, without rewrites.
pub fn trending_increment(weight: f32, event_ms: i64, half_life_hours: f64) -> f64 {
    // Epoch 2026-01-01 keeps exponents small for years of operation.
    const EPOCH_MS: i64 = 1_767_225_600_000;
    let hours = (event_ms - EPOCH_MS) as f64 / 3_600_000.0;
    f64::from(weight) * 2f64.powf(hours / half_life_hours)
}
