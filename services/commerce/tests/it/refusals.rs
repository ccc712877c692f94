//! Final wallet refusals: a charge the wallet refuses for good fails the
//! payment (the order is unpaid again, its stock returns with the unpaid
//! timeout, nothing stays PAYING); a refund it refuses for good is marked
//! failed and put on the order (counted, logged), never retried forever,
//! and the order's settlement waits for a person instead of paying the
//! seller what the buyer was promised back.

use super::*;

impl Platform {
    /// Returns everything an escrow holds behind commerce's back (as the
    /// wallet's escrow caller, under another key): the escrow is then no
    /// longer held when commerce asks.
    async fn drain_escrow(&self, escrow: &str) {
        let token =
            testing::TestKeys.issue("service:commerce", Role::Service, Duration::from_secs(600));
        self.wallet
            .clone()
            .refund_escrow(loop_platform::grpc::request(
                wpb::RefundEscrowRequest {
                    idempotency_key: key(),
                    escrow_id: escrow.into(),
                    amount_cents: 0,
                },
                Some(&token),
                Duration::from_secs(30),
            ))
            .await
            .expect("drain escrow");
    }

    async fn commerce_db(&self) -> sqlx::PgPool {
        let url = self.sandbox.commerce().config.database.url.expose().clone();
        sqlx::PgPool::connect(&url).await.expect("commerce db")
    }
}

#[tokio::test]
async fn a_charge_refused_for_good_fails_the_payment_and_the_stock_comes_back() {
    // The wallet does not accept commerce as an escrow caller: every
    // HoldEscrow is PERMISSION_DENIED, which no retry can fix.
    let p = Platform::start_with_wallet(|w| {
        w.internal.escrow_callers = vec!["service:creator-marketplace".into()];
    })
    .await;
    let l = p.listing(&[("A", 1_200, 5)]).await;
    let buyer = user();
    let order = p
        .place(&buyer, &l.shop_id, &[(&l.sku(0), 2)])
        .await
        .expect("place");
    let err = p
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
        .await
        .expect_err("refused for good");
    assert_eq!(reason(&err), "PAYMENT_FAILED", "{err:?}");
    let now = p.order(&order.order_id).await;
    assert_eq!(now.status, pb::OrderStatus::Unpaid as i32, "not PAYING");
    assert_eq!(p.stock(&l, 0).await, 3);
    assert_eq!(p.cents(&buyer).await, (0, 0));
    // Unpaid, it times out like any unpaid order: the units are back.
    p.advance_until(
        Duration::from_secs(31 * 60),
        &order.order_id,
        pb::OrderStatus::Cancelled,
    )
    .await;
    assert_eq!(p.stock(&l, 0).await, 5);
    assert!(p.reconciles().await);
}

#[tokio::test]
async fn an_escrow_no_longer_held_is_flagged_once_not_retried_forever() {
    let p = Platform::start().await;
    let l = p.listing(&[("A", 900, 5)]).await;
    let buyer = user();
    let order = p.paid_order(&l, &buyer, 1).await;
    p.drain_escrow(&order.escrow_id).await;
    let cancelled = p
        .c()
        .cancel_order(p.req(
            &buyer,
            Role::Viewer,
            pb::CancelOrderRequest {
                idempotency_key: key(),
                order_id: order.order_id.clone(),
                reason: String::new(),
            },
        ))
        .await
        .expect("cancel in the hold")
        .into_inner()
        .order
        .expect("order");
    assert_eq!(cancelled.status, pb::OrderStatus::Cancelled as i32);
    assert!(
        cancelled.wallet_problem.contains("no longer held"),
        "{}",
        cancelled.wallet_problem
    );
    assert_eq!(p.stock(&l, 0).await, 5);
    let db = p.commerce_db().await;
    let due: bool = sqlx::query_scalar("SELECT refund_all_due FROM orders WHERE order_id = $1")
        .bind(Uuid::parse_str(&order.order_id).expect("id"))
        .fetch_one(&db)
        .await
        .expect("order");
    assert!(
        !due,
        "the sweeper does not resend a refund the wallet refused for good"
    );
    db.close().await;
    assert_eq!(p.cents(&buyer).await, (0, 0));
    assert!(p.reconciles().await);
}

