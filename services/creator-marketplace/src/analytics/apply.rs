//! The facts each fresh event stores: set rows for follows, likes,
//! comments and viewers, counters for views and shares, per-video rows.
//! Each writer is idempotent per fact or guarded by the set row's change,
//! so the numbers equal a recount whatever order the topics arrive in.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use loop_proto::events::v1 as ev;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{ENGAGEMENT_COUNTED, Event, when};

fn id(value: &str) -> Uuid {
    // validate() checked every id apply() reads.
    Uuid::parse_str(value).unwrap_or(Uuid::nil())
}

async fn bump(
    tx: &mut PgConnection,
    video: Uuid,
    creator: Uuid,
    column: &str,
    delta: i64,
) -> sqlx::Result<()> {
    // `column` is one of our own literals, never input.
    let sql = format!(
        "INSERT INTO video_stats (video_id, creator_id, {column}) VALUES ($1, $2, $3) \
         ON CONFLICT (video_id) DO UPDATE SET {column} = video_stats.{column} + EXCLUDED.{column}"
    );
    sqlx::query(&sql)
        .bind(video)
        .bind(creator)
        .bind(delta)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Stores one fresh event's facts and marks the creators it changes dirty.
pub(super) async fn apply(
    tx: &mut PgConnection,
    event: &Event,
    dirty: &mut BTreeSet<Uuid>,
) -> sqlx::Result<()> {
    match event {
        Event::Engagement(e) => apply_view(tx, e, dirty).await,
        Event::Content(e) => apply_content(tx, e, dirty).await,
        Event::Wallet(e) => apply_gift(tx, e, dirty).await,
        Event::Commerce(e) => apply_shop(tx, e, dirty).await,
    }
}

/// Shop facts: a visit row per ReferralRecorded; an order row per
/// attributed OrderPaid, its refunds (the running total the event carries)
/// and its cancellation. Unattributed orders store nothing.
async fn apply_shop(
    tx: &mut PgConnection,
    e: &ev::CommerceEvent,
    dirty: &mut BTreeSet<Uuid>,
) -> sqlx::Result<()> {
    use ev::commerce_event::Payload as M;
    let at = when(e.occurred_at.as_ref());
    let touched: Option<Uuid> = match &e.payload {
        Some(M::ReferralRecorded(r)) => {
            sqlx::query(
                "INSERT INTO shop_referrals (event_id, creator_id, product_id, occurred_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(id(&e.event_id))
            .bind(id(&r.creator_id))
            .bind(id(&r.product_id))
            .bind(at)
            .execute(&mut *tx)
            .await?;
            Some(id(&r.creator_id))
        }
        Some(M::OrderPaid(o)) if !o.affiliate_id.is_empty() => {
            sqlx::query(
                "INSERT INTO shop_orders (order_id, creator_id, total_cents, paid_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(id(&o.order_id))
            .bind(id(&o.affiliate_id))
            .bind(o.total_cents)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            Some(id(&o.affiliate_id))
        }
        Some(M::OrderRefunded(r)) => {
            sqlx::query_scalar(
                "UPDATE shop_orders SET refunded_cents = GREATEST(refunded_cents, LEAST($2, total_cents)) \
                 WHERE order_id = $1 RETURNING creator_id",
            )
            .bind(id(&r.order_id))
            .bind(r.refunded_cents)
            .fetch_optional(&mut *tx)
            .await?
        }
        Some(M::OrderCancelled(c)) => {
            sqlx::query_scalar(
                "UPDATE shop_orders SET cancelled = true WHERE order_id = $1 RETURNING creator_id",
            )
            .bind(id(&c.order_id))
            .fetch_optional(&mut *tx)
            .await?
        }
        _ => None,
    };
    dirty.extend(touched);
    Ok(())
}

async fn apply_view(
    tx: &mut PgConnection,
    e: &ev::EngagementEvent,
    dirty: &mut BTreeSet<Uuid>,
) -> sqlx::Result<()> {
    if e.kind != ev::EngagementKind::View as i32 {
        return Ok(());
    }
    // Brand deals are priced on these numbers: only views the
    // gateway credited count (served to this viewer, once per
    // session, never the creator's own).
    let credit = e.credit();
    ENGAGEMENT_COUNTED
        .with_label_values(&[credit.as_str_name()])
        .inc();
    if !matches!(
        credit,
        ev::EngagementCredit::Counted | ev::EngagementCredit::Unspecified
    ) {
        return Ok(());
    }
    let (viewer, video, creator) = (id(&e.user_id), id(&e.video_id), id(&e.creator_id));
    let at = when(e.occurred_at.as_ref());
    bump(tx, video, creator, "views", 1).await?;
    crate::studio::count_daily_view(tx, video, creator, at).await?;
    sqlx::query(
        "INSERT INTO creator_viewers (creator_id, viewer_id, last_view_at) VALUES ($1, $2, $3) \
         ON CONFLICT (creator_id, viewer_id) DO UPDATE SET last_view_at = GREATEST(creator_viewers.last_view_at, EXCLUDED.last_view_at)",
    )
    .bind(creator)
    .bind(viewer)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO video_viewers (video_id, viewer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(video)
    .bind(viewer)
    .execute(&mut *tx)
    .await?;
    dirty.insert(creator);
    Ok(())
}

/// The content service's records: one arm per payload, each a few facts.
async fn apply_content(
    tx: &mut PgConnection,
    e: &ev::ContentEvent,
    dirty: &mut BTreeSet<Uuid>,
) -> sqlx::Result<()> {
    use ev::content_event::Payload as C;
    match &e.payload {
        Some(C::VideoPublished(ev::VideoPublished { video: Some(v) }))
        | Some(C::VideoUpdated(ev::VideoUpdated { video: Some(v) })) => {
            upsert_video(tx, v, e.occurred_at.as_ref(), dirty).await
        }
        Some(C::VideoRemoved(r)) => remove_video(tx, r, dirty).await,
        Some(C::UserFollowed(f)) => {
            sqlx::query("INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(id(&f.follower_id))
                .bind(id(&f.followee_id))
                .execute(&mut *tx)
                .await?;
            dirty.insert(id(&f.followee_id));
            Ok(())
        }
        Some(C::UserUnfollowed(f)) => {
            sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")
                .bind(id(&f.follower_id))
                .bind(id(&f.followee_id))
                .execute(&mut *tx)
                .await?;
            dirty.insert(id(&f.followee_id));
            Ok(())
        }
        Some(C::UserRegistered(u)) => upsert_viewer(tx, u).await,
        Some(C::VideoLiked(l)) => {
            let added = sqlx::query(
                "INSERT INTO video_likes (video_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(id(&l.video_id))
            .bind(id(&l.user_id))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let delta = (added == 1).then_some(1);
            count(tx, &l.video_id, &l.creator_id, "likes", delta, dirty).await
        }
        Some(C::VideoUnliked(l)) => {
            let removed =
                sqlx::query("DELETE FROM video_likes WHERE video_id = $1 AND user_id = $2")
                    .bind(id(&l.video_id))
                    .bind(id(&l.user_id))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            let delta = (removed == 1).then_some(-1);
            count(tx, &l.video_id, &l.creator_id, "likes", delta, dirty).await
        }
        Some(C::CommentAdded(c)) => {
            let added = sqlx::query(
                "INSERT INTO video_comments (comment_id, video_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(id(&c.comment_id))
            .bind(id(&c.video_id))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let delta = (added == 1).then_some(1);
            count(tx, &c.video_id, &c.creator_id, "comments", delta, dirty).await
        }
        Some(C::CommentDeleted(c)) => {
            let removed = sqlx::query("DELETE FROM video_comments WHERE comment_id = $1")
                .bind(id(&c.comment_id))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let delta = (removed == 1).then_some(-1);
            count(tx, &c.video_id, &c.creator_id, "comments", delta, dirty).await
        }
        Some(C::VideoShared(s)) => {
            count(tx, &s.video_id, &s.creator_id, "shares", Some(1), dirty).await
        }
        _ => Ok(()),
    }
}

/// Moves a per-video counter by `delta` when the set row behind it changed
/// (None: a duplicate like or an unknown comment, nothing to count).
async fn count(
    tx: &mut PgConnection,
    video: &str,
    creator: &str,
    column: &str,
    delta: Option<i64>,
    dirty: &mut BTreeSet<Uuid>,
) -> sqlx::Result<()> {
    let Some(delta) = delta else {
        return Ok(());
    };
    bump(tx, id(video), id(creator), column, delta).await?;
    dirty.insert(id(creator));
    Ok(())
}

async fn upsert_video(
    tx: &mut PgConnection,
    v: &ev::VideoSnapshot,
    occurred_at: Option<&prost_types::Timestamp>,
    dirty: &mut BTreeSet<Uuid>,
) -> sqlx::Result<()> {
    let creator = id(&v.creator_id);
    let published = v
        .published_at
        .as_ref()
        .map_or_else(|| when(occurred_at), |t| when(Some(t)));
    let tags: Vec<String> = v.hashtags.iter().map(|h| h.to_lowercase()).collect();
    sqlx::query(
        "INSERT INTO videos (video_id, creator_id, category, hashtags, published_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (video_id) DO UPDATE SET category = EXCLUDED.category, hashtags = EXCLUDED.hashtags, \
         published_at = EXCLUDED.published_at",
    )
    .bind(id(&v.video_id))
    .bind(creator)
    .bind(&v.category)
    .bind(&tags)
    .bind(published)
    .execute(&mut *tx)
    .await?;
    dirty.insert(creator);
    Ok(())
}

async fn remove_video(
    tx: &mut PgConnection,
    r: &ev::VideoRemoved,
    dirty: &mut BTreeSet<Uuid>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE videos SET removed = true WHERE video_id = $1")
        .bind(id(&r.video_id))
        .execute(&mut *tx)
        .await?;
    // validate() does not require the creator here: mark it only if known.
    if let Ok(creator) = Uuid::parse_str(&r.creator_id) {
        dirty.insert(creator);
    }
    Ok(())
}

/// A viewer's own profile, which splits the audiences they belong to.
async fn upsert_viewer(tx: &mut PgConnection, u: &ev::UserRegistered) -> sqlx::Result<()> {
    let birth = NaiveDate::parse_from_str(&u.birth_date, "%Y-%m-%d").ok();
    sqlx::query(
        "INSERT INTO viewers (user_id, birth_date, gender, country) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET birth_date = EXCLUDED.birth_date, gender = EXCLUDED.gender, country = EXCLUDED.country",
    )
    .bind(id(&u.user_id))
    .bind(birth)
    .bind(i16::try_from(u.gender).unwrap_or(0))
    .bind(u.country.to_uppercase())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn apply_gift(
    tx: &mut PgConnection,
    e: &ev::WalletEvent,
    dirty: &mut BTreeSet<Uuid>,
) -> sqlx::Result<()> {
    use ev::wallet_event::Payload as W;
    let Some(W::GiftSent(g)) = &e.payload else {
        return Ok(());
    };
    let recipient = id(&g.recipient_id);
    sqlx::query(
        "INSERT INTO gifts (transaction_id, recipient_id, diamonds, occurred_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(id(&g.transaction_id))
    .bind(recipient)
    .bind(g.diamonds)
    .bind(when(e.occurred_at.as_ref()))
    .execute(&mut *tx)
    .await?;
    dirty.insert(recipient);
    Ok(())
}
