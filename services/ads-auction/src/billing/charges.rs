//! What newly recorded actions cost, and what they add to the reports:
//! pure arithmetic over the budgets locked for the batch (see `record`).
//!
//! A billable action is charged its token's price, capped by what is left
//! of its ad group's day (`daily x (1 + daily_overspend_fraction)`) and of
//! its campaign's total budget (less what TopView has committed); the rest
//! is written off, never billed. A TopView impression is charged in full
//! while its reservation has undelivered impressions, and moves that much
//! committed budget to spend.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use uuid::Uuid;

use super::{ACTION_CLICK, ACTION_IMPRESSION, Action, SpendUpdate};

/// A campaign's budget as locked for the batch, in millicents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct CampaignBudget {
    /// The total budget.
    pub(super) limit: i64,
    pub(super) spent: i64,
    /// Booked by TopView and not delivered yet.
    pub(super) committed: i64,
    /// Written off in this batch.
    pub(super) written_off: i64,
}

/// An ad group's spend on its local day, in millicents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct GroupDay {
    pub(super) day: NaiveDate,
    /// The daily budget with the allowed overspend.
    pub(super) limit: i64,
    pub(super) spent: i64,
}

/// A TopView reservation's delivery so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reservation {
    pub(super) impressions: i64,
    pub(super) delivered: i64,
}

/// Everything the batch's charges read and move, by id.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    pub(super) campaigns: BTreeMap<Uuid, CampaignBudget>,
    pub(super) groups: BTreeMap<Uuid, GroupDay>,
    pub(super) topview: BTreeMap<Uuid, Reservation>,
}

/// Sets `charge` and `written_off` of every billable action, in order, and
/// moves the ledger's spend, commitments and deliveries with them.
pub(super) fn charge(ledger: &mut Ledger, actions: &mut [Action]) {
    for a in actions.iter_mut().filter(|a| a.billable) {
        // A campaign that is gone bills nothing.
        let Some(c) = ledger.campaigns.get_mut(&a.campaign_id) else {
            a.written_off = a.price;
            continue;
        };
        if a.topview {
            let slot = a.reservation_id.and_then(|r| ledger.topview.get_mut(&r));
            match slot {
                Some(d) if d.delivered < d.impressions => {
                    d.delivered += 1;
                    a.charge = a.price;
                    c.spent += a.price;
                    c.committed = (c.committed - a.price).max(0);
                }
                _ => a.written_off = a.price,
            }
            c.written_off += a.written_off;
            continue;
        }
        let group_room = ledger
            .groups
            .get(&a.ad_group_id)
            .map_or(0, |g| g.limit - g.spent);
        let campaign_room = c.limit - c.spent - c.committed;
        a.charge = a.price.min(group_room).min(campaign_room).max(0);
        a.written_off = a.price - a.charge;
        c.spent += a.charge;
        c.written_off += a.written_off;
        if let Some(g) = ledger.groups.get_mut(&a.ad_group_id) {
            g.spent += a.charge;
        }
    }
}

/// The report roll-up of a batch.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Tally {
    /// (ad group, UTC day) -> (campaign, [impressions, clicks, views, spend]).
    pub(super) daily: BTreeMap<(Uuid, NaiveDate), (Uuid, [i64; 4])>,
    /// (creative, segment) -> [impressions, clicks, views]; the segment ''
    /// is the creative's total.
    pub(super) stats: BTreeMap<(Uuid, String), [i64; 3]>,
}

/// Counts every recorded action (billable or not) into the daily reports
/// and the learned rates (its creative's total, and its segment when the
/// token carried a valid one).
pub(super) fn tally(actions: &[Action]) -> Tally {
    let mut t = Tally::default();
    for a in actions {
        let d = t
            .daily
            .entry((a.ad_group_id, a.occurred_at.date_naive()))
            .or_insert((a.campaign_id, [0; 4]));
        let idx = match a.action {
            ACTION_IMPRESSION => 0,
            ACTION_CLICK => 1,
            _ => 2,
        };
        d.1[idx] += 1;
        d.1[3] += a.charge;
        let mut segments = vec![String::new()];
        if crate::predict::parse_segment(&a.segment).is_some() {
            segments.push(a.segment.clone());
        }
        for seg in segments {
            t.stats.entry((a.creative_id, seg)).or_insert([0; 3])[idx] += 1;
        }
    }
    t
}

