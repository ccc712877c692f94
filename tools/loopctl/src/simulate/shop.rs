//! Shopping after traffic (issue 16), through the same routes the apps use.
//! A creator (the seller) opens a shop and lists a product, the
//! administrator approves it, it is opened to affiliates at 10%, and
//! another creator (the affiliate) features it in their showcase, on one
//! of their videos and in their LIVE room's bag (pinned). Viewers buy from
//! each place, the visit recorded first as the app does, so the orders are
//! attributed to the affiliate by source; every order is paid by card.
//! Then, in the seller's own LIVE room ([`super::live_shop`]), a flash sale
//! (a crowd buying at once) and an auction (bids, one winner charged) run
//! side by side. The report gives orders and GMV by source, the commissions
//! locked, the flash sale's units and the auction's outcome; the ledger
//! reconciliation that follows ([`super::settle`]) covers every escrow.
//! Each part stops on its own problem (reported) without failing the run.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::Ordering;

use reqwest::Method;
use serde_json::{Value, json};

use super::client::Reply;
use super::state::{Account, Sim};

/// Which viewers shop where (disjoint, so no visit from one place is
/// attributed to another; fewer viewers, fewer buyers).
const SHOWCASE_BUYERS: Range<usize> = 0..20;
const VIDEO_BUYERS: Range<usize> = 20..30;
const LIVE_BUYERS: Range<usize> = 30..35;
pub(super) const BIDDERS: Range<usize> = 35..40;
pub(super) const FLASH_BUYERS: Range<usize> = 40..80;

/// The product's price and its affiliate rate.
const PRICE_CENTS: i64 = 2_500;
const RATE_BPS: i64 = 1_000;

/// Orders and money of one source.
#[derive(Default, Clone, Copy)]
pub struct Sales {
    pub orders_placed: u64,
    pub orders_paid: u64,
    /// What buyers paid (cents).
    pub gmv_cents: i64,
    /// Of that, orders attributed to an affiliate.
    pub attributed_gmv_cents: i64,
    /// Commissions locked at payment for the affiliate (cents).
    pub commissions_cents: i64,
}

impl Sales {
    /// Counts a paid order (the order as the API answers it).
    pub fn paid(&mut self, order: &Value) {
        let total = order["total_cents"].as_i64().unwrap_or(0);
        self.orders_paid += 1;
        self.gmv_cents += total;
        self.commissions_cents += order["commission_cents"].as_i64().unwrap_or(0);
        if order["affiliate_id"]
            .as_str()
            .is_some_and(|a| !a.is_empty())
        {
            self.attributed_gmv_cents += total;
        }
    }

    pub fn add(&mut self, o: &Sales) {
        self.orders_placed += o.orders_placed;
        self.orders_paid += o.orders_paid;
        self.gmv_cents += o.gmv_cents;
        self.attributed_gmv_cents += o.attributed_gmv_cents;
        self.commissions_cents += o.commissions_cents;
    }

    fn to_json(self) -> Value {
        json!({"orders_placed": self.orders_placed, "orders_paid": self.orders_paid,
               "gmv_cents": self.gmv_cents, "attributed_gmv_cents": self.attributed_gmv_cents,
               "commissions_locked_cents": self.commissions_cents})
    }
}

/// What the shoppers did.
#[derive(Default)]
pub struct Shopping {
    /// Per source: showcase, video, live, flash_sale, auction.
    pub by_source: BTreeMap<&'static str, Sales>,
    /// A source's own figures (the flash sale's, the auction's).
    pub details: BTreeMap<&'static str, Value>,
    /// Why a part stopped early, if one did.
    pub problems: Vec<String>,
}

