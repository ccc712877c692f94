//! Video uploads: resumable sessions speaking tus 1.0 (core + creation +
//! termination) over the media service, which owns their state.
//!
//! `POST /v1/uploads` opens a session (a JSON body, or the tus creation
//! headers `Upload-Length` + `Upload-Metadata: filetype <base64>`);
//! `PATCH /v1/uploads/{id}` appends `application/offset+octet-stream` bytes
//! at `Upload-Offset` (forwarded to the media service in bounded pieces);
//! `HEAD`/`GET` tell where to resume; `DELETE` abandons it. A chunk at the
//! wrong offset is 409, past the declared size 413; only the owner writes;
//! an expired or cancelled upload is 410 Gone (tus termination/expiration).
//! Once complete, the upload is processed; `GET` shows `ready` (publish it
//! with `POST /v1/videos {"upload_id": ...}`) or `failed` with the reason.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use loop_proto::media::Reason;
use loop_proto::media::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::enum_to_str;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, parse_json};
use crate::responses::{Conflict, Forbidden, NotFound, Unprocessable};

pub const TUS_VERSION: &str = "1.0.0";
const OFFSET_STREAM: &str = "application/offset+octet-stream";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_upload))
        .routes(routes!(
            get_upload,
            head_upload,
            append_upload,
            cancel_upload
        ))
}

/// The video types an upload may declare (the media service's default list).
const VIDEO_TYPES: &[&str] = &[
    "video/mp4",
    "video/quicktime",
    "video/webm",
    "video/x-matroska",
    "video/mpeg",
    "video/3gpp",
];

fn video_type_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(VIDEO_TYPES.iter().copied()))
        .build()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUploadBody {
    /// The file's exact size in bytes (over the configured limit, 512 MiB by default, is 413).
    #[schema(minimum = 1)]
    pub size_bytes: u64,
    /// The file's type; what the file really is is found by probing it.
    #[schema(schema_with = video_type_schema)]
    pub content_type: String,
}

/// An upload session.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadDto {
    pub upload_id: String,
    /// uploading, processing, ready, failed, expired or cancelled.
    pub state: String,
    pub size_bytes: u64,
    /// Bytes received: where to resume.
    pub offset: u64,
    pub content_type: String,
    /// An unfinished upload is deleted after this.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why processing failed (state failed).
    pub failure_reason: Option<String>,
    /// Measured by the server (state ready).
    pub duration_ms: Option<u32>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Rendition names (state ready), e.g. 720p, 360p.
    pub renditions: Vec<String>,
    pub processing_attempts: u32,
}

impl From<pb::Upload> for UploadDto {
    fn from(u: pb::Upload) -> Self {
        let ready = u.state() == pb::UploadState::Ready;
        Self {
            state: enum_to_str(u.state().as_str_name(), "UPLOAD_STATE_"),
            upload_id: u.upload_id,
            size_bytes: u.size_bytes,
            offset: u.offset,
            content_type: u.content_type,
            expires_at: u.expires_at.and_then(|t| crate::dto::ts(Some(t))),
            failure_reason: (!u.failure_reason.is_empty()).then_some(u.failure_reason),
            duration_ms: ready.then_some(u.duration_ms),
            width: ready.then_some(u.width),
            height: ready.then_some(u.height),
            renditions: u.renditions.into_iter().map(|r| r.name).collect(),
            processing_attempts: u.processing_attempts,
        }
    }
}

fn tus_headers(response: &mut Response, upload: &pb::Upload) {
    let h = response.headers_mut();
    h.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for (name, value) in [
        ("upload-offset", upload.offset.to_string()),
        ("upload-length", upload.size_bytes.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    if let Some(expires) = upload.expires_at.and_then(|t| crate::dto::ts(Some(t)))
        && let Ok(v) =
            HeaderValue::from_str(&expires.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
    {
        h.insert("upload-expires", v);
    }
}

fn check_tus_version(headers: &HeaderMap) -> ApiResult<()> {
    match headers
        .get("tus-resumable")
        .map(|v| v.to_str().unwrap_or_default())
    {
        None | Some(TUS_VERSION) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "unsupported_version",
            "Tus-Resumable: this server speaks tus 1.0.0",
        )),
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> ApiResult<Option<u64>> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::invalid(name, "must be a non-negative integer"))
        })
        .transpose()
}

