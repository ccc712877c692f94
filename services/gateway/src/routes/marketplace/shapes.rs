//! The marketplace shapes (DTOs) and their proto mappings.

use super::*;

// --- shapes ------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AudienceShareDto)] // `ShareDto` is a video's share count
pub struct ShareDto {
    /// Age band (`18_24`), gender (`female`), country (`US`), category or hashtag.
    pub key: String,
    /// Fraction in [0, 1].
    pub share: f64,
}

pub(crate) fn shares(v: Vec<pb::Share>, prefix: &str) -> Vec<ShareDto> {
    v.into_iter()
        .map(|s| ShareDto {
            key: if prefix.is_empty() {
                s.key
            } else {
                enum_to_str(&s.key, prefix)
            },
            share: s.share,
        })
        .collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationDto {
    pub application_id: String,
    pub creator_id: String,
    pub categories: Vec<String>,
    pub rate_cents: i64,
    pub pitch: String,
    /// pending, approved or rejected.
    pub status: String,
    pub followers_at_application: u64,
    pub rejection_reason: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Rejected only: when the creator may apply again.
    pub reapply_after: Option<DateTime<Utc>>,
}

impl From<pb::CreatorApplication> for ApplicationDto {
    fn from(a: pb::CreatorApplication) -> Self {
        Self {
            status: enum_to_str(a.status().as_str_name(), "APPLICATION_STATUS_"),
            application_id: a.application_id,
            creator_id: a.creator_id,
            categories: a.categories,
            rate_cents: a.rate_cents,
            pitch: a.pitch,
            followers_at_application: a.followers_at_application,
            rejection_reason: opt(a.rejection_reason),
            created_at: ts(a.created_at),
            reviewed_at: ts(a.reviewed_at),
            reapply_after: ts(a.reapply_after),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarketProfileDto {
    pub creator_id: String,
    pub categories: Vec<String>,
    /// Brand categories accepted; empty means any.
    pub accepted_categories: Vec<String>,
    pub rate_cents: i64,
    pub pitch: String,
    pub open_to_offers: bool,
    pub listed: bool,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<pb::CreatorProfile> for MarketProfileDto {
    fn from(p: pb::CreatorProfile) -> Self {
        Self {
            creator_id: p.creator_id,
            categories: p.categories,
            accepted_categories: p.accepted_categories,
            rate_cents: p.rate_cents,
            pitch: p.pitch,
            open_to_offers: p.open_to_offers,
            listed: p.listed,
            updated_at: ts(p.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyticsDto {
    pub creator_id: String,
    pub followers: u64,
    pub avg_views_30d: u64,
    /// (likes + comments + shares) / views over the last 30 days.
    pub engagement_rate: f64,
    pub videos_30d: u32,
    pub audience_age_bands: Vec<ShareDto>,
    pub audience_genders: Vec<ShareDto>,
    pub audience_countries: Vec<ShareDto>,
    pub top_categories: Vec<ShareDto>,
    pub top_hashtags: Vec<ShareDto>,
    pub gifts_received_diamonds_30d: i64,
    pub computed_at: Option<DateTime<Utc>>,
    /// Shop (docs/commerce.md): what buyers paid, net of refunds, for orders
    /// attributed to the creator in the last 30 days (cents).
    pub shop_gmv_cents_30d: i64,
    /// Attributed orders (neither cancelled nor fully refunded), 30 days.
    pub shop_orders_30d: u64,
    /// Buyers' visits to products from the creator's showcase, videos or LIVE, 30 days.
    pub shop_referral_visits_30d: u64,
    /// shop_orders_30d / shop_referral_visits_30d, in [0, 1].
    pub shop_conversion_rate_30d: f64,
}

impl From<pb::CreatorAnalytics> for AnalyticsDto {
    fn from(a: pb::CreatorAnalytics) -> Self {
        Self {
            creator_id: a.creator_id,
            followers: a.followers,
            avg_views_30d: a.avg_views_30d,
            engagement_rate: a.engagement_rate,
            videos_30d: a.videos_30d,
            audience_age_bands: shares(a.audience_age_bands, "AGE_BAND_"),
            audience_genders: shares(a.audience_genders, "GENDER_"),
            audience_countries: shares(a.audience_countries, ""),
            top_categories: shares(a.top_categories, ""),
            top_hashtags: shares(a.top_hashtags, ""),
            gifts_received_diamonds_30d: a.gifts_received_diamonds_30d,
            computed_at: ts(a.computed_at),
            shop_gmv_cents_30d: a.shop_gmv_cents_30d,
            shop_orders_30d: a.shop_orders_30d,
            shop_referral_visits_30d: a.shop_referral_visits_30d,
            shop_conversion_rate_30d: a.shop_conversion_rate_30d,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatorResultDto {
    pub creator_id: String,
    pub country: String,
    pub categories: Vec<String>,
    pub rate_cents: i64,
    pub followers: u64,
    pub avg_views_30d: u64,
    pub engagement_rate: f64,
    pub top_audience_countries: Vec<ShareDto>,
    pub shop_gmv_cents_30d: i64,
    pub shop_conversion_rate_30d: f64,
}

impl From<pb::CreatorSearchResult> for CreatorResultDto {
    fn from(r: pb::CreatorSearchResult) -> Self {
        Self {
            creator_id: r.creator_id,
            country: r.country,
            categories: r.categories,
            rate_cents: r.rate_cents,
            followers: r.followers,
            avg_views_30d: r.avg_views_30d,
            engagement_rate: r.engagement_rate,
            top_audience_countries: shares(r.top_audience_countries, ""),
            shop_gmv_cents_30d: r.shop_gmv_cents_30d,
            shop_conversion_rate_30d: r.shop_conversion_rate_30d,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarketCampaignDto {
    pub campaign_id: String,
    pub advertiser_id: String,
    pub title: String,
    pub brief: String,
    pub video_count: u32,
    pub required_hashtag: String,
    pub budget_per_creator_cents: i64,
    pub max_creators: u32,
    pub deadline: Option<DateTime<Utc>>,
    /// invite_only or public.
    pub visibility: String,
    /// draft, published or closed.
    pub status: String,
    pub accepted_creators: u32,
    pub created_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
}

impl From<pb::Campaign> for MarketCampaignDto {
    fn from(c: pb::Campaign) -> Self {
        let d = c.deliverables.clone().unwrap_or_default();
        Self {
            visibility: enum_to_str(c.visibility().as_str_name(), "CAMPAIGN_VISIBILITY_"),
            status: enum_to_str(c.status().as_str_name(), "CAMPAIGN_STATUS_"),
            campaign_id: c.campaign_id,
            advertiser_id: c.advertiser_id,
            title: c.title,
            brief: c.brief,
            video_count: d.video_count,
            required_hashtag: d.required_hashtag,
            budget_per_creator_cents: c.budget_per_creator_cents,
            max_creators: c.max_creators,
            deadline: ts(c.deadline),
            accepted_creators: c.accepted_creators,
            created_at: ts(c.created_at),
            published_at: ts(c.published_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CollaborationDto {
    pub collaboration_id: String,
    pub campaign_id: String,
    pub advertiser_id: String,
    pub creator_id: String,
    /// invited, applied, accepted, declined, submitted, changes_requested,
    /// approved, paid or expired_refunded.
    pub state: String,
    pub pitch: String,
    pub escrow_id: Option<String>,
    pub video_ids: Vec<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub change_request_note: Option<String>,
    pub paid_cents: i64,
    pub platform_fee_cents: i64,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<pb::Collaboration> for CollaborationDto {
    fn from(c: pb::Collaboration) -> Self {
        Self {
            state: enum_to_str(c.state().as_str_name(), "COLLABORATION_STATE_"),
            collaboration_id: c.collaboration_id,
            campaign_id: c.campaign_id,
            advertiser_id: c.advertiser_id,
            creator_id: c.creator_id,
            pitch: c.pitch,
            escrow_id: opt(c.escrow_id),
            video_ids: c.video_ids,
            submitted_at: ts(c.submitted_at),
            change_request_note: opt(c.change_request_note),
            paid_cents: c.paid_cents,
            platform_fee_cents: c.platform_fee_cents,
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ThreadMessageDto {
    pub message_id: String,
    pub collaboration_id: String,
    pub sender_id: String,
    pub body: String,
    pub created_at: Option<DateTime<Utc>>,
}

impl From<pb::ThreadMessage> for ThreadMessageDto {
    fn from(m: pb::ThreadMessage) -> Self {
        Self {
            message_id: m.message_id,
            collaboration_id: m.collaboration_id,
            sender_id: m.sender_id,
            body: m.body,
            created_at: ts(m.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SponsoredVideoDto {
    pub video_id: String,
    pub creator_id: String,
    pub collaboration_id: String,
    pub views: u64,
    pub likes: u64,
    pub comments: u64,
    pub shares: u64,
    pub engagement_rate: f64,
    pub published_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignReportDto {
    pub videos: Vec<SponsoredVideoDto>,
    pub total_views: u64,
    pub total_likes: u64,
    pub total_comments: u64,
    pub total_shares: u64,
    pub engagement_rate: f64,
    pub audience_age_bands: Vec<ShareDto>,
    pub audience_genders: Vec<ShareDto>,
    pub audience_countries: Vec<ShareDto>,
    pub paid_to_creators_cents: i64,
    pub platform_fees_cents: i64,
    pub computed_at: Option<DateTime<Utc>>,
}

impl From<pb::GetCampaignReportResponse> for CampaignReportDto {
    fn from(r: pb::GetCampaignReportResponse) -> Self {
        Self {
            videos: r
                .videos
                .into_iter()
                .map(|v| SponsoredVideoDto {
                    video_id: v.video_id,
                    creator_id: v.creator_id,
                    collaboration_id: v.collaboration_id,
                    views: v.views,
                    likes: v.likes,
                    comments: v.comments,
                    shares: v.shares,
                    engagement_rate: v.engagement_rate,
                    published_at: ts(v.published_at),
                })
                .collect(),
            total_views: r.total_views,
            total_likes: r.total_likes,
            total_comments: r.total_comments,
            total_shares: r.total_shares,
            engagement_rate: r.engagement_rate,
            audience_age_bands: shares(r.audience_age_bands, "AGE_BAND_"),
            audience_genders: shares(r.audience_genders, "GENDER_"),
            audience_countries: shares(r.audience_countries, ""),
            paid_to_creators_cents: r.paid_to_creators_cents,
            platform_fees_cents: r.platform_fees_cents,
            computed_at: ts(r.computed_at),
        }
    }
}
