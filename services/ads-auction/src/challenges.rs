//! Branded Hashtag Challenges: a sponsored hashtag pinned in Discover for a
//! period at a fixed fee (a fee per started UTC day), its videos boosted in
//! For You. The challenge itself lives in content
//! (`ContentService.CreateChallenge` with `sponsor_id` = the advertiser;
//! feed-ranking boosts it from `content.v1`); ads-auction sells it, spends
//! the fee from the campaign budget and lists the pinned ones.

use chrono::{DateTime, Duration, Utc};
use loop_platform::auth::Caller;
use loop_platform::ids::new_id;
use loop_platform::time::{from_timestamp, to_timestamp};
use loop_proto::ads_auction::v1 as pb;
use loop_proto::content::v1 as content;

use crate::error::{AdsError, AdsResult, Reason};
use crate::idempotency;
use crate::model::*;
use crate::service::{AdsService, advertiser};
use crate::serving::campaign_key;
use crate::topview::touch_campaign_groups;
use crate::validate;

/// UTC days touched by [starts, ends).
pub fn started_days(starts: DateTime<Utc>, ends: DateTime<Utc>) -> i64 {
    let last = (ends - Duration::nanoseconds(1)).date_naive();
    (last - starts.date_naive()).num_days() + 1
}

/// A validated order for a challenge: what the request asks, and its fee.
struct ChallengeOrder {
    key: String,
    /// The request's hash, without its idempotency key.
    hash: Vec<u8>,
    hashtag: String,
    description: String,
    banner_url: String,
    starts: DateTime<Utc>,
    ends: DateTime<Utc>,
    countries: Vec<String>,
    fee: i64,
}

impl AdsService {
    pub(crate) async fn create_branded_challenge(
        &self,
        caller: &Caller,
        req: pb::CreateBrandedChallengeRequest,
    ) -> AdsResult<pb::CreateBrandedChallengeResponse> {
        let me = advertiser(caller)?;
        let order = self.challenge_order(&req)?;
        let campaign = self
            .campaign_for(caller, "campaign_id", &req.campaign_id)
            .await?;
        let mut tx = self.pool.begin().await?;
        if let Some(done) = idempotency::begin(
            &mut tx,
            &caller.subject,
            &order.key,
            "CreateBrandedChallenge",
            &order.hash,
        )
        .await?
        {
            return Ok(done);
        }
        let fee = order.fee;
        if req.expected_fee_cents != 0 && req.expected_fee_cents != fee {
            return Err(AdsError::rule(
                Reason::PriceChanged,
                format!("the fee for this period is now {fee} cents"),
            ));
        }
        lock_budget_for(&mut tx, campaign.id, fee).await?;
        // Content owns the hashtag's challenges (and refuses overlaps). If
        // this transaction failed after content accepted, a retry would see
        // CHALLENGE_OVERLAP for its own challenge: the window is one commit.
        let challenge_id = self.create_in_content(me, &order).await?;
        let row = insert_challenge(&mut tx, &order, &campaign, challenge_id).await?;
        let spent = spend_fee(&mut tx, campaign.id, fee).await?;
        let groups = touch_campaign_groups(&mut tx, campaign.id).await?;
        let response = pb::CreateBrandedChallengeResponse {
            challenge: Some(row.to_proto()),
        };
        idempotency::finish(&mut tx, &caller.subject, &order.key, &response).await?;
        tx.commit().await?;
        self.publish_spent(campaign.id, spent).await;
        self.refresh(&groups).await;
        Ok(response)
    }

