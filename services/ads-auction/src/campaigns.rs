//! Campaigns and ad groups (advertiser side).

use chrono::{DateTime, NaiveDate, Utc};
use loop_platform::auth::Caller;
use loop_platform::ids::{new_id, parse_opt_id};
use loop_platform::pagination;
use loop_proto::ads_auction::v1 as pb;
use loop_proto::common::v1::PageResponse;
use prost::Message;
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use crate::error::{AdsError, AdsResult, Reason};
use crate::idempotency;
use crate::index;
use crate::model::*;
use crate::service::{AdsService, advertiser};
use crate::validate;
use crate::wallet::{Movement, WalletError};

type Cursor = (DateTime<Utc>, Uuid);

/// The wallet key of the budget change of `campaign` to `budget` at
/// `version`: the same change retried (or completed by the settlement loop)
/// moves money once.
pub(crate) fn budget_key(campaign: Uuid, version: i64, budget: i64) -> String {
    format!("campaign:{campaign}:v{version}:{budget}")
}

/// Notes of wallet movements made before their transaction commits (see the
/// migrations): reserves of new campaigns, and budget changes.
const WALLET_INTENTS: &str = "wallet_intents";
const BUDGET_INTENTS: &str = "budget_intents";

/// Locks a note (written in its own commit) for the length of `tx`: the
/// settlement loop leaves locked notes alone.
async fn lock_note(tx: &mut PgConnection, table: &str, campaign: Uuid) -> AdsResult<()> {
    sqlx::query(&format!(
        "SELECT 1 FROM {table} WHERE campaign_id = $1 FOR UPDATE"
    ))
    .bind(campaign)
    .execute(tx)
    .await?;
    Ok(())
}

pub(crate) fn wallet_error(err: WalletError) -> AdsError {
    match err {
        WalletError::InsufficientFunds => AdsError::rule(
            Reason::InsufficientFunds,
            "your wallet balance cannot cover this budget",
        ),
        WalletError::Unavailable(msg) => AdsError::App(loop_platform::AppError::Unavailable(
            format!("wallet unavailable: {msg}"),
        )),
    }
}

