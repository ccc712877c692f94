//! Wallet integration tests against real PostgreSQL, Redis and the broker,
//! with the real content service: money flows, idempotency, bad input,
//! escrow and ad budgets, leaderboards, the journal export.

#![allow(clippy::field_reassign_with_default)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Platform, field, reason};
use loop_platform::auth::Role;
use loop_platform::testing;
use loop_proto::events::v1::{WalletEvent, wallet_event::Payload};
use loop_proto::wallet::v1 as pb;
use prost::Message;
use tonic::Code;
use uuid::Uuid;

fn key() -> String {
    format!("k-{}", Uuid::now_v7())
}

fn gift_req(key: &str, gift: &str, to: &str, room: &str, count: u32) -> pb::SendGiftRequest {
    pb::SendGiftRequest {
        idempotency_key: key.into(),
        gift_id: gift.into(),
        recipient_id: to.into(),
        target: Some(pb::send_gift_request::Target::LiveRoomId(room.into())),
        count,
    }
}

async fn wallet_events(p: &Platform) -> Vec<WalletEvent> {
    p.wait_outbox_drained().await;
    testing::read_all(&p.config.kafka, &p.topic())
        .await
        .iter()
        .map(|d| WalletEvent::decode(d.payload.as_slice()).expect("WalletEvent"))
        .collect()
}

