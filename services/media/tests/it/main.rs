//! Media service tests against real PostgreSQL, the broker, ffmpeg and a
//! local object store: resumable uploads and their refusals, processing of
//! generated clips (and of files that are not videos), a worker killed
//! mid-transcode.

#![allow(
    clippy::field_reassign_with_default,
    clippy::expect_used,
    clippy::unwrap_used
)]

mod crash;
mod lifecycle;
mod processing;
mod remix;
mod uploads;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use loop_media::Config;
use loop_platform::auth::Role;
use loop_platform::testing::{self, TestDb, TestKeys};
use loop_proto::media::v1 as pb;
use loop_proto::media::v1::media_service_client::MediaServiceClient;
use loop_testkit::Killable;
use tonic::transport::Channel;
use uuid::Uuid;

/// One test's media service: its database, topic prefix and folder.
pub struct Platform {
    pub config: Config,
    pub addr: SocketAddr,
    pub media: Killable,
    pub client: MediaServiceClient<Channel>,
    pub pool: sqlx::PgPool,
    pub store: loop_media::store::Store,
    pub root: std::path::PathBuf,
    _db: TestDb,
}

pub fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

impl Platform {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut Config)) -> Self {
        testing::init_telemetry();
        let prefix = testing::unique("media");
        let db = TestDb::create("media").await;
        let root = std::env::temp_dir().join(format!("loop-media-it-{prefix}"));
        let mut config = Config::default();
        config.database = db.config.clone();
        config.kafka = testing::kafka_config(&prefix);
        config.storage.local_dir = root.join("store");
        config.processing.work_dir = root.join("work");
        config.processing.poll_interval_ms = 50;
        config.processing.preset = "ultrafast".into();
        config.outbox.poll_interval_ms = 50;
        tune(&mut config);
        let addr = free_addr();
        let media = start_media(config.clone(), addr);
        let platform = Self {
            client: MediaServiceClient::new(
                loop_platform::grpc::channel(&format!("http://{addr}")).expect("channel"),
            ),
            pool: loop_platform::db::connect(&config.database)
                .await
                .expect("pool"),
            store: loop_media::store::Store::open(&config.storage).expect("store"),
            config,
            addr,
            media,
            root,
            _db: db,
        };
        platform.wait_serving().await;
        platform
    }

    pub async fn wait_serving(&self) {
        self.media.wait_serving(loop_media::SERVICE_NAME).await;
    }

    /// Kills the service and starts a new one on the same database and store.
    pub async fn restart(&mut self, tune: impl FnOnce(&mut Config)) {
        self.media.kill();
        tune(&mut self.config);
        self.media = start_media(self.config.clone(), self.addr);
        self.wait_serving().await;
    }

    pub fn topic(&self) -> String {
        self.config.kafka.topic(loop_platform::kafka::topics::MEDIA)
    }

    /// A creator's id and token.
    pub fn creator(&self) -> (String, String) {
        let id = Uuid::now_v7().to_string();
        let token = TestKeys.issue(&id, Role::Creator, Duration::from_secs(3600));
        (id, token)
    }

    pub fn req<T>(&self, token: &str, message: T) -> tonic::Request<T> {
        loop_platform::grpc::request(message, Some(token), Duration::from_secs(30))
    }

    pub async fn create(&self, token: &str, size: u64) -> Result<pb::Upload, tonic::Status> {
        self.client
            .clone()
            .create_upload(self.req(
                token,
                pb::CreateUploadRequest {
                    size_bytes: size,
                    content_type: "video/mp4".into(),
                    filename: "clip.mp4".into(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn append(
        &self,
        token: &str,
        upload_id: &str,
        offset: u64,
        data: &[u8],
    ) -> Result<pb::Upload, tonic::Status> {
        self.client
            .clone()
            .append_chunk(self.req(
                token,
                pb::AppendChunkRequest {
                    upload_id: upload_id.into(),
                    offset,
                    data: bytes::Bytes::copy_from_slice(data),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn get(&self, token: &str, upload_id: &str) -> Result<pb::Upload, tonic::Status> {
        self.client
            .clone()
            .get_upload(self.req(
                token,
                pb::GetUploadRequest {
                    upload_id: upload_id.into(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    /// Uploads `bytes` in chunks of `chunk`; returns the session after the last.
    pub async fn upload(&self, token: &str, bytes: &[u8], chunk: usize) -> pb::Upload {
        let mut upload = self
            .create(token, bytes.len() as u64)
            .await
            .expect("create");
        for (i, piece) in bytes.chunks(chunk).enumerate() {
            upload = self
                .append(token, &upload.upload_id, (i * chunk) as u64, piece)
                .await
                .expect("append");
        }
        upload
    }

    /// Waits until the upload leaves `processing`.
    pub async fn settled(&self, token: &str, upload_id: &str) -> pb::Upload {
        testing::wait_for("processing to finish", Duration::from_secs(120), || async {
            let u = self.get(token, upload_id).await.expect("get");
            (u.state() != pb::UploadState::Processing).then_some(u)
        })
        .await
    }

    /// Reads an output as the gateway does (with a playback signature).
    pub async fn read(&self, upload_id: &str, path: &str) -> Result<Vec<u8>, tonic::Status> {
        let expires = loop_platform::playback::now_secs() + 60;
        let key = self.config.playback.url_key.expose().as_bytes();
        self.read_signed(
            upload_id,
            path,
            expires,
            &loop_platform::playback::sign(key, upload_id, expires),
        )
        .await
    }

    pub async fn read_signed(
        &self,
        upload_id: &str,
        path: &str,
        expires: u64,
        signature: &str,
    ) -> Result<Vec<u8>, tonic::Status> {
        let mut out = Vec::new();
        loop {
            let r = self
                .client
                .clone()
                .read_object(pb::ReadObjectRequest {
                    upload_id: upload_id.into(),
                    path: path.into(),
                    offset: out.len() as u64,
                    length: 0,
                    expires,
                    signature: signature.into(),
                })
                .await?
                .into_inner();
            out.extend_from_slice(&r.data);
            if out.len() as u64 >= r.total_size || r.data.is_empty() {
                return Ok(out);
            }
        }
    }

    /// Objects stored under `prefix` (e.g. `uploads/<id>`).
    pub async fn objects(&self, prefix: &str) -> usize {
        self.store
            .count_prefix(&object_store::path::Path::from(prefix))
            .await
            .expect("list")
    }

    /// Waits until nothing is stored under `prefix` (objects are deleted
    /// after the state change that frees them commits).
    pub async fn gone(&self, prefix: &str) {
        testing::wait_for(
            &format!("{prefix} deleted"),
            Duration::from_secs(30),
            || async { (self.objects(prefix).await == 0).then_some(()) },
        )
        .await;
    }

    /// Every `media.v1` event once the outbox has drained.
    pub async fn events(&self) -> Vec<loop_proto::events::v1::MediaEvent> {
        use prost::Message;
        testing::wait_for("outbox drained", Duration::from_secs(30), || async {
            (loop_platform::outbox::backlog(&self.pool).await.ok()? == 0).then_some(())
        })
        .await;
        testing::read_all(&self.config.kafka, &self.topic())
            .await
            .iter()
            .map(|d| {
                loop_proto::events::v1::MediaEvent::decode(d.payload.as_slice()).expect("event")
            })
            .collect()
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.media.kill();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The `ErrorInfo.reason` of a refusal.
pub fn reason(status: &tonic::Status) -> Option<String> {
    loop_platform::error::status_reason(status)
}

pub fn read_file(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read file")
}

/// The media service in a runtime of its own, so a test can kill it hard
/// (its ffmpeg runs are killed with their tasks).
fn start_media(config: Config, addr: SocketAddr) -> Killable {
    Killable::start("media", addr, move |listener, stop| {
        loop_media::run(config, listener, stop)
    })
}
