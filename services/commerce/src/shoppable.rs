//! Shoppable content: product anchors on videos (a creator attaches up to
//! `orders.max_anchors_per_video` approved products to their own video) and
//! LIVE shopping bags (the host adds approved products to their open room's
//! bag and pins one at a time; everyone in the room reads the bag and the
//! pin, and `LiveProductPinned` goes out on `commerce.v1`). Who made the
//! video and who hosts the room is asked of content on the caller's token
//! and stored with the anchor or bag item, so a buyer's visit from a video
//! or room (`RecordReferral`) is checked against it. Product pages list the
//! videos and rooms featuring them.

use chrono::{DateTime, Utc};
use loop_platform::auth::Caller;
use loop_platform::ids::parse_id;
use loop_proto::commerce::v1 as pb;
use loop_proto::events::v1 as ev;
use uuid::Uuid;

use crate::catalog::APPROVED;
use crate::error::{CommerceError, CommerceResult, Reason};
use crate::events;
use crate::service::CommerceService;

/// Products in one room's bag at most.
pub const MAX_BAG: i64 = 100;
/// Videos and rooms listed per product page.
const FEATURES_LIMIT: i64 = 50;

impl CommerceService {
    /// An approved product, or NOT_FOR_SALE naming `field`.
    async fn approved(&self, field: &str, id: Uuid) -> CommerceResult<()> {
        let status: Option<i16> =
            sqlx::query_scalar("SELECT status FROM products WHERE product_id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        match status {
            None => Err(CommerceError::not_found(format!(
                "product not found ({field})"
            ))),
            Some(APPROVED) => Ok(()),
            Some(_) => Err(CommerceError::rule(
                Reason::NotForSale,
                format!("{field}: the product is not approved for sale"),
            )),
        }
    }

