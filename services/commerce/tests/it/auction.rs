//! LIVE auctions against the real wallet, content, Postgres and broker:
//! the increment and proxy rules, 200 concurrent bidders (proxy bids and
//! bids in the last second) whose outcome equals the rules replayed
//! serially over the bids in the order the service accepted them, the
//! winner charged once, named refusals that change nothing, the live
//! stream, and a crash in the middle of the close.

use std::collections::HashSet;
use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use loop_commerce::auction::rules;
use loop_testkit::Killable;
use loop_testkit::fixtures::NewUser;

use super::*;

/// A creator hosting an open LIVE room, with a shop and one approved
/// product (a SKU with `stock` units).
pub struct Host {
    pub id: String,
    pub room: String,
    pub sku: String,
    pub product: String,
}

impl Platform {
    async fn host(&self, stock: i64) -> Host {
        let fx = self.sandbox.content_fixture();
        let id = fx
            .sign_up(NewUser {
                role: Role::Creator,
                ..NewUser::default()
            })
            .await
            .user_id;
        fx.make_creator(&id, "home").await;
        let room = fx.go_live(&id, "auction night").await;
        host_with_shop(self, &self.c(), id, room, stock).await
    }

    fn auction_receipt(&self, auction: &str, amount: i64) -> wpb::PaymentReceipt {
        self.receipts.sign(&TestReceipt {
            receipt_id: Uuid::now_v7().to_string(),
            product_id: format!("commerce:auction:{auction}"),
            amount_cents: amount,
        })
    }
}

async fn host_with_shop(
    p: &Platform,
    client: &CommerceServiceClient<Channel>,
    id: String,
    room: String,
    stock: i64,
) -> Host {
    client
        .clone()
        .open_shop(p.req(
            &id,
            Role::Creator,
            pb::OpenShopRequest {
                name: "Live shop".into(),
                description: String::new(),
            },
        ))
        .await
        .expect("shop");
    let product = client
        .clone()
        .create_product(p.req(&id, Role::Creator, product_body(&[("Vase", 5_000, stock)])))
        .await
        .expect("product")
        .into_inner()
        .product
        .expect("product");
    let product = client
        .clone()
        .review_product(p.admin(pb::ReviewProductRequest {
            product_id: product.product_id.clone(),
            expected_version: product.version,
            approve: true,
            reason: String::new(),
        }))
        .await
        .expect("approve")
        .into_inner()
        .product
        .expect("product");
    Host {
        id,
        room,
        sku: product.skus[0].sku_id.clone(),
        product: product.product_id,
    }
}

async fn start(
    p: &Platform,
    client: &CommerceServiceClient<Channel>,
    host: &Host,
    starting: i64,
    seconds: u32,
    sudden_death: bool,
) -> Result<pb::Auction, tonic::Status> {
    client
        .clone()
        .start_auction(p.req(
            &host.id,
            Role::Creator,
            pb::StartAuctionRequest {
                idempotency_key: key(),
                room_id: host.room.clone(),
                sku_id: host.sku.clone(),
                starting_cents: starting,
                duration_seconds: seconds,
                sudden_death,
            },
        ))
        .await
        .map(|r| r.into_inner().auction.expect("auction"))
}

