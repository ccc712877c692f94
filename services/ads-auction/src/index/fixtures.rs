//! Ad groups to index in tests, as they would come from Postgres.

use chrono::Utc;
use loop_proto::ads_auction::v1 as pb;
use prost::Message;
use uuid::Uuid;

use super::{CreativeEntry, Loaded};

/// A CPM in-feed ad group `i` (id `i + 1`, campaign `1_000_000 + i`, one
/// creative `10_000_000 + i`) bidding `bid` cents, started a day ago, with
/// no end, every hour, targeting `countries` (none: everywhere).
pub(super) fn loaded(i: u128, bid: i64, countries: &[&str]) -> Loaded {
    let now = Utc::now();
    Loaded {
        row: crate::model::AdGroupRow {
            id: Uuid::from_u128(i + 1),
            campaign_id: Uuid::from_u128(1_000_000 + i),
            advertiser_id: Uuid::from_u128(7),
            name: format!("g{i}"),
            format: pb::AdFormat::InFeed as i16,
            daily_budget_cents: 2000,
            bid_type: pb::BidType::Cpm as i16,
            bid_cents: bid,
            starts_at: now - chrono::Duration::days(1),
            ends_at: None,
            active_hours: Vec::new(),
            time_zone: "UTC".into(),
            targeting: pb::Targeting {
                countries: countries.iter().map(|c| (*c).to_string()).collect(),
                ..Default::default()
            }
            .encode_to_vec(),
            frequency_cap_per_day: 0,
            status: 1,
            created_at: now,
            updated_at: now,
        },
        objective: pb::CampaignObjective::Reach as i16,
        campaign_available_millicents: 5_000_000,
        campaign_spent_millicents: 0,
        creatives: vec![CreativeEntry {
            id: Uuid::from_u128(10_000_000 + i),
            video_id: Uuid::from_u128(20_000_000 + i),
            format: pb::AdFormat::InFeed as i32,
            display_name: "x".into(),
            call_to_action: 1,
            landing_url: "https://x.test".into(),
            spark_expires_at: None,
        }],
    }
}

/// `l` with its targeting replaced.
pub(super) fn targeted(mut l: Loaded, t: &pb::Targeting) -> Loaded {
    l.row.targeting = t.encode_to_vec();
    l
}