/// `Upload-Metadata: key base64,key base64` (tus creation).
fn metadata(headers: &HeaderMap) -> ApiResult<Vec<(String, String)>> {
    let Some(raw) = headers.get("upload-metadata") else {
        return Ok(Vec::new());
    };
    let raw = raw
        .to_str()
        .map_err(|_| ApiError::invalid("Upload-Metadata", "must be ASCII"))?;
    raw.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let mut it = pair.trim().splitn(2, ' ');
            let key = it.next().unwrap_or_default().to_owned();
            let value = match it.next() {
                Some(b64) => STANDARD
                    .decode(b64.trim())
                    .ok()
                    .and_then(|v| String::from_utf8(v).ok())
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "Upload-Metadata",
                            format!("{key}: the value must be base64 of UTF-8"),
                        )
                    })?,
                None => String::new(),
            };
            Ok((key, value))
        })
        .collect()
}

/// Start an upload (creators). Send `{"size_bytes", "content_type"}`, or
/// the tus creation headers and no body: `Upload-Length` (the size in
/// bytes), `Upload-Metadata` (`filetype <base64 of the type>`, optionally
/// `,filename <base64>`) and `Tus-Resumable: 1.0.0` (optional; another
/// version is 412). Answers with `Location`, where the bytes go (`PATCH`).
/// Each user may have `uploads.max_open_per_user` unfinished uploads (10):
/// one more is 429 `TOO_MANY_UPLOADS`.
#[utoipa::path(post, path = "/v1/uploads", tag = "uploads", security(("bearer" = [])),
    request_body = CreateUploadBody,
    responses((status = 201, body = UploadDto, headers(("Location" = String, description = "The upload's URL"), ("Upload-Offset" = u64, description = "0"), ("Upload-Expires" = String, description = "When an unfinished upload is deleted (HTTP date)"), ("Tus-Resumable" = String, description = "1.0.0"))),
        (status = 412, body = crate::ErrorBody, description = "`unsupported_version`: `Tus-Resumable` names a version other than 1.0.0"),
        (status = 413, body = crate::ErrorBody, description = "`failed_precondition` (`UPLOAD_TOO_LARGE`): the declared size is over the limit"),
        (status = 415, body = crate::ErrorBody, description = "`unsupported_media_type`: neither a JSON body nor the tus `Upload-Length` header"),
        (status = 429, body = crate::ErrorBody, description = "`rate_limited`: too many requests, or (`TOO_MANY_UPLOADS`) as many unfinished uploads as allowed: finish or cancel one"),
        Forbidden))]
pub async fn create_upload(
    State(st): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> ApiResult<Response> {
    check_tus_version(&headers)?;
    let request = match header_u64(&headers, "upload-length")? {
        Some(size_bytes) => {
            let meta = metadata(&headers)?;
            let get = |k: &str| {
                meta.iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let content_type = get("filetype");
            if content_type.is_empty() {
                return Err(ApiError::invalid(
                    "Upload-Metadata",
                    format!("filetype is required, one of {}", VIDEO_TYPES.join(", ")),
                ));
            }
            pb::CreateUploadRequest {
                size_bytes,
                content_type,
                filename: get("filename"),
            }
        }
        None => {
            let is_json = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            if !is_json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as application/json, or the tus Upload-Length header",
                ));
            }
            let b: CreateUploadBody = parse_json(&body)?;
            pb::CreateUploadRequest {
                size_bytes: b.size_bytes,
                content_type: b.content_type,
                filename: String::new(),
            }
        }
    };
    let upload = st
        .call(st.media().create_upload(st.req(&user, request)))
        .await
        .map_err(media_error_from_api)?;
    let location = format!("/v1/uploads/{}", upload.upload_id);
    let mut response = (StatusCode::CREATED, Json(UploadDto::from(upload.clone()))).into_response();
    tus_headers(&mut response, &upload);
    response.headers_mut().remove(header::CACHE_CONTROL);
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// A media refusal as tus expects it: past the declared size is 413, an
/// expired or cancelled upload 410 Gone.
fn media_error_from_api(mut err: ApiError) -> ApiError {
    if err.reason.as_deref() == Some(Reason::UploadTooLarge.as_str()) {
        err.status = StatusCode::PAYLOAD_TOO_LARGE;
    }
    if err.reason.as_deref() == Some(Reason::UploadGone.as_str()) {
        err.status = StatusCode::GONE;
        err.code = "gone";
    }
    err
}

