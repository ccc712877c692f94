//! Upload sessions: resumable chunks, and every refusal leaves nothing
//! stored or changed.

use loop_proto::media::v1 as pb;
use tonic::Code;

use super::*;

#[tokio::test]
async fn chunks_resume_at_the_stored_offset_and_wrong_ones_change_nothing() {
    let p = Platform::start_with(|c| c.processing.enabled = false).await;
    let (_, token) = p.creator();
    let data: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
    let upload = p.create(&token, data.len() as u64).await.expect("create");
    assert_eq!(upload.state(), pb::UploadState::Uploading);
    assert_eq!(upload.offset, 0);
    let id = upload.upload_id.clone();

    let after = p
        .append(&token, &id, 0, &data[..10_000])
        .await
        .expect("first");
    assert_eq!(after.offset, 10_000);

    // Out of order (a later chunk first) and a retry of a stored one: 409-style ABORTED.
    for offset in [20_000u64, 0, 5_000] {
        let err = p
            .append(
                &token,
                &id,
                offset,
                &data[offset as usize..offset as usize + 1000],
            )
            .await
            .expect_err("wrong offset");
        assert_eq!(err.code(), Code::Aborted, "{err:?}");
        assert_eq!(reason(&err).as_deref(), Some("OFFSET_MISMATCH"));
        assert!(err.message().contains("at byte 10000"), "{}", err.message());
    }
    // Past the declared size.
    let too_long = vec![0u8; 20_001];
    let err = p
        .append(&token, &id, 10_000, &too_long)
        .await
        .expect_err("too long");
    assert_eq!(reason(&err).as_deref(), Some("UPLOAD_TOO_LARGE"));
    // Another creator's session: refused, not even readable.
    let (_, stranger) = p.creator();
    let err = p
        .append(&stranger, &id, 10_000, &data[10_000..11_000])
        .await
        .expect_err("stranger");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(
        p.get(&stranger, &id).await.expect_err("stranger").code(),
        Code::PermissionDenied
    );
    // Nothing of the refused chunks was kept.
    let now = p.get(&token, &id).await.expect("get");
    assert_eq!(now.offset, 10_000);
    assert_eq!(p.objects(&format!("uploads/{id}")).await, 1);

    // Resume where the service says, and complete.
    let after = p
        .append(&token, &id, now.offset, &data[10_000..])
        .await
        .expect("rest");
    assert_eq!(after.offset, 30_000);
    assert_eq!(after.state(), pb::UploadState::Processing);
    let err = p
        .append(&token, &id, 30_000, &data[..1])
        .await
        .expect_err("complete");
    assert_eq!(reason(&err).as_deref(), Some("UPLOAD_NOT_ACTIVE"));
    let completed: Vec<_> = p
        .events()
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(loop_proto::events::v1::media_event::Payload::UploadCompleted(c)) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].upload_id, id);
    assert_eq!(completed[0].size_bytes, 30_000);
}

