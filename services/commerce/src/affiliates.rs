//! Affiliates, verified by the server: a creator features a product open to
//! affiliates in their showcase; a buyer who opens it from there has the
//! visit recorded (`RecordReferral`, after checking the creator features
//! it); a checkout is attributed to the buyer's last visit within the
//! window (`orders::attribute`). Clients never name the affiliate, so a
//! random id or an account that features nothing earns nothing.
//! Creators read their pending, payable and paid commissions.

use chrono::{DateTime, Utc};
use loop_platform::auth::{Caller, Role};
use loop_platform::ids::parse_id;
use loop_proto::commerce::v1 as pb;
use uuid::Uuid;

use crate::catalog::APPROVED;
use crate::error::{CommerceError, CommerceResult, Reason};
use crate::machine::{self, Status};
use crate::service::CommerceService;

fn not_open() -> CommerceError {
    CommerceError::rule(
        Reason::NotOpenToAffiliates,
        "product_id: the product is not approved for sale or not open to affiliates",
    )
}

#[derive(sqlx::FromRow)]
struct CommissionRow {
    order_id: Uuid,
    status: i16,
    total_cents: i64,
    refunded_cents: i64,
    commission_cents: i64,
    affiliate_cents: i64,
    paid_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    commission_at: Option<DateTime<Utc>>,
    commission_paid_at: Option<DateTime<Utc>>,
}

impl CommerceService {
    pub(crate) async fn add_to_showcase(
        &self,
        caller: &Caller,
        req: pb::AddToShowcaseRequest,
    ) -> CommerceResult<pb::AddToShowcaseResponse> {
        caller.require_role(&[Role::Creator])?;
        let me = caller.user_id()?;
        let id = parse_id("product_id", &req.product_id)?;
        let product = self.product_row(id).await?;
        if product.seller_id == me {
            return Err(CommerceError::invalid(
                "product_id",
                "is your own shop's product (nobody earns a commission on their own shop)",
            ));
        }
        if product.status != APPROVED || !self.earns_on(id, product.affiliate_rate_bps, me).await? {
            return Err(not_open());
        }
        let added_at: DateTime<Utc> = sqlx::query_scalar(
            "INSERT INTO showcase (creator_id, product_id, added_at) VALUES ($1, $2, $3) \
             ON CONFLICT (creator_id, product_id) DO UPDATE SET added_at = showcase.added_at \
             RETURNING added_at",
        )
        .bind(me)
        .bind(id)
        .bind(self.clock.now())
        .fetch_one(&self.pool)
        .await?;
        let rate: i32 = sqlx::query_scalar(
            "SELECT COALESCE(i.rate_bps, p.affiliate_rate_bps) FROM products p \
             LEFT JOIN invitations i ON i.product_id = p.product_id AND i.creator_id = $2 AND i.status = $3 \
             WHERE p.product_id = $1",
        )
        .bind(id)
        .bind(me)
        .bind(crate::invitations::ACCEPTED)
        .fetch_one(&self.pool)
        .await?;
        Ok(pb::AddToShowcaseResponse {
            item: Some(pb::ShowcaseItem {
                product: Some(self.product(id, None, false).await?),
                added_at: Some(loop_platform::time::to_timestamp(added_at)),
                rate_bps: u32::try_from(rate).unwrap_or(0),
            }),
        })
    }

    pub(crate) async fn remove_from_showcase(
        &self,
        caller: &Caller,
        req: pb::RemoveFromShowcaseRequest,
    ) -> CommerceResult<pb::RemoveFromShowcaseResponse> {
        let me = caller.user_id()?;
        let id = parse_id("product_id", &req.product_id)?;
        sqlx::query("DELETE FROM showcase WHERE creator_id = $1 AND product_id = $2")
            .bind(me)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(pb::RemoveFromShowcaseResponse {})
    }

