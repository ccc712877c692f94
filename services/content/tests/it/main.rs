#![allow(clippy::field_reassign_with_default)] // tests tweak a default config field by field
//! Content service integration tests: the real service on an ephemeral port,
//! its own database and topic prefix, real PostgreSQL and Kafka-API broker.
//! One module per resource; the harness and shared helpers live here.

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
        loop_testkit::wait_healthy(channel.clone(), loop_content::SERVICE_NAME).await;
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

mod events;
mod fixtures;
mod media;
mod moderation;
mod service;
mod social;
mod users;
mod videos;
