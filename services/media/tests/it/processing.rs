//! Processing real files: a generated clip becomes HLS renditions and a
//! poster that decode and last as long as the source; what is not a video
//! fails with a reason its creator can read.

use loop_proto::events::v1::media_event::Payload;
use loop_proto::media::v1 as pb;
use loop_testkit::clips;
use tonic::Code;

use super::*;

#[tokio::test]
async fn a_clip_becomes_hls_renditions_and_a_poster_once() {
    let p = Platform::start().await;
    let (owner, token) = p.creator();
    let clip = clips::generate(&p.root.join("clips"), "clip.mp4", 4, 1280, 720);
    let bytes = read_file(&clip);
    let upload = p.upload(&token, &bytes, 64 * 1024).await;
    assert_eq!(upload.state(), pb::UploadState::Processing);
    // Not readable before it is ready.
    let ready = p.settled(&token, &upload.upload_id).await;
    assert_eq!(
        ready.state(),
        pb::UploadState::Ready,
        "{}",
        ready.failure_reason
    );
    let measured = clips::duration_ms(&clip);
    assert!(
        ready.duration_ms.abs_diff(measured as u32) <= 100,
        "{} vs {measured}",
        ready.duration_ms
    );
    assert_eq!((ready.width, ready.height), (1280, 720));
    assert_eq!(ready.video_codec, "h264");
    assert_eq!(ready.audio_codec, "aac");
    let names: Vec<_> = ready.renditions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["720p", "360p"]);
    assert_eq!(
        ready
            .renditions
            .iter()
            .map(|r| (r.width, r.height))
            .collect::<Vec<_>>(),
        [(1280, 720), (640, 360)]
    );

    // The master playlist names both renditions; every segment decodes and
    // the segments add up to the clip.
    let out = p.root.join("served");
    std::fs::create_dir_all(&out).unwrap();
    let master = String::from_utf8(
        p.read(&upload.upload_id, "master.m3u8")
            .await
            .expect("master"),
    )
    .unwrap();
    let variants = clips::playlist_uris(&master);
    assert_eq!(variants, ["720p/index.m3u8", "360p/index.m3u8"]);
    for variant in &variants {
        let dir = variant.split('/').next().unwrap();
        let playlist =
            String::from_utf8(p.read(&upload.upload_id, variant).await.expect("variant")).unwrap();
        assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
        let segments = clips::playlist_uris(&playlist);
        assert!(segments.len() >= 2, "{playlist}");
        let mut total = 0;
        for segment in segments {
            let bytes = p
                .read(&upload.upload_id, &format!("{dir}/{segment}"))
                .await
                .expect("segment");
            let file = out.join(format!("{dir}-{segment}"));
            std::fs::write(&file, bytes).unwrap();
            assert!(clips::decodes(&file), "{dir}/{segment} does not decode");
            total += clips::duration_ms(&file);
        }
        assert!(
            total.abs_diff(measured) <= 250,
            "{dir}: segments {total} ms, clip {measured} ms"
        );
    }
    let poster = p
        .read(&upload.upload_id, "poster.jpg")
        .await
        .expect("poster");
    assert!(poster.starts_with(&[0xFF, 0xD8]), "a JPEG");
    // The chunks are deleted once the upload is ready.
    p.gone(&format!("uploads/{}", upload.upload_id)).await;
    // Paths outside the outputs are refused; so are reads without a valid,
    // unexpired signature for this upload.
    let err = p
        .read(&upload.upload_id, "../uploads/x.ts")
        .await
        .expect_err("escape");
    assert_eq!(err.code(), Code::InvalidArgument);
    let key = p.config.playback.url_key.expose().as_bytes();
    let past = loop_platform::playback::now_secs() - 1;
    let expired = loop_platform::playback::sign(key, &upload.upload_id, past);
    let err = p
        .read_signed(&upload.upload_id, "poster.jpg", past, &expired)
        .await
        .expect_err("expired");
    assert_eq!(err.code(), Code::PermissionDenied);
    let future = past + 120;
    let other = loop_platform::playback::sign(key, &Uuid::now_v7().to_string(), future);
    let err = p
        .read_signed(&upload.upload_id, "poster.jpg", future, &other)
        .await
        .expect_err("another upload's signature");
    assert_eq!(err.code(), Code::PermissionDenied);

    let ready_events: Vec<_> = p
        .events()
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(Payload::MediaReady(r)) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(ready_events.len(), 1);
    let event = &ready_events[0];
    assert_eq!(event.owner_id, owner);
    assert_eq!(event.duration_ms, ready.duration_ms);
    assert!((event.aspect_ratio - 16.0 / 9.0).abs() < 0.01);
    assert_eq!(event.renditions.len(), 2);
}

