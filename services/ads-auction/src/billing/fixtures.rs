//! Actions to bill in tests, as a verified token would make them.

use chrono::{TimeZone, Utc};
use uuid::Uuid;

use super::Action;

pub(super) const GROUP: Uuid = Uuid::from_u128(1);
pub(super) const CAMPAIGN: Uuid = Uuid::from_u128(2);

/// Action `n` (its own billing, impression and event ids) of `action` on
/// creative 4 of [`GROUP`] in [`CAMPAIGN`], billable at `price` and holding
/// that much reservation, in segment "2:1", at 23:00 UTC on 2026-03-10.
pub(super) fn action(n: u128, action: i16, price: i64) -> Action {
    Action {
        billing_id: Uuid::from_u128(100 + n),
        impression_id: Uuid::from_u128(200 + n),
        action,
        source_event_id: Uuid::from_u128(300 + n),
        creative_id: Uuid::from_u128(4),
        ad_group_id: GROUP,
        campaign_id: CAMPAIGN,
        advertiser_id: Uuid::from_u128(5),
        user_id: Uuid::from_u128(6),
        reservation_id: None,
        bid_type: 1,
        topview: false,
        billable: true,
        price,
        reserved: price,
        bucket: 42,
        segment: "2:1".into(),
        occurred_at: Utc
            .with_ymd_and_hms(2026, 3, 10, 23, 0, 0)
            .single()
            .expect("a valid instant"),
        charge: 0,
        written_off: 0,
        watched_ms: 0,
    }
}
