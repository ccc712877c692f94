//! For You's scoring weights, learned online from served-then-engaged
//! labels.
//!
//! Every organic item For You serves carries its features
//! (`FeedItem.features`: the signals the score combined, then the hand-set
//! prior's score of them); the gateway seals them into the item's serve
//! token and copies them onto engagement reported with that token
//! (`EngagementEvent.served_features`). The co-engagement consumer, which
//! reads `engagement.v1` with a per-viewer state, keeps each viewer's
//! pending impressions (an impression with features) and labels them:
//!
//! - positive when a strong engagement with the video follows (a complete
//!   view, like, share, comment or follow);
//! - negative on a quick skip or "not interested", or when the impression
//!   is still pending `window_s` of event time later (at the viewer's next
//!   event), or is the oldest of more than `pending` pending ones.
//!
//! Each label is one step of online logistic regression (AdaGrad) on
//! `logit = bias + prior_score + delta . (signals - means)`: the hand-set
//! weights (`feed.scoring`) are the prior, carried by the log itself as an
//! offset, and the model learns how far the data moves each weight from
//! them (`delta`, with an L2 pull back to 0, each at most
//! `learning.ranking.max_delta` from it). The signals are centred on their
//! running means (a reparametrisation: `delta . means` is a constant the
//! bias absorbs, so the weights served are the same `prior + delta`):
//! without it, while the bias is still far from the base rate every label
//! pushes every delta the same way, and AdaGrad moves a rarely-large
//! signal (trending) as fast as the bias. Labels depend only on each
//! viewer's own events in partition order, so each partition of
//! `engagement.v1` has a model of its own (`rank:model`, field = the
//! partition), updated in offset order in the same atomic script as the
//! viewers' states: a redelivered or retried event labels nothing twice,
//! and a replay (`loopctl replay --rebuild`) computes bit-identical
//! models whatever its batches. For You reads every partition's model
//! with the viewer (no extra round trip) and scores with the prior plus
//! their example-weighted average delta.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::feed::Scoring;

/// The signals one score combines, in feature order.
pub const SIGNALS: usize = 6;
/// The signals, then the hand-set prior's score of them.
pub const FEATURES: usize = SIGNALS + 1;
pub const SIGNAL_NAMES: [&str; SIGNALS] = [
    "similarity",
    "co_engagement",
    "trending",
    "following",
    "challenge",
    "declared_interest",
];

/// How the ranking weights learn (`learning.ranking`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RankLearning {
    /// Learn from labelled impressions (false: the hand-set weights only).
    pub enabled: bool,
    /// AdaGrad step size.
    pub rate: f64,
    /// Pull of each learned change back toward the hand-set weight.
    pub l2: f64,
    /// The model's starting bias (log-odds of engagement).
    pub initial_bias: f64,
    /// An impression still unanswered this long (event time) is negative.
    pub window_s: i64,
    /// Impressions waiting for their label per viewer (at least a page).
    pub pending: usize,
    /// The most a learned weight may move from its hand-set value (either
    /// way): the data can re-weigh the signals, not turn the feed into
    /// something the hand-set weights never ranked.
    pub max_delta: f64,
}

impl Default for RankLearning {
    fn default() -> Self {
        Self {
            enabled: true,
            rate: 0.05,
            l2: 0.001,
            initial_bias: -3.0,
            window_s: 1800,
            pending: 32,
            max_delta: 1.0,
        }
    }
}

impl RankLearning {
    pub fn validate_into(&self, problems: &mut Vec<String>) {
        if !(self.rate > 0.0 && self.rate <= 1.0) {
            problems.push("learning.ranking.rate: must be in (0, 1]".into());
        }
        if !(0.0..=1.0).contains(&self.l2) {
            problems.push("learning.ranking.l2: must be 0..=1".into());
        }
        if !(-20.0..=20.0).contains(&self.initial_bias) {
            problems.push("learning.ranking.initial_bias: must be -20..=20".into());
        }
        if !(1..=7 * 24 * 3600).contains(&self.window_s) {
            problems.push("learning.ranking.window_s: must be 1..=604800".into());
        }
        if !(1..=200).contains(&self.pending) {
            problems.push("learning.ranking.pending: must be 1..=200".into());
        }
        if !(0.0..=10.0).contains(&self.max_delta) {
            problems.push("learning.ranking.max_delta: must be 0..=10".into());
        }
    }
}

