//! The bid writer: one task per auction and process. Bids wait in its
//! queue; it takes all that are waiting (up to `auctions.max_batch`), reads
//! the time, applies the rules to each bid in queue order on the auction as
//! it last wrote or read it, and writes the accepted bids, the auction's new
//! state and their events with one statement (one round trip, one commit)
//! that applies only if the auction row is still the version it knew: the
//! row is the serialisation point shared with other replicas and the close,
//! taken optimistically (if it changed, nothing is written and the batch is
//! decided again on the row as it now is). Only after the commit does it
//! answer each bidder and tell the watchers. A bid is accepted when its row
//! is committed; a crash before that answers nobody (the bidder's call fails
//! and may be repeated).
//!
//! Durability: the writer's statement commits without waiting for its WAL
//! flush (`synchronous_commit = off`, on the writer's own connections).
//! With a flush per batch, a hot auction's bidders (each waiting for its
//! answer) were bounded by the disk: at most one batch per fsync. What
//! this risks is bounded and stated: a crash of the database server (not
//! of this service) may lose the last accepted bids (at most
//! 3 x `wal_writer_delay`, 0.6 s by default), as Redis with `appendfsync
//! everysec` would; the database stays consistent (the auction as it was
//! before them). Nothing that moves money rests on such a bid: the close
//! commits synchronously, which flushes every bid before it, and the outbox
//! relay publishes only flushed events (the rows say `outbox.unflushed`, and
//! the relay fences before publishing them).
//!
//! A repeat is safe: each bid carries the bidder's idempotency key, stored
//! with it. The writer knows the keys of every bid up to the row version it
//! decides on (its own writes, and on each read of the row the keys of the
//! bids other replicas wrote since), so a key it knows is answered with its
//! bid and nothing is written; one it does not know was not used up to that
//! version, and the version guard makes the write fail if another replica
//! has taken it since (the batch is then decided again with the new keys).

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use loop_platform::kafka::topics;
use loop_proto::commerce::v1 as pb;
use loop_proto::events::v1 as ev;
use prost::Message;
use sqlx::{FromRow, Row};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{AuctionRow, OPEN, rules};
use crate::error::{CommerceError, CommerceResult, Reason, unavailable};
use crate::events::EVENT_TYPE;
use crate::service::CommerceService;

/// A bid waiting for the writer (checked for shape, seller and authorisation).
#[derive(Clone, Debug)]
pub struct Pending {
    pub bidder: Uuid,
    pub amount_cents: i64,
    /// 0: a plain bid.
    pub max_cents: i64,
    pub at_next_min: bool,
    /// The bidder's idempotency key, and the hash of the request it stands for.
    pub key: String,
    pub request_hash: Vec<u8>,
}

/// An accepted bid and the auction after the batch that took it.
pub struct Accepted {
    pub bid: pb::AuctionBid,
    pub auction: pb::Auction,
}

type Job = crate::batching::Job<Pending, Accepted>;

/// Bids by outcome.
static BIDS: std::sync::LazyLock<prometheus::IntCounterVec> = std::sync::LazyLock::new(|| {
    loop_platform::metrics::counter_vec(
        "loop_commerce_auction_bids_total",
        "LIVE auction bids by outcome (accepted, or the refusal's reason)",
        &["outcome"],
    )
});

impl super::Hub {
    /// Queues `pending` on the auction's writer (starting one if needed) and
    /// waits for its answer.
    pub(crate) async fn submit(
        &self,
        service: &CommerceService,
        auction: Uuid,
        pending: Pending,
    ) -> CommerceResult<Accepted> {
        self.writers
            .submit(&auction, pending, |rx| {
                tokio::spawn(run(service.clone(), auction, rx));
            })
            .await
    }
}

