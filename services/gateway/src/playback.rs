//! Playback through short-lived signed URLs (the media edge).
//!
//! A video response carries `playback_url` and `poster_url` only for a
//! caller allowed to see the video (content decides visibility), signed for
//! `media.url_ttl_secs`: `/media/<upload_id>/<expires>/<signature>/master.m3u8`,
//! where the signature is HMAC-SHA256 over the upload id and the expiry. The
//! signature is a path segment, so the relative URLs inside the HLS
//! playlists (`720p/index.m3u8`, `seg_00000.ts`) carry it too. The edge
//! checks it, then streams the object from the media service with HTTP
//! Range support, the object's content type and cache headers that never
//! outlive the URL.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use loop_platform::config::Secret;
use loop_proto::media::v1 as media;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;

/// The development key of playback URLs (refused unless LOOP_ENV=development).
pub use loop_platform::playback::DEV_URL_KEY as DEV_PLAYBACK_KEY;

/// Most bytes asked of the media service per read (its own cap too).
const READ_BYTES: u64 = 1024 * 1024;

/// The scheme content stores for a video published from an upload.
pub const MEDIA_SCHEME: &str = "loop-media:";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MediaEdgeConfig {
    /// HMAC-SHA256 key of playback URLs (32+ bytes).
    pub url_key: Secret<String>,
    /// How long a playback URL works.
    pub url_ttl_secs: u64,
    /// Largest body of one upload PATCH (tus); the gateway forwards it to
    /// the media service in pieces of `chunk_bytes`.
    pub max_patch_bytes: usize,
    pub chunk_bytes: usize,
}

impl Default for MediaEdgeConfig {
    fn default() -> Self {
        Self {
            url_key: Secret::new(DEV_PLAYBACK_KEY.into()),
            url_ttl_secs: 1800,
            max_patch_bytes: 16 * 1024 * 1024,
            chunk_bytes: 1024 * 1024,
        }
    }
}

impl MediaEdgeConfig {
    pub fn validate_into(&self, problems: &mut Vec<String>) {
        if self.url_key.expose().len() < 32 {
            problems.push("media.url_key: must be at least 32 bytes".into());
        }
        if !(60..=24 * 3600).contains(&self.url_ttl_secs) {
            problems.push("media.url_ttl_secs: must be 60..=86400".into());
        }
        if !(1024..=1024 * 1024 * 1024).contains(&self.max_patch_bytes) {
            problems.push("media.max_patch_bytes: must be 1024..=1073741824".into());
        }
        let max_chunk = loop_platform::playback::MAX_FORWARDED_CHUNK_BYTES;
        if !(1024..=max_chunk).contains(&self.chunk_bytes) {
            problems.push(format!(
                "media.chunk_bytes: must be 1024..={max_chunk} (what every media service accepts per chunk)"
            ));
        }
    }

    pub fn development_only(&self, out: &mut Vec<String>) {
        if self.url_key.expose() == DEV_PLAYBACK_KEY {
            out.push("media.url_key".into());
        }
    }
}

/// Signs and checks playback URLs (`loop_platform::playback`).
pub struct Signer {
    key: Vec<u8>,
    ttl_secs: u64,
}

pub use loop_platform::playback::UrlError;

impl Signer {
    pub fn new(config: &MediaEdgeConfig) -> Self {
        Self {
            key: config.url_key.expose().as_bytes().to_vec(),
            ttl_secs: config.url_ttl_secs,
        }
    }

    /// `/media/<upload_id>/<expires>/<signature>/` valid from `now` for the TTL.
    pub fn prefix_at(&self, upload_id: &str, now: u64) -> String {
        let expires = now + self.ttl_secs;
        let sig = loop_platform::playback::sign(&self.key, upload_id, expires);
        format!("/media/{upload_id}/{expires}/{sig}/")
    }

    /// The playback and poster URLs of `media_url` when it names an upload.
    pub fn urls(&self, media_url: &str) -> Option<(String, String)> {
        let upload_id = media_url.strip_prefix(MEDIA_SCHEME)?;
        uuid::Uuid::parse_str(upload_id).ok()?;
        let prefix = self.prefix_at(upload_id, loop_platform::playback::now_secs());
        Some((
            format!("{prefix}master.m3u8"),
            format!("{prefix}poster.jpg"),
        ))
    }

    /// The expiry of a valid, unexpired signature.
    pub fn check(
        &self,
        upload_id: &str,
        expires: &str,
        sig: &str,
        now: u64,
    ) -> Result<u64, UrlError> {
        let expires: u64 = expires.parse().map_err(|_| UrlError::Invalid)?;
        loop_platform::playback::verify(&self.key, upload_id, expires, sig, now)?;
        Ok(expires)
    }
}

tokio::task_local! {
    /// The signer of the gateway serving the current request, so every
    /// video response (`VideoDto::from`) carries signed URLs without each
    /// route passing the state along.
    pub static SIGNER: std::sync::Arc<Signer>;
}

