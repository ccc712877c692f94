//! The processing worker: takes a completed upload (a row in state
//! `processing`) under a lease, assembles its chunks, probes it, transcodes
//! it to HLS renditions plus a poster, stores the outputs under its
//! attempt's prefix, and only then marks it ready (naming that prefix),
//! publishing `MediaReady`.
//!
//! Exactly once: each claim increments `processing_attempts` and the
//! attempt's number fences every later write (lease renewal, ready, failed),
//! so a worker that lost its lease (crashed, or too slow) can no longer mark
//! the upload. Its outputs are its own (`media/<id>/a<attempt>/`): it never
//! touches the outputs of the attempt that won, and it deletes its own when
//! the fence refuses it; the winner deletes what earlier attempts left. The
//! lease is renewed inside the same future as the job, so an aborted worker
//! stops renewing and its ffmpeg is killed with it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loop_proto::events::v1 as ev;
use sqlx::PgPool;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

pub(crate) mod render;

use crate::config::Config;
use crate::ffmpeg::{self, Failure, Probe};
use crate::store::Store;
use crate::uploads::RenditionInfo;

/// Where a content classifier would run: it sees the probe and the poster
/// before the upload is marked ready, and its labels travel in `MediaReady`
/// for moderation and the ranker.
pub trait Classifier: Send + Sync {
    fn classify(&self, probe: &Probe, poster: &Path) -> Vec<String>;
}

/// No classifier configured: no labels.
pub struct NoClassifier;

impl Classifier for NoClassifier {
    fn classify(&self, _: &Probe, _: &Path) -> Vec<String> {
        Vec::new()
    }
}

#[derive(Clone)]
pub struct Worker {
    pool: PgPool,
    store: Store,
    config: Arc<Config>,
    wake: Arc<Notify>,
    classifier: Arc<dyn Classifier>,
    ready: crate::service::ReadyCache,
}

enum Claimed {
    Upload(Job),
    Render(render::RenderJob),
}

/// A claimed job: an upload and the attempt number that fences it.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    upload_id: Uuid,
    owner_id: Uuid,
    attempt: i32,
}

impl Job {
    pub fn attempt(&self) -> i32 {
        self.attempt
    }
}

impl Worker {
    pub fn new(pool: PgPool, store: Store, config: Arc<Config>, wake: Arc<Notify>) -> Self {
        Self {
            pool,
            store,
            config,
            wake,
            classifier: Arc::new(NoClassifier),
            ready: crate::service::ReadyCache::default(),
        }
    }

    /// The playback memory of this process (a render changes what plays).
    pub fn with_ready_cache(mut self, ready: crate::service::ReadyCache) -> Self {
        self.ready = ready;
        self
    }

    pub fn with_classifier(mut self, classifier: Arc<dyn Classifier>) -> Self {
        self.classifier = classifier;
        self
    }

