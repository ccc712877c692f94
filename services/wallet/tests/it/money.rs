//! Buying, gifting and cashing out, every step on the books.

use super::*;

#[tokio::test]
async fn buy_gift_cash_out_and_every_step_is_on_the_books() {
    let p = Platform::start().await;
    let creator = p.creator().await;
    let viewer = p.seed_users(1, "1995-01-01", Role::Viewer).await.remove(0);
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
