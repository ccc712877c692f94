//! Follows: nobody follows themselves, a second follow changes nothing.

use super::*;

#[tokio::test]
async fn nobody_follows_themselves_or_twice() {
    let h = Harness::start().await;
    let creator = h.sign_up("carol", R::Creator).await;
    let viewer = h.sign_up("victor", R::Viewer).await;
    let mut c = h.client.clone();
    let err = c
        .follow(h.req(
            &viewer,
            pb::FollowRequest {
                creator_id: viewer.user_id.clone(),
            },
        ))
        .await
        .expect_err("self");
    assert_eq!(
        loop_platform::error::status_field(&err).as_deref(),
        Some("creator_id")
    );
    c.follow(h.req(
        &viewer,
        pb::FollowRequest {
            creator_id: creator.user_id.clone(),
        },
    ))
    .await
    .expect("follow");
    let err = c
        .follow(h.req(
            &viewer,
            pb::FollowRequest {
                creator_id: creator.user_id.clone(),
            },
        ))
        .await
        .expect_err("twice");
    assert_eq!(err.code(), Code::AlreadyExists);
    let me = c
        .get_user(h.req(
            &creator,
            pb::GetUserRequest {
                key: Some(pb::get_user_request::Key::UserId(creator.user_id.clone())),
            },
        ))
        .await
        .expect("me")
        .into_inner();
    assert_eq!(
        me.user.expect("user").follower_count,
        1,
        "the duplicate follow counted nothing"
    );
}
