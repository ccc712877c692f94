//! The media service's Prometheus metrics.

use std::sync::LazyLock;

use prometheus::{HistogramVec, IntCounterVec};

/// Upload sessions by what happened to them.
pub static UPLOADS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    loop_platform::metrics::counter_vec(
        "loop_media_uploads_total",
        "Upload sessions by outcome (created, completed, cancelled, expired)",
        &["outcome"],
    )
});

/// Bytes received in chunks.
pub static UPLOAD_BYTES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    loop_platform::metrics::counter_vec(
        "loop_media_upload_bytes_total",
        "Bytes of upload chunks stored, by where they came from",
        &["via"],
    )
});

/// Processing jobs by outcome.
pub static JOBS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    loop_platform::metrics::counter_vec(
        "loop_media_jobs_total",
        "Processing attempts by outcome (ready, failed, retry, lost_lease)",
        &["outcome"],
    )
});

/// Time per processing step.
pub static STEP_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    loop_platform::metrics::latency_vec(
        "loop_media_step_seconds",
        "Seconds per processing step (assemble, probe, transcode, store)",
        &["step"],
    )
});