async fn run(service: CommerceService, auction: Uuid, mut rx: mpsc::UnboundedReceiver<Job>) {
    let max = service.config.auctions.max_batch;
    let mut cached: Option<Cached> = None;
    let mut keys = Keys::default();
    while let Some(batch) = service
        .auctions
        .writers
        .next_batch(&auction, &mut rx, max)
        .await
    {
        let pendings: Vec<Pending> = batch.iter().map(|(p, _)| p.clone()).collect();
        match write(&service, auction, &mut cached, &mut keys, &pendings).await {
            Ok((outcomes, updates)) => {
                for ((_, reply), outcome) in batch.into_iter().zip(outcomes) {
                    BIDS.with_label_values(&[match &outcome {
                        Ok(_) => "accepted",
                        Err(_) => "refused",
                    }])
                    .inc();
                    let _ = reply.send(outcome);
                }
                service.auctions.publish(auction, updates);
            }
            Err(err) => {
                // The statement's outcome is unknown: read the row again.
                cached = None;
                tracing::warn!(auction = %auction, error = %err, "writing bids failed; the bidders may retry");
                for (_, reply) in batch {
                    let _ = reply.send(Err(unavailable(format!(
                        "the bid was not recorded ({err}); retry"
                    ))));
                }
            }
        }
    }
}

fn refusal(r: rules::Refused) -> CommerceError {
    match r {
        rules::Refused::Closed => super::closed(),
        rules::Refused::TooLow { min_cents } => CommerceError::rule(
            Reason::BidTooLow,
            format!(
                "amount_cents: the lowest acceptable bid is {min_cents} cents (the starting bid, or the price plus the increment)"
            ),
        ),
        rules::Refused::MaxNotRaised { max_cents } => CommerceError::rule(
            Reason::BidTooLow,
            format!("max_cents: you lead; a new maximum must be above {max_cents} cents"),
        ),
    }
}

/// An accepted bid as `auction_bids` stores it.
#[derive(sqlx::FromRow, Clone)]
pub(crate) struct Written {
    seq: i32,
    bidder: Uuid,
    amount: i64,
    max: i64,
    at: DateTime<Utc>,
    price: i64,
    leader: Uuid,
    ends_at: DateTime<Utc>,
    extended: bool,
}

/// The watchers' updates for accepted bids (in seq order): each bid, and
/// the new close after one that extended it.
pub(crate) fn updates_of(written: &[Written]) -> Vec<pb::AuctionUpdate> {
    let mut updates = Vec::with_capacity(written.len());
    for w in written {
        let seq = u32::try_from(w.seq).unwrap_or(0);
        updates.push(pb::AuctionUpdate {
            seq,
            auction: None,
            update: Some(pb::auction_update::Update::Bid(w.to_proto())),
        });
        if w.extended {
            updates.push(pb::AuctionUpdate {
                seq,
                auction: None,
                update: Some(pb::auction_update::Update::ExtendedTo(
                    loop_platform::time::to_timestamp(w.ends_at),
                )),
            });
        }
    }
    updates
}

impl Written {
    fn to_proto(&self) -> pb::AuctionBid {
        pb::AuctionBid {
            seq: u32::try_from(self.seq).unwrap_or(0),
            bidder_id: self.bidder.to_string(),
            amount_cents: self.amount,
            max_cents: self.max,
            placed_at: Some(loop_platform::time::to_timestamp(self.at)),
            price_cents: self.price,
            leader_id: self.leader.to_string(),
            ends_at: Some(loop_platform::time::to_timestamp(self.ends_at)),
            extended: self.extended,
        }
    }
}

type Outcomes = Vec<CommerceResult<Accepted>>;

/// The auction as this writer last wrote or read it, and the row's version
/// then (its `xmin`: every committed update of the row, by any replica or
/// the close, gives it a new one).
pub(crate) struct Cached {
    row: AuctionRow,
    version: String,
}

/// The keyed bids of one auction up to seq `upto`: (bidder, key) -> the
/// request's hash and the bid.
#[derive(Default)]
pub(crate) struct Keys {
    upto: i32,
    bids: HashMap<(Uuid, String), (Vec<u8>, Written)>,
}

/// A keyed bid as `auction_bids` stores it.
#[derive(sqlx::FromRow)]
struct KeyedRow {
    #[sqlx(flatten)]
    bid: Written,
    key: String,
    request_hash: Vec<u8>,
}

/// The bid `bidder` placed on `auction` with `key`, if any, and the hash
/// of the request that placed it.
pub(crate) async fn keyed_bid(
    service: &CommerceService,
    auction: Uuid,
    bidder: Uuid,
    key: &str,
) -> sqlx::Result<Option<(Vec<u8>, pb::AuctionBid)>> {
    let row: Option<KeyedRow> = sqlx::query_as(
        "SELECT seq, bidder_id AS bidder, amount_cents AS amount, max_cents AS max, placed_at AS at, \
                price_cents AS price, leader_id AS leader, ends_at, extended, \
                idempotency_key AS key, request_hash \
         FROM auction_bids WHERE auction_id = $1 AND bidder_id = $2 AND idempotency_key = $3 \
           AND request_hash IS NOT NULL",
    )
    .bind(auction)
    .bind(bidder)
    .bind(key)
    .fetch_optional(&service.pool)
    .await?;
    Ok(row.map(|k| (k.request_hash, k.bid.to_proto())))
}