impl Shopping {
    /// What one source sold, or why it stopped.
    fn add(&mut self, source: &'static str, result: anyhow::Result<(Sales, Value)>) {
        match result {
            Ok((sales, figures)) => {
                self.by_source.insert(source, sales);
                if !figures.is_null() {
                    self.details.insert(source, figures);
                }
            }
            Err(err) => self.problems.push(format!("{source}: {err}")),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut total = Sales::default();
        for s in self.by_source.values() {
            total.add(s);
        }
        let mut out = total.to_json();
        out["by_source"] = self
            .by_source
            .iter()
            .map(|(k, s)| (k.to_string(), s.to_json()))
            .collect::<serde_json::Map<_, _>>()
            .into();
        out["commission_rate_bps"] = RATE_BPS.into();
        for (source, figures) in &self.details {
            out[*source] = figures.clone();
        }
        out["problem"] = (!self.problems.is_empty())
            .then(|| self.problems.join("; "))
            .into();
        out
    }
}

/// The product on sale.
pub struct Listing {
    pub shop_id: String,
    pub product_id: String,
    pub sku_id: String,
}

/// Whether an order in `status` has been paid.
pub fn is_paid(status: &str) -> bool {
    matches!(
        status,
        "on_hold" | "awaiting_shipment" | "shipped" | "delivered" | "completed"
    )
}

/// A 422's reason (or the status) of a refused call.
pub fn refusal(r: &Reply) -> String {
    r.body["error"]["reason"]
        .as_str()
        .map_or_else(|| format!("HTTP {}", r.status), str::to_owned)
}

impl Sim {
    /// Runs the shopping part; never fails the run (problems are reported).
    pub async fn shop(&self) -> Shopping {
        let mut out = Shopping::default();
        let (Some(seller), Some(affiliate)) = (self.creators.first(), self.creators.get(1)) else {
            out.problems
                .push("shopping needs two creators (a seller and an affiliate)".into());
            return out;
        };
        let listing = match self.list_product(seller, affiliate).await {
            Ok(l) => l,
            Err(err) => {
                out.problems.push(err.to_string());
                return out;
            }
        };
        let showcase = self.showcase_purchases(affiliate, &listing).await;
        let video = self.video_purchases(affiliate, &listing).await;
        let live = self.live_bag_purchases(affiliate, &listing).await;
        // The seller's own room: the flash sale and the auction at once
        // (each waits on its own clock: the countdown, the close).
        let (flash, auction) = tokio::join!(
            self.flash_sale(seller, &listing),
            self.auction(seller, &listing)
        );
        out.add("showcase", Ok((showcase, Value::Null)));
        out.add("video", video.map(|s| (s, Value::Null)));
        out.add("live", live.map(|s| (s, Value::Null)));
        out.add("flash_sale", flash);
        out.add("auction", auction);
        out
    }

    /// The viewers of `range` that exist.
    pub(super) fn viewers_in(&self, range: Range<usize>) -> &[Account] {
        let n = self.viewers.len();
        &self.viewers[range.start.min(n)..range.end.min(n)]
    }

    /// The seller's shop and approved product, open to affiliates and
    /// featured in the affiliate's showcase.
    async fn list_product(&self, seller: &Account, affiliate: &Account) -> anyhow::Result<Listing> {
        let (api, run_id) = (&self.api, &self.run_id);
        let opened = api
            .post("POST /v1/shop", "/v1/shop", Some(&seller.token),
                &json!({"name": format!("sim shop {}", seller.user_id), "description": "simulated"}))
            .await;
        let shop = if opened.ok() {
            opened.body
        } else {
            api.get("GET /v1/shop", "/v1/shop", &seller.token)
                .await
                .body
        };
        let shop_id = shop["shop_id"].as_str().unwrap_or_default().to_owned();
        if shop_id.is_empty() {
            anyhow::bail!("the seller has no shop: {shop}");
        }
        let product = api
            .post("POST /v1/products", "/v1/products", Some(&seller.token),
                &json!({"title": format!("sim mug {run_id}"), "description": "simulated", "category": "home",
                        "image_urls": ["https://cdn.loop.test/sim/mug.jpg"],
                        "skus": [{"name": "one", "price_cents": PRICE_CENTS, "stock": 100_000}]}))
            .await;
        let (Some(product_id), Some(sku_id)) = (
            product.body["product_id"].as_str(),
            product.body["skus"][0]["sku_id"].as_str(),
        ) else {
            anyhow::bail!(
                "listing a product: HTTP {} {}",
                product.status,
                product.body
            );
        };
        let approved = api
            .post(
                "POST /v1/admin/products/{id}/approve",
                &format!("/v1/admin/products/{product_id}/approve"),
                Some(&self.admin.token),
                &json!({"expected_version": product.body["version"]}),
            )
            .await;
        expect(&approved, "approving the product")?;
        let rate = api
            .call(
                "PUT /v1/products/{id}/affiliate",
                Method::PUT,
                &format!("/v1/products/{product_id}/affiliate"),
                Some(&seller.token),
                Some(&json!({"rate_bps": RATE_BPS})),
                None,
            )
            .await;
        expect(&rate, "opening the product to affiliates")?;
        let featured = api
            .post(
                "POST /v1/showcase",
                "/v1/showcase",
                Some(&affiliate.token),
                &json!({"product_id": product_id}),
            )
            .await;
        expect(&featured, "featuring the product")?;
        Ok(Listing {
            shop_id,
            product_id: product_id.to_owned(),
            sku_id: sku_id.to_owned(),
        })
    }