    async fn products(&self, ids: Vec<Uuid>) -> CommerceResult<Vec<pb::Product>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.product(id, None, false).await?);
        }
        Ok(out)
    }

    pub(crate) async fn set_video_products(
        &self,
        caller: &Caller,
        req: pb::SetVideoProductsRequest,
    ) -> CommerceResult<pb::SetVideoProductsResponse> {
        let me = caller.user_id()?;
        let video = parse_id("video_id", &req.video_id)?;
        let max = self.config.orders.max_anchors_per_video;
        if req.product_ids.len() > max {
            return Err(CommerceError::invalid(
                "product_ids",
                format!("at most {max} products per video"),
            ));
        }
        let mut ids = Vec::with_capacity(req.product_ids.len());
        for (i, id) in req.product_ids.iter().enumerate() {
            let id = parse_id(&format!("product_ids[{i}]"), id)?;
            if ids.contains(&id) {
                return Err(CommerceError::invalid(
                    format!("product_ids[{i}]"),
                    "is listed twice",
                ));
            }
            ids.push(id);
        }
        let creator = self.content.video_creator(&caller.token, video).await?;
        if creator != me {
            return Err(CommerceError::denied(
                "video_id: only the video's creator attaches products to it",
            ));
        }
        for (i, id) in ids.iter().enumerate() {
            self.approved(&format!("product_ids[{i}]"), *id).await?;
        }
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM video_products WHERE video_id = $1")
            .bind(video)
            .execute(&mut *tx)
            .await?;
        for (i, id) in ids.iter().enumerate() {
            sqlx::query(
                "INSERT INTO video_products (video_id, creator_id, product_id, position, added_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(video)
            .bind(me)
            .bind(id)
            .bind(i16::try_from(i).unwrap_or(0))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(pb::SetVideoProductsResponse {
            products: self.products(ids).await?,
        })
    }

    pub(crate) async fn list_video_products(
        &self,
        _caller: &Caller,
        req: pb::ListVideoProductsRequest,
    ) -> CommerceResult<pb::ListVideoProductsResponse> {
        let video = parse_id("video_id", &req.video_id)?;
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT a.product_id FROM video_products a JOIN products p USING (product_id) \
             WHERE a.video_id = $1 AND p.status = $2 ORDER BY a.position",
        )
        .bind(video)
        .bind(APPROVED)
        .fetch_all(&self.pool)
        .await?;
        Ok(pb::ListVideoProductsResponse {
            products: self.products(ids).await?,
        })
    }

    pub(crate) async fn list_product_features(
        &self,
        _caller: &Caller,
        req: pb::ListProductFeaturesRequest,
    ) -> CommerceResult<pb::ListProductFeaturesResponse> {
        let product = parse_id("product_id", &req.product_id)?;
        self.approved("product_id", product).await?;
        let rows = |sql: &'static str| async move {
            let rows: Vec<(Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(sql)
                .bind(product)
                .bind(FEATURES_LIMIT)
                .fetch_all(&self.pool)
                .await?;
            Ok::<_, CommerceError>(
                rows.into_iter()
                    .map(|(id, creator, since)| pb::FeaturedIn {
                        id: id.to_string(),
                        creator_id: creator.to_string(),
                        since: Some(loop_platform::time::to_timestamp(since)),
                    })
                    .collect::<Vec<_>>(),
            )
        };
        Ok(pb::ListProductFeaturesResponse {
            videos: rows(
                "SELECT video_id, creator_id, added_at FROM video_products WHERE product_id = $1 ORDER BY added_at DESC, video_id DESC LIMIT $2",
            )
            .await?,
            live_rooms: rows(
                "SELECT room_id, host_id, added_at FROM live_bag WHERE product_id = $1 ORDER BY added_at DESC, room_id DESC LIMIT $2",
            )
            .await?,
        })
    }

    /// The caller hosts `room` and it is open (asked of content).
    pub(crate) async fn host(&self, caller: &Caller, room: Uuid) -> CommerceResult<Uuid> {
        let me = caller.user_id()?;
        let r = self.content.room(&caller.token, room).await?;
        if r.host_id != me {
            return Err(CommerceError::denied(
                "room_id: only the room's host fills its shopping bag",
            ));
        }
        if !r.open {
            return Err(CommerceError::rule(
                Reason::RoomNotLive,
                "room_id: the LIVE has ended",
            ));
        }
        Ok(me)
    }

    pub(crate) async fn add_to_live_bag(
        &self,
        caller: &Caller,
        req: pb::AddToLiveBagRequest,
    ) -> CommerceResult<pb::AddToLiveBagResponse> {
        let room = parse_id("room_id", &req.room_id)?;
        let product = parse_id("product_id", &req.product_id)?;
        let host = self.host(caller, room).await?;
        self.approved("product_id", product).await?;
        let mut tx = self.pool.begin().await?;
        // One bag's writes one at a time, so the limit holds.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 17))")
            .bind(room.to_string())
            .execute(&mut *tx)
            .await?;
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM live_bag WHERE room_id = $1")
            .bind(room)
            .fetch_one(&mut *tx)
            .await?;
        if n >= MAX_BAG {
            return Err(CommerceError::invalid(
                "product_id",
                format!("the bag holds at most {MAX_BAG} products"),
            ));
        }
        sqlx::query(
            "INSERT INTO live_bag (room_id, host_id, product_id, added_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(room)
        .bind(host)
        .bind(product)
        .bind(self.clock.now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(pb::AddToLiveBagResponse {
            bag: Some(self.bag(room).await?),
        })
    }

    pub(crate) async fn remove_from_live_bag(
        &self,
        caller: &Caller,
        req: pb::RemoveFromLiveBagRequest,
    ) -> CommerceResult<pb::RemoveFromLiveBagResponse> {
        let room = parse_id("room_id", &req.room_id)?;
        let product = parse_id("product_id", &req.product_id)?;
        let host = self.host(caller, room).await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM live_bag WHERE room_id = $1 AND product_id = $2")
            .bind(room)
            .bind(product)
            .execute(&mut *tx)
            .await?;
        // A product leaving the bag is no longer pinned.
        let unpinned = sqlx::query(
            "UPDATE live_pins SET product_id = NULL, pinned_at = $3 WHERE room_id = $1 AND product_id = $2",
        )
        .bind(room)
        .bind(product)
        .bind(self.clock.now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if unpinned > 0 {
            pinned_event(&mut tx, room, host, None, self.clock.now()).await?;
        }
        tx.commit().await?;
        Ok(pb::RemoveFromLiveBagResponse {
            bag: Some(self.bag(room).await?),
        })
    }

    pub(crate) async fn pin_live_product(
        &self,
        caller: &Caller,
        req: pb::PinLiveProductRequest,
    ) -> CommerceResult<pb::PinLiveProductResponse> {
        let room = parse_id("room_id", &req.room_id)?;
        let product = loop_platform::ids::parse_opt_id("product_id", &req.product_id)?;
        let host = self.host(caller, room).await?;
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        if let Some(p) = product {
            let in_bag: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM live_bag WHERE room_id = $1 AND product_id = $2)",
            )
            .bind(room)
            .bind(p)
            .fetch_one(&mut *tx)
            .await?;
            if !in_bag {
                return Err(CommerceError::rule(
                    Reason::NotFeatured,
                    "product_id: add the product to the room's bag before pinning it",
                ));
            }
        }
        sqlx::query(
            "INSERT INTO live_pins (room_id, product_id, pinned_at) VALUES ($1, $2, $3) \
             ON CONFLICT (room_id) DO UPDATE SET product_id = EXCLUDED.product_id, pinned_at = EXCLUDED.pinned_at",
        )
        .bind(room)
        .bind(product)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        pinned_event(&mut tx, room, host, product, now).await?;
        tx.commit().await?;
        Ok(pb::PinLiveProductResponse {
            bag: Some(self.bag(room).await?),
        })
    }

    pub(crate) async fn get_live_bag(
        &self,
        _caller: &Caller,
        req: pb::GetLiveBagRequest,
    ) -> CommerceResult<pb::GetLiveBagResponse> {
        let room = parse_id("room_id", &req.room_id)?;
        Ok(pb::GetLiveBagResponse {
            bag: Some(self.bag(room).await?),
        })
    }

    /// A room's bag (approved products, oldest first) and its pin.
    async fn bag(&self, room: Uuid) -> CommerceResult<pb::LiveBag> {
        let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT b.product_id, b.host_id FROM live_bag b JOIN products p USING (product_id) \
             WHERE b.room_id = $1 AND p.status = $2 ORDER BY b.added_at, b.product_id",
        )
        .bind(room)
        .bind(APPROVED)
        .fetch_all(&self.pool)
        .await?;
        let pin: Option<(Option<Uuid>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT l.product_id, l.pinned_at FROM live_pins l \
             LEFT JOIN products p ON p.product_id = l.product_id \
             WHERE l.room_id = $1 AND (l.product_id IS NULL OR p.status = $2)",
        )
        .bind(room)
        .bind(APPROVED)
        .fetch_optional(&self.pool)
        .await?;
        let host_id = rows.first().map(|(_, h)| h.to_string()).unwrap_or_default();
        let (pinned, pinned_at) = match pin {
            Some((Some(p), at)) => (Some(self.product(p, None, false).await?), Some(at)),
            _ => (None, None),
        };
        Ok(pb::LiveBag {
            room_id: room.to_string(),
            host_id,
            products: self
                .products(rows.into_iter().map(|(p, _)| p).collect())
                .await?,
            pinned,
            pinned_at: loop_platform::time::opt_timestamp(pinned_at),
            flash_sale: self.open_flash_sale(room).await?,
        })
    }

    /// Whether `creator` features `product` on the video or in the LIVE
    /// room `source_id` (a visit from there may be attributed to them).
    pub(crate) async fn features(
        &self,
        creator: Uuid,
        product: Uuid,
        source: pb::ReferralSource,
        source_id: &str,
    ) -> CommerceResult<bool> {
        let place = parse_id("source_id", source_id)?;
        let sql = match source {
            pb::ReferralSource::Video => {
                "SELECT EXISTS (SELECT 1 FROM video_products WHERE video_id = $1 AND creator_id = $2 AND product_id = $3)"
            }
            _ => {
                "SELECT EXISTS (SELECT 1 FROM live_bag WHERE room_id = $1 AND host_id = $2 AND product_id = $3)"
            }
        };
        Ok(sqlx::query_scalar(sql)
            .bind(place)
            .bind(creator)
            .bind(product)
            .fetch_one(&self.pool)
            .await?)
    }
}

async fn pinned_event(
    tx: &mut sqlx::PgConnection,
    room: Uuid,
    host: Uuid,
    product: Option<Uuid>,
    now: DateTime<Utc>,
) -> CommerceResult<()> {
    events::emit(
        tx,
        &room.to_string(),
        now,
        ev::commerce_event::Payload::LiveProductPinned(ev::LiveProductPinned {
            room_id: room.to_string(),
            host_id: host.to_string(),
            product_id: product.map(|p| p.to_string()).unwrap_or_default(),
        }),
    )
    .await?;
    Ok(())
}