#[tokio::test]
async fn sessions_are_refused_when_too_large_not_video_or_not_a_creators() {
    let p = Platform::start_with(|c| {
        c.processing.enabled = false;
        c.uploads.max_bytes = 1_000_000;
    })
    .await;
    let (_, token) = p.creator();
    let err = p.create(&token, 1_000_001).await.expect_err("oversized");
    assert_eq!(reason(&err).as_deref(), Some("UPLOAD_TOO_LARGE"));
    let err = p.create(&token, 0).await.expect_err("empty");
    assert_eq!(
        loop_platform::error::status_field(&err).as_deref(),
        Some("size_bytes")
    );
    let err = p
        .client
        .clone()
        .create_upload(p.req(
            &token,
            pb::CreateUploadRequest {
                size_bytes: 10,
                content_type: "text/plain".into(),
                filename: String::new(),
            },
        ))
        .await
        .expect_err("not a video type");
    assert_eq!(
        loop_platform::error::status_field(&err).as_deref(),
        Some("content_type")
    );
    let viewer = TestKeys.issue(
        &Uuid::now_v7().to_string(),
        Role::Viewer,
        Duration::from_secs(60),
    );
    assert_eq!(
        p.create(&viewer, 10).await.expect_err("viewer").code(),
        Code::PermissionDenied
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM uploads")
        .fetch_one(&p.pool)
        .await
        .expect("count");
    assert_eq!(rows, 0, "a refused session leaves no row");
}

#[tokio::test]
async fn abandoned_and_cancelled_uploads_lose_their_bytes() {
    let p = Platform::start_with(|c| {
        c.processing.enabled = false;
        c.uploads.expire_after_secs = 1;
        c.uploads.sweep_interval_ms = 50;
    })
    .await;
    let (_, token) = p.creator();
    let abandoned = p.create(&token, 5_000).await.expect("create");
    p.append(&token, &abandoned.upload_id, 0, &[7u8; 2_000])
        .await
        .expect("chunk");
    let expired = testing::wait_for("the sweeper", Duration::from_secs(30), || async {
        let u = p.get(&token, &abandoned.upload_id).await.expect("get");
        (u.state() == pb::UploadState::Expired).then_some(u)
    })
    .await;
    assert_eq!(expired.offset, 2_000);
    // The bytes go after the state commits (and the row says so).
    testing::wait_for("the bytes deleted", Duration::from_secs(30), || async {
        let pending: bool =
            sqlx::query_scalar("SELECT purge_pending FROM uploads WHERE upload_id = $1::uuid")
                .bind(&abandoned.upload_id)
                .fetch_one(&p.pool)
                .await
                .ok()?;
        let left = p.objects(&format!("uploads/{}", abandoned.upload_id)).await;
        (!pending && left == 0).then_some(())
    })
    .await;
    let err = p
        .append(&token, &abandoned.upload_id, 2_000, &[7u8; 10])
        .await
        .expect_err("expired");
    assert_eq!(reason(&err).as_deref(), Some("UPLOAD_GONE"));

    let cancelled = p.create(&token, 5_000).await.expect("create");
    p.append(&token, &cancelled.upload_id, 0, &[1u8; 1_000])
        .await
        .expect("chunk");
    let (_, stranger) = p.creator();
    let cancel = |t: String| {
        let mut client = p.client.clone();
        let req = p.req(
            &t,
            pb::CancelUploadRequest {
                upload_id: cancelled.upload_id.clone(),
            },
        );
        async move { client.cancel_upload(req).await }
    };
    assert_eq!(
        cancel(stranger).await.expect_err("stranger").code(),
        Code::PermissionDenied
    );
    assert_eq!(
        p.objects(&format!("uploads/{}", cancelled.upload_id)).await,
        1
    );
    let done = cancel(token.clone()).await.expect("cancel").into_inner();
    assert_eq!(done.state(), pb::UploadState::Cancelled);
    let err = cancel(token.clone()).await.expect_err("twice");
    assert_eq!(reason(&err).as_deref(), Some("UPLOAD_GONE"));
    let err = p
        .append(&token, &cancelled.upload_id, 1_000, &[1u8; 10])
        .await
        .expect_err("cancelled");
    assert_eq!(reason(&err).as_deref(), Some("UPLOAD_GONE"));
    assert_eq!(
        p.objects(&format!("uploads/{}", cancelled.upload_id)).await,
        0
    );
}

#[tokio::test]
async fn a_user_has_a_bounded_number_of_open_sessions() {
    let p = Platform::start_with(|c| {
        c.processing.enabled = false;
        c.uploads.max_open_per_user = 2;
    })
    .await;
    let (_, token) = p.creator();
    let first = p.create(&token, 100).await.expect("first");
    p.create(&token, 100).await.expect("second");
    let err = p.create(&token, 100).await.expect_err("third");
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(reason(&err).as_deref(), Some("TOO_MANY_UPLOADS"));
    assert!(
        err.message().contains("the limit is 2"),
        "{}",
        err.message()
    );
    // Another creator is not affected; a finished session frees a place.
    let (_, other) = p.creator();
    p.create(&other, 100).await.expect("another creator");
    p.append(&token, &first.upload_id, 0, &[1u8; 100])
        .await
        .expect("complete");
    p.create(&token, 100).await.expect("a place again");
}

#[tokio::test]
async fn racing_writes_at_one_offset_commit_once() {
    let p = Platform::start_with(|c| c.processing.enabled = false).await;
    let (_, token) = p.creator();
    let upload = p.create(&token, 10_000).await.expect("create");
    let id = upload.upload_id.clone();
    // Eight writers send different bytes for the same offset at once.
    let writes = (0..8u8).map(|i| {
        let (p, token, id) = (&p, token.clone(), id.clone());
        async move { (i, p.append(&token, &id, 0, &[i; 4_000]).await) }
    });
    let results = futures::future::join_all(writes).await;
    let winners: Vec<u8> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (_, r) in &results {
        if let Err(err) = r {
            assert_eq!(reason(err).as_deref(), Some("OFFSET_MISMATCH"), "{err:?}");
        }
    }
    // One object (the winner's bytes), one part row, the offset moved once.
    assert_eq!(p.get(&token, &id).await.expect("get").offset, 4_000);
    assert_eq!(p.objects(&format!("uploads/{id}")).await, 1);
    let key: String =
        sqlx::query_scalar("SELECT object_key FROM upload_parts WHERE upload_id = $1::uuid")
            .bind(&id)
            .fetch_one(&p.pool)
            .await
            .expect("one part");
    let stored = p
        .store
        .get(&object_store::path::Path::from(key))
        .await
        .expect("object");
    assert_eq!(stored.as_ref(), &[winners[0]; 4_000][..]);
}
