//! The close of an auction, driven by the sweeper on the service's clock.
//! Every step locks the auction row and re-checks its state, and every
//! wallet call carries a key derived from the auction, so replicas may
//! sweep at once and a crash anywhere repeats nothing:
//!
//! ```text
//!  OPEN --(ends_at passed)--> CLOSING (winner, price) --capture ok--> SOLD (+ paid order)
//!   |   no bid                    |  capture refused: the next bidder    |
//!   v                             |  (bids replayed without the failed   v
//!  UNSOLD (unit back in stock) <--+  one); nobody left: UNSOLD      other holds returned
//! ```
//!
//! Capture: the winner's hold (their authorisation) is cut down to the
//! price by a refund of the rest (`commerce:auction-capture:<auction>:<bidder>`)
//! and becomes their order's escrow; the order is written ON_HOLD (paid)
//! with `OrderPlaced`, `OrderPaid` and `AuctionWon` in the transaction that
//! stores SOLD. Every other hold is returned in full
//! (`commerce:auction-release:<auction>:<bidder>`).

use chrono::{DateTime, Utc};
use loop_proto::commerce::v1 as pb;
use loop_proto::events::v1 as ev;
use loop_proto::wallet::v1 as wpb;
use prost::Message;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{AuctionRow, CLOSING, OPEN, SOLD, UNSOLD, rules};
use crate::events;
use crate::machine::Status;
use crate::service::CommerceService;
use crate::wallet::{self, WalletFailure};

/// Auctions closing or with holds to return, handled per sweep.
pub async fn sweep(service: &CommerceService) -> anyhow::Result<()> {
    let now = service.clock.now();
    let batch = service.config.jobs.sweep_batch;
    let due: Vec<Uuid> = sqlx::query_scalar(
        "SELECT auction_id FROM auctions WHERE (status = $1 AND ends_at <= $2) OR status = $3 ORDER BY ends_at LIMIT $4",
    )
    .bind(OPEN)
    .bind(now)
    .bind(CLOSING)
    .bind(batch)
    .fetch_all(service.pool())
    .await?;
    for id in due {
        if let Err(err) = close(service, id).await {
            tracing::warn!(auction = %id, error = %err, "auction close not finished; next round retries");
        }
    }
    let holds: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT b.auction_id, b.bidder_id FROM auction_bidders b JOIN auctions a USING (auction_id) \
         WHERE NOT b.released AND a.status IN ($1, $2) ORDER BY b.created_at LIMIT $3",
    )
    .bind(SOLD)
    .bind(UNSOLD)
    .bind(batch)
    .fetch_all(service.pool())
    .await?;
    for (auction, bidder) in holds {
        if let Err(err) = release(service, auction, bidder).await {
            tracing::debug!(auction = %auction, bidder = %bidder, error = %err, "hold not returned yet");
        }
    }
    Ok(())
}

/// Drives one auction as far as it goes now.
pub async fn close(service: &CommerceService, id: Uuid) -> anyhow::Result<()> {
    loop {
        let mut tx = service.pool.begin().await?;
        let row = service
            .auction_row(&mut *tx, id, true)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let now = service.clock.now();
        match row.status {
            OPEN if now >= row.ends_at => {
                let row = choose(&mut tx, row, now).await?;
                tx.commit().await?;
                if row.status == UNSOLD {
                    service.announce_close(&row);
                    return Ok(());
                }
            }
            CLOSING => {
                drop(tx);
                if !capture(service, &row).await? {
                    return Ok(());
                }
            }
            _ => return Ok(()),
        }
    }
}

/// OPEN -> CLOSING with the winner (the bids replayed without the bidders
/// whose payment failed), or UNSOLD (the unit back in stock).
async fn choose(
    tx: &mut sqlx::PgConnection,
    mut row: AuctionRow,
    now: DateTime<Utc>,
) -> anyhow::Result<AuctionRow> {
    let outcome = if row.failed_bidders.is_empty() {
        row.state()
    } else {
        let bids: Vec<(Uuid, i64, i64, DateTime<Utc>)> = sqlx::query_as(
            "SELECT bidder_id, amount_cents, max_cents, placed_at FROM auction_bids WHERE auction_id = $1 ORDER BY seq",
        )
        .bind(row.auction_id)
        .fetch_all(&mut *tx)
        .await?;
        let bids: Vec<rules::Bid> = bids
            .into_iter()
            .map(|(bidder, amount, max, at)| rules::Bid::new(bidder, amount, max, at))
            .collect();
        rules::replay(
            row.starting_cents,
            row.original_ends_at,
            &row.timing(),
            &bids,
            &row.failed_bidders,
        )
    };
    match outcome.leader {
        Some(winner) => {
            sqlx::query(
                "UPDATE auctions SET status = $2, winner_id = $3, winning_cents = $4 WHERE auction_id = $1",
            )
            .bind(row.auction_id)
            .bind(CLOSING)
            .bind(winner)
            .bind(outcome.price_cents)
            .execute(&mut *tx)
            .await?;
            row.status = CLOSING;
            row.winner_id = Some(winner);
            row.winning_cents = outcome.price_cents;
        }
        None => {
            sqlx::query(
                "UPDATE auctions SET status = $2, closed_at = $3, restocked = true, winner_id = NULL, winning_cents = 0 WHERE auction_id = $1",
            )
            .bind(row.auction_id)
            .bind(UNSOLD)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE skus SET stock = stock + 1 WHERE sku_id = $1")
                .bind(row.sku_id)
                .execute(&mut *tx)
                .await?;
            row.status = UNSOLD;
            row.winner_id = None;
            row.winning_cents = 0;
        }
    }
    Ok(row)
}

