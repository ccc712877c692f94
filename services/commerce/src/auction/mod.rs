//! LIVE auctions (docs/commerce.md "LIVE auctions").
//!
//! - The host of an open room auctions one unit of an approved SKU of their
//!   own shop ([`rules`] decide increments, proxy bids and anti-sniping).
//! - A bidder first authorises a card payment up to an amount: the wallet
//!   holds it in an escrow (the payment check before any bid).
//! - Bids are totally ordered by the auction row's lock in Postgres: one
//!   writer task per auction and process takes the waiting bids, locks the
//!   row, applies the rules to each in turn, writes the accepted ones with
//!   their events and commits, then answers (group commit: [`writer`]). A
//!   bid is accepted only once committed, so a crash loses none; other
//!   replicas' writers take the same lock.
//! - Watchers (gRPC `WatchAuction`, the gateway's SSE) get the state, then
//!   every accepted bid, extension and the close ([`hub`]).
//! - The close ([`close`]) runs on the sweeper and the service's clock:
//!   OPEN -> CLOSING (winner and price fixed) -> the winner's hold is cut to
//!   the price (a keyed wallet refund of the rest) -> SOLD with a paid order
//!   in one transaction; if the winner's payment fails, the next bidder is
//!   offered it (the bids replayed without them). Every other hold is
//!   returned. Each wallet step has a key derived from the auction, so a
//!   crash anywhere repeats nothing.

pub mod close;
pub mod hub;
pub mod rules;
pub mod writer;

use chrono::{DateTime, Utc};
use loop_platform::auth::Caller;
use loop_platform::ids::parse_id;
use loop_proto::commerce::v1 as pb;
use loop_proto::wallet::v1 as wpb;
use prost::Message;
use uuid::Uuid;

use crate::catalog::APPROVED;
use crate::error::{CommerceError, CommerceResult, Reason, unavailable};
use crate::service::CommerceService;
use crate::wallet::WalletFailure;

pub use hub::Hub;

pub const OPEN: i16 = 1;
pub const CLOSING: i16 = 2;
pub const SOLD: i16 = 3;
pub const UNSOLD: i16 = 4;

pub(crate) const AUCTION_COLUMNS: &str = "auction_id, room_id, seller_id, shop_id, product_id, product_version, sku_id, title, sku_name, starting_cents, status, sudden_death, extend_within_ms, extend_by_ms, original_ends_at, ends_at, extensions, seq, price_cents, leader_id, leader_max_cents, winner_id, winning_cents, failed_bidders, order_id";

#[derive(sqlx::FromRow, Clone, Debug)]
pub(crate) struct AuctionRow {
    pub auction_id: Uuid,
    pub room_id: Uuid,
    pub seller_id: Uuid,
    pub shop_id: Uuid,
    pub product_id: Uuid,
    pub product_version: i32,
    pub sku_id: Uuid,
    pub title: String,
    pub sku_name: String,
    pub starting_cents: i64,
    pub status: i16,
    pub sudden_death: bool,
    pub extend_within_ms: i64,
    pub extend_by_ms: i64,
    pub original_ends_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub extensions: i32,
    pub seq: i32,
    pub price_cents: i64,
    pub leader_id: Option<Uuid>,
    pub leader_max_cents: i64,
    pub winner_id: Option<Uuid>,
    pub winning_cents: i64,
    pub failed_bidders: Vec<Uuid>,
    pub order_id: Option<Uuid>,
}

impl AuctionRow {
    pub fn timing(&self) -> rules::Timing {
        rules::Timing {
            sudden_death: self.sudden_death,
            extend_within: chrono::Duration::milliseconds(self.extend_within_ms),
            extend_by: chrono::Duration::milliseconds(self.extend_by_ms),
        }
    }