    /// Validates the request's fields (in the order a client reads the
    /// errors) and prices the period.
    fn challenge_order(
        &self,
        req: &pb::CreateBrandedChallengeRequest,
    ) -> AdsResult<ChallengeOrder> {
        let key = validate::idempotency_key(&req.idempotency_key)?;
        let hashtag = validate::hashtag("hashtag", &req.hashtag)?;
        let description = validate::text("description", &req.description, 1, 1000)?;
        let banner_url = if req.banner_url.trim().is_empty() {
            String::new()
        } else {
            validate::https_url("banner_url", &req.banner_url)?
        };
        let starts = from_timestamp("starts_at", req.starts_at.as_ref())?;
        let ends = from_timestamp("ends_at", req.ends_at.as_ref())?;
        let now = Utc::now();
        if starts < now - Duration::minutes(5) {
            return Err(AdsError::invalid("starts_at", "must not be in the past"));
        }
        if ends <= starts {
            return Err(AdsError::invalid("ends_at", "must be after starts_at"));
        }
        if ends - starts > Duration::days(30) {
            return Err(AdsError::invalid(
                "ends_at",
                "the period is at most 30 days",
            ));
        }
        let mut countries = Vec::new();
        for (i, c) in req.countries.iter().enumerate() {
            let c = validate::country(&format!("countries[{i}]"), c)?;
            if !countries.contains(&c) {
                countries.push(c);
            }
        }
        let fee = self.config.challenge.fee_cents_per_day * started_days(starts, ends);
        let hash = idempotency::request_hash(&pb::CreateBrandedChallengeRequest {
            idempotency_key: String::new(),
            ..req.clone()
        });
        Ok(ChallengeOrder {
            key,
            hash,
            hashtag,
            description,
            banner_url,
            starts,
            ends,
            countries,
            fee,
        })
    }

    /// Creates the challenge in content, sponsored by `me`; returns its id.
    /// An overlap is CHALLENGE_OVERLAP, a field content refuses is that field.
    async fn create_in_content(
        &self,
        me: uuid::Uuid,
        order: &ChallengeOrder,
    ) -> AdsResult<uuid::Uuid> {
        let created = self
            .content
            .clone()
            .create_challenge(self.as_service(content::CreateChallengeRequest {
                hashtag: order.hashtag.clone(),
                description: order.description.clone(),
                starts_at: Some(to_timestamp(order.starts)),
                ends_at: Some(to_timestamp(order.ends)),
                sponsor_id: me.to_string(),
            }))
            .await;
        let challenge = match created {
            Ok(r) => r.into_inner().challenge.ok_or_else(|| {
                AdsError::internal(anyhow::anyhow!("content returned no challenge"))
            })?,
            Err(status) if status.code() == tonic::Code::AlreadyExists => {
                return Err(AdsError::rule(
                    Reason::ChallengeOverlap,
                    format!("#{} already has a challenge in that period", order.hashtag),
                ));
            }
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                let field =
                    loop_platform::error::status_field(&status).unwrap_or_else(|| "hashtag".into());
                return Err(AdsError::invalid(field, status.message().to_owned()));
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = %status.message(), "content CreateChallenge failed");
                return Err(AdsError::App(loop_platform::AppError::Unavailable(
                    "content service unavailable, retry".into(),
                )));
            }
        };
        uuid::Uuid::parse_str(&challenge.challenge_id)
            .map_err(|e| AdsError::internal(anyhow::anyhow!("content challenge id: {e}")))
    }

    /// Auction delivery sees the fee at once (spend only grows).
    async fn publish_spent(&self, campaign_id: uuid::Uuid, spent: i64) {
        let mut conn = self.redis.conn.clone();
        let _: Result<i64, _> = redis::Script::new(
            "local c = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0') \
             if tonumber(ARGV[1]) > c then redis.call('HSET', KEYS[1], 'spent', ARGV[1]) end return 1",
        )
        .key(campaign_key(&self.redis, campaign_id))
        .arg(spent)
        .invoke_async(&mut conn)
        .await;
    }

    pub(crate) async fn list_active_challenges(
        &self,
        _caller: &Caller,
        req: pb::ListActiveChallengesRequest,
    ) -> AdsResult<pb::ListActiveChallengesResponse> {
        let country = if req.country.trim().is_empty() {
            None
        } else {
            Some(validate::country("country", &req.country)?)
        };
        let rows = sqlx::query_as::<_, BrandedChallengeRow>(&format!(
            "SELECT {CHALLENGE_COLUMNS} FROM branded_challenges WHERE starts_at <= now() AND ends_at > now() \
             AND ($1::text IS NULL OR countries = '{{}}' OR $1 = ANY(countries)) ORDER BY starts_at, id LIMIT 200"
        ))
        .bind(country)
        .fetch_all(&self.pool)
        .await?;
        Ok(pb::ListActiveChallengesResponse {
            challenges: rows.iter().map(BrandedChallengeRow::to_proto).collect(),
        })
    }
}

