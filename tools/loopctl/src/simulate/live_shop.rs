//! Selling LIVE in the seller's own room, after the plain purchases
//! ([`super::shop`]): a flash sale of the pinned product that a crowd buys
//! at once, and an auction of one unit with plain, proxy and quick bids
//! (docs/commerce.md, "Flash sales" and "LIVE auctions"). Both wait on what
//! the API says (the sale's state, the auction's status), with deadlines.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::Reply;
use super::shop::{BIDDERS, FLASH_BUYERS, Listing, Sales, expect, is_paid, refusal};
use super::state::{Account, Sim};

/// The flash sale: 10 units at 1,500 cents (the list price is 2,500), at
/// most 2 per buyer, after the shortest countdown, for the shortest time.
const FLASH_UNITS: u32 = 10;
const FLASH_LIMIT: u32 = 2;
const FLASH_PRICE_CENTS: i64 = 1_500;
const FLASH_COUNTDOWN_SECONDS: u64 = 10;
const FLASH_DURATION_SECONDS: u64 = 60;

/// The auction: the shortest duration the default configuration allows
/// (`auctions.min_duration_seconds`), from $10; every bidder authorises
/// $100 and the proxy bidder goes up to $20.
const AUCTION_SECONDS: u32 = 10;
const STARTING_CENTS: i64 = 1_000;
const AUTHORISED_CENTS: i64 = 10_000;
const PROXY_MAX_CENTS: i64 = 2_000;
/// Rounds of quick bids (every bidder but the first two, at once).
const QUICK_ROUNDS: usize = 2;

/// One flash buyer's purchases.
#[derive(Default)]
struct FlashBuyer {
    units: u32,
    sales: Sales,
    refused: Vec<String>,
}

/// The bids as their answers told them.
#[derive(Default)]
struct Bids {
    accepted: u64,
    refused: BTreeMap<String, u64>,
    /// After the accepted bid of the highest sequence number: (seq, price,
    /// leader, next acceptable amount).
    last: Option<(u64, i64, String, i64)>,
}

impl Bids {
    fn record(&mut self, r: &Reply) {
        if !r.ok() {
            *self.refused.entry(refusal(r)).or_default() += 1;
            return;
        }
        self.accepted += 1;
        let seq = r.body["bid"]["seq"].as_u64().unwrap_or(0);
        if self.last.as_ref().is_none_or(|l| seq > l.0) {
            let a = &r.body["auction"];
            self.last = Some((
                seq,
                a["price_cents"].as_i64().unwrap_or(0),
                a["leader_id"].as_str().unwrap_or_default().to_owned(),
                a["next_min_cents"].as_i64().unwrap_or(0),
            ));
        }
    }
}

