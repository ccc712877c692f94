//! Rows and their proto shapes.

use chrono::{DateTime, Utc};
use loop_platform::time::{opt_timestamp, to_timestamp};
use loop_proto::creator_marketplace::v1 as pb;
use uuid::Uuid;

pub const PENDING: i16 = pb::ApplicationStatus::Pending as i16;
pub const APPROVED: i16 = pb::ApplicationStatus::Approved as i16;
pub const REJECTED: i16 = pb::ApplicationStatus::Rejected as i16;

pub const DRAFT: i16 = pb::CampaignStatus::Draft as i16;
pub const PUBLISHED: i16 = pb::CampaignStatus::Published as i16;
pub const CLOSED: i16 = pb::CampaignStatus::Closed as i16;

pub const INVITE_ONLY: i16 = pb::CampaignVisibility::InviteOnly as i16;
pub const PUBLIC: i16 = pb::CampaignVisibility::Public as i16;

pub mod state {
    use loop_proto::creator_marketplace::v1::CollaborationState as S;
    pub const INVITED: i16 = S::Invited as i16;
    pub const APPLIED: i16 = S::Applied as i16;
    pub const ACCEPTED: i16 = S::Accepted as i16;
    pub const DECLINED: i16 = S::Declined as i16;
    pub const SUBMITTED: i16 = S::Submitted as i16;
    pub const CHANGES_REQUESTED: i16 = S::ChangesRequested as i16;
    pub const APPROVED: i16 = S::Approved as i16;
    pub const PAID: i16 = S::Paid as i16;
    pub const EXPIRED_REFUNDED: i16 = S::ExpiredRefunded as i16;

    pub fn name(s: i16) -> &'static str {
        S::try_from(i32::from(s)).map_or("UNKNOWN", |s| {
            s.as_str_name().trim_start_matches("COLLABORATION_STATE_")
        })
    }
}

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct ApplicationRow {
    pub application_id: Uuid,
    pub creator_id: Uuid,
    pub categories: Vec<String>,
    pub rate_cents: i64,
    pub pitch: String,
    pub status: i16,
    pub followers_at_application: i64,
    pub rejection_reason: String,
    pub created_at: DateTime<Utc>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub reapply_after: Option<DateTime<Utc>>,
}

pub const APPLICATION_COLUMNS: &str = "application_id, creator_id, categories, rate_cents, pitch, status, followers_at_application, rejection_reason, created_at, reviewed_at, reapply_after";

impl ApplicationRow {
    pub fn to_proto(&self) -> pb::CreatorApplication {
        pb::CreatorApplication {
            application_id: self.application_id.to_string(),
            creator_id: self.creator_id.to_string(),
            categories: self.categories.clone(),
            rate_cents: self.rate_cents,
            pitch: self.pitch.clone(),
            status: i32::from(self.status),
            followers_at_application: u64::try_from(self.followers_at_application).unwrap_or(0),
            rejection_reason: self.rejection_reason.clone(),
            created_at: Some(to_timestamp(self.created_at)),
            reviewed_at: opt_timestamp(self.reviewed_at),
            reapply_after: opt_timestamp(self.reapply_after),
        }
    }
}

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct ProfileRow {
    pub creator_id: Uuid,
    pub listed: bool,
    pub open_to_offers: bool,
    pub categories: Vec<String>,
    pub accepted_categories: Vec<String>,
    pub rate_cents: i64,
    pub pitch: String,
    pub profile_updated_at: DateTime<Utc>,
}

pub const PROFILE_COLUMNS: &str = "creator_id, listed, open_to_offers, categories, accepted_categories, rate_cents, pitch, profile_updated_at";

