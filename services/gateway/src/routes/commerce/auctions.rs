//! LIVE auctions (docs/commerce.md "LIVE auctions"): the host of an open
//! room auctions a unit of their own approved SKU; bidders authorise a card
//! payment first, then bid (plain, or with a maximum the service bids up
//! to); viewers follow the bids live as Server-Sent Events. Refusals are
//! 422 with the rule: `BID_TOO_LOW`, `AUCTION_CLOSED`, `SELF_BID`,
//! `PAYMENT_NOT_AUTHORIZED`, `AUCTION_RUNNING`.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{Stream, StreamExt};

use super::*;
use crate::routes::wallet::ReceiptBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_auction))
        .routes(routes!(room_auction))
        .routes(routes!(auction_events))
        .routes(routes!(get_auction))
        .routes(routes!(authorize_bidder, my_authorization))
        .routes(routes!(place_bid))
        .routes(routes!(bid_increments))
}

pub(crate) const AUCTION_STATUSES: &[&str] = &["open", "closing", "sold", "unsold"];

crate::constraints::enum_schemas! {
    auction_statuses => AUCTION_STATUSES;
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuctionDto {
    pub auction_id: String,
    pub room_id: String,
    pub seller_id: String,
    pub product_id: String,
    pub sku_id: String,
    pub title: String,
    pub starting_cents: i64,
    /// open, closing (the winner's payment is being taken), sold or unsold.
    #[schema(schema_with = auction_statuses)]
    pub status: String,
    /// The current price (0 before the first bid).
    pub price_cents: i64,
    pub leader_id: Option<String>,
    /// The lowest acceptable next bid (open auctions).
    pub next_min_cents: i64,
    pub bids: u32,
    pub sudden_death: bool,
    pub ends_at: Option<DateTime<Utc>>,
    pub original_ends_at: Option<DateTime<Utc>>,
    pub extensions: u32,
    /// A bid within this many seconds of the close moves it to
    /// `extend_by_seconds` after the bid (not with sudden death).
    pub extend_within_seconds: u32,
    pub extend_by_seconds: u32,
    pub winner_id: Option<String>,
    pub winning_cents: i64,
    /// The winner's order (sold).
    pub order_id: Option<String>,
}

impl From<pb::Auction> for AuctionDto {
    fn from(a: pb::Auction) -> Self {
        Self {
            auction_id: a.auction_id,
            room_id: a.room_id,
            seller_id: a.seller_id,
            product_id: a.product_id,
            sku_id: a.sku_id,
            title: a.title,
            starting_cents: a.starting_cents,
            status: status_name(a.status),
            price_cents: a.price_cents,
            leader_id: opt(a.leader_id),
            next_min_cents: a.next_min_cents,
            bids: a.bids,
            sudden_death: a.sudden_death,
            ends_at: ts(a.ends_at),
            original_ends_at: ts(a.original_ends_at),
            extensions: a.extensions,
            extend_within_seconds: a.extend_within_seconds,
            extend_by_seconds: a.extend_by_seconds,
            winner_id: opt(a.winner_id),
            winning_cents: a.winning_cents,
            order_id: opt(a.order_id),
        }
    }
}

fn status_name(status: i32) -> String {
    enum_to_str(
        pb::AuctionStatus::try_from(status)
            .unwrap_or(pb::AuctionStatus::Unspecified)
            .as_str_name(),
        "AUCTION_STATUS_",
    )
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuctionBidDto {
    /// The bid's place in the auction's order (1, 2, ...).
    pub seq: u32,
    pub bidder_id: String,
    pub amount_cents: i64,
    /// The bidder's maximum (= amount_cents for a plain bid).
    pub max_cents: i64,
    pub placed_at: Option<DateTime<Utc>>,
    /// The auction after this bid.
    pub price_cents: i64,
    pub leader_id: String,
    pub ends_at: Option<DateTime<Utc>>,
    /// The bid moved the close (anti-sniping).
    pub extended: bool,
}

impl From<pb::AuctionBid> for AuctionBidDto {
    fn from(b: pb::AuctionBid) -> Self {
        Self {
            seq: b.seq,
            bidder_id: b.bidder_id,
            amount_cents: b.amount_cents,
            max_cents: b.max_cents,
            placed_at: ts(b.placed_at),
            price_cents: b.price_cents,
            leader_id: b.leader_id,
            ends_at: ts(b.ends_at),
            extended: b.extended,
        }
    }
}

fn auction(a: Option<pb::Auction>) -> ApiResult<Json<AuctionDto>> {
    Ok(Json(a.ok_or_else(|| ApiError::missing("auction"))?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartAuctionBody {
    /// A SKU of your own shop's approved product (one unit is auctioned).
    #[schema(schema_with = crate::constraints::uuid)]
    pub sku_id: String,
    /// The starting bid in cents: at least 100 ($1).
    #[schema(minimum = 100, maximum = 1_000_000_000_i64)]
    pub starting_cents: i64,
    /// How long the auction runs, in seconds (the service's
    /// `auctions.min_duration_seconds..max_duration_seconds`, by default
    /// 10..3600).
    #[schema(minimum = 10, maximum = 3600)]
    pub duration_seconds: u32,
    /// No anti-sniping extension: the auction ends on time.
    #[serde(default)]
    pub sudden_death: bool,
}

/// Start an auction in your open LIVE room (one at a time per room): one
/// unit of the SKU leaves stock until the auction ends unsold.
#[utoipa::path(post, path = "/v1/live/{room_id}/auctions", tag = "shop", security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path), IdempotencyKeyHeader), request_body = StartAuctionBody,
    responses((status = 201, body = AuctionDto), Forbidden, NotFound, Conflict, Unprocessable))]
pub async fn start_auction(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    Path(room_id): Path<String>,
    ApiJson(b): ApiJson<StartAuctionBody>,
) -> ApiResult<(StatusCode, Json<AuctionDto>)> {
    let r = st
        .call(st.commerce().start_auction(st.req(
            &user,
            pb::StartAuctionRequest {
                idempotency_key: key,
                room_id,
                sku_id: b.sku_id,
                starting_cents: b.starting_cents,
                duration_seconds: b.duration_seconds,
                sudden_death: b.sudden_death,
            },
        )))
        .await?;
    let Json(a) = auction(r.auction)?;
    Ok((StatusCode::CREATED, Json(a)))
}

/// A room's current (or last) auction.
#[utoipa::path(get, path = "/v1/live/{room_id}/auction", tag = "shop", security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path)),
    responses((status = 200, body = AuctionDto), NotFound))]
pub async fn room_auction(
    State(st): State<AppState>,
    user: AuthUser,
    Path(room_id): Path<String>,
) -> ApiResult<Json<AuctionDto>> {
    let r = st
        .call(
            st.commerce()
                .get_room_auction(st.req(&user, pb::GetRoomAuctionRequest { room_id })),
        )
        .await?;
    auction(r.auction)
}

/// An auction.
#[utoipa::path(get, path = "/v1/auctions/{auction_id}", tag = "shop", security(("bearer" = [])),
    params(("auction_id" = uuid::Uuid, Path)),
    responses((status = 200, body = AuctionDto), NotFound))]