    /// Runs `processing.concurrency` job loops until `shutdown` (all in this
    /// future: dropping it stops them and their ffmpeg runs).
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let loops = (0..self.config.processing.concurrency).map(|_| self.job_loop(&shutdown));
        futures::future::join_all(loops).await;
        Ok(())
    }

    async fn job_loop(&self, shutdown: &CancellationToken) {
        let poll = Duration::from_millis(self.config.processing.poll_interval_ms);
        while !shutdown.is_cancelled() {
            let claimed = match self.claim().await {
                Ok(None) => self.claim_render().await.map(|r| r.map(Claimed::Render)),
                other => other.map(|j| j.map(Claimed::Upload)),
            };
            match claimed {
                Ok(Some(Claimed::Upload(job))) => self.process(job, shutdown).await,
                Ok(Some(Claimed::Render(job))) => self.process_render(job, shutdown).await,
                Ok(None) => {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(poll) => {}
                    }
                }
                Err(err) => {
                    tracing::warn!(error = ?err, "claiming a media job failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(poll) => {}
                    }
                }
            }
        }
    }

    fn lease(&self) -> f64 {
        self.config.processing.lease_secs as f64
    }

    /// Claims the next job (tests drive a worker step by step with this
    /// and [`Worker::process_claimed`]).
    #[doc(hidden)]
    pub async fn claim(&self) -> anyhow::Result<Option<Job>> {
        let row: Option<(Uuid, Uuid, i32)> = sqlx::query_as(
            "UPDATE uploads SET processing_attempts = processing_attempts + 1, \
             lease_until = now() + make_interval(secs => $1), updated_at = now() \
             WHERE upload_id = (SELECT upload_id FROM uploads WHERE state = 'processing' \
               AND (lease_until IS NULL OR lease_until < now()) \
               ORDER BY completed_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING upload_id, owner_id, processing_attempts",
        )
        .bind(self.lease())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(upload_id, owner_id, attempt)| Job {
            upload_id,
            owner_id,
            attempt,
        }))
    }

    /// Renews the lease every third of it while the job holds it; returns
    /// when the lease is lost (another attempt took over).
    /// Renews the job's lease; returns only when another attempt holds
    /// the job. A renewal also finds no row once this very attempt has
    /// marked the upload ready (which clears the lease) and is completing:
    /// then this never returns, so the attempt completes instead of being
    /// taken for fenced out (whose outputs, the live ones, would be deleted).
    #[doc(hidden)]
    pub async fn keep_lease(&self, job: Job) {
        self.renew_lease_until_lost(
            "UPDATE uploads SET lease_until = now() + make_interval(secs => $3) \
             WHERE upload_id = $1 AND processing_attempts = $2 AND state = 'processing'",
            job.upload_id,
            job.attempt,
        )
        .await;
        let finished_here: Result<Option<bool>, sqlx::Error> = sqlx::query_scalar(
            "SELECT state = 'ready' AND output_prefix = $3 FROM uploads \
             WHERE upload_id = $1 AND processing_attempts = $2",
        )
        .bind(job.upload_id)
        .bind(job.attempt)
        .bind(Store::attempt_prefix(job.upload_id, job.attempt))
        .fetch_optional(&self.pool)
        .await;
        match finished_here {
            Ok(Some(false) | None) => {}
            // Finished by this attempt, or unknown: never delete what may be live.
            Ok(Some(true)) | Err(_) => std::future::pending::<()>().await,
        }
    }

    /// Runs `renew` (binding `$1` the upload, `$2` the attempt, `$3` the
    /// lease in seconds) every third of the lease; returns when it updates
    /// no row (the lease was lost: another attempt took over, or the job
    /// moved on). A database error keeps the job: the final fenced update
    /// decides whether it still holds.
    pub(crate) async fn renew_lease_until_lost(
        &self,
        renew: &'static str,
        upload_id: Uuid,
        attempt: i32,
    ) {
        let every = Duration::from_secs(self.config.processing.lease_secs).div_f64(3.0);
        loop {
            tokio::time::sleep(every).await;
            let renewed = sqlx::query(renew)
                .bind(upload_id)
                .bind(attempt)
                .bind(self.lease())
                .execute(&self.pool)
                .await;
            match renewed {
                Ok(r) if r.rows_affected() == 1 => {}
                Ok(_) => return,
                Err(err) => {
                    tracing::warn!(error = %err, %upload_id, "renewing a media lease failed")
                }
            }
        }
    }

    /// Runs a claimed job to its end, as the job loop does.
    #[doc(hidden)]
    pub async fn process_claimed(&self, job: Job) {
        self.process(job, &CancellationToken::new()).await;
    }

    async fn process(&self, job: Job, shutdown: &CancellationToken) {
        let span =
            tracing::info_span!("media.process", upload_id = %job.upload_id, attempt = job.attempt);
        self.process_in_span(job, shutdown).instrument(span).await;
    }

    async fn process_in_span(&self, job: Job, shutdown: &CancellationToken) {
        if job.attempt > self.config.processing.max_attempts as i32 {
            self.fail(job, "processing kept failing; upload the video again")
                .await;
            return;
        }
        let dir = self
            .config
            .processing
            .work_dir
            .join(format!("{}-{}", job.upload_id, job.attempt));
        let outcome = tokio::select! {
            outcome = self.attempt(job, &dir) => Some(outcome),
            () = self.keep_lease(job) => {
                tracing::warn!("lost the lease of a media job; another attempt has it");
                crate::metrics::JOBS.with_label_values(&["lost_lease"]).inc();
                // Whatever this attempt stored will never be read.
                let prefix = Store::attempt_prefix(job.upload_id, job.attempt);
                if let Err(err) = self.store.delete_prefix(&object_store::path::Path::from(prefix)).await {
                    tracing::warn!(error = %err, "cannot delete a fenced-out attempt's outputs");
                }
                None
            }
            () = shutdown.cancelled() => {
                // Let another replica take it at once (the attempt counts).
                let _ = sqlx::query("UPDATE uploads SET lease_until = now() WHERE upload_id = $1 AND processing_attempts = $2")
                    .bind(job.upload_id).bind(job.attempt).execute(&self.pool).await;
                None
            }
        };
        if let Err(err) = tokio::fs::remove_dir_all(&dir).await
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %err, dir = %dir.display(), "cannot remove a job's scratch folder");
        }
        match outcome {
            None | Some(Ok(())) => {}
            Some(Err(Failure::Input(reason))) => self.fail(job, &reason).await,
            Some(Err(Failure::Retry(err))) => {
                tracing::warn!(error = ?err, "processing attempt failed; it will be retried");
                crate::metrics::JOBS.with_label_values(&["retry"]).inc();
                if job.attempt >= self.config.processing.max_attempts as i32 {
                    self.fail(job, "the video could not be processed; upload it again")
                        .await;
                } else {
                    let backoff = f64::from(1u32 << job.attempt.clamp(0, 6));
                    let _ = sqlx::query(
                        "UPDATE uploads SET lease_until = now() + make_interval(secs => $3) \
                         WHERE upload_id = $1 AND processing_attempts = $2 AND state = 'processing'",
                    )
                    .bind(job.upload_id)
                    .bind(job.attempt)
                    .bind(backoff)
                    .execute(&self.pool)
                    .await;
                }
            }
        }
    }

    async fn attempt(&self, job: Job, dir: &Path) -> Result<(), Failure> {
        let retry = |e: anyhow::Error| Failure::Retry(e);
        let _ = tokio::fs::remove_dir_all(dir).await;
        tokio::fs::create_dir_all(dir.join("out"))
            .await
            .map_err(|e| retry(e.into()))?;
        let source = dir.join("source");
        let step = Instant::now();
        self.assemble(job.upload_id, &source).await.map_err(retry)?;
        observe("assemble", step);
        let step = Instant::now();
        let probe = ffmpeg::probe(
            &self.config.processing,
            &source,
            self.config.uploads.max_duration_ms,
        )
        .await?;
        observe("probe", step);
        let renditions = ffmpeg::plan(
            &self.config.processing.renditions,
            probe.width,
            probe.height,
        );
        let out = dir.join("out");
        let step = Instant::now();
        ffmpeg::transcode(&self.config.processing, &source, &out, &probe, &renditions).await?;
        observe("transcode", step);
        let labels = self.classifier.classify(&probe, &out.join("poster.jpg"));
        let step = Instant::now();
        let prefix = Store::attempt_prefix(job.upload_id, job.attempt);
        // Earlier attempts are fenced out for good: what they left goes.
        self.store
            .delete_attempts_before(job.upload_id, job.attempt)
            .await
            .map_err(|e| retry(e.into()))?;
        self.store_outputs(job.upload_id, &prefix, &out, &renditions)
            .await
            .map_err(retry)?;
        observe("store", step);
        let marked = self
            .finish(job, &prefix, &probe, &renditions, labels)
            .await
            .map_err(retry)?;
        if !marked {
            // Fenced out: these outputs will never be read.
            if let Err(err) = self
                .store
                .delete_prefix(&object_store::path::Path::from(prefix.as_str()))
                .await
            {
                tracing::warn!(error = %err, "cannot delete a fenced-out attempt's outputs");
            }
        }
        Ok(())
    }

    /// Writes the upload's chunks, in offset order, into `source`.
    async fn assemble(&self, upload_id: Uuid, source: &Path) -> anyhow::Result<()> {
        let parts: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT part_offset, length, object_key FROM upload_parts WHERE upload_id = $1 ORDER BY part_offset",
        )
        .bind(upload_id)
        .fetch_all(&self.pool)
        .await?;
        let mut file = tokio::fs::File::create(source).await?;
        let mut expected = 0i64;
        for (offset, length, object_key) in parts {
            anyhow::ensure!(
                offset == expected,
                "upload {upload_id}: a gap at byte {expected}"
            );
            let key = if object_key.is_empty() {
                Store::part_key(upload_id, u64::try_from(offset)?)
            } else {
                object_store::path::Path::from(object_key)
            };
            let bytes = self.store.get(&key).await?;
            anyhow::ensure!(
                i64::try_from(bytes.len())? == length,
                "upload {upload_id}: part at {offset} has {} bytes, {length} recorded",
                bytes.len()
            );
            file.write_all(&bytes).await?;
            expected += length;
        }
        file.flush().await?;
        Ok(())
    }

    /// Stores the files under `out` as this attempt's outputs (`prefix`).
    async fn store_outputs(
        &self,
        upload_id: Uuid,
        prefix: &str,
        out: &Path,
        renditions: &[RenditionInfo],
    ) -> anyhow::Result<()> {
        let mut files: Vec<PathBuf> = vec![out.join("master.m3u8"), out.join("poster.jpg")];
        for r in renditions {
            let mut entries = tokio::fs::read_dir(out.join(&r.name)).await?;
            while let Some(entry) = entries.next_entry().await? {
                files.push(entry.path());
            }
        }
        for file in files {
            let relative = file
                .strip_prefix(out)?
                .to_str()
                .ok_or_else(|| anyhow::anyhow!("non-UTF-8 output name"))?
                .to_owned();
            let bytes = tokio::fs::read(&file).await?;
            self.store
                .put(
                    &Store::output_key(upload_id, prefix, &relative),
                    bytes.into(),
                )
                .await?;
        }
        Ok(())
    }

    /// Marks the upload ready with the outputs under `prefix` (only the
    /// latest attempt can: `false` when fenced out) and queues `MediaReady`
    /// in the same transaction; then deletes the chunks.
    async fn finish(
        &self,
        job: Job,
        prefix: &str,
        probe: &Probe,
        renditions: &[RenditionInfo],
        labels: Vec<String>,
    ) -> anyhow::Result<bool> {
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query(
            "UPDATE uploads SET state = 'ready', ready_at = now(), updated_at = now(), lease_until = NULL, \
             duration_ms = $3, width = $4, height = $5, video_codec = $6, audio_codec = $7, \
             renditions = $8, master_playlist = 'master.m3u8', poster = 'poster.jpg', \
             output_prefix = $9, purge_pending = true, \
             expires_at = now() + make_interval(secs => $10) \
             WHERE upload_id = $1 AND processing_attempts = $2 AND state = 'processing'",
        )
        .bind(job.upload_id)
        .bind(job.attempt)
        .bind(i32::try_from(probe.duration_ms)?)
        .bind(i32::try_from(probe.width)?)
        .bind(i32::try_from(probe.height)?)
        .bind(&probe.video_codec)
        .bind(probe.audio_codec.clone().unwrap_or_default())
        .bind(sqlx::types::Json(renditions))
        .bind(prefix)
        .bind(self.config.uploads.unpublished_expire_after_secs as f64)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() != 1 {
            tracing::warn!("a newer attempt holds this media job; not marking it");
            crate::metrics::JOBS
                .with_label_values(&["lost_lease"])
                .inc();
            return Ok(false);
        }
        crate::events::emit(
            &mut tx,
            job.upload_id,
            ev::media_event::Payload::MediaReady(ev::MediaReady {
                upload_id: job.upload_id.to_string(),
                owner_id: job.owner_id.to_string(),
                duration_ms: probe.duration_ms,
                width: probe.width,
                height: probe.height,
                aspect_ratio: f64::from(probe.width) / f64::from(probe.height.max(1)),
                video_codec: probe.video_codec.clone(),
                audio_codec: probe.audio_codec.clone().unwrap_or_default(),
                renditions: renditions
                    .iter()
                    .map(|r| ev::MediaRendition {
                        name: r.name.clone(),
                        width: r.width,
                        height: r.height,
                        bandwidth: r.bandwidth,
                    })
                    .collect(),
                labels,
            }),
        )
        .await?;
        tx.commit().await?;
        crate::metrics::JOBS.with_label_values(&["ready"]).inc();
        tracing::info!(duration_ms = probe.duration_ms, "media ready");
        self.purge(job.upload_id).await;
        Ok(true)
    }

    /// Marks the upload failed with `reason` (its creator sees it) and
    /// queues `MediaFailed`; then deletes the chunks.
    async fn fail(&self, job: Job, reason: &str) {
        let outcome: anyhow::Result<bool> = async {
            let mut tx = self.pool.begin().await?;
            let marked = sqlx::query(
                "UPDATE uploads SET state = 'failed', failure_reason = $3, lease_until = NULL, updated_at = now(), purge_pending = true \
                 WHERE upload_id = $1 AND processing_attempts = $2 AND state = 'processing'",
            )
            .bind(job.upload_id)
            .bind(job.attempt)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
            if marked.rows_affected() != 1 {
                return Ok(false);
            }
            crate::events::emit(
                &mut tx,
                job.upload_id,
                ev::media_event::Payload::MediaFailed(ev::MediaFailed {
                    upload_id: job.upload_id.to_string(),
                    owner_id: job.owner_id.to_string(),
                    reason: reason.to_owned(),
                }),
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        }
        .await;
        match outcome {
            Ok(true) => {
                crate::metrics::JOBS.with_label_values(&["failed"]).inc();
                tracing::info!(reason, "media failed");
                // Failed is final: its chunks and any attempt's outputs go.
                self.purge(job.upload_id).await;
            }
            Ok(false) => {}
            Err(err) => tracing::warn!(error = ?err, "marking a media job failed did not commit"),
        }
    }

    /// Deletes the chunks (and a failed upload's outputs) now; the sweeper
    /// retries if this fails.
    async fn purge(&self, upload_id: Uuid) {
        if let Err(err) = crate::uploads::purge(&self.pool, &self.store, upload_id).await {
            tracing::warn!(error = ?err, "cannot delete a processed upload's chunks yet");
        }
    }
}

fn observe(step: &str, since: Instant) {
    crate::metrics::STEP_SECONDS
        .with_label_values(&[step])
        .observe(since.elapsed().as_secs_f64());
}