impl ProfileRow {
    pub fn to_proto(&self) -> pb::CreatorProfile {
        pb::CreatorProfile {
            creator_id: self.creator_id.to_string(),
            categories: self.categories.clone(),
            accepted_categories: self.accepted_categories.clone(),
            rate_cents: self.rate_cents,
            pitch: self.pitch.clone(),
            open_to_offers: self.open_to_offers,
            listed: self.listed,
            updated_at: Some(to_timestamp(self.profile_updated_at)),
        }
    }
}

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct CampaignRow {
    pub campaign_id: Uuid,
    pub advertiser_id: Uuid,
    pub title: String,
    pub brief: String,
    pub video_count: i32,
    pub required_hashtag: String,
    pub budget_per_creator_cents: i64,
    pub max_creators: i32,
    pub deadline: DateTime<Utc>,
    pub visibility: i16,
    pub status: i16,
    pub accepted_creators: i32,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

pub const CAMPAIGN_COLUMNS: &str = "campaign_id, advertiser_id, title, brief, video_count, required_hashtag, budget_per_creator_cents, max_creators, deadline, visibility, status, accepted_creators, created_at, published_at";

impl CampaignRow {
    /// PUBLISHED campaigns past their deadline read as CLOSED (the sweeper
    /// stores it later).
    pub fn effective_status(&self, now: DateTime<Utc>) -> i16 {
        if self.status == PUBLISHED && self.deadline <= now {
            CLOSED
        } else {
            self.status
        }
    }

    pub fn to_proto(&self) -> pb::Campaign {
        pb::Campaign {
            campaign_id: self.campaign_id.to_string(),
            advertiser_id: self.advertiser_id.to_string(),
            title: self.title.clone(),
            brief: self.brief.clone(),
            deliverables: Some(pb::Deliverables {
                video_count: u32::try_from(self.video_count).unwrap_or(0),
                required_hashtag: self.required_hashtag.clone(),
            }),
            budget_per_creator_cents: self.budget_per_creator_cents,
            max_creators: u32::try_from(self.max_creators).unwrap_or(0),
            deadline: Some(to_timestamp(self.deadline)),
            visibility: i32::from(self.visibility),
            status: i32::from(self.effective_status(Utc::now())),
            accepted_creators: u32::try_from(self.accepted_creators).unwrap_or(0),
            created_at: Some(to_timestamp(self.created_at)),
            published_at: opt_timestamp(self.published_at),
        }
    }
}

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct CollabRow {
    pub collaboration_id: Uuid,
    pub campaign_id: Uuid,
    pub advertiser_id: Uuid,
    pub creator_id: Uuid,
    pub state: i16,
    pub pitch: String,
    pub escrow_id: Option<Uuid>,
    pub amount_cents: i64,
    pub video_ids: Vec<Uuid>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub change_request_note: String,
    pub paid_cents: i64,
    pub platform_fee_cents: i64,
    pub accepted_at: Option<DateTime<Utc>>,
    pub deadline: DateTime<Utc>,
    pub accept_key: Option<String>,
    pub approve_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const COLLAB_COLUMNS: &str = "collaboration_id, campaign_id, advertiser_id, creator_id, state, pitch, escrow_id, amount_cents, video_ids, submitted_at, change_request_note, paid_cents, platform_fee_cents, accepted_at, deadline, accept_key, approve_key, created_at, updated_at";

impl CollabRow {
    pub fn to_proto(&self) -> pb::Collaboration {
        pb::Collaboration {
            collaboration_id: self.collaboration_id.to_string(),
            campaign_id: self.campaign_id.to_string(),
            advertiser_id: self.advertiser_id.to_string(),
            creator_id: self.creator_id.to_string(),
            state: i32::from(self.state),
            pitch: self.pitch.clone(),
            escrow_id: self.escrow_id.map(|e| e.to_string()).unwrap_or_default(),
            video_ids: self.video_ids.iter().map(Uuid::to_string).collect(),
            submitted_at: opt_timestamp(self.submitted_at),
            change_request_note: self.change_request_note.clone(),
            paid_cents: self.paid_cents,
            platform_fee_cents: self.platform_fee_cents,
            created_at: Some(to_timestamp(self.created_at)),
            updated_at: Some(to_timestamp(self.updated_at)),
        }
    }

    pub fn is_party(&self, user: &str) -> bool {
        self.advertiser_id.to_string() == user || self.creator_id.to_string() == user
    }
}

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct MessageRow {
    pub message_id: Uuid,
    pub collaboration_id: Uuid,
    pub sender_id: Uuid,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl MessageRow {
    pub fn to_proto(&self) -> pb::ThreadMessage {
        pb::ThreadMessage {
            message_id: self.message_id.to_string(),
            collaboration_id: self.collaboration_id.to_string(),
            sender_id: self.sender_id.to_string(),
            body: self.body.clone(),
            created_at: Some(to_timestamp(self.created_at)),
        }
    }
}

/// Decodes a page token, naming the contract's field (`page.page_token`).
pub fn page_token<T: serde::de::DeserializeOwned>(
    token: &str,
) -> Result<Option<T>, crate::error::MktError> {
    loop_platform::pagination::decode(token).map_err(|_| {
        crate::error::MktError::invalid("page.page_token", "is not a token this API issued")
    })
}
