//! Duets and stitches rendered for real: content publishes a remix of an
//! uploaded video (`content.v1`), the media service renders the two
//! uploads together and the remix's playback plays the result.

use loop_proto::events::v1 as ev;
use loop_proto::media::v1 as pb;
use loop_testkit::clips;

use super::*;

impl Platform {
    async fn publish_video(
        &self,
        video_id: Uuid,
        owner: &str,
        upload_id: &str,
        remix: Option<(Uuid, &str)>,
    ) -> Uuid {
        let producer =
            loop_platform::kafka::Producer::new(&self.config.kafka, "media-it").expect("producer");
        let (remix_of, kind) = remix.map_or((String::new(), ""), |(v, k)| (v.to_string(), k));
        producer
            .publish(
                loop_platform::kafka::topics::CONTENT,
                &video_id.to_string(),
                "loop.events.v1.ContentEvent",
                &ev::ContentEvent {
                    event_id: Uuid::now_v7().to_string(),
                    occurred_at: None,
                    payload: Some(ev::content_event::Payload::VideoPublished(
                        ev::VideoPublished {
                            video: Some(ev::VideoSnapshot {
                                video_id: video_id.to_string(),
                                creator_id: owner.into(),
                                media_url: format!("loop-media:{upload_id}"),
                                remix_of_video_id: remix_of,
                                remix_kind: kind.into(),
                                ..Default::default()
                            }),
                        },
                    )),
                },
            )
            .await
            .expect("publish");
        testing::wait_for(
            "the publication recorded",
            Duration::from_secs(60),
            || async {
                let recorded: Option<Uuid> =
                    sqlx::query_scalar("SELECT video_id FROM uploads WHERE upload_id = $1::uuid")
                        .bind(upload_id)
                        .fetch_one(&self.pool)
                        .await
                        .ok()?;
                (recorded == Some(video_id)).then_some(())
            },
        )
        .await;
        video_id
    }

    /// Waits for the render of `upload_id`; returns its state and reason.
    async fn rendered(&self, upload_id: &str) -> (String, String) {
        testing::wait_for("the render", Duration::from_secs(180), || async {
            let row: Option<(String, String)> = sqlx::query_as(
                "SELECT state, failure_reason FROM renders WHERE upload_id = $1::uuid",
            )
            .bind(upload_id)
            .fetch_optional(&self.pool)
            .await
            .ok()?;
            row.filter(|(state, _)| state != "pending")
        })
        .await
    }

    /// Every segment of the first rendition, written to `dir`: (width,
    /// height, total duration in ms).
    async fn played(&self, upload_id: &str, dir: &Path) -> (u32, u32, u64) {
        std::fs::create_dir_all(dir).unwrap();
        let master = String::from_utf8(self.read(upload_id, "master.m3u8").await.unwrap()).unwrap();
        let variant = clips::playlist_uris(&master).remove(0);
        let folder = variant.split('/').next().unwrap().to_owned();
        let playlist = String::from_utf8(self.read(upload_id, &variant).await.unwrap()).unwrap();
        let mut total = 0;
        let mut size = (0, 0);
        for segment in clips::playlist_uris(&playlist) {
            let bytes = self
                .read(upload_id, &format!("{folder}/{segment}"))
                .await
                .unwrap();
            let file = dir.join(&segment);
            std::fs::write(&file, bytes).unwrap();
            assert!(clips::decodes(&file), "{segment} does not decode");
            total += clips::duration_ms(&file);
            size = video_size(&file);
        }
        (size.0, size.1, total)
    }
}

