//! After traffic: LIVE rooms end, the ledger is reconciled, and ads
//! billing is given (bounded) time to catch up with what clients reported.

use std::time::{Duration, Instant};

use serde_json::json;

use super::client::Reply;
use super::state::{Account, Sim, today};
use super::summary;

/// What the platform says after traffic, next to what clients saw.
pub struct Settlement {
    /// The administrator's ledger reconciliation.
    pub reconcile: Reply,
    /// Distinct impressions clients reported of this run's campaigns.
    pub reported: u64,
    /// Of other campaigns (e.g. `loopctl seed`'s demo ads): not compared.
    pub other_impressions: u64,
    /// Clicks cheaters flooded this run's campaigns with.
    pub flooded: u64,
    /// This run's campaigns' reports, summed.
    pub billing: Billing,
}

/// The totals of this run's campaigns' ad reports.
#[derive(Default, Clone, Copy)]
pub struct Billing {
    pub impressions: u64,
    pub spend_cents: i64,
    pub invalid_events: u64,
    pub clicks: u64,
}

pub async fn settle(sim: &Sim, advertisers: &[Account]) -> Settlement {
    let rooms = sim.rooms.read().clone();
    for (room_id, c) in &rooms {
        sim.api
            .post(
                "POST /v1/live/{id}/end",
                &format!("/v1/live/{room_id}/end"),
                Some(&sim.creators[*c].token),
                &json!({}),
            )
            .await;
    }
    let reconcile = sim
        .api
        .get(
            "GET /v1/admin/wallet/reconcile",
            "/v1/admin/wallet/reconcile",
            &sim.admin.token,
        )
        .await;
    // Billed = delivered is checked on this run's own campaigns (fresh, so
    // exact); ads of other campaigns (e.g. `loopctl seed`'s demo ads) that
    // viewers were shown are counted but not compared.
    let (reported, other_impressions) = {
        let tally = sim.tally.lock();
        let own = summary::own_campaigns(&sim.campaigns);
        summary::split_impressions(&tally.impressions, &own)
    };
    // Billing runs behind the clients by the broker's and the consumer's
    // latency: wait (bounded) until it has caught up.
    let billing_deadline = Instant::now() + Duration::from_secs(60);
    // Floods of this run's campaigns (their reports are this run's alone).
    let flooded = {
        let own = summary::own_campaigns(&sim.campaigns);
        let tally = sim.tally.lock();
        summary::own_count(&tally.abuse.ad_clicks_flooded, &own)
    };
    let billing = loop {
        let b = billed(sim, advertisers).await;
        if (b.impressions >= reported && b.invalid_events >= flooded)
            || Instant::now() > billing_deadline
        {
            break b;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    Settlement {
        reconcile,
        reported,
        other_impressions,
        flooded,
        billing,
    }
}

/// Today's report of each of this run's campaigns, summed.
async fn billed(sim: &Sim, advertisers: &[Account]) -> Billing {
    let mut b = Billing::default();
    for (a, campaign_id, _) in &sim.campaigns {
        let r = sim
            .api
            .get(
                "GET /v1/ads/reports",
                &format!(
                    "/v1/ads/reports?campaign_id={campaign_id}&start_date={}&end_date={}",
                    today(),
                    today()
                ),
                &advertisers[*a].token,
            )
            .await;
        b.impressions += r.body["totals"]["impressions"].as_u64().unwrap_or(0);
        b.spend_cents += r.body["totals"]["spend_cents"].as_i64().unwrap_or(0);
        b.invalid_events += r.body["totals"]["invalid_events"].as_u64().unwrap_or(0);
        b.clicks += r.body["totals"]["clicks"].as_u64().unwrap_or(0);
    }
    b
}
