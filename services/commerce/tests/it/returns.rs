//! Return requests: the buyer asks within the refund window, the seller
//! rejects (with a note) or approves (the refund goes through the normal
//! path), a request nobody answers is approved by the service after
//! `return_answer_hours`, and the seller's settlement waits while one is
//! open; every refusal is named and changes nothing.

use super::*;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

impl Platform {
    /// A paid, shipped and delivered order of one unit of the listing.
    async fn delivered(&self, l: &Listing, buyer: &str) -> pb::Order {
        let order = self.paid_order(l, buyer, 1).await;
        self.advance_until(HOUR, &order.order_id, pb::OrderStatus::AwaitingShipment)
            .await;
        self.ship(&l.seller, &order.order_id).await;
        self.confirm_delivered(buyer, &order.order_id).await
    }

    async fn ask_return(
        &self,
        who: &str,
        role: Role,
        order: &str,
        amount: i64,
        key: &str,
    ) -> Result<pb::Order, tonic::Status> {
        self.c()
            .request_return(self.req(
                who,
                role,
                pb::RequestReturnRequest {
                    idempotency_key: key.into(),
                    order_id: order.into(),
                    amount_cents: amount,
                    reason: "the handle broke off".into(),
                },
            ))
            .await
            .map(|r| r.into_inner().order.expect("order"))
    }

    async fn answer_return(
        &self,
        who: &str,
        order: &str,
        approve: bool,
        note: &str,
    ) -> Result<pb::Order, tonic::Status> {
        self.c()
            .answer_return(self.req(
                who,
                Role::Creator,
                pb::AnswerReturnRequest {
                    idempotency_key: key(),
                    order_id: order.into(),
                    approve,
                    note: note.into(),
                },
            ))
            .await
            .map(|r| r.into_inner().order.expect("order"))
    }
}

fn status_of(o: &pb::Order) -> i32 {
    o.return_request.as_ref().expect("a return request").status
}

#[tokio::test]
async fn a_rejected_return_can_be_asked_again_and_an_approved_one_refunds_once() {
    let p = Platform::start().await;
    let l = p.listing(&[("Jug", 3_000, 5)]).await;
    let buyer = user();
    let order = p.delivered(&l, &buyer).await;
    let id = order.order_id.clone();

    // Asked (a retry with the same key is the same request).
    let k = key();
    let asked = p
        .ask_return(&buyer, Role::Viewer, &id, 1_000, &k)
        .await
        .expect("ask");
    assert_eq!(status_of(&asked), pb::ReturnStatus::Requested as i32);
    let again = p
        .ask_return(&buyer, Role::Viewer, &id, 1_000, &k)
        .await
        .expect("the same request");
    assert_eq!(
        again.return_request.as_ref().map(|r| r.request_id.clone()),
        asked.return_request.as_ref().map(|r| r.request_id.clone())
    );
    // A second one while it is open, and a direct refund meanwhile, are refused.
    let err = p
        .ask_return(&buyer, Role::Viewer, &id, 500, &key())
        .await
        .expect_err("one open");
    assert_eq!(reason(&err), "RETURN_PENDING");
    let err = p
        .c()
        .refund_order(p.req(
            &l.seller,
            Role::Creator,
            pb::RefundOrderRequest {
                idempotency_key: key(),
                order_id: id.clone(),
                amount_cents: 100,
                reason: "goodwill".into(),
            },
        ))
        .await
        .expect_err("answer the request first");
    assert_eq!(reason(&err), "RETURN_PENDING");

    // Rejected: a note is required; the buyer sees it; nothing refunded.
    let err = p
        .answer_return(&l.seller, &id, false, " ")
        .await
        .expect_err("no note");
    assert_eq!(
        (err.code(), field(&err)),
        (Code::InvalidArgument, "note".to_owned())
    );
    let err = p
        .answer_return(&buyer, &id, true, "")
        .await
        .expect_err("the buyer does not answer");
    assert_eq!(err.code(), Code::PermissionDenied);
    let rejected = p
        .answer_return(&l.seller, &id, false, "the photo shows no damage")
        .await
        .expect("reject");
    let r = rejected.return_request.clone().expect("request");
    assert_eq!(
        (r.status, r.answered_by.as_str(), r.note.as_str()),
        (
            pb::ReturnStatus::Rejected as i32,
            "seller",
            "the photo shows no damage"
        )
    );
    assert_eq!(
        (rejected.refunded_cents, p.cents(&buyer).await),
        (0, (0, 3_000))
    );
    let err = p
        .answer_return(&l.seller, &id, true, "")
        .await
        .expect_err("nothing open");
    assert_eq!(reason(&err), "NO_RETURN_PENDING");

    // Asked again, approved: 1,000 back to the card, once.
    p.ask_return(&buyer, Role::Viewer, &id, 1_000, &key())
        .await
        .expect("ask again");
    let approved = p
        .answer_return(&l.seller, &id, true, "")
        .await
        .expect("approve");
    assert_eq!(status_of(&approved), pb::ReturnStatus::Approved as i32);
    assert_eq!(
        (approved.status, approved.refunded_cents),
        (pb::OrderStatus::Delivered as i32, 1_000)
    );
    testing::wait_for(
        "refund reached the wallet",
        Duration::from_secs(30),
        || async { (p.cents(&buyer).await == (0, 2_000)).then_some(()) },
    )
    .await;
    // Settlement on its day, on what is left: 2,000 - 6% = 1,880.
    let done = p
        .advance_until(7 * DAY, &id, pb::OrderStatus::Completed)
        .await;
    assert_eq!((done.seller_cents, done.fee_cents), (1_880, 120));
    assert!(p.reconciles().await);
    let kinds: Vec<(bool, String)> = p
        .events()
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(Payload::ReturnAnswered(a)) if a.order_id == id => {
                Some((a.approved, a.answered_by))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [(false, "seller".to_owned()), (true, "seller".to_owned())]
    );
}

