//! Auction arithmetic (the contract's formulas, in integer millicents).
//!
//! Every bid is first expressed per billable event in millicents
//! (`bid_event`): CPM and oCPM bill an impression, and `bid_cents` per 1000
//! impressions is exactly `bid_cents` millicents per impression; CPC bills a
//! click and CPV a 6-second view, each `bid_cents x 1000` millicents. Then
//!
//! ```text
//! eCPM (millicents / 1000 impressions) = bid_event x w x 1000
//! w = quality                                  CPM
//!   = quality x min(1, p_action / p_reference)  oCPM
//!   = quality x pCTR                            CPC
//!   = quality x p(6-second view)                CPV
//! ```
//!
//! which is the contract's `bid x rate x 1000 x quality` in millicents.
//! Candidates rank by eCPM, ties broken by the lower ad group id (stable
//! and deterministic). Generalized second price: the winner of slot k pays,
//! per billable event, the smallest whole-millicent bid whose eCPM strictly
//! beats `max(eCPM of rank k+1, reserve)`, i.e.
//! `floor(threshold / (1000 w)) + 1`, never more than its own bid. With one slot this is the classic
//! second-price auction. The pricing itself runs inside the serving Lua
//! script (one Redis round trip, see `serving`); [`gsp_price`] is the same
//! formula in Rust for tests and debug output.

use loop_proto::ads_auction::v1 as pb;

use crate::predict::{PredictionConfig, Rates};

/// A bid per billable event, in millicents.
pub fn bid_event_millicents(bid_type: pb::BidType, bid_cents: i64) -> i64 {
    match bid_type {
        pb::BidType::Cpc | pb::BidType::Cpv => bid_cents.saturating_mul(1000),
        _ => bid_cents,
    }
}

/// Predicted probability of the objective's action (oCPM), and its reference.
fn objective_rate(objective: pb::CampaignObjective, rates: Rates, cfg: &PredictionConfig) -> f64 {
    match objective {
        pb::CampaignObjective::VideoViews => rates.view_rate / cfg.reference_view_rate,
        // v1 has no conversion tracking: the click is the proxy.
        pb::CampaignObjective::Traffic | pb::CampaignObjective::Conversions => {
            rates.ctr / cfg.reference_ctr
        }
        // REACH: the impression itself, p_action = p_reference = 1.
        pb::CampaignObjective::Reach | pb::CampaignObjective::Unspecified => 1.0,
    }
}

/// The per-impression weight `w` (see the module docs).
pub fn weight(
    bid_type: pb::BidType,
    objective: pb::CampaignObjective,
    rates: Rates,
    quality: f64,
    cfg: &PredictionConfig,
) -> f64 {
    let rate = match bid_type {
        pb::BidType::Cpc => rates.ctr,
        pb::BidType::Cpv => rates.view_rate,
        pb::BidType::Ocpm => objective_rate(objective, rates, cfg).min(1.0),
        pb::BidType::Cpm | pb::BidType::Unspecified => 1.0,
    };
    rate * quality
}

/// Expected billable events per impression (how much of a token's price its
/// budget reservation holds): 1 for impression-billed bids.
pub fn billable_rate(bid_type: pb::BidType, rates: Rates) -> f64 {
    match bid_type {
        pb::BidType::Cpc => rates.ctr,
        pb::BidType::Cpv => rates.view_rate,
        _ => 1.0,
    }
}

/// Predicted probability of the billed or optimized action per impression
/// (what `AuctionCandidate.predicted_action_rate` reports).
pub fn action_rate(bid_type: pb::BidType, objective: pb::CampaignObjective, rates: Rates) -> f64 {
    match (bid_type, objective) {
        (pb::BidType::Cpc, _) => rates.ctr,
        (pb::BidType::Cpv, _) => rates.view_rate,
        (pb::BidType::Ocpm, pb::CampaignObjective::VideoViews) => rates.view_rate,
        (
            pb::BidType::Ocpm,
            pb::CampaignObjective::Traffic | pb::CampaignObjective::Conversions,
        ) => rates.ctr,
        _ => 1.0,
    }
}

pub fn ecpm_millicents(bid_event: i64, w: f64) -> f64 {
    bid_event as f64 * w * 1000.0
}

/// GSP price per billable event for a winner with `bid_event` and weight `w`
/// against `threshold` (the next eCPM or the reserve, whichever is higher).
pub fn gsp_price(bid_event: i64, w: f64, threshold: f64) -> i64 {
    if w <= 0.0 {
        return bid_event;
    }
    let x = threshold / (1000.0 * w);
    // Tolerate float noise just below a whole number (x = 200 computed as 199.99999...).
    let floor = (x + 1e-9).floor();
    let price = if floor >= bid_event as f64 {
        bid_event
    } else {
        floor as i64 + 1
    };
    price.clamp(1, bid_event.max(1))
}

