//! Shoppable content against the real content service: a creator anchors
//! up to 3 approved products to their own video (not to someone else's),
//! the product page lists the video; the host of an open LIVE room fills
//! its bag and pins one product at a time, everyone reads the pin, and
//! `LiveProductPinned` goes out; visits from the video or room attribute a
//! checkout to that creator.

use loop_testkit::fixtures::{Content, NewUser};

use super::*;

impl Platform {
    pub(crate) async fn creator(&self) -> String {
        let fx = self.sandbox.content_fixture();
        let id = fx
            .sign_up(NewUser {
                role: Role::Creator,
                ..NewUser::default()
            })
            .await
            .user_id;
        fx.make_creator(&id, "home").await;
        id
    }
}

#[tokio::test]
async fn creators_anchor_products_to_their_videos_and_sell_from_them() {
    let p = Platform::start().await;
    let fx = p.sandbox.content_fixture();
    let l = p.listing(&[("Mug", 1_500, 10)]).await;
    p.c()
        .set_affiliate_rate(p.req(
            &l.seller,
            Role::Creator,
            pb::SetAffiliateRateRequest {
                product_id: l.product.product_id.clone(),
                rate_bps: 1_000,
            },
        ))
        .await
        .expect("10%");
    let extra: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(p.listing(&[("X", 100, 1)]).await.product.product_id);
        }
        v
    };
    let creator = p.creator().await;
    let other = p.creator().await;
    let video = fx.publish_video(&creator, Content::video("my mug")).await;
    let anchor = |who: &str, ids: Vec<String>| {
        let mut c = p.c();
        let req = p.req(
            who,
            Role::Creator,
            pb::SetVideoProductsRequest {
                video_id: video.clone(),
                product_ids: ids,
            },
        );
        async move { c.set_video_products(req).await }
    };
    // Four is too many; someone else's video is refused; an unknown product
    // is named.
    let four = vec![
        l.product.product_id.clone(),
        extra[0].clone(),
        extra[1].clone(),
        extra[2].clone(),
    ];
    let err = anchor(&creator, four).await.expect_err("four");
    assert_eq!(field(&err), "product_ids");
    let err = anchor(&other, vec![l.product.product_id.clone()])
        .await
        .expect_err("not theirs");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = anchor(&creator, vec![user()]).await.expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound);
    let set = anchor(
        &creator,
        vec![l.product.product_id.clone(), extra[0].clone()],
    )
    .await
    .expect("two anchors")
    .into_inner();
    assert_eq!(set.products.len(), 2);
    let listed = p
        .c()
        .list_video_products(p.req(
            &user(),
            Role::Viewer,
            pb::ListVideoProductsRequest {
                video_id: video.clone(),
            },
        ))
        .await
        .expect("video products")
        .into_inner();
    assert_eq!(listed.products[0].product_id, l.product.product_id);
    let features = p
        .c()
        .list_product_features(p.req(
            &user(),
            Role::Viewer,
            pb::ListProductFeaturesRequest {
                product_id: l.product.product_id.clone(),
            },
        ))
        .await
        .expect("features")
        .into_inner();
    assert_eq!(
        features
            .videos
            .iter()
            .map(|v| (v.id.as_str(), v.creator_id.as_str()))
            .collect::<Vec<_>>(),
        [(video.as_str(), creator.as_str())]
    );

    // A visit from the video attributes the order; claiming the video for
    // another creator does not.
    let buyer = user();
    let visit = |who: &str, source_id: &str| {
        let mut c = p.c();
        let req = p.req(
            &buyer,
            Role::Viewer,
            pb::RecordReferralRequest {
                product_id: l.product.product_id.clone(),
                creator_id: who.into(),
                source: pb::ReferralSource::Video as i32,
                source_id: source_id.into(),
            },
        );
        async move { c.record_referral(req).await }
    };
    let err = visit(&other, &video).await.expect_err("not their video");
    assert_eq!(reason(&err), "NOT_FEATURED");
    let err = visit(&creator, "nope").await.expect_err("not an id");
    assert_eq!(field(&err), "source_id");
    visit(&creator, &video).await.expect("from the video");
    let order = p.paid_order(&l, &buyer, 2).await;
    assert_eq!(
        (order.affiliate_id.as_str(), order.commission_cents),
        (creator.as_str(), 300)
    );
    // Anchors replaced: an empty list removes them.
    anchor(&creator, vec![]).await.expect("clear");
    let err = visit(&creator, &video)
        .await
        .expect_err("no longer anchored");
    assert_eq!(reason(&err), "NOT_FEATURED");
}

