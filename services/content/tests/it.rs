#![allow(clippy::field_reassign_with_default)] // tests tweak a default config field by field
//! Content service integration tests: the real service on an ephemeral port,
//! its own database and topic prefix, real PostgreSQL and Kafka-API broker.

use std::time::Duration;

use loop_content::{Config, run};
use loop_platform::auth::Role;
use loop_platform::kafka::topics;
use loop_platform::testing::{self, TestDb};
use loop_proto::content::v1 as pb;
use loop_proto::content::v1::content_service_client::ContentServiceClient;
use loop_proto::events::v1::{ContentEvent, content_event::Payload};
use prost::Message;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Request};

struct Harness {
    config: Config,
    bound: std::net::SocketAddr,
    client: ContentServiceClient<Channel>,
    keys: loop_platform::testing::TestKeys,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _db: Option<TestDb>,
}

impl Harness {
    async fn start() -> Self {
        let db = TestDb::create("content").await;
        let prefix = testing::unique("content");
        let mut config = Config::default();
        config.database = db.config.clone();
        config.kafka = testing::kafka_config(&prefix);
        config.outbox.poll_interval_ms = 50;
        let mut h = Self::start_with(config).await;
        h._db = Some(db);
        h
    }

    async fn start_with(config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(config.clone(), listener, shutdown.clone()));
        let channel = loop_platform::grpc::channel(&format!("http://{addr}")).expect("channel");
        let health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        testing::wait_for("content service health", Duration::from_secs(30), || {
            let mut health = health.clone();
            async move {
                health
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: loop_content::SERVICE_NAME.into(),
                    })
                    .await
                    .ok()
                    .filter(|r| {
                        r.get_ref().status
                            == tonic_health::pb::health_check_response::ServingStatus::Serving
                                as i32
                    })
            }
        })
        .await;
        Self {
            bound: addr,
            keys: loop_platform::testing::TestKeys,
            config,
            client: ContentServiceClient::new(channel),
            shutdown,
            task: Some(task),
            _db: None,
        }
    }

    /// Stops the service and waits until it has exited.
    async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("service exited cleanly");
        }
    }

    fn req<T>(&self, user: &pb::User, msg: T) -> Request<T> {
        let role = match loop_proto::common::v1::Role::try_from(user.role) {
            Ok(loop_proto::common::v1::Role::Creator) => Role::Creator,
            Ok(loop_proto::common::v1::Role::Admin) => Role::Admin,
            Ok(loop_proto::common::v1::Role::Advertiser) => Role::Advertiser,
            _ => Role::Viewer,
        };
        let token = self
            .keys
            .issue(&user.user_id, role, Duration::from_secs(600));
        loop_platform::grpc::request(msg, Some(&token), Duration::from_secs(10))
    }

    async fn sign_up(&self, handle: &str, role: loop_proto::common::v1::Role) -> pb::User {
        self.client
            .clone()
            .create_user(pb::CreateUserRequest {
                handle: handle.into(),
                display_name: String::new(),
                password: "correct horse battery".into(),
                birth_date: "1995-04-01".into(),
                country: "US".into(),
                language: "en".into(),
                gender: 0,
                declared_interests: vec!["dance".into()],
                role: role as i32,
            })
            .await
            .expect("sign up")
            .into_inner()
            .user
            .expect("user")
    }

    async fn publish(&self, creator: &pb::User, caption: &str) -> pb::Video {
        self.client
            .clone()
            .publish_video(self.req(
                creator,
                pb::PublishVideoRequest {
                    caption: caption.into(),
                    duration_ms: 15_000,
                    media_url: "https://cdn.loop.test/v.mp4".into(),
                    ..Default::default()
                },
            ))
            .await
            .expect("publish")
            .into_inner()
            .video
            .expect("video")
    }

    fn content_topic(&self) -> String {
        self.config.kafka.topic(topics::CONTENT)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn events(deliveries: &[loop_platform::kafka::Delivery]) -> Vec<ContentEvent> {
    deliveries
        .iter()
        .map(|d| ContentEvent::decode(d.payload.as_slice()).expect("valid ContentEvent"))
        .collect()
}

use loop_proto::common::v1::Role as R;

#[tokio::test]
async fn publish_follow_like_comment_each_emit_one_event() {
    let h = Harness::start().await;
    let creator = h.sign_up("maker", R::Creator).await;
    let fan = h.sign_up("fan", R::Viewer).await;
    let video = h.publish(&creator, "first dance #Dance #fun").await;
    assert_eq!(video.hashtags, vec!["dance", "fun"]);

    let mut c = h.client.clone();
    c.follow(h.req(
        &fan,
        pb::FollowRequest {
            creator_id: creator.user_id.clone(),
        },
    ))
    .await
    .expect("follow");
    let like = c
        .like_video(h.req(
            &fan,
            pb::LikeVideoRequest {
                video_id: video.video_id.clone(),
            },
        ))
        .await
        .expect("like")
        .into_inner();
    assert!(like.changed);
    assert_eq!(like.like_count, 1);
    let again = c
        .like_video(h.req(
            &fan,
            pb::LikeVideoRequest {
                video_id: video.video_id.clone(),
            },
        ))
        .await
        .expect("like again")
        .into_inner();
    assert!(!again.changed, "liking twice changes nothing");
    assert_eq!(again.like_count, 1);
    c.add_comment(h.req(
        &fan,
        pb::AddCommentRequest {
            video_id: video.video_id.clone(),
            text: "love it".into(),
            parent_comment_id: String::new(),
        },
    ))
    .await
    .expect("comment");

    // 2 sign-ups + publish + follow + like + comment = 6 events, each exactly once.
    let mut reader = testing::TopicReader::new(&h.config.kafka, &h.content_topic());
    let seen = reader
        .read_until(Duration::from_secs(30), |s| s.len() >= 6)
        .await;
    let evs = events(seen);
    let kinds: Vec<&str> = evs
        .iter()
        .map(|e| match e.payload.as_ref().expect("payload") {
            Payload::UserRegistered(_) => "registered",
            Payload::VideoPublished(_) => "published",
            Payload::UserFollowed(_) => "followed",
            Payload::VideoLiked(_) => "liked",
            Payload::CommentAdded(_) => "commented",
            _ => "other",
        })
        .collect();
    for k in ["registered", "published", "followed", "liked", "commented"] {
        assert!(kinds.contains(&k), "missing {k} in {kinds:?}");
    }
    let published = evs.iter().find_map(|e| match &e.payload {
        Some(Payload::VideoPublished(p)) => p.video.clone(),
        _ => None,
    });
    let published = published.expect("published snapshot");
    assert_eq!(published.video_id, video.video_id);
    assert!(published.servable);
    // Exactly once: the whole topic holds six events with distinct ids.
    let all = testing::read_all(&h.config.kafka, &h.content_topic()).await;
    let mut ids: Vec<String> = events(&all).into_iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), 6, "exactly six events on the topic");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "event ids are unique");
}

