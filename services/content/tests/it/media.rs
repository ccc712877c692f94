//! Content follows `media.v1` through the real broker: a rendered duet's or
//! stitch's measured duration and frame size become the video's, once, and
//! a redelivered or older event changes nothing.

use loop_proto::events::v1 as ev;
use loop_proto::events::v1::media_event::Payload as Media;

use super::*;

/// The video's duration and frame size as content serves them.
async fn measured(h: &Harness, viewer: &pb::User, video_id: &str) -> (u32, u32, u32) {
    let v = h
        .client
        .clone()
        .get_video(h.req(
            viewer,
            pb::GetVideoRequest {
                video_id: video_id.into(),
            },
        ))
        .await
        .expect("get")
        .into_inner()
        .video
        .expect("video");
    (v.duration_ms, v.width, v.height)
}

fn rendered(upload_id: &str, duration_ms: u32, width: u32, height: u32) -> ev::MediaEvent {
    ev::MediaEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        occurred_at: None,
        payload: Some(Media::MediaRendered(ev::MediaRendered {
            upload_id: upload_id.into(),
            owner_id: uuid::Uuid::now_v7().to_string(),
            duration_ms,
            width,
            height,
            aspect_ratio: f64::from(width) / f64::from(height),
            kind: "stitch".into(),
            source_upload_id: uuid::Uuid::now_v7().to_string(),
        })),
    }
}

/// `VideoUpdated` events of `video_id` on content.v1 once `n` have arrived.
async fn updates(h: &Harness, video_id: &str, n: usize) -> Vec<ev::VideoSnapshot> {
    let mut reader = testing::TopicReader::new(&h.config.kafka, &h.content_topic());
    let of_video = |seen: &[loop_platform::kafka::Delivery]| -> Vec<ev::VideoSnapshot> {
        events(seen)
            .into_iter()
            .filter_map(|e| match e.payload {
                Some(Payload::VideoUpdated(u)) => u.video.filter(|v| v.video_id == video_id),
                _ => None,
            })
            .collect()
    };
    let seen = reader
        .read_until(Duration::from_secs(60), |s| of_video(s).len() >= n)
        .await;
    of_video(seen)
}

#[tokio::test]
async fn a_rendered_stitch_gives_its_video_the_measured_duration_and_size_once() {
    let h = Harness::start().await;
    let creator = h.sign_up("stitcher", R::Creator).await;
    let viewer = h.sign_up("stitchfan", R::Viewer).await;
    let other = h.publish(&creator, "by url").await;
    let video = h.publish(&creator, "from an upload").await;
    // A video published from an upload (content asks the media service at
    // publication; here the row is made to name an upload directly, with
    // the new clip's 2 s at 320x240).
    let upload_id = uuid::Uuid::now_v7().to_string();
    let db = h._db.as_ref().expect("db");
    let pool = sqlx::PgPool::connect(db.url()).await.expect("pool");
    sqlx::query(
        "UPDATE videos SET media_url = $2, duration_ms = 2000, width = 320, height = 240 WHERE id = $1::uuid",
    )
    .bind(&video.video_id)
    .bind(format!("loop-media:{upload_id}"))
    .execute(&pool)
    .await
    .expect("name the upload");

    let producer = loop_platform::kafka::Producer::new(&h.config.kafka, "test").expect("producer");
    let send = |event: ev::MediaEvent| {
        let producer = &producer;
        let key = upload_id.clone();
        async move {
            producer
                .publish(topics::MEDIA, &key, "loop.events.v1.MediaEvent", &event)
                .await
                .expect("publish");
        }
    };
    // The stitch rendered: the first 2 s of the original, then the clip.
    let event = rendered(&upload_id, 4_000, 320, 240);
    send(event.clone()).await;
    let first = updates(&h, &video.video_id, 1).await;
    assert_eq!(
        (first[0].duration_ms, first[0].width, first[0].height),
        (4_000, 320, 240)
    );
    assert_eq!(
        measured(&h, &viewer, &video.video_id).await,
        (4_000, 320, 240)
    );

    // Redelivered, and the upload's older MediaReady (the clip alone)
    // arriving after it: neither changes anything. A last, different
    // render measurement on the same key (same partition, so consumed after
    // them) shows the consumer got past both.
    send(event).await;
    send(ev::MediaEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        occurred_at: None,
        payload: Some(Media::MediaReady(ev::MediaReady {
            upload_id: upload_id.clone(),
            duration_ms: 2_000,
            width: 320,
            height: 240,
            aspect_ratio: 320.0 / 240.0,
            ..Default::default()
        })),
    })
    .await;
    send(rendered(&upload_id, 4_040, 320, 240)).await;
    let all = updates(&h, &video.video_id, 2).await;
    assert_eq!(
        all.iter().map(|v| v.duration_ms).collect::<Vec<_>>(),
        vec![4_000, 4_040],
        "one VideoUpdated per change, none for the redelivery or the older event"
    );
    assert_eq!(
        measured(&h, &viewer, &video.video_id).await,
        (4_040, 320, 240)
    );
    // The video published by URL is untouched (no frame size known).
    assert_eq!(measured(&h, &viewer, &other.video_id).await, (15_000, 0, 0));

    // Not a UUID: dead-lettered, not retried forever; the consumer goes on.
    send(ev::MediaEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        occurred_at: None,
        payload: Some(Media::MediaRendered(ev::MediaRendered {
            upload_id: "not-a-uuid".into(),
            ..Default::default()
        })),
    })
    .await;
    send(rendered(&upload_id, 4_080, 320, 240)).await;
    let all = updates(&h, &video.video_id, 3).await;
    assert_eq!(all[2].duration_ms, 4_080);
}