    pub(crate) async fn list_showcase(
        &self,
        caller: &Caller,
        req: pb::ListShowcaseRequest,
    ) -> CommerceResult<pb::ListShowcaseResponse> {
        let creator = if req.creator_id.is_empty() {
            caller.user_id()?
        } else {
            parse_id("creator_id", &req.creator_id)?
        };
        // Rates only to the creator themself.
        let own = caller.user_id().is_ok_and(|me| me == creator);
        let page = req.page.unwrap_or_default();
        let limit = loop_platform::pagination::page_size(page.page_size);
        let after: Option<(i64, Uuid)> = loop_platform::pagination::decode(&page.page_token)?;
        let after = match after {
            None => None,
            Some((micros, product)) => Some((
                DateTime::<Utc>::from_timestamp_micros(micros)
                    .ok_or_else(|| CommerceError::invalid("page_token", "is not a page token"))?,
                product,
            )),
        };
        let rows: Vec<(Uuid, DateTime<Utc>, i32)> = sqlx::query_as(
            "SELECT s.product_id, s.added_at, COALESCE(i.rate_bps, p.affiliate_rate_bps) \
             FROM showcase s JOIN products p USING (product_id) \
             LEFT JOIN invitations i ON i.product_id = s.product_id AND i.creator_id = s.creator_id AND i.status = $6 \
             WHERE s.creator_id = $1 AND p.status = $2 \
             AND ($3::timestamptz IS NULL OR (s.added_at, s.product_id) < ($3, $4)) \
             ORDER BY s.added_at DESC, s.product_id DESC LIMIT $5",
        )
        .bind(creator)
        .bind(APPROVED)
        .bind(after.map(|(t, _)| t))
        .bind(after.map(|(_, p)| p))
        .bind(limit + 1)
        .bind(crate::invitations::ACCEPTED)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = loop_platform::pagination::finish(rows, limit, |(p, at, _)| {
            (at.timestamp_micros(), *p)
        });
        let mut items = Vec::with_capacity(rows.len());
        for (product, added_at, rate) in rows {
            items.push(pb::ShowcaseItem {
                product: Some(self.product(product, None, false).await?),
                added_at: Some(loop_platform::time::to_timestamp(added_at)),
                rate_bps: if own {
                    u32::try_from(rate).unwrap_or(0)
                } else {
                    0
                },
            });
        }
        Ok(pb::ListShowcaseResponse {
            items,
            page: Some(loop_proto::common::v1::PageResponse {
                next_page_token: next,
            }),
        })
    }

    pub(crate) async fn record_referral(
        &self,
        caller: &Caller,
        req: pb::RecordReferralRequest,
    ) -> CommerceResult<pb::RecordReferralResponse> {
        let me = caller.user_id()?;
        let product_id = parse_id("product_id", &req.product_id)?;
        let creator = parse_id("creator_id", &req.creator_id)?;
        let source = pb::ReferralSource::try_from(req.source)
            .ok()
            .filter(|s| *s != pb::ReferralSource::Unspecified)
            .ok_or_else(|| CommerceError::invalid("source", "must be showcase, video or live"))?;
        if creator == me {
            return Err(CommerceError::invalid(
                "creator_id",
                "is you (nobody earns a commission on their own purchase)",
            ));
        }
        let product = self.product_row(product_id).await?;
        if product.seller_id == creator {
            return Err(CommerceError::invalid(
                "creator_id",
                "is the product's seller (sellers earn no commission on their own shop)",
            ));
        }
        if product.status != APPROVED
            || !self
                .earns_on(product_id, product.affiliate_rate_bps, creator)
                .await?
        {
            return Err(not_open());
        }
        let source_id = req.source_id.trim().to_owned();
        let featured = match source {
            pb::ReferralSource::Showcase => {
                if !source_id.is_empty() {
                    return Err(CommerceError::invalid(
                        "source_id",
                        "must be empty for a showcase visit",
                    ));
                }
                sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (SELECT 1 FROM showcase WHERE creator_id = $1 AND product_id = $2)",
                )
                .bind(creator)
                .bind(product_id)
                .fetch_one(&self.pool)
                .await?
            }
            _ => {
                self.features(creator, product_id, source, &source_id)
                    .await?
            }
        };
        if !featured {
            return Err(CommerceError::rule(
                Reason::NotFeatured,
                format!(
                    "creator_id: the creator does not feature this product in their {}",
                    match source {
                        pb::ReferralSource::Video => "video (source_id)",
                        pb::ReferralSource::Live => "LIVE room's shopping bag (source_id)",
                        _ => "showcase",
                    }
                ),
            ));
        }
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO referrals (buyer_id, product_id, creator_id, source, source_id, visited_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (buyer_id, product_id, creator_id) DO UPDATE \
             SET source = EXCLUDED.source, source_id = EXCLUDED.source_id, visited_at = GREATEST(referrals.visited_at, EXCLUDED.visited_at)",
        )
        .bind(me)
        .bind(product_id)
        .bind(creator)
        .bind(source as i16)
        .bind(&source_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // The marketplace counts visits per creator (conversion).
        crate::events::emit(
            &mut tx,
            &product_id.to_string(),
            now,
            loop_proto::events::v1::commerce_event::Payload::ReferralRecorded(
                loop_proto::events::v1::ReferralRecorded {
                    product_id: product_id.to_string(),
                    creator_id: creator.to_string(),
                    buyer_id: me.to_string(),
                    source: source as i32,
                    source_id: source_id.clone(),
                    seller_id: product.seller_id.to_string(),
                },
            ),
        )
        .await?;
        tx.commit().await?;
        let expires = now + chrono::Duration::hours(self.config.orders.attribution_window_hours);
        Ok(pb::RecordReferralResponse {
            referral: Some(pb::Referral {
                product_id: product_id.to_string(),
                creator_id: creator.to_string(),
                source: source as i32,
                source_id,
                visited_at: Some(loop_platform::time::to_timestamp(now)),
                expires_at: Some(loop_platform::time::to_timestamp(expires)),
            }),
        })
    }