fn gone(upload: &pb::Upload) -> bool {
    matches!(
        upload.state(),
        pb::UploadState::Expired | pb::UploadState::Cancelled
    )
}

/// An upload's state, in every state (`expired`, `cancelled` included).
/// The owner only.
#[utoipa::path(get, path = "/v1/uploads/{upload_id}", tag = "uploads", security(("bearer" = [])),
    params(("upload_id" = uuid::Uuid, Path)),
    responses((status = 200, body = UploadDto, headers(("Upload-Offset" = u64, description = "Bytes received"), ("Upload-Length" = u64, description = "Declared size"))), NotFound, Forbidden))]
pub async fn get_upload(
    State(st): State<AppState>,
    user: AuthUser,
    Path(upload_id): Path<String>,
) -> ApiResult<Response> {
    let upload = st
        .call(
            st.media()
                .get_upload(st.req(&user, pb::GetUploadRequest { upload_id })),
        )
        .await?;
    let mut response = Json(UploadDto::from(upload.clone())).into_response();
    tus_headers(&mut response, &upload);
    Ok(response)
}

/// Where to resume (the tus offset query): `Upload-Offset`, `Upload-Length`,
/// no body. An expired or cancelled upload is 410 Gone (start a new one).
/// The owner only.
#[utoipa::path(head, path = "/v1/uploads/{upload_id}", tag = "uploads", security(("bearer" = [])),
    params(("upload_id" = uuid::Uuid, Path)),
    responses((status = 200, description = "The upload takes bytes from `Upload-Offset` (or is complete)", headers(("Upload-Offset" = u64, description = "Bytes received"), ("Upload-Length" = u64, description = "Declared size"), ("Tus-Resumable" = String, description = "1.0.0"), ("Cache-Control" = String, description = "no-store"))),
        (status = 410, description = "The upload expired or was cancelled"),
        NotFound, Forbidden))]
pub async fn head_upload(
    State(st): State<AppState>,
    user: AuthUser,
    Path(upload_id): Path<String>,
) -> ApiResult<Response> {
    let upload = st
        .call(
            st.media()
                .get_upload(st.req(&user, pb::GetUploadRequest { upload_id })),
        )
        .await?;
    let status = if gone(&upload) {
        StatusCode::GONE
    } else {
        StatusCode::OK
    };
    let mut response = status.into_response();
    tus_headers(&mut response, &upload);
    Ok(response)
}

/// The tus PATCH headers, as the document declares them.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // a declaration for the document; the handler reads the headers
pub struct PatchHeaders {
    /// Where these bytes go: the upload's current offset.
    #[param(rename = "Upload-Offset", minimum = 0)]
    upload_offset: u64,
}

/// Append bytes at `Upload-Offset` (tus PATCH; the body is the raw bytes,
/// `Content-Type: application/offset+octet-stream`, else 415;
/// `Tus-Resumable: 1.0.0` optional, another version 412).
/// Answers 204 with the new `Upload-Offset`. A wrong offset is 409 (`OFFSET_MISMATCH`:
/// ask `HEAD` and resume from there), bytes past the declared size 413, an
/// expired or cancelled upload 410 (`UPLOAD_GONE`), a complete one 422
/// (`UPLOAD_NOT_ACTIVE`).
#[utoipa::path(patch, path = "/v1/uploads/{upload_id}", tag = "uploads", security(("bearer" = [])),
    params(("upload_id" = uuid::Uuid, Path), PatchHeaders),
    responses((status = 204, description = "Stored", headers(("Upload-Offset" = u64, description = "Bytes received"), ("Upload-Expires" = String, description = "When the upload is deleted unless completed (HTTP date)"))),
        (status = 410, body = crate::ErrorBody, description = "`gone` (`UPLOAD_GONE`): the upload expired or was cancelled; start a new one"),
        (status = 412, body = crate::ErrorBody, description = "`unsupported_version`: `Tus-Resumable` names a version other than 1.0.0"),
        (status = 413, body = crate::ErrorBody, description = "`failed_precondition` (`UPLOAD_TOO_LARGE`): past the declared size, or a body over `media.max_patch_bytes`"),
        (status = 415, body = crate::ErrorBody, description = "`unsupported_media_type`: send `application/offset+octet-stream`"),
        NotFound, Forbidden, Conflict, Unprocessable))]