/// The signed URLs of `media_url` for the current request, if it names an upload.
pub fn signed_urls(media_url: &str) -> Option<(String, String)> {
    SIGNER.try_with(|s| s.urls(media_url)).ok().flatten()
}

/// Runs the request with this gateway's signer in scope.
pub async fn with_signer(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    SIGNER
        .scope(state.playback.clone(), next.run(request))
        .await
}

/// A single `bytes=` range, resolved against `size`: `Ok(None)` for no (or
/// an unsupported multi-) range, `Err` when unsatisfiable.
pub fn parse_range(value: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1))
        };
        (start, end)
    };
    if size == 0 || start >= size || end < start {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// A refused playback URL: 403 either way, with `reason` telling an
/// expired URL (`URL_EXPIRED`: fetch the video again for a fresh one) from
/// one that was never valid (`URL_INVALID`).
fn denied(reason: &str, message: &str) -> Response {
    ApiError {
        reason: Some(reason.into()),
        ..ApiError::new(StatusCode::FORBIDDEN, "permission_denied", message)
    }
    .into_response()
}

/// Whether the media service checks playback signatures with this
/// gateway's key (the key is configured in both): a URL for an upload that
/// does not exist is "not found" under the same key, "not valid" under
/// another. Part of `/readyz`.
pub async fn key_matches(st: &AppState) -> bool {
    let signer = &st.playback;
    let upload_id = uuid::Uuid::nil().to_string();
    let expires = loop_platform::playback::now_secs() + 60;
    let request = loop_platform::grpc::request(
        media::ReadObjectRequest {
            upload_id: upload_id.clone(),
            path: "master.m3u8".into(),
            offset: 0,
            length: 1,
            expires,
            signature: loop_platform::playback::sign(&signer.key, &upload_id, expires),
        },
        None,
        std::time::Duration::from_secs(2),
    );
    match st.media().read_object(request).await {
        Err(status) if status.code() == tonic::Code::PermissionDenied => {
            tracing::error!(
                "the media service refuses this gateway's playback signatures: \
                 media.url_key (gateway) and playback.url_key (media) differ"
            );
            false
        }
        // NotFound (the expected answer) or anything else: the key is not
        // what is wrong.
        _ => true,
    }
}

/// Play a video: its HLS playlists, segments and poster, through the
/// signed URL a video response carries (`playback_url`, `poster_url`);
/// playlists name their segments relatively, so the signature travels
/// with them. No bearer token: the signature is the credential, for
/// `media.url_ttl_secs`. One `Range` (`bytes=a-b`, `bytes=a-`, `bytes=-n`)
/// is honoured (206); `Cache-Control: private` never outlives the URL.
#[utoipa::path(get, path = "/media/{upload_id}/{expires}/{signature}/{path}", tag = "media",
    params(
        ("upload_id" = uuid::Uuid, Path, description = "The upload the video was published from"),
        ("expires" = u64, Path, description = "Unix seconds until which the URL works"),
        ("signature" = String, Path, description = "HMAC-SHA256 of the upload id and the expiry (base64url)"),
        ("path" = String, Path, description = "`master.m3u8`, `<rendition>/index.m3u8`, `<rendition>/seg_NNNNN.ts` or `poster.jpg` (may contain one `/`)"),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`"),
    ),
    responses(
        (status = 200, description = "The whole object (`application/vnd.apple.mpegurl`, `video/mp2t` or `image/jpeg`)",
            headers(("Accept-Ranges" = String, description = "bytes"), ("Cache-Control" = String, description = "private, max-age until the URL expires (at most 1 h)"))),
        (status = 206, description = "The requested range", headers(("Content-Range" = String, description = "bytes start-end/size"))),
        (status = 403, body = crate::ErrorBody, description = "`permission_denied`: `reason` `URL_EXPIRED` (the URL's time is up: fetch the video again for a fresh one) or `URL_INVALID` (the signature does not match)"),
        (status = 404, body = crate::ErrorBody, description = "`not_found`: no such upload or output"),
        (status = 416, description = "The range starts past the end (`Content-Range: bytes */size`)"),
        (status = 422, body = crate::ErrorBody, description = "`failed_precondition` (`MEDIA_NOT_READY`): the upload is not (or no longer) playable"),
    ))]
pub async fn serve(
    State(st): State<AppState>,
    Path((upload_id, expires_text, sig, path)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let now = loop_platform::playback::now_secs();
    let expires = match st.playback.check(&upload_id, &expires_text, &sig, now) {
        Ok(e) => e,
        Err(UrlError::Expired) => {
            return denied(
                "URL_EXPIRED",
                "the playback URL expired; fetch the video again",
            );
        }
        Err(UrlError::Invalid) => return denied("URL_INVALID", "the playback URL is not valid"),
    };
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    // The first read learns the size; ranges are resolved against it.
    let first_len = READ_BYTES;
    let start_guess = match range_header.and_then(|r| r.strip_prefix("bytes=")) {
        Some(spec) => spec
            .split_once('-')
            .and_then(|(a, _)| a.trim().parse::<u64>().ok())
            .unwrap_or(0),
        None => 0,
    };
    let read = |offset: u64, length: u64| {
        let request = loop_platform::grpc::request(
            media::ReadObjectRequest {
                upload_id: upload_id.clone(),
                path: path.clone(),
                offset,
                length,
                expires,
                signature: sig.clone(),
            },
            None,
            st.timeout(),
        );
        let mut client = st.media();
        async move { client.read_object(request).await.map(|r| r.into_inner()) }
    };
    let first = match read(start_guess, first_len).await {
        Ok(r) => r,
        Err(status) => return ApiError::from(status).into_response(),
    };
    let size = first.total_size;
    let range = match parse_range(range_header, size) {
        Ok(r) => r,
        Err(()) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return response;
        }
    };
    let (start, end) = range.unwrap_or((0, size.saturating_sub(1)));
    let len = if size == 0 { 0 } else { end - start + 1 };
    // The first read is reusable when it started where the answer starts.
    let mut first_data = if start == start_guess {
        Some(first.data)
    } else {
        None
    };
    let content_type = first.content_type.clone();
    let stream = async_stream(
        st.clone(),
        media::ReadObjectRequest {
            upload_id: upload_id.clone(),
            path: path.clone(),
            offset: start,
            length: 0,
            expires,
            signature: sig.clone(),
        },
        len,
        first_data.take(),
    );
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set(&mut *h, header::CONTENT_TYPE, content_type);
    set(&mut *h, header::CONTENT_LENGTH, len.to_string());
    set(&mut *h, header::ACCEPT_RANGES, "bytes".into());
    // Outputs never change, but the URL expires: caches keep it no longer,
    // and only the viewer's own cache (private).
    let max_age = expires.saturating_sub(now).min(3600);
    set(
        h,
        header::CACHE_CONTROL,
        format!("private, max-age={max_age}"),
    );
    if range.is_some() {
        set(
            h,
            header::CONTENT_RANGE,
            format!("bytes {start}-{end}/{size}"),
        );
    }
    response
}

/// The bytes `[request.offset, request.offset + len)` of an output, read
/// from the media service in pieces (the first one possibly already in hand).
fn async_stream(
    st: AppState,
    request: media::ReadObjectRequest,
    len: u64,
    first: Option<bytes::Bytes>,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    let start = request.offset;
    futures::stream::unfold((start, len, first), move |(offset, remaining, first)| {
        let st = st.clone();
        let request = media::ReadObjectRequest {
            offset,
            length: remaining.min(READ_BYTES),
            ..request.clone()
        };
        async move {
            if remaining == 0 {
                return None;
            }
            let data = match first {
                Some(d) => d,
                None => {
                    let request = loop_platform::grpc::request(request, None, st.timeout());
                    match st.media().read_object(request).await {
                        Ok(r) => r.into_inner().data,
                        Err(status) => {
                            tracing::warn!(code = ?status.code(), "reading media for playback failed");
                            return Some((
                                Err(std::io::Error::other("media read failed")),
                                (offset, 0, None),
                            ));
                        }
                    }
                }
            };
            if data.is_empty() {
                return Some((
                    Err(std::io::Error::other("media object shorter than announced")),
                    (offset, 0, None),
                ));
            }
            let take = (data.len() as u64).min(remaining);
            let chunk = data.slice(0..take as usize);
            Some((Ok(chunk), (offset + take, remaining - take, None)))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_urls_check_out_and_tampering_or_expiry_does_not() {
        let signer = Signer::new(&MediaEdgeConfig::default());
        let id = "0193a0c4-1111-7000-8000-000000000001";
        let prefix = signer.prefix_at(id, 1_000);
        let parts: Vec<&str> = prefix.trim_matches('/').split('/').collect();
        let (exp, sig) = (parts[2], parts[3]);
        assert_eq!(signer.check(id, exp, sig, 1_000), Ok(2_800));
        assert_eq!(signer.check(id, exp, sig, 2_800), Err(UrlError::Expired));
        let other = "0193a0c4-1111-7000-8000-000000000002";
        assert_eq!(signer.check(other, exp, sig, 1_000), Err(UrlError::Invalid));
        assert_eq!(signer.check(id, "2801", sig, 1_000), Err(UrlError::Invalid));
        let mut forged = sig.to_owned();
        forged.replace_range(0..1, if sig.starts_with('A') { "B" } else { "A" });
        assert_eq!(
            signer.check(id, exp, &forged, 1_000),
            Err(UrlError::Invalid)
        );
        assert!(signer.urls("https://cdn.example/v.mp4").is_none());
        assert!(signer.urls(&format!("{MEDIA_SCHEME}{id}")).is_some());
    }

    #[test]
    fn ranges_resolve_against_the_size() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Ok(Some((0, 3))));
        assert_eq!(parse_range(Some("bytes=4-"), 10), Ok(Some((4, 9))));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(parse_range(Some("bytes=5-100"), 10), Ok(Some((5, 9))));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=x-"), 10), Err(()));
    }
}