impl Sim {
    /// The seller pins the product in their room and announces a flash
    /// sale; once the sale says it is on, the crowd buys at once and pays.
    pub(super) async fn flash_sale(
        &self,
        seller: &Account,
        listing: &Listing,
    ) -> anyhow::Result<(Sales, Value)> {
        let room_id = self.room_of(seller)?;
        self.bag_and_pin(seller, &room_id, &listing.product_id)
            .await?;
        let started = self
            .api
            .call(
                "POST /v1/live/{id}/flash-sales",
                Method::POST,
                &format!("/v1/live/{room_id}/flash-sales"),
                Some(&seller.token),
                Some(&json!({"sku_id": listing.sku_id, "sale_price_cents": FLASH_PRICE_CENTS,
                    "countdown_seconds": FLASH_COUNTDOWN_SECONDS, "duration_seconds": FLASH_DURATION_SECONDS,
                    "total_units": FLASH_UNITS, "per_buyer_limit": FLASH_LIMIT})),
                Some(&format!("sim-flash-{}", self.run_id)),
            )
            .await;
        expect(&started, "announcing the flash sale")?;
        let sale_id = started.body["sale_id"].as_str().unwrap_or_default();
        let path = format!("/v1/flash-sales/{sale_id}");
        // The countdown: asleep until about a second before the start the
        // sale gives, then closely, until it says it is on.
        let deadline = Instant::now() + Duration::from_secs(FLASH_COUNTDOWN_SECONDS + 30);
        loop {
            let sale = self
                .api
                .get("GET /v1/flash-sales/{id}", &path, &seller.token)
                .await;
            match sale.body["state"].as_str() {
                Some("live") => break,
                Some("scheduled") if Instant::now() < deadline => {
                    let left = sale.body["seconds_left"].as_u64().unwrap_or(1);
                    tokio::time::sleep(Duration::from_millis(left.saturating_sub(1) * 1000 + 200))
                        .await;
                }
                _ => anyhow::bail!("the sale did not start: HTTP {} {}", sale.status, sale.body),
            }
        }
        let buyers = self.viewers_in(FLASH_BUYERS);
        let crowd = join_all(
            buyers
                .iter()
                .enumerate()
                .map(|(i, b)| self.flash_buyer(b, i, sale_id)),
        )
        .await;
        let after = self
            .api
            .get("GET /v1/flash-sales/{id}", &path, &seller.token)
            .await;
        let mut sales = Sales::default();
        let mut refused: BTreeMap<String, u64> = BTreeMap::new();
        for b in &crowd {
            sales.add(&b.sales);
            for reason in &b.refused {
                *refused.entry(reason.clone()).or_default() += 1;
            }
        }
        let figures = json!({
            "sale_id": sale_id,
            "total_units": FLASH_UNITS,
            "per_buyer_limit": FLASH_LIMIT,
            "sale_price_cents": FLASH_PRICE_CENTS,
            "units_sold": crowd.iter().map(|b| b.units).sum::<u32>(),
            "remaining_units": after.body["remaining_units"],
            "buyers": buyers.len(),
            "buyers_served": crowd.iter().filter(|b| b.units > 0).count(),
            "max_units_per_buyer": crowd.iter().map(|b| b.units).max().unwrap_or(0),
            "refused": refused,
        });
        Ok((sales, figures))
    }

    /// One buyer of the crowd: asks for 1 or 2 units (1 when fewer are
    /// left), paying each order, then for one more unit; past the limit
    /// the sale refuses.
    async fn flash_buyer(&self, buyer: &Account, i: usize, sale_id: &str) -> FlashBuyer {
        let mut out = FlashBuyer::default();
        let mut quantity = 1 + i as u32 % FLASH_LIMIT;
        for attempt in 0..=FLASH_LIMIT {
            let key = format!("sim-flash-{}-{i}-{attempt}", self.run_id);
            let r = self
                .api
                .call(
                    "POST /v1/flash-sales/{id}/orders",
                    Method::POST,
                    &format!("/v1/flash-sales/{sale_id}/orders"),
                    Some(&buyer.token),
                    Some(&json!({"quantity": quantity})),
                    Some(&key),
                )
                .await;
            if r.ok() {
                out.units += quantity;
                out.sales.orders_placed += 1;
                if let Some(order) = self.pay(buyer, &r.body["order"], &key).await {
                    out.sales.paid(&order);
                }
            } else {
                let reason = refusal(&r);
                let fewer_left = reason == "FLASH_SALE_SOLD_OUT" && quantity > 1;
                out.refused.push(reason);
                if !fewer_left {
                    break;
                }
            }
            quantity = 1;
        }
        out
    }

