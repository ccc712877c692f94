//! Escrow and ad budgets: the internal rpcs other services call.

use super::*;

/// A request from ads-auction's service identity.
fn as_ads<T>(p: &Platform, msg: T) -> tonic::Request<T> {
    p.req("service:ads-auction", Role::Service, msg)
}

/// A request from the marketplace's service identity.
fn as_market<T>(p: &Platform, msg: T) -> tonic::Request<T> {
    p.req("service:creator-marketplace", Role::Service, msg)
}

/// An advertiser with 50,000 cents in the wallet.
async fn funded_advertiser(p: &Platform) -> String {
    let advertiser = p
        .seed_users(1, "1980-01-01", Role::Advertiser)
        .await
        .remove(0);
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
    advertiser
}

#[tokio::test]
async fn escrow_is_the_marketplaces_to_hold_release_once_and_refund_whole() {
    let p = Platform::start().await;
    let advertiser = funded_advertiser(&p).await;
    let creator = p.creator().await;
    let mut c = p.client();

    // Only the marketplace's service token may hold escrow.
    let hold = pb::HoldEscrowRequest {
        idempotency_key: key(),
        payer_id: advertiser.clone(),
        payee_id: creator.clone(),
        amount_cents: 20_000,
        reference: "marketplace:collaboration:1".into(),
        receipt: None,
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
        .hold_escrow(as_market(&p, hold.clone()))
        .await
        .expect("hold")
        .into_inner()
        .escrow
        .expect("escrow");
    let again = c
        .hold_escrow(as_market(&p, hold.clone()))
        .await
        .expect("retry")
        .into_inner()
        .escrow
        .expect("escrow");
    assert_eq!(again, escrow, "a retry holds nothing more");
    assert_eq!(p.balance(&advertiser).await[2], (30_000, 20_000));
    let err = c
        .hold_escrow(as_market(
            &p,
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
        .hold_escrow(as_market(
            &p,
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
        .release_escrow(as_market(
            &p,
            pb::ReleaseEscrowRequest {
                idempotency_key: key(),
                escrow_id: escrow.escrow_id.clone(),
                platform_fee_bps: 1500,
                split: None,
                keep_cents: 0,
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
        .refund_escrow(as_market(
            &p,
            pb::RefundEscrowRequest {
                idempotency_key: key(),
                escrow_id: escrow.escrow_id.clone(),
                amount_cents: 0,
            },
        ))
        .await
        .expect_err("already released");
    assert_eq!(reason(&err), "ESCROW_NOT_HELD");
    // A refunded escrow returns everything.
    let second = c
        .hold_escrow(as_market(
            &p,
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
    c.refund_escrow(as_market(
        &p,
        pb::RefundEscrowRequest {
            idempotency_key: key(),
            escrow_id: second.escrow_id,
            amount_cents: 0,
        },
    ))
    .await
    .expect("refund");
    assert_eq!(p.balance(&advertiser).await[2], (30_000, 0));

    assert!(p.reconcile().await.consistent);

    let events = wallet_events(&p).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e.payload, Some(Payload::EscrowHeld(_))))
            .count(),
        2
    );
}

#[tokio::test]
async fn ad_budgets_are_ads_auctions_to_reserve_charge_once_and_release() {
    let p = Platform::start().await;
    let advertiser = funded_advertiser(&p).await;
    let mut c = p.client();

    // Reserve 10,000; charge 4,000; charge 7,000 (1,000 written off); release refused, then 0 left.
    let campaign = Uuid::now_v7().to_string();
    let reserve = pb::ReserveAdBudgetRequest {
        idempotency_key: key(),
        advertiser_id: advertiser.clone(),
        campaign_id: campaign.clone(),
        amount_cents: 10_000,
    };
    let by_market = pb::ReserveAdBudgetRequest {
        idempotency_key: key(),
        ..reserve.clone()
    };
    let err = c
        .reserve_ad_budget(as_market(&p, by_market))
        .await
        .expect_err("marketplace is not ads");
    assert_eq!(err.code(), Code::PermissionDenied);
    let r = c
        .reserve_ad_budget(as_ads(&p, reserve.clone()))
        .await
        .expect("reserve")
        .into_inner();
    assert_eq!(r.reserved_cents, 10_000);
    let r2 = c
        .reserve_ad_budget(as_ads(&p, reserve))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(r2, r);
    let charge = |k: String, amount| {
        as_ads(
            &p,
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
        .release_ad_budget(as_ads(
            &p,
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
    let unreserved = pb::ChargeAdSpendRequest {
        campaign_id: Uuid::now_v7().to_string(),
        ..charge(key(), 5).into_inner()
    };
    let err = c
        .charge_ad_spend(as_ads(&p, unreserved))
        .await
        .expect_err("no reserve");
    assert_eq!(err.code(), Code::NotFound);
    // Reserve and release give the cents back.
    let other = Uuid::now_v7().to_string();
    c.reserve_ad_budget(as_ads(
        &p,
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
        .release_ad_budget(as_ads(
            &p,
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
        (50_000 - 10_000 - 500, 500)
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
}
