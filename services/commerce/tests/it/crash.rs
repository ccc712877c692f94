//! Commerce killed mid-checkout (twice), hard: every task dropped where it
//! stands, connections cut mid-transaction, while a crowd checks out and
//! pays (ordinary SKUs and a flash sale). After each restart on the same
//! database: no unit lost or sold twice (stock + units in orders not
//! cancelled = the stock at the start, for the SKU and for the sale), no
//! money lost or charged twice (every buyer holds in the wallet exactly
//! the total of their paid order, nothing if it is not paid; a payment the
//! crash interrupted is finished by the sweeper with the same wallet key),
//! and the ledger reconciles. Then time passes: unpaid orders are
//! cancelled, the sale closes, and every unsold unit is back in stock.

use std::net::SocketAddr;

use loop_platform::testing::TestDb;
use loop_testkit::Killable;

use super::flash::sale_req;
use super::*;

/// The killable commerce service of a crash test.
pub struct Killed {
    /// Behind a lock so the test can kill it while the crowd borrows the platform.
    service: std::sync::Mutex<Killable>,
    config: loop_commerce::Config,
    addr: SocketAddr,
    _db: TestDb,
}

pub(crate) fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

fn start_commerce(
    config: loop_commerce::Config,
    addr: SocketAddr,
    clock: loop_commerce::Clock,
) -> Killable {
    Killable::start("commerce", addr, move |listener, stop| {
        loop_commerce::run_with_clock(config, listener, stop, clock)
    })
}

impl Platform {
    /// The wallet and content in a sandbox; commerce in a runtime of its
    /// own on the sandbox's clock, so the test can kill it.
    pub(crate) async fn start_killable() -> Self {
        let sandbox = Sandbox::builder().name("commerce").wallet().start().await;
        let db = TestDb::create("commerce_crash").await;
        let mut config = loop_commerce::Config::default();
        config.database = db.config.clone();
        config.database.max_connections = 16;
        config.kafka = sandbox.kafka.clone();
        config.services.wallet_url = sandbox.wallet().url();
        config.services.content_url = sandbox.content().url();
        config.outbox.poll_interval_ms = 50;
        config.jobs.sweep_interval_ms = 50;
        let addr = free_addr();
        let service = start_commerce(config.clone(), addr, sandbox.commerce_clock().clone());
        service.wait_serving(loop_commerce::SERVICE_NAME).await;
        let mut p = Self::start_in_parts(sandbox, addr);
        p.crash = Some(Killed {
            service: std::sync::Mutex::new(service),
            config,
            addr,
            _db: db,
        });
        p
    }

    fn start_in_parts(sandbox: Sandbox, addr: SocketAddr) -> Self {
        let receipts = TestProvider::new(sandbox.wallet().config.payments.test_secret.expose());
        Self {
            client: CommerceServiceClient::new(
                loop_platform::grpc::channel(&format!("http://{addr}")).expect("channel"),
            ),
            wallet: WalletServiceClient::new(sandbox.wallet().channel()),
            receipts,
            admin: user(),
            sandbox,
            crash: None,
        }
    }

    /// Restarts commerce (hard) with its configuration changed by `tune`.
    pub(crate) async fn restart_with(&mut self, tune: impl FnOnce(&mut loop_commerce::Config)) {
        tune(&mut self.crash.as_mut().expect("a killable commerce").config);
        self.kill_and_restart().await;
    }

    /// Kills commerce hard and starts a new one on the same database.
    async fn kill_and_restart(&mut self) {
        let clock = self.clock().clone();
        let k = self.crash.as_mut().expect("a killable commerce");
        let service = k.service.get_mut().expect("lock");
        service.kill();
        *service = start_commerce(k.config.clone(), k.addr, clock);
        service.wait_serving(loop_commerce::SERVICE_NAME).await;
        // A fresh connection (the old one may sit in its reconnect backoff).
        self.client = CommerceServiceClient::new(
            loop_platform::grpc::channel(&format!("http://{}", k.addr)).expect("channel"),
        );
    }

    /// Kills commerce hard, where it stands.
    fn kill(&self) {
        let k = self.crash.as_ref().expect("a killable commerce");
        k.service.lock().expect("lock").kill();
    }

    pub(crate) async fn killable_db(&self) -> sqlx::PgPool {
        let k = self.crash.as_ref().expect("a killable commerce");
        sqlx::PgPool::connect(k.config.database.url.expose())
            .await
            .expect("commerce db")
    }
}

/// What one buyer of the crowd did.
struct Attempt {
    buyer: String,
    order: Option<pb::Order>,
}

/// One buyer: checks out (the SKU, or the flash sale) and pays.
async fn shop(p: &Platform, i: usize, shop_id: &str, sku: &str, sale: &str) -> Attempt {
    let buyer = user();
    let placed = if i.is_multiple_of(2) {
        p.place(
            &buyer,
            shop_id,
            &[(sku, 1 + u32::from(i.is_multiple_of(4)))],
        )
        .await
    } else {
        p.buy(&buyer, sale, 1).await
    };
    let Ok(order) = placed else {
        return Attempt { buyer, order: None };
    };
    let _ = p
        .c()
        .pay_order(p.req(
            &buyer,
            Role::Viewer,
            pb::PayOrderRequest {
                idempotency_key: key(),
                order_id: order.order_id.clone(),
                receipt: Some(p.receipt(&order)),
            },
        ))
        .await;
    Attempt {
        buyer,
        order: Some(order),
    }
}