impl Scoring {
    /// The weights of the learnable signals, in feature order.
    pub fn signal_weights(&self) -> [f32; SIGNALS] {
        [
            self.similarity,
            self.co_engagement,
            self.trending,
            self.following,
            self.challenge,
            self.declared_interest,
        ]
    }
}

/// One partition's logistic model: how far the data moved each weight
/// from the hand-set prior.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub examples: u64,
    pub positives: u64,
    pub bias: f64,
    pub delta: [f64; SIGNALS],
    /// AdaGrad's sums of squared gradients: the bias, then each signal.
    pub squares: [f64; SIGNALS + 1],
    /// Each signal's running mean over the labelled impressions (the
    /// centre the deltas learn around).
    pub means: [f64; SIGNALS],
}

/// Version 1 (no means) is still read: its means start at 0.
const MODEL_TAG_V1: u8 = 1;
const MODEL_TAG: u8 = 2;
const MODEL_BYTES_V1: usize = 1 + 16 + 8 * (1 + SIGNALS + SIGNALS + 1);
const MODEL_BYTES: usize = MODEL_BYTES_V1 + 8 * SIGNALS;
/// The running means average over at most this many labels (then they
/// follow the recent ones).
const MEAN_HORIZON: f64 = 10_000.0;

impl Model {
    pub fn new(config: &RankLearning) -> Self {
        Self {
            examples: 0,
            positives: 0,
            bias: config.initial_bias,
            delta: [0.0; SIGNALS],
            squares: [0.0; SIGNALS + 1],
            means: [0.0; SIGNALS],
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MODEL_BYTES);
        out.push(MODEL_TAG);
        out.extend_from_slice(&self.examples.to_le_bytes());
        out.extend_from_slice(&self.positives.to_le_bytes());
        for x in std::iter::once(&self.bias)
            .chain(&self.delta)
            .chain(&self.squares)
            .chain(&self.means)
        {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out
    }

    pub fn decode(b: &[u8]) -> Option<Self> {
        let current = b.len() == MODEL_BYTES && b.first() == Some(&MODEL_TAG);
        let v1 = b.len() == MODEL_BYTES_V1 && b.first() == Some(&MODEL_TAG_V1);
        if !current && !v1 {
            return None;
        }
        let u = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        let f = |k: usize| f64::from_bits(u(17 + 8 * k));
        let mut m = Self {
            examples: u(1),
            positives: u(9),
            bias: f(0),
            delta: [0.0; SIGNALS],
            squares: [0.0; SIGNALS + 1],
            means: [0.0; SIGNALS],
        };
        for i in 0..SIGNALS {
            m.delta[i] = f(1 + i);
        }
        for i in 0..=SIGNALS {
            m.squares[i] = f(1 + SIGNALS + i);
        }
        if current {
            for i in 0..SIGNALS {
                m.means[i] = f(2 + 2 * SIGNALS + i);
            }
        }
        Some(m)
    }

    /// The probability of engagement the model gives `x`.
    pub fn predict(&self, x: &[f32; FEATURES]) -> f64 {
        let mut z = self.bias + f64::from(x[SIGNALS]);
        for ((d, m), v) in self.delta.iter().zip(&self.means).zip(x) {
            z += d * (f64::from(*v) - m);
        }
        1.0 / (1.0 + (-z).exp())
    }

    /// One step of logistic regression on a labelled impression, then
    /// the running means take it in.
    pub fn update(&mut self, x: &[f32; FEATURES], engaged: bool, config: &RankLearning) {
        let error = self.predict(x) - if engaged { 1.0 } else { 0.0 };
        let step = |square: &mut f64, g: f64| {
            *square += g * g;
            if *square > 0.0 {
                config.rate * g / square.sqrt()
            } else {
                0.0
            }
        };
        self.bias -= step(&mut self.squares[0], error);
        let bound = config.max_delta;
        for (((delta, square), mean), v) in self
            .delta
            .iter_mut()
            .zip(&mut self.squares[1..])
            .zip(&self.means)
            .zip(x)
        {
            let g = error * (f64::from(*v) - mean) + config.l2 * *delta;
            *delta = (*delta - step(square, g)).clamp(-bound, bound);
        }
        self.examples += 1;
        self.positives += u64::from(engaged);
        let n = (self.examples as f64).min(MEAN_HORIZON);
        for (mean, v) in self.means.iter_mut().zip(x) {
            *mean += (f64::from(*v) - *mean) / n;
        }
    }
}

/// What For You adds to the hand-set weights: the partitions' deltas
/// averaged by how many examples each learned from (None before any).
pub fn served_delta<'a>(models: impl IntoIterator<Item = &'a Model>) -> Option<[f32; SIGNALS]> {
    let mut sum = [0.0f64; SIGNALS];
    let mut examples = 0u64;
    for m in models {
        for (s, d) in sum.iter_mut().zip(&m.delta) {
            *s += m.examples as f64 * d;
        }
        examples += m.examples;
    }
    if examples == 0 {
        return None;
    }
    Some(sum.map(|s| (s / examples as f64) as f32))
}

