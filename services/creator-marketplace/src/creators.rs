//! Creators: applications to be listed (18+, a follower minimum, reapply 30
//! days after a rejection), their marketplace profile, admin review, and
//! their analytics.

use chrono::{NaiveDate, Utc};
use loop_platform::auth::{Caller, Role};
use loop_platform::error::is_unique_violation;
use loop_platform::ids::{new_id, parse_id, parse_opt_id};
use loop_platform::pagination;
use loop_proto::common::v1::PageResponse;
use loop_proto::creator_marketplace::v1 as pb;
use uuid::Uuid;

use crate::analytics;
use crate::error::{MktError, MktResult, Reason, invalid_state};
use crate::model::{
    APPLICATION_COLUMNS, APPROVED, ApplicationRow, PENDING, PROFILE_COLUMNS, ProfileRow, REJECTED,
    page_token,
};
use crate::service::{MarketplaceService, creator};

/// 1..=max names of [a-z0-9_-], 1..40 chars each, lower-cased, distinct.
pub(crate) fn categories(
    field: &str,
    values: &[String],
    min: usize,
    max: usize,
) -> MktResult<Vec<String>> {
    if values.len() < min || values.len() > max {
        return Err(MktError::invalid(
            field,
            format!("give {min}..{max} categories"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let c = v.trim().to_lowercase();
        if c.is_empty()
            || c.chars().count() > 40
            || !c
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
        {
            return Err(MktError::invalid(
                format!("{field}[{i}]"),
                "must be 1..40 characters of [a-z0-9_-]",
            ));
        }
        if out.contains(&c) {
            return Err(MktError::invalid(format!("{field}[{i}]"), "is repeated"));
        }
        out.push(c);
    }
    Ok(out)
}

fn rate(value: i64) -> MktResult<i64> {
    Ok(loop_platform::money::cents("rate_cents", value, 100)?)
}

fn pitch(value: &str) -> MktResult<String> {
    if value.chars().count() > 1000 {
        return Err(MktError::invalid(
            "pitch",
            "must be at most 1000 characters",
        ));
    }
    Ok(value.trim().to_owned())
}

impl MarketplaceService {
    pub(crate) async fn profile(&self, creator: Uuid) -> MktResult<Option<ProfileRow>> {
        Ok(sqlx::query_as::<_, ProfileRow>(&format!(
            "SELECT {PROFILE_COLUMNS} FROM creator_stats WHERE creator_id = $1 AND has_profile"
        ))
        .bind(creator)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Whether `creator` is listed (an approved application).
    pub(crate) async fn is_listed(&self, creator: Uuid) -> MktResult<bool> {
        Ok(self.profile(creator).await?.is_some_and(|p| p.listed))
    }

    pub(crate) async fn apply_as_creator(
        &self,
        caller: &Caller,
        req: pb::ApplyAsCreatorRequest,
    ) -> MktResult<pb::ApplyAsCreatorResponse> {
        let me = creator(caller)?;
        let cats = categories("categories", &req.categories, 1, 5)?;
        let rate_cents = rate(req.rate_cents)?;
        let pitch = pitch(&req.pitch)?;

        let latest = sqlx::query_as::<_, ApplicationRow>(&format!(
            "SELECT {APPLICATION_COLUMNS} FROM creator_applications WHERE creator_id = $1 ORDER BY created_at DESC LIMIT 1"
        ))
        .bind(me)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(a) = &latest {
            match a.status {
                PENDING => {
                    return Err(MktError::rule(
                        Reason::ApplicationPending,
                        "an application is already waiting for review",
                    ));
                }
                APPROVED => {
                    return Err(MktError::rule(
                        Reason::AlreadyApproved,
                        "the creator is already listed",
                    ));
                }
                _ => {
                    if let Some(after) = a.reapply_after.filter(|t| *t > Utc::now()) {
                        return Err(MktError::rule(
                            Reason::ReapplyTooSoon,
                            format!(
                                "a rejected creator may apply again from {}",
                                after.to_rfc3339()
                            ),
                        ));
                    }
                }
            }
        }

        let user = self.content_user(me).await?;
        let today = Utc::now().date_naive();
        let old_enough = NaiveDate::parse_from_str(&user.birth_date, "%Y-%m-%d").is_ok_and(|b| {
            loop_platform::time::age_on(b, today) >= self.config.marketplace.min_age
        });
        if !old_enough {
            return Err(MktError::rule(
                Reason::NotEligibleAge,
                format!(
                    "creators must be at least {} years old",
                    self.config.marketplace.min_age
                ),
            ));
        }
        if user.follower_count < self.config.marketplace.min_followers {
            return Err(MktError::rule(
                Reason::NotEligibleFollowers,
                format!(
                    "creators need at least {} followers (have {})",
                    self.config.marketplace.min_followers, user.follower_count
                ),
            ));
        }

        let mut tx = self.pool.begin().await?;
        let row = sqlx::query_as::<_, ApplicationRow>(&format!(
            "INSERT INTO creator_applications (application_id, creator_id, categories, rate_cents, pitch, status, followers_at_application) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {APPLICATION_COLUMNS}"
        ))
        .bind(new_id())
        .bind(me)
        .bind(&cats)
        .bind(rate_cents)
        .bind(&pitch)
        .bind(PENDING)
        .bind(i64::try_from(user.follower_count).unwrap_or(i64::MAX))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e, Some("applications_one_pending")) {
                MktError::rule(Reason::ApplicationPending, "an application is already waiting for review")
            } else {
                e.into()
            }
        })?;
        // The profile exists (unlisted) from the first application on.
        sqlx::query(
            "INSERT INTO creator_stats (creator_id, has_profile, country, categories, rate_cents, pitch, profile_updated_at) \
             VALUES ($1, true, $2, $3, $4, $5, now()) \
             ON CONFLICT (creator_id) DO UPDATE SET has_profile = true, country = EXCLUDED.country, \
             categories = EXCLUDED.categories, rate_cents = EXCLUDED.rate_cents, pitch = EXCLUDED.pitch, profile_updated_at = now()",
        )
        .bind(me)
        .bind(user.country.to_uppercase())
        .bind(&cats)
        .bind(rate_cents)
        .bind(&pitch)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO dirty_creators (creator_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(me)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(pb::ApplyAsCreatorResponse {
            application: Some(row.to_proto()),
        })
    }

    pub(crate) async fn get_application_status(
        &self,
        caller: &Caller,
        req: pb::GetApplicationStatusRequest,
    ) -> MktResult<pb::GetApplicationStatusResponse> {
        let target = match parse_opt_id("creator_id", &req.creator_id)? {
            Some(id) if caller.is_admin() => id,
            Some(id) if caller.subject == id.to_string() => id,
            Some(_) => return Err(MktError::denied("only admins may name a creator")),
            None => caller.user_id()?,
        };
        let row = sqlx::query_as::<_, ApplicationRow>(&format!(
            "SELECT {APPLICATION_COLUMNS} FROM creator_applications WHERE creator_id = $1 ORDER BY created_at DESC LIMIT 1"
        ))
        .bind(target)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| MktError::not_found("no application"))?;
        Ok(pb::GetApplicationStatusResponse {
            application: Some(row.to_proto()),
        })
    }

    pub(crate) async fn get_creator_profile(
        &self,
        caller: &Caller,
        req: pb::GetCreatorProfileRequest,
    ) -> MktResult<pb::GetCreatorProfileResponse> {
        let target = match parse_opt_id("creator_id", &req.creator_id)? {
            Some(id) => id,
            None => caller.user_id()?,
        };
        let own = caller.subject == target.to_string();
        let profile = self
            .profile(target)
            .await?
            .filter(|p| p.listed || own || caller.is_privileged())
            .ok_or_else(|| MktError::not_found("creator not found"))?;
        Ok(pb::GetCreatorProfileResponse {
            profile: Some(profile.to_proto()),
        })
    }

    pub(crate) async fn update_creator_profile(
        &self,
        caller: &Caller,
        req: pb::UpdateCreatorProfileRequest,
    ) -> MktResult<pb::UpdateCreatorProfileResponse> {
        let me = creator(caller)?;
        if req.update_mask.is_empty() {
            return Err(MktError::invalid("update_mask", "name at least one field"));
        }
        let mut current = self
            .profile(me)
            .await?
            .ok_or_else(|| MktError::not_found("apply as a creator first"))?;
        for (i, field) in req.update_mask.iter().enumerate() {
            match field.as_str() {
                "categories" => {
                    current.categories = categories("categories", &req.categories, 1, 5)?
                }
                "accepted_categories" => {
                    current.accepted_categories =
                        categories("accepted_categories", &req.accepted_categories, 0, 20)?;
                }
                "rate_cents" => current.rate_cents = rate(req.rate_cents)?,
                "pitch" => current.pitch = pitch(&req.pitch)?,
                "open_to_offers" => current.open_to_offers = req.open_to_offers,
                _ => {
                    return Err(MktError::invalid(
                        format!("update_mask[{i}]"),
                        "must be one of categories, accepted_categories, rate_cents, pitch, open_to_offers",
                    ));
                }
            }
        }
        let row = sqlx::query_as::<_, ProfileRow>(&format!(
            "UPDATE creator_stats SET categories = $2, accepted_categories = $3, rate_cents = $4, pitch = $5, \
             open_to_offers = $6, profile_updated_at = now() WHERE creator_id = $1 RETURNING {PROFILE_COLUMNS}"
        ))
        .bind(me)
        .bind(&current.categories)
        .bind(&current.accepted_categories)
        .bind(current.rate_cents)
        .bind(&current.pitch)
        .bind(current.open_to_offers)
        .fetch_one(&self.pool)
        .await?;
        Ok(pb::UpdateCreatorProfileResponse {
            profile: Some(row.to_proto()),
        })
    }

    pub(crate) async fn list_applications(
        &self,
        caller: &Caller,
        req: pb::ListApplicationsRequest,
    ) -> MktResult<pb::ListApplicationsResponse> {
        caller.require_admin()?;
        let status = match req.status() {
            pb::ApplicationStatus::Unspecified => PENDING,
            s => s as i16,
        };
        let page = req.page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let after: Option<(chrono::DateTime<Utc>, Uuid)> = page_token(&page.page_token)?;
        let rows = sqlx::query_as::<_, ApplicationRow>(&format!(
            "SELECT {APPLICATION_COLUMNS} FROM creator_applications WHERE status = $1 \
             AND ($2::timestamptz IS NULL OR (created_at, application_id) > ($2, $3)) \
             ORDER BY created_at, application_id LIMIT $4"
        ))
        .bind(status)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = pagination::finish(rows, limit, |r| (r.created_at, r.application_id));
        Ok(pb::ListApplicationsResponse {
            applications: rows.iter().map(ApplicationRow::to_proto).collect(),
            page: Some(PageResponse {
                next_page_token: next,
            }),
        })
    }

    pub(crate) async fn review_application(
        &self,
        caller: &Caller,
        req: pb::ReviewApplicationRequest,
    ) -> MktResult<pb::ReviewApplicationResponse> {
        caller.require_admin()?;
        let admin = caller.user_id().ok();
        let id = parse_id("application_id", &req.application_id)?;
        let decision = req.decision();
        let reason = req.rejection_reason.trim().to_owned();
        match decision {
            pb::ReviewDecision::Unspecified => {
                return Err(MktError::invalid("decision", "must be APPROVE or REJECT"));
            }
            pb::ReviewDecision::Reject if reason.is_empty() || reason.chars().count() > 500 => {
                return Err(MktError::invalid(
                    "rejection_reason",
                    "must be 1..500 characters when rejecting",
                ));
            }
            _ => {}
        }
        let mut tx = self.pool.begin().await?;
        let current = sqlx::query_as::<_, ApplicationRow>(&format!(
            "SELECT {APPLICATION_COLUMNS} FROM creator_applications WHERE application_id = $1 FOR UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| MktError::not_found("application not found"))?;
        if current.status != PENDING {
            return Err(invalid_state("the application was already reviewed"));
        }
        let row = if decision == pb::ReviewDecision::Approve {
            sqlx::query("UPDATE creator_stats SET listed = true, profile_updated_at = now() WHERE creator_id = $1")
                .bind(current.creator_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query_as::<_, ApplicationRow>(&format!(
                "UPDATE creator_applications SET status = $2, reviewed_at = now(), reviewed_by = $3 \
                 WHERE application_id = $1 RETURNING {APPLICATION_COLUMNS}"
            ))
            .bind(id)
            .bind(APPROVED)
            .bind(admin)
            .fetch_one(&mut *tx)
            .await?
        } else {
            sqlx::query_as::<_, ApplicationRow>(&format!(
                "UPDATE creator_applications SET status = $2, reviewed_at = now(), reviewed_by = $3, rejection_reason = $4, \
                 reapply_after = now() + make_interval(days => $5) WHERE application_id = $1 RETURNING {APPLICATION_COLUMNS}"
            ))
            .bind(id)
            .bind(REJECTED)
            .bind(admin)
            .bind(&reason)
            .bind(i32::try_from(self.config.marketplace.reapply_after_days).unwrap_or(30))
            .fetch_one(&mut *tx)
            .await?
        };
        tx.commit().await?;
        Ok(pb::ReviewApplicationResponse {
            application: Some(row.to_proto()),
        })
    }

    pub(crate) async fn get_creator_analytics(
        &self,
        caller: &Caller,
        req: pb::GetCreatorAnalyticsRequest,
    ) -> MktResult<pb::GetCreatorAnalyticsResponse> {
        let target = match parse_opt_id("creator_id", &req.creator_id)? {
            Some(id) => id,
            None => caller.user_id()?,
        };
        let visible = caller.is_privileged()
            || caller.subject == target.to_string()
            || (caller.role == Role::Advertiser && self.is_listed(target).await?);
        if !visible {
            return Err(MktError::not_found("creator not found"));
        }
        let a = analytics::compute(&self.pool, target, Utc::now()).await?;
        Ok(pb::GetCreatorAnalyticsResponse {
            analytics: Some(a.to_proto()),
        })
    }
}