/// Locks the campaign and checks that its uncommitted budget covers `fee`.
async fn lock_budget_for(
    tx: &mut sqlx::PgConnection,
    campaign_id: uuid::Uuid,
    fee: i64,
) -> AdsResult<()> {
    let locked = sqlx::query_as::<_, CampaignRow>(&format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1 FOR UPDATE"
    ))
    .bind(campaign_id)
    .fetch_one(&mut *tx)
    .await?;
    if locked.available_millicents() < millicents(fee) {
        return Err(AdsError::rule(
            Reason::InsufficientBudget,
            format!(
                "the fee is {fee} cents; the campaign has {} cents uncommitted",
                cents_down(locked.available_millicents().max(0))
            ),
        ));
    }
    Ok(())
}

async fn insert_challenge(
    tx: &mut sqlx::PgConnection,
    order: &ChallengeOrder,
    campaign: &CampaignRow,
    challenge_id: uuid::Uuid,
) -> AdsResult<BrandedChallengeRow> {
    Ok(sqlx::query_as::<_, BrandedChallengeRow>(&format!(
        "INSERT INTO branded_challenges (id, challenge_id, advertiser_id, campaign_id, hashtag, description, \
         banner_url, starts_at, ends_at, countries, fee_cents) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         RETURNING {CHALLENGE_COLUMNS}"
    ))
    .bind(new_id())
    .bind(challenge_id)
    .bind(campaign.advertiser_id)
    .bind(campaign.id)
    .bind(&order.hashtag)
    .bind(&order.description)
    .bind(&order.banner_url)
    .bind(order.starts)
    .bind(order.ends)
    .bind(&order.countries)
    .bind(order.fee)
    .fetch_one(&mut *tx)
    .await?)
}

/// Spends `fee` from the campaign (and today's fee total); returns the
/// campaign's new spend in millicents.
async fn spend_fee(
    tx: &mut sqlx::PgConnection,
    campaign_id: uuid::Uuid,
    fee: i64,
) -> AdsResult<i64> {
    let spent: i64 = sqlx::query_scalar(
        "UPDATE campaigns SET spent_millicents = spent_millicents + $2 WHERE id = $1 RETURNING spent_millicents",
    )
    .bind(campaign_id)
    .bind(millicents(fee))
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO campaign_fees (campaign_id, day, spend_millicents) VALUES ($1, (now() AT TIME ZONE 'UTC')::date, $2) \
         ON CONFLICT (campaign_id, day) DO UPDATE SET spend_millicents = campaign_fees.spend_millicents + EXCLUDED.spend_millicents",
    )
    .bind(campaign_id)
    .bind(millicents(fee))
    .execute(&mut *tx)
    .await?;
    Ok(spent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn fees_count_started_utc_days() {
        let t = |d: u32, h: u32| {
            Utc.with_ymd_and_hms(2026, 5, d, h, 0, 0)
                .single()
                .expect("valid")
        };
        assert_eq!(started_days(t(1, 0), t(2, 0)), 1);
        assert_eq!(started_days(t(1, 23), t(2, 1)), 2);
        assert_eq!(started_days(t(1, 12), t(8, 12)), 8);
    }
}