    pub fn state(&self) -> rules::State {
        rules::State {
            starting_cents: self.starting_cents,
            price_cents: self.price_cents,
            leader: self.leader_id,
            leader_max_cents: self.leader_max_cents,
            ends_at: self.ends_at,
            extensions: u32::try_from(self.extensions).unwrap_or(0),
            seq: u32::try_from(self.seq).unwrap_or(0),
        }
    }

    pub fn to_proto(&self) -> pb::Auction {
        let opt = |u: Option<Uuid>| u.map(|u| u.to_string()).unwrap_or_default();
        let timing = self.timing();
        pb::Auction {
            auction_id: self.auction_id.to_string(),
            room_id: self.room_id.to_string(),
            seller_id: self.seller_id.to_string(),
            product_id: self.product_id.to_string(),
            sku_id: self.sku_id.to_string(),
            title: self.title.clone(),
            starting_cents: self.starting_cents,
            status: i32::from(self.status),
            price_cents: self.price_cents,
            leader_id: opt(self.leader_id),
            next_min_cents: if self.status == OPEN {
                self.state().next_min()
            } else {
                0
            },
            bids: u32::try_from(self.seq).unwrap_or(0),
            sudden_death: self.sudden_death,
            ends_at: Some(loop_platform::time::to_timestamp(self.ends_at)),
            original_ends_at: Some(loop_platform::time::to_timestamp(self.original_ends_at)),
            extensions: u32::try_from(self.extensions).unwrap_or(0),
            winner_id: opt(self.winner_id),
            winning_cents: self.winning_cents,
            order_id: opt(self.order_id),
            extend_within_seconds: u32::try_from(timing.extend_within.num_seconds()).unwrap_or(0),
            extend_by_seconds: u32::try_from(timing.extend_by.num_seconds()).unwrap_or(0),
        }
    }
}

/// product, shop, seller, status, version, SKU name, retired, title.
type SkuForAuction = (Uuid, Uuid, Uuid, i16, i32, String, bool, String);

/// The reference (and store product id) of a bidder's authorisation.
pub fn authorization_reference(auction: Uuid) -> String {
    format!("commerce:auction:{auction}")
}

fn closed() -> CommerceError {
    CommerceError::rule(
        Reason::AuctionClosed,
        "auction_id: the auction has closed; no more bids",
    )
}

fn self_bid() -> CommerceError {
    CommerceError::rule(
        Reason::SelfBid,
        "the seller cannot bid on (or authorise a payment for) their own auction",
    )
}

impl CommerceService {
    pub(crate) async fn auction_row(
        &self,
        conn: impl sqlx::PgExecutor<'_>,
        id: Uuid,
        lock: bool,
    ) -> CommerceResult<AuctionRow> {
        let sql = format!(
            "SELECT {AUCTION_COLUMNS} FROM auctions WHERE auction_id = $1{}",
            if lock { " FOR UPDATE" } else { "" }
        );
        sqlx::query_as::<_, AuctionRow>(&sql)
            .bind(id)
            .fetch_optional(conn)
            .await?
            .ok_or_else(|| CommerceError::not_found("auction not found (auction_id)"))
    }

