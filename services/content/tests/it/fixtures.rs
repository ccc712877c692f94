//! The test kit's content fixtures, which other services' tests seed their
//! users with, do what they say through these rpcs.

use loop_testkit::Sandbox;
use loop_testkit::fixtures::Content;

use super::*;

#[tokio::test]
async fn the_test_kit_seeds_users_creators_videos_follows_and_rooms() {
    let sandbox = Sandbox::builder().name("fixtures").content().start().await;
    let content = sandbox.content_fixture();
    let mut c = content.client();
    let user = |id: &str| pb::GetUserRequest {
        key: Some(pb::get_user_request::Key::UserId(id.into())),
    };

    let maker = content.create_user("fixture_maker").await;
    let fans = content.seed(3, "2000-02-02", Role::Viewer).await;
    assert_eq!(fans.len(), 3);
    assert!(fans.iter().all(|f| f != &maker) && fans[0] != fans[1] && fans[1] != fans[2]);
    let fan = c
        .get_user(content.request(&fans[0], Role::Viewer, user(&fans[0])))
        .await
        .expect("fan")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(fan.role, R::Viewer as i32);
    assert_eq!(
        fan.birth_date, "2000-02-02",
        "the user sees their own birth date"
    );

    let creator = content.make_creator(&maker, "dance").await;
    assert_eq!(creator.handle, "fixture_maker");
    assert_eq!(creator.role, R::Creator as i32);
    assert_eq!(creator.creator.expect("creator profile").category, "dance");
    let video = content
        .publish_video(&maker, Content::video("fixture video #fixtures"))
        .await;
    let got = c
        .get_video(content.request(
            &fans[0],
            Role::Viewer,
            pb::GetVideoRequest {
                video_id: video.clone(),
            },
        ))
        .await
        .expect("video")
        .into_inner()
        .video
        .expect("video");
    assert_eq!(
        (got.creator_id, got.hashtags),
        (maker.clone(), vec!["fixtures".into()])
    );

    for fan in &fans {
        content.follow(fan, &maker).await;
    }
    let followed = c
        .get_user(content.request(&fans[0], Role::Viewer, user(&maker)))
        .await
        .expect("creator")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(followed.follower_count, 3);

    let room_id = content.go_live(&maker, "fixture live").await;
    let open = room(&content, &fans[0], &room_id).await;
    assert!(open.open && open.creator_id == maker && open.title == "fixture live");
    content.end_live(&maker, &room_id).await;
    let ended = room(&content, &fans[0], &room_id).await;
    assert!(!ended.open, "ended rooms are closed");
}

async fn room(content: &Content, viewer: &str, room_id: &str) -> pb::LiveRoom {
    content
        .client()
        .get_live_room(content.request(
            viewer,
            Role::Viewer,
            pb::GetLiveRoomRequest {
                room_id: room_id.into(),
            },
        ))
        .await
        .expect("room")
        .into_inner()
        .room
        .expect("room")
}