#[tokio::test]
async fn outbox_event_survives_a_crash_between_commit_and_publish() {
    let db = TestDb::create("content_outbox").await;
    let prefix = testing::unique("outbox");
    let mut config = Config::default();
    config.database = db.config.clone();
    config.kafka = testing::kafka_config(&prefix);
    config.outbox.poll_interval_ms = 50;

    // First life: the relay never runs, as if the process died right after commit.
    let mut crashed = config.clone();
    crashed.outbox.relay_enabled = false;
    let mut h = Harness::start_with(crashed).await;
    let creator = h.sign_up("crashy", R::Creator).await;
    let video = h.publish(&creator, "before the crash").await;
    h.stop().await;
    let pool = sqlx::PgPool::connect(db.url()).await.expect("pool");
    let backlog = loop_platform::outbox::backlog(&pool)
        .await
        .expect("backlog");
    assert_eq!(
        backlog, 2,
        "sign-up and publish are committed but unpublished"
    );
    assert!(
        testing::read_all(&config.kafka, &config.kafka.topic(topics::CONTENT))
            .await
            .is_empty()
    );

    // Second life: the relay publishes what the first one left behind.
    let mut h = Harness::start_with(config.clone()).await;
    testing::wait_for("outbox drained", Duration::from_secs(30), || {
        let pool = pool.clone();
        async move { (loop_platform::outbox::backlog(&pool).await.ok() == Some(0)).then_some(()) }
    })
    .await;
    let all = events(&testing::read_all(&config.kafka, &config.kafka.topic(topics::CONTENT)).await);
    let published: Vec<_> = all
        .iter()
        .filter(|e| matches!(&e.payload, Some(Payload::VideoPublished(p)) if p.video.as_ref().is_some_and(|v| v.video_id == video.video_id)))
        .collect();
    assert_eq!(published.len(), 1, "the video's event arrives exactly once");
    assert_eq!(all.len(), 2);
    h.stop().await;
}

