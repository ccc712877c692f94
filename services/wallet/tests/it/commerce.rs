//! Shop orders through escrow (commerce's service token): a card payment
//! held for an order, partial and full refunds back to the card, and a
//! release split between the seller, the platform's referral fee and an
//! affiliate. The books reconcile and the journal export checks.

use super::*;

fn as_commerce<T>(p: &Platform, msg: T) -> tonic::Request<T> {
    p.req("service:commerce", Role::Service, msg)
}

/// Sum of the `system:payment_provider` shards (cash in from, and back to, the stores).
async fn provider_balance(p: &Platform) -> i64 {
    sqlx::query_scalar::<_, Option<i64>>(
        "SELECT sum(balance)::BIGINT FROM accounts WHERE account LIKE 'system:payment_provider#%' AND asset = 3",
    )
    .fetch_one(&p.pool)
    .await
    .expect("provider")
    .unwrap_or(0)
}

fn order_hold(
    p: &Platform,
    buyer: &str,
    seller: &str,
    order: &str,
    cents: i64,
) -> pb::HoldEscrowRequest {
    let reference = format!("commerce:order:{order}");
    pb::HoldEscrowRequest {
        idempotency_key: format!("pay:{order}"),
        payer_id: buyer.into(),
        payee_id: seller.into(),
        amount_cents: cents,
        receipt: Some(p.receipt(&reference, cents)),
        reference,
    }
}

async fn journal_checks(p: &Platform) {
    let mut out: Vec<u8> = Vec::new();
    loop_wallet::reconcile::export_journal(&p.pool, &mut out, &|_, _| {})
        .await
        .expect("export");
    let text = String::from_utf8(out).expect("utf8");
    let (transactions, _) = super::books::check_journal(&text);
    assert!(transactions > 0);
    if let Ok(path) = super::books::which("hledger") {
        let file = std::env::temp_dir().join(format!("wallet-{}.journal", Uuid::now_v7()));
        std::fs::write(&file, &text).expect("write");
        let status = std::process::Command::new(path)
            .args([
                "-f",
                file.to_str().expect("path"),
                "check",
                "balanced",
                "assertions",
            ])
            .status()
            .expect("hledger");
        let _ = std::fs::remove_file(&file);
        assert!(status.success(), "hledger rejected the export");
    }
}