#[tokio::test]
async fn a_refund_refused_for_good_is_marked_and_holds_the_settlement_visibly() {
    let p = Platform::start().await;
    let l = p.listing(&[("A", 2_000, 5)]).await;
    let buyer = user();
    let troubled = p.paid_order(&l, &buyer, 1).await;
    let clean = p.paid_order(&l, &buyer, 1).await;
    let deliver = |id: String| {
        let (p, seller, buyer) = (&p, l.seller.clone(), buyer.clone());
        async move {
            p.ship(&seller, &id).await;
            p.confirm_delivered(&buyer, &id).await;
        }
    };
    p.advance_until(
        Duration::from_secs(3600),
        &clean.order_id,
        pb::OrderStatus::AwaitingShipment,
    )
    .await;
    // The troubled order is delivered first, so its settlement is due first.
    deliver(troubled.order_id.clone()).await;
    deliver(clean.order_id.clone()).await;
    p.drain_escrow(&troubled.escrow_id).await;
    let refunded = p
        .c()
        .refund_order(p.req(
            &l.seller,
            Role::Creator,
            pb::RefundOrderRequest {
                idempotency_key: key(),
                order_id: troubled.order_id.clone(),
                amount_cents: 500,
                reason: "scratched".into(),
            },
        ))
        .await
        .expect("refund recorded")
        .into_inner()
        .order
        .expect("order");
    assert!(
        refunded.wallet_problem.contains("no longer held"),
        "{}",
        refunded.wallet_problem
    );
    let db = p.commerce_db().await;
    let failed: (bool, bool) =
        sqlx::query_as("SELECT done, failed FROM order_refunds WHERE order_id = $1")
            .bind(Uuid::parse_str(&troubled.order_id).expect("id"))
            .fetch_one(&db)
            .await
            .expect("refund row");
    assert_eq!(failed, (false, true));
    db.close().await;

    // Settlement day: the clean order is paid; the troubled one waits,
    // DELIVERED with its problem, and the seller got nothing for it.
    p.advance_until(
        Duration::from_secs(7 * 24 * 3600),
        &clean.order_id,
        pb::OrderStatus::Completed,
    )
    .await;
    let still = p.order(&troubled.order_id).await;
    assert_eq!(still.status, pb::OrderStatus::Delivered as i32);
    assert!(!still.wallet_problem.is_empty());
    // 2,000 - 6% = 1,880 for the clean order only.
    assert_eq!(p.cents(&l.seller).await, (1_880, 0));
    assert!(p.reconciles().await);
}

