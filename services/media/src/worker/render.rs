//! Duets and stitches, rendered by the same pipeline: when content
//! publishes a duet or a stitch of a video that was itself uploaded (the
//! media service learns both from `content.v1`), a render job is queued for
//! the new clip's upload. The worker renders from the two uploads' live
//! outputs (their largest renditions): a duet puts the original and the new
//! clip side by side (`hstack`, both scaled to the smaller height, the two
//! audio tracks mixed); a stitch plays the first `processing.stitch_secs`
//! of the original, then the new clip (`concat`, at the new clip's size).
//! The result goes through the usual probe and HLS transcode, is stored
//! under the job's own prefix (`media/<id>/r<attempt>/`), and the fenced
//! finish points the upload's `output_prefix` at it: from then on the
//! video's playback URLs (unchanged) play the rendered version. Lineage
//! stays content's (`remix_of`); until the render is ready, the new clip
//! plays alone. A render that cannot be made (the original is gone) fails
//! with a reason and the clip keeps playing alone.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tracing::Instrument;
use uuid::Uuid;

use super::Worker;
use crate::ffmpeg::{self, Failure};
use crate::store::{self, Store};
use crate::uploads::RenditionInfo;

/// A claimed render: the new clip's upload, the original's, and the attempt
/// that fences it.
#[derive(Debug, Clone)]
pub struct RenderJob {
    pub upload_id: Uuid,
    pub source_upload_id: Uuid,
    pub kind: String,
    pub attempt: i32,
}

/// An upload's state, live prefix, renditions, duration and audio codec.
type LiveOutputs = (
    String,
    String,
    sqlx::types::Json<Vec<RenditionInfo>>,
    i32,
    String,
);

/// One upload's largest rendition, fetched into a scratch folder.
pub(crate) struct Fetched {
    pub playlist: PathBuf,
    pub rendition: RenditionInfo,
    pub duration_ms: u32,
    pub has_audio: bool,
}

impl Worker {
    pub(super) async fn claim_render(&self) -> anyhow::Result<Option<RenderJob>> {
        let row: Option<(Uuid, Uuid, String, i32)> = sqlx::query_as(
            "UPDATE renders SET attempts = attempts + 1, \
             lease_until = now() + make_interval(secs => $1) \
             WHERE upload_id = (SELECT upload_id FROM renders WHERE state = 'pending' \
               AND (lease_until IS NULL OR lease_until < now()) \
               ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING upload_id, source_upload_id, kind, attempts",
        )
        .bind(self.lease())
        .fetch_optional(&self.pool)
        .await?;
        Ok(
            row.map(|(upload_id, source_upload_id, kind, attempt)| RenderJob {
                upload_id,
                source_upload_id,
                kind,
                attempt,
            }),
        )
    }

    async fn keep_render_lease(&self, job: &RenderJob) {
        self.renew_lease_until_lost(
            "UPDATE renders SET lease_until = now() + make_interval(secs => $3) \
             WHERE upload_id = $1 AND attempts = $2 AND state = 'pending'",
            job.upload_id,
            job.attempt,
        )
        .await;
    }

    pub(super) async fn process_render(
        &self,
        job: RenderJob,
        shutdown: &tokio_util::sync::CancellationToken,
    ) {
        let span = tracing::info_span!("media.render", upload_id = %job.upload_id, kind = %job.kind, attempt = job.attempt);
        self.process_render_in_span(job, shutdown)
            .instrument(span)
            .await;
    }

