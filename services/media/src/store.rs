//! The one storage interface: an `object_store` (a local folder by default,
//! any S3-compatible store by configuration) and the key layout.
//!
//! ```text
//! uploads/<upload_id>/parts/<offset, 16 digits>-<write id>  received chunks
//! media/<upload_id>/a<attempt>/master.m3u8         processed outputs, one
//! media/<upload_id>/a<attempt>/<rendition>/index.m3u8  set per processing
//! media/<upload_id>/a<attempt>/<rendition>/seg_00000.ts  attempt; the ready
//! media/<upload_id>/a<attempt>/poster.jpg          row names the live one
//! ```
//!
//! An attempt writes only under its own prefix, so a worker that lost its
//! lease (and is fenced out of marking the upload) can never overwrite or
//! delete the outputs being played.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use uuid::Uuid;

use crate::config::StorageConfig;

#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
}

impl Store {
    /// The configured store (creates the local folder).
    pub fn open(config: &StorageConfig) -> anyhow::Result<Self> {
        let inner: Arc<dyn ObjectStore> = match config.backend.as_str() {
            "s3" => {
                let s3 = &config.s3;
                let mut builder = object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_allow_http(s3.allow_http);
                if !s3.endpoint.is_empty() {
                    builder = builder.with_endpoint(&s3.endpoint);
                }
                if !s3.access_key_id.is_empty() {
                    builder = builder
                        .with_access_key_id(&s3.access_key_id)
                        .with_secret_access_key(s3.secret_access_key.expose());
                }
                Arc::new(builder.build()?)
            }
            _ => {
                std::fs::create_dir_all(&config.local_dir)?;
                Arc::new(
                    object_store::local::LocalFileSystem::new_with_prefix(&config.local_dir)?
                        .with_automatic_cleanup(true),
                )
            }
        };
        Ok(Self { inner })
    }

    pub fn part_key(upload_id: Uuid, offset: u64) -> Path {
        Path::from(format!("uploads/{upload_id}/parts/{offset:016}"))
    }

    /// The key of one write of a chunk: its own object, so a write that
    /// loses the race for its offset cannot overwrite the winner's bytes.
    pub fn part_write_key(upload_id: Uuid, offset: u64, write_id: Uuid) -> Path {
        Path::from(format!("uploads/{upload_id}/parts/{offset:016}-{write_id}"))
    }

    pub fn upload_prefix(upload_id: Uuid) -> Path {
        Path::from(format!("uploads/{upload_id}"))
    }

    pub fn media_prefix(upload_id: Uuid) -> Path {
        Path::from(format!("media/{upload_id}"))
    }

    /// Where processing attempt `attempt` writes its outputs.
    pub fn attempt_prefix(upload_id: Uuid, attempt: i32) -> String {
        format!("media/{upload_id}/a{attempt}")
    }

    /// Where render attempt `attempt` (a duet or stitch) writes its outputs.
    pub fn render_prefix(upload_id: Uuid, attempt: i32) -> String {
        format!("media/{upload_id}/r{attempt}")
    }

    /// The key of output `relative` (already checked by [`valid_output_path`])
    /// under `prefix` (the ready row's `output_prefix`; empty for outputs
    /// stored before per-attempt prefixes: `media/<id>/`).
    pub fn output_key(upload_id: Uuid, prefix: &str, relative: &str) -> Path {
        if prefix.is_empty() {
            Path::from(format!("media/{upload_id}/{relative}"))
        } else {
            Path::from(format!("{prefix}/{relative}"))
        }
    }

    /// Deletes the outputs of attempts before `attempt` (they can never
    /// become ready: the fence only admits the latest attempt).
    pub async fn delete_attempts_before(
        &self,
        upload_id: Uuid,
        attempt: i32,
    ) -> object_store::Result<()> {
        let prefix = Self::media_prefix(upload_id);
        let older = self
            .inner
            .list(Some(&prefix))
            .try_filter_map(move |meta| {
                let segment = meta
                    .location
                    .prefix_match(&Self::media_prefix(upload_id))
                    .and_then(|mut parts| parts.next())
                    .map(|p| p.as_ref().to_owned())
                    .unwrap_or_default();
                let stale = match segment.strip_prefix('a').map(str::parse::<i32>) {
                    Some(Ok(n)) => n < attempt,
                    // Renders (r<n>) are not processing attempts.
                    _ if segment.starts_with('r') => false,
                    // Anything else under media/<id>/ predates attempts.
                    _ => true,
                };
                futures::future::ready(Ok(stale.then_some(meta.location)))
            })
            .boxed();
        self.delete_all(older).await
    }