fn video_size(file: &Path) -> (u32, u32) {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .expect("ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    // One line per section (program and stream): the first says it.
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let mut parts = line
        .trim()
        .split(',')
        .map(|x| x.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[tokio::test]
async fn duets_and_stitches_are_rendered_and_play() {
    let p = Platform::start_with(|c| c.processing.stitch_secs = 2).await;
    let (owner, token) = p.creator();
    let dir = p.root.join("clips");
    let original = clips::generate(&dir, "original.mp4", 3, 320, 240);
    let reply = clips::generate(&dir, "reply.mp4", 2, 320, 240);
    let original_upload = p.upload(&token, &read_file(&original), 64 * 1024).await;
    let duet_upload = p.upload(&token, &read_file(&reply), 64 * 1024).await;
    let stitch_upload = p.upload(&token, &read_file(&reply), 64 * 1024).await;
    for u in [&original_upload, &duet_upload, &stitch_upload] {
        let done = p.settled(&token, &u.upload_id).await;
        assert_eq!(
            done.state(),
            pb::UploadState::Ready,
            "{}",
            done.failure_reason
        );
    }
    // The duet's event is consumed before its original's (they may sit on
    // different partitions): it waits for the original; the stitch comes after.
    let original_video = Uuid::now_v7();
    p.publish_video(
        Uuid::now_v7(),
        &owner,
        &duet_upload.upload_id,
        Some((original_video, "duet")),
    )
    .await;
    p.publish_video(original_video, &owner, &original_upload.upload_id, None)
        .await;
    p.publish_video(
        Uuid::now_v7(),
        &owner,
        &stitch_upload.upload_id,
        Some((original_video, "stitch")),
    )
    .await;

    // A duet: side by side, the widths added at the common height.
    let (state, reason) = p.rendered(&duet_upload.upload_id).await;
    assert_eq!(state, "ready", "{reason}");
    let (w, h, ms) = p.played(&duet_upload.upload_id, &p.root.join("duet")).await;
    assert_eq!((w, h), (640, 240));
    assert!(ms.abs_diff(2_000) <= 300, "{ms}");
    // A stitch: 2 s of the original, then the 2 s reply.
    let (state, reason) = p.rendered(&stitch_upload.upload_id).await;
    assert_eq!(state, "ready", "{reason}");
    let (w, h, ms) = p
        .played(&stitch_upload.upload_id, &p.root.join("stitch"))
        .await;
    assert_eq!((w, h), (320, 240));
    let expected = 2_000 + clips::duration_ms(&reply);
    assert!(ms.abs_diff(expected) <= 300, "{ms} vs {expected}");
    let upload = p.get(&token, &stitch_upload.upload_id).await.unwrap();
    assert!(
        u64::from(upload.duration_ms).abs_diff(expected) <= 300,
        "{}",
        upload.duration_ms
    );
    // The original plays unchanged.
    let (w, h, ms) = p
        .played(&original_upload.upload_id, &p.root.join("orig"))
        .await;
    assert_eq!((w, h), (320, 240));
    assert!(ms.abs_diff(3_000) <= 300, "{ms}");
    // Each render is announced once on media.v1 (content makes the video's
    // duration and frame size the rendered ones).
    let rendered: Vec<_> = p
        .events()
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(loop_proto::events::v1::media_event::Payload::MediaRendered(r)) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(rendered.len(), 2, "{rendered:?}");
    let duet = rendered
        .iter()
        .find(|r| r.upload_id == duet_upload.upload_id)
        .expect("duet");
    assert_eq!(
        (duet.width, duet.height, duet.kind.as_str()),
        (640, 240, "duet")
    );
    assert!((duet.aspect_ratio - 640.0 / 240.0).abs() < 1e-9);
    assert_eq!(duet.source_upload_id, original_upload.upload_id);
    let stitch = rendered
        .iter()
        .find(|r| r.upload_id == stitch_upload.upload_id)
        .expect("stitch");
    assert_eq!(
        (stitch.width, stitch.height, stitch.kind.as_str()),
        (320, 240, "stitch")
    );
    assert!(
        u64::from(stitch.duration_ms).abs_diff(expected) <= 300,
        "{stitch:?}"
    );
    assert_eq!(stitch.owner_id, owner);
}