    pub(crate) async fn start_auction(
        &self,
        caller: &Caller,
        req: pb::StartAuctionRequest,
    ) -> CommerceResult<pb::StartAuctionResponse> {
        let me = caller.user_id()?;
        loop_platform::validate::idempotency_key("idempotency_key", &req.idempotency_key)?;
        let room = parse_id("room_id", &req.room_id)?;
        let sku = parse_id("sku_id", &req.sku_id)?;
        if !(rules::MIN_STARTING_CENTS..=rules::MAX_BID_CENTS).contains(&req.starting_cents) {
            return Err(CommerceError::invalid(
                "starting_cents",
                format!(
                    "must be {}..={} cents (the starting bid is at least $1)",
                    rules::MIN_STARTING_CENTS,
                    rules::MAX_BID_CENTS
                ),
            ));
        }
        let a = &self.config.auctions;
        if !(a.min_duration_seconds..=a.max_duration_seconds).contains(&req.duration_seconds) {
            return Err(CommerceError::invalid(
                "duration_seconds",
                format!(
                    "must be {}..={}",
                    a.min_duration_seconds, a.max_duration_seconds
                ),
            ));
        }
        if let Some(existing) = self.started_auction(me, &req.idempotency_key).await? {
            return Ok(pb::StartAuctionResponse {
                auction: Some(existing.to_proto()),
            });
        }
        let r = self.content.room(&caller.token, room).await?;
        if r.host_id != me {
            return Err(CommerceError::denied(
                "room_id: only the room's host starts an auction in it",
            ));
        }
        if !r.open {
            return Err(CommerceError::rule(
                Reason::RoomNotLive,
                "room_id: the LIVE has ended",
            ));
        }
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let found: Option<SkuForAuction> = sqlx::query_as(
            "SELECT s.product_id, p.shop_id, p.seller_id, p.status, p.version, s.name, s.retired, v.title \
             FROM skus s JOIN products p USING (product_id) \
             JOIN product_versions v ON v.product_id = p.product_id AND v.version = p.version \
             WHERE s.sku_id = $1 FOR UPDATE OF s",
        )
        .bind(sku)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((product, shop, seller, status, version, sku_name, retired, title)) = found else {
            return Err(CommerceError::not_found("SKU not found (sku_id)"));
        };
        if seller != me {
            return Err(CommerceError::denied(
                "sku_id: a host auctions only products of their own shop",
            ));
        }
        if status != APPROVED || retired {
            return Err(CommerceError::rule(
                Reason::NotForSale,
                "sku_id: the product is not approved for sale (or the SKU is retired)",
            ));
        }
        let taken =
            sqlx::query("UPDATE skus SET stock = stock - 1 WHERE sku_id = $1 AND stock >= 1")
                .bind(sku)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if taken == 0 {
            return Err(CommerceError::rule(
                Reason::OutOfStock,
                "sku_id: no unit in stock to auction",
            ));
        }
        let id = loop_platform::ids::new_id();
        let ends = now + chrono::Duration::seconds(i64::from(req.duration_seconds));
        let inserted = sqlx::query(
            "INSERT INTO auctions (auction_id, room_id, seller_id, shop_id, product_id, product_version, sku_id, title, sku_name, \
             starting_cents, status, sudden_death, extend_within_ms, extend_by_ms, starts_at, original_ends_at, ends_at, start_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17, $15)",
        )
        .bind(id)
        .bind(room)
        .bind(me)
        .bind(shop)
        .bind(product)
        .bind(version)
        .bind(sku)
        .bind(&title)
        .bind(&sku_name)
        .bind(req.starting_cents)
        .bind(OPEN)
        .bind(req.sudden_death)
        .bind(i64::from(a.extend_within_seconds) * 1000)
        .bind(i64::from(a.extend_by_seconds) * 1000)
        .bind(now)
        .bind(ends)
        .bind(&req.idempotency_key)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                drop(tx);
                if let Some(existing) = self.started_auction(me, &req.idempotency_key).await? {
                    return Ok(pb::StartAuctionResponse {
                        auction: Some(existing.to_proto()),
                    });
                }
                return Err(CommerceError::rule(
                    Reason::AuctionRunning,
                    "room_id: the room already has an auction running",
                ));
            }
            Err(err) => return Err(err.into()),
        }
        tx.commit().await?;
        let row = self.auction_row(&self.pool, id, false).await?;
        Ok(pb::StartAuctionResponse {
            auction: Some(row.to_proto()),
        })
    }

    async fn started_auction(&self, seller: Uuid, key: &str) -> CommerceResult<Option<AuctionRow>> {
        Ok(sqlx::query_as::<_, AuctionRow>(&format!(
            "SELECT {AUCTION_COLUMNS} FROM auctions WHERE seller_id = $1 AND start_key = $2"
        ))
        .bind(seller)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub(crate) async fn authorize_bidder(
        &self,
        caller: &Caller,
        req: pb::AuthorizeBidderRequest,
    ) -> CommerceResult<pb::AuthorizeBidderResponse> {
        let me = caller.user_id()?;
        let id = parse_id("auction_id", &req.auction_id)?;
        if !(1..=rules::MAX_BID_CENTS).contains(&req.amount_cents) {
            return Err(CommerceError::invalid(
                "amount_cents",
                format!("must be 1..={}", rules::MAX_BID_CENTS),
            ));
        }
        let Some(receipt) = req.receipt else {
            return Err(CommerceError::invalid("receipt", "is required"));
        };
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        // Shares the auction row's lock with the close, so no authorisation
        // slips in after the holds were returned.
        let auction: Option<(Uuid, i16, DateTime<Utc>)> = sqlx::query_as(
            "SELECT seller_id, status, ends_at FROM auctions WHERE auction_id = $1 FOR SHARE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((seller, status, ends_at)) = auction else {
            return Err(CommerceError::not_found("auction not found (auction_id)"));
        };
        if seller == me {
            return Err(self_bid());
        }
        let existing: Option<(i64, Option<Uuid>, Vec<u8>)> = sqlx::query_as(
            "SELECT authorized_cents, escrow_id, receipt FROM auction_bidders WHERE auction_id = $1 AND bidder_id = $2",
        )
        .bind(id)
        .bind(me)
        .fetch_optional(&mut *tx)
        .await?;
        let (amount, receipt) = match existing {
            Some((amount, Some(escrow), _)) => {
                return Ok(pb::AuthorizeBidderResponse {
                    authorized_cents: amount,
                    escrow_id: escrow.to_string(),
                });
            }
            // Recorded, not yet confirmed: the same hold again.
            Some((amount, None, stored)) => (
                amount,
                wpb::PaymentReceipt::decode(stored.as_slice()).map_err(CommerceError::internal)?,
            ),
            None => {
                if status != OPEN || now >= ends_at {
                    return Err(closed());
                }
                sqlx::query(
                    "INSERT INTO auction_bidders (auction_id, bidder_id, authorized_cents, receipt, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(me)
                .bind(req.amount_cents)
                .bind(receipt.encode_to_vec())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                (req.amount_cents, receipt)
            }
        };
        tx.commit().await?;
        match self
            .hold_authorization(id, me, seller, amount, receipt)
            .await
        {
            Ok(escrow) => Ok(pb::AuthorizeBidderResponse {
                authorized_cents: amount,
                escrow_id: escrow.to_string(),
            }),
            Err(WalletFailure::Unavailable(m)) => Err(unavailable(format!(
                "the wallet is unavailable ({m}); retry the authorisation"
            ))),
            Err(failure) => {
                // Nothing is held: forget the attempt so the bidder may try
                // another card.
                sqlx::query(
                    "DELETE FROM auction_bidders WHERE auction_id = $1 AND bidder_id = $2 AND escrow_id IS NULL",
                )
                .bind(id)
                .bind(me)
                .execute(&self.pool)
                .await?;
                Err(match failure {
                    WalletFailure::Declined(status) => crate::orders::wallet_refusal(&status),
                    other => {
                        crate::wallet::alert("auction_authorize", id, &other);
                        CommerceError::rule(
                            Reason::PaymentFailed,
                            "the payment service refused the authorisation (not because of the receipt); try again later",
                        )
                    }
                })
            }
        }
    }

    pub(crate) async fn get_bidder_authorization(
        &self,
        caller: &Caller,
        req: pb::GetBidderAuthorizationRequest,
    ) -> CommerceResult<pb::AuthorizeBidderResponse> {
        let me = caller.user_id()?;
        let id = parse_id("auction_id", &req.auction_id)?;
        let confirmed: Option<(i64, Uuid)> = sqlx::query_as(
            "SELECT authorized_cents, escrow_id FROM auction_bidders \
             WHERE auction_id = $1 AND bidder_id = $2 AND escrow_id IS NOT NULL",
        )
        .bind(id)
        .bind(me)
        .fetch_optional(&self.pool)
        .await?;
        let (authorized_cents, escrow) = confirmed.ok_or_else(|| {
            CommerceError::not_found("you have no authorisation for this auction (auction_id)")
        })?;
        Ok(pb::AuthorizeBidderResponse {
            authorized_cents,
            escrow_id: escrow.to_string(),
        })
    }

    /// The bidder's card hold (the same key and body every time), stored
    /// on their row once the wallet confirms it.
    pub(crate) async fn hold_authorization(
        &self,
        auction: Uuid,
        bidder: Uuid,
        seller: Uuid,
        amount: i64,
        receipt: wpb::PaymentReceipt,
    ) -> Result<Uuid, WalletFailure> {
        let escrow = self
            .wallet
            .hold(
                format!("commerce:auction-auth:{auction}:{bidder}"),
                bidder,
                seller,
                amount,
                authorization_reference(auction),
                receipt,
            )
            .await?;
        sqlx::query(
            "UPDATE auction_bidders SET escrow_id = $3 WHERE auction_id = $1 AND bidder_id = $2",
        )
        .bind(auction)
        .bind(bidder)
        .bind(escrow)
        .execute(&self.pool)
        .await
        .map_err(|e| WalletFailure::Unavailable(format!("storing the hold: {e}")))?;
        Ok(escrow)
    }

    pub(crate) async fn place_bid(
        &self,
        caller: &Caller,
        req: pb::PlaceBidRequest,
    ) -> CommerceResult<pb::PlaceBidResponse> {
        let me = caller.user_id()?;
        self.bid_as(me, req).await
    }

    /// A bid by `bidder` (the bench drives this directly).
    pub async fn bid_as(
        &self,
        bidder: Uuid,
        req: pb::PlaceBidRequest,
    ) -> CommerceResult<pb::PlaceBidResponse> {
        let id = parse_id("auction_id", &req.auction_id)?;
        if !(1..=rules::MAX_BID_CENTS).contains(&req.amount_cents) {
            return Err(CommerceError::invalid(
                "amount_cents",
                format!("must be 1..={} cents", rules::MAX_BID_CENTS),
            ));
        }
        // A maximum at or below the amount is a plain bid.
        if !(0..=rules::MAX_BID_CENTS).contains(&req.max_cents) {
            return Err(CommerceError::invalid(
                "max_cents",
                format!(
                    "must be 0..={} cents (0, or at most amount_cents: a plain bid)",
                    rules::MAX_BID_CENTS
                ),
            ));
        }
        loop_platform::validate::idempotency_key("idempotency_key", &req.idempotency_key)?;
        // The request the key stands for (the key itself left out).
        let request_hash = crate::orders::hash(
            "PlaceBid",
            &pb::PlaceBidRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        );
        // The most this bid may commit the bidder to.
        let max = req.max_cents.max(req.amount_cents);
        // The seller and a confirmed authorisation never change while the
        // auction is open: read once per bidder (the writer checks the
        // auction's state under its lock anyway).
        let found: Option<(Uuid, i16, Option<i64>, Option<Uuid>)> =
            match self.auctions.bidder(id, bidder) {
                Some((seller, authorized)) => {
                    Some((seller, OPEN, Some(authorized), Some(Uuid::nil())))
                }
                None => {
                    sqlx::query_as(
                        "SELECT a.seller_id, a.status, b.authorized_cents, b.escrow_id FROM auctions a \
                         LEFT JOIN auction_bidders b ON b.auction_id = a.auction_id AND b.bidder_id = $2 \
                         WHERE a.auction_id = $1",
                    )
                    .bind(id)
                    .bind(bidder)
                    .fetch_optional(&self.pool)
                    .await?
                }
            };
        let Some((seller, status, authorized, escrow)) = found else {
            return Err(CommerceError::not_found("auction not found (auction_id)"));
        };
        if let (OPEN, Some(authorized), Some(_)) = (status, authorized, escrow) {
            self.auctions
                .remember_bidder(id, bidder, seller, authorized);
        }
        if seller == bidder {
            return Err(self_bid());
        }
        if status != OPEN {
            // A repeat of a bid the auction took before it closed.
            return match writer::keyed_bid(self, id, bidder, &req.idempotency_key).await? {
                Some((hash, bid)) if hash == request_hash => {
                    let auction = self.auction_row(&self.pool, id, false).await?.to_proto();
                    Ok(pb::PlaceBidResponse {
                        leading: auction.leader_id == bidder.to_string(),
                        bid: Some(bid),
                        auction: Some(auction),
                    })
                }
                Some(_) => Err(writer::key_reused()),
                None => Err(closed()),
            };
        }
        match (authorized, escrow) {
            (Some(authorized), Some(_)) if max <= authorized => {}
            (Some(authorized), Some(_)) => {
                let field = if req.max_cents == 0 {
                    "amount_cents"
                } else {
                    "max_cents"
                };
                return Err(CommerceError::rule(
                    Reason::PaymentNotAuthorized,
                    format!(
                        "{field}: {max} cents is above your payment authorisation of {authorized} cents"
                    ),
                ));
            }
            _ => {
                return Err(CommerceError::rule(
                    Reason::PaymentNotAuthorized,
                    "authorise a payment for this auction (AuthorizeBidder) before bidding",
                ));
            }
        }
        let accepted = self
            .auctions
            .submit(
                self,
                id,
                writer::Pending {
                    bidder,
                    amount_cents: req.amount_cents,
                    max_cents: req.max_cents,
                    at_next_min: req.at_next_min,
                    key: req.idempotency_key,
                    request_hash,
                },
            )
            .await?;
        Ok(pb::PlaceBidResponse {
            leading: accepted.auction.leader_id == bidder.to_string(),
            bid: Some(accepted.bid),
            auction: Some(accepted.auction),
        })
    }

    pub(crate) async fn get_auction(
        &self,
        _caller: &Caller,
        req: pb::GetAuctionRequest,
    ) -> CommerceResult<pb::GetAuctionResponse> {
        let id = parse_id("auction_id", &req.auction_id)?;
        let row = self.auction_row(&self.pool, id, false).await?;
        Ok(pb::GetAuctionResponse {
            auction: Some(row.to_proto()),
        })
    }

    pub(crate) async fn get_room_auction(
        &self,
        _caller: &Caller,
        req: pb::GetRoomAuctionRequest,
    ) -> CommerceResult<pb::GetAuctionResponse> {
        let room = parse_id("room_id", &req.room_id)?;
        let row = sqlx::query_as::<_, AuctionRow>(&format!(
            "SELECT {AUCTION_COLUMNS} FROM auctions WHERE room_id = $1 ORDER BY created_at DESC, auction_id DESC LIMIT 1"
        ))
        .bind(room)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| CommerceError::not_found("the room has no auction (room_id)"))?;
        Ok(pb::GetAuctionResponse {
            auction: Some(row.to_proto()),
        })
    }

    pub(crate) async fn list_bid_increments(
        &self,
        _caller: &Caller,
        _req: pb::ListBidIncrementsRequest,
    ) -> CommerceResult<pb::ListBidIncrementsResponse> {
        Ok(pb::ListBidIncrementsResponse {
            bands: rules::INCREMENTS
                .iter()
                .map(|(from, inc)| pb::BidIncrement {
                    from_cents: *from,
                    increment_cents: *inc,
                })
                .collect(),
        })
    }
}
