//! Upload -> process -> publish -> play, through the gateway as a client
//! does: a generated clip sent with tus in several PATCHes (one cut off
//! mid-body and resumed from HEAD), processed by the media service,
//! published by upload id, played through signed URLs whose segments
//! decode and add up to the clip; and what is refused along the way.

#![allow(clippy::unwrap_used)] // a test: a missing field or header is a failure

use std::time::Duration;

use base64::Engine;
use loop_testkit::clips;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::*;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl Platform {
    /// tus creation; returns the upload's URL path.
    async fn tus_create(&self, token: &str, size: usize) -> String {
        let resp = self
            .http
            .post(format!("{}/v1/uploads", self.base))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", size.to_string())
            .header(
                "Upload-Metadata",
                format!("filetype {},filename {}", b64("video/mp4"), b64("clip.mp4")),
            )
            .send()
            .await
            .expect("create");
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert_eq!(resp.headers()["upload-offset"], "0");
        assert_eq!(resp.headers()["tus-resumable"], "1.0.0");
        resp.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned()
    }

    async fn patch(
        &self,
        token: &str,
        path: &str,
        offset: usize,
        bytes: &[u8],
    ) -> reqwest::Response {
        self.http
            .patch(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("patch")
    }

    async fn offset(&self, token: &str, path: &str) -> usize {
        let resp = self
            .http
            .head(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .expect("head");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        resp.headers()["upload-offset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// A PATCH whose connection drops after `sent` of its `bytes`.
    async fn patch_cut_off(
        &self,
        token: &str,
        path: &str,
        offset: usize,
        bytes: &[u8],
        sent: usize,
    ) {
        let addr = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "PATCH {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
            bytes.len()
        );
        stream.write_all(head.as_bytes()).await.expect("head");
        stream.write_all(&bytes[..sent]).await.expect("part");
        stream.flush().await.expect("flush");
        drop(stream);
    }

    /// Uploads `bytes` in one PATCH and waits until processed; the upload id.
    async fn upload_ready(&self, token: &str, bytes: &[u8]) -> String {
        let path = self.tus_create(token, bytes.len()).await;
        assert_eq!(
            self.patch(token, &path, 0, bytes).await.status(),
            StatusCode::NO_CONTENT
        );
        let upload = testing::wait_for("processing", Duration::from_secs(120), || async {
            let (_, u) = self.get(&path, token).await;
            (u["state"] != "processing").then_some(u)
        })
        .await;
        assert_eq!(upload["state"], "ready", "{upload}");
        path.rsplit('/').next().unwrap().to_owned()
    }

    async fn fetch(&self, url: &str, range: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{url}", self.base));
        if let Some(r) = range {
            req = req.header("Range", r);
        }
        req.send().await.expect("fetch")
    }
}

/// A playback URL re-signed for another expiry with the development key.
fn resign(url: &str, expires: u64) -> String {
    let parts: Vec<&str> = url.trim_start_matches('/').split('/').collect();
    let upload_id = parts[1];
    let key = loop_platform::playback::DEV_URL_KEY.as_bytes();
    let sig = loop_platform::playback::sign(key, upload_id, expires);
    format!(
        "/media/{upload_id}/{expires}/{sig}/{}",
        parts[4..].join("/")
    )
}

#[tokio::test]
async fn an_uploaded_clip_is_processed_published_and_played_through_signed_urls() {
    let p = Platform::start().await;
    let (creator, _) = p.sign_up("filmmaker", "creator").await;
    let (viewer, _) = p.sign_up("audience", "viewer").await;
    let (other, _) = p.sign_up("othermaker", "creator").await;
    let dir = std::env::temp_dir().join(format!("loop-e2e-media-{}", uuid::Uuid::now_v7()));
    let clip = clips::generate(&dir, "clip.mp4", 4, 1280, 720);
    let bytes = std::fs::read(&clip).expect("clip");
    let third = bytes.len() / 3;

    let path = p.tus_create(&creator, bytes.len()).await;
    let resp = p.patch(&creator, &path, 0, &bytes[..third]).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(resp.headers()["upload-offset"], third.to_string().as_str());
    // The second PATCH is cut off half-way; HEAD says what arrived.
    p.patch_cut_off(&creator, &path, third, &bytes[third..2 * third], third / 2)
        .await;
    let offset = testing::wait_for(
        "the cut-off PATCH to settle",
        Duration::from_secs(10),
        || async {
            let o = p.offset(&creator, &path).await;
            (o > third).then_some(o)
        },
    )
    .await;
    assert!(offset <= third + third / 2, "{offset}");
    // Out of order, and somebody else's session: refused, nothing changes.
    let resp = p
        .patch(&creator, &path, 2 * third, &bytes[2 * third..])
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["reason"], "OFFSET_MISMATCH");
    let resp = p.patch(&other, &path, offset, &bytes[offset..]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(p.offset(&creator, &path).await, offset);
    // Publishing before it is ready is refused.
    let upload_id = path.rsplit('/').next().unwrap().to_owned();
    let (status, body) = p
        .post(
            "/v1/videos",
            Some(&creator),
            json!({"caption": "early", "upload_id": upload_id}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Resume and finish.
    let resp = p.patch(&creator, &path, offset, &bytes[offset..]).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let ready = testing::wait_for("processing", Duration::from_secs(120), || async {
        let (_, u) = p.get(&path, &creator).await;
        (u["state"] != "processing").then_some(u)
    })
    .await;
    assert_eq!(ready["state"], "ready", "{ready}");
    assert_eq!(ready["renditions"], json!(["720p", "360p"]));
    let measured = clips::duration_ms(&clip);

    // Publish by upload id: the server's duration, playback and poster URLs.
    let (status, video) = p
        .post(
            "/v1/videos",
            Some(&creator),
            json!({"caption": "a real #clip", "upload_id": upload_id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{video}");
    assert!(
        video["duration_ms"].as_u64().unwrap().abs_diff(measured) <= 100,
        "{video}"
    );
    // The measured frame size and aspect come with it.
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(1280), Some(720)),
        "{video}"
    );
    assert!(
        (video["aspect_ratio"].as_f64().unwrap() - 16.0 / 9.0).abs() < 1e-9,
        "{video}"
    );
    let (status, again) = p
        .post(
            "/v1/videos",
            Some(&creator),
            json!({"caption": "twice", "upload_id": upload_id}),
        )
        .await;
    // A retried publish (its first answer lost) gets the same video.
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["video_id"], video["video_id"], "{again}");
    assert_eq!(again["caption"], video["caption"], "{again}");
    let (status, theirs) = p
        .post(
            "/v1/videos",
            Some(&other),
            json!({"caption": "not mine", "upload_id": upload_id}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{theirs}");
    let video_id = video["video_id"].as_str().unwrap();
    let (_, seen) = p.get(&format!("/v1/videos/{video_id}"), &viewer).await;
    let playback = seen["playback_url"]
        .as_str()
        .expect("playback_url")
        .to_owned();
    let poster = seen["poster_url"].as_str().expect("poster_url").to_owned();
    // The For You feed carries the same signed URLs once the ranker has
    // indexed the video (the catalog here is this one video).
    let card = testing::wait_for("the video in For You", Duration::from_secs(60), || async {
        let (_, page) = p.get("/v1/feed/for-you?page_size=50", &viewer).await;
        page["items"]
            .as_array()?
            .iter()
            .find(|item| item["video"]["video_id"] == video_id)
            .map(|item| item["video"].clone())
    })
    .await;
    for field in ["playback_url", "poster_url"] {
        let url = card[field].as_str().unwrap_or_default();
        assert!(
            url.starts_with(&format!("/media/{upload_id}/")),
            "For You {field}: {card}"
        );
    }

    let master = p.fetch(&playback, None).await;
    assert_eq!(master.status(), StatusCode::OK);
    assert_eq!(
        master.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    assert!(
        master.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("private, max-age=")
    );
    let master = master.text().await.unwrap();
    let base = playback.trim_end_matches("master.m3u8");
    let mut total_by_rendition = Vec::new();
    for variant in clips::playlist_uris(&master) {
        let playlist = p
            .fetch(&format!("{base}{variant}"), None)
            .await
            .text()
            .await
            .unwrap();
        let dir_url = format!("{base}{}", variant.trim_end_matches("index.m3u8"));
        let mut total = 0;
        for (i, segment) in clips::playlist_uris(&playlist).into_iter().enumerate() {
            let url = format!("{dir_url}{segment}");
            let whole = p.fetch(&url, None).await;
            assert_eq!(whole.headers()["content-type"], "video/mp2t");
            assert_eq!(whole.headers()["accept-ranges"], "bytes");
            let data = whole.bytes().await.unwrap();
            if i == 0 {
                let part = p.fetch(&url, Some("bytes=100-299")).await;
                assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
                assert_eq!(
                    part.headers()["content-range"].to_str().unwrap(),
                    format!("bytes 100-299/{}", data.len())
                );
                assert_eq!(part.bytes().await.unwrap(), data.slice(100..300));
                let past = p.fetch(&url, Some(&format!("bytes={}-", data.len()))).await;
                assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
            }
            let file = dir.join(format!("{}-{segment}", total_by_rendition.len()));
            std::fs::write(&file, &data).unwrap();
            assert!(clips::decodes(&file), "{url} does not decode");
            total += clips::duration_ms(&file);
        }
        total_by_rendition.push(total);
    }
    assert_eq!(total_by_rendition.len(), 2);
    for total in total_by_rendition {
        assert!(
            total.abs_diff(measured) <= 250,
            "segments {total} ms, clip {measured} ms"
        );
    }
    let poster = p.fetch(&poster, None).await;
    assert_eq!(poster.status(), StatusCode::OK);
    assert_eq!(poster.headers()["content-type"], "image/jpeg");

    // Tampered and expired URLs are refused.
    let tampered = playback.replacen(&upload_id, &uuid::Uuid::now_v7().to_string(), 1);
    let forged = p.fetch(&tampered, None).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let body: Value = forged.json().await.unwrap();
    assert_eq!(body["error"]["reason"], "URL_INVALID", "{body}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expired = p.fetch(&resign(&playback, now - 1), None).await;
    assert_eq!(expired.status(), StatusCode::FORBIDDEN);
    let body: Value = expired.json().await.unwrap();
    assert_eq!(body["error"]["reason"], "URL_EXPIRED", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
    // The re-signing is right: the same URL with a live expiry plays.
    assert_eq!(
        p.fetch(&resign(&playback, now + 60), None).await.status(),
        StatusCode::OK
    );

    // A private video's URLs are given to its creator only.
    let private_path = p.tus_create(&creator, bytes.len()).await;
    assert_eq!(
        p.patch(&creator, &private_path, 0, &bytes).await.status(),
        StatusCode::NO_CONTENT
    );
    let private_id = private_path.rsplit('/').next().unwrap().to_owned();
    testing::wait_for("processing", Duration::from_secs(120), || async {
        let (_, u) = p.get(&private_path, &creator).await;
        (u["state"] == "ready").then_some(())
    })
    .await;
    let (status, private) = p
        .post(
            "/v1/videos",
            Some(&creator),
            json!({"caption": "just me", "upload_id": private_id, "visibility": "private"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{private}");
    assert!(private["playback_url"].is_string());
    let (status, _) = p
        .get(
            &format!("/v1/videos/{}", private["video_id"].as_str().unwrap()),
            &viewer,
        )
        .await;
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
        "{status}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn bad_uploads_are_refused_clearly_and_a_text_file_fails_with_its_reason() {
    let p = Platform::start().await;
    let (creator, _) = p.sign_up("badfiles", "creator").await;
    let (viewer, _) = p.sign_up("justlooking", "viewer").await;
    // Over the size limit: 413 before any byte is sent.
    let (status, body) = p
        .post(
            "/v1/uploads",
            Some(&creator),
            json!({"size_bytes": 1u64 << 40, "content_type": "video/mp4"}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["reason"], "UPLOAD_TOO_LARGE");
    let (status, body) = p
        .post(
            "/v1/uploads",
            Some(&creator),
            json!({"size_bytes": 10, "content_type": "text/plain"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_field(&body), Some("content_type"));
    let (status, _) = p
        .post(
            "/v1/uploads",
            Some(&viewer),
            json!({"size_bytes": 10, "content_type": "video/mp4"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Bytes past the declared size: 413, nothing stored.
    let path = p.tus_create(&creator, 100).await;
    let resp = p.patch(&creator, &path, 0, &[0u8; 101]).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(p.offset(&creator, &path).await, 0);
    // Another tus version: 412.
    let resp = p
        .http
        .patch(format!("{}{path}", p.base))
        .bearer_auth(&creator)
        .header("Tus-Resumable", "0.2.2")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PRECONDITION_FAILED);
    // A cancelled upload is gone: HEAD and PATCH say 410.
    let cancelled = p.tus_create(&creator, 100).await;
    let resp = p
        .http
        .delete(format!("{}{cancelled}", p.base))
        .bearer_auth(&creator)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = p
        .http
        .head(format!("{}{cancelled}", p.base))
        .bearer_auth(&creator)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::GONE);
    let resp = p.patch(&creator, &cancelled, 0, &[0u8; 10]).await;
    assert_eq!(resp.status(), StatusCode::GONE);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["reason"], "UPLOAD_GONE", "{body}");
    let (status, body) = p.get(&cancelled, &creator).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["state"], "cancelled");
    // The document names the tus statuses, HEAD and the media edge.
    let doc: Value = p
        .http
        .get(format!("{}/openapi.json", p.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uploads = &doc["paths"]["/v1/uploads"]["post"]["responses"];
    for status in ["412", "415", "429"] {
        assert!(uploads.get(status).is_some(), "POST /v1/uploads {status}");
    }
    let one = &doc["paths"]["/v1/uploads/{upload_id}"];
    assert!(one["head"]["responses"].get("410").is_some(), "{one}");
    assert!(one["patch"]["responses"].get("410").is_some(), "{one}");
    let edge = &doc["paths"]["/media/{upload_id}/{expires}/{signature}/{path}"]["get"];
    for status in ["200", "206", "403", "416"] {
        assert!(edge["responses"].get(status).is_some(), "/media {status}");
    }
    // Not the tus body type.
    let resp = p
        .http
        .patch(format!("{}{path}", p.base))
        .bearer_auth(&creator)
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A text file renamed .mp4 is uploaded, then fails with a reason.
    let text = b"definitely not a video\n".repeat(40);
    let path = p.tus_create(&creator, text.len()).await;
    assert_eq!(
        p.patch(&creator, &path, 0, &text).await.status(),
        StatusCode::NO_CONTENT
    );
    let failed = testing::wait_for("processing", Duration::from_secs(60), || async {
        let (_, u) = p.get(&path, &creator).await;
        (u["state"] != "processing").then_some(u)
    })
    .await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(
        failed["failure_reason"]
            .as_str()
            .unwrap()
            .contains("not a video"),
        "{failed}"
    );
    let upload_id = path.rsplit('/').next().unwrap();
    let (status, body) = p
        .post(
            "/v1/videos",
            Some(&creator),
            json!({"caption": "broken", "upload_id": upload_id}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a video"),
        "{body}"
    );
    // Publishing needs an upload (or, in development, a URL with its duration).
    let (status, body) = p
        .post("/v1/videos", Some(&creator), json!({"caption": "nothing"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_field(&body), Some("upload_id"));
}

/// A duet and a stitch of an uploaded video, rendered by the media service:
/// content takes the rendered duration (a stitch plays the original's first
/// seconds, then the new clip) and frame size (a duet is the two side by
/// side) from `media.v1`, and the video responses carry them.
#[tokio::test]
async fn a_rendered_duet_and_stitch_carry_the_rendered_duration_and_aspect() {
    let p = Platform::start().await;
    let (creator, _) = p.sign_up("remixer", "creator").await;
    let dir = std::env::temp_dir().join(format!("loop-e2e-remix-{}", uuid::Uuid::now_v7()));
    let clip = std::fs::read(clips::generate(&dir, "clip.mp4", 2, 320, 240)).expect("clip");
    let original = p.upload_ready(&creator, &clip).await;
    let (status, original) = p
        .post(
            "/v1/videos",
            Some(&creator),
            json!({"caption": "the original", "upload_id": original}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{original}");
    let mut remixes = Vec::new();
    for kind in ["duet", "stitch"] {
        let upload = p.upload_ready(&creator, &clip).await;
        let (status, video) = p
            .post(
                "/v1/videos",
                Some(&creator),
                json!({"caption": format!("my {kind}"), "upload_id": upload,
                       "remix_of_video_id": original["video_id"], "remix_kind": kind}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{video}");
        // Published with the new clip's own measurement.
        assert_eq!(
            (video["width"].as_u64(), video["height"].as_u64()),
            (Some(320), Some(240)),
            "{video}"
        );
        assert!(
            video["duration_ms"].as_u64().unwrap().abs_diff(2000) <= 100,
            "{video}"
        );
        remixes.push((kind, video["video_id"].as_str().unwrap().to_owned()));
    }
    for (kind, id) in remixes {
        let video = testing::wait_for(
            "the rendered measurement on the video",
            Duration::from_secs(180),
            || async {
                let (_, v) = p.get(&format!("/v1/videos/{id}"), &creator).await;
                let grown = match kind {
                    "duet" => v["width"].as_u64() == Some(640),
                    _ => v["duration_ms"].as_u64().is_some_and(|d| d >= 3_500),
                };
                grown.then_some(v)
            },
        )
        .await;
        let duration = video["duration_ms"].as_u64().unwrap();
        match kind {
            // Side by side at the smaller height, as long as the shorter.
            "duet" => {
                assert_eq!(video["height"].as_u64(), Some(240), "{video}");
                assert!((video["aspect_ratio"].as_f64().unwrap() - 640.0 / 240.0).abs() < 1e-9);
                assert!(duration.abs_diff(2000) <= 150, "{video}");
            }
            // 2 s of the original (all of it), then the 2 s clip.
            _ => {
                assert_eq!(
                    (video["width"].as_u64(), video["height"].as_u64()),
                    (Some(320), Some(240)),
                    "{video}"
                );
                assert!(duration.abs_diff(4000) <= 200, "{video}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
