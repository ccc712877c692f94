//! Reports (advertiser) from the billed-event roll-up, and live delivery
//! counters of one ad group (ops).

use std::collections::HashMap;

use chrono::{Duration, NaiveDate, Utc};
use loop_platform::auth::Caller;
use loop_proto::ads_auction::v1 as pb;
use sqlx::Row;

use crate::error::{AdsError, AdsResult};
use crate::model::*;
use crate::service::{AdsService, advertiser, internal};
use crate::validate;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub impressions: i64,
    pub clicks: i64,
    pub views: i64,
    pub spend_millicents: i64,
    pub invalid: i64,
}

/// A report row: CTR = clicks / impressions; eCPM = spend_cents x 1000 /
/// impressions rounded down; spend rounded down to cents; zeros without
/// impressions.
pub fn report_row(date: String, t: Totals) -> pb::ReportRow {
    let spend_cents = cents_down(t.spend_millicents);
    pb::ReportRow {
        date,
        impressions: u64::try_from(t.impressions).unwrap_or(0),
        clicks: u64::try_from(t.clicks).unwrap_or(0),
        views_6s: u64::try_from(t.views).unwrap_or(0),
        ctr: if t.impressions > 0 {
            t.clicks as f64 / t.impressions as f64
        } else {
            0.0
        },
        spend_cents,
        ecpm_cents: if t.impressions > 0 {
            spend_cents * 1000 / t.impressions
        } else {
            0
        },
        invalid_events: u64::try_from(t.invalid).unwrap_or(0),
    }
}

impl AdsService {
    pub(crate) async fn get_report(
        &self,
        caller: &Caller,
        req: pb::GetReportRequest,
    ) -> AdsResult<pb::GetReportResponse> {
        advertiser(caller)?;
        let start = validate::date("start_date", &req.start_date)?;
        let end = validate::date("end_date", &req.end_date)?;
        if end < start {
            return Err(AdsError::invalid(
                "end_date",
                "must not be before start_date",
            ));
        }
        if (end - start).num_days() >= 93 {
            return Err(AdsError::invalid(
                "end_date",
                "a report covers at most 93 days",
            ));
        }
        let mut days: HashMap<NaiveDate, Totals> = HashMap::new();
        let rows = match &req.scope {
            Some(pb::get_report_request::Scope::CampaignId(id)) => {
                let c = self.campaign_for(caller, "campaign_id", id).await?;
                let fees = sqlx::query(
                    "SELECT day, spend_millicents FROM campaign_fees WHERE campaign_id = $1 AND day BETWEEN $2 AND $3",
                )
                .bind(c.id)
                .bind(start)
                .bind(end)
                .fetch_all(&self.pool)
                .await?;
                for r in fees {
                    days.entry(r.try_get("day")?).or_default().spend_millicents +=
                        r.try_get::<i64, _>("spend_millicents")?;
                }
                sqlx::query(
                    "SELECT day, sum(impressions)::bigint AS i, sum(clicks)::bigint AS c, sum(views_6s)::bigint AS v, \
                     sum(spend_millicents)::bigint AS s, sum(invalid_events)::bigint AS x FROM daily_stats WHERE campaign_id = $1 AND day BETWEEN $2 AND $3 \
                     GROUP BY day",
                )
                .bind(c.id)
                .bind(start)
                .bind(end)
                .fetch_all(&self.pool)
                .await?
            }
            Some(pb::get_report_request::Scope::AdGroupId(id)) => {
                let (g, _) = self.ad_group_for(caller, "ad_group_id", id).await?;
                sqlx::query(
                    "SELECT day, impressions AS i, clicks AS c, views_6s AS v, spend_millicents AS s, invalid_events AS x FROM daily_stats \
                     WHERE ad_group_id = $1 AND day BETWEEN $2 AND $3",
                )
                .bind(g.id)
                .bind(start)
                .bind(end)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                return Err(AdsError::invalid("scope", "set campaign_id or ad_group_id"));
            }
        };
        for r in rows {
            let t = days.entry(r.try_get("day")?).or_default();
            t.impressions += r.try_get::<i64, _>("i")?;
            t.clicks += r.try_get::<i64, _>("c")?;
            t.views += r.try_get::<i64, _>("v")?;
            t.spend_millicents += r.try_get::<i64, _>("s")?;
            t.invalid += r.try_get::<i64, _>("x")?;
        }
        let mut total = Totals::default();
        let mut out = Vec::new();
        let mut day = start;
        while day <= end {
            let t = days.get(&day).copied().unwrap_or_default();
            total.impressions += t.impressions;
            total.clicks += t.clicks;
            total.views += t.views;
            total.spend_millicents += t.spend_millicents;
            total.invalid += t.invalid;
            out.push(report_row(day_string(day), t));
            day += Duration::days(1);
        }
        Ok(pb::GetReportResponse {
            rows: out,
            totals: Some(report_row(String::new(), total)),
        })
    }