#[tokio::test]
async fn a_return_nobody_answers_is_approved_and_the_settlement_waits_for_it() {
    let p = Platform::start().await;
    let l = p.listing(&[("Bowl", 2_500, 5)]).await;
    let buyer = user();
    let order = p.delivered(&l, &buyer).await;
    let id = order.order_id.clone();

    // Late in the window (6 days after delivery): the whole order back.
    p.clock().advance(6 * DAY);
    let asked = p
        .ask_return(&buyer, Role::Viewer, &id, 0, &key())
        .await
        .expect("ask");
    assert_eq!(
        asked.return_request.as_ref().expect("r").amount_cents,
        2_500
    );

    // The settlement day passes (day 7): the seller is not paid while the
    // request is open. A marker order proves a sweep ran after it.
    p.clock().advance(DAY + HOUR);
    let marker = p.paid_order(&l, &user(), 1).await;
    p.advance_until(HOUR, &marker.order_id, pb::OrderStatus::AwaitingShipment)
        .await;
    let waiting = p.order(&id).await;
    assert_eq!(waiting.status, pb::OrderStatus::Delivered as i32);
    assert_eq!(status_of(&waiting), pb::ReturnStatus::Requested as i32);
    assert_eq!(p.cents(&l.seller).await, (0, 0));

    // 48 hours after the request nobody answered: approved by the service,
    // refunded in full (even though the window closed meanwhile).
    let refunded = p.advance_until(DAY, &id, pb::OrderStatus::Refunded).await;
    let r = refunded.return_request.expect("request");
    assert_eq!(
        (r.status, r.answered_by.as_str()),
        (pb::ReturnStatus::Approved as i32, "system")
    );
    testing::wait_for(
        "refund reached the wallet",
        Duration::from_secs(30),
        || async { (p.cents(&buyer).await == (0, 0)).then_some(()) },
    )
    .await;
    assert_eq!(p.cents(&l.seller).await, (0, 0), "nothing to settle");
    assert!(p.reconciles().await);
}

#[tokio::test]
async fn return_requests_outside_the_rules_are_refused_by_name() {
    let p = Platform::start().await;
    let l = p.listing(&[("Cup", 1_000, 5)]).await;
    let buyer = user();
    // Not delivered yet.
    let paid = p.paid_order(&l, &buyer, 1).await;
    let err = p
        .ask_return(&buyer, Role::Viewer, &paid.order_id, 0, &key())
        .await
        .expect_err("not delivered");
    assert_eq!(reason(&err), "INVALID_TRANSITION");
    let order = p.delivered(&l, &buyer).await;
    let id = order.order_id.clone();
    // The seller does not ask; a stranger sees nothing; bad amounts and reasons.
    let err = p
        .ask_return(&l.seller, Role::Creator, &id, 0, &key())
        .await
        .expect_err("seller");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = p
        .ask_return(&user(), Role::Viewer, &id, 0, &key())
        .await
        .expect_err("stranger");
    assert_eq!(err.code(), Code::NotFound);
    let err = p
        .ask_return(&buyer, Role::Viewer, &id, 1_001, &key())
        .await
        .expect_err("too much");
    assert_eq!(reason(&err), "REFUND_TOO_LARGE");
    let err = p
        .ask_return(&buyer, Role::Viewer, &id, -1, &key())
        .await
        .expect_err("negative");
    assert_eq!(field(&err), "amount_cents");
    let err = p
        .c()
        .request_return(p.req(
            &buyer,
            Role::Viewer,
            pb::RequestReturnRequest {
                idempotency_key: key(),
                order_id: id.clone(),
                amount_cents: 0,
                reason: "  ".into(),
            },
        ))
        .await
        .expect_err("no reason");
    assert_eq!(field(&err), "reason");
    // Past the window (7 days after delivery).
    p.clock().advance(7 * DAY + HOUR);
    let err = p
        .ask_return(&buyer, Role::Viewer, &id, 0, &key())
        .await
        .expect_err("late");
    assert_eq!(reason(&err), "REFUND_WINDOW_CLOSED");
    // Nothing changed: no request, nothing refunded.
    let now = p.order(&id).await;
    assert_eq!((now.return_request, now.refunded_cents), (None, 0));
}