#[tokio::test]
async fn a_card_paid_order_is_held_refunded_in_part_and_released_three_ways_once() {
    let p = Platform::start().await;
    let users = p.seed_users(3, "1990-01-01", Role::Viewer).await;
    let (buyer, seller, affiliate) = (&users[0], &users[1], &users[2]);
    let mut c = p.client();
    let order = Uuid::now_v7().to_string();
    let hold = order_hold(&p, buyer, seller, &order, 10_000);

    // The buyer has no cents: the card pays, the hold counts as the buyer's held cents.
    let escrow = c
        .hold_escrow(as_commerce(&p, hold.clone()))
        .await
        .expect("pay")
        .into_inner()
        .escrow
        .expect("escrow");
    assert_eq!(escrow.funded_by, pb::PaymentProvider::Test as i32);
    let again = c
        .hold_escrow(as_commerce(&p, hold.clone()))
        .await
        .expect("retry")
        .into_inner()
        .escrow
        .expect("escrow");
    assert_eq!(again, escrow, "a retry charges nothing more");
    assert_eq!(p.balance(buyer).await[2], (0, 10_000));
    assert_eq!(provider_balance(&p).await, -10_000);

    // The same receipt under another key is refused; a receipt for another
    // order or amount is refused naming the receipt; nothing moved.
    let err = c
        .hold_escrow(as_commerce(
            &p,
            pb::HoldEscrowRequest {
                idempotency_key: key(),
                ..hold.clone()
            },
        ))
        .await
        .expect_err("redeemed");
    assert_eq!(reason(&err), "RECEIPT_ALREADY_REDEEMED");
    let other = order_hold(&p, buyer, seller, &Uuid::now_v7().to_string(), 10_000);
    let err = c
        .hold_escrow(as_commerce(
            &p,
            pb::HoldEscrowRequest {
                receipt: Some(p.receipt(&other.reference, 9_999)),
                ..other.clone()
            },
        ))
        .await
        .expect_err("wrong amount");
    assert_eq!(field(&err), "receipt.receipt_data");
    let err = c
        .hold_escrow(as_commerce(
            &p,
            pb::HoldEscrowRequest {
                receipt: Some(p.receipt("commerce:order:someone-else", 10_000)),
                ..other.clone()
            },
        ))
        .await
        .expect_err("wrong product");
    assert_eq!(field(&err), "receipt.receipt_data");
    assert_eq!(provider_balance(&p).await, -10_000);

    // A partial refund (2,500) goes back to the card; a retry refunds nothing more.
    let refund = pb::RefundEscrowRequest {
        idempotency_key: key(),
        escrow_id: escrow.escrow_id.clone(),
        amount_cents: 2_500,
    };
    let partly = c
        .refund_escrow(as_commerce(&p, refund.clone()))
        .await
        .expect("partial refund")
        .into_inner()
        .escrow
        .expect("escrow");
    c.refund_escrow(as_commerce(&p, refund.clone()))
        .await
        .expect("retry");
    assert_eq!(partly.status, pb::EscrowStatus::Held as i32);
    assert_eq!(partly.refunded_cents, 2_500);
    assert_eq!(p.balance(buyer).await[2], (0, 7_500));
    assert_eq!(provider_balance(&p).await, -7_500);
    let err = c
        .refund_escrow(as_commerce(
            &p,
            pb::RefundEscrowRequest {
                idempotency_key: key(),
                amount_cents: 7_501,
                ..refund.clone()
            },
        ))
        .await
        .expect_err("more than held");
    assert_eq!(field(&err), "amount_cents");

    // Release the 7,500 left: fee 450, commission 750, seller 6,300.
    let split = |fee: i64, aff: &str, cents: i64| pb::ReleaseEscrowRequest {
        idempotency_key: key(),
        escrow_id: escrow.escrow_id.clone(),
        platform_fee_bps: 0,
        split: Some(pb::EscrowSplit {
            platform_fee_cents: fee,
            affiliate_id: aff.into(),
            affiliate_cents: cents,
        }),
        keep_cents: 0,
    };
    for (bad, f) in [
        (split(7_000, affiliate, 501), "split"),
        (split(-1, affiliate, 0), "split.platform_fee_cents"),
        (split(0, "nope", 10), "split.affiliate_id"),
        (split(0, seller, 10), "split.affiliate_id"),
        (split(0, affiliate, 0), "split.affiliate_cents"),
        (
            pb::ReleaseEscrowRequest {
                platform_fee_bps: 600,
                ..split(450, affiliate, 750)
            },
            "platform_fee_bps",
        ),
    ] {
        let err = c
            .release_escrow(as_commerce(&p, bad))
            .await
            .expect_err("bad split");
        assert_eq!(field(&err), f);
    }
    let release = split(450, affiliate, 750);
    let released = c
        .release_escrow(as_commerce(&p, release.clone()))
        .await
        .expect("release")
        .into_inner()
        .escrow
        .expect("escrow");
    c.release_escrow(as_commerce(&p, release.clone()))
        .await
        .expect("retry");
    assert_eq!(
        (
            released.status,
            released.platform_fee_cents,
            released.affiliate_cents,
            released.payee_cents
        ),
        (pb::EscrowStatus::Released as i32, 450, 750, 6_300)
    );
    assert_eq!(released.affiliate_id, *affiliate);
    assert_eq!(p.balance(buyer).await[2], (0, 0));
    assert_eq!(p.balance(seller).await[2], (6_300, 0));
    assert_eq!(p.balance(affiliate).await[2], (750, 0));
    let err = c
        .refund_escrow(as_commerce(
            &p,
            pb::RefundEscrowRequest {
                idempotency_key: key(),
                ..refund.clone()
            },
        ))
        .await
        .expect_err("released");
    assert_eq!(reason(&err), "ESCROW_NOT_HELD");

    // A second order is cancelled: the whole amount goes back to the card.
    let second = c
        .hold_escrow(as_commerce(
            &p,
            order_hold(&p, buyer, seller, &Uuid::now_v7().to_string(), 1_999),
        ))
        .await
        .expect("pay")
        .into_inner()
        .escrow
        .expect("escrow");
    let refunded = c
        .refund_escrow(as_commerce(
            &p,
            pb::RefundEscrowRequest {
                idempotency_key: key(),
                escrow_id: second.escrow_id.clone(),
                amount_cents: 0,
            },
        ))
        .await
        .expect("refund all")
        .into_inner()
        .escrow
        .expect("escrow");
    assert_eq!(
        (refunded.status, refunded.refunded_cents),
        (pb::EscrowStatus::Refunded as i32, 1_999)
    );
    assert_eq!(p.balance(buyer).await[2], (0, 0));
    // Cash in from cards = what the seller, the affiliate and the platform hold.
    assert_eq!(provider_balance(&p).await, -(6_300 + 750 + 450));

    assert!(p.reconcile().await.consistent);
    journal_checks(&p).await;

    let events = wallet_events(&p).await;
    let refunds: Vec<(i64, i64, i32)> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::EscrowRefunded(r)) => {
                Some((r.amount_cents, r.remaining_cents, r.provider))
            }
            _ => None,
        })
        .collect();
    let test = loop_proto::events::v1::WalletPaymentProvider::Test as i32;
    assert_eq!(refunds, vec![(2_500, 7_500, test), (1_999, 0, test)]);
    let releases: Vec<(i64, i64, i64)> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::EscrowReleased(r)) => {
                Some((r.platform_fee_cents, r.affiliate_cents, r.payee_cents))
            }
            _ => None,
        })
        .collect();
    assert_eq!(releases, vec![(450, 750, 6_300)]);
}

