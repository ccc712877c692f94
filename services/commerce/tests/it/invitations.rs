//! Invitations: a seller invites a chosen creator to a product that is not
//! open to all affiliates, at a rate of their own; the creator accepts (or
//! declines); an accepted invitation lets them feature it and earn the
//! invited rate, also once the product is open to all at another rate.
//! Bad input names the field or the rule and changes nothing.

use super::*;

#[tokio::test]
async fn an_invited_creator_features_a_closed_product_and_earns_the_invited_rate() {
    let p = Platform::start().await;
    let l = p.listing(&[("Blue", 2_000, 20)]).await;
    let product = l.product.product_id.clone();
    let (invited, other, buyer) = (user(), user(), user());
    let invite = |subject: &str, creator: &str, rate_bps: u32| {
        let mut c = p.c();
        let req = p.req(
            subject,
            Role::Creator,
            pb::InviteCreatorRequest {
                product_id: product.clone(),
                creator_id: creator.into(),
                rate_bps,
                message: "Love your channel".into(),
            },
        );
        async move { c.invite_creator(req).await }
    };
    for (bad, f) in [(50, "rate_bps"), (8_001, "rate_bps")] {
        let err = invite(&l.seller, &invited, bad).await.expect_err("rate");
        assert_eq!(field(&err), f);
    }
    let err = invite(&l.seller, &l.seller, 2_500).await.expect_err("self");
    assert_eq!(field(&err), "creator_id");
    let err = invite(&other, &invited, 2_500)
        .await
        .expect_err("not the seller");
    assert_eq!(err.code(), Code::PermissionDenied);

    // Not open to affiliates and not yet accepted: nobody features it.
    let err = p
        .c()
        .add_to_showcase(p.req(
            &invited,
            Role::Creator,
            pb::AddToShowcaseRequest {
                product_id: product.clone(),
            },
        ))
        .await
        .expect_err("not invited yet");
    assert_eq!(reason(&err), "NOT_OPEN_TO_AFFILIATES");

    let sent = invite(&l.seller, &invited, 2_500)
        .await
        .expect("invite at 25%")
        .into_inner()
        .invitation
        .expect("invitation");
    assert_eq!(
        (sent.status, sent.rate_bps, sent.product_title.as_str()),
        (pb::InvitationStatus::Pending as i32, 2_500, "Ceramic mug")
    );
    let list = |subject: &str, sent: bool| {
        let mut c = p.c();
        let req = p.req(
            subject,
            Role::Creator,
            pb::ListInvitationsRequest { sent, page: None },
        );
        async move {
            c.list_invitations(req)
                .await
                .expect("list")
                .into_inner()
                .invitations
        }
    };
    assert_eq!(list(&invited, false).await, vec![sent.clone()]);
    assert_eq!(list(&l.seller, true).await, vec![sent.clone()]);
    assert!(list(&other, false).await.is_empty());

    let answer = |subject: &str, accept: bool| {
        let mut c = p.c();
        let req = p.req(
            subject,
            Role::Creator,
            pb::AnswerInvitationRequest {
                invitation_id: sent.invitation_id.clone(),
                accept,
            },
        );
        async move { c.answer_invitation(req).await }
    };
    let err = answer(&other, true).await.expect_err("not theirs");
    assert_eq!(err.code(), Code::NotFound);
    let accepted = answer(&invited, true)
        .await
        .expect("accept")
        .into_inner()
        .invitation
        .expect("invitation");
    assert_eq!(accepted.status, pb::InvitationStatus::Accepted as i32);
    answer(&invited, true)
        .await
        .expect("accepting again: no-op");
    let err = answer(&invited, false).await.expect_err("answered");
    assert_eq!(reason(&err), "INVALID_TRANSITION");

    // Accepted: featured, a visit from the showcase attributes the order at 25%.
    p.showcase(&invited, &product).await;
    // The creator's own showcase shows the rate they earn; anyone else's
    // view of it does not (the invited rate is the seller's and theirs).
    let rates = |viewer: String| {
        let (p, invited) = (&p, invited.clone());
        async move {
            p.c()
                .list_showcase(p.req(
                    &viewer,
                    Role::Viewer,
                    pb::ListShowcaseRequest {
                        creator_id: invited,
                        page: None,
                    },
                ))
                .await
                .expect("showcase")
                .into_inner()
                .items
                .iter()
                .map(|i| i.rate_bps)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(rates(invited.clone()).await, [2_500]);
    assert_eq!(rates(user()).await, [0]);
    p.visit(&buyer, &product, &invited)
        .await
        .expect("visit from the invited creator");
    let order = p.paid_order(&l, &buyer, 2).await;
    assert_eq!(
        (
            order.affiliate_id.as_str(),
            order.items[0].affiliate_rate_bps,
            order.commission_cents
        ),
        (invited.as_str(), 2_500, 1_000)
    );
    // An uninvited creator still cannot feature it.
    let err = p
        .c()
        .add_to_showcase(p.req(
            &other,
            Role::Creator,
            pb::AddToShowcaseRequest {
                product_id: product.clone(),
            },
        ))
        .await
        .expect_err("not invited");
    assert_eq!(reason(&err), "NOT_OPEN_TO_AFFILIATES");

    // Opened to all at 10%: others earn 10%, the invited creator keeps 25%.
    p.c()
        .set_affiliate_rate(p.req(
            &l.seller,
            Role::Creator,
            pb::SetAffiliateRateRequest {
                product_id: product.clone(),
                rate_bps: 1_000,
            },
        ))
        .await
        .expect("open at 10%");
    p.showcase(&other, &product).await;
    let second_buyer = user();
    p.visit(&second_buyer, &product, &other)
        .await
        .expect("visit");
    let open = p.paid_order(&l, &second_buyer, 1).await;
    assert_eq!(
        (open.affiliate_id.as_str(), open.items[0].affiliate_rate_bps),
        (other.as_str(), 1_000)
    );
    p.clock().advance(Duration::from_secs(60));
    p.visit(&buyer, &product, &invited).await.expect("visit");
    let again = p.paid_order(&l, &buyer, 1).await;
    assert_eq!(
        (
            again.affiliate_id.as_str(),
            again.items[0].affiliate_rate_bps
        ),
        (invited.as_str(), 2_500)
    );

    // Closed again and the invitation withdrawn: it leaves the showcase,
    // and visits are refused.
    p.c()
        .set_affiliate_rate(p.req(
            &l.seller,
            Role::Creator,
            pb::SetAffiliateRateRequest {
                product_id: product.clone(),
                rate_bps: 0,
            },
        ))
        .await
        .expect("close");
    let withdrawn = invite(&l.seller, &invited, 0)
        .await
        .expect("withdraw")
        .into_inner()
        .invitation
        .expect("invitation");
    assert_eq!(withdrawn.status, pb::InvitationStatus::Withdrawn as i32);
    let showcase = p
        .c()
        .list_showcase(p.req(
            &invited,
            Role::Creator,
            pb::ListShowcaseRequest {
                creator_id: String::new(),
                page: None,
            },
        ))
        .await
        .expect("showcase")
        .into_inner();
    assert!(showcase.items.is_empty(), "{showcase:?}");
    let err = p
        .visit(&user(), &product, &invited)
        .await
        .expect_err("withdrawn");
    assert_eq!(reason(&err), "NOT_OPEN_TO_AFFILIATES");
}