#[tokio::test]
async fn buy_gift_cash_out_and_every_step_is_on_the_books() {
    let p = Platform::start().await;
    let creator = p.creator().await;
    let viewer = p.seed_users(1, "1995-01-01", "viewer").await.remove(0);
    let room = p.go_live(&creator).await;
    let video = p.publish_video(&creator).await;

    let bought = p.buy(&viewer, "coins_5000").await;
    assert_eq!(bought.coins_balance, 5000);
    let tx = bought.transaction.expect("transaction");
    assert_eq!(tx.kind, pb::TransactionKind::CoinPurchase as i32);
    assert!(
        tx.entries
            .iter()
            .any(|e| e.account == format!("user:{viewer}") && e.amount == 5000),
        "{tx:?}"
    );

    // A gift in the room and one on the video.
    let mut c = p.client();
    let sent = c
        .send_gift(p.req(
            &viewer,
            Role::Viewer,
            gift_req(&key(), "galaxy", &creator, &room, 2),
        ))
        .await
        .expect("gift")
        .into_inner();
    assert_eq!(
        (sent.coins_spent, sent.diamonds_credited, sent.coins_balance),
        (2000, 2000, 3000)
    );
    let on_video = c
        .send_gift(p.req(
            &viewer,
            Role::Viewer,
            pb::SendGiftRequest {
                idempotency_key: key(),
                gift_id: "money_gun".into(),
                recipient_id: creator.clone(),
                target: Some(pb::send_gift_request::Target::VideoId(video.clone())),
                count: 1,
            },
        ))
        .await
        .expect("gift on video")
        .into_inner();
    assert_eq!(on_video.coins_balance, 2500);
    assert_eq!(p.balance(&viewer).await[0], (2500, 0));
    assert_eq!(p.balance(&creator).await[1], (2500, 0));

    // Cash out: 2200 diamonds = 1100 cents; approve. Then one rejected.
    let payout = c
        .request_payout(p.req(
            &creator,
            Role::Creator,
            pb::RequestPayoutRequest {
                idempotency_key: key(),
                amount: Some(pb::request_payout_request::Amount::Diamonds(2200)),
            },
        ))
        .await
        .expect("payout")
        .into_inner()
        .payout
        .expect("payout");
    assert_eq!(payout.cash_value_cents, 1100);
    assert_eq!(payout.status, pb::PayoutStatus::Pending as i32);
    assert_eq!(p.balance(&creator).await[1], (300, 2200));
    // Creators cannot approve; admins can.
    let err = c
        .approve_payout(p.req(
            &creator,
            Role::Creator,
            pb::ApprovePayoutRequest {
                idempotency_key: key(),
                payout_id: payout.payout_id.clone(),
            },
        ))
        .await
        .expect_err("creator approving");
    assert_eq!(err.code(), Code::PermissionDenied);
    let approve_key = key();
    let approved = c
        .approve_payout(p.admin_req(pb::ApprovePayoutRequest {
            idempotency_key: approve_key.clone(),
            payout_id: payout.payout_id.clone(),
        }))
        .await
        .expect("approve")
        .into_inner()
        .payout
        .expect("payout");
    assert_eq!(approved.status, pb::PayoutStatus::Approved as i32);
    assert_eq!(approved.decided_by, p.admin);
    assert_eq!(p.balance(&creator).await[1], (300, 0));
    // The same approval retried: the first result; a new key: PAYOUT_NOT_PENDING.
    let again = c
        .approve_payout(p.admin_req(pb::ApprovePayoutRequest {
            idempotency_key: approve_key,
            payout_id: payout.payout_id.clone(),
        }))
        .await
        .expect("retried approval")
        .into_inner()
        .payout
        .expect("payout");
    assert_eq!(again, approved);
    let err = c
        .approve_payout(p.admin_req(pb::ApprovePayoutRequest {
            idempotency_key: key(),
            payout_id: payout.payout_id.clone(),
        }))
        .await
        .expect_err("approved twice");
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::FailedPrecondition, "PAYOUT_NOT_PENDING")
    );

    // Give the creator more, then a rejected payout returns the diamonds.
    c.send_gift(p.req(
        &viewer,
        Role::Viewer,
        gift_req(&key(), "galaxy", &creator, &room, 2),
    ))
    .await
    .expect("gift");
    let second = c
        .request_payout(p.req(
            &creator,
            Role::Creator,
            pb::RequestPayoutRequest {
                idempotency_key: key(),
                amount: Some(pb::request_payout_request::Amount::Diamonds(2100)),
            },
        ))
        .await
        .expect("payout")
        .into_inner()
        .payout
        .expect("payout");
    let rejected = c
        .reject_payout(p.admin_req(pb::RejectPayoutRequest {
            idempotency_key: key(),
            payout_id: second.payout_id.clone(),
            reason: "verify your identity first".into(),
        }))
        .await
        .expect("reject")
        .into_inner()
        .payout
        .expect("payout");
    assert_eq!(rejected.reject_reason, "verify your identity first");
    assert_eq!(p.balance(&creator).await[1], (2300, 0));

    // The review queue and the creator's own list.
    let mine = c
        .list_payouts(p.req(&creator, Role::Creator, pb::ListPayoutsRequest::default()))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(mine.payouts.len(), 2);
    assert_eq!(mine.payouts[0].payout_id, second.payout_id, "newest first");

    // History: keyset pages, newest first, shards shown as the account.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .list_transactions(p.req(
                &creator,
                Role::Creator,
                pb::ListTransactionsRequest {
                    page: Some(loop_proto::common::v1::PageRequest {
                        page_size: 2,
                        page_token: token.clone(),
                    }),
                    ..Default::default()
                },
            ))
            .await
            .expect("history")
            .into_inner();
        seen.extend(page.transactions);
        token = page.page.expect("page").next_page_token;
        if token.is_empty() {
            break;
        }
    }
    // 3 gifts, 2 payout requests, 1 approval, 1 rejection.
    assert_eq!(seen.len(), 7, "{seen:#?}");
    let ids: Vec<&str> = seen.iter().map(|t| t.transaction_id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");
    assert!(
        seen.iter()
            .flat_map(|t| &t.entries)
            .all(|e| !e.account.contains('#')),
        "shards are shown as their account"
    );
    // Viewers cannot read others' wallets.
    let err = c
        .get_balance(p.req(
            &viewer,
            Role::Viewer,
            pb::GetBalanceRequest {
                user_id: creator.clone(),
            },
        ))
        .await
        .expect_err("reading another wallet");
    assert_eq!(err.code(), Code::PermissionDenied);

    let report = p.reconcile().await;
    assert!(report.consistent, "{report:#?}");
    // Every step emitted its event, once.
    let events = wallet_events(&p).await;
    let count = |f: fn(&Payload) -> bool| {
        events
            .iter()
            .filter(|e| e.payload.as_ref().is_some_and(f))
            .count()
    };
    assert_eq!(count(|p| matches!(p, Payload::CoinsPurchased(_))), 1);
    assert_eq!(count(|p| matches!(p, Payload::GiftSent(_))), 3);
    assert_eq!(count(|p| matches!(p, Payload::PayoutRequested(_))), 2);
    assert_eq!(count(|p| matches!(p, Payload::PayoutApproved(_))), 1);
    assert_eq!(count(|p| matches!(p, Payload::PayoutRejected(_))), 1);
}