/// An operator's mistake (a wallet that does not accept commerce as an
/// escrow caller) makes the wallet refuse a refund for good; once it is
/// fixed, an admin finds the order in the attention list and retries the
/// step: the refund goes with its original key, exactly once, the
/// settlement follows on its day, and the retry is recorded.
#[tokio::test]
async fn an_admin_retries_a_refused_refund_once_its_cause_is_fixed() {
    let mut p = Platform::start_killable().await;
    let good_wallet = p.sandbox.wallet().url();
    let mut strict = p.sandbox.wallet().config.clone();
    strict.internal.escrow_callers = vec!["service:creator-marketplace".into()];
    let strict_addr = super::crash::free_addr();
    let mut strict_wallet =
        loop_testkit::Killable::start("wallet-strict", strict_addr, move |l, s| {
            loop_wallet::run(strict, l, s)
        });
    strict_wallet.wait_serving(loop_wallet::SERVICE_NAME).await;

    let l = p.listing(&[("Vase", 2_000, 3)]).await;
    let buyer = user();
    let order = p.paid_order(&l, &buyer, 1).await;
    let id = order.order_id.clone();
    p.advance_until(
        Duration::from_secs(3600),
        &id,
        pb::OrderStatus::AwaitingShipment,
    )
    .await;
    p.ship(&l.seller, &id).await;
    p.confirm_delivered(&buyer, &id).await;

    // Commerce now talks to the misconfigured wallet: the refund is refused for good.
    p.restart_with(|c| c.services.wallet_url = format!("http://{strict_addr}"))
        .await;
    let refunded = p
        .c()
        .refund_order(p.req(
            &l.seller,
            Role::Creator,
            pb::RefundOrderRequest {
                idempotency_key: key(),
                order_id: id.clone(),
                amount_cents: 500,
                reason: "chipped".into(),
            },
        ))
        .await
        .expect("refund recorded")
        .into_inner()
        .order
        .expect("order");
    assert!(!refunded.wallet_problem.is_empty());
    assert_eq!(p.cents(&buyer).await, (0, 2_000), "nothing moved");

    // Fixed (back to the right wallet). The admin's queue lists the order;
    // nobody else may read it.
    p.restart_with(|c| c.services.wallet_url = good_wallet)
        .await;
    let attention = |who: &str, role: Role| {
        let req = p.req(
            who,
            role,
            pb::ListOrdersRequest {
                needs_attention: true,
                ..Default::default()
            },
        );
        let mut c = p.c();
        async move { c.list_orders(req).await }
    };
    let queue = attention(&p.admin.clone(), Role::Admin)
        .await
        .expect("queue")
        .into_inner();
    assert!(queue.orders.iter().any(|o| o.order_id == id), "{queue:?}");
    let err = attention(&l.seller, Role::Creator)
        .await
        .expect_err("sellers do not read the queue");
    assert_eq!(err.code(), Code::PermissionDenied);

    let retry = |note: &str, role: Role| {
        let who = if role == Role::Admin {
            p.admin.clone()
        } else {
            l.seller.clone()
        };
        let req = p.req(
            &who,
            role,
            pb::RetryWalletStepRequest {
                order_id: id.clone(),
                note: note.into(),
            },
        );
        let mut c = p.c();
        async move { c.retry_wallet_step(req).await }
    };
    let err = retry("", Role::Admin).await.expect_err("no note");
    assert_eq!(
        (err.code(), field(&err)),
        (Code::InvalidArgument, "note".to_owned())
    );
    let err = retry("mine", Role::Creator)
        .await
        .expect_err("not an admin");
    assert_eq!(err.code(), Code::PermissionDenied);
    let cleared = retry("wallet escrow_callers fixed (INC-42)", Role::Admin)
        .await
        .expect("retry")
        .into_inner()
        .order
        .expect("order");
    assert_eq!(cleared.wallet_problem, "");
    let err = retry("again", Role::Admin).await.expect_err("nothing left");
    assert_eq!(reason(&err), "NOTHING_TO_RETRY");

    // The refund reaches the card once; the settlement follows on its day.
    testing::wait_for(
        "refund reached the wallet",
        Duration::from_secs(60),
        || async { (p.cents(&buyer).await == (0, 1_500)).then_some(()) },
    )
    .await;
    let done = p
        .advance_until(
            Duration::from_secs(7 * 24 * 3600),
            &id,
            pb::OrderStatus::Completed,
        )
        .await;
    // 1,500 - 6% (90) for the seller.
    assert_eq!((done.seller_cents, done.fee_cents), (1_410, 90));
    assert_eq!(p.cents(&l.seller).await, (1_410, 0));
    assert_eq!(p.cents(&buyer).await, (0, 0));
    assert!(p.reconciles().await);
    let db = p.killable_db().await;
    let recorded: (String, String) =
        sqlx::query_as("SELECT note, problem FROM order_interventions WHERE order_id = $1")
            .bind(Uuid::parse_str(&id).expect("id"))
            .fetch_one(&db)
            .await
            .expect("intervention");
    assert_eq!(recorded.0, "wallet escrow_callers fixed (INC-42)");
    assert!(recorded.1.contains("refund"), "{}", recorded.1);
    db.close().await;
    strict_wallet.kill();
}
