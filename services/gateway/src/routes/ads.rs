//! Ads (served by ads-auction): campaigns, ad groups and creatives
//! (advertisers), TopView reservations, Branded Hashtag Challenges, Spark
//! codes (creators) and Spark Ads, reports, and the ops view of delivery.
//! Roles and ownership are checked by ads-auction from the forwarded token.
//! Enums travel as lower-case strings without their proto prefix
//! (`in_feed`, `cpm`, `18_24`), field errors keep the contract's paths
//! (`targeting.countries[2]`).

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use http::StatusCode;
use loop_platform::time::to_timestamp;
use loop_proto::ads_auction::v1 as pb;
use loop_proto::common::v1 as common;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::dto::{Page, PageQuery, enum_from_str, enum_to_str, opt, ts};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, AuthUser};

fn parse_enum(
    field: &str,
    value: &str,
    prefix: &str,
    parse: fn(&str) -> Option<i32>,
    allowed: &[&str],
) -> ApiResult<i32> {
    enum_from_str(field, value, prefix, parse, allowed)
}

fn parse_list(
    field: &str,
    values: &[String],
    prefix: &str,
    parse: fn(&str) -> Option<i32>,
    allowed: &[&str],
) -> ApiResult<Vec<i32>> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let n = enum_from_str(&format!("{field}[{i}]"), v, prefix, parse, allowed)?;
            if n == 0 {
                return Err(ApiError::invalid(
                    format!("{field}[{i}]"),
                    format!("must be one of: {}", allowed.join(", ")),
                ));
            }
            Ok(n)
        })
        .collect()
}

const OBJECTIVES: &[&str] = &["reach", "traffic", "video_views", "conversions"];
const FORMATS: &[&str] = &["in_feed", "topview", "spark"];
const BID_TYPES: &[&str] = &["cpm", "cpc", "cpv", "ocpm"];
const CTAS: &[&str] = &[
    "learn_more",
    "shop_now",
    "sign_up",
    "download",
    "watch_more",
    "book_now",
    "contact_us",
];
const AGE_BANDS: &[&str] = &["13_17", "18_24", "25_34", "35_44", "45_54", "55_plus"];
const GENDERS: &[&str] = &["female", "male", "non_binary", "undisclosed"];
const DEVICES: &[&str] = &["ios", "android", "web"];
const BEHAVIORS: &[&str] = &["engaged_with_category", "engaged_with_hashtag"];

fn cta(field: &str, value: &str) -> ApiResult<i32> {
    parse_enum(
        field,
        value,
        "CALL_TO_ACTION_",
        |s| pb::CallToAction::from_str_name(s).map(|v| v as i32),
        CTAS,
    )
}