async fn authorize(
    p: &Platform,
    client: &CommerceServiceClient<Channel>,
    auction: &str,
    bidder: &str,
    amount: i64,
) -> Result<pb::AuthorizeBidderResponse, tonic::Status> {
    client
        .clone()
        .authorize_bidder(p.req(
            bidder,
            Role::Viewer,
            pb::AuthorizeBidderRequest {
                auction_id: auction.into(),
                amount_cents: amount,
                receipt: Some(p.auction_receipt(auction, amount)),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn my_authorization(
    p: &Platform,
    client: &CommerceServiceClient<Channel>,
    auction: &str,
    bidder: &str,
) -> Result<pb::AuthorizeBidderResponse, tonic::Status> {
    client
        .clone()
        .get_bidder_authorization(p.req(
            bidder,
            Role::Viewer,
            pb::GetBidderAuthorizationRequest {
                auction_id: auction.into(),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn bid(
    p: &Platform,
    client: &CommerceServiceClient<Channel>,
    auction: &str,
    bidder: &str,
    amount: i64,
    max: i64,
) -> Result<pb::PlaceBidResponse, tonic::Status> {
    send_bid(
        p,
        client,
        bidder,
        pb::PlaceBidRequest {
            auction_id: auction.into(),
            amount_cents: amount,
            max_cents: max,
            at_next_min: false,
            idempotency_key: key(),
        },
    )
    .await
}

async fn send_bid(
    p: &Platform,
    client: &CommerceServiceClient<Channel>,
    bidder: &str,
    req: pb::PlaceBidRequest,
) -> Result<pb::PlaceBidResponse, tonic::Status> {
    client
        .clone()
        .place_bid(p.req(bidder, Role::Viewer, req))
        .await
        .map(tonic::Response::into_inner)
}

async fn get(p: &Platform, client: &CommerceServiceClient<Channel>, auction: &str) -> pb::Auction {
    client
        .clone()
        .get_auction(p.admin(pb::GetAuctionRequest {
            auction_id: auction.into(),
        }))
        .await
        .expect("auction")
        .into_inner()
        .auction
        .expect("auction")
}

fn time(t: Option<prost_types::Timestamp>) -> DateTime<Utc> {
    let t = t.expect("timestamp");
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).expect("nanos")).expect("time")
}

/// The bids as stored, in the order the auction accepted them.
#[derive(sqlx::FromRow, Debug)]
struct StoredBid {
    seq: i32,
    bidder_id: Uuid,
    amount_cents: i64,
    max_cents: i64,
    placed_at: DateTime<Utc>,
    price_cents: i64,
    leader_id: Uuid,
    ends_at: DateTime<Utc>,
    extended: bool,
}

async fn stored_bids(db_url: &str, auction: &str) -> Vec<StoredBid> {
    let pool = sqlx::PgPool::connect(db_url).await.expect("commerce db");
    let rows = sqlx::query_as::<_, StoredBid>(
        "SELECT seq, bidder_id, amount_cents, max_cents, placed_at, price_cents, leader_id, ends_at, extended \
         FROM auction_bids WHERE auction_id = $1 ORDER BY seq",
    )
    .bind(Uuid::parse_str(auction).expect("uuid"))
    .fetch_all(&pool)
    .await
    .expect("bids");
    pool.close().await;
    rows
}

/// Replays the stored bids serially through the rules and checks every
/// step and the end against what the service stored and reports.
fn check_replay(a: &pb::Auction, timing: &rules::Timing, bids: &[StoredBid]) -> rules::State {
    let mut state = rules::State::new(a.starting_cents, time(a.original_ends_at));
    for (i, b) in bids.iter().enumerate() {
        assert_eq!(
            b.seq,
            i32::try_from(i + 1).expect("seq"),
            "seqs are 1, 2, ... without gaps"
        );
        let outcome = rules::apply(
            &mut state,
            timing,
            &rules::Bid::new(b.bidder_id, b.amount_cents, b.max_cents, b.placed_at),
        )
        .unwrap_or_else(|r| panic!("bid {} refused in the replay: {r:?}", b.seq));
        assert_eq!(
            state.price_cents, b.price_cents,
            "price after bid {}",
            b.seq
        );
        assert_eq!(
            state.leader,
            Some(b.leader_id),
            "leader after bid {}",
            b.seq
        );
        assert_eq!(state.ends_at, b.ends_at, "close after bid {}", b.seq);
        assert_eq!(outcome.extended, b.extended, "extension by bid {}", b.seq);
    }
    state
}

#[tokio::test]
async fn increments_and_proxy_rules_as_published() {
    let p = Platform::start().await;
    let bands = p
        .c()
        .list_bid_increments(p.req(&user(), Role::Viewer, pb::ListBidIncrementsRequest {}))
        .await
        .expect("bands")
        .into_inner()
        .bands;
    let published: Vec<(i64, i64)> = bands
        .iter()
        .map(|b| (b.from_cents, b.increment_cents))
        .collect();
    assert_eq!(published, rules::INCREMENTS);
    assert_eq!(
        published,
        [
            (0, 100),
            (3_000, 200),
            (5_000, 500),
            (10_000, 1_000),
            (30_000, 2_500),
            (100_000, 5_000)
        ]
    );
    // The proxy rule by hand: A max $50, B plain $20 -> A at $21; C max
    // $60 -> C at $55 ($50 + the $5 band); D max $60 ties -> C at $60.
    let t0 = DateTime::from_timestamp(1_800_000_000, 0).expect("t0");
    let timing = rules::Timing {
        sudden_death: false,
        extend_within: chrono::Duration::seconds(5),
        extend_by: chrono::Duration::seconds(10),
    };
    let b =
        |who: u128, amount: i64, max: i64| rules::Bid::new(Uuid::from_u128(who), amount, max, t0);
    let end = t0 + chrono::Duration::seconds(60);
    let mut s = rules::State::new(100, end);
    let steps = [
        (b(1, 100, 5_000), 1, 100),
        (b(2, 2_000, 2_000), 1, 2_100),
        (b(3, 2_200, 6_000), 3, 5_500),
        (b(4, 6_000, 6_000), 3, 6_000),
    ];
    for (bid, leader, price) in steps {
        rules::apply(&mut s, &timing, &bid).expect("accepted");
        assert_eq!(
            (s.leader, s.price_cents),
            (Some(Uuid::from_u128(leader)), price)
        );
    }
    assert_eq!(s.next_min(), 6_500);
    assert_eq!(
        rules::apply(&mut s, &timing, &b(5, 6_400, 0)),
        Err(rules::Refused::TooLow { min_cents: 6_500 })
    );
}

#[tokio::test]
async fn two_hundred_bidders_one_winner_at_the_replayed_price_charged_once() {
    let p = Platform::start_with(|c| {
        c.auctions.extend_within_seconds = 5;
        c.auctions.extend_by_seconds = 10;
    })
    .await;
    let host = p.host(2).await;
    let a = start(&p, &p.c(), &host, 500, 120, false)
        .await
        .expect("start");
    let id = a.auction_id.clone();
    let budget = 2_000_000; // $20,000 each
    let bidders: Vec<String> = (0..200).map(|_| user()).collect();
    let client = p.c();
    let auths = futures::future::join_all(
        bidders
            .iter()
            .map(|b| authorize(&p, &client, &id, b, budget)),
    )
    .await;
    let mut holds = Vec::new();
    for r in auths {
        holds.push(r.expect("authorised").escrow_id);
    }

    // A watcher follows the auction live from the start.
    let mut stream = p
        .c()
        .watch_auction(p.req(
            &user(),
            Role::Viewer,
            pb::WatchAuctionRequest {
                auction_id: id.clone(),
            },
        ))
        .await
        .expect("watch")
        .into_inner();
    let watcher = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(u) = stream.message().await.expect("stream") {
            let close = matches!(u.update, Some(pb::auction_update::Update::Closed(_)));
            seen.push(u);
            if close {
                break;
            }
        }
        seen
    });

    // Everyone at once, each bidding a few times: every fourth with a maximum.
    let round = |bidders: Vec<String>, tries: usize| {
        let p = &p;
        let id = id.clone();
        futures::future::join_all(bidders.into_iter().enumerate().map(move |(i, b)| {
            let id = id.clone();
            async move {
                let mut accepted = Vec::new();
                let mut next = get(p, &p.c(), &id).await.next_min_cents;
                for t in 0..tries {
                    let amount = next + i64::try_from((i * 7 + t * 13) % 5).expect("jitter") * 100;
                    let max = if i % 4 == 0 {
                        amount + 5_000 + i64::try_from(i).expect("i") * 37
                    } else {
                        0
                    };
                    match bid(p, &p.c(), &id, &b, amount, max).await {
                        Ok(r) => {
                            next = r.auction.expect("auction").next_min_cents;
                            accepted.push(r.bid.expect("bid"));
                        }
                        Err(err) => {
                            // Too low after others' bids; in the last
                            // second, possibly too late.
                            assert!(
                                ["BID_TOO_LOW", "AUCTION_CLOSED"].contains(&reason(&err).as_str()),
                                "{err:?}"
                            );
                            next = get(p, &p.c(), &id).await.next_min_cents;
                        }
                    }
                }
                accepted
            }
        }))
    };
    let mut accepted: Vec<pb::AuctionBid> = round(bidders.clone(), 3)
        .await
        .into_iter()
        .flatten()
        .collect();
    let before_last_second = get(&p, &p.c(), &id).await;
    assert_eq!(
        before_last_second.extensions, 0,
        "nobody bid near the close yet"
    );

    // The last second: move the clock to 0.5 s before the close, then 50
    // bidders at once; each accepted bid moves the close to 10 s after it.
    let ends = time(before_last_second.ends_at);
    p.clock().advance(
        (ends - p.clock().now() - chrono::Duration::milliseconds(800))
            .to_std()
            .expect("ahead"),
    );
    accepted.extend(
        round(bidders[100..150].to_vec(), 1)
            .await
            .into_iter()
            .flatten(),
    );
    let after = get(&p, &p.c(), &id).await;
    assert!(
        after.extensions >= 1,
        "bids in the last second extended the close"
    );
    assert!(time(after.ends_at) > ends);

    // Let the (extended) close pass: the sweeper closes and charges.
    p.clock().advance(
        (time(after.ends_at) - p.clock().now() + chrono::Duration::seconds(1))
            .to_std()
            .unwrap_or_default(),
    );
    let done = testing::wait_for("auction sold", Duration::from_secs(60), || async {
        let a = get(&p, &p.c(), &id).await;
        (a.status == pb::AuctionStatus::Sold as i32).then_some(a)
    })
    .await;

    // Every accepted answer is one stored bid, and the stored bids replayed
    // serially give the same price, winner and close.
    let db = p.sandbox.commerce().config.database.url.expose().clone();
    let stored = stored_bids(&db, &id).await;
    assert_eq!(
        stored.len(),
        accepted.len(),
        "each accepted answer is one stored bid"
    );
    let seqs: HashSet<u32> = accepted.iter().map(|b| b.seq).collect();
    assert_eq!(
        seqs.len(),
        accepted.len(),
        "no two answers share a place in the order"
    );
    let timing = rules::Timing {
        sudden_death: false,
        extend_within: chrono::Duration::seconds(5),
        extend_by: chrono::Duration::seconds(10),
    };
    let replayed = check_replay(&done, &timing, &stored);
    assert_eq!(
        done.winner_id,
        replayed.leader.expect("a leader").to_string()
    );
    assert_eq!(done.winning_cents, replayed.price_cents);
    assert_eq!(time(done.ends_at), replayed.ends_at);
    assert_eq!(done.extensions, replayed.extensions);
    assert!(
        stored.iter().any(|b| b.max_cents > b.amount_cents),
        "proxy bids took part"
    );
    // The extension rule on its own: each accepted bid within 5 s of the
    // close then standing moved it to 10 s after the bid.
    let mut close = time(done.original_ends_at);
    for b in &stored {
        if close - b.placed_at <= chrono::Duration::seconds(5)
            && b.placed_at + chrono::Duration::seconds(10) > close
        {
            close = b.placed_at + chrono::Duration::seconds(10);
        }
    }
    assert_eq!(close, time(done.ends_at));

    // One order, for the winner, at the price, paid out of their hold: the
    // hold was cut to the price once; every other hold is returned.
    let order = p.order(&done.order_id).await;
    assert_eq!(order.buyer_id, done.winner_id);
    assert_eq!(order.total_cents, done.winning_cents);
    assert_eq!(order.status, pb::OrderStatus::OnHold as i32);
    let escrow = p.escrow(&order.escrow_id).await;
    assert_eq!(
        escrow.amount_cents - escrow.refunded_cents,
        done.winning_cents
    );
    assert_eq!(escrow.payer_id, done.winner_id);
    let winner_index = bidders
        .iter()
        .position(|b| *b == done.winner_id)
        .expect("a bidder");
    for (i, hold) in holds.iter().enumerate() {
        if i == winner_index {
            assert_eq!(*hold, order.escrow_id);
            continue;
        }
        testing::wait_for("hold returned", Duration::from_secs(60), || async {
            let e = p.escrow(hold).await;
            (e.status == wpb::EscrowStatus::Refunded as i32).then_some(())
        })
        .await;
    }
    let seller_orders = p
        .c()
        .list_orders(p.req(
            &host.id,
            Role::Creator,
            pb::ListOrdersRequest {
                role: pb::OrderRole::Seller as i32,
                ..Default::default()
            },
        ))
        .await
        .expect("orders")
        .into_inner()
        .orders;
    assert_eq!(seller_orders.len(), 1, "exactly one order");
    assert!(p.reconciles().await);

    // The watcher saw the state, then bids in order, then the close.
    let seen = watcher.await.expect("watcher");
    assert!(matches!(
        seen.first().and_then(|u| u.update.as_ref()),
        Some(pb::auction_update::Update::State(_))
    ));
    let mut last = 0;
    for u in &seen {
        match &u.update {
            Some(pb::auction_update::Update::Bid(b)) => {
                assert!(b.seq > last, "bids in order: {} after {last}", b.seq);
                last = b.seq;
            }
            Some(pb::auction_update::Update::State(s)) => last = s.bids,
            _ => {}
        }
    }
    assert_eq!(last as usize, stored.len());
    assert!(matches!(
        seen.last().and_then(|u| u.update.as_ref()),
        Some(pb::auction_update::Update::Closed(s)) if *s == pb::AuctionStatus::Sold as i32
    ));

    // commerce.v1: one AuctionBid per bid, AuctionExtended per extension,
    // one AuctionWon.
    let events = p.events().await;
    let count = |f: &dyn Fn(&Payload) -> bool| {
        events
            .iter()
            .filter(|e| e.payload.as_ref().is_some_and(f))
            .count()
    };
    assert_eq!(
        count(&|e| matches!(e, Payload::AuctionBid(b) if b.auction_id == id)),
        stored.len()
    );
    assert_eq!(
        count(&|e| matches!(e, Payload::AuctionExtended(x) if x.auction_id == id)),
        done.extensions as usize
    );
    assert_eq!(
        count(
            &|e| matches!(e, Payload::AuctionWon(w) if w.auction_id == id && w.price_cents == done.winning_cents)
        ),
        1
    );
}

#[tokio::test]
async fn bad_bids_are_refused_by_name_and_change_nothing() {
    let p = Platform::start().await;
    let host = p.host(1).await;
    let c = p.c();
    // Starting below $1, a host who is not the room's, a second auction.
    let err = start(&p, &c, &host, 99, 60, true)
        .await
        .expect_err("below $1");
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "starting_cents")
    );
    let other = p.host(1).await;
    let err = start(
        &p,
        &c,
        &Host {
            room: host.room.clone(),
            ..other
        },
        100,
        60,
        true,
    )
    .await
    .expect_err("not the host");
    assert_eq!(err.code(), Code::PermissionDenied);
    let a = start(&p, &c, &host, 1_000, 60, true).await.expect("start");
    assert_eq!(p.stock_of(&host.product).await, 0, "the unit left stock");
    let err = start(&p, &c, &host, 1_000, 60, true)
        .await
        .expect_err("second");
    assert!(
        ["AUCTION_RUNNING", "OUT_OF_STOCK"].contains(&reason(&err).as_str()),
        "{err:?}"
    );
    let id = a.auction_id.clone();
    let bidder = user();

    // No authorisation yet; the seller; non-positive amounts; a negative
    // maximum; a declined card.
    let err = bid(&p, &c, &id, &bidder, 1_000, 0)
        .await
        .expect_err("unauthorised");
    assert_eq!(reason(&err), "PAYMENT_NOT_AUTHORIZED");
    let err = bid(&p, &c, &id, &host.id, 1_000, 0)
        .await
        .expect_err("seller");
    assert_eq!(reason(&err), "SELF_BID");
    let err = authorize(&p, &c, &id, &host.id, 5_000)
        .await
        .expect_err("seller authorising");
    assert_eq!(reason(&err), "SELF_BID");
    for amount in [0, -100] {
        let err = bid(&p, &c, &id, &bidder, amount, 0)
            .await
            .expect_err("non-positive");
        assert_eq!(
            (err.code(), field(&err).as_str()),
            (Code::InvalidArgument, "amount_cents")
        );
    }
    let err = bid(&p, &c, &id, &bidder, 2_000, -1)
        .await
        .expect_err("negative max");
    assert_eq!(field(&err), "max_cents");
    let mut bad = p.auction_receipt(&id, 5_000);
    bad.signature = "forged".into();
    let err = c
        .clone()
        .authorize_bidder(p.req(
            &bidder,
            Role::Viewer,
            pb::AuthorizeBidderRequest {
                auction_id: id.clone(),
                amount_cents: 5_000,
                receipt: Some(bad),
            },
        ))
        .await
        .expect_err("declined");
    assert_eq!(reason(&err), "PAYMENT_DECLINED");
    assert_eq!(get(&p, &c, &id).await.bids, 0);
    // A declined card leaves no authorisation to find.
    let err = my_authorization(&p, &c, &id, &bidder)
        .await
        .expect_err("none yet");
    assert_eq!(err.code(), Code::NotFound);

    // Authorised up to $50: above it, below the start, then a fine bid.
    let first = authorize(&p, &c, &id, &bidder, 5_000)
        .await
        .expect("authorised");
    let again = authorize(&p, &c, &id, &bidder, 5_000)
        .await
        .expect("repeat");
    assert_eq!(again.authorized_cents, 5_000);
    // The bidder can read it back (a page reloaded mid-auction); nobody else has one.
    let mine = my_authorization(&p, &c, &id, &bidder).await.expect("mine");
    assert_eq!(
        (mine.authorized_cents, mine.escrow_id.as_str()),
        (5_000, first.escrow_id.as_str())
    );
    let err = my_authorization(&p, &c, &id, &user())
        .await
        .expect_err("another user's");
    assert_eq!(err.code(), Code::NotFound);
    let err = my_authorization(&p, &c, "not-a-uuid", &bidder)
        .await
        .expect_err("bad id");
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "auction_id")
    );
    let err = bid(&p, &c, &id, &bidder, 6_000, 0)
        .await
        .expect_err("above authorisation");
    assert_eq!(reason(&err), "PAYMENT_NOT_AUTHORIZED");
    assert_eq!(field(&err), "");
    assert!(err.message().contains("amount_cents"), "{err:?}");
    let err = bid(&p, &c, &id, &bidder, 999, 0)
        .await
        .expect_err("below the start");
    assert_eq!(reason(&err), "BID_TOO_LOW");
    let ok = bid(&p, &c, &id, &bidder, 1_000, 0).await.expect("bid");
    assert!(ok.leading);
    let second = user();
    authorize(&p, &c, &id, &second, 5_000)
        .await
        .expect("authorised");
    let err = bid(&p, &c, &id, &second, 1_050, 0)
        .await
        .expect_err("below price + $1");
    assert_eq!(reason(&err), "BID_TOO_LOW");
    assert!(err.message().contains("1100"), "{err:?}");
    let before = get(&p, &c, &id).await;
    assert_eq!((before.bids, before.price_cents), (1, 1_000));

    // After the close (sudden death: no extension): refused, unchanged.
    p.clock().advance(Duration::from_secs(61));
    let err = bid(&p, &c, &id, &second, 2_000, 0)
        .await
        .expect_err("closed");
    assert_eq!(reason(&err), "AUCTION_CLOSED");
    let err = authorize(&p, &c, &id, &user(), 5_000)
        .await
        .expect_err("closed");
    assert_eq!(reason(&err), "AUCTION_CLOSED");
    let sold = testing::wait_for("sold", Duration::from_secs(60), || async {
        let a = get(&p, &c, &id).await;
        (a.status == pb::AuctionStatus::Sold as i32).then_some(a)
    })
    .await;
    assert_eq!((sold.bids, sold.winning_cents), (1, 1_000));
    assert_eq!(sold.winner_id, bidder);
    let err = bid(&p, &c, &id, &second, 2_000, 0).await.expect_err("sold");
    assert_eq!(reason(&err), "AUCTION_CLOSED");
    assert_eq!(get(&p, &c, &id).await.bids, 1);

    // An auction nobody bids on ends unsold and the unit is back.
    let lonely = p.host(1).await;
    let a = start(&p, &c, &lonely, 100, 10, false).await.expect("start");
    assert_eq!(p.stock_of(&lonely.product).await, 0);
    p.clock().advance(Duration::from_secs(11));
    testing::wait_for("unsold", Duration::from_secs(60), || async {
        let x = get(&p, &c, &a.auction_id).await;
        (x.status == pb::AuctionStatus::Unsold as i32).then_some(())
    })
    .await;
    assert_eq!(p.stock_of(&lonely.product).await, 1);
    assert!(p.reconciles().await);
}