/// Takes the winner's payment and writes their order (true: go on, the
/// state moved). A refused capture hands the unit to the next bidder.
async fn capture(service: &CommerceService, row: &AuctionRow) -> anyhow::Result<bool> {
    let (Some(winner), price) = (row.winner_id, row.winning_cents) else {
        anyhow::bail!("a closing auction without a winner");
    };
    let hold: Option<(i64, Option<Uuid>)> = sqlx::query_as(
        "SELECT authorized_cents, escrow_id FROM auction_bidders WHERE auction_id = $1 AND bidder_id = $2",
    )
    .bind(row.auction_id)
    .bind(winner)
    .fetch_optional(service.pool())
    .await?;
    let outcome = match hold {
        Some((authorized, Some(escrow))) if authorized > price => service
            .wallet
            .refund(
                format!("commerce:auction-capture:{}:{winner}", row.auction_id),
                escrow,
                authorized - price,
            )
            .await
            .map(|_| escrow),
        // Nothing to cut: check the hold is still all there.
        Some((_, Some(escrow))) => match service.wallet.escrow(escrow).await {
            Ok(e)
                if e.status == wpb::EscrowStatus::Held as i32
                    && e.amount_cents - e.refunded_cents == price =>
            {
                Ok(escrow)
            }
            Ok(_) => Err(WalletFailure::NotHeld),
            Err(failure) => Err(failure),
        },
        _ => Err(WalletFailure::Permanent(
            "the winner has no confirmed payment authorisation".into(),
        )),
    };
    let now = service.clock.now();
    let mut tx = service.pool.begin().await?;
    let current = service
        .auction_row(&mut *tx, row.auction_id, true)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if current.status != CLOSING || current.winner_id != Some(winner) {
        // Another replica finished this step.
        return Ok(true);
    }
    match outcome {
        Ok(escrow) => {
            let order = sold(&mut tx, &current, winner, price, escrow, service, now).await?;
            tx.commit().await?;
            crate::orders::count(Status::OnHold);
            let mut done = current;
            done.status = SOLD;
            done.order_id = Some(order);
            service.announce_close(&done);
            Ok(false)
        }
        Err(WalletFailure::Unavailable(m)) => {
            anyhow::bail!("the wallet is unavailable for the capture: {m}")
        }
        Err(failure) => {
            // The winner could not pay: the next bidder is offered it.
            wallet::alert("auction_capture", row.auction_id, &failure);
            sqlx::query(
                "UPDATE auction_bidders SET problem = $3 WHERE auction_id = $1 AND bidder_id = $2",
            )
            .bind(row.auction_id)
            .bind(winner)
            .bind(failure.describe())
            .execute(&mut *tx)
            .await?;
            let mut failed = current.failed_bidders.clone();
            failed.push(winner);
            sqlx::query(
                "UPDATE auctions SET failed_bidders = $2, status = $3 WHERE auction_id = $1",
            )
            .bind(row.auction_id)
            .bind(&failed)
            .bind(OPEN)
            .execute(&mut *tx)
            .await?;
            let mut again = current;
            again.failed_bidders = failed;
            again.status = OPEN;
            let again = choose(&mut tx, again, now).await?;
            tx.commit().await?;
            if again.status == UNSOLD {
                service.announce_close(&again);
                return Ok(false);
            }
            Ok(true)
        }
    }
}