    /// The seller auctions one unit; bidders authorise a card payment,
    /// then bid (a plain bid, a proxy bid, rounds of quick bids at once);
    /// the close is awaited and the winner's order checked.
    pub(super) async fn auction(
        &self,
        seller: &Account,
        listing: &Listing,
    ) -> anyhow::Result<(Sales, Value)> {
        let room_id = self.room_of(seller)?;
        let bidders = self.viewers_in(BIDDERS);
        if bidders.len() < 3 {
            anyhow::bail!("an auction needs 3 bidders (viewers {BIDDERS:?})");
        }
        let started = self
            .api
            .call(
                "POST /v1/live/{id}/auctions",
                Method::POST,
                &format!("/v1/live/{room_id}/auctions"),
                Some(&seller.token),
                Some(
                    &json!({"sku_id": listing.sku_id, "starting_cents": STARTING_CENTS,
                    "duration_seconds": AUCTION_SECONDS}),
                ),
                Some(&format!("sim-auction-{}", self.run_id)),
            )
            .await;
        expect(&started, "starting the auction")?;
        let id = started.body["auction_id"].as_str().unwrap_or_default();
        let (auth_path, receipt_product) = (
            format!("/v1/auctions/{id}/authorization"),
            format!("commerce:auction:{id}"),
        );
        let authorised = join_all(bidders.iter().map(|b| {
            let body = json!({"amount_cents": AUTHORISED_CENTS,
                              "receipt": self.receipt(&receipt_product, AUTHORISED_CENTS)});
            let path = &auth_path;
            async move {
                self.api
                    .post(
                        "POST /v1/auctions/{id}/authorization",
                        path,
                        Some(&b.token),
                        &body,
                    )
                    .await
            }
        }))
        .await;
        for r in &authorised {
            expect(r, "authorising a bidder")?;
        }
        let bid_path = &format!("/v1/auctions/{id}/bids");
        // Each bid with a key of its own (a retry would send it again).
        let bid = move |who: &Account, body: Value| {
            let token = who.token.clone();
            let key = uuid::Uuid::now_v7().to_string();
            async move {
                self.api
                    .call(
                        "POST /v1/auctions/{id}/bids",
                        Method::POST,
                        bid_path,
                        Some(&token),
                        Some(&body),
                        Some(&key),
                    )
                    .await
            }
        };
        let mut bids = Bids::default();
        bids.record(&bid(&bidders[0], json!({"amount_cents": STARTING_CENTS})).await);
        let next = bids.last.as_ref().map_or(STARTING_CENTS, |l| l.3);
        bids.record(
            &bid(
                &bidders[1],
                json!({"amount_cents": next, "max_cents": PROXY_MAX_CENTS}),
            )
            .await,
        );
        for _ in 0..QUICK_ROUNDS {
            let quick = join_all(bidders[2..].iter().map(|b| {
                bid(
                    b,
                    json!({"amount_cents": AUTHORISED_CENTS, "at_next_min": true}),
                )
            }))
            .await;
            for r in &quick {
                bids.record(r);
            }
        }
        // The close: every accepted bid may move it (anti-sniping).
        let path = format!("/v1/auctions/{id}");
        let deadline = Instant::now() + Duration::from_secs(120);
        let closed = loop {
            let a = self
                .api
                .get("GET /v1/auctions/{id}", &path, &seller.token)
                .await;
            if matches!(a.body["status"].as_str(), Some("sold" | "unsold")) {
                break a.body;
            }
            if Instant::now() > deadline {
                anyhow::bail!("not closed within 120 s: HTTP {} {}", a.status, a.body);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        // Every bidder's orders of this product: the winner's alone.
        let mut sales = Sales::default();
        let mut winner_order_paid = false;
        for b in bidders {
            let orders = self
                .api
                .get(
                    "GET /v1/orders",
                    "/v1/orders?role=buyer&page_size=100",
                    &b.token,
                )
                .await;
            let mine = orders.body["items"].as_array().cloned().unwrap_or_default();
            for o in mine
                .iter()
                .filter(|o| o["items"][0]["product_id"] == listing.product_id.as_str())
            {
                sales.orders_placed += 1;
                let paid = is_paid(o["status"].as_str().unwrap_or_default());
                if paid {
                    sales.paid(o);
                }
                winner_order_paid |= paid
                    && o["order_id"] == closed["order_id"]
                    && o["buyer_id"] == closed["winner_id"]
                    && o["total_cents"] == closed["winning_cents"];
            }
        }
        let (_, price, leader, _) = bids.last.clone().unwrap_or_default();
        let figures = json!({
            "auction_id": id,
            "status": closed["status"],
            "starting_cents": STARTING_CENTS,
            "authorised_cents": AUTHORISED_CENTS,
            "winning_cents": closed["winning_cents"],
            "winner_id": closed["winner_id"],
            "price_after_last_bid_cents": price,
            "leader_after_last_bid": leader,
            "bidders": bidders.len(),
            "bids_accepted": bids.accepted,
            "bids_refused": bids.refused,
            "extensions": closed["extensions"],
            "bidder_orders": sales.orders_placed,
            "winner_order_paid": winner_order_paid,
        });
        Ok((sales, figures))
    }
}
