//! Live updates of auctions to watchers in this process (gRPC
//! `WatchAuction`, which the gateway turns into Server-Sent Events).
//!
//! A watcher subscribes first, then reads the auction's state (seq = the
//! last bid it includes) and sends it; then it forwards every update with a
//! higher seq, in order. A watcher too slow to keep up (its buffer
//! overflowed) gets the state again and goes on from there, so it never
//! shows a wrong price, only skips bids it missed. The stream ends after
//! the close (SOLD or UNSOLD).
//!
//! The writers and the close publish here after their commits. Bids taken
//! and closes made by another replica reach this one's watchers through a
//! tail: while an auction has watchers here, one task per auction reads the
//! auction's row every [`TAIL_POLL`] and publishes the bids (from
//! `auction_bids`) and the close it has not published yet. Each process
//! publishes every bid once and in sequence, whichever of the writer and
//! the tail has it first; a writer's bid that follows bids not yet read
//! from another replica is left to the tail, and so is the close.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use loop_platform::auth::Caller;
use loop_platform::ids::parse_id;
use loop_proto::commerce::v1 as pb;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

use super::{OPEN, SOLD, UNSOLD, writer};
use crate::error::CommerceResult;
use crate::service::CommerceService;

/// Updates buffered per watcher before it is considered lagging.
const BUFFER: usize = 1024;

/// How often the tail reads an auction watched here for other replicas'
/// bids and closes (their latency here at most).
pub const TAIL_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// An auction's watchers in this process and the last bid they were sent.
struct Channel {
    sender: broadcast::Sender<Arc<pb::AuctionUpdate>>,
    published: u32,
}

/// Per process: the auctions' bid writers and their watchers.
#[derive(Default)]
pub struct Hub {
    pub(crate) writers: crate::batching::Tasks<Uuid, writer::Pending, writer::Accepted>,
    watchers: Mutex<HashMap<Uuid, Channel>>,
    /// (auction, bidder) -> (seller, confirmed authorisation): neither
    /// changes while the auction is open, so a bid need not read them
    /// again (dropped at the close).
    bidders: Mutex<HashMap<(Uuid, Uuid), (Uuid, i64)>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hub")
    }
}

pub type UpdateStream = ReceiverStream<Result<pb::AuctionUpdate, tonic::Status>>;

impl Hub {
    /// A receiver of the auction's updates; the first watcher here starts
    /// the auction's tail.
    fn subscribe(
        &self,
        service: &CommerceService,
        auction: Uuid,
        seq: u32,
    ) -> broadcast::Receiver<Arc<pb::AuctionUpdate>> {
        let mut watchers = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(channel) = watchers.get(&auction) {
            return channel.sender.subscribe();
        }
        let (sender, receiver) = broadcast::channel(BUFFER);
        watchers.insert(
            auction,
            Channel {
                sender,
                published: seq,
            },
        );
        tokio::spawn(tail(service.clone(), auction));
        receiver
    }

    /// The last bid published here, while the auction has watchers here
    /// (else it forgets the auction: `None`).
    fn published(&self, auction: Uuid) -> Option<u32> {
        let mut watchers = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        let channel = watchers.get(&auction)?;
        if channel.sender.receiver_count() == 0 {
            watchers.remove(&auction);
            return None;
        }
        Some(channel.published)
    }

    pub(crate) fn bidder(&self, auction: Uuid, bidder: Uuid) -> Option<(Uuid, i64)> {
        self.bidders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(auction, bidder))
            .copied()
    }

    pub(crate) fn remember_bidder(
        &self,
        auction: Uuid,
        bidder: Uuid,
        seller: Uuid,
        authorized: i64,
    ) {
        self.bidders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((auction, bidder), (seller, authorized));
    }

    /// Drops what is remembered of a closed auction's bidders.
    pub(crate) fn forget_bidders(&self, auction: Uuid) {
        self.bidders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(a, _), _| *a != auction);
    }

    /// Sends `updates` (in seq order) to the auction's watchers (nothing if
    /// none), bids strictly in sequence: a bid already published here (by
    /// the writer or the tail, whichever came second) is skipped, and a bid
    /// after a gap (bids another replica took that the tail has not read
    /// yet) is left, with what follows, to the tail, which reads every bid
    /// after the last published from the table. An extension goes with its
    /// bid.
    pub(crate) fn publish(&self, auction: Uuid, updates: Vec<pb::AuctionUpdate>) {
        if updates.is_empty() {
            return;
        }
        let mut watchers = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(channel) = watchers.get_mut(&auction) else {
            return;
        };
        if channel.sender.receiver_count() == 0 {
            watchers.remove(&auction);
            return;
        }
        let mut sent_bid = None;
        for u in updates {
            match u.update {
                Some(pb::auction_update::Update::Closed(_)) => {}
                Some(pb::auction_update::Update::ExtendedTo(_)) => {
                    if sent_bid != Some(u.seq) {
                        continue;
                    }
                }
                _ if u.seq <= channel.published => continue,
                _ if u.seq > channel.published + 1 => break,
                _ => {
                    channel.published = u.seq;
                    sent_bid = Some(u.seq);
                }
            }
            let _ = channel.sender.send(Arc::new(u));
        }
    }
}