    async fn process_render_in_span(
        &self,
        job: RenderJob,
        shutdown: &tokio_util::sync::CancellationToken,
    ) {
        if job.attempt > self.config.processing.max_attempts as i32 {
            self.fail_render(&job, "rendering kept failing").await;
            return;
        }
        let dir = self
            .config
            .processing
            .work_dir
            .join(format!("render-{}-{}", job.upload_id, job.attempt));
        let outcome = tokio::select! {
            outcome = self.render_attempt(&job, &dir) => Some(outcome),
            () = self.keep_render_lease(&job) => None,
            () = shutdown.cancelled() => None,
        };
        let _ = tokio::fs::remove_dir_all(&dir).await;
        match outcome {
            None | Some(Ok(())) => {}
            Some(Err(Failure::Input(reason))) => self.fail_render(&job, &reason).await,
            Some(Err(Failure::Retry(err))) => {
                tracing::warn!(error = ?err, "render attempt failed; it will be retried");
                if job.attempt >= self.config.processing.max_attempts as i32 {
                    self.fail_render(&job, "the video could not be rendered")
                        .await;
                } else {
                    let backoff = f64::from(1u32 << job.attempt.clamp(0, 6));
                    let _ = sqlx::query(
                        "UPDATE renders SET lease_until = now() + make_interval(secs => $3) \
                         WHERE upload_id = $1 AND attempts = $2 AND state = 'pending'",
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

    async fn render_attempt(&self, job: &RenderJob, dir: &Path) -> Result<(), Failure> {
        let retry = |e: anyhow::Error| Failure::Retry(e);
        let _ = tokio::fs::remove_dir_all(dir).await;
        tokio::fs::create_dir_all(dir.join("out"))
            .await
            .map_err(|e| retry(e.into()))?;
        let started = Instant::now();
        let original = self
            .fetch_rendition(job.source_upload_id, &dir.join("original"))
            .await?;
        let clip = self
            .fetch_rendition(job.upload_id, &dir.join("clip"))
            .await?;
        let rendered = dir.join("rendered.mp4");
        let config = &self.config.processing;
        let stitch_ms = (config.stitch_secs * 1000).min(original.duration_ms);
        let (args, expected_ms) = match job.kind.as_str() {
            "duet" => ffmpeg::duet_args(config, &original, &clip, &rendered),
            "stitch" => ffmpeg::stitch_args(config, &original, &clip, stitch_ms, &rendered),
            other => return Err(Failure::Input(format!("unknown remix kind {other}"))),
        };
        let done = ffmpeg::run(
            &config.ffmpeg,
            &args,
            config.transcode_timeout(expected_ms),
            config.stderr_tail_bytes,
        )
        .await?;
        if !done.status.success() {
            return Err(Failure::Retry(anyhow::anyhow!(
                "ffmpeg render failed ({}): {}",
                done.status,
                String::from_utf8_lossy(&done.stderr_tail)
                    .lines()
                    .last()
                    .unwrap_or_default()
            )));
        }
        // The rendered file goes through the usual pipeline.
        let probe = ffmpeg::probe(
            config,
            &rendered,
            self.config.uploads.max_duration_ms + 6_000,
        )
        .await?;
        let renditions = ffmpeg::plan(&config.renditions, probe.width, probe.height);
        let out = dir.join("out");
        ffmpeg::transcode(config, &rendered, &out, &probe, &renditions).await?;
        let prefix = Store::render_prefix(job.upload_id, job.attempt);
        self.store_outputs(job.upload_id, &prefix, &out, &renditions)
            .await
            .map_err(retry)?;
        let marked = self
            .finish_render(job, &prefix, &probe, &renditions)
            .await
            .map_err(retry)?;
        if !marked
            && let Err(err) = self
                .store
                .delete_prefix(&object_store::path::Path::from(prefix.as_str()))
                .await
        {
            tracing::warn!(error = %err, "cannot delete a fenced-out render's outputs");
        }
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            width = probe.width,
            height = probe.height,
            duration_ms = probe.duration_ms,
            "render ready"
        );
        Ok(())
    }

    /// The largest rendition of a ready upload's live outputs, copied into
    /// `into` (its playlist and segments).
    async fn fetch_rendition(&self, upload_id: Uuid, into: &Path) -> Result<Fetched, Failure> {
        let retry = |e: anyhow::Error| Failure::Retry(e);
        let row: Option<LiveOutputs> =
            sqlx::query_as(
                "SELECT state, output_prefix, renditions, duration_ms, audio_codec FROM uploads WHERE upload_id = $1",
            )
            .bind(upload_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| retry(e.into()))?;
        let Some((state, prefix, renditions, duration_ms, audio_codec)) = row else {
            return Err(Failure::Input(
                "the original video is no longer available".into(),
            ));
        };
        if state != "ready" {
            return Err(Failure::Input(format!(
                "a video of the remix is {state}, no longer available"
            )));
        }
        let Some(rendition) = renditions.0.first().cloned() else {
            return Err(Failure::Input(
                "a video of the remix has no rendition".into(),
            ));
        };
        let folder = into.join(&rendition.name);
        tokio::fs::create_dir_all(&folder)
            .await
            .map_err(|e| retry(e.into()))?;
        let playlist = self
            .store
            .get(&Store::output_key(upload_id, &prefix, &rendition.playlist))
            .await
            .map_err(|e| retry(e.into()))?;
        let text = String::from_utf8_lossy(&playlist).into_owned();
        for uri in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let relative = format!("{}/{}", rendition.name, uri.trim());
            if !store::valid_output_path(&relative) {
                return Err(Failure::Retry(anyhow::anyhow!(
                    "unexpected segment name {uri}"
                )));
            }
            let bytes = self
                .store
                .get(&Store::output_key(upload_id, &prefix, &relative))
                .await
                .map_err(|e| retry(e.into()))?;
            tokio::fs::write(folder.join(uri.trim()), &bytes)
                .await
                .map_err(|e| retry(e.into()))?;
        }
        let path = folder.join("index.m3u8");
        tokio::fs::write(&path, &playlist)
            .await
            .map_err(|e| retry(e.into()))?;
        Ok(Fetched {
            playlist: path,
            rendition,
            duration_ms: u32::try_from(duration_ms).unwrap_or(0),
            has_audio: !audio_codec.is_empty(),
        })
    }

    /// Points the upload at the rendered outputs (only the latest attempt,
    /// only while the upload is ready); `false` when fenced out.
    async fn finish_render(
        &self,
        job: &RenderJob,
        prefix: &str,
        probe: &ffmpeg::Probe,
        renditions: &[RenditionInfo],
    ) -> anyhow::Result<bool> {
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query(
            "UPDATE renders SET state = 'ready', output_prefix = $3, lease_until = NULL, finished_at = now() \
             WHERE upload_id = $1 AND attempts = $2 AND state = 'pending'",
        )
        .bind(job.upload_id)
        .bind(job.attempt)
        .bind(prefix)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() != 1 {
            return Ok(false);
        }
        let owner: Option<Uuid> = sqlx::query_scalar(
            "UPDATE uploads SET output_prefix = $2, renditions = $3, duration_ms = $4, width = $5, height = $6, \
             updated_at = now() WHERE upload_id = $1 AND state = 'ready' RETURNING owner_id",
        )
        .bind(job.upload_id)
        .bind(prefix)
        .bind(sqlx::types::Json(renditions))
        .bind(i32::try_from(probe.duration_ms)?)
        .bind(i32::try_from(probe.width)?)
        .bind(i32::try_from(probe.height)?)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(owner) = owner else {
            // The upload left ready meanwhile (its video was removed).
            return Ok(false);
        };
        // Content follows this: the video's duration and frame size become
        // the rendered ones (a stitch is longer than its new clip).
        crate::events::emit(
            &mut tx,
            job.upload_id,
            loop_proto::events::v1::media_event::Payload::MediaRendered(
                loop_proto::events::v1::MediaRendered {
                    upload_id: job.upload_id.to_string(),
                    owner_id: owner.to_string(),
                    duration_ms: probe.duration_ms,
                    width: probe.width,
                    height: probe.height,
                    aspect_ratio: f64::from(probe.width) / f64::from(probe.height.max(1)),
                    kind: job.kind.clone(),
                    source_upload_id: job.source_upload_id.to_string(),
                },
            ),
        )
        .await?;
        tx.commit().await?;
        self.ready.forget(job.upload_id);
        crate::metrics::JOBS.with_label_values(&["rendered"]).inc();
        Ok(true)
    }

    async fn fail_render(&self, job: &RenderJob, reason: &str) {
        tracing::info!(reason, "render failed; the clip plays alone");
        let _ = sqlx::query(
            "UPDATE renders SET state = 'failed', failure_reason = $3, lease_until = NULL, finished_at = now() \
             WHERE upload_id = $1 AND attempts = $2 AND state = 'pending'",
        )
        .bind(job.upload_id)
        .bind(job.attempt)
        .bind(reason)
        .execute(&self.pool)
        .await;
        crate::metrics::JOBS
            .with_label_values(&["render_failed"])
            .inc();
    }
}