#[tokio::test]
async fn bad_input_names_the_rule_and_moves_no_money() {
    let p = Platform::start_with(|c| {
        c.content.room_cache_ttl_ms = 0;
        c.money.daily_payout_cap_cents = 1500;
    })
    .await;
    let creator = p.creator().await;
    let other_creator = p.creator().await;
    let viewer = p.seed_users(1, "1995-01-01", "viewer").await.remove(0);
    let minor = p
        .seed_users(
            1,
            &(chrono::Utc::now().date_naive() - chrono::Duration::days(17 * 365)).to_string(),
            "viewer",
        )
        .await
        .remove(0);
    let room = p.go_live(&creator).await;
    let bought = p.buy(&viewer, "coins_100").await;
    assert_eq!(bought.coins_balance, 100);
    // The creator earns 3000 diamonds (1500 cents) from a second viewer.
    let rich = p.seed_users(1, "1980-01-01", "viewer").await.remove(0);
    p.buy(&rich, "coins_5000").await;
    let mut c = p.client();
    c.send_gift(p.req(
        &rich,
        Role::Viewer,
        gift_req(&key(), "galaxy", &creator, &room, 3),
    ))
    .await
    .expect("gift");
    let before = (
        p.balance(&viewer).await,
        p.balance(&creator).await,
        p.balance(&rich).await,
    );

    let cases: Vec<(pb::SendGiftRequest, Code, &str)> = vec![
        (
            gift_req(&key(), "dragon", &creator, &room, 1),
            Code::NotFound,
            "",
        ),
        (
            gift_req(&key(), "rose", &creator, &room, 0),
            Code::InvalidArgument,
            "count",
        ),
        (
            gift_req(&key(), "rose", &creator, &room, 1000),
            Code::InvalidArgument,
            "count",
        ),
        (
            gift_req(&key(), "doughnut", &creator, &room, 4),
            Code::FailedPrecondition,
            "INSUFFICIENT_FUNDS",
        ),
        (
            gift_req(&key(), "rose", &viewer, &room, 1),
            Code::InvalidArgument,
            "recipient_id",
        ),
        (
            gift_req(&key(), "rose", &other_creator, &room, 1),
            Code::FailedPrecondition,
            "RECIPIENT_MISMATCH",
        ),
        (
            gift_req(&key(), "rose", &creator, &Uuid::now_v7().to_string(), 1),
            Code::NotFound,
            "",
        ),
        (
            gift_req("short", "rose", &creator, &room, 1),
            Code::InvalidArgument,
            "idempotency_key",
        ),
        (
            pb::SendGiftRequest {
                target: None,
                ..gift_req(&key(), "rose", &creator, &room, 1)
            },
            Code::InvalidArgument,
            "target",
        ),
    ];
    for (req, code, what) in cases {
        let err = c
            .send_gift(p.req(&viewer, Role::Viewer, req.clone()))
            .await
            .expect_err("refused");
        assert_eq!(err.code(), code, "{req:?}: {err:?}");
        if !what.is_empty() {
            assert!(
                field(&err) == what || reason(&err) == what,
                "{req:?}: {err:?}"
            );
        }
        assert!(!err.message().is_empty());
    }

    // Under-age buyer; replayed receipt; tampered receipt; wrong product.
    let receipt = p.receipt("loop.coins_100", 99);
    let err = c
        .purchase_coins(p.req(
            &minor,
            Role::Viewer,
            pb::PurchaseCoinsRequest {
                idempotency_key: key(),
                package_id: "coins_100".into(),
                receipt: Some(receipt.clone()),
            },
        ))
        .await
        .expect_err("minor");
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::FailedPrecondition, "AGE_RESTRICTED")
    );
    let first_key = key();
    c.purchase_coins(p.req(
        &viewer,
        Role::Viewer,
        pb::PurchaseCoinsRequest {
            idempotency_key: first_key.clone(),
            package_id: "coins_100".into(),
            receipt: Some(receipt.clone()),
        },
    ))
    .await
    .expect("the receipt's first use");
    let err = c
        .purchase_coins(p.req(
            &viewer,
            Role::Viewer,
            pb::PurchaseCoinsRequest {
                idempotency_key: key(),
                package_id: "coins_100".into(),
                receipt: Some(receipt.clone()),
            },
        ))
        .await
        .expect_err("replayed receipt");
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::AlreadyExists, "RECEIPT_ALREADY_REDEEMED")
    );
    let mut tampered = p.receipt("loop.coins_100", 99);
    tampered.signature = p.receipt("loop.coins_100", 99).signature;
    let err = c
        .purchase_coins(p.req(
            &viewer,
            Role::Viewer,
            pb::PurchaseCoinsRequest {
                idempotency_key: key(),
                package_id: "coins_100".into(),
                receipt: Some(tampered),
            },
        ))
        .await
        .expect_err("tampered");
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "receipt.signature")
    );
    let err = c
        .purchase_coins(p.req(
            &viewer,
            Role::Viewer,
            pb::PurchaseCoinsRequest {
                idempotency_key: key(),
                package_id: "coins_1000".into(),
                receipt: Some(p.receipt("loop.coins_100", 99)),
            },
        ))
        .await
        .expect_err("wrong product");
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "receipt.receipt_data")
    );
    // The same key with another body.
    let err = c
        .purchase_coins(p.req(
            &viewer,
            Role::Viewer,
            pb::PurchaseCoinsRequest {
                idempotency_key: first_key,
                package_id: "coins_500".into(),
                receipt: Some(p.receipt("loop.coins_500", 479)),
            },
        ))
        .await
        .expect_err("key reuse");
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::AlreadyExists, "IDEMPOTENCY_KEY_REUSED")
    );

    // Payouts: zero, negative, below the minimum, over the daily cap, more than held.
    let payout = |amount: pb::request_payout_request::Amount| {
        p.req(
            &creator,
            Role::Creator,
            pb::RequestPayoutRequest {
                idempotency_key: key(),
                amount: Some(amount),
            },
        )
    };
    use pb::request_payout_request::Amount::{Cents, Diamonds};
    let err = c
        .request_payout(payout(Diamonds(0)))
        .await
        .expect_err("zero");
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "diamonds")
    );
    let err = c
        .request_payout(payout(Cents(-5)))
        .await
        .expect_err("negative");
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "cents")
    );
    let err = c
        .request_payout(payout(Diamonds(1999)))
        .await
        .expect_err("below minimum");
    assert_eq!(reason(&err), "BELOW_MINIMUM_PAYOUT", "{err:?}");
    let err = c
        .request_payout(payout(Diamonds(3000 + 2)))
        .await
        .expect_err("over the cap");
    assert_eq!(reason(&err), "DAILY_PAYOUT_CAP", "{err:?}");
    c.request_payout(payout(Diamonds(2000)))
        .await
        .expect("within the cap");
    let err = c
        .request_payout(payout(Diamonds(2000)))
        .await
        .expect_err("cap reached");
    assert_eq!(reason(&err), "DAILY_PAYOUT_CAP", "{err:?}");
    let err = c
        .request_payout(p.req(
            &viewer,
            Role::Viewer,
            pb::RequestPayoutRequest {
                idempotency_key: key(),
                amount: Some(Diamonds(2000)),
            },
        ))
        .await
        .expect_err("viewers cannot cash out");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = c
        .request_payout(p.req(
            &other_creator,
            Role::Creator,
            pb::RequestPayoutRequest {
                idempotency_key: key(),
                amount: Some(Diamonds(2000)),
            },
        ))
        .await
        .expect_err("nothing to cash out");
    assert_eq!(reason(&err), "INSUFFICIENT_FUNDS", "{err:?}");

    // A gift to a room that ended.
    p.end_live(&creator, &room).await;
    let err = c
        .send_gift(p.req(
            &viewer,
            Role::Viewer,
            gift_req(&key(), "rose", &creator, &room, 1),
        ))
        .await
        .expect_err("room ended");
    assert_eq!(reason(&err), "ROOM_NOT_LIVE", "{err:?}");

    // No money moved: the only changes are the one valid purchase and payout.
    let after = (
        p.balance(&viewer).await,
        p.balance(&creator).await,
        p.balance(&rich).await,
    );
    assert_eq!(
        after.0[0].0,
        before.0[0].0 + 100,
        "only the first use of the receipt credited"
    );
    assert_eq!(
        after.1[1],
        (before.1[1].0 - 2000, 2000),
        "only the valid payout moved diamonds"
    );
    assert_eq!(after.2, before.2);
    assert_eq!(p.balance(&minor).await, [(0, 0); 3]);
    assert!(p.reconcile().await.consistent);
}