#[tokio::test]
async fn bad_input_is_rejected_naming_the_field_and_changes_nothing() {
    let h = Harness::start().await;
    let creator = h.sign_up("carol", R::Creator).await;
    let viewer = h.sign_up("victor", R::Viewer).await;
    let mut c = h.client.clone();

    let cases: Vec<(pb::PublishVideoRequest, &str)> = vec![
        (
            pb::PublishVideoRequest {
                caption: "".into(),
                duration_ms: 15_000,
                media_url: "https://x.test/v".into(),
                ..Default::default()
            },
            "caption",
        ),
        (
            pb::PublishVideoRequest {
                caption: "x".repeat(2201),
                duration_ms: 15_000,
                media_url: "https://x.test/v".into(),
                ..Default::default()
            },
            "caption",
        ),
        (
            pb::PublishVideoRequest {
                caption: "ok".into(),
                duration_ms: 10,
                media_url: "https://x.test/v".into(),
                ..Default::default()
            },
            "duration_ms",
        ),
        (
            pb::PublishVideoRequest {
                caption: "ok".into(),
                duration_ms: 15_000,
                media_url: "ftp://x".into(),
                ..Default::default()
            },
            "media_url",
        ),
        (
            pb::PublishVideoRequest {
                caption: "ok".into(),
                duration_ms: 15_000,
                media_url: "https://x.test/v".into(),
                sound_id: "nope".into(),
                ..Default::default()
            },
            "sound_id",
        ),
    ];
    for (req, field) in cases {
        let err = c
            .publish_video(h.req(&creator, req))
            .await
            .expect_err("rejected");
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(
            loop_platform::error::status_field(&err).as_deref(),
            Some(field),
            "{err:?}"
        );
    }
    let listed = c
        .list_creator_videos(h.req(
            &creator,
            pb::ListCreatorVideosRequest {
                creator_id: creator.user_id.clone(),
                page: None,
            },
        ))
        .await
        .expect("list")
        .into_inner();
    assert!(
        listed.videos.is_empty(),
        "rejected publishes stored nothing"
    );

    // Viewers cannot publish; nobody can follow themselves or follow twice.
    let err = c
        .publish_video(h.req(
            &viewer,
            pb::PublishVideoRequest {
                caption: "hi".into(),
                duration_ms: 15_000,
                media_url: "https://x.test/v".into(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("viewer");
    assert_eq!(err.code(), Code::PermissionDenied);
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

    // Unknown video; a handle that is taken; no token at all.
    let err = c
        .get_video(h.req(
            &viewer,
            pb::GetVideoRequest {
                video_id: uuid::Uuid::now_v7().to_string(),
            },
        ))
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound);
    let err = c
        .create_user(pb::CreateUserRequest {
            handle: "carol".into(),
            password: "long enough pw".into(),
            birth_date: "1990-01-01".into(),
            country: "US".into(),
            language: "en".into(),
            ..Default::default()
        })
        .await
        .expect_err("taken");
    assert_eq!(err.code(), Code::AlreadyExists);
    let err = c
        .get_video(pb::GetVideoRequest {
            video_id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn ownership_moderation_and_visibility() {
    let h = Harness::start().await;
    let owner = h.sign_up("owner", R::Creator).await;
    let other = h.sign_up("other", R::Creator).await;
    let admin_login = h
        .client
        .clone()
        .authenticate(pb::AuthenticateRequest {
            handle: "admin".into(),
            password: loop_content::DEV_ADMIN_PASSWORD.into(),
        })
        .await
        .expect("bootstrap admin logs in")
        .into_inner()
        .user
        .expect("admin");
    let video = h.publish(&owner, "mine").await;
    let mut c = h.client.clone();

    let err = c
        .delete_video(h.req(
            &other,
            pb::DeleteVideoRequest {
                video_id: video.video_id.clone(),
            },
        ))
        .await
        .expect_err("not owner");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = c
        .update_video(h.req(
            &other,
            pb::UpdateVideoRequest {
                video_id: video.video_id.clone(),
                caption: "hijack".into(),
                update_mask: vec!["caption".into()],
                ..Default::default()
            },
        ))
        .await
        .expect_err("not owner");
    assert_eq!(err.code(), Code::PermissionDenied);

    // A report, then an admin removal: never served again, and VideoRemoved is emitted.
    c.report_video(h.req(
        &other,
        pb::ReportVideoRequest {
            video_id: video.video_id.clone(),
            reason: pb::ReportReason::Spam as i32,
            details: String::new(),
        },
    ))
    .await
    .expect("report");
    let err = c
        .list_reports(h.req(&other, pb::ListReportsRequest::default()))
        .await
        .expect_err("admin only");
    assert_eq!(err.code(), Code::PermissionDenied);
    let reports = c
        .list_reports(h.req(&admin_login, pb::ListReportsRequest::default()))
        .await
        .expect("reports")
        .into_inner();
    assert_eq!(reports.reports.len(), 1);
    c.moderate_video(h.req(
        &admin_login,
        pb::ModerateVideoRequest {
            video_id: video.video_id.clone(),
            decision: pb::ModerationDecision::Remove as i32,
            note: "spam".into(),
        },
    ))
    .await
    .expect("remove");
    let err = c
        .get_video(h.req(
            &other,
            pb::GetVideoRequest {
                video_id: video.video_id.clone(),
            },
        ))
        .await
        .expect_err("gone");
    assert_eq!(err.code(), Code::NotFound);
    let batch = c
        .batch_get_videos(h.req(
            &other,
            pb::BatchGetVideosRequest {
                video_ids: vec![video.video_id.clone()],
            },
        ))
        .await
        .expect("batch")
        .into_inner();
    assert!(batch.videos.is_empty());
    let listed = c
        .list_creator_videos(h.req(
            &other,
            pb::ListCreatorVideosRequest {
                creator_id: owner.user_id.clone(),
                page: None,
            },
        ))
        .await
        .expect("list")
        .into_inner();
    assert!(listed.videos.is_empty());
    let mut reader = testing::TopicReader::new(&h.config.kafka, &h.content_topic());
    reader
        .read_until(Duration::from_secs(30), |s| {
            events(s).iter().any(|e| matches!(&e.payload, Some(Payload::VideoRemoved(r)) if r.video_id == video.video_id))
        })
        .await;
}

#[tokio::test]
async fn keyset_pagination_walks_every_video_once() {
    let h = Harness::start().await;
    let creator = h.sign_up("prolific", R::Creator).await;
    let mut published = Vec::new();
    for i in 0..7 {
        published.push(h.publish(&creator, &format!("video {i}")).await.video_id);
    }
    let mut c = h.client.clone();
    let mut token = String::new();
    let mut seen = Vec::new();
    loop {
        let page = c
            .list_creator_videos(h.req(
                &creator,
                pb::ListCreatorVideosRequest {
                    creator_id: creator.user_id.clone(),
                    page: Some(loop_proto::common::v1::PageRequest {
                        page_size: 3,
                        page_token: token.clone(),
                    }),
                },
            ))
            .await
            .expect("page")
            .into_inner();
        assert!(page.videos.len() <= 3);
        seen.extend(page.videos.into_iter().map(|v| v.video_id));
        token = page.page.expect("page").next_page_token;
        if token.is_empty() {
            break;
        }
    }
    published.reverse();
    assert_eq!(seen, published, "newest first, each exactly once");
    let err = c
        .list_creator_videos(h.req(
            &creator,
            pb::ListCreatorVideosRequest {
                creator_id: creator.user_id.clone(),
                page: Some(loop_proto::common::v1::PageRequest {
                    page_size: 3,
                    page_token: "garbage!".into(),
                }),
            },
        ))
        .await
        .expect_err("bad token");
    assert_eq!(
        loop_platform::error::status_field(&err).as_deref(),
        Some("page_token")
    );
}

#[tokio::test]
async fn health_and_reflection_v1_and_v1alpha_list_the_service() {
    let mut h = Harness::start().await;
    let url = format!("http://{}", h.bound);
    let channel = loop_platform::grpc::channel(&url).expect("channel");

    use tonic_reflection::pb::v1 as r1;
    use tonic_reflection::pb::v1alpha as r1a;
    let mut v1 = r1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let request = r1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(r1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut stream = v1
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("v1")
        .into_inner();
    let response = stream.message().await.expect("message").expect("response");
    let Some(r1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        response.message_response
    else {
        panic!("unexpected v1 reflection response");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&loop_content::SERVICE_NAME.to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_string()),
        "{names:?}"
    );
    // Only what this port serves: no other Loop service.
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("grpc.") || n == loop_content::SERVICE_NAME),
        "{names:?}"
    );

    let mut v1a = r1a::server_reflection_client::ServerReflectionClient::new(channel);
    let request = r1a::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            r1a::server_reflection_request::MessageRequest::FileContainingSymbol(
                loop_content::SERVICE_NAME.into(),
            ),
        ),
    };
    let mut stream = v1a
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("v1alpha")
        .into_inner();
    let response = stream.message().await.expect("message").expect("response");
    assert!(
        matches!(response.message_response, Some(r1a::server_reflection_response::MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
        "v1alpha returns the file describing the service"
    );
    h.stop().await;
}

#[tokio::test]
async fn editing_a_caption_keeps_explicit_hashtags() {
    let h = Harness::start().await;
    let creator = h.sign_up("tagger", R::Creator).await;
    let mut c = h.client.clone();
    let video = c
        .publish_video(h.req(
            &creator,
            pb::PublishVideoRequest {
                caption: "first #dance".into(),
                hashtags: vec!["fun".into()],
                duration_ms: 9000,
                media_url: "https://x.test/v".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("publish")
        .into_inner()
        .video
        .expect("video");
    assert_eq!(video.hashtags, vec!["fun", "dance"]);
    let edited = c
        .update_video(h.req(
            &creator,
            pb::UpdateVideoRequest {
                video_id: video.video_id.clone(),
                caption: "second #salsa".into(),
                update_mask: vec!["caption".into()],
                ..Default::default()
            },
        ))
        .await
        .expect("update")
        .into_inner()
        .video
        .expect("video");
    assert_eq!(
        edited.hashtags,
        vec!["fun", "salsa"],
        "explicit #fun kept, caption tags replaced"
    );
    let tagged = c
        .list_hashtag_videos(h.req(
            &creator,
            pb::ListHashtagVideosRequest {
                name: "dance".into(),
                page: None,
            },
        ))
        .await
        .expect("list")
        .into_inner();
    assert!(
        tagged.videos.is_empty(),
        "the old caption tag no longer lists the video"
    );
}