    pub(crate) async fn get_ad_group_delivery(
        &self,
        caller: &Caller,
        req: pb::GetAdGroupDeliveryRequest,
    ) -> AdsResult<pb::GetAdGroupDeliveryResponse> {
        internal(caller)?;
        let (g, c) = self
            .ad_group_for(caller, "ad_group_id", &req.ad_group_id)
            .await?;
        let group = self.ad_group_proto(&g, &c).await?;
        let now = Utc::now();
        let (day, offset, paced) = match self.index.window_of(g.id) {
            Some((w, daily)) => (
                w.local_day(now),
                w.utc_offset_secs,
                if self.config.pacing.enabled {
                    w.paced_target(daily, now, self.config.pacing.burst_fraction)
                } else {
                    daily
                },
            ),
            None => (now.date_naive(), 0, 0),
        };
        let mut conn = self.redis.conn.clone();
        let (rday, served): (Option<String>, Option<i64>) = redis::cmd("HMGET")
            .arg(crate::serving::ad_group_key(&self.redis, g.id))
            .arg("day")
            .arg("served")
            .query_async(&mut conn)
            .await?;
        let served = if rday.as_deref() == Some(day_string(day).as_str()) {
            served.unwrap_or(0)
        } else {
            0
        };
        let spent: i64 = sqlx::query_scalar(
            "SELECT COALESCE((SELECT spent_millicents FROM ad_group_spend WHERE ad_group_id = $1 AND day = $2), 0)",
        )
        .bind(g.id)
        .bind(day)
        .fetch_one(&self.pool)
        .await?;
        let counts = sqlx::query(
            "SELECT COALESCE(sum(impressions), 0)::bigint AS i, COALESCE(sum(clicks), 0)::bigint AS c \
             FROM daily_stats WHERE ad_group_id = $1 AND day = (now() AT TIME ZONE 'UTC')::date",
        )
        .bind(g.id)
        .fetch_one(&self.pool)
        .await?;
        let impressions: i64 = counts.try_get("i")?;
        let billed_today: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM ad_actions WHERE ad_group_id = $1 AND billable AND billed_at >= $2",
        )
        .bind(g.id)
        .bind(
            day.and_hms_opt(0, 0, 0)
                .map(|d| d.and_utc() - Duration::seconds(i64::from(offset)))
                .unwrap_or(now),
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(pb::GetAdGroupDeliveryResponse {
            ad_group: Some(group),
            paced_target_today_millicents: paced,
            spent_today_millicents: spent,
            outstanding_tokens_today: u64::try_from((served - billed_today).max(0)).unwrap_or(0),
            impressions_today: u64::try_from(impressions).unwrap_or(0),
            clicks_today: u64::try_from(counts.try_get::<i64, _>("c")?).unwrap_or(0),
            predicted_ctr: self
                .index
                .predicted_ctr(g.id)
                .unwrap_or(self.config.prediction.prior_ctr),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_rows_round_down() {
        let r = report_row(
            "2026-01-01".into(),
            Totals {
                impressions: 3,
                clicks: 1,
                views: 2,
                spend_millicents: 1999,
                invalid: 4,
            },
        );
        assert_eq!(r.spend_cents, 1);
        assert_eq!(r.ecpm_cents, 333);
        assert!((r.ctr - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(report_row(String::new(), Totals::default()).ecpm_cents, 0);
    }
}