/// How many labels the models learned from, together.
pub fn examples<'a>(models: impl IntoIterator<Item = &'a Model>) -> u64 {
    models.into_iter().map(|m| m.examples).sum()
}

/// `delta` learned from `examples` labels, shrunk toward the hand-set
/// weights as if they were worth `prior_examples` labels
/// (`feed.learned_prior_examples`): with a few hundred labels the
/// deltas are mostly noise and the feed ranks close to the prior; with
/// tens of thousands they count nearly in full.
pub fn shrink(delta: [f32; SIGNALS], examples: u64, prior_examples: f32) -> [f32; SIGNALS] {
    let n = examples as f32;
    let keep = if n + prior_examples > 0.0 {
        n / (n + prior_examples)
    } else {
        0.0
    };
    delta.map(|d| d * keep)
}

/// The models stored in the `rank:model` hash (unreadable fields skipped).
pub fn decode_models(fields: &HashMap<String, Vec<u8>>) -> Vec<Model> {
    let mut keys: Vec<&String> = fields.keys().collect();
    keys.sort();
    keys.into_iter()
        .filter_map(|k| Model::decode(&fields[k]))
        .collect()
}

/// A feature as served: rounded to 3 decimals (what the serve token carries
/// and the learner reads back).
pub fn round(x: f32) -> f32 {
    if x.is_finite() {
        (x * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

/// The served features of `signals`: rounded, then the prior's score of
/// the rounded signals.
pub fn features(signals: [f32; SIGNALS], prior: &[f32; SIGNALS]) -> [f32; FEATURES] {
    let mut x = [0.0; FEATURES];
    let mut score = 0.0;
    for ((out, signal), weight) in x.iter_mut().zip(signals).zip(prior) {
        *out = round(signal);
        score += weight * *out;
    }
    x[SIGNALS] = round(score);
    x
}

/// An impression waiting for its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub video: String,
    pub at_ms: i64,
    pub x: [f32; FEATURES],
}

/// Packed pending impressions, oldest first; each: the packed video id
/// (see `state`), the event ms (i64 LE), the features (f32 LE).
pub fn parse_pending(b: &[u8]) -> Vec<Pending> {
    let mut out = Vec::new();
    let mut rest = b;
    while let Some((video, after)) = crate::state::split_video(rest) {
        if after.len() < 8 + 4 * FEATURES {
            break;
        }
        let at_ms = i64::from_le_bytes(after[..8].try_into().unwrap_or([0; 8]));
        let mut x = [0.0f32; FEATURES];
        for (i, c) in after[8..8 + 4 * FEATURES].chunks_exact(4).enumerate() {
            x[i] = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        out.push(Pending { video, at_ms, x });
        rest = &after[8 + 4 * FEATURES..];
    }
    out
}

pub fn pack_pending(pending: &[Pending]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pending.len() * (17 + 8 + 4 * FEATURES));
    for p in pending {
        crate::state::pack_video(&mut out, &p.video);
        out.extend_from_slice(&p.at_ms.to_le_bytes());
        for x in &p.x {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out
}

/// What an event says about an impression of its video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Shown (an impression carrying its features): wait for the answer.
    Shown,
    Engaged,
    Refused,
    /// Nothing (a partial view, a profile visit...).
    Neither,
}

/// Applies one of the viewer's events (at `at_ms`, about `video`) to their
/// pending impressions; `label` receives each label made, in order:
/// expired impressions first (oldest first), then this event's.
pub fn observe(
    pending: &mut Vec<Pending>,
    config: &RankLearning,
    video: &str,
    at_ms: i64,
    answer: Answer,
    features: Option<[f32; FEATURES]>,
    label: &mut impl FnMut(bool, [f32; FEATURES]),
) {
    let window_ms = config.window_s * 1000;
    while pending
        .first()
        .is_some_and(|p| at_ms.saturating_sub(p.at_ms) > window_ms)
    {
        let p = pending.remove(0);
        label(false, p.x);
    }
    let waiting = pending.iter().position(|p| p.video == video);
    match (answer, waiting) {
        (Answer::Engaged | Answer::Refused, Some(i)) => {
            let p = pending.remove(i);
            label(answer == Answer::Engaged, p.x);
        }
        (Answer::Shown, None) => {
            let Some(x) = features else { return };
            if video.is_empty() || video.len() > 255 {
                return;
            }
            pending.push(Pending {
                video: video.to_owned(),
                at_ms,
                x,
            });
            while pending.len() > config.pending {
                let p = pending.remove(0);
                label(false, p.x);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(signals: [f32; SIGNALS]) -> [f32; FEATURES] {
        features(signals, &Scoring::default().signal_weights())
    }

    #[test]
    fn features_are_rounded_and_end_with_the_priors_score() {
        let got = x([0.123_46, 0.5, 1.0, 0.0, 1.0, 0.0]);
        // 1.0 x 0.123 + 1.0 x 0.5 + 0.15 x 1.0 + 0.1 x 1.0.
        assert_eq!(got, [0.123, 0.5, 1.0, 0.0, 1.0, 0.0, 0.873]);
        assert_eq!(round(f32::NAN), 0.0);
    }

    #[test]
    fn a_model_round_trips_and_learns_which_signal_predicts_engagement() {
        let config = RankLearning::default();
        let mut m = Model::new(&config);
        assert_eq!(Model::decode(&m.encode()), Some(m.clone()));
        assert_eq!(Model::decode(&[1, 2, 3]), None);
        // Engagement follows co-engagement, never trending alone.
        for i in 0..4000 {
            let co = [0.0, 0.2, 0.5, 0.9][i % 4];
            m.update(&x([0.1, co, 0.0, 0.0, 0.0, 0.0]), i % 4 == 3, &config);
            m.update(&x([0.1, 0.0, 0.8, 0.0, 0.0, 0.0]), false, &config);
        }
        assert_eq!((m.examples, m.positives), (8000, 1000));
        assert!(m.delta[1] > 0.5, "co-engagement weighs more: {:?}", m.delta);
        assert!(m.delta[2] < 0.0, "trending weighs less: {:?}", m.delta);
        assert_eq!(Model::decode(&m.encode()), Some(m.clone()));
        // The same labels in the same order: the same bits.
        let mut again = Model::new(&config);
        for i in 0..4000 {
            let co = [0.0, 0.2, 0.5, 0.9][i % 4];
            again.update(&x([0.1, co, 0.0, 0.0, 0.0, 0.0]), i % 4 == 3, &config);
            again.update(&x([0.1, 0.0, 0.8, 0.0, 0.0, 0.0]), false, &config);
        }
        assert_eq!(again.encode(), m.encode());
    }

    #[test]
    fn deltas_stay_within_their_bound_and_a_version_1_model_still_reads() {
        let config = RankLearning {
            max_delta: 0.25,
            rate: 0.5,
            ..RankLearning::default()
        };
        let mut m = Model::new(&config);
        // Engagement always follows co-engagement: its weight would run
        // far past the bound.
        for i in 0..2000 {
            let co = if i % 2 == 0 { 1.0 } else { 0.0 };
            m.update(&x([0.0, co, 0.0, 0.0, 0.0, 0.0]), i % 2 == 0, &config);
        }
        assert_eq!(m.delta[1], 0.25, "{:?}", m.delta);
        assert!(m.delta.iter().all(|d| d.abs() <= 0.25), "{:?}", m.delta);
        assert!((m.means[1] - 0.5).abs() < 1e-9, "{:?}", m.means);
        let invalid = RankLearning {
            max_delta: -1.0,
            ..RankLearning::default()
        };
        let mut problems = Vec::new();
        invalid.validate_into(&mut problems);
        assert_eq!(problems, ["learning.ranking.max_delta: must be 0..=10"]);
        // Version 1 (before the means): read with means at 0.
        let mut v1 = m.encode();
        v1.truncate(MODEL_BYTES_V1);
        v1[0] = MODEL_TAG_V1;
        let old = Model::decode(&v1).expect("v1");
        assert_eq!((old.delta, old.means), (m.delta, [0.0; SIGNALS]));
    }

    #[test]
    fn a_miscalibrated_bias_does_not_drag_an_uninformative_signal_along() {
        // Engagement is common (25%) and unrelated to trending; the bias
        // starts far below it (-3). Uncentred, every early label said
        // "more", and AdaGrad moved trending's weight up as fast as the
        // bias; centred, it stays near its prior.
        let config = RankLearning::default();
        let mut m = Model::new(&config);
        for i in 0..400 {
            let trending = [0.2, 0.9, 0.5, 0.7][i % 4];
            m.update(
                &x([0.0, 0.0, trending, 0.0, 0.0, 0.0]),
                i % 4 == (i / 4) % 4,
                &config,
            );
        }
        assert!(
            m.bias > -2.5,
            "the bias moves toward the base rate: {}",
            m.bias
        );
        assert!(m.delta[2].abs() < 0.2, "trending moved: {:?}", m.delta);
    }

    #[test]
    fn served_delta_weighs_partitions_by_their_examples() {
        let config = RankLearning::default();
        assert_eq!(served_delta(&[Model::new(&config)]), None);
        let mut a = Model::new(&config);
        a.examples = 3;
        a.delta[0] = 1.0;
        let mut b = Model::new(&config);
        b.examples = 1;
        b.delta[0] = -1.0;
        let d = served_delta([&a, &b]).expect("examples");
        assert_eq!(d[0], 0.5);
        assert_eq!(examples([&a, &b]), 4);
        // Four labels against a prior worth four: half the delta.
        assert_eq!(shrink(d, 4, 4.0)[0], 0.25);
        assert_eq!(shrink(d, 4, 0.0)[0], 0.5);
        assert_eq!(shrink(d, 0, 0.0)[0], 0.0);
    }

    #[test]
    fn impressions_are_labelled_by_what_follows_or_by_silence() {
        let config = RankLearning {
            window_s: 60,
            pending: 2,
            ..RankLearning::default()
        };
        let f = Some(x([0.5; SIGNALS]));
        let mut pending = Vec::new();
        let mut labels = Vec::new();
        observe(
            &mut pending,
            &config,
            "a",
            0,
            Answer::Shown,
            f,
            &mut |y, _| labels.push(y),
        );
        observe(
            &mut pending,
            &config,
            "b",
            0,
            Answer::Shown,
            f,
            &mut |y, _| labels.push(y),
        );
        // Shown again while waiting: still one impression.
        observe(
            &mut pending,
            &config,
            "a",
            1,
            Answer::Shown,
            f,
            &mut |y, _| labels.push(y),
        );
        // Without features (no serve token) nothing waits.
        observe(
            &mut pending,
            &config,
            "z",
            1,
            Answer::Shown,
            None,
            &mut |y, _| labels.push(y),
        );
        assert_eq!(pending.len(), 2);
        observe(
            &mut pending,
            &config,
            "b",
            2,
            Answer::Engaged,
            None,
            &mut |y, _| labels.push(y),
        );
        // A like after the complete view labels nothing more.
        observe(
            &mut pending,
            &config,
            "b",
            3,
            Answer::Engaged,
            None,
            &mut |y, _| labels.push(y),
        );
        observe(
            &mut pending,
            &config,
            "c",
            4,
            Answer::Shown,
            f,
            &mut |y, _| labels.push(y),
        );
        // A third waiting impression pushes out the oldest as negative.
        observe(
            &mut pending,
            &config,
            "d",
            5,
            Answer::Shown,
            f,
            &mut |y, _| labels.push(y),
        );
        assert_eq!(labels, [true, false]);
        observe(
            &mut pending,
            &config,
            "c",
            6,
            Answer::Refused,
            None,
            &mut |y, _| labels.push(y),
        );
        // d expires when the viewer's next event comes after the window.
        observe(
            &mut pending,
            &config,
            "e",
            70_000,
            Answer::Neither,
            None,
            &mut |y, _| labels.push(y),
        );
        assert_eq!(labels, [true, false, false, false]);
        assert!(pending.is_empty());
        let mut pending = vec![Pending {
            video: "00000000-0000-7000-9000-000000000001".into(),
            at_ms: 7,
            x: x([0.25; SIGNALS]),
        }];
        pending.push(Pending {
            video: "not-a-uuid".into(),
            at_ms: -1,
            x: x([1.0; SIGNALS]),
        });
        assert_eq!(parse_pending(&pack_pending(&pending)), pending);
    }
}