/// One ranked candidate for the pure auction (tests, debug).
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub id: String,
    pub bid_event: i64,
    pub w: f64,
    pub ecpm: f64,
}

/// Sorts by eCPM descending, ties by id ascending.
pub fn rank(candidates: &mut [Ranked]) {
    candidates.sort_by(|a, b| b.ecpm.total_cmp(&a.ecpm).then_with(|| a.id.cmp(&b.id)));
}

/// The pure GSP over already-eligible candidates: (id, price) per slot.
pub fn gsp(mut candidates: Vec<Ranked>, slots: usize, reserve: f64) -> Vec<(String, i64)> {
    candidates.retain(|c| c.ecpm >= reserve);
    rank(&mut candidates);
    (0..slots.min(candidates.len()))
        .map(|k| {
            let next = candidates.get(k + 1).map_or(0.0, |c| c.ecpm);
            let c = &candidates[k];
            (c.id.clone(), gsp_price(c.bid_event, c.w, next.max(reserve)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpm(id: &str, bid_cents: i64, quality: f64) -> Ranked {
        let w = quality;
        Ranked {
            id: id.into(),
            bid_event: bid_cents,
            w,
            ecpm: ecpm_millicents(bid_cents, w),
        }
    }

    #[test]
    fn single_slot_is_second_price() {
        // $3, $2 CPM: the winner pays the runner-up's 200 millicents + 1.
        let r = gsp(vec![cpm("b", 200, 1.0), cpm("a", 300, 1.0)], 1, 50_000.0);
        assert_eq!(r, vec![("a".to_string(), 201)]);
    }

    #[test]
    fn multi_slot_prices_follow_the_next_rank() {
        let r = gsp(
            vec![cpm("a", 300, 1.0), cpm("b", 200, 1.0), cpm("c", 100, 1.0)],
            2,
            50_000.0,
        );
        assert_eq!(r, vec![("a".to_string(), 201), ("b".to_string(), 101)]);
        // The last winner with nobody below pays the reserve.
        let r = gsp(vec![cpm("a", 300, 1.0)], 2, 50_000.0);
        assert_eq!(r, vec![("a".to_string(), 51)]);
    }

    #[test]
    fn reserve_filters_and_prices() {
        assert!(gsp(vec![cpm("a", 300, 1.0)], 1, 350_000.0).is_empty());
        let r = gsp(vec![cpm("a", 300, 1.0), cpm("b", 200, 1.0)], 2, 250_000.0);
        assert_eq!(r, vec![("a".to_string(), 251)]);
    }

    #[test]
    fn quality_and_rates_shift_prices_and_never_exceed_the_bid() {
        // CPC 50 cents at pCTR 1% and quality 1: eCPM = 50_000 x 0.01 x 1000 = 500_000.
        let w = weight(
            pb::BidType::Cpc,
            pb::CampaignObjective::Traffic,
            Rates {
                ctr: 0.01,
                view_rate: 0.25,
            },
            1.0,
            &PredictionConfig::default(),
        );
        let cpc = Ranked {
            id: "cpc".into(),
            bid_event: bid_event_millicents(pb::BidType::Cpc, 50),
            w,
            ecpm: ecpm_millicents(50_000, w),
        };
        assert!((cpc.ecpm - 500_000.0).abs() < 1e-6);
        // Against a $4 CPM (400_000): price per click = floor(400_000 / 10) + 1.
        let r = gsp(vec![cpc, cpm("m", 400, 1.0)], 1, 1.0);
        assert_eq!(r, vec![("cpc".to_string(), 40_001)]);
        // Equal eCPMs: the lower id wins and pays its own bid (cannot beat a tie by less).
        let r = gsp(vec![cpm("z", 300, 1.0), cpm("y", 300, 1.0)], 1, 1.0);
        assert_eq!(r, vec![("y".to_string(), 300)]);
        // Half quality needs twice the bid to match: pays 2 x 100 + 1.
        let r = gsp(vec![cpm("h", 500, 0.5), cpm("f", 100, 1.0)], 1, 1.0);
        assert_eq!(r, vec![("h".to_string(), 201)]);
    }

    #[test]
    fn ocpm_shades_by_the_objective_rate() {
        let cfg = PredictionConfig::default();
        let rates = Rates {
            ctr: 0.005,
            view_rate: 0.5,
        };
        let traffic = weight(
            pb::BidType::Ocpm,
            pb::CampaignObjective::Traffic,
            rates,
            1.0,
            &cfg,
        );
        assert!((traffic - 0.5).abs() < 1e-12);
        let views = weight(
            pb::BidType::Ocpm,
            pb::CampaignObjective::VideoViews,
            rates,
            1.0,
            &cfg,
        );
        assert!((views - 1.0).abs() < 1e-12, "capped at 1");
    }
}
