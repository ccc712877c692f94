//! TopView: impressions of one UTC day reserved at the rate card's fixed CPM,
//! served as the first item after app open, at most once per user per day.
//! The price is committed against the campaign budget at booking and moves
//! to spend as impressions deliver; undelivered impressions of a past day
//! are freed by the settlement loop (`billing::complete_topview_days`).

use chrono::{Duration, NaiveDate, Utc};
use loop_platform::auth::Caller;
use loop_platform::ids::{new_id, parse_id, parse_opt_id};
use loop_platform::pagination;
use loop_proto::ads_auction::v1 as pb;
use loop_proto::common::v1::PageResponse;
use uuid::Uuid;

use crate::error::{AdsError, AdsResult, Reason};
use crate::idempotency;
use crate::index;
use crate::model::*;
use crate::service::{AdsService, advertiser};
use crate::validate;

impl AdsService {
    fn topview_date(&self, value: &str) -> AdsResult<NaiveDate> {
        let date = validate::date("date", value)?;
        let today = Utc::now().date_naive();
        if date < today {
            return Err(AdsError::invalid("date", "must be today or later (UTC)"));
        }
        if date > today + Duration::days(self.config.topview.max_days_ahead) {
            return Err(AdsError::invalid(
                "date",
                format!("at most {} days ahead", self.config.topview.max_days_ahead),
            ));
        }
        Ok(date)
    }