/// Reads the auction's row and the keys of the bids up to it that `keys`
/// does not have yet (the ones other replicas wrote since this writer's
/// last read or write).
async fn load(service: &CommerceService, auction: Uuid, keys: &mut Keys) -> anyhow::Result<Cached> {
    let sql = format!(
        "SELECT {}, xmin::text AS version FROM auctions WHERE auction_id = $1",
        super::AUCTION_COLUMNS
    );
    let Some(r) = sqlx::query(&sql)
        .bind(auction)
        .fetch_optional(&service.pool)
        .await?
    else {
        anyhow::bail!("auction {auction} not found");
    };
    let cached = Cached {
        row: AuctionRow::from_row(&r)?,
        version: r.try_get("version")?,
    };
    if cached.row.seq > keys.upto {
        let rows: Vec<KeyedRow> = sqlx::query_as(
            "SELECT seq, bidder_id AS bidder, amount_cents AS amount, max_cents AS max, placed_at AS at, \
                    price_cents AS price, leader_id AS leader, ends_at, extended, \
                    idempotency_key AS key, request_hash \
             FROM auction_bids WHERE auction_id = $1 AND seq > $2 AND seq <= $3 \
               AND idempotency_key IS NOT NULL AND request_hash IS NOT NULL",
        )
        .bind(auction)
        .bind(keys.upto)
        .bind(cached.row.seq)
        .fetch_all(&service.pool)
        .await?;
        for k in rows {
            keys.bids
                .insert((k.bid.bidder, k.key), (k.request_hash, k.bid));
        }
        keys.upto = cached.row.seq;
    }
    Ok(cached)
}

/// One batch: the outcome of each bid (in order) and the updates for
/// watchers. The rules run on the cached state; the bids, the auction's new
/// state and their events are written by one statement (one round trip and
/// one commit) that updates the row only if its version is still the
/// cached one. If anything else changed the row meanwhile (another
/// replica's writer, the close), nothing is written and the batch is
/// decided again on the row as it now is.
async fn write(
    service: &CommerceService,
    auction: Uuid,
    cached: &mut Option<Cached>,
    keys: &mut Keys,
    batch: &[Pending],
) -> anyhow::Result<(Outcomes, Vec<pb::AuctionUpdate>)> {
    let mut fresh = false;
    loop {
        let current = match cached.take() {
            Some(c) => c,
            None => {
                fresh = true;
                load(service, auction, keys).await?
            }
        };
        let decided = decide(service, &current.row, keys, batch)?;
        if decided.written.is_empty() {
            // Nothing to write: the refusals stand if the cached row is
            // still the row (one cheap read when it was not just loaded).
            let still: bool = fresh
                || sqlx::query_scalar::<_, bool>(
                    "SELECT xmin::text = $2 FROM auctions WHERE auction_id = $1",
                )
                .bind(auction)
                .bind(&current.version)
                .fetch_optional(&service.pool)
                .await?
                .unwrap_or(false);
            if still {
                let out = decided.answers(&current.row);
                *cached = Some(current);
                return Ok(out);
            }
            continue;
        }
        match commit(service, &current, &decided).await? {
            Some(version) => {
                let mut row = current.row;
                decided.state.store(&mut row)?;
                for (w, p) in decided.written.iter().zip(&decided.keyed) {
                    keys.bids.insert(
                        (w.bidder, p.key.clone()),
                        (p.request_hash.clone(), w.clone()),
                    );
                }
                keys.upto = row.seq;
                let out = decided.answers(&row);
                *cached = Some(Cached { row, version });
                service.relay_wake.notify_one();
                return Ok(out);
            }
            // Changed under us: decide again on the row as it now is.
            None => {
                if fresh {
                    tracing::debug!(auction = %auction, "the auction changed while its bids were written; deciding again");
                }
                fresh = false;
            }
        }
    }
}

/// One bid's answer: a bid written by this batch, one its key placed
/// before, or a refusal.
enum Answer {
    New(usize),
    Again(Written),
}

