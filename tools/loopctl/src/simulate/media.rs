//! Real video: creators publish short clips through the media path, as
//! clients do (tus upload through the gateway, processing by the media
//! service, publication by upload id), so the simulated platform plays.
//!
//! A few clips (ffmpeg test patterns with a tone: landscape, portrait and
//! square, 2 s) are generated once per run and uploaded again for each video
//! that needs one: generating is not what is simulated, uploading and
//! processing are. Processing is the media service's (one job at a time
//! per replica by default), so `--clips-per-creator` bounds how many
//! catalog videos wait for it; new videos posted during traffic are always
//! clips. After traffic, a few clip videos are played through their signed
//! URLs (master playlist, media playlist, first segment).

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reqwest::Method;
use serde_json::{Value, json};

use super::state::Sim;

/// (pattern, size, tone Hz) of the clips generated at set-up.
const CLIPS: &[(&str, &str, u32)] = &[
    ("testsrc", "320x180", 440),
    ("smptebars", "180x320", 550),
    ("testsrc2", "240x240", 660),
];
const CLIP_SECONDS: u32 = 2;
/// Longest wait for one upload to be processed.
const PROCESSING_TIMEOUT: Duration = Duration::from_secs(300);
/// Clip videos played after traffic.
const PLAYED: usize = 5;

/// What the media path did during the run.
#[derive(Default)]
pub struct MediaTally {
    pub uploads: u64,
    pub ready: u64,
    pub failed: Vec<String>,
    /// Last byte sent -> ready, per upload.
    pub processing_ms: Vec<f64>,
    /// Videos published from clips.
    pub videos: Vec<String>,
}

