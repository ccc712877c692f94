//! The gRPC surface: authenticates each call, then delegates to the handler
//! of the same name (uploads in [`crate::uploads`], reads here).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    ready: ReadyCache,
}

/// How long a replica trusts its memory of a ready upload's live prefix.
/// What a replica remembers can go stale only through another replica (or
/// another process of the same service): a duet's or stitch's render
/// finishing there points the upload at the rendered outputs, or its video
/// being removed there deletes the outputs. This replica then serves the
/// pre-render outputs (still stored, so playback never breaks) or finds
/// the objects gone, for at most this long.
pub const READY_REMEMBERED_FOR: Duration = Duration::from_secs(5);

/// Uploads seen ready, with their live outputs' prefix and when it was
/// read: segment reads skip the database for [`READY_REMEMBERED_FOR`]
/// after the first (at most one query per upload and period, however many
/// viewers). Changes made by this process (a render finishing, leaving
/// ready) forget the entry at once.
#[derive(Clone, Default)]
pub struct ReadyCache(Arc<parking_lot::Mutex<HashMap<Uuid, (String, Instant)>>>);

impl ReadyCache {
    pub fn get(&self, id: Uuid) -> Option<String> {
        self.get_at(id, Instant::now())
    }

    /// The remembered prefix if read less than [`READY_REMEMBERED_FOR`]
    /// before `now`.
    fn get_at(&self, id: Uuid, now: Instant) -> Option<String> {
        let mut ready = self.0.lock();
        match ready.get(&id) {
            Some((prefix, read_at))
                if now.saturating_duration_since(*read_at) < READY_REMEMBERED_FOR =>
            {
                Some(prefix.clone())
            }
            Some(_) => {
                ready.remove(&id);
                None
            }
            None => None,
        }
    }

    fn insert(&self, id: Uuid, prefix: String) {
        self.insert_at(id, prefix, Instant::now());
    }

    fn insert_at(&self, id: Uuid, prefix: String, read_at: Instant) {
        let mut ready = self.0.lock();
        if ready.len() >= READY_REMEMBERED {
            ready.clear();
        }
        ready.insert(id, (prefix, read_at));
    }

    pub fn forget(&self, id: Uuid) {
        self.0.lock().remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_prefix_goes_stale_after_its_period() {
        let cache = ReadyCache::default();
        let id = Uuid::now_v7();
        let read_at = Instant::now();
        cache.insert_at(id, "a1".into(), read_at);
        assert_eq!(cache.get_at(id, read_at), Some("a1".into()));
        let almost = read_at + READY_REMEMBERED_FOR - Duration::from_millis(1);
        assert_eq!(cache.get_at(id, almost), Some("a1".into()));
        // Past the period the database is asked again (another replica may
        // have pointed the upload at a render or removed it).
        assert_eq!(cache.get_at(id, read_at + READY_REMEMBERED_FOR), None);
        assert_eq!(cache.get_at(id, read_at), None, "a stale entry is dropped");
        cache.insert_at(id, "r1".into(), read_at);
        cache.forget(id);
        assert_eq!(cache.get_at(id, read_at), None);
    }
}

impl MediaService {
    pub fn new(
        pool: PgPool,
        store: Store,
        keys: JwtKeys,
        config: Arc<Config>,
        worker_wake: Arc<Notify>,
        ready: ReadyCache,
    ) -> Self {
        Self {
            pool,
            store,
            keys,
            config,
            worker_wake,
            ready,
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
        let cached = self.ready.get(id);
        let prefix = match cached {
            Some(prefix) => prefix,
            None => self.check_ready(id).await?,
        };
        let max = if r.length == 0 {
            MAX_READ_BYTES
        } else {
            r.length.min(MAX_READ_BYTES)
        };
        let key = Store::output_key(id, &prefix, &r.path);
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
    /// The live outputs' prefix of a ready upload.
    async fn check_ready(&self, id: Uuid) -> MediaResult<String> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT state, output_prefix FROM uploads WHERE upload_id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            None => Err(MediaError::not_found(format!("upload {id} not found"))),
            Some((state, prefix)) if state == "ready" => {
                self.ready.insert(id, prefix.clone());
                Ok(prefix)
            }
            Some((other, _)) => Err(MediaError::rule(
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