/// What the rules decided for one batch on one state of the auction.
struct Decided {
    now: DateTime<Utc>,
    room: Uuid,
    state: rules::State,
    results: Vec<Result<Answer, CommerceError>>,
    written: Vec<Written>,
    /// The key and request hash of each written bid.
    keyed: Vec<Pending>,
}

pub(crate) fn key_reused() -> CommerceError {
    CommerceError::rule(
        Reason::IdempotencyKeyReused,
        "idempotency_key placed another bid on this auction",
    )
}

fn decide(
    service: &CommerceService,
    row: &AuctionRow,
    keys: &Keys,
    batch: &[Pending],
) -> anyhow::Result<Decided> {
    // At the database's precision (microseconds): the answer, the cache and
    // a repeat's answer show the bid exactly as stored.
    let now = service.clock.now().trunc_subsecs(6);
    let timing = row.timing();
    let mut state = row.state();
    if row.status != OPEN {
        // Closed (perhaps by another replica): bids need their checks again.
        service.auctions.forget_bidders(row.auction_id);
    }
    let mut results = Vec::with_capacity(batch.len());
    let mut written: Vec<Written> = Vec::new();
    let mut keyed: Vec<Pending> = Vec::new();
    for p in batch {
        // A key already used: its bid, whatever the auction has become.
        if let Some((hash, bid)) = keys.bids.get(&(p.bidder, p.key.clone())) {
            results.push(if *hash == p.request_hash {
                Ok(Answer::Again(bid.clone()))
            } else {
                Err(key_reused())
            });
            continue;
        }
        if let Some(i) = keyed
            .iter()
            .position(|k| k.bidder == p.bidder && k.key == p.key)
        {
            results.push(if keyed[i].request_hash == p.request_hash {
                Ok(Answer::New(i))
            } else {
                Err(key_reused())
            });
            continue;
        }
        if row.status != OPEN {
            results.push(Err(super::closed()));
            continue;
        }
        let bid = rules::Bid {
            bidder: p.bidder,
            amount_cents: p.amount_cents,
            max_cents: p.max_cents,
            at: now,
            at_next_min: p.at_next_min,
        };
        match rules::apply(&mut state, &timing, &bid) {
            Ok(a) => {
                written.push(Written {
                    seq: i32::try_from(state.seq)?,
                    bidder: p.bidder,
                    amount: a.amount_cents,
                    max: a.max_cents,
                    at: now,
                    price: state.price_cents,
                    leader: state.leader.unwrap_or(p.bidder),
                    ends_at: state.ends_at,
                    extended: a.extended,
                });
                keyed.push(p.clone());
                results.push(Ok(Answer::New(written.len() - 1)));
            }
            Err(r) => results.push(Err(refusal(r))),
        }
    }
    Ok(Decided {
        now,
        room: row.room_id,
        state,
        results,
        written,
        keyed,
    })
}

impl rules::State {
    fn store(&self, row: &mut AuctionRow) -> anyhow::Result<()> {
        row.seq = i32::try_from(self.seq)?;
        row.price_cents = self.price_cents;
        row.leader_id = self.leader;
        row.leader_max_cents = self.leader_max_cents;
        row.ends_at = self.ends_at;
        row.extensions = i32::try_from(self.extensions)?;
        Ok(())
    }
}

impl Decided {
    /// The bidders' answers and the watchers' updates, `row` being the
    /// auction after the batch.
    fn answers(self, row: &AuctionRow) -> (Outcomes, Vec<pb::AuctionUpdate>) {
        let snapshot = row.to_proto();
        let updates = updates_of(&self.written);
        let written = self.written;
        let outcomes = self
            .results
            .into_iter()
            .map(|r| {
                r.map(|answer| Accepted {
                    bid: match answer {
                        Answer::New(i) => written[i].to_proto(),
                        Answer::Again(bid) => bid.to_proto(),
                    },
                    auction: snapshot.clone(),
                })
            })
            .collect();
        (outcomes, updates)
    }