// --- shapes ------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignDto {
    pub campaign_id: String,
    pub advertiser_id: String,
    pub name: String,
    /// reach, traffic, video_views or conversions.
    pub objective: String,
    pub total_budget_cents: i64,
    pub spent_cents: i64,
    /// Booked TopView not yet delivered.
    pub committed_cents: i64,
    /// active or paused.
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<pb::Campaign> for CampaignDto {
    fn from(c: pb::Campaign) -> Self {
        Self {
            objective: enum_to_str(c.objective().as_str_name(), "CAMPAIGN_OBJECTIVE_"),
            status: enum_to_str(c.status().as_str_name(), "CAMPAIGN_STATUS_"),
            campaign_id: c.campaign_id,
            advertiser_id: c.advertiser_id,
            name: c.name,
            total_budget_cents: c.total_budget_cents,
            spent_cents: c.spent_cents,
            committed_cents: c.committed_cents,
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDto {
    pub starts_at: DateTime<Utc>,
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Hours 0..23 (in time_zone) when the ad group delivers; empty = all day.
    #[serde(default)]
    pub active_hours: Vec<u32>,
    /// IANA zone, default UTC.
    #[serde(default)]
    pub time_zone: String,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BehaviorDto {
    /// engaged_with_category or engaged_with_hashtag.
    pub kind: String,
    pub value: String,
    /// 1..7 (default 7).
    #[serde(default)]
    pub lookback_days: u32,
}

/// Each list is an allow-list; empty means no restriction.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetingDto {
    /// 13_17, 18_24, 25_34, 35_44, 45_54, 55_plus.
    #[serde(default)]
    pub age_bands: Vec<String>,
    /// female, male, non_binary, undisclosed.
    #[serde(default)]
    pub genders: Vec<String>,
    /// ISO 3166-1 alpha-2.
    #[serde(default)]
    pub countries: Vec<String>,
    /// Primary language subtags ("en").
    #[serde(default)]
    pub languages: Vec<String>,
    /// ios, android, web.
    #[serde(default)]
    pub device_os: Vec<String>,
    #[serde(default)]
    pub interest_categories: Vec<String>,
    #[serde(default)]
    pub behaviors: Vec<BehaviorDto>,
}

impl TargetingDto {
    fn to_proto(&self) -> ApiResult<pb::Targeting> {
        Ok(pb::Targeting {
            age_bands: parse_list(
                "targeting.age_bands",
                &self.age_bands,
                "AGE_BAND_",
                |s| common::AgeBand::from_str_name(s).map(|v| v as i32),
                AGE_BANDS,
            )?,
            genders: parse_list(
                "targeting.genders",
                &self.genders,
                "GENDER_",
                |s| common::Gender::from_str_name(s).map(|v| v as i32),
                GENDERS,
            )?,
            countries: self.countries.clone(),
            languages: self.languages.clone(),
            device_os: parse_list(
                "targeting.device_os",
                &self.device_os,
                "DEVICE_OS_",
                |s| common::DeviceOs::from_str_name(s).map(|v| v as i32),
                DEVICES,
            )?,
            interest_categories: self.interest_categories.clone(),
            behaviors: self
                .behaviors
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    Ok(pb::Behavior {
                        kind: parse_enum(
                            &format!("targeting.behaviors[{i}].kind"),
                            &b.kind,
                            "BEHAVIOR_KIND_",
                            |s| pb::BehaviorKind::from_str_name(s).map(|v| v as i32),
                            BEHAVIORS,
                        )?,
                        value: b.value.clone(),
                        lookback_days: b.lookback_days,
                    })
                })
                .collect::<ApiResult<_>>()?,
        })
    }

    fn from_proto(t: pb::Targeting) -> Self {
        let names = |values: &[i32], f: fn(i32) -> String| values.iter().map(|v| f(*v)).collect();
        Self {
            age_bands: names(&t.age_bands, |v| {
                common::AgeBand::try_from(v)
                    .map(|e| enum_to_str(e.as_str_name(), "AGE_BAND_"))
                    .unwrap_or_default()
            }),
            genders: names(&t.genders, |v| {
                common::Gender::try_from(v)
                    .map(|e| enum_to_str(e.as_str_name(), "GENDER_"))
                    .unwrap_or_default()
            }),
            countries: t.countries,
            languages: t.languages,
            device_os: names(&t.device_os, |v| {
                common::DeviceOs::try_from(v)
                    .map(|e| enum_to_str(e.as_str_name(), "DEVICE_OS_"))
                    .unwrap_or_default()
            }),
            interest_categories: t.interest_categories,
            behaviors: t
                .behaviors
                .into_iter()
                .map(|b| BehaviorDto {
                    kind: enum_to_str(b.kind().as_str_name(), "BEHAVIOR_KIND_"),
                    value: b.value,
                    lookback_days: b.lookback_days,
                })
                .collect(),
        }
    }
}

impl ScheduleDto {
    fn to_proto(&self) -> pb::Schedule {
        pb::Schedule {
            starts_at: Some(to_timestamp(self.starts_at)),
            ends_at: self.ends_at.map(to_timestamp),
            active_hours: self.active_hours.clone(),
            time_zone: self.time_zone.clone(),
        }
    }

    fn from_proto(s: pb::Schedule) -> Option<Self> {
        Some(Self {
            starts_at: ts(s.starts_at)?,
            ends_at: ts(s.ends_at),
            active_hours: s.active_hours,
            time_zone: s.time_zone,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdGroupDto {
    pub ad_group_id: String,
    pub campaign_id: String,
    pub advertiser_id: String,
    pub name: String,
    /// in_feed, topview or spark.
    pub format: String,
    pub daily_budget_cents: i64,
    /// cpm, cpc, cpv or ocpm; absent for topview.
    pub bid_type: Option<String>,
    pub bid_cents: i64,
    pub schedule: Option<ScheduleDto>,
    pub targeting: TargetingDto,
    pub frequency_cap_per_day: u32,
    /// active or paused.
    pub status: String,
    /// delivering, paused, campaign_paused, not_started, ended, outside_hours,
    /// daily_budget_exhausted, campaign_budget_exhausted, no_active_creative, no_reservation.
    pub delivery_state: String,
    pub spent_today_cents: i64,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<pb::AdGroup> for AdGroupDto {
    fn from(g: pb::AdGroup) -> Self {
        Self {
            format: enum_to_str(g.format().as_str_name(), "AD_FORMAT_"),
            bid_type: (g.bid_type() != pb::BidType::Unspecified)
                .then(|| enum_to_str(g.bid_type().as_str_name(), "BID_TYPE_")),
            status: enum_to_str(g.status().as_str_name(), "AD_GROUP_STATUS_"),
            delivery_state: enum_to_str(g.delivery_state().as_str_name(), "DELIVERY_STATE_"),
            ad_group_id: g.ad_group_id,
            campaign_id: g.campaign_id,
            advertiser_id: g.advertiser_id,
            name: g.name,
            daily_budget_cents: g.daily_budget_cents,
            bid_cents: g.bid_cents,
            schedule: g.schedule.and_then(ScheduleDto::from_proto),
            targeting: TargetingDto::from_proto(g.targeting.unwrap_or_default()),
            frequency_cap_per_day: g.frequency_cap_per_day,
            spent_today_cents: g.spent_today_cents,
            created_at: ts(g.created_at),
            updated_at: ts(g.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreativeDto {
    pub creative_id: String,
    pub ad_group_id: String,
    pub campaign_id: String,
    pub advertiser_id: String,
    pub format: String,
    pub video_id: String,
    pub display_name: String,
    pub call_to_action: String,
    pub landing_url: String,
    /// active, paused, revoked or video_removed.
    pub status: String,
    pub spark_code: Option<String>,
    pub spark_creator_id: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<pb::Creative> for CreativeDto {
    fn from(c: pb::Creative) -> Self {
        Self {
            format: enum_to_str(c.format().as_str_name(), "AD_FORMAT_"),
            call_to_action: enum_to_str(c.call_to_action().as_str_name(), "CALL_TO_ACTION_"),
            status: enum_to_str(c.status().as_str_name(), "CREATIVE_STATUS_"),
            creative_id: c.creative_id,
            ad_group_id: c.ad_group_id,
            campaign_id: c.campaign_id,
            advertiser_id: c.advertiser_id,
            video_id: c.video_id,
            display_name: c.display_name,
            landing_url: c.landing_url,
            spark_code: opt(c.spark_code),
            spark_creator_id: opt(c.spark_creator_id),
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopViewReservationDto {
    pub reservation_id: String,
    pub advertiser_id: String,
    pub campaign_id: String,
    pub ad_group_id: String,
    pub creative_id: String,
    /// UTC day.
    pub date: String,
    pub impressions: u64,
    pub cpm_cents: i64,
    pub total_price_cents: i64,
    pub delivered_impressions: u64,
    /// confirmed, cancelled or completed.
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
}

impl From<pb::TopViewReservation> for TopViewReservationDto {
    fn from(r: pb::TopViewReservation) -> Self {
        Self {
            status: enum_to_str(r.status().as_str_name(), "TOP_VIEW_RESERVATION_STATUS_"),
            reservation_id: r.reservation_id,
            advertiser_id: r.advertiser_id,
            campaign_id: r.campaign_id,
            ad_group_id: r.ad_group_id,
            creative_id: r.creative_id,
            date: r.date,
            impressions: r.impressions,
            cpm_cents: r.cpm_cents,
            total_price_cents: r.total_price_cents,
            delivered_impressions: r.delivered_impressions,
            created_at: ts(r.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BrandedChallengeDto {
    pub branded_challenge_id: String,
    pub challenge_id: String,
    pub advertiser_id: String,
    pub campaign_id: String,
    pub hashtag: String,
    pub description: String,
    pub banner_url: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub countries: Vec<String>,
    pub fee_cents: i64,
    /// scheduled, active or ended.
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
}

impl From<pb::BrandedChallenge> for BrandedChallengeDto {
    fn from(c: pb::BrandedChallenge) -> Self {
        Self {
            status: enum_to_str(c.status().as_str_name(), "BRANDED_CHALLENGE_STATUS_"),
            branded_challenge_id: c.branded_challenge_id,
            challenge_id: c.challenge_id,
            advertiser_id: c.advertiser_id,
            campaign_id: c.campaign_id,
            hashtag: c.hashtag,
            description: c.description,
            banner_url: opt(c.banner_url),
            starts_at: ts(c.starts_at),
            ends_at: ts(c.ends_at),
            countries: c.countries,
            fee_cents: c.fee_cents,
            created_at: ts(c.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SparkCodeDto {
    /// Hand it to the advertiser who will boost your video.
    pub code: String,
    pub video_id: String,
    pub creator_id: String,
    /// active, revoked or expired.
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<pb::SparkCode> for SparkCodeDto {
    fn from(c: pb::SparkCode) -> Self {
        Self {
            status: enum_to_str(c.status().as_str_name(), "SPARK_CODE_STATUS_"),
            code: c.code,
            video_id: c.video_id,
            creator_id: c.creator_id,
            created_at: ts(c.created_at),
            expires_at: ts(c.expires_at),
            revoked_at: ts(c.revoked_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportRowDto {
    /// UTC day; absent in the totals row.
    pub date: Option<String>,
    pub impressions: u64,
    pub clicks: u64,
    /// Views of at least 6 seconds (or the whole creative, when shorter).
    pub views_6s: u64,
    pub ctr: f64,
    pub spend_cents: i64,
    /// Effective CPM in cents.
    pub ecpm_cents: i64,
    /// Clicks and views filtered as invalid traffic: never billed.
    pub invalid_events: u64,
}

impl From<pb::ReportRow> for ReportRowDto {
    fn from(r: pb::ReportRow) -> Self {
        Self {
            date: opt(r.date),
            impressions: r.impressions,
            clicks: r.clicks,
            views_6s: r.views_6s,
            ctr: r.ctr,
            spend_cents: r.spend_cents,
            ecpm_cents: r.ecpm_cents,
            invalid_events: r.invalid_events,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportDto {
    /// One row per day of the range.
    pub rows: Vec<ReportRowDto>,
    pub totals: Option<ReportRowDto>,
}

// --- campaigns -------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignBody {
    /// 8..128 characters; a retry with the same key returns the first campaign.
    pub idempotency_key: String,
    pub name: String,
    /// reach, traffic, video_views or conversions.
    pub objective: String,
    /// At least 5000 ($50).
    pub total_budget_cents: i64,
}

/// Create a campaign (advertisers); its budget is reserved in your wallet.
#[utoipa::path(post, path = "/v1/ads/campaigns", tag = "ads", security(("bearer" = [])), request_body = CampaignBody,
    responses((status = 201, body = CampaignDto), (status = "4XX", body = ErrorBody)))]
pub async fn create_campaign(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<CampaignBody>,
) -> ApiResult<(StatusCode, Json<CampaignDto>)> {
    let objective = parse_enum(
        "objective",
        &b.objective,
        "CAMPAIGN_OBJECTIVE_",
        |s| pb::CampaignObjective::from_str_name(s).map(|v| v as i32),
        OBJECTIVES,
    )?;
    let r = st
        .call(st.ads().create_campaign(st.req(
            &user,
            pb::CreateCampaignRequest {
                idempotency_key: b.idempotency_key,
                name: b.name,
                objective,
                total_budget_cents: b.total_budget_cents,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.campaign
                .ok_or_else(|| ApiError::missing("campaign"))?
                .into(),
        ),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CampaignsQuery {
    /// active or paused; all when absent.
    pub status: Option<String>,
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

/// Your campaigns, newest first.
#[utoipa::path(get, path = "/v1/ads/campaigns", tag = "ads", security(("bearer" = [])), params(CampaignsQuery),
    responses((status = 200, body = Page<CampaignDto>), (status = "4XX", body = ErrorBody)))]
pub async fn list_campaigns(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<CampaignsQuery>,
) -> ApiResult<Json<Page<CampaignDto>>> {
    let status = parse_enum(
        "status",
        q.status.as_deref().unwrap_or_default(),
        "CAMPAIGN_STATUS_",
        |s| pb::CampaignStatus::from_str_name(s).map(|v| v as i32),
        &["active", "paused"],
    )?;
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = st
        .call(st.ads().list_campaigns(st.req(
            &user,
            pb::ListCampaignsRequest {
                page: page.to_proto(),
                status,
                advertiser_id: String::new(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.campaigns, r.page)))
}

/// One of your campaigns.
#[utoipa::path(get, path = "/v1/ads/campaigns/{campaign_id}", tag = "ads", security(("bearer" = [])),
    params(("campaign_id" = String, Path)), responses((status = 200, body = CampaignDto), (status = "4XX", body = ErrorBody)))]
pub async fn get_campaign(
    State(st): State<AppState>,
    user: AuthUser,
    Path(campaign_id): Path<String>,
) -> ApiResult<Json<CampaignDto>> {
    let r = st
        .call(
            st.ads()
                .get_campaign(st.req(&user, pb::GetCampaignRequest { campaign_id })),
        )
        .await?;
    Ok(Json(
        r.campaign
            .ok_or_else(|| ApiError::missing("campaign"))?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignPatch {
    pub name: Option<String>,
    /// Raising reserves the difference in your wallet; lowering (not below
    /// what is spent and committed) releases it.
    pub total_budget_cents: Option<i64>,
}

/// Rename a campaign or change its total budget.
#[utoipa::path(patch, path = "/v1/ads/campaigns/{campaign_id}", tag = "ads", security(("bearer" = [])),
    params(("campaign_id" = String, Path)), request_body = CampaignPatch,
    responses((status = 200, body = CampaignDto), (status = "4XX", body = ErrorBody)))]
pub async fn update_campaign(
    State(st): State<AppState>,
    user: AuthUser,
    Path(campaign_id): Path<String>,
    ApiJson(b): ApiJson<CampaignPatch>,
) -> ApiResult<Json<CampaignDto>> {
    let mut mask = Vec::new();
    if b.name.is_some() {
        mask.push("name".to_string());
    }
    if b.total_budget_cents.is_some() {
        mask.push("total_budget_cents".to_string());
    }
    let r = st
        .call(st.ads().update_campaign(st.req(
            &user,
            pb::UpdateCampaignRequest {
                campaign_id,
                name: b.name.unwrap_or_default(),
                total_budget_cents: b.total_budget_cents.unwrap_or_default(),
                update_mask: mask,
            },
        )))
        .await?;
    Ok(Json(
        r.campaign
            .ok_or_else(|| ApiError::missing("campaign"))?
            .into(),
    ))
}

/// Stop every ad group of a campaign (idempotent).
#[utoipa::path(post, path = "/v1/ads/campaigns/{campaign_id}/pause", tag = "ads", security(("bearer" = [])),
    params(("campaign_id" = String, Path)), responses((status = 200, body = CampaignDto), (status = "4XX", body = ErrorBody)))]
pub async fn pause_campaign(
    State(st): State<AppState>,
    user: AuthUser,
    Path(campaign_id): Path<String>,
) -> ApiResult<Json<CampaignDto>> {
    let r = st
        .call(
            st.ads()
                .pause_campaign(st.req(&user, pb::PauseCampaignRequest { campaign_id })),
        )
        .await?;
    Ok(Json(
        r.campaign
            .ok_or_else(|| ApiError::missing("campaign"))?
            .into(),
    ))
}

/// Resume a paused campaign (idempotent; budgets and schedules still apply).
#[utoipa::path(post, path = "/v1/ads/campaigns/{campaign_id}/resume", tag = "ads", security(("bearer" = [])),
    params(("campaign_id" = String, Path)), responses((status = 200, body = CampaignDto), (status = "4XX", body = ErrorBody)))]
pub async fn resume_campaign(
    State(st): State<AppState>,
    user: AuthUser,
    Path(campaign_id): Path<String>,
) -> ApiResult<Json<CampaignDto>> {
    let r = st
        .call(
            st.ads()
                .resume_campaign(st.req(&user, pb::ResumeCampaignRequest { campaign_id })),
        )
        .await?;
    Ok(Json(
        r.campaign
            .ok_or_else(|| ApiError::missing("campaign"))?
            .into(),
    ))
}

// --- ad groups --------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdGroupBody {
    pub name: String,
    /// in_feed, topview or spark.
    pub format: String,
    /// At least 2000 ($20) for in_feed and spark; absent for topview.
    #[serde(default)]
    pub daily_budget_cents: i64,
    /// cpm, cpc, cpv or ocpm; absent for topview.
    #[serde(default)]
    pub bid_type: String,
    /// Cents per 1000 impressions (cpm, ocpm), per click (cpc) or per 6-second view (cpv).
    #[serde(default)]
    pub bid_cents: i64,
    pub schedule: ScheduleDto,
    #[serde(default)]
    pub targeting: TargetingDto,
    /// Impressions per user per day (0 = the platform default).
    #[serde(default)]
    pub frequency_cap_per_day: u32,
}

fn bid_type(value: &str) -> ApiResult<i32> {
    parse_enum(
        "bid_type",
        value,
        "BID_TYPE_",
        |s| pb::BidType::from_str_name(s).map(|v| v as i32),
        BID_TYPES,
    )
}

/// Create an ad group in one of your campaigns.
#[utoipa::path(post, path = "/v1/ads/campaigns/{campaign_id}/ad-groups", tag = "ads", security(("bearer" = [])),
    params(("campaign_id" = String, Path)), request_body = AdGroupBody,
    responses((status = 201, body = AdGroupDto), (status = "4XX", body = ErrorBody)))]
pub async fn create_ad_group(
    State(st): State<AppState>,
    user: AuthUser,
    Path(campaign_id): Path<String>,
    ApiJson(b): ApiJson<AdGroupBody>,
) -> ApiResult<(StatusCode, Json<AdGroupDto>)> {
    let format = parse_enum(
        "format",
        &b.format,
        "AD_FORMAT_",
        |s| pb::AdFormat::from_str_name(s).map(|v| v as i32),
        FORMATS,
    )?;
    let r = st
        .call(st.ads().create_ad_group(st.req(
            &user,
            pb::CreateAdGroupRequest {
                campaign_id,
                name: b.name,
                format,
                daily_budget_cents: b.daily_budget_cents,
                bid_type: bid_type(&b.bid_type)?,
                bid_cents: b.bid_cents,
                schedule: Some(b.schedule.to_proto()),
                targeting: Some(b.targeting.to_proto()?),
                frequency_cap_per_day: b.frequency_cap_per_day,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.ad_group
                .ok_or_else(|| ApiError::missing("ad group"))?
                .into(),
        ),
    ))
}

/// The ad groups of a campaign, newest first.
#[utoipa::path(get, path = "/v1/ads/campaigns/{campaign_id}/ad-groups", tag = "ads", security(("bearer" = [])),
    params(("campaign_id" = String, Path), PageQuery),
    responses((status = 200, body = Page<AdGroupDto>), (status = "4XX", body = ErrorBody)))]
pub async fn list_ad_groups(
    State(st): State<AppState>,
    user: AuthUser,
    Path(campaign_id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<AdGroupDto>>> {
    let r = st
        .call(st.ads().list_ad_groups(st.req(
            &user,
            pb::ListAdGroupsRequest {
                campaign_id,
                page: q.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.ad_groups, r.page)))
}

/// One ad group with its delivery state.
#[utoipa::path(get, path = "/v1/ads/ad-groups/{ad_group_id}", tag = "ads", security(("bearer" = [])),
    params(("ad_group_id" = String, Path)), responses((status = 200, body = AdGroupDto), (status = "4XX", body = ErrorBody)))]
pub async fn get_ad_group(
    State(st): State<AppState>,
    user: AuthUser,
    Path(ad_group_id): Path<String>,
) -> ApiResult<Json<AdGroupDto>> {
    let r = st
        .call(
            st.ads()
                .get_ad_group(st.req(&user, pb::GetAdGroupRequest { ad_group_id })),
        )
        .await?;
    Ok(Json(
        r.ad_group
            .ok_or_else(|| ApiError::missing("ad group"))?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdGroupPatch {
    pub name: Option<String>,
    pub daily_budget_cents: Option<i64>,
    pub bid_cents: Option<i64>,
    /// Replaces the schedule.
    pub schedule: Option<ScheduleDto>,
    /// Replaces the targeting.
    pub targeting: Option<TargetingDto>,
    pub frequency_cap_per_day: Option<u32>,
}

/// Edit an ad group (the fields present change; format and bid type cannot).
#[utoipa::path(patch, path = "/v1/ads/ad-groups/{ad_group_id}", tag = "ads", security(("bearer" = [])),
    params(("ad_group_id" = String, Path)), request_body = AdGroupPatch,
    responses((status = 200, body = AdGroupDto), (status = "4XX", body = ErrorBody)))]
pub async fn update_ad_group(
    State(st): State<AppState>,
    user: AuthUser,
    Path(ad_group_id): Path<String>,
    ApiJson(b): ApiJson<AdGroupPatch>,
) -> ApiResult<Json<AdGroupDto>> {
    let mut mask = Vec::new();
    for (present, name) in [
        (b.name.is_some(), "name"),
        (b.daily_budget_cents.is_some(), "daily_budget_cents"),
        (b.bid_cents.is_some(), "bid_cents"),
        (b.schedule.is_some(), "schedule"),
        (b.targeting.is_some(), "targeting"),
        (b.frequency_cap_per_day.is_some(), "frequency_cap_per_day"),
    ] {
        if present {
            mask.push(name.to_string());
        }
    }
    let r = st
        .call(
            st.ads().update_ad_group(
                st.req(
                    &user,
                    pb::UpdateAdGroupRequest {
                        ad_group_id,
                        name: b.name.unwrap_or_default(),
                        daily_budget_cents: b.daily_budget_cents.unwrap_or_default(),
                        bid_cents: b.bid_cents.unwrap_or_default(),
                        schedule: b.schedule.as_ref().map(ScheduleDto::to_proto),
                        targeting: b
                            .targeting
                            .as_ref()
                            .map(TargetingDto::to_proto)
                            .transpose()?,
                        frequency_cap_per_day: b.frequency_cap_per_day.unwrap_or_default(),
                        update_mask: mask,
                    },
                ),
            ),
        )
        .await?;
    Ok(Json(
        r.ad_group
            .ok_or_else(|| ApiError::missing("ad group"))?
            .into(),
    ))
}

/// Pause an ad group (idempotent).
#[utoipa::path(post, path = "/v1/ads/ad-groups/{ad_group_id}/pause", tag = "ads", security(("bearer" = [])),
    params(("ad_group_id" = String, Path)), responses((status = 200, body = AdGroupDto), (status = "4XX", body = ErrorBody)))]
pub async fn pause_ad_group(
    State(st): State<AppState>,
    user: AuthUser,
    Path(ad_group_id): Path<String>,
) -> ApiResult<Json<AdGroupDto>> {
    let r = st
        .call(
            st.ads()
                .pause_ad_group(st.req(&user, pb::PauseAdGroupRequest { ad_group_id })),
        )
        .await?;
    Ok(Json(
        r.ad_group
            .ok_or_else(|| ApiError::missing("ad group"))?
            .into(),
    ))
}

/// Resume an ad group (idempotent).
#[utoipa::path(post, path = "/v1/ads/ad-groups/{ad_group_id}/resume", tag = "ads", security(("bearer" = [])),
    params(("ad_group_id" = String, Path)), responses((status = 200, body = AdGroupDto), (status = "4XX", body = ErrorBody)))]
pub async fn resume_ad_group(
    State(st): State<AppState>,
    user: AuthUser,
    Path(ad_group_id): Path<String>,
) -> ApiResult<Json<AdGroupDto>> {
    let r = st
        .call(
            st.ads()
                .resume_ad_group(st.req(&user, pb::ResumeAdGroupRequest { ad_group_id })),
        )
        .await?;
    Ok(Json(
        r.ad_group
            .ok_or_else(|| ApiError::missing("ad group"))?
            .into(),
    ))
}

// --- creatives and Spark Ads ------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreativeBody {
    /// One of your videos.
    pub video_id: String,
    /// 1..40 characters ("Sponsored by").
    pub display_name: String,
    /// learn_more, shop_now, sign_up, download, watch_more, book_now or contact_us.
    pub call_to_action: String,
    /// https URL.
    pub landing_url: String,
}

/// Add a video creative to an in_feed or topview ad group.
#[utoipa::path(post, path = "/v1/ads/ad-groups/{ad_group_id}/creatives", tag = "ads", security(("bearer" = [])),
    params(("ad_group_id" = String, Path)), request_body = CreativeBody,
    responses((status = 201, body = CreativeDto), (status = "4XX", body = ErrorBody)))]
pub async fn create_creative(
    State(st): State<AppState>,
    user: AuthUser,
    Path(ad_group_id): Path<String>,
    ApiJson(b): ApiJson<CreativeBody>,
) -> ApiResult<(StatusCode, Json<CreativeDto>)> {
    let r = st
        .call(st.ads().create_creative(st.req(
            &user,
            pb::CreateCreativeRequest {
                ad_group_id,
                video_id: b.video_id,
                display_name: b.display_name,
                call_to_action: cta("call_to_action", &b.call_to_action)?,
                landing_url: b.landing_url,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.creative
                .ok_or_else(|| ApiError::missing("creative"))?
                .into(),
        ),
    ))
}

/// The creatives of an ad group, newest first.
#[utoipa::path(get, path = "/v1/ads/ad-groups/{ad_group_id}/creatives", tag = "ads", security(("bearer" = [])),
    params(("ad_group_id" = String, Path), PageQuery),
    responses((status = 200, body = Page<CreativeDto>), (status = "4XX", body = ErrorBody)))]
pub async fn list_creatives(
    State(st): State<AppState>,
    user: AuthUser,
    Path(ad_group_id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<CreativeDto>>> {
    let r = st
        .call(st.ads().list_creatives(st.req(
            &user,
            pb::ListCreativesRequest {
                ad_group_id,
                page: q.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.creatives, r.page)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreativePatch {
    pub display_name: Option<String>,
    pub call_to_action: Option<String>,
    pub landing_url: Option<String>,
    /// active or paused.
    pub status: Option<String>,
}

/// Edit a creative or pause/activate it.
#[utoipa::path(patch, path = "/v1/ads/creatives/{creative_id}", tag = "ads", security(("bearer" = [])),
    params(("creative_id" = String, Path)), request_body = CreativePatch,
    responses((status = 200, body = CreativeDto), (status = "4XX", body = ErrorBody)))]
pub async fn update_creative(
    State(st): State<AppState>,
    user: AuthUser,
    Path(creative_id): Path<String>,
    ApiJson(b): ApiJson<CreativePatch>,
) -> ApiResult<Json<CreativeDto>> {
    let mut mask = Vec::new();
    for (present, name) in [
        (b.display_name.is_some(), "display_name"),
        (b.call_to_action.is_some(), "call_to_action"),
        (b.landing_url.is_some(), "landing_url"),
        (b.status.is_some(), "status"),
    ] {
        if present {
            mask.push(name.to_string());
        }
    }
    let status = parse_enum(
        "status",
        b.status.as_deref().unwrap_or_default(),
        "CREATIVE_STATUS_",
        |s| pb::CreativeStatus::from_str_name(s).map(|v| v as i32),
        &["active", "paused"],
    )?;
    let r = st
        .call(st.ads().update_creative(st.req(
            &user,
            pb::UpdateCreativeRequest {
                creative_id,
                display_name: b.display_name.unwrap_or_default(),
                call_to_action: cta(
                    "call_to_action",
                    b.call_to_action.as_deref().unwrap_or_default(),
                )?,
                landing_url: b.landing_url.unwrap_or_default(),
                status,
                update_mask: mask,
            },
        )))
        .await?;
    Ok(Json(
        r.creative
            .ok_or_else(|| ApiError::missing("creative"))?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SparkAdBody {
    /// The code the creator gave you.
    pub code: String,
    pub call_to_action: String,
    pub landing_url: String,
}

/// Boost a creator's organic video with their Spark code (spark ad groups).
#[utoipa::path(post, path = "/v1/ads/ad-groups/{ad_group_id}/spark-ads", tag = "ads", security(("bearer" = [])),
    params(("ad_group_id" = String, Path)), request_body = SparkAdBody,
    responses((status = 201, body = CreativeDto), (status = "4XX", body = ErrorBody)))]
pub async fn create_spark_ad(
    State(st): State<AppState>,
    user: AuthUser,
    Path(ad_group_id): Path<String>,
    ApiJson(b): ApiJson<SparkAdBody>,
) -> ApiResult<(StatusCode, Json<CreativeDto>)> {
    let r = st
        .call(st.ads().create_spark_ad(st.req(
            &user,
            pb::CreateSparkAdRequest {
                ad_group_id,
                code: b.code,
                call_to_action: cta("call_to_action", &b.call_to_action)?,
                landing_url: b.landing_url,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.creative
                .ok_or_else(|| ApiError::missing("creative"))?
                .into(),
        ),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SparkCodeBody {
    /// One of your videos.
    pub video_id: String,
    /// 7..365 days; default 30.
    #[serde(default)]
    pub validity_days: u32,
}

/// Authorize advertisers to boost one of your videos (creators).
#[utoipa::path(post, path = "/v1/spark-codes", tag = "ads", security(("bearer" = [])), request_body = SparkCodeBody,
    responses((status = 201, body = SparkCodeDto), (status = "4XX", body = ErrorBody)))]
pub async fn issue_spark_code(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<SparkCodeBody>,
) -> ApiResult<(StatusCode, Json<SparkCodeDto>)> {
    let r = st
        .call(st.ads().issue_spark_code(st.req(
            &user,
            pb::IssueSparkCodeRequest {
                video_id: b.video_id,
                validity_days: b.validity_days,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.spark_code
                .ok_or_else(|| ApiError::missing("spark code"))?
                .into(),
        ),
    ))
}

/// Your Spark codes, newest first (creators).
#[utoipa::path(get, path = "/v1/spark-codes", tag = "ads", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<SparkCodeDto>), (status = "4XX", body = ErrorBody)))]
pub async fn list_spark_codes(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<SparkCodeDto>>> {
    let r = st
        .call(
            st.ads()
                .list_spark_codes(st.req(&user, pb::ListSparkCodesRequest { page: q.to_proto() })),
        )
        .await?;
    Ok(Json(Page::new(r.spark_codes, r.page)))
}

/// Revoke a Spark code: every ad using it stops at once (idempotent).
#[utoipa::path(post, path = "/v1/spark-codes/{code}/revoke", tag = "ads", security(("bearer" = [])),
    params(("code" = String, Path)), responses((status = 200, body = SparkCodeDto), (status = "4XX", body = ErrorBody)))]
pub async fn revoke_spark_code(
    State(st): State<AppState>,
    user: AuthUser,
    Path(code): Path<String>,
) -> ApiResult<Json<SparkCodeDto>> {
    let r = st
        .call(
            st.ads()
                .revoke_spark_code(st.req(&user, pb::RevokeSparkCodeRequest { code })),
        )
        .await?;
    Ok(Json(
        r.spark_code
            .ok_or_else(|| ApiError::missing("spark code"))?
            .into(),
    ))
}

// --- TopView --------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QuoteQuery {
    /// UTC day, YYYY-MM-DD.
    pub date: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuoteDto {
    pub date: String,
    pub cpm_cents: i64,
    pub available_impressions: u64,
}

/// TopView price and inventory left for one UTC day.
#[utoipa::path(get, path = "/v1/ads/topview/quote", tag = "ads", security(("bearer" = [])), params(QuoteQuery),
    responses((status = 200, body = QuoteDto), (status = "4XX", body = ErrorBody)))]
pub async fn topview_quote(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<QuoteQuery>,
) -> ApiResult<Json<QuoteDto>> {
    let r = st
        .call(
            st.ads()
                .get_top_view_quote(st.req(&user, pb::GetTopViewQuoteRequest { date: q.date })),
        )
        .await?;
    Ok(Json(QuoteDto {
        date: r.date,
        cpm_cents: r.cpm_cents,
        available_impressions: r.available_impressions,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopViewBody {
    pub idempotency_key: String,
    /// A creative of a topview ad group.
    pub creative_id: String,
    /// UTC day, YYYY-MM-DD, today or later.
    pub date: String,
    /// At least 1000.
    pub impressions: u64,
    /// The CPM from the quote; refused if the rate changed.
    #[serde(default)]
    pub expected_cpm_cents: i64,
}

/// Reserve TopView impressions for one day at the fixed CPM.
#[utoipa::path(post, path = "/v1/ads/topview/reservations", tag = "ads", security(("bearer" = [])), request_body = TopViewBody,
    responses((status = 201, body = TopViewReservationDto), (status = "4XX", body = ErrorBody)))]
pub async fn reserve_topview(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<TopViewBody>,
) -> ApiResult<(StatusCode, Json<TopViewReservationDto>)> {
    let r = st
        .call(st.ads().reserve_top_view(st.req(
            &user,
            pb::ReserveTopViewRequest {
                idempotency_key: b.idempotency_key,
                creative_id: b.creative_id,
                date: b.date,
                impressions: b.impressions,
                expected_cpm_cents: b.expected_cpm_cents,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.reservation
                .ok_or_else(|| ApiError::missing("reservation"))?
                .into(),
        ),
    ))
}

/// Your TopView reservations, newest first.
#[utoipa::path(get, path = "/v1/ads/topview/reservations", tag = "ads", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<TopViewReservationDto>), (status = "4XX", body = ErrorBody)))]
pub async fn list_topview(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<TopViewReservationDto>>> {
    let r = st
        .call(st.ads().list_top_view_reservations(st.req(
            &user,
            pb::ListTopViewReservationsRequest {
                page: q.to_proto(),
                advertiser_id: String::new(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.reservations, r.page)))
}

/// One TopView reservation.
#[utoipa::path(get, path = "/v1/ads/topview/reservations/{reservation_id}", tag = "ads", security(("bearer" = [])),
    params(("reservation_id" = String, Path)),
    responses((status = 200, body = TopViewReservationDto), (status = "4XX", body = ErrorBody)))]
pub async fn get_topview(
    State(st): State<AppState>,
    user: AuthUser,
    Path(reservation_id): Path<String>,
) -> ApiResult<Json<TopViewReservationDto>> {
    let r = st
        .call(st.ads().get_top_view_reservation(
            st.req(&user, pb::GetTopViewReservationRequest { reservation_id }),
        ))
        .await?;
    Ok(Json(
        r.reservation
            .ok_or_else(|| ApiError::missing("reservation"))?
            .into(),
    ))
}

/// Cancel a reservation before its day starts (UTC).
#[utoipa::path(post, path = "/v1/ads/topview/reservations/{reservation_id}/cancel", tag = "ads", security(("bearer" = [])),
    params(("reservation_id" = String, Path)),
    responses((status = 200, body = TopViewReservationDto), (status = "4XX", body = ErrorBody)))]
pub async fn cancel_topview(
    State(st): State<AppState>,
    user: AuthUser,
    Path(reservation_id): Path<String>,
) -> ApiResult<Json<TopViewReservationDto>> {
    let r = st
        .call(st.ads().cancel_top_view_reservation(st.req(
            &user,
            pb::CancelTopViewReservationRequest { reservation_id },
        )))
        .await?;
    Ok(Json(
        r.reservation
            .ok_or_else(|| ApiError::missing("reservation"))?
            .into(),
    ))
}

// --- Branded Hashtag Challenges -------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandedChallengeBody {
    pub idempotency_key: String,
    /// The campaign whose budget pays the fee.
    pub campaign_id: String,
    pub hashtag: String,
    pub description: String,
    #[serde(default)]
    pub banner_url: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Where it is pinned; empty = everywhere.
    #[serde(default)]
    pub countries: Vec<String>,
    /// The fee you were quoted; refused if it changed.
    #[serde(default)]
    pub expected_fee_cents: i64,
}

/// Buy a Branded Hashtag Challenge: pinned in Discover, its videos boosted in For You.
#[utoipa::path(post, path = "/v1/ads/branded-challenges", tag = "ads", security(("bearer" = [])),
    request_body = BrandedChallengeBody,
    responses((status = 201, body = BrandedChallengeDto), (status = "4XX", body = ErrorBody)))]
pub async fn create_branded_challenge(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<BrandedChallengeBody>,
) -> ApiResult<(StatusCode, Json<BrandedChallengeDto>)> {
    let r = st
        .call(st.ads().create_branded_challenge(st.req(
            &user,
            pb::CreateBrandedChallengeRequest {
                idempotency_key: b.idempotency_key,
                campaign_id: b.campaign_id,
                hashtag: b.hashtag,
                description: b.description,
                banner_url: b.banner_url,
                starts_at: Some(to_timestamp(b.starts_at)),
                ends_at: Some(to_timestamp(b.ends_at)),
                countries: b.countries,
                expected_fee_cents: b.expected_fee_cents,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.challenge
                .ok_or_else(|| ApiError::missing("challenge"))?
                .into(),
        ),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DiscoverQuery {
    /// ISO 3166-1 alpha-2; every country when absent.
    pub country: Option<String>,
}

/// Sponsored challenges pinned in Discover right now.
#[utoipa::path(get, path = "/v1/discover/challenges", tag = "discover", security(("bearer" = [])), params(DiscoverQuery),
    responses((status = 200, body = [BrandedChallengeDto]), (status = "4XX", body = ErrorBody)))]
pub async fn discover_challenges(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<DiscoverQuery>,
) -> ApiResult<Json<Vec<BrandedChallengeDto>>> {
    let r = st
        .call(st.ads().list_active_challenges(st.req(
            &user,
            pb::ListActiveChallengesRequest {
                country: q.country.unwrap_or_default(),
            },
        )))
        .await?;
    Ok(Json(r.challenges.into_iter().map(Into::into).collect()))
}

// --- reports and delivery ---------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// Report one campaign...
    pub campaign_id: Option<String>,
    /// ...or one ad group.
    pub ad_group_id: Option<String>,
    /// UTC days, YYYY-MM-DD, inclusive, at most 93.
    pub start_date: String,
    pub end_date: String,
}

/// Daily impressions, clicks, 6-second views, CTR, spend and eCPM.
#[utoipa::path(get, path = "/v1/ads/reports", tag = "ads", security(("bearer" = [])), params(ReportQuery),
    responses((status = 200, body = ReportDto), (status = "4XX", body = ErrorBody)))]
pub async fn report(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Json<ReportDto>> {
    let scope = match (q.campaign_id, q.ad_group_id) {
        (Some(c), None) => pb::get_report_request::Scope::CampaignId(c),
        (None, Some(g)) => pb::get_report_request::Scope::AdGroupId(g),
        _ => {
            return Err(ApiError::invalid(
                "campaign_id",
                "give exactly one of campaign_id and ad_group_id",
            ));
        }
    };
    let r = st
        .call(st.ads().get_report(st.req(
            &user,
            pb::GetReportRequest {
                scope: Some(scope),
                start_date: q.start_date,
                end_date: q.end_date,
            },
        )))
        .await?;
    Ok(Json(ReportDto {
        rows: r.rows.into_iter().map(Into::into).collect(),
        totals: r.totals.map(Into::into),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDto {
    pub ad_group: Option<AdGroupDto>,
    pub paced_target_today_millicents: i64,
    pub spent_today_millicents: i64,
    pub outstanding_tokens_today: u64,
    pub impressions_today: u64,
    pub clicks_today: u64,
    pub predicted_ctr: f64,
}

/// Live budget, pacing and delivery counters of an ad group (admins).
#[utoipa::path(get, path = "/v1/admin/ads/ad-groups/{ad_group_id}/delivery", tag = "ads", security(("bearer" = [])),
    params(("ad_group_id" = String, Path)), responses((status = 200, body = DeliveryDto), (status = "4XX", body = ErrorBody)))]
pub async fn delivery(
    State(st): State<AppState>,
    user: AuthUser,
    Path(ad_group_id): Path<String>,
) -> ApiResult<Json<DeliveryDto>> {
    let r = st
        .call(
            st.ads().get_ad_group_delivery(
                st.req(&user, pb::GetAdGroupDeliveryRequest { ad_group_id }),
            ),
        )
        .await?;
    Ok(Json(DeliveryDto {
        ad_group: r.ad_group.map(Into::into),
        paced_target_today_millicents: r.paced_target_today_millicents,
        spent_today_millicents: r.spent_today_millicents,
        outstanding_tokens_today: r.outstanding_tokens_today,
        impressions_today: r.impressions_today,
        clicks_today: r.clicks_today,
        predicted_ctr: r.predicted_ctr,
    }))
}