#[tokio::test]
async fn retries_return_the_first_result_even_after_the_state_moved_on() {
    let p = Platform::start_with(|c| c.content.room_cache_ttl_ms = 0).await;
    let creator = p.creator().await;
    let viewer = p.seed_users(1, "1995-01-01", "viewer").await.remove(0);
    let room = p.go_live(&creator).await;
    p.buy(&viewer, "coins_100").await;
    let mut c = p.client();
    let k = key();
    let first = c
        .send_gift(p.req(
            &viewer,
            Role::Viewer,
            gift_req(&k, "doughnut", &creator, &room, 3),
        ))
        .await
        .expect("gift")
        .into_inner();
    assert_eq!(first.coins_balance, 10);
    // Now the viewer could not afford it, and the room ends: the retry still
    // gets the first result and nothing moves.
    p.end_live(&creator, &room).await;
    let retry = c
        .send_gift(p.req(
            &viewer,
            Role::Viewer,
            gift_req(&k, "doughnut", &creator, &room, 3),
        ))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(retry, first);
    // Concurrent duplicates of a new key: one transaction.
    p.buy(&viewer, "coins_100").await;
    let room2 = p.go_live(&creator).await;
    let k2 = key();
    let calls = (0..8).map(|_| {
        let mut c = p.client();
        let req = p.req(
            &viewer,
            Role::Viewer,
            gift_req(&k2, "rose", &creator, &room2, 5),
        );
        async move { c.send_gift(req).await.map(|r| r.into_inner()) }
    });
    let results = futures::future::join_all(calls).await;
    let ids: std::collections::HashSet<String> = results
        .into_iter()
        .map(|r| r.expect("duplicate").transaction_id)
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(p.balance(&viewer).await[0].0, 10 + 100 - 5);
    assert_eq!(p.balance(&creator).await[1].0, 90 + 5);
    let gifts: i64 = sqlx::query_scalar("SELECT count(*) FROM gifts")
        .fetch_one(&p.pool)
        .await
        .expect("count");
    assert_eq!(gifts, 2);
}

