//! Database rows and their protobuf forms.

use chrono::{DateTime, NaiveDate, Utc};
use loop_platform::time::{opt_timestamp, to_timestamp};
use loop_proto::ads_auction::v1 as pb;
use prost::Message;
use uuid::Uuid;

pub const CAMPAIGN_ACTIVE: i16 = pb::CampaignStatus::Active as i16;
pub const CAMPAIGN_PAUSED: i16 = pb::CampaignStatus::Paused as i16;
pub const GROUP_ACTIVE: i16 = pb::AdGroupStatus::Active as i16;
pub const GROUP_PAUSED: i16 = pb::AdGroupStatus::Paused as i16;
pub const CREATIVE_ACTIVE: i16 = pb::CreativeStatus::Active as i16;
pub const CREATIVE_PAUSED: i16 = pb::CreativeStatus::Paused as i16;
pub const CREATIVE_REVOKED: i16 = pb::CreativeStatus::Revoked as i16;
pub const CREATIVE_VIDEO_REMOVED: i16 = pb::CreativeStatus::VideoRemoved as i16;
pub const TV_CONFIRMED: i16 = pb::TopViewReservationStatus::Confirmed as i16;
pub const TV_CANCELLED: i16 = pb::TopViewReservationStatus::Cancelled as i16;
pub const TV_COMPLETED: i16 = pb::TopViewReservationStatus::Completed as i16;

/// Millicents -> whole cents, rounded down (reports and balances).
pub fn cents_down(millicents: i64) -> i64 {
    millicents.div_euclid(1000)
}

/// Whole cents -> millicents, saturating.
pub fn millicents(cents: i64) -> i64 {
    cents.saturating_mul(1000)
}

