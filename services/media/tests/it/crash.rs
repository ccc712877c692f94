//! A worker killed mid-transcode: after a restart the upload becomes ready
//! exactly once (one `MediaReady`, the outputs written once at the same keys).

use loop_proto::events::v1::media_event::Payload;
use loop_proto::media::v1 as pb;
use loop_testkit::clips;

use super::*;

/// Whether an ffmpeg of this test's scratch folder is running now.
fn transcoding(work_dir: &Path) -> bool {
    let needle = work_dir.display().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|cmd| {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.starts_with("ffmpeg") && cmd.contains("-filter_complex") && cmd.contains(&needle)
        })
}

#[tokio::test]
async fn a_worker_killed_mid_transcode_finishes_once_after_restart() {
    let mut p = Platform::start_with(|c| {
        c.processing.lease_secs = 2;
        // Slow enough that the kill lands mid-transcode.
        c.processing.preset = "medium".into();
    })
    .await;
    let (_, token) = p.creator();
    let clip = clips::generate(&p.root.join("clips"), "long.mp4", 30, 1280, 720);
    let upload = p.upload(&token, &read_file(&clip), 512 * 1024).await;
    let work_dir = p.config.processing.work_dir.clone();
    testing::wait_for("ffmpeg transcoding", Duration::from_secs(60), || async {
        transcoding(&work_dir).then_some(())
    })
    .await;
    p.media.kill();
    let stuck = p.get_after_kill(&upload.upload_id).await;
    assert_eq!(
        stuck.0, "processing",
        "the kill landed before the job finished"
    );
    assert_eq!(stuck.1, 1);

    p.restart(|c| c.processing.preset = "ultrafast".into())
        .await;
    let ready = p.settled(&token, &upload.upload_id).await;
    assert_eq!(
        ready.state(),
        pb::UploadState::Ready,
        "{}",
        ready.failure_reason
    );
    assert_eq!(ready.processing_attempts, 2);
    let ready_events = p
        .events()
        .await
        .into_iter()
        .filter(|e| matches!(&e.payload, Some(Payload::MediaReady(r)) if r.upload_id == upload.upload_id))
        .count();
    assert_eq!(ready_events, 1);
    // One set of outputs: the master, the poster, each rendition's playlist
    // and its segments, nothing twice.
    let master =
        String::from_utf8(p.read(&upload.upload_id, "master.m3u8").await.unwrap()).unwrap();
    let mut expected = 2;
    for variant in clips::playlist_uris(&master) {
        let playlist =
            String::from_utf8(p.read(&upload.upload_id, &variant).await.unwrap()).unwrap();
        expected += 1 + clips::playlist_uris(&playlist).len();
    }
    // The winner deletes the killed attempt's leftovers after its finish
    // commits (the upload is ready first): wait for that, then nothing more.
    let prefix = format!("media/{}", upload.upload_id);
    testing::wait_for(
        "the killed attempt's leftovers deleted",
        Duration::from_secs(30),
        || async { (p.objects(&prefix).await == expected).then_some(()) },
    )
    .await;
    assert_eq!(p.objects(&prefix).await, expected);
}

impl Platform {
    /// The state and attempts of an upload, read from the database while
    /// the service is down.
    async fn get_after_kill(&self, upload_id: &str) -> (String, i32) {
        sqlx::query_as("SELECT state, processing_attempts FROM uploads WHERE upload_id = $1::uuid")
            .bind(upload_id)
            .fetch_one(&self.pool)
            .await
            .expect("row")
    }
}