#[tokio::test]
async fn escrow_and_ad_budgets_are_internal_idempotent_and_balanced() {
    let p = Platform::start().await;
    let advertiser = p.seed_users(1, "1980-01-01", "advertiser").await.remove(0);
    let creator = p.creator().await;
    let mut c = p.client();
    let topped = c
        .top_up_cents(p.req(
            &advertiser,
            Role::Advertiser,
            pb::TopUpCentsRequest {
                idempotency_key: key(),
                amount_cents: 50_000,
                receipt: Some(p.receipt("loop.cents", 50_000)),
            },
        ))
        .await
        .expect("top up")
        .into_inner();
    assert_eq!(topped.cents_balance, 50_000);

    // Only the marketplace's service token may hold escrow.
    let hold = pb::HoldEscrowRequest {
        idempotency_key: key(),
        payer_id: advertiser.clone(),
        payee_id: creator.clone(),
        amount_cents: 20_000,
        reference: "marketplace:collaboration:1".into(),
    };
    for req in [
        p.req(&advertiser, Role::Advertiser, hold.clone()),
        p.req("service:ads-auction", Role::Service, hold.clone()),
        p.admin_req(hold.clone()),
    ] {
        let err = c.hold_escrow(req).await.expect_err("not the marketplace");
        assert_eq!(err.code(), Code::PermissionDenied);
    }
    let escrow = c
        .hold_escrow(p.req("service:creator-marketplace", Role::Service, hold.clone()))
        .await
        .expect("hold")
        .into_inner()
        .escrow
        .expect("escrow");
    let again = c
        .hold_escrow(p.req("service:creator-marketplace", Role::Service, hold.clone()))
        .await
        .expect("retry")
        .into_inner()
        .escrow
        .expect("escrow");
    assert_eq!(again, escrow, "a retry holds nothing more");
    assert_eq!(p.balance(&advertiser).await[2], (30_000, 20_000));
    let err = c
        .hold_escrow(p.req(
            "service:creator-marketplace",
            Role::Service,
            pb::HoldEscrowRequest {
                idempotency_key: key(),
                amount_cents: 40_000,
                ..hold.clone()
            },
        ))
        .await
        .expect_err("too much");
    assert_eq!(reason(&err), "INSUFFICIENT_FUNDS");
    let err = c
        .hold_escrow(p.req(
            "service:creator-marketplace",
            Role::Service,
            pb::HoldEscrowRequest {
                idempotency_key: key(),
                payee_id: advertiser.clone(),
                ..hold.clone()
            },
        ))
        .await
        .expect_err("self");
    assert_eq!(field(&err), "payee_id");
    // Readable by payer, payee, admins; not by others.
    let get = pb::GetEscrowRequest {
        escrow_id: escrow.escrow_id.clone(),
    };
    c.get_escrow(p.req(&creator, Role::Creator, get.clone()))
        .await
        .expect("payee reads");
    let err = c
        .get_escrow(p.req(&Uuid::now_v7().to_string(), Role::Viewer, get.clone()))
        .await
        .expect_err("stranger");
    assert_eq!(err.code(), Code::NotFound);
    // Release with a 15% fee; releasing again is ESCROW_NOT_HELD.
    let released = c
        .release_escrow(p.req(
            "service:creator-marketplace",
            Role::Service,
            pb::ReleaseEscrowRequest {
                idempotency_key: key(),
                escrow_id: escrow.escrow_id.clone(),
                platform_fee_bps: 1500,
            },
        ))
        .await
        .expect("release")
        .into_inner()
        .escrow
        .expect("escrow");
    assert_eq!(
        (released.platform_fee_cents, released.payee_cents),
        (3000, 17_000)
    );
    assert_eq!(p.balance(&creator).await[2], (17_000, 0));
    assert_eq!(p.balance(&advertiser).await[2], (30_000, 0));
    let err = c
        .refund_escrow(p.req(
            "service:creator-marketplace",
            Role::Service,
            pb::RefundEscrowRequest {
                idempotency_key: key(),
                escrow_id: escrow.escrow_id.clone(),
            },
        ))
        .await
        .expect_err("already released");
    assert_eq!(reason(&err), "ESCROW_NOT_HELD");
    // A refunded escrow returns everything.
    let second = c
        .hold_escrow(p.req(
            "service:creator-marketplace",
            Role::Service,
            pb::HoldEscrowRequest {
                idempotency_key: key(),
                amount_cents: 5_000,
                ..hold.clone()
            },
        ))
        .await
        .expect("hold")
        .into_inner()
        .escrow
        .expect("escrow");
    c.refund_escrow(p.req(
        "service:creator-marketplace",
        Role::Service,
        pb::RefundEscrowRequest {
            idempotency_key: key(),
            escrow_id: second.escrow_id,
        },
    ))
    .await
    .expect("refund");
    assert_eq!(p.balance(&advertiser).await[2], (30_000, 0));

    // Ad budgets: reserve 10,000; charge 4,000; charge 7,000 (1,000 written off); release refused, then 0 left.
    let campaign = Uuid::now_v7().to_string();
    let err = c
        .reserve_ad_budget(p.req(
            "service:creator-marketplace",
            Role::Service,
            pb::ReserveAdBudgetRequest {
                idempotency_key: key(),
                advertiser_id: advertiser.clone(),
                campaign_id: campaign.clone(),
                amount_cents: 10_000,
            },
        ))
        .await
        .expect_err("marketplace is not ads");
    assert_eq!(err.code(), Code::PermissionDenied);
    let reserve_key = key();
    let reserve = pb::ReserveAdBudgetRequest {
        idempotency_key: reserve_key,
        advertiser_id: advertiser.clone(),
        campaign_id: campaign.clone(),
        amount_cents: 10_000,
    };
    let r = c
        .reserve_ad_budget(p.req("service:ads-auction", Role::Service, reserve.clone()))
        .await
        .expect("reserve")
        .into_inner();
    assert_eq!(r.reserved_cents, 10_000);
    let r2 = c
        .reserve_ad_budget(p.req("service:ads-auction", Role::Service, reserve))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(r2, r);
    let charge = |k: String, amount| {
        p.req(
            "service:ads-auction",
            Role::Service,
            pb::ChargeAdSpendRequest {
                idempotency_key: k,
                advertiser_id: advertiser.clone(),
                campaign_id: campaign.clone(),
                amount_cents: amount,
            },
        )
    };
    let settle_key = format!("settle:{campaign}:42");
    let first = c
        .charge_ad_spend(charge(settle_key.clone(), 4_000))
        .await
        .expect("charge")
        .into_inner();
    assert_eq!(
        (
            first.charged_cents,
            first.written_off_cents,
            first.reserved_cents
        ),
        (4_000, 0, 6_000)
    );
    let replay = c
        .charge_ad_spend(charge(settle_key, 4_000))
        .await
        .expect("charge retry")
        .into_inner();
    assert_eq!(replay, first, "a retried settlement charges once");
    let over = c
        .charge_ad_spend(charge(key(), 7_000))
        .await
        .expect("overspend")
        .into_inner();
    assert_eq!(
        (
            over.charged_cents,
            over.written_off_cents,
            over.reserved_cents
        ),
        (6_000, 1_000, 0)
    );
    let err = c
        .release_ad_budget(p.req(
            "service:ads-auction",
            Role::Service,
            pb::ReleaseAdBudgetRequest {
                idempotency_key: key(),
                advertiser_id: advertiser.clone(),
                campaign_id: campaign.clone(),
                amount_cents: 1,
            },
        ))
        .await
        .expect_err("nothing left");
    assert_eq!(reason(&err), "INSUFFICIENT_FUNDS");
    let err = c
        .charge_ad_spend(p.req(
            "service:ads-auction",
            Role::Service,
            pb::ChargeAdSpendRequest {
                idempotency_key: key(),
                advertiser_id: advertiser.clone(),
                campaign_id: Uuid::now_v7().to_string(),
                amount_cents: 5,
            },
        ))
        .await
        .expect_err("no reserve");
    assert_eq!(err.code(), Code::NotFound);
    // Reserve and release give the cents back.
    let other = Uuid::now_v7().to_string();
    c.reserve_ad_budget(p.req(
        "service:ads-auction",
        Role::Service,
        pb::ReserveAdBudgetRequest {
            idempotency_key: key(),
            advertiser_id: advertiser.clone(),
            campaign_id: other.clone(),
            amount_cents: 2_500,
        },
    ))
    .await
    .expect("reserve");
    let released = c
        .release_ad_budget(p.req(
            "service:ads-auction",
            Role::Service,
            pb::ReleaseAdBudgetRequest {
                idempotency_key: key(),
                advertiser_id: advertiser.clone(),
                campaign_id: other,
                amount_cents: 2_000,
            },
        ))
        .await
        .expect("release")
        .into_inner();
    assert_eq!(released.reserved_cents, 500);
    assert_eq!(
        p.balance(&advertiser).await[2],
        (30_000 - 10_000 - 500, 500)
    );
    assert!(p.reconcile().await.consistent);

    let events = wallet_events(&p).await;
    let budget: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::AdBudgetChanged(b)) => Some(b.kind),
            _ => None,
        })
        .collect();
    assert_eq!(
        budget.len(),
        5,
        "reserve, 2 charges, reserve, release: {budget:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e.payload, Some(Payload::EscrowHeld(_))))
            .count(),
        2
    );
}

