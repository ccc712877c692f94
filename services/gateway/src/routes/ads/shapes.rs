//! The advertiser-facing shapes (DTOs) of campaigns, ad groups, creatives,
//! TopView, challenges, Spark codes and reports, and their proto mappings.

use super::*;

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
    /// After starts_at.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Hours 0..23 (in time_zone) when the ad group delivers, each once; empty = all day.
    #[serde(default)]
    #[schema(schema_with = crate::constraints::hours)]
    pub active_hours: Vec<u32>,
    /// A known IANA zone such as "Europe/Paris"; default (empty) UTC.
    #[serde(default)]
    #[schema(max_length = 64, pattern = "^[A-Za-z0-9_/+-]*$")]
    pub time_zone: String,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BehaviorDto {
    /// engaged_with_category or engaged_with_hashtag.
    #[schema(schema_with = behaviors)]
    pub kind: String,
    /// A category (1..100 characters) or a hashtag, as `kind` says.
    pub value: String,
    /// 1..=7 (0 or absent: 7).
    #[serde(default)]
    #[schema(maximum = 7)]
    pub lookback_days: u32,
}

/// Each list is an allow-list; empty means no restriction.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetingDto {
    /// 13_17, 18_24, 25_34, 35_44, 45_54, 55_plus (each once).
    #[serde(default)]
    #[schema(schema_with = crate::constraints::age_band_set)]
    pub age_bands: Vec<String>,
    /// female, male, non_binary, undisclosed (each once).
    #[serde(default)]
    #[schema(schema_with = crate::constraints::gender_set)]
    pub genders: Vec<String>,
    /// ISO 3166-1 alpha-2, at most 250.
    #[serde(default)]
    #[schema(schema_with = crate::constraints::countries)]
    pub countries: Vec<String>,
    /// Primary language subtags ("en"), at most 100.
    #[serde(default)]
    #[schema(schema_with = crate::constraints::language_subtags)]
    pub languages: Vec<String>,
    /// ios, android, web (each once).
    #[serde(default)]
    #[schema(schema_with = crate::constraints::device_os_set)]
    pub device_os: Vec<String>,
    /// At most 20.
    #[serde(default)]
    #[schema(schema_with = crate::constraints::ad_categories)]
    pub interest_categories: Vec<String>,
    /// At most 20.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub behaviors: Vec<BehaviorDto>,
}

impl TargetingDto {
    pub(crate) fn to_proto(&self) -> ApiResult<pb::Targeting> {
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
                        kind: enum_from_str(
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

    pub(crate) fn from_proto(t: pb::Targeting) -> Self {
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
    pub(crate) fn to_proto(&self) -> pb::Schedule {
        pb::Schedule {
            starts_at: Some(to_timestamp(self.starts_at)),
            ends_at: self.ends_at.map(to_timestamp),
            active_hours: self.active_hours.clone(),
            time_zone: self.time_zone.clone(),
        }
    }

    pub(crate) fn from_proto(s: pb::Schedule) -> Option<Self> {
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
#[schema(as = AdReportDto)] // moderation has a `ReportDto` too
pub struct ReportDto {
    /// One row per day of the range.
    pub rows: Vec<ReportRowDto>,
    pub totals: Option<ReportRowDto>,
}