impl Platform {
    async fn stock_of(&self, product: &str) -> i64 {
        self.c()
            .get_product(self.admin(pb::GetProductRequest {
                product_id: product.into(),
                version: 0,
            }))
            .await
            .expect("product")
            .into_inner()
            .product
            .expect("product")
            .skus[0]
            .stock
    }
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// Commerce killed in the middle of an auction's close (its winner being
/// charged, the other holds being returned); after a restart: exactly one
/// order, the winner's hold cut to the price once, every other hold back.
#[tokio::test]
async fn killed_mid_close_charges_the_winner_once() {
    // Content and the wallet in a sandbox; commerce on its own runtime.
    let p = Platform::start().await;
    let db = loop_platform::testing::TestDb::create("commerce_crash").await;
    let mut config = p.sandbox.commerce().config.clone();
    config.database = db.config.clone();
    let clock = loop_commerce::Clock::system();
    let addr = free_addr();
    let spawn = |config: loop_commerce::Config, clock: loop_commerce::Clock| {
        Killable::start("commerce", addr, move |l, s| {
            loop_commerce::run_with_clock(config, l, s, clock)
        })
    };
    let mut commerce = spawn(config.clone(), clock.clone());
    commerce.wait_serving(loop_commerce::SERVICE_NAME).await;
    let c = CommerceServiceClient::new(
        loop_platform::grpc::channel(&format!("http://{addr}")).expect("channel"),
    );
    let fx = p.sandbox.content_fixture();
    let host_id = fx
        .sign_up(NewUser {
            role: Role::Creator,
            ..NewUser::default()
        })
        .await
        .user_id;
    fx.make_creator(&host_id, "home").await;
    let room = fx.go_live(&host_id, "crash night").await;
    let host = host_with_shop(&p, &c, host_id, room, 1).await;
    let a = start(&p, &c, &host, 100, 60, true).await.expect("start");
    let id = a.auction_id.clone();
    let bidders: Vec<String> = (0..40).map(|_| user()).collect();
    let mut holds = Vec::new();
    for (i, b) in bidders.iter().enumerate() {
        holds.push(
            authorize(&p, &c, &id, b, 100_000)
                .await
                .expect("auth")
                .escrow_id,
        );
        let amount = get(&p, &c, &id).await.next_min_cents;
        bid(
            &p,
            &c,
            &id,
            b,
            amount,
            if i % 3 == 0 { amount + 250 } else { 0 },
        )
        .await
        .expect("bid");
    }
    let pool = sqlx::PgPool::connect(db.config.url.expose())
        .await
        .expect("db");
    let auction = Uuid::parse_str(&id).expect("uuid");

    let stage = |pool: sqlx::PgPool| async move {
        sqlx::query_as::<_, (i16, i64)>(
            "SELECT a.status, (SELECT count(*) FROM auction_bidders b WHERE b.auction_id = a.auction_id AND NOT b.released) FROM auctions a WHERE auction_id = $1",
        )
        .bind(auction)
        .fetch_one(&pool)
        .await
        .ok()
    };

    // 1. Killed with the winner chosen but not yet charged: restarted with
    //    the wallet out of reach, the close stops at CLOSING (the charge
    //    is retried, never skipped); then killed there.
    commerce.kill();
    let mut cut_off = config.clone();
    cut_off.services.wallet_url = format!("http://{}", free_addr());
    let mut commerce = spawn(cut_off, clock.clone());
    commerce.wait_serving(loop_commerce::SERVICE_NAME).await;
    clock.advance(Duration::from_secs(61));
    testing::wait_for(
        "closing, the charge pending",
        Duration::from_secs(60),
        || {
            let pool = pool.clone();
            async move { (stage(pool).await? == (2, 40)).then_some(()) }
        },
    )
    .await;
    commerce.kill();

    // 2. Restarted with the wallet: killed again as soon as the order is
    //    written (the other holds are then being returned).
    let mut commerce = spawn(config.clone(), clock.clone());
    commerce.wait_serving(loop_commerce::SERVICE_NAME).await;
    let at = testing::wait_for("sold", Duration::from_secs(60), || {
        let pool = pool.clone();
        async move { stage(pool).await.filter(|s| s.0 == 3) }
    })
    .await;
    commerce.kill();
    eprintln!("killed when sold with {} holds not yet returned", at.1);

    // 3. Restarted: the close finishes.
    let _commerce = spawn(config, clock.clone());
    _commerce.wait_serving(loop_commerce::SERVICE_NAME).await;
    testing::wait_for("the close finished", Duration::from_secs(90), || {
        let pool = pool.clone();
        async move { (stage(pool).await? == (3, 0)).then_some(()) }
    })
    .await;
    let orders: Vec<(Uuid, Uuid, i64, Option<Uuid>)> =
        sqlx::query_as("SELECT order_id, buyer_id, total_cents, escrow_id FROM orders")
            .fetch_all(&pool)
            .await
            .expect("orders");
    assert_eq!(orders.len(), 1, "exactly one order");
    let (winner, price): (Uuid, i64) =
        sqlx::query_as("SELECT winner_id, winning_cents FROM auctions WHERE auction_id = $1")
            .bind(auction)
            .fetch_one(&pool)
            .await
            .expect("auction");
    assert_eq!((orders[0].1, orders[0].2), (winner, price));
    // The replay gives the same winner and price.
    let bids: Vec<(Uuid, i64, i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT bidder_id, amount_cents, max_cents, placed_at FROM auction_bids WHERE auction_id = $1 ORDER BY seq",
    )
    .bind(auction)
    .fetch_all(&pool)
    .await
    .expect("bids");
    let replayed = rules::replay(
        100,
        time(a.original_ends_at),
        &rules::Timing {
            sudden_death: true,
            extend_within: chrono::Duration::seconds(10),
            extend_by: chrono::Duration::seconds(15),
        },
        &bids
            .iter()
            .map(|(bidder, amount, max, at)| rules::Bid::new(*bidder, *amount, *max, *at))
            .collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(
        (replayed.leader, replayed.price_cents),
        (Some(winner), price)
    );
    for (b, hold) in bidders.iter().zip(&holds) {
        let e = p.escrow(hold).await;
        if *b == winner.to_string() {
            assert_eq!(Some(Uuid::parse_str(hold).expect("uuid")), orders[0].3);
            assert_eq!(
                e.amount_cents - e.refunded_cents,
                price,
                "charged the price once"
            );
            assert_eq!(e.status, wpb::EscrowStatus::Held as i32);
        } else {
            assert_eq!(
                e.status,
                wpb::EscrowStatus::Refunded as i32,
                "hold of {b} returned"
            );
            assert_eq!(e.refunded_cents, e.amount_cents);
        }
    }
    assert!(p.reconciles().await);
    pool.close().await;
}

/// The winner's hold is gone at the close (returned behind commerce's
/// back): the next bidder is offered the unit at the price the rules give
/// without the winner's bids, and charged that once.
#[tokio::test]
async fn a_winner_who_cannot_pay_passes_the_unit_to_the_next_bidder() {
    let p = Platform::start().await;
    let host = p.host(1).await;
    let c = p.c();
    let a = start(&p, &c, &host, 1_000, 60, true).await.expect("start");
    let id = a.auction_id.clone();
    let (first, second, third) = (user(), user(), user());
    let mut holds = Vec::new();
    for b in [&first, &second, &third] {
        holds.push(
            authorize(&p, &c, &id, b, 5_000)
                .await
                .expect("auth")
                .escrow_id,
        );
    }
    bid(&p, &c, &id, &first, 1_000, 0).await.expect("first");
    // The second leads with a $30 maximum; the third pushes it to $23.
    bid(&p, &c, &id, &second, 2_000, 3_000)
        .await
        .expect("second");
    let r = bid(&p, &c, &id, &third, 2_200, 0).await.expect("third");
    assert!(!r.leading);
    assert_eq!(r.auction.expect("auction").price_cents, 2_300);
    // The leader's hold is returned behind commerce's back.
    let token =
        testing::TestKeys.issue("service:commerce", Role::Service, Duration::from_secs(600));
    p.wallet
        .clone()
        .refund_escrow(loop_platform::grpc::request(
            wpb::RefundEscrowRequest {
                idempotency_key: key(),
                escrow_id: holds[1].clone(),
                amount_cents: 0,
            },
            Some(&token),
            Duration::from_secs(30),
        ))
        .await
        .expect("drain");
    p.clock().advance(Duration::from_secs(61));
    let sold = testing::wait_for("sold", Duration::from_secs(60), || async {
        let x = get(&p, &c, &id).await;
        (x.status == pb::AuctionStatus::Sold as i32).then_some(x)
    })
    .await;
    // Without the second bidder: the first at $10, the third at $22.
    assert_eq!(
        (sold.winner_id.as_str(), sold.winning_cents),
        (third.as_str(), 2_200)
    );
    let order = p.order(&sold.order_id).await;
    assert_eq!(
        (order.buyer_id.as_str(), order.total_cents),
        (third.as_str(), 2_200)
    );
    let e = p.escrow(&holds[2]).await;
    assert_eq!(e.amount_cents - e.refunded_cents, 2_200);
    for hold in [&holds[0], &holds[1]] {
        testing::wait_for("hold returned", Duration::from_secs(60), || async {
            let e = p.escrow(hold).await;
            (e.status == wpb::EscrowStatus::Refunded as i32).then_some(())
        })
        .await;
    }
    assert!(p.reconciles().await);
}

/// Two replicas on one database: a watcher connected to the second sees,
/// in order, every bid the first replica's writer took and then the close
/// (its tail reads what the other replica committed); the second replica's
/// own bids reach a watcher of the first the same way.
/// A second commerce replica on the sandbox's database and clock (its
/// relay off: the first one publishes), and a client of it.
async fn second_replica(p: &Platform) -> (Killable, CommerceServiceClient<Channel>) {
    let mut config = p.sandbox.commerce().config.clone();
    config.outbox.relay_enabled = false;
    let addr = free_addr();
    let clock = p.clock().clone();
    let replica = Killable::start("commerce-b", addr, move |l, s| {
        loop_commerce::run_with_clock(config, l, s, clock)
    });
    replica.wait_serving(loop_commerce::SERVICE_NAME).await;
    let client = CommerceServiceClient::new(
        loop_platform::grpc::channel(&format!("http://{addr}")).expect("channel"),
    );
    (replica, client)
}

#[tokio::test]
async fn watchers_on_another_replica_see_its_bids_and_the_close() {
    let p = Platform::start().await;
    let (mut replica, b) = second_replica(&p).await;
    let host = p.host(1).await;
    let a = start(&p, &p.c(), &host, 100, 60, false)
        .await
        .expect("start");
    let id = a.auction_id.clone();
    let watch = |client: CommerceServiceClient<Channel>| {
        let req = p.req(
            &user(),
            Role::Viewer,
            pb::WatchAuctionRequest {
                auction_id: id.clone(),
            },
        );
        async move {
            client
                .clone()
                .watch_auction(req)
                .await
                .expect("watch")
                .into_inner()
        }
    };
    // The bids' seqs a watcher saw, and the close.
    let follow = |mut stream: tonic::Streaming<pb::AuctionUpdate>| {
        tokio::spawn(async move {
            let mut bids = Vec::new();
            let mut closed = None;
            while let Some(u) = stream.message().await.expect("stream") {
                match u.update {
                    Some(pb::auction_update::Update::Bid(bid)) => bids.push(bid.seq),
                    Some(pb::auction_update::Update::Closed(status)) => {
                        closed = Some(status);
                        break;
                    }
                    _ => {}
                }
            }
            (bids, closed)
        })
    };
    let on_b = follow(watch(b.clone()).await);
    let on_a = follow(watch(p.c()).await);

    // Ten bids through the first replica, then ten through the second.
    let bidders: Vec<String> = (0..20).map(|_| user()).collect();
    for (i, bidder) in bidders.iter().enumerate() {
        let via = if i < 10 { p.c() } else { b.clone() };
        authorize(&p, &via, &id, bidder, 100_000)
            .await
            .expect("authorised");
        let amount = get(&p, &via, &id).await.next_min_cents;
        bid(&p, &via, &id, bidder, amount, 0)
            .await
            .expect("accepted");
    }

    // The close, by whichever replica's sweeper comes first.
    let ends = time(get(&p, &p.c(), &id).await.ends_at);
    p.clock().advance(
        (ends - p.clock().now() + chrono::Duration::seconds(1))
            .to_std()
            .unwrap_or_default(),
    );
    let expected: Vec<u32> = (1..=20).collect();
    for (name, watcher) in [("replica b", on_b), ("replica a", on_a)] {
        let (bids, closed) = tokio::time::timeout(Duration::from_secs(60), watcher)
            .await
            .unwrap_or_else(|_| panic!("the watcher on {name} saw the close"))
            .expect("watcher");
        assert_eq!(
            bids, expected,
            "the watcher on {name} saw every bid once, in order"
        );
        assert_eq!(closed, Some(pb::AuctionStatus::Sold as i32), "{name}");
    }
    replica.kill();
}

/// A bid repeated with its key (the answer was lost) is the same bid, on
/// either replica and after the close: a quick bid repeated does not bid
/// again at the next minimum, and the auction has one bid per key.
#[tokio::test]
async fn a_repeated_bid_is_the_same_bid_on_any_replica_and_after_the_close() {
    let p = Platform::start().await;
    let (mut replica, b) = second_replica(&p).await;
    let host = p.host(1).await;
    let a = start(&p, &p.c(), &host, 100, 60, false)
        .await
        .expect("start");
    let id = a.auction_id.clone();
    let (x, y) = (user(), user());
    for who in [&x, &y] {
        authorize(&p, &p.c(), &id, who, 100_000)
            .await
            .expect("authorised");
    }
    let quick = pb::PlaceBidRequest {
        auction_id: id.clone(),
        amount_cents: 50_000,
        max_cents: 0,
        at_next_min: true,
        idempotency_key: key(),
    };
    let first = send_bid(&p, &p.c(), &x, quick.clone())
        .await
        .expect("quick bid");
    let placed = first.bid.clone().expect("bid");
    assert_eq!((placed.seq, placed.amount_cents), (1, 100));

    // The repeat, on this replica and on the other: the same bid.
    for via in [p.c(), b.clone()] {
        let again = send_bid(&p, &via, &x, quick.clone()).await.expect("repeat");
        assert_eq!(again.bid, Some(placed.clone()), "the bid the key placed");
        assert!(again.leading);
        assert_eq!(again.auction.expect("auction").bids, 1);
    }
    // Another bidder's bid goes through the other replica, then x repeats
    // again on the first (whose writer has not read that bid yet).
    bid(&p, &b, &id, &y, 200, 0).await.expect("y bids");
    let again = send_bid(&p, &p.c(), &x, quick.clone())
        .await
        .expect("repeat");
    assert_eq!(again.bid, Some(placed.clone()));
    assert!(!again.leading, "y leads now");
    assert_eq!(again.auction.expect("auction").bids, 2);

    // The key with another request is refused and changes nothing.
    let reused = send_bid(
        &p,
        &b,
        &x,
        pb::PlaceBidRequest {
            amount_cents: 60_000,
            ..quick.clone()
        },
    )
    .await
    .expect_err("key reused");
    assert_eq!(reason(&reused), "IDEMPOTENCY_KEY_REUSED", "{reused:?}");
    // No key: refused by name.
    let missing = send_bid(
        &p,
        &p.c(),
        &x,
        pb::PlaceBidRequest {
            idempotency_key: String::new(),
            ..quick.clone()
        },
    )
    .await
    .expect_err("no key");
    assert_eq!(
        (missing.code(), field(&missing)),
        (Code::InvalidArgument, "idempotency_key".to_owned())
    );
    let stored = stored_bids(p.sandbox.commerce().config.database.url.expose(), &id).await;
    assert_eq!(
        stored
            .iter()
            .map(|s| (s.seq, s.bidder_id))
            .collect::<Vec<_>>(),
        vec![
            (1, Uuid::parse_str(&x).expect("uuid")),
            (2, Uuid::parse_str(&y).expect("uuid"))
        ],
        "one bid per key"
    );

    // After the close the repeat is still the bid, not AUCTION_CLOSED.
    let ends = time(get(&p, &p.c(), &id).await.ends_at);
    p.clock().advance(
        (ends - p.clock().now() + chrono::Duration::seconds(1))
            .to_std()
            .unwrap_or_default(),
    );
    testing::wait_for("auction closed", Duration::from_secs(60), || async {
        (get(&p, &p.c(), &id).await.status != pb::AuctionStatus::Open as i32).then_some(())
    })
    .await;
    for via in [p.c(), b.clone()] {
        let again = send_bid(&p, &via, &x, quick.clone())
            .await
            .expect("repeat after the close");
        assert_eq!(again.bid, Some(placed.clone()));
    }
    let late = bid(&p, &p.c(), &id, &x, 300, 0).await.expect_err("closed");
    assert_eq!(reason(&late), "AUCTION_CLOSED");
    replica.kill();
}