#[tokio::test]
async fn leaderboards_rank_gifters_and_creators_and_rebuild_from_the_ledger() {
    let p = Platform::start().await;
    let creators = [p.creator().await, p.creator().await];
    let viewers = p.seed_users(3, "1990-01-01", "viewer").await;
    let room = p.go_live(&creators[0]).await;
    let video = p.publish_video(&creators[1]).await;
    let mut c = p.client();
    for v in &viewers {
        p.buy(v, "coins_1000").await;
    }
    // Room: viewer0 100, viewer1 200, viewer2 100 (tie with viewer0).
    for (v, count) in [(0, 1), (1, 2), (2, 1)] {
        c.send_gift(p.req(
            &viewers[v],
            Role::Viewer,
            gift_req(&key(), "hand_hearts", &creators[0], &room, count),
        ))
        .await
        .expect("gift");
    }
    // Video: 500 diamonds for creator 1 (creator 0 gets 400 in the room).
    c.send_gift(p.req(
        &viewers[0],
        Role::Viewer,
        pb::SendGiftRequest {
            idempotency_key: key(),
            gift_id: "money_gun".into(),
            recipient_id: creators[1].clone(),
            target: Some(pb::send_gift_request::Target::VideoId(video)),
            count: 1,
        },
    ))
    .await
    .expect("gift");

    let read = || async {
        let board = p
            .client()
            .get_room_leaderboard(p.req(
                &viewers[0],
                Role::Viewer,
                pb::GetRoomLeaderboardRequest {
                    live_room_id: room.clone(),
                    limit: 0,
                },
            ))
            .await
            .expect("board")
            .into_inner();
        let top = p
            .client()
            .get_top_creators(p.req(
                &viewers[0],
                Role::Viewer,
                pb::GetTopCreatorsRequest::default(),
            ))
            .await
            .expect("top")
            .into_inner();
        (board, top)
    };
    let (board, top) = testing::wait_for("boards projected", Duration::from_secs(30), || async {
        let (board, top) = read().await;
        (board.entries.len() == 3 && top.entries.len() == 2).then_some((board, top))
    })
    .await;
    let ranks: Vec<(String, u32, i64)> = board
        .entries
        .iter()
        .map(|e| (e.user_id.clone(), e.rank, e.score))
        .collect();
    assert_eq!(ranks[0], (viewers[1].clone(), 1, 200));
    assert_eq!(
        (ranks[1].1, ranks[1].2, ranks[2].1, ranks[2].2),
        (2, 100, 2, 100),
        "ties share a rank"
    );
    let me = board.caller_entry.expect("caller entry");
    assert_eq!((me.rank, me.score), (2, 100));
    assert_eq!(top.entries[0].user_id, creators[1]);
    assert_eq!(top.entries[0].score, 500);
    assert_eq!(top.entries[1].score, 400);

    // Redis loses everything: the boards come back from the ledger.
    testing::clear_redis(&p.config.redis).await;
    let (board2, top2) = testing::wait_for("boards rebuilt", Duration::from_secs(30), || async {
        let (board, top) = read().await;
        (board.entries.len() == 3 && top.entries.len() == 2).then_some((board, top))
    })
    .await;
    assert_eq!(board2.entries, board.entries);
    assert_eq!(top2.entries, top.entries);

    let err = p
        .client()
        .get_top_creators(p.req(
            &viewers[0],
            Role::Viewer,
            pb::GetTopCreatorsRequest {
                date: "2999-01-01".into(),
                limit: 5,
            },
        ))
        .await
        .expect_err("future");
    assert_eq!(field(&err), "date");
    let err = p
        .client()
        .get_room_leaderboard(p.req(
            &viewers[0],
            Role::Viewer,
            pb::GetRoomLeaderboardRequest {
                live_room_id: room.clone(),
                limit: 101,
            },
        ))
        .await
        .expect_err("limit");
    assert_eq!(field(&err), "limit");
}