    /// Viewers open the product from the affiliate's showcase and buy.
    async fn showcase_purchases(&self, affiliate: &Account, listing: &Listing) -> Sales {
        let mut sales = Sales::default();
        let visit = json!({"creator_id": affiliate.user_id, "source": "showcase"});
        for (i, buyer) in self.viewers_in(SHOWCASE_BUYERS).iter().enumerate() {
            let key = format!("sim-showcase-{}-{i}", self.run_id);
            self.buy(&mut sales, buyer, listing, &visit, 1 + i as u64 % 2, &key)
                .await;
        }
        sales
    }

    /// The affiliate attaches the product to their first video; viewers
    /// open the video's product anchor and buy.
    async fn video_purchases(
        &self,
        affiliate: &Account,
        listing: &Listing,
    ) -> anyhow::Result<Sales> {
        let video_id = self
            .videos
            .read()
            .iter()
            .find(|v| self.creators[v.creator].user_id == affiliate.user_id)
            .map(|v| v.id.clone())
            .ok_or_else(|| anyhow::anyhow!("the affiliate has no video"))?;
        let path = format!("/v1/videos/{video_id}/products");
        let anchored = self
            .api
            .call(
                "PUT /v1/videos/{id}/products",
                Method::PUT,
                &path,
                Some(&affiliate.token),
                Some(&json!({"product_ids": [listing.product_id]})),
                None,
            )
            .await;
        expect(&anchored, "attaching the product to a video")?;
        let visit =
            json!({"creator_id": affiliate.user_id, "source": "video", "source_id": video_id});
        let mut sales = Sales::default();
        for (i, buyer) in self.viewers_in(VIDEO_BUYERS).iter().enumerate() {
            // What the viewer sees under the video.
            let anchors = self
                .api
                .get("GET /v1/videos/{id}/products", &path, &buyer.token)
                .await;
            let Some(shown) = listing_of(&anchors.body["products"][0]) else {
                anyhow::bail!("the video shows no product: {}", anchors.body);
            };
            let key = format!("sim-video-{}-{i}", self.run_id);
            self.buy(&mut sales, buyer, &shown, &visit, 1, &key).await;
        }
        Ok(sales)
    }

    /// The affiliate, LIVE, adds the product to the room's bag and pins
    /// it; viewers in the room buy the pinned product.
    async fn live_bag_purchases(
        &self,
        affiliate: &Account,
        listing: &Listing,
    ) -> anyhow::Result<Sales> {
        let room_id = self.room_of(affiliate)?;
        self.bag_and_pin(affiliate, &room_id, &listing.product_id)
            .await?;
        let visit =
            json!({"creator_id": affiliate.user_id, "source": "live", "source_id": room_id});
        let mut sales = Sales::default();
        for (i, buyer) in self.viewers_in(LIVE_BUYERS).iter().enumerate() {
            let bag = self
                .api
                .get(
                    "GET /v1/live/{id}/bag",
                    &format!("/v1/live/{room_id}/bag"),
                    &buyer.token,
                )
                .await;
            let Some(pinned) = listing_of(&bag.body["pinned"]) else {
                anyhow::bail!("the room pins no product: {}", bag.body);
            };
            let key = format!("sim-live-{}-{i}", self.run_id);
            self.buy(&mut sales, buyer, &pinned, &visit, 1, &key).await;
        }
        Ok(sales)
    }
}

impl Sim {
    /// One purchase as the app makes it: the visit recorded (`visit`, the
    /// creator and the place the buyer came from), an order of `quantity`
    /// placed, then paid.
    async fn buy(
        &self,
        sales: &mut Sales,
        buyer: &Account,
        listing: &Listing,
        visit: &Value,
        quantity: u64,
        key: &str,
    ) {
        let product_id = &listing.product_id;
        self.api
            .post(
                "POST /v1/products/{id}/referrals",
                &format!("/v1/products/{product_id}/referrals"),
                Some(&buyer.token),
                visit,
            )
            .await;
        let placed = self
            .api
            .call("POST /v1/orders", Method::POST, "/v1/orders", Some(&buyer.token),
                Some(&json!({"shop_id": listing.shop_id, "items": [{"sku_id": listing.sku_id, "quantity": quantity}]})),
                Some(key))
            .await;
        if placed.ok() {
            sales.orders_placed += 1;
            if let Some(order) = self.pay(buyer, &placed.body, key).await {
                sales.paid(&order);
            }
        }
    }