pub async fn get_auction(
    State(st): State<AppState>,
    user: AuthUser,
    Path(auction_id): Path<String>,
) -> ApiResult<Json<AuctionDto>> {
    let r = st
        .call(
            st.commerce()
                .get_auction(st.req(&user, pb::GetAuctionRequest { auction_id })),
        )
        .await?;
    auction(r.auction)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeBidderBody {
    /// The most you may bid (or name as a maximum), in cents.
    #[schema(minimum = 1, maximum = 1_000_000_000_i64)]
    pub amount_cents: i64,
    /// A card payment of `amount_cents` for product
    /// `commerce:auction:<auction_id>`: held, not charged; at the close the
    /// winner pays the winning price out of it and everyone else gets it back.
    pub receipt: ReceiptBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationDto {
    pub authorized_cents: i64,
    pub escrow_id: String,
}

impl From<pb::AuthorizeBidderResponse> for AuthorizationDto {
    fn from(r: pb::AuthorizeBidderResponse) -> Self {
        Self {
            authorized_cents: r.authorized_cents,
            escrow_id: r.escrow_id,
        }
    }
}

/// Authorise a card payment for an auction before bidding (once per
/// auction: a repeat returns the first). 422 `PAYMENT_DECLINED`, `SELF_BID`,
/// `AUCTION_CLOSED`.
#[utoipa::path(post, path = "/v1/auctions/{auction_id}/authorization", tag = "shop", security(("bearer" = [])),
    params(("auction_id" = uuid::Uuid, Path)), request_body = AuthorizeBidderBody,
    responses((status = 200, body = AuthorizationDto), NotFound, Conflict, Unprocessable))]