#[tokio::test]
async fn a_release_may_keep_the_commission_held_for_its_own_day() {
    let p = Platform::start().await;
    let users = p.seed_users(3, "1990-01-01", Role::Viewer).await;
    let (buyer, seller, affiliate) = (&users[0], &users[1], &users[2]);
    let mut c = p.client();
    let order = Uuid::now_v7().to_string();
    let escrow = c
        .hold_escrow(as_commerce(
            &p,
            order_hold(&p, buyer, seller, &order, 5_000),
        ))
        .await
        .expect("pay")
        .into_inner()
        .escrow
        .expect("escrow");
    let release = |fee: i64, aff: &str, cents: i64, keep: i64| pb::ReleaseEscrowRequest {
        idempotency_key: key(),
        escrow_id: escrow.escrow_id.clone(),
        platform_fee_bps: 0,
        split: Some(pb::EscrowSplit {
            platform_fee_cents: fee,
            affiliate_id: aff.into(),
            affiliate_cents: cents,
        }),
        keep_cents: keep,
    };
    for (bad, f) in [
        (release(300, "", 0, -1), "keep_cents"),
        (release(300, "", 0, 5_001), "keep_cents"),
        // The fee and the split come out of what is released (5,000 - 4,800).
        (release(300, "", 0, 4_800), "split"),
    ] {
        let err = c
            .release_escrow(as_commerce(&p, bad))
            .await
            .expect_err("bad keep");
        assert_eq!(field(&err), f);
    }
    // Day 7: the seller and the fee; the 500 commission stays held.
    let first = release(300, "", 0, 500);
    let partly = c
        .release_escrow(as_commerce(&p, first.clone()))
        .await
        .expect("partial release")
        .into_inner()
        .escrow
        .expect("escrow");
    let again = c
        .release_escrow(as_commerce(&p, first))
        .await
        .expect("retry")
        .into_inner()
        .escrow
        .expect("escrow");
    assert_eq!(again, partly, "a retry releases nothing more");
    assert_eq!(
        (
            partly.status,
            partly.payee_cents,
            partly.platform_fee_cents,
            partly.affiliate_cents
        ),
        (pb::EscrowStatus::Held as i32, 4_200, 300, 0)
    );
    assert_eq!(p.balance(seller).await[2], (4_200, 0));
    assert_eq!(
        p.balance(buyer).await[2],
        (0, 500),
        "the commission still held"
    );
    assert!(p.reconcile().await.consistent);
    // More than is left is refused, naming the split.
    let err = c
        .release_escrow(as_commerce(&p, release(0, affiliate, 501, 0)))
        .await
        .expect_err("more than held");
    assert_eq!(field(&err), "split");
    // Day 15: the commission, all that is left.
    let done = c
        .release_escrow(as_commerce(&p, release(0, affiliate, 500, 0)))
        .await
        .expect("commission")
        .into_inner()
        .escrow
        .expect("escrow");
    assert_eq!(
        (
            done.status,
            done.payee_cents,
            done.platform_fee_cents,
            done.affiliate_cents,
            done.affiliate_id.as_str()
        ),
        (
            pb::EscrowStatus::Released as i32,
            4_200,
            300,
            500,
            affiliate.as_str()
        )
    );
    assert_eq!(p.balance(affiliate).await[2], (500, 0));
    assert_eq!(p.balance(buyer).await[2], (0, 0));
    assert_eq!(provider_balance(&p).await, -5_000);
    let err = c
        .release_escrow(as_commerce(&p, release(0, affiliate, 1, 0)))
        .await
        .expect_err("nothing held");
    assert_eq!(reason(&err), "ESCROW_NOT_HELD");
    assert!(p.reconcile().await.consistent);
    journal_checks(&p).await;
    let releases: Vec<(i64, i64, i64, i64, i64)> = wallet_events(&p)
        .await
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::EscrowReleased(r)) if r.escrow_id == escrow.escrow_id => Some((
                r.amount_cents,
                r.platform_fee_cents,
                r.payee_cents,
                r.affiliate_cents,
                r.remaining_cents,
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        releases,
        vec![(4_500, 300, 4_200, 0, 500), (500, 0, 0, 500, 0)]
    );
}
