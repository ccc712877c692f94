//! The media service's configuration: defaults in code, then a TOML file,
//! then `LOOP_MEDIA__SECTION__KEY`. Validated at start-up; every problem
//! names its key.

use std::net::SocketAddr;
use std::path::PathBuf;

use loop_platform::config::{
    AuthConfig, DatabaseConfig, GrpcServerConfig, KafkaConfig, Secret, TelemetryConfig, Validate,
};
use loop_platform::outbox::OutboxConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub grpc: GrpcServerConfig,
    pub database: DatabaseConfig,
    pub kafka: KafkaConfig,
    pub auth: AuthConfig,
    pub telemetry: TelemetryConfig,
    pub outbox: OutboxConfig,
    pub storage: StorageConfig,
    pub uploads: UploadConfig,
    pub processing: ProcessingConfig,
    pub playback: PlaybackConfig,
}

/// Where uploads and processed outputs are kept (one `object_store`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `local` (a folder, the default) or `s3` (any S3-compatible store).
    pub backend: String,
    /// The folder of the `local` backend (created at start-up); `make up`
    /// points it under the platform's state folder.
    pub local_dir: PathBuf,
    pub s3: S3Config,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    /// e.g. `http://minio:9000`; empty for AWS itself.
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: Secret<String>,
    /// Plain-HTTP endpoints (MinIO inside compose).
    pub allow_http: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UploadConfig {
    /// Largest declared upload.
    pub max_bytes: u64,
    /// Longest video accepted (measured by ffprobe).
    pub max_duration_ms: u32,
    /// Largest chunk per AppendChunk call (the gateway splits bigger bodies).
    pub max_chunk_bytes: u32,
    /// Accepted content types (the file's real type is what ffprobe finds).
    pub content_types: Vec<String>,
    /// An upload not completed this long after its last chunk is abandoned.
    pub expire_after_secs: u64,
    /// How often abandoned uploads are looked for.
    pub sweep_interval_ms: u64,
    /// Unfinished sessions one user may have open at once (one more is
    /// refused with TOO_MANY_UPLOADS, HTTP 429).
    pub max_open_per_user: u32,
    /// A ready upload not published this long after it became ready
    /// expires: its outputs are deleted.
    pub unpublished_expire_after_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RenditionConfig {
    /// "720p".
    pub name: String,
    /// The short side in pixels (720 for 720p, in landscape or portrait).
    pub short_side: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProcessingConfig {
    /// Run the processing worker in this process.
    pub enabled: bool,
    /// Jobs processed at once by this process.
    pub concurrency: u32,
    /// A job's lease, renewed while it runs; a crashed worker's job is
    /// taken over once its lease lapses.
    pub lease_secs: u64,
    /// Attempts before a job that keeps failing is marked failed.
    pub max_attempts: u32,
    /// Poll interval when no completion wakes the worker.
    pub poll_interval_ms: u64,
    /// Scratch folder for sources and outputs while a job runs.
    pub work_dir: PathBuf,
    pub ffmpeg: String,
    pub ffprobe: String,
    /// x264 preset (`veryfast` trades size for speed).
    pub preset: String,
    /// HLS segment length.
    pub segment_secs: u32,
    /// Longest a single ffmpeg run may take, whatever the video's length
    /// (the cap of the bound below).
    pub timeout_secs: u64,
    /// Longest ffprobe (and the one-frame poster run) may take.
    pub probe_timeout_secs: u64,
    /// The transcode's bound: this many seconds plus
    /// `timeout_per_video_second` per second of (measured) video, at most
    /// `timeout_secs`. A run past it fails the upload (no retry): a file
    /// that takes that long is hostile or broken, and retrying it would
    /// hold a worker for hours.
    pub timeout_base_secs: u64,
    pub timeout_per_video_second: f64,
    /// Largest frame accepted (width x height): 3840x2160 by default.
    pub max_pixels: u64,
    /// Container formats accepted, by ffprobe's `format_name` (one of its
    /// comma-separated names must be listed). Playlists (`hls`), concat
    /// lists and image sequences are never accepted: they make ffmpeg read
    /// other files.
    pub formats: Vec<String>,
    /// How much of an ffmpeg/ffprobe run's error output is kept (its end).
    pub stderr_tail_bytes: usize,
    /// A stitch plays this much of the original (at most its length) before
    /// the new clip.
    pub stitch_secs: u32,
    pub renditions: Vec<RenditionConfig>,
}

/// Reads of processed outputs need a playback signature.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlaybackConfig {
    /// The HMAC key of playback URLs: the gateway's `media.url_key` (32+ bytes).
    pub url_key: Secret<String>,
}

impl ProcessingConfig {
    /// How long the transcode of a `duration_ms` video may run.
    pub fn transcode_timeout(&self, duration_ms: u32) -> std::time::Duration {
        let scaled = self.timeout_base_secs as f64
            + self.timeout_per_video_second * f64::from(duration_ms) / 1000.0;
        std::time::Duration::from_secs_f64(scaled.min(self.timeout_secs as f64))
    }
}

fn rendition(name: &str, short_side: u32, video_kbps: u32, audio_kbps: u32) -> RenditionConfig {
    RenditionConfig {
        name: name.into(),
        short_side,
        video_kbps,
        audio_kbps,
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            grpc: GrpcServerConfig {
                listen_addr: SocketAddr::from(([127, 0, 0, 1], 50067)),
            },
            database: DatabaseConfig::local("media"),
            kafka: KafkaConfig::default(),
            auth: AuthConfig::development_verifier(),
            telemetry: TelemetryConfig::with_metrics_port(9467),
            outbox: OutboxConfig::every_ms(200),
            storage: StorageConfig {
                backend: "local".into(),
                local_dir: PathBuf::from(".state/media"),
                s3: S3Config {
                    bucket: String::new(),
                    endpoint: String::new(),
                    region: "us-east-1".into(),
                    access_key_id: String::new(),
                    secret_access_key: Secret::new(String::new()),
                    allow_http: false,
                },
            },
            uploads: UploadConfig {
                max_bytes: 512 * 1024 * 1024,
                max_duration_ms: 600_000,
                max_chunk_bytes: 1024 * 1024,
                content_types: [
                    "video/mp4",
                    "video/quicktime",
                    "video/webm",
                    "video/x-matroska",
                    "video/mpeg",
                    "video/3gpp",
                ]
                .map(String::from)
                .to_vec(),
                expire_after_secs: 24 * 3600,
                sweep_interval_ms: 60_000,
                max_open_per_user: 10,
                unpublished_expire_after_secs: 7 * 24 * 3600,
            },
            processing: ProcessingConfig {
                enabled: true,
                concurrency: 1,
                lease_secs: 60,
                max_attempts: 3,
                poll_interval_ms: 1000,
                work_dir: std::env::temp_dir().join("loop-media"),
                ffmpeg: "ffmpeg".into(),
                ffprobe: "ffprobe".into(),
                preset: "veryfast".into(),
                segment_secs: 2,
                timeout_secs: 1800,
                probe_timeout_secs: 30,
                timeout_base_secs: 60,
                timeout_per_video_second: 3.0,
                max_pixels: 3840 * 2160,
                formats: ["mov", "mp4", "matroska", "webm", "mpegts", "mpeg"]
                    .map(String::from)
                    .to_vec(),
                stderr_tail_bytes: 64 * 1024,
                stitch_secs: 3,
                renditions: vec![
                    rendition("720p", 720, 2500, 128),
                    rendition("360p", 360, 800, 96),
                ],
            },
            playback: PlaybackConfig {
                url_key: Secret::new(loop_platform::playback::DEV_URL_KEY.into()),
            },
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        self.database.validate_into(&mut p);
        self.kafka.validate_into(&mut p);
        self.auth.validate_into("media", false, &mut p);
        self.outbox.validate_into(&mut p);
        let s = &self.storage;
        match s.backend.as_str() {
            "local" => {
                if s.local_dir.as_os_str().is_empty() {
                    p.push("storage.local_dir: required with backend local".into());
                }
            }
            "s3" => {
                if s.s3.bucket.is_empty() {
                    p.push("storage.s3.bucket: required with backend s3".into());
                }
                let endpoint = &s.s3.endpoint;
                let http = endpoint.starts_with("http://") || endpoint.starts_with("https://");
                if !(endpoint.is_empty() || http) {
                    p.push("storage.s3.endpoint: must be an http(s) URL".into());
                }
                if s.s3.endpoint.starts_with("http://") && !s.s3.allow_http {
                    p.push("storage.s3.endpoint: plain http needs storage.s3.allow_http".into());
                }
            }
            _ => p.push("storage.backend: must be local or s3".into()),
        }
        let u = &self.uploads;
        if !(1024..=64 * 1024 * 1024 * 1024).contains(&u.max_bytes) {
            p.push("uploads.max_bytes: must be 1024..=68719476736".into());
        }
        // Content publishes only what is within the platform's durations:
        // accepting longer uploads would process videos nobody can publish.
        use loop_platform::validate::{MAX_VIDEO_DURATION_MS, MIN_VIDEO_DURATION_MS};
        if !(MIN_VIDEO_DURATION_MS..=MAX_VIDEO_DURATION_MS).contains(&u.max_duration_ms) {
            p.push(format!(
                "uploads.max_duration_ms: must be {MIN_VIDEO_DURATION_MS}..={MAX_VIDEO_DURATION_MS} (what content publishes)"
            ));
        }
        // The gateway forwards chunks of up to MAX_FORWARDED_CHUNK_BYTES:
        // accepting less would refuse them.
        let forwarded = loop_platform::playback::MAX_FORWARDED_CHUNK_BYTES as u32;
        if !(forwarded..=3 * 1024 * 1024).contains(&u.max_chunk_bytes) {
            p.push(format!(
                "uploads.max_chunk_bytes: must be {forwarded}..=3145728 (at least what the gateway forwards, under gRPC's message limit)"
            ));
        }
        if u.content_types.is_empty() || u.content_types.iter().any(|t| !t.starts_with("video/")) {
            p.push("uploads.content_types: at least one, each video/*".into());
        }
        if !(1..=30 * 24 * 3600).contains(&u.expire_after_secs) {
            p.push("uploads.expire_after_secs: must be 1..=2592000".into());
        }
        if !(10..=3_600_000).contains(&u.sweep_interval_ms) {
            p.push("uploads.sweep_interval_ms: must be 10..=3600000".into());
        }
        if !(1..=1000).contains(&u.max_open_per_user) {
            p.push("uploads.max_open_per_user: must be 1..=1000".into());
        }
        if !(1..=365 * 24 * 3600).contains(&u.unpublished_expire_after_secs) {
            p.push("uploads.unpublished_expire_after_secs: must be 1..=31536000".into());
        }
        let w = &self.processing;
        if !(1..=64).contains(&w.concurrency) {
            p.push("processing.concurrency: must be 1..=64".into());
        }
        if !(1..=3600).contains(&w.lease_secs) {
            p.push("processing.lease_secs: must be 1..=3600".into());
        }
        if !(1..=20).contains(&w.max_attempts) {
            p.push("processing.max_attempts: must be 1..=20".into());
        }
        if !(10..=60_000).contains(&w.poll_interval_ms) {
            p.push("processing.poll_interval_ms: must be 10..=60000".into());
        }
        if !(1..=10).contains(&w.segment_secs) {
            p.push("processing.segment_secs: must be 1..=10".into());
        }
        if !(1..=86_400).contains(&w.timeout_secs) {
            p.push("processing.timeout_secs: must be 1..=86400".into());
        }
        if !(1..=3600).contains(&w.probe_timeout_secs) {
            p.push("processing.probe_timeout_secs: must be 1..=3600".into());
        }
        if !(1..=86_400).contains(&w.timeout_base_secs) {
            p.push("processing.timeout_base_secs: must be 1..=86400".into());
        }
        if !(w.timeout_per_video_second.is_finite()
            && (0.0..=100.0).contains(&w.timeout_per_video_second))
        {
            p.push("processing.timeout_per_video_second: must be 0..=100".into());
        }
        if !(256..=8192 * 8192).contains(&w.max_pixels) {
            p.push("processing.max_pixels: must be 256..=67108864".into());
        }
        const NEVER: &[&str] = &["hls", "concat", "image2", "image2pipe", "tty", "lavfi"];
        if w.formats.is_empty()
            || w.formats.iter().any(|f| {
                f.is_empty()
                    || NEVER.contains(&f.as_str())
                    || !f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
        {
            p.push(format!(
                "processing.formats: at least one demuxer name, never {}",
                NEVER.join(", ")
            ));
        }
        if !(1..=5).contains(&w.stitch_secs) {
            p.push("processing.stitch_secs: must be 1..=5".into());
        }
        if !(1024..=16 * 1024 * 1024).contains(&w.stderr_tail_bytes) {
            p.push("processing.stderr_tail_bytes: must be 1024..=16777216".into());
        }
        const PRESETS: &[&str] = &[
            "ultrafast",
            "superfast",
            "veryfast",
            "faster",
            "fast",
            "medium",
            "slow",
        ];
        if !PRESETS.contains(&w.preset.as_str()) {
            p.push(format!("processing.preset: one of {}", PRESETS.join(", ")));
        }
        if w.renditions.len() < 2 {
            p.push("processing.renditions: at least two".into());
        }
        let mut names = std::collections::HashSet::new();
        for (i, r) in w.renditions.iter().enumerate() {
            let key = format!("processing.renditions[{i}]");
            let name_ok = (1..=16).contains(&r.name.len())
                && r.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !name_ok || !names.insert(r.name.clone()) {
                p.push(format!("{key}.name: unique, 1..16 of [A-Za-z0-9_]"));
            }
            if !(120..=2160).contains(&r.short_side) || r.short_side % 2 != 0 {
                p.push(format!("{key}.short_side: an even number 120..=2160"));
            }
            if !(100..=50_000).contains(&r.video_kbps) {
                p.push(format!("{key}.video_kbps: must be 100..=50000"));
            }
            if !(32..=512).contains(&r.audio_kbps) {
                p.push(format!("{key}.audio_kbps: must be 32..=512"));
            }
        }
        if self.playback.url_key.expose().len() < 32 {
            p.push("playback.url_key: must be at least 32 bytes".into());
        }
        p
    }

    fn development_only(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.auth.development_only(&mut out);
        if self.playback.url_key.expose() == loop_platform::playback::DEV_URL_KEY {
            out.push("playback.url_key".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = Config::default();
        assert!(c.validate().is_empty(), "{:?}", c.validate());
    }

    #[test]
    fn problems_name_their_keys() {
        let mut c = Config::default();
        c.storage.backend = "s3".into();
        c.storage.s3.endpoint = "http://minio:9000".into();
        c.uploads.max_chunk_bytes = 10 * 1024 * 1024;
        c.processing.renditions.truncate(1);
        let problems = c.validate().join("\n");
        for key in [
            "storage.s3.bucket",
            "storage.s3.allow_http",
            "uploads.max_chunk_bytes",
            "processing.renditions",
        ] {
            assert!(problems.contains(key), "{key}: {problems}");
        }
    }
}