/// CLOSING -> SOLD: the winner's order, paid with their captured hold.
async fn sold(
    tx: &mut sqlx::PgConnection,
    a: &AuctionRow,
    winner: Uuid,
    price: i64,
    escrow: Uuid,
    service: &CommerceService,
    now: DateTime<Utc>,
) -> anyhow::Result<Uuid> {
    let order = loop_platform::ids::new_id();
    let hold_until = now + chrono::Duration::minutes(service.config.orders.hold_minutes);
    let place_key = format!("auction:{}", a.auction_id);
    let hash = Sha256::digest(place_key.as_bytes()).to_vec();
    sqlx::query(
        "INSERT INTO orders (order_id, shop_id, seller_id, buyer_id, status, total_cents, place_key, place_hash, created_at, escrow_id, paid_at, hold_until, source, source_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9, $11, $12, $13)",
    )
    .bind(order)
    .bind(a.shop_id)
    .bind(a.seller_id)
    .bind(winner)
    .bind(Status::OnHold.id())
    .bind(price)
    .bind(&place_key)
    .bind(hash)
    .bind(now)
    .bind(escrow)
    .bind(hold_until)
    .bind(pb::ReferralSource::Live as i16)
    .bind(a.room_id.to_string())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO order_items (order_id, idx, product_id, product_version, sku_id, title, sku_name, unit_price_cents, quantity, affiliate_rate_bps) \
         VALUES ($1, 0, $2, $3, $4, $5, $6, $7, 1, 0)",
    )
    .bind(order)
    .bind(a.product_id)
    .bind(a.product_version)
    .bind(a.sku_id)
    .bind(&a.title)
    .bind(&a.sku_name)
    .bind(price)
    .execute(&mut *tx)
    .await?;
    // The winner's hold is the order's escrow now: not returned.
    sqlx::query(
        "UPDATE auction_bidders SET released = true WHERE auction_id = $1 AND bidder_id = $2",
    )
    .bind(a.auction_id)
    .bind(winner)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE auctions SET status = $2, order_id = $3, closed_at = $4 WHERE auction_id = $1",
    )
    .bind(a.auction_id)
    .bind(SOLD)
    .bind(order)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let key = order.to_string();
    events::emit(
        tx,
        &key,
        now,
        ev::commerce_event::Payload::OrderPlaced(ev::OrderPlaced {
            order_id: key.clone(),
            shop_id: a.shop_id.to_string(),
            seller_id: a.seller_id.to_string(),
            buyer_id: winner.to_string(),
            total_cents: price,
            units: 1,
        }),
    )
    .await?;
    events::emit(
        tx,
        &key,
        now,
        ev::commerce_event::Payload::OrderPaid(ev::OrderPaid {
            order_id: key.clone(),
            seller_id: a.seller_id.to_string(),
            buyer_id: winner.to_string(),
            total_cents: price,
            escrow_id: escrow.to_string(),
            affiliate_id: String::new(),
            commission_cents: 0,
            // Bought in the host's LIVE: the ranker counts it with the host.
            source: pb::ReferralSource::Live as i32,
            source_id: a.room_id.to_string(),
        }),
    )
    .await?;
    events::emit(
        tx,
        &a.auction_id.to_string(),
        now,
        ev::commerce_event::Payload::AuctionWon(ev::AuctionWon {
            auction_id: a.auction_id.to_string(),
            room_id: a.room_id.to_string(),
            seller_id: a.seller_id.to_string(),
            winner_id: winner.to_string(),
            price_cents: price,
            order_id: key,
            product_id: a.product_id.to_string(),
        }),
    )
    .await?;
    Ok(order)
}

/// Returns a bidder's hold after the close (the winner's became their order's).
async fn release(service: &CommerceService, auction: Uuid, bidder: Uuid) -> anyhow::Result<()> {
    let found: Option<(i64, Option<Uuid>, Vec<u8>, Uuid)> = sqlx::query_as(
        "SELECT b.authorized_cents, b.escrow_id, b.receipt, a.seller_id FROM auction_bidders b JOIN auctions a USING (auction_id) \
         WHERE b.auction_id = $1 AND b.bidder_id = $2 AND NOT b.released",
    )
    .bind(auction)
    .bind(bidder)
    .fetch_optional(service.pool())
    .await?;
    let Some((amount, escrow, receipt, seller)) = found else {
        return Ok(());
    };
    let escrow = match escrow {
        Some(e) => Ok(e),
        // The hold was asked for but never confirmed here: ask again (same
        // key and body) to learn whether it exists.
        None => {
            let receipt = wpb::PaymentReceipt::decode(receipt.as_slice())?;
            service
                .hold_authorization(auction, bidder, seller, amount, receipt)
                .await
        }
    };
    let outcome = match escrow {
        Ok(escrow) => service
            .wallet
            .refund(
                format!("commerce:auction-release:{auction}:{bidder}"),
                escrow,
                0,
            )
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    let problem = match outcome {
        Ok(()) => String::new(),
        Err(WalletFailure::Unavailable(m)) => anyhow::bail!("wallet unavailable: {m}"),
        Err(failure) => {
            // Nothing to return (declined hold, already returned), or a
            // refusal a person must look at: recorded, not retried.
            if !matches!(failure, WalletFailure::Declined(_)) {
                wallet::alert("auction_release", auction, &failure);
            }
            failure.describe()
        }
    };
    sqlx::query(
        "UPDATE auction_bidders SET released = true, problem = $3 WHERE auction_id = $1 AND bidder_id = $2",
    )
    .bind(auction)
    .bind(bidder)
    .bind(problem)
    .execute(service.pool())
    .await?;
    Ok(())
}