/// A minimal journal reader: checks what hledger's `check balanced
/// assertions` checks, for the subset of the format the export writes.
fn check_journal(text: &str) -> (usize, usize) {
    let mut balances: HashMap<(String, String), i64> = HashMap::new();
    let mut transactions = 0;
    let mut assertions = 0;
    let mut current: HashMap<String, i64> = HashMap::new();
    let finish = |current: &mut HashMap<String, i64>| {
        for (commodity, sum) in current.drain() {
            assert_eq!(sum, 0, "a transaction does not balance in {commodity}");
        }
    };
    for line in text.lines() {
        if line.starts_with(';') || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            finish(&mut current);
            transactions += 1;
            assert!(
                line.as_bytes()[..10].iter().filter(|b| **b == b'-').count() == 2,
                "date: {line}"
            );
            continue;
        }
        let line = line.trim();
        let (account, rest) = line.split_once("  ").expect("account and amount");
        let (amount, assertion) = rest.trim().split_once(" = ").expect("balance assertion");
        let (qty, commodity) = amount.split_once(' ').expect("amount");
        let qty: i64 = qty.parse().expect("integer amount");
        *current.entry(commodity.to_owned()).or_insert(0) += qty;
        let bal = balances
            .entry((account.to_owned(), commodity.to_owned()))
            .or_insert(0);
        *bal += qty;
        let (asserted, asserted_commodity) = assertion.split_once(' ').expect("assertion amount");
        assert_eq!(asserted_commodity, commodity);
        assert_eq!(
            asserted.parse::<i64>().expect("integer"),
            *bal,
            "assertion of {account}"
        );
        assertions += 1;
    }
    finish(&mut current);
    (transactions, assertions)
}