#[tokio::test]
async fn the_host_pins_one_product_of_the_bag_and_everyone_sees_it() {
    let p = Platform::start().await;
    let fx = p.sandbox.content_fixture();
    let a = p.listing(&[("A", 700, 5)]).await;
    let b = p.listing(&[("B", 900, 5)]).await;
    let host = p.creator().await;
    let guest = p.creator().await;
    let room = fx.go_live(&host, "shop with me").await;
    let add = |who: &str, product: &str| {
        let mut c = p.c();
        let req = p.req(
            who,
            Role::Creator,
            pb::AddToLiveBagRequest {
                room_id: room.clone(),
                product_id: product.into(),
            },
        );
        async move { c.add_to_live_bag(req).await }
    };
    let pin = |who: &str, product: &str| {
        let mut c = p.c();
        let req = p.req(
            who,
            Role::Creator,
            pb::PinLiveProductRequest {
                room_id: room.clone(),
                product_id: product.into(),
            },
        );
        async move { c.pin_live_product(req).await }
    };
    let err = add(&guest, &a.product.product_id)
        .await
        .expect_err("not the host");
    assert_eq!(err.code(), Code::PermissionDenied);
    add(&host, &a.product.product_id).await.expect("a");
    add(&host, &b.product.product_id).await.expect("b");
    // Only what is in the bag can be pinned.
    let c = p.listing(&[("C", 100, 1)]).await;
    let err = pin(&host, &c.product.product_id)
        .await
        .expect_err("not in the bag");
    assert_eq!(reason(&err), "NOT_FEATURED");
    pin(&host, &a.product.product_id).await.expect("pin a");
    let bag = pin(&host, &b.product.product_id)
        .await
        .expect("pin b")
        .into_inner()
        .bag
        .expect("bag");
    assert_eq!(bag.products.len(), 2);
    // A viewer reads the same pin: one product at a time, the last one.
    let seen = p
        .c()
        .get_live_bag(p.req(
            &user(),
            Role::Viewer,
            pb::GetLiveBagRequest {
                room_id: room.clone(),
            },
        ))
        .await
        .expect("bag")
        .into_inner()
        .bag
        .expect("bag");
    assert_eq!(
        seen.pinned.map(|p| p.product_id),
        Some(b.product.product_id.clone())
    );
    // A visit from the room attributes to the host.
    p.c()
        .set_affiliate_rate(p.req(
            &b.seller,
            Role::Creator,
            pb::SetAffiliateRateRequest {
                product_id: b.product.product_id.clone(),
                rate_bps: 500,
            },
        ))
        .await
        .expect("5%");
    let buyer = user();
    p.c()
        .record_referral(p.req(
            &buyer,
            Role::Viewer,
            pb::RecordReferralRequest {
                product_id: b.product.product_id.clone(),
                creator_id: host.clone(),
                source: pb::ReferralSource::Live as i32,
                source_id: room.clone(),
            },
        ))
        .await
        .expect("from the LIVE");
    let order = p.paid_order(&b, &buyer, 1).await;
    assert_eq!(
        (order.affiliate_id.as_str(), order.commission_cents),
        (host.as_str(), 45)
    );
    let pins: Vec<String> = p
        .events()
        .await
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::LiveProductPinned(x)) if x.room_id == room => Some(x.product_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        pins,
        [a.product.product_id.clone(), b.product.product_id.clone()]
    );
    // After the LIVE ends the bag no longer changes.
    fx.end_live(&host, &room).await;
    let err = pin(&host, &a.product.product_id).await.expect_err("ended");
    assert_eq!(reason(&err), "ROOM_NOT_LIVE");
}