#[tokio::test]
async fn commerce_killed_mid_checkout_loses_and_doubles_no_stock_or_money() {
    let mut p = Platform::start_killable().await;
    let l = p.listing(&[("Plain", 1_000, 200)]).await;
    let s = p.stage(&[("Flash", 2_000, 100)]).await;
    let sale = p
        .start_sale(&s.host, sale_req(&s, 1_500, 60, 2))
        .await
        .expect("sale");
    p.clock().advance(Duration::from_secs(10));
    let pool = p.killable_db().await;
    // Orders placed; orders whose payment was sent (PAYING) or confirmed.
    let orders = |pool: sqlx::PgPool, paying: bool| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM orders WHERE NOT $1 OR status IN (2, 3)")
            .bind(paying)
            .fetch_one(&pool)
            .await
            .unwrap_or(0)
    };
    let mut attempts = Vec::new();
    for round in 0..2 {
        // Round 0 is killed while checkouts are being placed, round 1
        // while payments are on their way to the wallet.
        let paying = round == 1;
        let before = orders(pool.clone(), paying).await;
        // The crowd runs while the service is killed under it.
        {
            let crowd = futures::future::join_all((0..80).map(|i| {
                let p = &p;
                let (shop_id, sku, sale) = (l.shop_id.clone(), l.sku(0), sale.sale_id.clone());
                async move { shop(p, i, &shop_id, &sku, &sale).await }
            }));
            let kill_at = async {
                testing::wait_for(
                    &format!("round {round}: checkouts under way"),
                    Duration::from_secs(60),
                    || async { (orders(pool.clone(), paying).await >= before + 8).then_some(()) },
                )
                .await;
            };
            let mut crowd = std::pin::pin!(crowd);
            tokio::select! {
                done = &mut crowd => panic!("the crowd finished before the kill ({} attempts)", done.len()),
                () = kill_at => {}
            }
            p.kill();
            // Every call in flight fails now; the crowd ends.
            attempts.extend(crowd.await);
        }
        let states: Vec<(i16, i64)> =
            sqlx::query_as("SELECT status, count(*) FROM orders GROUP BY status ORDER BY status")
                .fetch_all(&pool)
                .await
                .expect("states");
        eprintln!(
            "round {round}: killed with orders by status {states:?} (2 = PAYING: a charge cut off)"
        );
        p.kill_and_restart().await;
    }

    // The sweeper finishes every payment the kills interrupted.
    testing::wait_for(
        "no payment left PAYING",
        Duration::from_secs(60),
        || async {
            let paying: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 2")
                .fetch_one(&pool)
                .await
                .ok()?;
            (paying == 0).then_some(())
        },
    )
    .await;

    // Units: the SKU's and the sale's, each exactly once.
    let held = |flash: bool| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COALESCE(sum(i.quantity), 0)::bigint FROM order_items i JOIN orders o USING (order_id) \
                 WHERE o.status <> 8 AND (o.flash_sale_id IS NOT NULL) = $1",
            )
            .bind(flash)
            .fetch_one(&pool)
            .await
            .expect("units")
        }
    };
    let sold_plain = held(false).await;
    let sold_flash = held(true).await;
    assert!(sold_plain > 0 && sold_flash > 0, "both kinds were sold");
    assert_eq!(p.stock(&l, 0).await + sold_plain, 200, "the SKU's units");
    let now = p.sale(&sale.sale_id).await;
    assert_eq!(
        i64::from(now.remaining_units) + sold_flash,
        60,
        "the sale's units"
    );
    assert_eq!(p.stock(&s.listing, 0).await, 40);

    // Money: each buyer holds exactly their paid order's total, once.
    let mut paid_units = (0i64, 0i64);
    let mut ids = std::collections::HashSet::new();
    for a in &attempts {
        let Some(placed) = &a.order else {
            assert_eq!(p.cents(&a.buyer).await, (0, 0), "no order, no charge");
            continue;
        };
        let order = p.order(&placed.order_id).await;
        let held = match pb::OrderStatus::try_from(order.status) {
            Ok(pb::OrderStatus::OnHold) => {
                let e = p.escrow(&order.escrow_id).await;
                assert_eq!(e.amount_cents, order.total_cents, "{order:?}");
                assert!(ids.insert(order.escrow_id.clone()), "one escrow per order");
                let units = i64::from(order.items[0].quantity);
                if placed.items[0].sku_id == l.sku(0) {
                    paid_units.0 += units;
                } else {
                    paid_units.1 += units;
                }
                order.total_cents
            }
            Ok(pb::OrderStatus::Unpaid) => 0,
            other => panic!("unexpected state after the crash: {other:?} {order:?}"),
        };
        assert_eq!(p.cents(&a.buyer).await, (0, held), "buyer {}", a.buyer);
    }
    assert!(p.reconciles().await);

    // Time passes: unpaid orders are cancelled, the sale closes, and every
    // unit not paid for is back on the SKU.
    p.clock().advance(Duration::from_secs(31 * 60));
    testing::wait_for("unpaid cancelled, sale closed", Duration::from_secs(60), || async {
        let open: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM orders WHERE status = 1) + (SELECT count(*) FROM flash_sales WHERE NOT closed)",
        )
        .fetch_one(&pool)
        .await
        .ok()?;
        (open == 0).then_some(())
    })
    .await;
    assert_eq!(p.stock(&l, 0).await, 200 - paid_units.0);
    assert_eq!(p.stock(&s.listing, 0).await, 100 - paid_units.1);
    assert!(p.reconciles().await);
    pool.close().await;
}