/// Generates the clips with ffmpeg (once per run); their bytes.
pub async fn generate_clips() -> anyhow::Result<Vec<Vec<u8>>> {
    let dir = std::env::temp_dir().join(format!(
        "loop-sim-clips-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    ));
    std::fs::create_dir_all(&dir)?;
    let generated = async {
        let mut clips = Vec::new();
        for (i, (pattern, size, tone)) in CLIPS.iter().enumerate() {
            let file = dir.join(format!("clip{i}.mp4"));
            let status = tokio::process::Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
                .args(["-f", "lavfi", "-i"])
                .arg(format!(
                    "{pattern}=size={size}:rate=24:duration={CLIP_SECONDS}"
                ))
                .args(["-f", "lavfi", "-i"])
                .arg(format!(
                    "sine=frequency={tone}:sample_rate=44100:duration={CLIP_SECONDS}"
                ))
                .args([
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-pix_fmt",
                    "yuv420p",
                ])
                .args(["-c:a", "aac", "-shortest", "-movflags", "+faststart"])
                .arg(&file)
                .status()
                .await
                .context(
                    "running ffmpeg to generate the clips (scripts/ensure-deps.sh installs it; \
                     --clips-per-creator 0 publishes by URL and needs none)",
                )?;
            if !status.success() {
                bail!("ffmpeg could not generate clip {i} ({status})");
            }
            clips.push(tokio::fs::read(&file).await?);
        }
        Ok(clips)
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    generated
}

impl Sim {
    /// Uploads clip `n` (mod the clips) as creator `creator` and waits until
    /// the media service has processed it; the upload id.
    pub async fn upload_clip(&self, creator: usize, n: usize) -> Option<String> {
        let bytes = self.clips.get(n % self.clips.len().max(1))?.clone();
        let token = &self.creators[creator].token;
        self.media.lock().uploads += 1;
        let created = self
            .api
            .post(
                "POST /v1/uploads",
                "/v1/uploads",
                Some(token),
                &json!({"size_bytes": bytes.len(), "content_type": "video/mp4"}),
            )
            .await;
        let Some(upload_id) = created.body["upload_id"].as_str().map(str::to_owned) else {
            self.upload_failed(format!(
                "creating an upload: HTTP {} {}",
                created.status, created.body
            ));
            return None;
        };
        let path = format!("/v1/uploads/{upload_id}");
        let sent = self
            .api
            .patch_bytes("PATCH /v1/uploads/{id}", &path, token, 0, bytes)
            .await;
        if sent.status != 204 {
            self.upload_failed(format!(
                "sending the clip: HTTP {} {}",
                sent.status, sent.body
            ));
            return None;
        }
        let sent_at = Instant::now();
        // Processing takes a while: ask again at a growing interval.
        let mut every = Duration::from_millis(100);
        loop {
            let upload = self.api.get("GET /v1/uploads/{id}", &path, token).await;
            match upload.body["state"].as_str() {
                Some("ready") => {
                    let mut media = self.media.lock();
                    media.ready += 1;
                    media
                        .processing_ms
                        .push(sent_at.elapsed().as_secs_f64() * 1000.0);
                    return Some(upload_id);
                }
                Some("processing") if sent_at.elapsed() < PROCESSING_TIMEOUT => {
                    tokio::time::sleep(every).await;
                    every = (every * 2).min(Duration::from_secs(1));
                }
                _ => {
                    self.upload_failed(format!(
                        "processing {upload_id}: HTTP {} {}",
                        upload.status, upload.body
                    ));
                    return None;
                }
            }
        }
    }

    fn upload_failed(&self, why: String) {
        let mut media = self.media.lock();
        if media.failed.len() < 20 {
            media.failed.push(why);
        } else {
            media.failed.push(String::new());
        }
    }

    /// Plays up to [`PLAYED`] clip videos through the signed URLs their
    /// video responses carry: (played, checked, problems).
    pub async fn play_clips(&self) -> Value {
        let videos: Vec<String> = self
            .media
            .lock()
            .videos
            .iter()
            .take(PLAYED)
            .cloned()
            .collect();
        let Some(viewer) = self.viewers.first() else {
            return json!({"checked": 0, "played": 0});
        };
        let mut played = 0;
        let mut problems = Vec::new();
        for id in &videos {
            match self.play(&viewer.token, id).await {
                Ok(()) => played += 1,
                Err(err) => problems.push(format!("{id}: {err:#}")),
            }
        }
        json!({"checked": videos.len(), "played": played, "problems": problems})
    }

    /// The video's master playlist, its first media playlist and that
    /// playlist's first segment, through the gateway's signed URLs.
    async fn play(&self, token: &str, video_id: &str) -> anyhow::Result<()> {
        let video = self
            .api
            .call(
                "GET /v1/videos/{id}",
                Method::GET,
                &format!("/v1/videos/{video_id}"),
                Some(token),
                None,
                None,
            )
            .await;
        let master_url = video.body["playback_url"]
            .as_str()
            .with_context(|| format!("no playback_url (HTTP {}): {}", video.status, video.body))?;
        let base = master_url.trim_end_matches("master.m3u8");
        let master = self.api.fetch_text(master_url).await?;
        let variant = first_uri(&master).context("the master playlist names no rendition")?;
        let playlist = self.api.fetch_text(&format!("{base}{variant}")).await?;
        let segment = first_uri(&playlist).context("the media playlist names no segment")?;
        let folder = variant.trim_end_matches("index.m3u8");
        let bytes = self
            .api
            .fetch_bytes(&format!("{base}{folder}{segment}"))
            .await?;
        if bytes.is_empty() {
            bail!("the first segment is empty");
        }
        Ok(())
    }
}

/// The first URI line of an HLS playlist.
fn first_uri(playlist: &str) -> Option<String> {
    playlist
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
}

/// The report's `media` section.
pub fn summary(media: &MediaTally, playback: Value) -> Value {
    let processing = super::report::latency(&media.processing_ms);
    json!({
        "uploads": media.uploads,
        "ready": media.ready,
        "failed": media.failed.len(),
        "failures": media.failed.iter().filter(|f| !f.is_empty()).collect::<Vec<_>>(),
        "videos_from_clips": media.videos.len(),
        "sample_video_ids": media.videos.iter().take(PLAYED).collect::<Vec<_>>(),
        "processing_p50_ms": processing.p50,
        "processing_p99_ms": processing.p99,
        "playback": playback,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_uri_skips_tags_and_blank_lines() {
        let master =
            "#EXTM3U\n#EXT-X-VERSION:3\n\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/index.m3u8\n";
        assert_eq!(first_uri(master).as_deref(), Some("360p/index.m3u8"));
        assert_eq!(first_uri("#EXTM3U\n#EXT-X-ENDLIST\n"), None);
    }
}