    /// `commerce.v1` events of the accepted bids, encoded: (ids, bodies).
    fn events(&self, auction: Uuid) -> (Vec<Uuid>, Vec<Vec<u8>>) {
        let key = auction.to_string();
        let room = self.room.to_string();
        let mut payloads = Vec::with_capacity(self.written.len());
        for w in &self.written {
            payloads.push(ev::commerce_event::Payload::AuctionBid(ev::AuctionBid {
                auction_id: key.clone(),
                room_id: room.clone(),
                seq: u32::try_from(w.seq).unwrap_or(0),
                bidder_id: w.bidder.to_string(),
                amount_cents: w.amount,
                price_cents: w.price,
                leader_id: w.leader.to_string(),
            }));
            if w.extended {
                payloads.push(ev::commerce_event::Payload::AuctionExtended(
                    ev::AuctionExtended {
                        auction_id: key.clone(),
                        room_id: room.clone(),
                        seq: u32::try_from(w.seq).unwrap_or(0),
                        ends_at: Some(loop_platform::time::to_timestamp(w.ends_at)),
                    },
                ));
            }
        }
        payloads
            .into_iter()
            .map(|payload| {
                let id = loop_platform::ids::new_id();
                let body = ev::CommerceEvent {
                    event_id: id.to_string(),
                    occurred_at: Some(loop_platform::time::to_timestamp(self.now)),
                    payload: Some(payload),
                }
                .encode_to_vec();
                (id, body)
            })
            .unzip()
    }
}

/// Writes a decided batch in one statement if the row is still at
/// `current.version`: the row's new version, or `None` (nothing written)
/// if it had changed.
async fn commit(
    service: &CommerceService,
    current: &Cached,
    d: &Decided,
) -> anyhow::Result<Option<String>> {
    let auction = current.row.auction_id;
    let (ids, bodies) = d.events(auction);
    let w = &d.written;
    let version: Option<String> = sqlx::query_scalar(
        "WITH up AS ( \
           UPDATE auctions SET seq = $3, price_cents = $4, leader_id = $5, leader_max_cents = $6, ends_at = $7, extensions = $8 \
           WHERE auction_id = $1 AND xmin::text = $2 AND status = $9 RETURNING xmin::text AS version), \
         bids AS ( \
           INSERT INTO auction_bids (auction_id, seq, bidder_id, amount_cents, max_cents, placed_at, price_cents, leader_id, ends_at, extended, idempotency_key, request_hash) \
           SELECT $1, * FROM UNNEST($10::int[], $11::uuid[], $12::bigint[], $13::bigint[], $14::timestamptz[], $15::bigint[], $16::uuid[], $17::timestamptz[], $18::bool[], $24::text[], $25::bytea[]) \
           WHERE EXISTS (SELECT 1 FROM up)), \
         events AS ( \
           INSERT INTO outbox (event_id, topic, msg_key, event_type, payload, unflushed) \
           SELECT id, $20, $21, $22, body, true FROM UNNEST($19::uuid[], $23::bytea[]) AS t(id, body) \
           WHERE EXISTS (SELECT 1 FROM up)) \
         SELECT version FROM up",
    )
    .bind(auction)
    .bind(&current.version)
    .bind(i32::try_from(d.state.seq)?)
    .bind(d.state.price_cents)
    .bind(d.state.leader)
    .bind(d.state.leader_max_cents)
    .bind(d.state.ends_at)
    .bind(i32::try_from(d.state.extensions)?)
    .bind(OPEN)
    .bind(w.iter().map(|w| w.seq).collect::<Vec<_>>())
    .bind(w.iter().map(|w| w.bidder).collect::<Vec<_>>())
    .bind(w.iter().map(|w| w.amount).collect::<Vec<_>>())
    .bind(w.iter().map(|w| w.max).collect::<Vec<_>>())
    .bind(w.iter().map(|w| w.at).collect::<Vec<_>>())
    .bind(w.iter().map(|w| w.price).collect::<Vec<_>>())
    .bind(w.iter().map(|w| w.leader).collect::<Vec<_>>())
    .bind(w.iter().map(|w| w.ends_at).collect::<Vec<_>>())
    .bind(w.iter().map(|w| w.extended).collect::<Vec<_>>())
    .bind(ids)
    .bind(topics::COMMERCE)
    .bind(auction.to_string())
    .bind(EVENT_TYPE)
    .bind(bodies)
    .bind(d.keyed.iter().map(|p| p.key.clone()).collect::<Vec<_>>())
    .bind(d.keyed.iter().map(|p| p.request_hash.clone()).collect::<Vec<_>>())
    .fetch_optional(&service.bids_pool)
    .await?;
    Ok(version)
}
