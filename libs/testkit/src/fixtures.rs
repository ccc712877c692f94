//! Test data seeded through the services' own rpcs, the way a client or the
//! gateway would create it: no test writes another service's tables, so the
//! data always passes the owner's validation and emits the owner's events.

use std::time::Duration;

use futures::StreamExt;
use loop_platform::auth::Role;
use loop_platform::testing::TestKeys;
use loop_proto::common::v1 as common;
use loop_proto::content::v1 as pb;
use loop_proto::content::v1::content_service_client::ContentServiceClient;
use tonic::transport::Channel;

/// The password of every seeded user (8..128 chars, as sign-up requires).
pub const PASSWORD: &str = "correct horse battery";

/// How long one fixture call may take on a loaded test machine.
const DEADLINE: Duration = Duration::from_secs(30);

/// Users seeded at once by [`Content::seed`]: each sign-up hashes a password,
/// which the content service bounds by its cores anyway.
const SIGN_UPS_IN_FLIGHT: usize = 8;

/// A user to sign up: an adult viewer in the US unless told otherwise.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// 3..24 chars of `[a-z0-9_.]`; a unique one when `None`.
    pub handle: Option<String>,
    /// `YYYY-MM-DD`, at least 13 years ago.
    pub birth_date: String,
    pub role: Role,
    pub country: String,
}

impl Default for NewUser {
    fn default() -> Self {
        Self {
            handle: None,
            birth_date: "1990-01-01".into(),
            role: Role::Viewer,
            country: "US".into(),
        }
    }
}

/// A unique valid handle: `u` and 23 hex digits.
pub fn unique_handle() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("u{}", &id[..23])
}

fn proto_role(role: Role) -> common::Role {
    match role {
        Role::Viewer => common::Role::Viewer,
        Role::Creator => common::Role::Creator,
        Role::Advertiser => common::Role::Advertiser,
        Role::Admin => common::Role::Admin,
        Role::Service => panic!("a service is not a user: sign up a viewer, creator or advertiser"),
    }
}

/// Users, videos, follows and live rooms in the content service, through its
/// gRPC api. Users sign up anonymously (as the gateway's sign-up does); every
/// other call carries the acting user's own token, issued with the
/// development keys every test service trusts.
#[derive(Clone)]
pub struct Content {
    client: ContentServiceClient<Channel>,
    keys: TestKeys,
}

impl Content {
    pub fn new(channel: Channel) -> Self {
        Self {
            client: ContentServiceClient::new(channel),
            keys: TestKeys,
        }
    }

    pub fn client(&self) -> ContentServiceClient<Channel> {
        self.client.clone()
    }

    /// A request from `user_id` acting as `role`.
    pub fn request<T>(&self, user_id: &str, role: Role, message: T) -> tonic::Request<T> {
        let token = self.keys.issue(user_id, role, Duration::from_secs(3600));
        loop_platform::grpc::request(message, Some(&token), DEADLINE)
    }

    /// Signs up `user` and returns it as content stores it.
    pub async fn sign_up(&self, user: NewUser) -> pb::User {
        let handle = user.handle.unwrap_or_else(unique_handle);
        self.client()
            .create_user(loop_platform::grpc::request(
                pb::CreateUserRequest {
                    handle: handle.clone(),
                    password: PASSWORD.into(),
                    birth_date: user.birth_date,
                    country: user.country,
                    language: "en".into(),
                    role: proto_role(user.role) as i32,
                    ..Default::default()
                },
                None,
                DEADLINE,
            ))
            .await
            .unwrap_or_else(|status| panic!("sign up {handle}: {status}"))
            .into_inner()
            .user
            .expect("the created user")
    }

    /// An adult viewer called `handle`; returns its id.
    pub async fn create_user(&self, handle: &str) -> String {
        self.sign_up(NewUser {
            handle: Some(handle.into()),
            ..NewUser::default()
        })
        .await
        .user_id
    }

    /// `n` users with unique handles, born on `birth_date`, with `role`; returns their ids.
    pub async fn seed(&self, n: usize, birth_date: &str, role: Role) -> Vec<String> {
        futures::stream::iter(0..n)
            .map(|_| {
                self.sign_up(NewUser {
                    birth_date: birth_date.into(),
                    role,
                    ..NewUser::default()
                })
            })
            .buffer_unordered(SIGN_UPS_IN_FLIGHT)
            .map(|user| user.user_id)
            .collect()
            .await
    }

    /// Turns `user_id` into a creator with a creator profile in `category`.
    pub async fn make_creator(&self, user_id: &str, category: &str) -> pb::User {
        self.client()
            .upsert_creator_profile(self.request(
                user_id,
                Role::Viewer,
                pb::UpsertCreatorProfileRequest {
                    bio: "made by the test kit".into(),
                    category: category.into(),
                },
            ))
            .await
            .expect("upsert creator profile")
            .into_inner()
            .user
            .expect("the creator")
    }

    /// Publishes `video` as `creator`; returns the video's id. Fill in only
    /// what the test cares about: [`Content::video`] is a valid default.
    pub async fn publish_video(&self, creator: &str, video: pb::PublishVideoRequest) -> String {
        self.client()
            .publish_video(self.request(creator, Role::Creator, video))
            .await
            .expect("publish video")
            .into_inner()
            .video
            .expect("the video")
            .video_id
    }

    /// A valid video: 15 s, public, captioned `caption`.
    pub fn video(caption: &str) -> pb::PublishVideoRequest {
        pb::PublishVideoRequest {
            caption: caption.into(),
            duration_ms: 15_000,
            media_url: "https://cdn.loop.test/v.mp4".into(),
            ..Default::default()
        }
    }

    pub async fn follow(&self, follower: &str, creator: &str) {
        self.client()
            .follow(self.request(
                follower,
                Role::Viewer,
                pb::FollowRequest {
                    creator_id: creator.into(),
                },
            ))
            .await
            .expect("follow");
    }

    /// Opens a LIVE room hosted by `creator`; returns the room's id.
    pub async fn go_live(&self, creator: &str, title: &str) -> String {
        self.client()
            .start_live(self.request(
                creator,
                Role::Creator,
                pb::StartLiveRequest {
                    title: title.into(),
                },
            ))
            .await
            .expect("start live")
            .into_inner()
            .room
            .expect("the room")
            .room_id
    }

    pub async fn end_live(&self, creator: &str, room_id: &str) {
        self.client()
            .end_live(self.request(
                creator,
                Role::Creator,
                pb::EndLiveRequest {
                    room_id: room_id.into(),
                },
            ))
            .await
            .expect("end live");
    }
}

/// The JSON `receipt` of a purchase of `amount_cents` of `product_id`
/// (e.g. "loop.cents", "loop.coins_100") signed by the wallet's development
/// test store: what a client sends with a top-up or a coin purchase.
#[cfg(feature = "wallet")]
pub fn test_receipt(product_id: &str, amount_cents: i64) -> serde_json::Value {
    use loop_wallet::payments::{TestProvider, TestReceipt};
    let signed =
        TestProvider::new(loop_wallet::config::DEV_TEST_RECEIPT_SECRET).sign(&TestReceipt {
            receipt_id: uuid::Uuid::now_v7().to_string(),
            product_id: product_id.into(),
            amount_cents,
        });
    serde_json::json!({"provider": "test", "receipt_data": signed.receipt_data, "signature": signed.signature})
}