pub async fn append_upload(
    State(st): State<AppState>,
    user: AuthUser,
    Path(upload_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    check_tus_version(&headers)?;
    let mut offset = header_u64(&headers, "upload-offset")?
        .ok_or_else(|| ApiError::invalid("Upload-Offset", "header is required"))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with(OFFSET_STREAM) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the bytes as application/offset+octet-stream",
        ));
    }
    let edge = &st.config.media;
    if header_u64(&headers, "content-length")
        .ok()
        .flatten()
        .is_some_and(|n| n > edge.max_patch_bytes as u64)
    {
        return Err(too_big(edge.max_patch_bytes));
    }
    let piece = edge.chunk_bytes;
    let mut buffer: Vec<u8> = Vec::with_capacity(piece);
    let mut total = 0usize;
    let mut last: Option<pb::Upload> = None;
    let mut stream = body.into_data_stream();
    let mut broken = false;
    loop {
        let next = stream.next().await;
        let done = match next {
            Some(Ok(bytes)) => {
                total += bytes.len();
                if total > edge.max_patch_bytes {
                    return Err(too_big(edge.max_patch_bytes));
                }
                buffer.extend_from_slice(&bytes);
                false
            }
            Some(Err(err)) => {
                // The client went away: keep what arrived (tus resumes from it).
                tracing::debug!(error = %err, "upload body interrupted");
                broken = true;
                true
            }
            None => true,
        };
        while buffer.len() >= piece || (done && !buffer.is_empty()) {
            let take = buffer.len().min(piece);
            let data: Vec<u8> = buffer.drain(..take).collect();
            let request = pb::AppendChunkRequest {
                upload_id: upload_id.clone(),
                offset,
                data: data.into(),
            };
            let upload = st
                .call(st.media().append_chunk(st.req(&user, request)))
                .await
                .map_err(media_error_from_api)?;
            offset = upload.offset;
            last = Some(upload);
        }
        if done {
            break;
        }
    }
    if broken {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the body was interrupted; ask HEAD for the offset and resume",
        ));
    }
    let upload = match last {
        Some(u) => u,
        // An empty PATCH: the offset must still be right.
        None => {
            let upload = st
                .call(st.media().get_upload(st.req(
                    &user,
                    pb::GetUploadRequest {
                        upload_id: upload_id.clone(),
                    },
                )))
                .await?;
            if gone(&upload) {
                return Err(ApiError {
                    reason: Some(Reason::UploadGone.as_str().into()),
                    ..ApiError::new(
                        StatusCode::GONE,
                        "gone",
                        "the upload expired or was cancelled; start a new one",
                    )
                });
            }
            if upload.offset != offset {
                return Err(ApiError {
                    reason: Some(Reason::OffsetMismatch.as_str().into()),
                    ..ApiError::new(
                        StatusCode::CONFLICT,
                        "aborted",
                        format!(
                            "OFFSET_MISMATCH: offset: the upload is at byte {}; this chunk starts at {offset}",
                            upload.offset
                        ),
                    )
                });
            }
            upload
        }
    };
    let mut response = StatusCode::NO_CONTENT.into_response();
    tus_headers(&mut response, &upload);
    response.headers_mut().remove("upload-length");
    Ok(response)
}

fn too_big(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_body",
        format!("a PATCH body may carry at most {max} bytes; send the rest in another PATCH"),
    )
}

/// Abandon an unfinished upload (tus termination): its bytes are deleted.
/// An upload already expired or cancelled is 410; a complete one 422.
#[utoipa::path(delete, path = "/v1/uploads/{upload_id}", tag = "uploads", security(("bearer" = [])),
    params(("upload_id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Deleted"),
        (status = 410, body = crate::ErrorBody, description = "`gone` (`UPLOAD_GONE`): the upload already expired or was cancelled"),
        NotFound, Forbidden, Unprocessable))]
pub async fn cancel_upload(
    State(st): State<AppState>,
    user: AuthUser,
    Path(upload_id): Path<String>,
) -> ApiResult<Response> {
    st.call(
        st.media()
            .cancel_upload(st.req(&user, pb::CancelUploadRequest { upload_id })),
    )
    .await
    .map_err(media_error_from_api)?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    Ok(response)
}