    /// Pays an unpaid `order` by card (a signed test receipt); the paid
    /// order, if the payment went through.
    pub(super) async fn pay(&self, buyer: &Account, order: &Value, key: &str) -> Option<Value> {
        let order_id = order["order_id"].as_str()?;
        let receipt = self.receipt(
            &format!("commerce:order:{order_id}"),
            order["total_cents"].as_i64().unwrap_or(0),
        );
        let paid = self
            .api
            .call(
                "POST /v1/orders/{id}/pay",
                Method::POST,
                &format!("/v1/orders/{order_id}/pay"),
                Some(&buyer.token),
                Some(&json!({"receipt": receipt})),
                Some(&format!("{key}-pay")),
            )
            .await;
        paid.ok().then_some(paid.body)
    }

    /// A card payment of `amount_cents` for `product_id`, as the store
    /// signs it (the wallet's test provider, development deployments).
    pub(super) fn receipt(&self, product_id: &str, amount_cents: i64) -> Value {
        let n = self.receipt_counter.fetch_add(1, Ordering::Relaxed);
        let signed = loop_wallet::payments::TestProvider::new(&self.args.receipt_secret).sign(
            &loop_wallet::payments::TestReceipt {
                receipt_id: format!("sim-{}-{n}", self.run_id),
                product_id: product_id.to_owned(),
                amount_cents,
            },
        );
        json!({"provider": "test", "receipt_data": signed.receipt_data, "signature": signed.signature})
    }

    /// The open LIVE room of `host` (set-up opened the popular creators').
    pub(super) fn room_of(&self, host: &Account) -> anyhow::Result<String> {
        self.rooms
            .read()
            .iter()
            .find(|(_, c)| self.creators[*c].user_id == host.user_id)
            .map(|(room, _)| room.clone())
            .ok_or_else(|| anyhow::anyhow!("creator {} is not LIVE", host.user_id))
    }

    /// The host adds `product_id` to their room's bag and pins it.
    pub(super) async fn bag_and_pin(
        &self,
        host: &Account,
        room_id: &str,
        product_id: &str,
    ) -> anyhow::Result<()> {
        let added = self
            .api
            .post(
                "POST /v1/live/{id}/bag",
                &format!("/v1/live/{room_id}/bag"),
                Some(&host.token),
                &json!({"product_id": product_id}),
            )
            .await;
        expect(&added, "adding the product to the LIVE bag")?;
        let pinned = self
            .api
            .call(
                "PUT /v1/live/{id}/pin",
                Method::PUT,
                &format!("/v1/live/{room_id}/pin"),
                Some(&host.token),
                Some(&json!({"product_id": product_id})),
                None,
            )
            .await;
        expect(&pinned, "pinning the product")
    }
}

/// The product (and its first SKU) a product view shows.
fn listing_of(product: &Value) -> Option<Listing> {
    Some(Listing {
        shop_id: product["shop_id"].as_str()?.to_owned(),
        product_id: product["product_id"].as_str()?.to_owned(),
        sku_id: product["skus"][0]["sku_id"].as_str()?.to_owned(),
    })
}

/// `Ok` when the call succeeded, else what was being done and the answer.
pub fn expect(r: &Reply, doing: &str) -> anyhow::Result<()> {
    if r.ok() {
        Ok(())
    } else {
        anyhow::bail!("{doing}: HTTP {} {}", r.status, r.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_the_sources_and_attributed_orders_alone_count_as_attributed() {
        let mut video = Sales {
            orders_placed: 2,
            ..Sales::default()
        };
        video.paid(&json!({"total_cents": 2500, "commission_cents": 250, "affiliate_id": "a"}));
        let mut flash = Sales {
            orders_placed: 1,
            ..Sales::default()
        };
        flash.paid(&json!({"total_cents": 1500, "commission_cents": 0, "affiliate_id": null}));
        let mut shopping = Shopping::default();
        shopping.add("video", Ok((video, Value::Null)));
        shopping.add("flash_sale", Ok((flash, json!({"units_sold": 1}))));
        shopping.add("auction", Err(anyhow::anyhow!("no bidders")));
        let j = shopping.to_json();
        assert_eq!(
            (&j["orders_placed"], &j["orders_paid"], &j["gmv_cents"]),
            (&json!(3), &json!(2), &json!(4000))
        );
        assert_eq!(
            (&j["attributed_gmv_cents"], &j["commissions_locked_cents"]),
            (&json!(2500), &json!(250))
        );
        assert_eq!(j["by_source"]["flash_sale"]["attributed_gmv_cents"], 0);
        assert_eq!(j["flash_sale"]["units_sold"], 1);
        assert!(j["by_source"]["auction"].is_null() && j["auction"].is_null());
        assert_eq!(j["problem"], "auction: no bidders");
    }

    #[test]
    fn paid_states_are_those_after_payment() {
        assert!(is_paid("on_hold") && is_paid("completed"));
        assert!(!is_paid("unpaid") && !is_paid("paying") && !is_paid("cancelled"));
    }
}