/// The Redis updates after the commit: per billed in-feed action, the new
/// spend of its ad group's day and campaign, and the reservation to release.
pub(super) fn spend_updates(ledger: &Ledger, actions: &[Action]) -> Vec<SpendUpdate> {
    actions
        .iter()
        .filter(|a| a.billable && !a.topview)
        .map(|a| {
            let (day, spent) = ledger
                .groups
                .get(&a.ad_group_id)
                .map(|g| (g.day.format("%Y-%m-%d").to_string(), g.spent))
                .unwrap_or_default();
            SpendUpdate {
                ad_group_id: a.ad_group_id,
                campaign_id: a.campaign_id,
                day,
                ad_group_spent: spent,
                campaign_spent: ledger.campaigns.get(&a.campaign_id).map_or(0, |c| c.spent),
                bucket: a.bucket,
                release: a.reserved,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::ACTION_VIEW;
    use crate::billing::fixtures::{CAMPAIGN, GROUP, action};

    const RESERVATION: Uuid = Uuid::from_u128(3);

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 10).expect("a valid day")
    }

    fn topview(n: u128, price: i64) -> Action {
        Action {
            topview: true,
            reservation_id: Some(RESERVATION),
            ..action(n, ACTION_IMPRESSION, price)
        }
    }

    fn ledger(campaign: CampaignBudget, group_limit: i64, group_spent: i64) -> Ledger {
        let mut l = Ledger::default();
        l.campaigns.insert(CAMPAIGN, campaign);
        l.groups.insert(
            GROUP,
            GroupDay {
                day: day(),
                limit: group_limit,
                spent: group_spent,
            },
        );
        l
    }

    fn budget(limit: i64, spent: i64, committed: i64) -> CampaignBudget {
        CampaignBudget {
            limit,
            spent,
            committed,
            written_off: 0,
        }
    }

    fn charges(actions: &[Action]) -> Vec<(i64, i64)> {
        actions.iter().map(|a| (a.charge, a.written_off)).collect()
    }

    #[test]
    fn a_charge_is_the_price_while_both_budgets_have_room() {
        let mut l = ledger(budget(1_000_000, 0, 0), 10_000, 0);
        let mut a = vec![
            action(0, ACTION_IMPRESSION, 300),
            action(1, ACTION_IMPRESSION, 200),
        ];
        charge(&mut l, &mut a);
        assert_eq!(charges(&a), vec![(300, 0), (200, 0)]);
        assert_eq!(l.campaigns[&CAMPAIGN].spent, 500);
        assert_eq!(l.groups[&GROUP].spent, 500);
    }

    #[test]
    fn the_day_cap_writes_off_the_excess_in_order() {
        let mut l = ledger(budget(1_000_000, 0, 0), 1_000, 800);
        let mut a = vec![
            action(0, ACTION_IMPRESSION, 300),
            action(1, ACTION_IMPRESSION, 300),
        ];
        charge(&mut l, &mut a);
        assert_eq!(charges(&a), vec![(200, 100), (0, 300)]);
        assert_eq!(l.groups[&GROUP].spent, 1_000);
        assert_eq!(l.campaigns[&CAMPAIGN].written_off, 400);
    }

    #[test]
    fn the_campaign_cap_counts_what_topview_committed() {
        // 1000 total, 600 spent, 300 committed to TopView: 100 left.
        let mut l = ledger(budget(1_000, 600, 300), 10_000, 0);
        let mut a = vec![action(0, ACTION_CLICK, 250)];
        charge(&mut l, &mut a);
        assert_eq!(charges(&a), vec![(100, 150)]);
        assert_eq!(l.campaigns[&CAMPAIGN].spent, 700);
    }

    #[test]
    fn a_missing_group_day_or_campaign_bills_nothing() {
        let mut l = ledger(budget(1_000_000, 0, 0), 0, 0);
        l.groups.clear();
        let mut a = vec![action(0, ACTION_IMPRESSION, 300)];
        charge(&mut l, &mut a);
        assert_eq!(charges(&a), vec![(0, 300)]);
        let mut l = Ledger::default();
        let mut a = vec![action(0, ACTION_IMPRESSION, 300)];
        charge(&mut l, &mut a);
        assert_eq!(charges(&a), vec![(0, 300)]);
        assert!(l.campaigns.is_empty(), "nothing to record it against");
    }

    #[test]
    fn unbillable_actions_are_left_alone() {
        let mut l = ledger(budget(1_000_000, 0, 0), 10_000, 0);
        let mut a = vec![Action {
            billable: false,
            ..action(0, ACTION_VIEW, 300)
        }];
        charge(&mut l, &mut a);
        assert_eq!(charges(&a), vec![(0, 0)]);
        assert_eq!(l.campaigns[&CAMPAIGN].spent, 0);
    }

    #[test]
    fn topview_moves_committed_budget_to_spend_until_delivered() {
        let mut l = ledger(budget(10_000, 0, 1_500), 0, 0);
        l.topview.insert(
            RESERVATION,
            Reservation {
                impressions: 2,
                delivered: 1,
            },
        );
        let mut a = vec![topview(0, 1_000), topview(1, 1_000)];
        charge(&mut l, &mut a);
        // The ad group's day cap does not apply; the reservation's count does.
        assert_eq!(charges(&a), vec![(1_000, 0), (0, 1_000)]);
        let c = l.campaigns[&CAMPAIGN];
        assert_eq!((c.spent, c.committed, c.written_off), (1_000, 500, 1_000));
        assert_eq!(l.topview[&RESERVATION].delivered, 2);
        assert_eq!(l.groups[&GROUP].spent, 0);
    }

    #[test]
    fn the_tally_counts_every_action_per_day_and_segment() {
        let mut billed = action(0, ACTION_IMPRESSION, 300);
        billed.charge = 300;
        let click = Action {
            billable: false,
            segment: "not a segment".into(),
            ..action(1, ACTION_CLICK, 0)
        };
        let t = tally(&[billed, click, action(2, ACTION_VIEW, 0)]);
        assert_eq!(t.daily[&(GROUP, day())], (CAMPAIGN, [1, 1, 1, 300]));
        let creative = Uuid::from_u128(4);
        assert_eq!(t.stats[&(creative, String::new())], [1, 1, 1]);
        assert_eq!(t.stats[&(creative, "2:1".to_string())], [1, 0, 1]);
        assert_eq!(t.stats.len(), 2);
        assert_eq!(tally(&[]), Tally::default());
    }

    #[test]
    fn spend_updates_report_the_final_spend_of_billed_in_feed_actions() {
        let mut l = ledger(budget(1_000_000, 0, 0), 10_000, 0);
        l.topview.insert(
            RESERVATION,
            Reservation {
                impressions: 5,
                delivered: 0,
            },
        );
        let unbilled = Action {
            billable: false,
            ..action(2, ACTION_VIEW, 0)
        };
        let mut a = vec![
            action(0, ACTION_IMPRESSION, 300),
            action(1, ACTION_IMPRESSION, 200),
            unbilled,
            topview(3, 1_000),
        ];
        charge(&mut l, &mut a);
        let u = spend_updates(&l, &a);
        assert_eq!(
            u.len(),
            2,
            "TopView and unbilled actions hold no reservation"
        );
        assert!(u.iter().all(|u| u.day == "2026-03-10"
            && u.ad_group_spent == 500
            && u.campaign_spent == 1_500
            && u.bucket == 42));
        assert_eq!(u[0].release, 300);
        assert_eq!(u[1].release, 200);
    }
}