    /// Deletes `locations`. An object already gone is what was wanted: two
    /// attempts (a fenced-out one cleaning up its own outputs, the winner
    /// deleting every older attempt's) may delete the same objects at once.
    async fn delete_all(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
    ) -> object_store::Result<()> {
        let gone =
            |r: &object_store::Result<Path>| matches!(r, Err(object_store::Error::NotFound { .. }));
        let locations = locations
            .filter(move |r| futures::future::ready(!gone(r)))
            .boxed();
        self.inner
            .delete_stream(locations)
            .or_else(|e| {
                futures::future::ready(match e {
                    object_store::Error::NotFound { path, .. } => Ok(Path::from(path)),
                    e => Err(e),
                })
            })
            .try_for_each(|_| futures::future::ready(Ok(())))
            .await
    }

    pub async fn put(&self, key: &Path, bytes: bytes::Bytes) -> object_store::Result<()> {
        self.inner
            .put(key, PutPayload::from(bytes))
            .await
            .map(|_| ())
    }

    pub async fn delete(&self, key: &Path) -> object_store::Result<()> {
        match self.inner.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }

    pub async fn get(&self, key: &Path) -> object_store::Result<bytes::Bytes> {
        self.inner.get(key).await?.bytes().await
    }

    /// Bytes `[start, end)` of `key` and the object's size (`end` is clamped).
    pub async fn read_range(
        &self,
        key: &Path,
        start: u64,
        max_len: u64,
    ) -> object_store::Result<(bytes::Bytes, u64)> {
        let size = self.inner.head(key).await?.size;
        let start = start.min(size);
        let end = start.saturating_add(max_len).min(size);
        if start == end {
            return Ok((bytes::Bytes::new(), size));
        }
        Ok((self.inner.get_range(key, start..end).await?, size))
    }

    /// Deletes every object under `prefix`.
    pub async fn delete_prefix(&self, prefix: &Path) -> object_store::Result<()> {
        let locations = self
            .inner
            .list(Some(prefix))
            .map_ok(|meta| meta.location)
            .boxed();
        self.delete_all(locations).await
    }

    /// Objects under `prefix` (for tests and the sweeper).
    pub async fn count_prefix(&self, prefix: &Path) -> object_store::Result<usize> {
        self.inner
            .list(Some(prefix))
            .try_fold(0, |n, _| async move { Ok(n + 1) })
            .await
    }
}

/// Whether `path` names an output a client may read: relative, no `..`,
/// only `[A-Za-z0-9_.-]` segments, a known extension.
pub fn valid_output_path(path: &str) -> bool {
    let ok_segment = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    let segments: Vec<&str> = path.split('/').collect();
    (1..=2).contains(&segments.len())
        && segments.iter().all(|s| ok_segment(s))
        && content_type(path).is_some()
}

/// The content type of an output, by extension.
pub fn content_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.')?.1;
    Some(match ext {
        "m3u8" => "application/vnd.apple.mpegurl",
        "ts" => "video/mp2t",
        "jpg" => "image/jpeg",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_output_paths_are_readable() {
        for ok in [
            "master.m3u8",
            "720p/index.m3u8",
            "360p/seg_00003.ts",
            "poster.jpg",
        ] {
            assert!(valid_output_path(ok), "{ok}");
        }
        for bad in [
            "",
            "/master.m3u8",
            "../x.ts",
            "720p/../../uploads/x.ts",
            "a/b/c.ts",
            "source.mp4",
            "720p/",
            "720p/seg 1.ts",
        ] {
            assert!(!valid_output_path(bad), "{bad}");
        }
    }

    /// Two deleters of the same objects (a fenced-out attempt cleaning up
    /// its own outputs while the winner deletes every older attempt's):
    /// whoever comes second finds some objects gone, which is not an error.
    #[tokio::test]
    async fn deleting_objects_another_deleter_removed_is_not_an_error() {
        let dir = std::env::temp_dir().join(format!("loop-media-store-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("dir");
        let store = Store {
            inner: Arc::new(
                object_store::local::LocalFileSystem::new_with_prefix(&dir).expect("fs"),
            ),
        };
        let upload = Uuid::now_v7();
        let kept = Store::output_key(upload, &Store::attempt_prefix(upload, 2), "master.m3u8");
        let old = Store::output_key(upload, &Store::attempt_prefix(upload, 1), "master.m3u8");
        for key in [&kept, &old] {
            store
                .put(key, bytes::Bytes::from_static(b"#EXTM3U"))
                .await
                .expect("put");
        }
        let gone = Path::from(format!("media/{upload}/a1/360p/seg_00000.ts"));
        store
            .delete_all(futures::stream::iter([Ok(old.clone()), Ok(gone)]).boxed())
            .await
            .expect("an object already gone is what was wanted");
        store
            .delete_attempts_before(upload, 2)
            .await
            .expect("nothing older is left");
        assert_eq!(
            store
                .count_prefix(&Store::media_prefix(upload))
                .await
                .expect("count"),
            1
        );
        assert!(
            store.get(&kept).await.is_ok(),
            "the live attempt's outputs stay"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