#[tokio::test]
async fn what_is_not_a_video_fails_with_a_reason_and_stores_nothing() {
    let p = Platform::start().await;
    let (_, token) = p.creator();
    // A text file renamed .mp4.
    let text = b"this is not a video, just text in a file named clip.mp4\n".repeat(50);
    let fake = p.upload(&token, &text, 1024).await;
    // A real clip cut short (the index is at the front, the media is missing).
    let clip = clips::generate(&p.root.join("clips"), "whole.mp4", 3, 640, 360);
    let whole = read_file(&clip);
    let truncated = p.upload(&token, &whole[..whole.len() / 3], 16 * 1024).await;
    // Over the duration limit is refused too (the limit is config).
    for (upload, expect) in [(&fake, "not a video"), (&truncated, "")] {
        let failed = p.settled(&token, &upload.upload_id).await;
        assert_eq!(failed.state(), pb::UploadState::Failed);
        assert!(!failed.failure_reason.is_empty());
        assert!(
            failed.failure_reason.contains(expect),
            "{}",
            failed.failure_reason
        );
        // Its chunks are deleted once the failure commits.
        p.gone(&format!("uploads/{}", upload.upload_id)).await;
        assert_eq!(p.objects(&format!("media/{}", upload.upload_id)).await, 0);
        let err = p
            .read(&upload.upload_id, "master.m3u8")
            .await
            .expect_err("not ready");
        assert_eq!(reason(&err).as_deref(), Some("MEDIA_NOT_READY"));
    }
    let failed_events = p
        .events()
        .await
        .into_iter()
        .filter(|e| matches!(e.payload, Some(Payload::MediaFailed(_))))
        .count();
    assert_eq!(failed_events, 2);
}

#[tokio::test]
async fn a_video_over_the_duration_limit_fails() {
    let p = Platform::start_with(|c| c.uploads.max_duration_ms = 2_000).await;
    let (_, token) = p.creator();
    let clip = clips::generate(&p.root.join("clips"), "long.mp4", 3, 320, 240);
    let upload = p.upload(&token, &read_file(&clip), 256 * 1024).await;
    let failed = p.settled(&token, &upload.upload_id).await;
    assert_eq!(failed.state(), pb::UploadState::Failed);
    assert!(
        failed.failure_reason.contains("limit is 2 s"),
        "{}",
        failed.failure_reason
    );
}

/// Writes an executable shell script (a stand-in for ffmpeg or ffprobe).
fn script(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn playlists_and_oversized_frames_are_refused_before_transcoding() {
    let p = Platform::start_with(|c| c.processing.max_pixels = 100_000).await;
    let (_, token) = p.creator();
    // An HLS playlist "video" naming a file on the worker's disk: ffprobe
    // reads it happily (format hls); the worker must not.
    let clips_dir = p.root.join("clips");
    let small = clips::generate(&clips_dir, "small.mp4", 2, 160, 120);
    let segment = clips_dir.join("small.ts");
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&small)
        .args(["-c", "copy", "-f", "mpegts"])
        .arg(&segment)
        .status()
        .unwrap();
    assert!(status.success());
    let playlist = format!(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{}\n#EXT-X-ENDLIST\n",
        segment.display()
    );
    let hls = p.upload(&token, playlist.as_bytes(), 1024).await;
    // A concat list (relative names, which ffprobe accepts).
    let concat = p
        .upload(&token, b"ffconcat version 1.0\nfile small.ts\n", 1024)
        .await;
    // 640x360 is 230400 pixels a frame, over this platform's 100000.
    let big = clips::generate(&clips_dir, "big.mp4", 2, 640, 360);
    let big = p.upload(&token, &read_file(&big), 64 * 1024).await;
    for (upload, expect) in [
        (&hls, "format (hls) is not accepted"),
        (&concat, "not"),
        (
            &big,
            "640x360 (230400 pixels a frame); the limit is 100000 pixels",
        ),
    ] {
        let failed = p.settled(&token, &upload.upload_id).await;
        assert_eq!(failed.state(), pb::UploadState::Failed);
        assert!(
            failed.failure_reason.contains(expect),
            "{}",
            failed.failure_reason
        );
        assert_eq!(failed.processing_attempts, 1, "refused without a retry");
        assert_eq!(p.objects(&format!("media/{}", upload.upload_id)).await, 0);
    }
}

#[tokio::test]
async fn an_ffmpeg_run_past_its_bound_fails_the_upload_without_retries() {
    let root = std::env::temp_dir().join(format!("loop-media-slow-{}", Uuid::now_v7()));
    // ffmpeg that never finishes: the transcode's bound (1 s + nothing per
    // second of video here) kills it and the upload fails at once.
    let slow = script(&root, "ffmpeg", "exec sleep 120");
    let p = Platform::start_with(|c| {
        c.processing.ffmpeg = slow;
        c.processing.timeout_base_secs = 1;
        c.processing.timeout_per_video_second = 0.0;
    })
    .await;
    let (_, token) = p.creator();
    let clip = clips::generate(&root, "clip.mp4", 2, 320, 240);
    let started = std::time::Instant::now();
    let upload = p.upload(&token, &read_file(&clip), 64 * 1024).await;
    let failed = p.settled(&token, &upload.upload_id).await;
    assert_eq!(failed.state(), pb::UploadState::Failed);
    assert!(
        failed
            .failure_reason
            .contains("took too long (ffmpeg ran past 1 s)"),
        "{}",
        failed.failure_reason
    );
    assert_eq!(failed.processing_attempts, 1);
    assert!(started.elapsed() < Duration::from_secs(30));
    drop(p);

    // The same for a probe that hangs.
    let hanging = script(&root, "ffprobe", "exec sleep 120");
    let p = Platform::start_with(|c| {
        c.processing.ffprobe = hanging;
        c.processing.probe_timeout_secs = 1;
    })
    .await;
    let (_, token) = p.creator();
    let upload = p.upload(&token, &read_file(&clip), 64 * 1024).await;
    let failed = p.settled(&token, &upload.upload_id).await;
    assert_eq!(failed.state(), pb::UploadState::Failed);
    assert!(
        failed.failure_reason.contains("ffprobe ran past 1 s"),
        "{}",
        failed.failure_reason
    );
    assert_eq!(failed.processing_attempts, 1);
    let _ = std::fs::remove_dir_all(&root);
}