    pub(crate) async fn list_commissions(
        &self,
        caller: &Caller,
        req: pb::ListCommissionsRequest,
    ) -> CommerceResult<pb::ListCommissionsResponse> {
        let me = caller.user_id()?;
        let now = self.clock.now();
        let window = i32::try_from(self.config.orders.refund_window_days).unwrap_or(0);
        // Pending: may still shrink (not delivered, or within the refund
        // window); payable: final, held until its day (the seller's
        // settlement fixes it, delivery + commission_after_days pays it);
        // paid.
        let (pending, payable, paid): (i64, i64, i64) = sqlx::query_as(
            "SELECT \
               COALESCE(SUM(CASE WHEN status IN ($2, $3, $4) OR (status = $5 AND delivered_at + make_interval(days => $7) > $8) \
                 THEN div(commission_cents::numeric * (total_cents - refunded_cents), total_cents) END), 0)::bigint, \
               COALESCE(SUM(CASE WHEN status = $5 AND delivered_at + make_interval(days => $7) <= $8 \
                 THEN div(commission_cents::numeric * (total_cents - refunded_cents), total_cents) \
                 WHEN status = $6 AND commission_paid_at IS NULL THEN affiliate_cents END), 0)::bigint, \
               COALESCE(SUM(CASE WHEN status = $6 AND commission_paid_at IS NOT NULL THEN affiliate_cents END), 0)::bigint \
             FROM orders WHERE affiliate_id = $1 AND paid_at IS NOT NULL",
        )
        .bind(me)
        .bind(Status::OnHold.id())
        .bind(Status::AwaitingShipment.id())
        .bind(Status::Shipped.id())
        .bind(Status::Delivered.id())
        .bind(Status::Completed.id())
        .bind(window)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let page = req.page.unwrap_or_default();
        let limit = loop_platform::pagination::page_size(page.page_size);
        let after: Option<Uuid> = loop_platform::pagination::decode(&page.page_token)?;
        let rows = sqlx::query_as::<_, CommissionRow>(
            "SELECT order_id, status, total_cents, refunded_cents, commission_cents, affiliate_cents, paid_at, delivered_at, commission_at, commission_paid_at \
             FROM orders WHERE affiliate_id = $1 AND paid_at IS NOT NULL AND status NOT IN ($2, $3) \
             AND ($4::uuid IS NULL OR order_id < $4) ORDER BY order_id DESC LIMIT $5",
        )
        .bind(me)
        .bind(Status::Cancelled.id())
        .bind(Status::Refunded.id())
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = loop_platform::pagination::finish(rows, limit, |r| r.order_id);
        let refund_window = chrono::Duration::days(self.config.orders.refund_window_days);
        let commission_after = chrono::Duration::days(self.config.orders.commission_after_days);
        let commissions = rows
            .into_iter()
            .map(|r| {
                let status = Status::from_id(r.status).unwrap_or(Status::Cancelled);
                let (state, cents) = match status {
                    Status::Completed if r.commission_paid_at.is_some() => {
                        (pb::CommissionState::Paid, r.affiliate_cents)
                    }
                    Status::Completed => (pb::CommissionState::Payable, r.affiliate_cents),
                    _ => {
                        let cents = machine::commission_after_refunds(
                            r.commission_cents,
                            r.total_cents,
                            r.refunded_cents,
                        );
                        let final_ = status == Status::Delivered
                            && r.delivered_at.is_some_and(|d| d + refund_window <= now);
                        if final_ {
                            (pb::CommissionState::Payable, cents)
                        } else {
                            (pb::CommissionState::Pending, cents)
                        }
                    }
                };
                pb::Commission {
                    order_id: r.order_id.to_string(),
                    status: status.to_proto() as i32,
                    state: state as i32,
                    commission_cents: cents,
                    order_cents: r.total_cents - r.refunded_cents,
                    paid_at: loop_platform::time::opt_timestamp(r.paid_at),
                    settle_at: loop_platform::time::opt_timestamp(
                        r.commission_paid_at
                            .or(r.commission_at)
                            .or(r.delivered_at.map(|d| d + commission_after)),
                    ),
                }
            })
            .collect();
        Ok(pb::ListCommissionsResponse {
            pending_cents: pending,
            payable_cents: payable,
            paid_cents: paid,
            commissions,
            page: Some(loop_proto::common::v1::PageResponse {
                next_page_token: next,
            }),
        })
    }
}