#[tokio::test]
async fn the_journal_export_balances_and_asserts_every_stored_balance() {
    let p = Platform::start().await;
    let creator = p.creator().await;
    let viewer = p.seed_users(1, "1990-01-01", "viewer").await.remove(0);
    let room = p.go_live(&creator).await;
    p.buy(&viewer, "coins_1000").await;
    for _ in 0..3 {
        p.client()
            .send_gift(p.req(
                &viewer,
                Role::Viewer,
                gift_req(&key(), "corgi", &creator, &room, 1),
            ))
            .await
            .expect("gift");
    }
    let db = p.pool.clone();
    let mut out: Vec<u8> = Vec::new();
    let summary = loop_wallet::reconcile::export_journal(&db, &mut out, &|_, _| {})
        .await
        .expect("export");
    let text = String::from_utf8(out).expect("utf8");
    assert_eq!(summary.transactions, 4);
    let (transactions, assertions) = check_journal(&text);
    assert_eq!(
        transactions, 5,
        "4 transactions and the stored-balances check"
    );
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts")
        .fetch_one(&db)
        .await
        .expect("n");
    assert_eq!(
        assertions as u64,
        summary.postings + u64::try_from(accounts).expect("n")
    );
    assert!(text.contains(&format!("user:{viewer}")));
    // A standard tool agrees, when one is installed.
    if let Ok(path) = which("hledger") {
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

fn which(tool: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(tool))
                .find(|p| p.is_file())
        })
        .ok_or(())
}