pub async fn authorize_bidder(
    State(st): State<AppState>,
    user: AuthUser,
    Path(auction_id): Path<String>,
    ApiJson(b): ApiJson<AuthorizeBidderBody>,
) -> ApiResult<Json<AuthorizationDto>> {
    let receipt = b.receipt.to_proto()?;
    let r = st
        .call(st.commerce().authorize_bidder(st.req(
            &user,
            pb::AuthorizeBidderRequest {
                auction_id,
                amount_cents: b.amount_cents,
                receipt: Some(receipt),
            },
        )))
        .await?;
    Ok(Json(r.into()))
}

/// Your authorisation for the auction, as the wallet confirmed it (what
/// authorising again would return). 404 while you have none.
#[utoipa::path(get, path = "/v1/auctions/{auction_id}/authorization", tag = "shop", security(("bearer" = [])),
    params(("auction_id" = uuid::Uuid, Path)),
    responses((status = 200, body = AuthorizationDto), NotFound))]
pub async fn my_authorization(
    State(st): State<AppState>,
    user: AuthUser,
    Path(auction_id): Path<String>,
) -> ApiResult<Json<AuthorizationDto>> {
    let r = st
        .call(st.commerce().get_bidder_authorization(
            st.req(&user, pb::GetBidderAuthorizationRequest { auction_id }),
        ))
        .await?;
    Ok(Json(r.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BidBody {
    /// At least the auction's `next_min_cents`.
    #[schema(minimum = 1, maximum = 1_000_000_000_i64)]
    pub amount_cents: i64,
    /// A proxy bid: the service bids for you up to this; absent, 0 or at
    /// most amount_cents: a plain bid.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000_i64)]
    pub max_cents: i64,
    /// A quick bid: the lowest acceptable amount when the auction takes
    /// your bid, at most `amount_cents` (422 `BID_TOO_LOW` if the price
    /// passed it).
    #[serde(default)]
    pub at_next_min: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BidResultDto {
    pub bid: AuctionBidDto,
    pub auction: AuctionDto,
    /// Whether you lead as of this answer (a maximum may have outbid your
    /// bid; a repeat answers with the auction as it is now).
    pub leading: bool,
}

/// Bid. Send a new `Idempotency-Key` for each bid you mean to place and
/// the same one on its retries: a repeat answers with the bid the key
/// placed (even after the close) and places nothing more. 422
/// `BID_TOO_LOW` (below `next_min_cents`), `AUCTION_CLOSED`, `SELF_BID`,
/// `PAYMENT_NOT_AUTHORIZED` (no authorisation, or above it),
/// `IDEMPOTENCY_KEY_REUSED` (the key placed another bid).
#[utoipa::path(post, path = "/v1/auctions/{auction_id}/bids", tag = "shop", security(("bearer" = [])),
    params(("auction_id" = uuid::Uuid, Path), IdempotencyKeyHeader), request_body = BidBody,
    responses((status = 200, body = BidResultDto), NotFound, Unprocessable))]
pub async fn place_bid(
    State(st): State<AppState>,
    user: AuthUser,
    Path(auction_id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(b): ApiJson<BidBody>,
) -> ApiResult<Json<BidResultDto>> {
    let r = st
        .call(st.commerce().place_bid(st.req(
            &user,
            pb::PlaceBidRequest {
                auction_id,
                amount_cents: b.amount_cents,
                max_cents: b.max_cents,
                at_next_min: b.at_next_min,
                idempotency_key: key,
            },
        )))
        .await?;
    Ok(Json(BidResultDto {
        bid: r.bid.ok_or_else(|| ApiError::missing("bid"))?.into(),
        auction: r
            .auction
            .ok_or_else(|| ApiError::missing("auction"))?
            .into(),
        leading: r.leading,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BidIncrementDto {
    /// From this price (inclusive) up to the next band...
    pub from_cents: i64,
    /// ...bids rise by this much.
    pub increment_cents: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BidIncrementsDto {
    pub bands: Vec<BidIncrementDto>,
}

/// The published bid increments by price band.
#[utoipa::path(get, path = "/v1/auction-increments", tag = "shop", security(("bearer" = [])),
    responses((status = 200, body = BidIncrementsDto)))]
pub async fn bid_increments(
    State(st): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<BidIncrementsDto>> {
    let r = st
        .call(
            st.commerce()
                .list_bid_increments(st.req(&user, pb::ListBidIncrementsRequest {})),
        )
        .await?;
    Ok(Json(BidIncrementsDto {
        bands: r
            .bands
            .into_iter()
            .map(|b| BidIncrementDto {
                from_cents: b.from_cents,
                increment_cents: b.increment_cents,
            })
            .collect(),
    }))
}

/// How long one events stream may stay open (the client reconnects).
const STREAM_FOR: Duration = Duration::from_secs(3600);

/// One update as an SSE event: `state` (the auction, first and after a
/// gap), `bid`, `extended` (`{"ends_at"}`) or `closed` (the final auction).
fn sse_event(u: pb::AuctionUpdate) -> Option<Event> {
    use pb::auction_update::Update;
    let (name, data) = match u.update? {
        Update::State(a) => ("state", serde_json::to_string(&AuctionDto::from(a))),
        Update::Bid(b) => ("bid", serde_json::to_string(&AuctionBidDto::from(b))),
        Update::ExtendedTo(t) => (
            "extended",
            serde_json::to_string(&serde_json::json!({ "ends_at": ts(Some(t)) })),
        ),
        Update::Closed(_) => (
            "closed",
            serde_json::to_string(&AuctionDto::from(u.auction.unwrap_or_default())),
        ),
    };
    Some(
        Event::default()
            .event(name)
            .id(u.seq.to_string())
            .data(data.ok()?),
    )
}

/// The room's current auction live, as Server-Sent Events (`text/event-stream`):
/// `state` first, then `bid`, `extended` and finally `closed`, each with
/// `id` = the last bid's seq. 404 when the room has no auction.
#[utoipa::path(get, path = "/v1/live/{room_id}/auction/events", tag = "shop", security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path)),
    responses((status = 200, content_type = "text/event-stream", body = String), NotFound))]
pub async fn auction_events(
    State(st): State<AppState>,
    user: AuthUser,
    Path(room_id): Path<String>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let current = st
        .call(
            st.commerce()
                .get_room_auction(st.req(&user, pb::GetRoomAuctionRequest { room_id })),
        )
        .await?
        .auction
        .ok_or_else(|| ApiError::missing("auction"))?;
    let request = loop_platform::grpc::request(
        pb::WatchAuctionRequest {
            auction_id: current.auction_id,
        },
        Some(&user.token),
        STREAM_FOR,
    );
    let updates = st
        .commerce()
        .watch_auction(request)
        .await
        .map_err(ApiError::from)?
        .into_inner();
    let events = updates
        .take_while(|u| std::future::ready(u.is_ok()))
        .filter_map(|u| std::future::ready(u.ok().and_then(sse_event).map(Ok)));
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