fn state_update(a: pb::Auction) -> pb::AuctionUpdate {
    pb::AuctionUpdate {
        seq: a.bids,
        auction: None,
        update: Some(pb::auction_update::Update::State(a)),
    }
}

fn finished(status: i32) -> bool {
    status == i32::from(SOLD) || status == i32::from(UNSOLD)
}

impl CommerceService {
    pub(crate) async fn watch_auction(
        &self,
        _caller: &Caller,
        req: pb::WatchAuctionRequest,
    ) -> CommerceResult<UpdateStream> {
        let id = parse_id("auction_id", &req.auction_id)?;
        // Subscribe before reading, so nothing falls between the two (a
        // new channel starts at the auction's seq as read just before).
        let before = self.auction_row(&self.pool, id, false).await?;
        let mut updates = self
            .auctions
            .subscribe(self, id, u32::try_from(before.seq).unwrap_or(0));
        let first = self.auction_row(&self.pool, id, false).await?.to_proto();
        let (tx, rx) = mpsc::channel(64);
        let service = self.clone();
        tokio::spawn(async move {
            let mut seq = first.bids;
            let done = finished(first.status);
            if tx.send(Ok(state_update(first))).await.is_err() || done {
                return;
            }
            loop {
                let update = tokio::select! {
                    () = tx.closed() => return,
                    u = updates.recv() => u,
                };
                match update {
                    Ok(u) => {
                        let close = matches!(u.update, Some(pb::auction_update::Update::Closed(_)));
                        if u.seq <= seq
                            && !close
                            && !matches!(u.update, Some(pb::auction_update::Update::ExtendedTo(_)) if u.seq == seq)
                        {
                            continue;
                        }
                        seq = seq.max(u.seq);
                        if tx.send(Ok((*u).clone())).await.is_err() || close {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let Ok(row) = service.auction_row(&service.pool, id, false).await else {
                            let _ = tx
                                .send(Err(tonic::Status::unavailable(
                                    "the auction could not be read; watch again",
                                )))
                                .await;
                            return;
                        };
                        let state = row.to_proto();
                        seq = state.bids;
                        let done = finished(state.status);
                        if tx.send(Ok(state_update(state))).await.is_err() || done {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(ReceiverStream::new(rx))
    }

    /// Tells watchers the auction closed (with its final state).
    pub(crate) fn announce_close(&self, row: &super::AuctionRow) {
        let a = row.to_proto();
        debug_assert!(a.status != i32::from(OPEN));
        self.auctions.forget_bidders(row.auction_id);
        let behind = self
            .auctions
            .watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&row.auction_id)
            .is_some_and(|c| c.published < a.bids);
        if behind {
            // Bids another replica took are not published here yet: the
            // tail publishes them, then the close.
            return;
        }
        self.auctions.publish(
            row.auction_id,
            vec![pb::AuctionUpdate {
                seq: a.bids,
                update: Some(pb::auction_update::Update::Closed(a.status)),
                auction: Some(a),
            }],
        );
        self.auctions
            .watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&row.auction_id);
    }
}

/// While `auction` has watchers in this process: every [`TAIL_POLL`],
/// publishes the bids and the close that other replicas committed (one
/// primary-key read when nothing changed).
async fn tail(service: CommerceService, auction: Uuid) {
    let mut tick = tokio::time::interval(TAIL_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(published) = service.auctions.published(auction) else {
            return;
        };
        match tail_once(&service, auction, published).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(err) => {
                tracing::debug!(auction = %auction, error = %err, "auction tail read failed; next tick retries");
            }
        }
    }
}

/// One look: `false` once the auction is closed (or gone) and announced.
async fn tail_once(
    service: &CommerceService,
    auction: Uuid,
    published: u32,
) -> anyhow::Result<bool> {
    let head: Option<(i32, i16)> =
        sqlx::query_as("SELECT seq, status FROM auctions WHERE auction_id = $1")
            .bind(auction)
            .fetch_optional(&service.pool)
            .await?;
    let Some((seq, status)) = head else {
        return Ok(false);
    };
    if u32::try_from(seq).unwrap_or(0) > published {
        let bids: Vec<writer::Written> = sqlx::query_as(
            "SELECT seq, bidder_id AS bidder, amount_cents AS amount, max_cents AS max, placed_at AS at, \
                    price_cents AS price, leader_id AS leader, ends_at, extended \
             FROM auction_bids WHERE auction_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(auction)
        .bind(i32::try_from(published)?)
        .fetch_all(&service.pool)
        .await?;
        service.auctions.publish(auction, writer::updates_of(&bids));
    }
    if finished(i32::from(status)) {
        let row = service.auction_row(&service.pool, auction, false).await?;
        service.announce_close(&row);
        return Ok(false);
    }
    Ok(true)
}
