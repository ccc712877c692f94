//! Predicted action rates and creative quality.
//!
//! Each creative keeps counts of impressions, clicks and 6-second views in
//! total and per segment (age band x device OS), learned from `ads.v1`
//! (see `billing`). Rates are smoothed hierarchically: the creative's rate
//! shrinks toward the platform prior, and a segment's rate shrinks toward
//! the creative's, so a new creative starts at the prior and a thin segment
//! at its creative:
//!
//! ```text
//! p_creative = (x_c + m0 * prior) / (n_c + m0)
//! p_segment  = (x_s + m1 * p_creative) / (n_s + m1)
//! ```
//!
//! Quality in (0, 1] rewards creatives that people watch: `floor + (1 -
//! floor) x min(1, view_rate / reference_view_rate)` from the creative's
//! smoothed 6-second view rate.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PredictionConfig {
    /// Click-through rate of a creative nobody has seen yet.
    pub prior_ctr: f64,
    /// 6-second view rate of a creative nobody has seen yet.
    pub prior_view_rate: f64,
    /// Platform averages used by oCPM (p_reference) and by quality.
    pub reference_ctr: f64,
    pub reference_view_rate: f64,
    /// Pseudo-impressions of the prior in a creative's rate (m0).
    pub creative_prior_weight: f64,
    /// Pseudo-impressions of the creative's rate in a segment's rate (m1).
    pub segment_prior_weight: f64,
    /// Lowest quality a creative can have.
    pub quality_floor: f64,
}

impl Default for PredictionConfig {
    fn default() -> Self {
        Self {
            prior_ctr: 0.01,
            prior_view_rate: 0.25,
            reference_ctr: 0.01,
            reference_view_rate: 0.25,
            creative_prior_weight: 500.0,
            segment_prior_weight: 100.0,
            quality_floor: 0.5,
        }
    }
}

impl PredictionConfig {
    pub fn validate_into(&self, p: &mut Vec<String>) {
        for (name, v) in [
            ("prediction.prior_ctr", self.prior_ctr),
            ("prediction.prior_view_rate", self.prior_view_rate),
            ("prediction.reference_ctr", self.reference_ctr),
            ("prediction.reference_view_rate", self.reference_view_rate),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                p.push(format!("{name}: must be in (0, 1]"));
            }
        }
        if !(self.creative_prior_weight > 0.0 && self.segment_prior_weight > 0.0) {
            p.push("prediction.*_prior_weight: must be positive".into());
        }
        if !(self.quality_floor > 0.0 && self.quality_floor <= 1.0) {
            p.push("prediction.quality_floor: must be in (0, 1]".into());
        }
    }
}

/// Observed counts of one creative (in total or in one segment).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub impressions: u64,
    pub clicks: u64,
    pub views: u64,
}

/// Predicted per-impression probabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub ctr: f64,
    pub view_rate: f64,
}

fn smooth(successes: u64, trials: u64, prior: f64, weight: f64) -> f64 {
    // Clicks can outnumber impressions when impressions are not reported;
    // a rate is a probability.
    let s = successes.min(trials) as f64;
    ((s + weight * prior) / (trials as f64 + weight)).clamp(0.0, 1.0)
}

pub fn creative_rates(cfg: &PredictionConfig, total: Counts) -> Rates {
    Rates {
        ctr: smooth(
            total.clicks,
            total.impressions,
            cfg.prior_ctr,
            cfg.creative_prior_weight,
        ),
        view_rate: smooth(
            total.views,
            total.impressions,
            cfg.prior_view_rate,
            cfg.creative_prior_weight,
        ),
    }
}

pub fn segment_rates(cfg: &PredictionConfig, creative: Rates, segment: Counts) -> Rates {
    Rates {
        ctr: smooth(
            segment.clicks,
            segment.impressions,
            creative.ctr,
            cfg.segment_prior_weight,
        ),
        view_rate: smooth(
            segment.views,
            segment.impressions,
            creative.view_rate,
            cfg.segment_prior_weight,
        ),
    }
}

pub fn quality(cfg: &PredictionConfig, creative: Rates) -> f64 {
    let ratio = (creative.view_rate / cfg.reference_view_rate).min(1.0);
    (cfg.quality_floor + (1.0 - cfg.quality_floor) * ratio).clamp(cfg.quality_floor, 1.0)
}

/// Segments are age band x device OS (both proto enum numbers); the segment
/// key travels in the impression token so billing learns into the same one.
pub const SEGMENTS: usize = 7 * 4;

pub fn segment_index(age_band: i32, device_os: i32) -> usize {
    let age = usize::try_from(age_band).unwrap_or(0).min(6);
    let os = usize::try_from(device_os).unwrap_or(0).min(3);
    age * 4 + os
}

pub fn segment_key(index: usize) -> String {
    format!("{}:{}", index / 4, index % 4)
}

/// Parses a segment key from a token; `None` for anything else.
pub fn parse_segment(key: &str) -> Option<usize> {
    let (a, o) = key.split_once(':')?;
    let (a, o): (usize, usize) = (a.parse().ok()?, o.parse().ok()?);
    (a <= 6 && o <= 3).then_some(a * 4 + o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_creative_predicts_the_prior_and_learns() {
        let cfg = PredictionConfig::default();
        let r = creative_rates(&cfg, Counts::default());
        assert!((r.ctr - 0.01).abs() < 1e-12);
        assert!((quality(&cfg, r) - 1.0).abs() < 1e-12);
        // 5000 impressions with 250 clicks (5%): (250 + 500*0.01) / 5500.
        let r = creative_rates(
            &cfg,
            Counts {
                impressions: 5000,
                clicks: 250,
                views: 0,
            },
        );
        assert!((r.ctr - 255.0 / 5500.0).abs() < 1e-12);
        // No views at all halves nothing below the floor.
        assert!(quality(&cfg, r) >= cfg.quality_floor);
        // A segment with no data inherits the creative's rate.
        let s = segment_rates(&cfg, r, Counts::default());
        assert!((s.ctr - r.ctr).abs() < 1e-12);
    }

    #[test]
    fn segment_keys_round_trip() {
        for i in 0..SEGMENTS {
            assert_eq!(parse_segment(&segment_key(i)), Some(i));
        }
        assert_eq!(parse_segment("9:9"), None);
        assert_eq!(segment_index(2, 1), 9);
    }
}