pub fn day_string(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CampaignRow {
    pub id: Uuid,
    pub advertiser_id: Uuid,
    pub name: String,
    pub objective: i16,
    pub total_budget_cents: i64,
    pub spent_millicents: i64,
    pub committed_millicents: i64,
    pub status: i16,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const CAMPAIGN_COLUMNS: &str = "id, advertiser_id, name, objective, total_budget_cents, spent_millicents, \
     committed_millicents, status, version, created_at, updated_at";

impl CampaignRow {
    /// What auction delivery and new bookings may still use (millicents).
    pub fn available_millicents(&self) -> i64 {
        millicents(self.total_budget_cents) - self.spent_millicents - self.committed_millicents
    }

    pub fn to_proto(&self) -> pb::Campaign {
        pb::Campaign {
            campaign_id: self.id.to_string(),
            advertiser_id: self.advertiser_id.to_string(),
            name: self.name.clone(),
            objective: i32::from(self.objective),
            total_budget_cents: self.total_budget_cents,
            spent_cents: cents_down(self.spent_millicents),
            status: i32::from(self.status),
            created_at: Some(to_timestamp(self.created_at)),
            updated_at: Some(to_timestamp(self.updated_at)),
            // Rounded up: what is committed is never under-reported.
            committed_cents: (self.committed_millicents + 999).div_euclid(1000),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AdGroupRow {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub advertiser_id: Uuid,
    pub name: String,
    pub format: i16,
    pub daily_budget_cents: i64,
    pub bid_type: i16,
    pub bid_cents: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub active_hours: Vec<i16>,
    pub time_zone: String,
    pub targeting: Vec<u8>,
    pub frequency_cap_per_day: i32,
    pub status: i16,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const AD_GROUP_COLUMNS: &str = "g.id, g.campaign_id, g.advertiser_id, g.name, g.format, g.daily_budget_cents, \
     g.bid_type, g.bid_cents, g.starts_at, g.ends_at, g.active_hours, g.time_zone, g.targeting, \
     g.frequency_cap_per_day, g.status, g.created_at, g.updated_at";

impl AdGroupRow {
    pub fn targeting(&self) -> pb::Targeting {
        pb::Targeting::decode(self.targeting.as_slice()).unwrap_or_default()
    }

    pub fn schedule(&self) -> pb::Schedule {
        pb::Schedule {
            starts_at: Some(to_timestamp(self.starts_at)),
            ends_at: opt_timestamp(self.ends_at),
            active_hours: self
                .active_hours
                .iter()
                .filter_map(|h| u32::try_from(*h).ok())
                .collect(),
            time_zone: self.time_zone.clone(),
        }
    }

    pub fn format(&self) -> pb::AdFormat {
        pb::AdFormat::try_from(i32::from(self.format)).unwrap_or(pb::AdFormat::Unspecified)
    }

    pub fn to_proto(
        &self,
        delivery: pb::DeliveryState,
        spent_today_millicents: i64,
    ) -> pb::AdGroup {
        pb::AdGroup {
            ad_group_id: self.id.to_string(),
            campaign_id: self.campaign_id.to_string(),
            advertiser_id: self.advertiser_id.to_string(),
            name: self.name.clone(),
            format: i32::from(self.format),
            daily_budget_cents: self.daily_budget_cents,
            bid_type: i32::from(self.bid_type),
            bid_cents: self.bid_cents,
            schedule: Some(self.schedule()),
            targeting: Some(self.targeting()),
            frequency_cap_per_day: u32::try_from(self.frequency_cap_per_day).unwrap_or(0),
            status: i32::from(self.status),
            delivery_state: delivery as i32,
            spent_today_cents: cents_down(spent_today_millicents),
            created_at: Some(to_timestamp(self.created_at)),
            updated_at: Some(to_timestamp(self.updated_at)),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CreativeRow {
    pub id: Uuid,
    pub ad_group_id: Uuid,
    pub campaign_id: Uuid,
    pub advertiser_id: Uuid,
    pub format: i16,
    pub video_id: Uuid,
    pub display_name: String,
    pub call_to_action: i16,
    pub landing_url: String,
    pub status: i16,
    pub spark_code: Option<String>,
    pub spark_creator_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const CREATIVE_COLUMNS: &str = "id, ad_group_id, campaign_id, advertiser_id, format, video_id, display_name, \
     call_to_action, landing_url, status, spark_code, spark_creator_id, created_at, updated_at";

impl CreativeRow {
    pub fn to_proto(&self) -> pb::Creative {
        pb::Creative {
            creative_id: self.id.to_string(),
            ad_group_id: self.ad_group_id.to_string(),
            campaign_id: self.campaign_id.to_string(),
            advertiser_id: self.advertiser_id.to_string(),
            format: i32::from(self.format),
            video_id: self.video_id.to_string(),
            display_name: self.display_name.clone(),
            call_to_action: i32::from(self.call_to_action),
            landing_url: self.landing_url.clone(),
            status: i32::from(self.status),
            spark_code: self.spark_code.clone().unwrap_or_default(),
            spark_creator_id: self
                .spark_creator_id
                .map(|c| c.to_string())
                .unwrap_or_default(),
            created_at: Some(to_timestamp(self.created_at)),
            updated_at: Some(to_timestamp(self.updated_at)),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SparkCodeRow {
    pub code: String,
    pub video_id: Uuid,
    pub creator_id: Uuid,
    pub creator_handle: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub const SPARK_COLUMNS: &str =
    "code, video_id, creator_id, creator_handle, revoked_at, created_at, expires_at";

impl SparkCodeRow {
    pub fn status(&self, now: DateTime<Utc>) -> pb::SparkCodeStatus {
        if self.revoked_at.is_some() {
            pb::SparkCodeStatus::Revoked
        } else if self.expires_at <= now {
            pb::SparkCodeStatus::Expired
        } else {
            pb::SparkCodeStatus::Active
        }
    }

    pub fn to_proto(&self) -> pb::SparkCode {
        pb::SparkCode {
            code: self.code.clone(),
            video_id: self.video_id.to_string(),
            creator_id: self.creator_id.to_string(),
            status: self.status(Utc::now()) as i32,
            created_at: Some(to_timestamp(self.created_at)),
            expires_at: Some(to_timestamp(self.expires_at)),
            revoked_at: opt_timestamp(self.revoked_at),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TopViewRow {
    pub id: Uuid,
    pub advertiser_id: Uuid,
    pub campaign_id: Uuid,
    pub ad_group_id: Uuid,
    pub creative_id: Uuid,
    pub day: NaiveDate,
    pub impressions: i64,
    pub cpm_cents: i64,
    pub total_price_cents: i64,
    pub delivered: i64,
    pub status: i16,
    pub created_at: DateTime<Utc>,
}

pub const TOPVIEW_COLUMNS: &str = "id, advertiser_id, campaign_id, ad_group_id, creative_id, day, impressions, \
     cpm_cents, total_price_cents, delivered, status, created_at";

impl TopViewRow {
    pub fn to_proto(&self) -> pb::TopViewReservation {
        let today = Utc::now().date_naive();
        let status = if self.status == TV_CONFIRMED && self.day < today {
            TV_COMPLETED
        } else {
            self.status
        };
        pb::TopViewReservation {
            reservation_id: self.id.to_string(),
            advertiser_id: self.advertiser_id.to_string(),
            campaign_id: self.campaign_id.to_string(),
            ad_group_id: self.ad_group_id.to_string(),
            creative_id: self.creative_id.to_string(),
            date: day_string(self.day),
            impressions: u64::try_from(self.impressions).unwrap_or(0),
            cpm_cents: self.cpm_cents,
            total_price_cents: self.total_price_cents,
            delivered_impressions: u64::try_from(self.delivered).unwrap_or(0),
            status: i32::from(status),
            created_at: Some(to_timestamp(self.created_at)),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BrandedChallengeRow {
    pub id: Uuid,
    pub challenge_id: Uuid,
    pub advertiser_id: Uuid,
    pub campaign_id: Uuid,
    pub hashtag: String,
    pub description: String,
    pub banner_url: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub countries: Vec<String>,
    pub fee_cents: i64,
    pub created_at: DateTime<Utc>,
}

pub const CHALLENGE_COLUMNS: &str = "id, challenge_id, advertiser_id, campaign_id, hashtag, description, banner_url, \
     starts_at, ends_at, countries, fee_cents, created_at";

impl BrandedChallengeRow {
    pub fn to_proto(&self) -> pb::BrandedChallenge {
        let now = Utc::now();
        let status = if now < self.starts_at {
            pb::BrandedChallengeStatus::Scheduled
        } else if now < self.ends_at {
            pb::BrandedChallengeStatus::Active
        } else {
            pb::BrandedChallengeStatus::Ended
        };
        pb::BrandedChallenge {
            branded_challenge_id: self.id.to_string(),
            challenge_id: self.challenge_id.to_string(),
            advertiser_id: self.advertiser_id.to_string(),
            campaign_id: self.campaign_id.to_string(),
            hashtag: self.hashtag.clone(),
            description: self.description.clone(),
            banner_url: self.banner_url.clone(),
            starts_at: Some(to_timestamp(self.starts_at)),
            ends_at: Some(to_timestamp(self.ends_at)),
            countries: self.countries.clone(),
            fee_cents: self.fee_cents,
            status: status as i32,
            created_at: Some(to_timestamp(self.created_at)),
        }
    }
}