    async fn booked(&self, conn: &mut sqlx::PgConnection, day: NaiveDate) -> AdsResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(sum(impressions), 0)::bigint FROM topview_reservations WHERE day = $1 AND status = $2",
        )
        .bind(day)
        .bind(TV_CONFIRMED)
        .fetch_one(&mut *conn)
        .await?)
    }

    pub(crate) async fn get_top_view_quote(
        &self,
        caller: &Caller,
        req: pb::GetTopViewQuoteRequest,
    ) -> AdsResult<pb::GetTopViewQuoteResponse> {
        advertiser(caller)?;
        let day = self.topview_date(&req.date)?;
        let mut conn = self.pool.acquire().await?;
        let booked = self.booked(&mut conn, day).await?;
        let inventory = i64::try_from(self.config.topview.daily_inventory).unwrap_or(i64::MAX);
        Ok(pb::GetTopViewQuoteResponse {
            date: day_string(day),
            cpm_cents: self.config.topview.cpm_cents,
            available_impressions: u64::try_from(inventory - booked).unwrap_or(0),
        })
    }

    pub(crate) async fn reserve_top_view(
        &self,
        caller: &Caller,
        req: pb::ReserveTopViewRequest,
    ) -> AdsResult<pb::ReserveTopViewResponse> {
        advertiser(caller)?;
        let key = validate::idempotency_key(&req.idempotency_key)?;
        let creative_id = parse_id("creative_id", &req.creative_id)?;
        let day = self.topview_date(&req.date)?;
        if req.impressions < 1000 {
            return Err(AdsError::invalid("impressions", "must be at least 1000"));
        }
        let impressions = i64::try_from(req.impressions)
            .ok()
            .filter(|i| *i <= 1_000_000_000_000)
            .ok_or_else(|| AdsError::invalid("impressions", "is too large"))?;
        let hash = idempotency::request_hash(&pb::ReserveTopViewRequest {
            idempotency_key: String::new(),
            ..req.clone()
        });
        let mut tx = self.pool.begin().await?;
        if let Some(done) =
            idempotency::begin(&mut tx, &caller.subject, &key, "ReserveTopView", &hash).await?
        {
            return Ok(done);
        }
        let creative = sqlx::query_as::<_, CreativeRow>(&format!(
            "SELECT {CREATIVE_COLUMNS} FROM creatives WHERE id = $1"
        ))
        .bind(creative_id)
        .fetch_optional(&mut *tx)
        .await?
        .filter(|c| caller.is_admin() || c.advertiser_id.to_string() == caller.subject)
        .ok_or_else(|| AdsError::not_found("creative not found"))?;
        if creative.format != pb::AdFormat::Topview as i16 {
            return Err(AdsError::rule(
                Reason::NotTopviewAdGroup,
                "the creative's ad group is not a TOPVIEW ad group",
            ));
        }
        let cpm = self.config.topview.cpm_cents;
        if req.expected_cpm_cents != 0 && req.expected_cpm_cents != cpm {
            return Err(AdsError::rule(
                Reason::PriceChanged,
                format!("the TopView CPM is now {cpm} cents"),
            ));
        }
        // One booking at a time per day, so inventory is never oversold.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('topview:' || $1::text))")
            .bind(day_string(day))
            .execute(&mut *tx)
            .await?;
        let booked = self.booked(&mut tx, day).await?;
        let inventory = i64::try_from(self.config.topview.daily_inventory).unwrap_or(i64::MAX);
        if booked + impressions > inventory {
            return Err(AdsError::rule(
                Reason::SoldOut,
                format!(
                    "only {} TopView impressions are left on {}",
                    (inventory - booked).max(0),
                    day_string(day)
                ),
            ));
        }
        let total_price = (impressions * cpm + 999) / 1000;
        let campaign = sqlx::query_as::<_, CampaignRow>(&format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1 FOR UPDATE"
        ))
        .bind(creative.campaign_id)
        .fetch_one(&mut *tx)
        .await?;
        if campaign.available_millicents() < millicents(total_price) {
            return Err(AdsError::rule(
                Reason::InsufficientBudget,
                format!(
                    "the campaign has {} cents uncommitted; this reservation costs {total_price}",
                    cents_down(campaign.available_millicents().max(0))
                ),
            ));
        }
        sqlx::query(
            "UPDATE campaigns SET committed_millicents = committed_millicents + $2 WHERE id = $1",
        )
        .bind(campaign.id)
        .bind(millicents(total_price))
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query_as::<_, TopViewRow>(&format!(
            "INSERT INTO topview_reservations (id, advertiser_id, campaign_id, ad_group_id, creative_id, day, \
             impressions, cpm_cents, total_price_cents, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             RETURNING {TOPVIEW_COLUMNS}"
        ))
        .bind(new_id())
        .bind(creative.advertiser_id)
        .bind(creative.campaign_id)
        .bind(creative.ad_group_id)
        .bind(creative.id)
        .bind(day)
        .bind(impressions)
        .bind(cpm)
        .bind(total_price)
        .bind(TV_CONFIRMED)
        .fetch_one(&mut *tx)
        .await?;
        let groups = touch_campaign_groups(&mut tx, campaign.id).await?;
        let response = pb::ReserveTopViewResponse {
            reservation: Some(row.to_proto()),
        };
        idempotency::finish(&mut tx, &caller.subject, &key, &response).await?;
        tx.commit().await?;
        self.refresh(&groups).await;
        Ok(response)
    }

    async fn reservation_for(&self, caller: &Caller, id: &str) -> AdsResult<TopViewRow> {
        let id = parse_id("reservation_id", id)?;
        sqlx::query_as::<_, TopViewRow>(&format!(
            "SELECT {TOPVIEW_COLUMNS} FROM topview_reservations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .filter(|r| caller.is_admin() || r.advertiser_id.to_string() == caller.subject)
        .ok_or_else(|| AdsError::not_found("reservation not found"))
    }

    pub(crate) async fn get_top_view_reservation(
        &self,
        caller: &Caller,
        req: pb::GetTopViewReservationRequest,
    ) -> AdsResult<pb::GetTopViewReservationResponse> {
        advertiser(caller)?;
        let row = self.reservation_for(caller, &req.reservation_id).await?;
        Ok(pb::GetTopViewReservationResponse {
            reservation: Some(row.to_proto()),
        })
    }

    pub(crate) async fn list_top_view_reservations(
        &self,
        caller: &Caller,
        req: pb::ListTopViewReservationsRequest,
    ) -> AdsResult<pb::ListTopViewReservationsResponse> {
        let me = advertiser(caller)?;
        let owner = match parse_opt_id("advertiser_id", &req.advertiser_id)? {
            Some(other) if caller.is_admin() || other == me => other,
            Some(_) => {
                return Err(AdsError::denied(
                    "only admins list another advertiser's reservations",
                ));
            }
            None => me,
        };
        let page = req.page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let cursor: Option<(chrono::DateTime<Utc>, Uuid)> = pagination::decode(&page.page_token)?;
        let rows = sqlx::query_as::<_, TopViewRow>(&format!(
            "SELECT {TOPVIEW_COLUMNS} FROM topview_reservations WHERE advertiser_id = $1 \
             AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) ORDER BY created_at DESC, id DESC LIMIT $4"
        ))
        .bind(owner)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = pagination::finish(rows, limit, |r| (r.created_at, r.id));
        Ok(pb::ListTopViewReservationsResponse {
            reservations: rows.iter().map(TopViewRow::to_proto).collect(),
            page: Some(PageResponse {
                next_page_token: next,
            }),
        })
    }

    pub(crate) async fn cancel_top_view_reservation(
        &self,
        caller: &Caller,
        req: pb::CancelTopViewReservationRequest,
    ) -> AdsResult<pb::CancelTopViewReservationResponse> {
        advertiser(caller)?;
        let current = self.reservation_for(caller, &req.reservation_id).await?;
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query_as::<_, TopViewRow>(&format!(
            "SELECT {TOPVIEW_COLUMNS} FROM topview_reservations WHERE id = $1 FOR UPDATE"
        ))
        .bind(current.id)
        .fetch_one(&mut *tx)
        .await?;
        if row.status == TV_CANCELLED {
            return Ok(pb::CancelTopViewReservationResponse {
                reservation: Some(row.to_proto()),
            });
        }
        if row.day <= Utc::now().date_naive() {
            return Err(AdsError::rule(
                Reason::AlreadyStarted,
                "a reservation can only be cancelled before its day starts (UTC)",
            ));
        }
        let row = sqlx::query_as::<_, TopViewRow>(&format!(
            "UPDATE topview_reservations SET status = $2 WHERE id = $1 RETURNING {TOPVIEW_COLUMNS}"
        ))
        .bind(row.id)
        .bind(TV_CANCELLED)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE campaigns SET committed_millicents = GREATEST(committed_millicents - $2, 0) WHERE id = $1",
        )
        .bind(row.campaign_id)
        .bind(millicents(row.total_price_cents) - row.delivered * row.cpm_cents)
        .execute(&mut *tx)
        .await?;
        let groups = touch_campaign_groups(&mut tx, row.campaign_id).await?;
        tx.commit().await?;
        self.refresh(&groups).await;
        Ok(pb::CancelTopViewReservationResponse {
            reservation: Some(row.to_proto()),
        })
    }
}

/// The campaign's budget changed: its ad groups reload (available budget).
pub(crate) async fn touch_campaign_groups(
    tx: &mut sqlx::PgConnection,
    campaign: Uuid,
) -> AdsResult<Vec<Uuid>> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE ad_groups SET updated_at = now() WHERE campaign_id = $1 RETURNING id",
    )
    .bind(campaign)
    .fetch_all(&mut *tx)
    .await?;
    index::notify(tx, &ids).await?;
    Ok(ids)
}
