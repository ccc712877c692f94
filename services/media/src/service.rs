//! The gRPC surface: authenticates each call, then delegates to the handler
//! of the same name (uploads in [`crate::uploads`], reads here).

use std::collections::HashSet;
use std::sync::Arc;

use loop_platform::auth::JwtKeys;
use loop_proto::media::v1 as pb;
use loop_proto::media::v1::media_service_server::MediaService as MediaApi;
use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::config::Config;
use crate::error::{MediaError, MediaResult, Rule};
use crate::store::{self, Store};

/// Most bytes one ReadObject call returns (the gateway streams bigger
/// objects in calls of this size).
pub const MAX_READ_BYTES: u64 = 1024 * 1024;

/// Most upload ids remembered as ready before the memory is cleared.
const READY_REMEMBERED: usize = 100_000;

pub struct MediaService {
    pub(crate) pool: PgPool,
    pub(crate) store: Store,
    pub(crate) keys: JwtKeys,
    pub(crate) config: Arc<Config>,
    pub(crate) worker_wake: Arc<Notify>,
    /// Uploads seen ready: ready is final (nothing un-readies an upload),
    /// so segment reads skip the database after the first.
    ready: parking_lot::Mutex<HashSet<Uuid>>,
}

impl MediaService {
    pub fn new(
        pool: PgPool,
        store: Store,
        keys: JwtKeys,
        config: Arc<Config>,
        worker_wake: Arc<Notify>,
    ) -> Self {
        Self {
            pool,
            store,
            keys,
            config,
            worker_wake,
            ready: parking_lot::Mutex::default(),
        }
    }

    /// No token: the playback signature is the credential.
    pub(crate) async fn read_object(
        &self,
        r: pb::ReadObjectRequest,
    ) -> MediaResult<pb::ReadObjectResponse> {
        let key = self.config.playback.url_key.expose().as_bytes();
        let now = loop_platform::playback::now_secs();
        match loop_platform::playback::verify(key, &r.upload_id, r.expires, &r.signature, now) {
            Ok(()) => {}
            Err(loop_platform::playback::UrlError::Expired) => {
                return Err(MediaError::denied("the playback signature expired"));
            }
            Err(loop_platform::playback::UrlError::Invalid) => {
                return Err(MediaError::denied("the playback signature is not valid"));
            }
        }
        let id = loop_platform::ids::parse_id("upload_id", &r.upload_id)?;
        if !store::valid_output_path(&r.path) {
            return Err(MediaError::invalid(
                "path",
                "must name an output: master.m3u8, <rendition>/index.m3u8, <rendition>/seg_NNNNN.ts or poster.jpg",
            ));
        }
        if !self.ready.lock().contains(&id) {
            self.check_ready(id).await?;
        }
        let max = if r.length == 0 {
            MAX_READ_BYTES
        } else {
            r.length.min(MAX_READ_BYTES)
        };
        let key = Store::output_key(id, &r.path);
        match self.store.read_range(&key, r.offset, max).await {
            Ok((data, total_size)) => Ok(pb::ReadObjectResponse {
                data,
                total_size,
                content_type: store::content_type(&r.path).unwrap_or_default().into(),
            }),
            Err(object_store::Error::NotFound { .. }) => Err(MediaError::not_found(format!(
                "{} not found in upload {id}",
                r.path
            ))),
            Err(err) => Err(MediaError::internal(err)),
        }
    }
}

impl MediaService {
    async fn check_ready(&self, id: Uuid) -> MediaResult<()> {
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM uploads WHERE upload_id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        match state.as_deref() {
            None => Err(MediaError::not_found(format!("upload {id} not found"))),
            Some("ready") => {
                let mut ready = self.ready.lock();
                if ready.len() >= READY_REMEMBERED {
                    ready.clear();
                }
                ready.insert(id);
                Ok(())
            }
            Some(other) => Err(MediaError::rule(
                Rule::MediaNotReady,
                format!("the upload is {other}, not ready"),
            )),
        }
    }
}

loop_platform::authenticated_api! {
    impl MediaApi for MediaService, error MediaError;
    @public {
        async fn read_object(
            &self,
            request: tonic::Request<pb::ReadObjectRequest>,
        ) -> Result<tonic::Response<pb::ReadObjectResponse>, tonic::Status> {
            Ok(tonic::Response::new(
                MediaService::read_object(self, request.into_inner()).await?,
            ))
        }
    }
    create_upload(pb::CreateUploadRequest) -> pb::Upload;
    get_upload(pb::GetUploadRequest) -> pb::Upload;
    append_chunk(pb::AppendChunkRequest) -> pb::Upload;
    cancel_upload(pb::CancelUploadRequest) -> pb::Upload;
}