#[tokio::test]
async fn a_fenced_out_worker_never_touches_the_live_outputs() {
    let p = Platform::start_with(|c| c.processing.enabled = false).await;
    let (_, token) = p.creator();
    let clip = clips::generate(&p.root.join("clips"), "clip.mp4", 2, 320, 240);
    let upload = p.upload(&token, &read_file(&clip), 64 * 1024).await;
    let id = upload.upload_id.clone();
    let worker = |preset: &str| {
        let mut config = p.config.clone();
        config.processing.preset = preset.into();
        loop_media::worker::Worker::new(
            p.pool.clone(),
            p.store.clone(),
            std::sync::Arc::new(config),
            std::sync::Arc::new(tokio::sync::Notify::new()),
        )
    };
    // A worker claims the job and stalls (a slow preset here); its lease
    // lapses and a fast worker takes the job over.
    let (slow, fast) = (worker("medium"), worker("ultrafast"));
    let stale = slow.claim().await.expect("claim").expect("a job");
    sqlx::query("UPDATE uploads SET lease_until = now() - interval '1 second'")
        .execute(&p.pool)
        .await
        .expect("lapse");
    let fresh = fast.claim().await.expect("claim").expect("the job again");
    assert_eq!((stale.attempt(), fresh.attempt()), (1, 2));
    // Both run; the fast one makes the upload ready, then the stale one
    // finishes: it writes only under its own prefix, the fence refuses it,
    // and it deletes what it wrote.
    let master = tokio::sync::OnceCell::new();
    let live = tokio::sync::OnceCell::new();
    tokio::join!(slow.process_claimed(stale), async {
        fast.process_claimed(fresh).await;
        let ready = p.get(&token, &id).await.expect("get");
        assert_eq!(
            ready.state(),
            pb::UploadState::Ready,
            "{}",
            ready.failure_reason
        );
        master
            .set(p.read(&id, "master.m3u8").await.expect("master"))
            .unwrap();
        live.set(p.objects(&format!("media/{id}/a2")).await)
            .unwrap();
    });
    let (master, live) = (master.get().unwrap(), *live.get().unwrap());
    assert!(live >= 4, "{live}");
    let prefix: String =
        sqlx::query_scalar("SELECT output_prefix FROM uploads WHERE upload_id = $1::uuid")
            .bind(&id)
            .fetch_one(&p.pool)
            .await
            .expect("row");
    assert_eq!(prefix, format!("media/{id}/a2"));
    assert_eq!(p.objects(&format!("media/{id}/a1")).await, 0);
    assert_eq!(p.objects(&format!("media/{id}")).await, live);
    assert_eq!(&p.read(&id, "master.m3u8").await.expect("master"), master);
    let after = p.get(&token, &id).await.expect("get");
    assert_eq!(after.state(), pb::UploadState::Ready);
    assert_eq!(after.processing_attempts, 2);
    let ready_events = p
        .events()
        .await
        .into_iter()
        .filter(|e| matches!(&e.payload, Some(Payload::MediaReady(r)) if r.upload_id == id))
        .count();
    assert_eq!(ready_events, 1);
}

/// The lease keeper of an attempt that has just made the upload ready finds
/// no lease to renew (finishing clears it), exactly as when another attempt
/// took over. It must not report the lease lost then: the attempt would be
/// taken for fenced out and delete its outputs, the live ones (seen as a
/// ready upload whose master playlist was gone, when a renewal fell between
/// the finish and the attempt's end).
#[tokio::test]
async fn a_finished_attempt_is_not_taken_for_fenced_out() {
    let p = Platform::start_with(|c| {
        c.processing.enabled = false;
        c.processing.lease_secs = 1;
    })
    .await;
    let (_, token) = p.creator();
    let clip = clips::generate(&p.root.join("clips"), "clip.mp4", 2, 320, 240);
    let upload = p.upload(&token, &read_file(&clip), 64 * 1024).await;
    let worker = loop_media::worker::Worker::new(
        p.pool.clone(),
        p.store.clone(),
        std::sync::Arc::new(p.config.clone()),
        std::sync::Arc::new(tokio::sync::Notify::new()),
    );
    let job = worker.claim().await.expect("claim").expect("a job");
    worker.process_claimed(job).await;
    let ready = p.get(&token, &upload.upload_id).await.expect("get");
    assert_eq!(
        ready.state(),
        pb::UploadState::Ready,
        "{}",
        ready.failure_reason
    );
    // Renewals every third of a second find no lease; the keeper keeps
    // waiting (the attempt it guards completes) instead of returning.
    let kept = tokio::time::timeout(Duration::from_secs(2), worker.keep_lease(job)).await;
    assert!(
        kept.is_err(),
        "the lease keeper reported a finished attempt as fenced out"
    );
    p.read(&upload.upload_id, "master.m3u8")
        .await
        .expect("the live outputs are still there");
    // Once another attempt holds the job, the keeper does report the loss.
    sqlx::query(
        "UPDATE uploads SET state = 'processing', processing_attempts = processing_attempts + 1 \
         WHERE upload_id = $1::uuid",
    )
    .bind(&upload.upload_id)
    .execute(&p.pool)
    .await
    .expect("another attempt");
    tokio::time::timeout(Duration::from_secs(5), worker.keep_lease(job))
        .await
        .expect("the keeper reports a lease another attempt holds");
}