fn check_mask(mask: &[String], allowed: &[&str]) -> AdsResult<()> {
    if mask.is_empty() {
        return Err(AdsError::invalid(
            "update_mask",
            format!("name at least one of: {}", allowed.join(", ")),
        ));
    }
    for (i, m) in mask.iter().enumerate() {
        if !allowed.contains(&m.as_str()) {
            return Err(AdsError::invalid(
                format!("update_mask[{i}]"),
                format!("\"{m}\" cannot be changed; allowed: {}", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

/// Bid fields by format (shared by create and update).
fn check_bid(
    format: pb::AdFormat,
    daily: i64,
    bid_type: i32,
    bid: i64,
) -> AdsResult<(i64, i32, i64)> {
    match format {
        pb::AdFormat::Topview => {
            if daily != 0 {
                return Err(AdsError::invalid(
                    "daily_budget_cents",
                    "must be unset for TOPVIEW (sold by ReserveTopView)",
                ));
            }
            if bid_type != 0 {
                return Err(AdsError::invalid("bid_type", "must be unset for TOPVIEW"));
            }
            if bid != 0 {
                return Err(AdsError::invalid("bid_cents", "must be unset for TOPVIEW"));
            }
            Ok((0, 0, 0))
        }
        _ => {
            let daily = validate::cents(
                "daily_budget_cents",
                daily,
                validate::MIN_DAILY_BUDGET_CENTS,
            )?;
            let bid_type = validate::bid_type(bid_type)? as i32;
            let bid = validate::cents("bid_cents", bid, 1)?;
            Ok((daily, bid_type, bid))
        }
    }
}

impl AdsService {
    /// After the wallet call a note covers: on success the note is deleted
    /// in `tx` (with the change it noted) and `tx` is handed back; on failure
    /// `tx` is rolled back first (it holds the note's lock), the note is
    /// dropped when the wallet says nothing moved (insufficient funds), and
    /// the wallet's error is returned.
    async fn settle_note<'t>(
        &self,
        mut tx: Transaction<'t, Postgres>,
        table: &str,
        campaign: Uuid,
        moved: Result<(), WalletError>,
    ) -> AdsResult<Transaction<'t, Postgres>> {
        let delete = format!("DELETE FROM {table} WHERE campaign_id = $1");
        match moved {
            Ok(()) => {
                sqlx::query(&delete)
                    .bind(campaign)
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
            Err(err) => {
                tx.rollback().await?;
                if matches!(err, WalletError::InsufficientFunds) {
                    sqlx::query(&delete)
                        .bind(campaign)
                        .execute(&self.pool)
                        .await?;
                }
                Err(wallet_error(err))
            }
        }
    }

    async fn check_time_zone(&self, tz: &str) -> AdsResult<()> {
        let known: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
                .bind(tz)
                .fetch_one(&self.pool)
                .await?;
        if known {
            Ok(())
        } else {
            Err(AdsError::invalid(
                "schedule.time_zone",
                format!("\"{tz}\" is not a known IANA time zone"),
            ))
        }
    }

    pub(crate) async fn create_campaign(
        &self,
        caller: &Caller,
        req: pb::CreateCampaignRequest,
    ) -> AdsResult<pb::CreateCampaignResponse> {
        let me = advertiser(caller)?;
        let key = validate::idempotency_key(&req.idempotency_key)?;
        let name = validate::text("name", &req.name, 1, 100)?;
        let objective = validate::objective(req.objective)?;
        let budget = validate::cents(
            "total_budget_cents",
            req.total_budget_cents,
            validate::MIN_CAMPAIGN_BUDGET_CENTS,
        )?;
        let hash = idempotency::request_hash(&pb::CreateCampaignRequest {
            idempotency_key: String::new(),
            ..req.clone()
        });
        let mut tx = self.pool.begin().await?;
        if let Some(done) =
            idempotency::begin(&mut tx, &caller.subject, &key, "CreateCampaign", &hash).await?
        {
            return Ok(done);
        }
        let id = new_id();
        let row = sqlx::query_as::<_, CampaignRow>(&format!(
            "INSERT INTO campaigns (id, advertiser_id, name, objective, total_budget_cents, status) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {CAMPAIGN_COLUMNS}"
        ))
        .bind(id)
        .bind(me)
        .bind(&name)
        .bind(objective as i16)
        .bind(budget)
        .bind(CAMPAIGN_ACTIVE)
        .fetch_one(&mut *tx)
        .await?;
        // The reserve about to be made, noted in its own commit and locked by
        // this transaction until it ends: if the commit below fails after
        // the wallet call, the settlement loop finds the note unlocked with
        // no campaign and releases the reserve.
        sqlx::query(
            "INSERT INTO wallet_intents (campaign_id, advertiser_id, amount_cents) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(me)
        .bind(budget)
        .execute(&self.pool)
        .await?;
        lock_note(&mut tx, WALLET_INTENTS, id).await?;
        let wallet_key = format!("campaign:{id}:v1");
        let reserved = self
            .wallet
            .reserve(Movement {
                idempotency_key: &wallet_key,
                advertiser_id: me,
                campaign_id: id,
                amount_cents: budget,
            })
            .await;
        let mut tx = self.settle_note(tx, WALLET_INTENTS, id, reserved).await?;
        let response = pb::CreateCampaignResponse {
            campaign: Some(row.to_proto()),
        };
        idempotency::finish(&mut tx, &caller.subject, &key, &response).await?;
        tx.commit().await?;
        Ok(response)
    }

    pub(crate) async fn get_campaign(
        &self,
        caller: &Caller,
        req: pb::GetCampaignRequest,
    ) -> AdsResult<pb::GetCampaignResponse> {
        advertiser(caller)?;
        let row = self
            .campaign_for(caller, "campaign_id", &req.campaign_id)
            .await?;
        Ok(pb::GetCampaignResponse {
            campaign: Some(row.to_proto()),
        })
    }

    pub(crate) async fn list_campaigns(
        &self,
        caller: &Caller,
        req: pb::ListCampaignsRequest,
    ) -> AdsResult<pb::ListCampaignsResponse> {
        let me = advertiser(caller)?;
        let owner = match parse_opt_id("advertiser_id", &req.advertiser_id)? {
            Some(other) if caller.is_admin() => other,
            Some(other) if other == me => me,
            Some(_) => {
                return Err(AdsError::denied(
                    "only admins list another advertiser's campaigns",
                ));
            }
            None => me,
        };
        let status = match req.status {
            0 => None,
            s => Some(
                pb::CampaignStatus::try_from(s)
                    .map_err(|_| AdsError::invalid("status", "is not a known status"))?
                    as i16,
            ),
        };
        let page = req.page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let cursor: Option<Cursor> = pagination::decode(&page.page_token)?;
        let rows = sqlx::query_as::<_, CampaignRow>(&format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE advertiser_id = $1 \
             AND ($2::int2 IS NULL OR status = $2) \
             AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4)) \
             ORDER BY created_at DESC, id DESC LIMIT $5"
        ))
        .bind(owner)
        .bind(status)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = pagination::finish(rows, limit, |c| (c.created_at, c.id));
        Ok(pb::ListCampaignsResponse {
            campaigns: rows.iter().map(CampaignRow::to_proto).collect(),
            page: Some(PageResponse {
                next_page_token: next,
            }),
        })
    }

    pub(crate) async fn update_campaign(
        &self,
        caller: &Caller,
        req: pb::UpdateCampaignRequest,
    ) -> AdsResult<pb::UpdateCampaignResponse> {
        advertiser(caller)?;
        check_mask(&req.update_mask, &["name", "total_budget_cents"])?;
        let current = self
            .campaign_for(caller, "campaign_id", &req.campaign_id)
            .await?;
        let name = if req.update_mask.iter().any(|m| m == "name") {
            Some(validate::text("name", &req.name, 1, 100)?)
        } else {
            None
        };
        let budget = if req.update_mask.iter().any(|m| m == "total_budget_cents") {
            Some(validate::cents(
                "total_budget_cents",
                req.total_budget_cents,
                validate::MIN_CAMPAIGN_BUDGET_CENTS,
            )?)
        } else {
            None
        };
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query_as::<_, CampaignRow>(&format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1 FOR UPDATE"
        ))
        .bind(current.id)
        .fetch_one(&mut *tx)
        .await?;
        let mut version = row.version;
        if let Some(budget) = budget
            && budget != row.total_budget_cents
        {
            if millicents(budget) < row.spent_millicents + row.committed_millicents {
                return Err(AdsError::rule(
                    Reason::BudgetBelowSpend,
                    format!(
                        "total_budget_cents must cover what is spent and committed ({} cents)",
                        (row.spent_millicents + row.committed_millicents + 999) / 1000
                    ),
                ));
            }
            let pending: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM budget_intents WHERE campaign_id = $1)",
            )
            .bind(row.id)
            .fetch_one(&mut *tx)
            .await?;
            if pending {
                return Err(AdsError::App(loop_platform::AppError::Unavailable(
                    "an earlier budget change of this campaign is being completed; retry in a few seconds"
                        .into(),
                )));
            }
            version += 1;
            let diff = budget - row.total_budget_cents;
            // Noted in its own commit and locked by this transaction until
            // it ends (which deletes it): if the commit fails, the
            // settlement loop completes the change (see budget_intents).
            sqlx::query(
                "INSERT INTO budget_intents (campaign_id, advertiser_id, version, budget_cents, diff_cents) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(row.id)
            .bind(row.advertiser_id)
            .bind(version)
            .bind(budget)
            .bind(diff)
            .execute(&self.pool)
            .await?;
            lock_note(&mut tx, BUDGET_INTENTS, row.id).await?;
            let key = budget_key(row.id, version, budget);
            let movement = Movement {
                idempotency_key: &key,
                advertiser_id: row.advertiser_id,
                campaign_id: row.id,
                amount_cents: diff.abs(),
            };
            let moved = if diff > 0 {
                self.wallet.reserve(movement).await
            } else {
                self.wallet.release(movement).await
            };
            tx = self.settle_note(tx, BUDGET_INTENTS, row.id, moved).await?;
        }
        let updated = sqlx::query_as::<_, CampaignRow>(&format!(
            "UPDATE campaigns SET name = COALESCE($2, name), total_budget_cents = COALESCE($3, total_budget_cents), \
             version = $4, updated_at = now() WHERE id = $1 RETURNING {CAMPAIGN_COLUMNS}"
        ))
        .bind(row.id)
        .bind(name)
        .bind(budget)
        .bind(version)
        .fetch_one(&mut *tx)
        .await?;
        let groups = crate::topview::touch_campaign_groups(&mut tx, row.id).await?;
        tx.commit().await?;
        self.refresh(&groups).await;
        Ok(pb::UpdateCampaignResponse {
            campaign: Some(updated.to_proto()),
        })
    }

    async fn set_campaign_status(
        &self,
        caller: &Caller,
        id: &str,
        status: i16,
    ) -> AdsResult<CampaignRow> {
        advertiser(caller)?;
        let current = self.campaign_for(caller, "campaign_id", id).await?;
        if current.status == status {
            return Ok(current);
        }
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query_as::<_, CampaignRow>(&format!(
            "UPDATE campaigns SET status = $2, updated_at = now() WHERE id = $1 RETURNING {CAMPAIGN_COLUMNS}"
        ))
        .bind(current.id)
        .bind(status)
        .fetch_one(&mut *tx)
        .await?;
        let groups = crate::topview::touch_campaign_groups(&mut tx, current.id).await?;
        tx.commit().await?;
        self.refresh(&groups).await;
        Ok(row)
    }

    pub(crate) async fn pause_campaign(
        &self,
        caller: &Caller,
        req: pb::PauseCampaignRequest,
    ) -> AdsResult<pb::PauseCampaignResponse> {
        let row = self
            .set_campaign_status(caller, &req.campaign_id, CAMPAIGN_PAUSED)
            .await?;
        Ok(pb::PauseCampaignResponse {
            campaign: Some(row.to_proto()),
        })
    }

    pub(crate) async fn resume_campaign(
        &self,
        caller: &Caller,
        req: pb::ResumeCampaignRequest,
    ) -> AdsResult<pb::ResumeCampaignResponse> {
        let row = self
            .set_campaign_status(caller, &req.campaign_id, CAMPAIGN_ACTIVE)
            .await?;
        Ok(pb::ResumeCampaignResponse {
            campaign: Some(row.to_proto()),
        })
    }

    // --- ad groups ----------------------------------------------------------------

    /// Why the ad group is or is not delivering now, and its spend today.
    pub(crate) async fn delivery(
        &self,
        g: &AdGroupRow,
        c: &CampaignRow,
    ) -> AdsResult<(pb::DeliveryState, i64)> {
        use pb::DeliveryState as D;
        let (day, hour): (NaiveDate, i32) = sqlx::query_as(
            "SELECT (now() AT TIME ZONE $1)::date, EXTRACT(HOUR FROM now() AT TIME ZONE $1)::int",
        )
        .bind(&g.time_zone)
        .fetch_one(&self.pool)
        .await?;
        let spent: i64 = sqlx::query_scalar(
            "SELECT COALESCE((SELECT spent_millicents FROM ad_group_spend WHERE ad_group_id = $1 AND day = $2), 0)",
        )
        .bind(g.id)
        .bind(day)
        .fetch_one(&self.pool)
        .await?;
        let now = Utc::now();
        let state = if g.status == GROUP_PAUSED {
            D::Paused
        } else if c.status == CAMPAIGN_PAUSED {
            D::CampaignPaused
        } else if now < g.starts_at {
            D::NotStarted
        } else if g.ends_at.is_some_and(|e| e <= now) {
            D::Ended
        } else {
            let creatives: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM creatives cr LEFT JOIN spark_codes s ON s.code = cr.spark_code \
                 WHERE cr.ad_group_id = $1 AND cr.status = 1 \
                 AND (cr.spark_code IS NULL OR (s.revoked_at IS NULL AND s.expires_at > now()))",
            )
            .bind(g.id)
            .fetch_one(&self.pool)
            .await?;
            let topview = g.format() == pb::AdFormat::Topview;
            let reserved_today = if topview {
                sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (SELECT 1 FROM topview_reservations WHERE ad_group_id = $1 AND status = 1 \
                     AND day = (now() AT TIME ZONE 'UTC')::date)",
                )
                .bind(g.id)
                .fetch_one(&self.pool)
                .await?
            } else {
                true
            };
            let hours_ok =
                g.active_hours.is_empty() || g.active_hours.iter().any(|h| i32::from(*h) == hour);
            if creatives == 0 {
                D::NoActiveCreative
            } else if !reserved_today {
                D::NoReservation
            } else if !topview && c.available_millicents() <= 0 {
                D::CampaignBudgetExhausted
            } else if !topview && spent >= millicents(g.daily_budget_cents) {
                D::DailyBudgetExhausted
            } else if !hours_ok {
                D::OutsideHours
            } else {
                D::Delivering
            }
        };
        Ok((state, spent))
    }

    pub(crate) async fn ad_group_proto(
        &self,
        g: &AdGroupRow,
        c: &CampaignRow,
    ) -> AdsResult<pb::AdGroup> {
        let (state, spent) = self.delivery(g, c).await?;
        Ok(g.to_proto(state, spent))
    }

    pub(crate) async fn create_ad_group(
        &self,
        caller: &Caller,
        req: pb::CreateAdGroupRequest,
    ) -> AdsResult<pb::CreateAdGroupResponse> {
        advertiser(caller)?;
        let name = validate::text("name", &req.name, 1, 100)?;
        let format = validate::format(req.format)?;
        let (daily, bid_type, bid) =
            check_bid(format, req.daily_budget_cents, req.bid_type, req.bid_cents)?;
        let schedule = validate::schedule(req.schedule.as_ref())?;
        let targeting = validate::targeting(req.targeting)?;
        if req.frequency_cap_per_day > 1000 {
            return Err(AdsError::invalid("frequency_cap_per_day", "at most 1000"));
        }
        let campaign = self
            .campaign_for(caller, "campaign_id", &req.campaign_id)
            .await?;
        self.check_time_zone(&schedule.time_zone).await?;
        let starts =
            loop_platform::time::from_timestamp("schedule.starts_at", schedule.starts_at.as_ref())?;
        let ends = schedule
            .ends_at
            .as_ref()
            .map(|e| loop_platform::time::from_timestamp("schedule.ends_at", Some(e)))
            .transpose()?;
        let hours: Vec<i16> = schedule
            .active_hours
            .iter()
            .filter_map(|h| i16::try_from(*h).ok())
            .collect();
        let id = new_id();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query_as::<_, AdGroupRow>(&format!(
            "INSERT INTO ad_groups AS g (id, campaign_id, advertiser_id, name, format, daily_budget_cents, bid_type, \
             bid_cents, starts_at, ends_at, active_hours, time_zone, targeting, frequency_cap_per_day, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING {AD_GROUP_COLUMNS}"
        ))
        .bind(id)
        .bind(campaign.id)
        .bind(campaign.advertiser_id)
        .bind(&name)
        .bind(format as i16)
        .bind(daily)
        .bind(i16::try_from(bid_type).unwrap_or(0))
        .bind(bid)
        .bind(starts)
        .bind(ends)
        .bind(&hours)
        .bind(&schedule.time_zone)
        .bind(targeting.encode_to_vec())
        .bind(i32::try_from(req.frequency_cap_per_day).unwrap_or(0))
        .bind(GROUP_ACTIVE)
        .fetch_one(&mut *tx)
        .await?;
        index::notify(&mut tx, &[id]).await?;
        tx.commit().await?;
        Ok(pb::CreateAdGroupResponse {
            ad_group: Some(self.ad_group_proto(&row, &campaign).await?),
        })
    }

    pub(crate) async fn get_ad_group(
        &self,
        caller: &Caller,
        req: pb::GetAdGroupRequest,
    ) -> AdsResult<pb::GetAdGroupResponse> {
        advertiser(caller)?;
        let (g, c) = self
            .ad_group_for(caller, "ad_group_id", &req.ad_group_id)
            .await?;
        Ok(pb::GetAdGroupResponse {
            ad_group: Some(self.ad_group_proto(&g, &c).await?),
        })
    }

    pub(crate) async fn list_ad_groups(
        &self,
        caller: &Caller,
        req: pb::ListAdGroupsRequest,
    ) -> AdsResult<pb::ListAdGroupsResponse> {
        advertiser(caller)?;
        let campaign = self
            .campaign_for(caller, "campaign_id", &req.campaign_id)
            .await?;
        let page = req.page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let cursor: Option<Cursor> = pagination::decode(&page.page_token)?;
        let rows = sqlx::query_as::<_, AdGroupRow>(&format!(
            "SELECT {AD_GROUP_COLUMNS} FROM ad_groups g WHERE g.campaign_id = $1 \
             AND ($2::timestamptz IS NULL OR (g.created_at, g.id) < ($2, $3)) \
             ORDER BY g.created_at DESC, g.id DESC LIMIT $4"
        ))
        .bind(campaign.id)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = pagination::finish(rows, limit, |g| (g.created_at, g.id));
        let mut groups = Vec::with_capacity(rows.len());
        for g in &rows {
            groups.push(self.ad_group_proto(g, &campaign).await?);
        }
        Ok(pb::ListAdGroupsResponse {
            ad_groups: groups,
            page: Some(PageResponse {
                next_page_token: next,
            }),
        })
    }

    pub(crate) async fn update_ad_group(
        &self,
        caller: &Caller,
        req: pb::UpdateAdGroupRequest,
    ) -> AdsResult<pb::UpdateAdGroupResponse> {
        advertiser(caller)?;
        check_mask(
            &req.update_mask,
            &[
                "name",
                "daily_budget_cents",
                "bid_cents",
                "schedule",
                "targeting",
                "frequency_cap_per_day",
            ],
        )?;
        let (g, c) = self
            .ad_group_for(caller, "ad_group_id", &req.ad_group_id)
            .await?;
        let has = |f: &str| req.update_mask.iter().any(|m| m == f);
        let name = if has("name") {
            validate::text("name", &req.name, 1, 100)?
        } else {
            g.name.clone()
        };
        let (daily, _, bid) = check_bid(
            g.format(),
            if has("daily_budget_cents") {
                req.daily_budget_cents
            } else {
                g.daily_budget_cents
            },
            i32::from(g.bid_type),
            if has("bid_cents") {
                req.bid_cents
            } else {
                g.bid_cents
            },
        )?;
        let schedule = if has("schedule") {
            let s = validate::schedule(req.schedule.as_ref())?;
            self.check_time_zone(&s.time_zone).await?;
            s
        } else {
            g.schedule()
        };
        let targeting = if has("targeting") {
            validate::targeting(req.targeting)?
        } else {
            g.targeting()
        };
        let cap = if has("frequency_cap_per_day") {
            if req.frequency_cap_per_day > 1000 {
                return Err(AdsError::invalid("frequency_cap_per_day", "at most 1000"));
            }
            i32::try_from(req.frequency_cap_per_day).unwrap_or(0)
        } else {
            g.frequency_cap_per_day
        };
        let starts =
            loop_platform::time::from_timestamp("schedule.starts_at", schedule.starts_at.as_ref())?;
        let ends = schedule
            .ends_at
            .as_ref()
            .map(|e| loop_platform::time::from_timestamp("schedule.ends_at", Some(e)))
            .transpose()?;
        let hours: Vec<i16> = schedule
            .active_hours
            .iter()
            .filter_map(|h| i16::try_from(*h).ok())
            .collect();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query_as::<_, AdGroupRow>(&format!(
            "UPDATE ad_groups AS g SET name = $2, daily_budget_cents = $3, bid_cents = $4, starts_at = $5, \
             ends_at = $6, active_hours = $7, time_zone = $8, targeting = $9, frequency_cap_per_day = $10, \
             updated_at = now() WHERE g.id = $1 RETURNING {AD_GROUP_COLUMNS}"
        ))
        .bind(g.id)
        .bind(&name)
        .bind(daily)
        .bind(bid)
        .bind(starts)
        .bind(ends)
        .bind(&hours)
        .bind(&schedule.time_zone)
        .bind(targeting.encode_to_vec())
        .bind(cap)
        .fetch_one(&mut *tx)
        .await?;
        index::notify(&mut tx, &[g.id]).await?;
        tx.commit().await?;
        self.refresh(&[g.id]).await;
        Ok(pb::UpdateAdGroupResponse {
            ad_group: Some(self.ad_group_proto(&row, &c).await?),
        })
    }

    async fn set_group_status(
        &self,
        caller: &Caller,
        id: &str,
        status: i16,
    ) -> AdsResult<pb::AdGroup> {
        advertiser(caller)?;
        let (g, c) = self.ad_group_for(caller, "ad_group_id", id).await?;
        if g.status == status {
            return self.ad_group_proto(&g, &c).await;
        }
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query_as::<_, AdGroupRow>(&format!(
            "UPDATE ad_groups AS g SET status = $2, updated_at = now() WHERE g.id = $1 RETURNING {AD_GROUP_COLUMNS}"
        ))
        .bind(g.id)
        .bind(status)
        .fetch_one(&mut *tx)
        .await?;
        index::notify(&mut tx, &[g.id]).await?;
        tx.commit().await?;
        self.refresh(&[g.id]).await;
        self.ad_group_proto(&row, &c).await
    }

    pub(crate) async fn pause_ad_group(
        &self,
        caller: &Caller,
        req: pb::PauseAdGroupRequest,
    ) -> AdsResult<pb::PauseAdGroupResponse> {
        Ok(pb::PauseAdGroupResponse {
            ad_group: Some(
                self.set_group_status(caller, &req.ad_group_id, GROUP_PAUSED)
                    .await?,
            ),
        })
    }

    pub(crate) async fn resume_ad_group(
        &self,
        caller: &Caller,
        req: pb::ResumeAdGroupRequest,
    ) -> AdsResult<pb::ResumeAdGroupResponse> {
        Ok(pb::ResumeAdGroupResponse {
            ad_group: Some(
                self.set_group_status(caller, &req.ad_group_id, GROUP_ACTIVE)
                    .await?,
            ),
        })
    }
}
