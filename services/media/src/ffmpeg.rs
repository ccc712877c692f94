//! ffprobe and ffmpeg (Debian's packages, installed by scripts/ensure-deps.sh):
//! what a file really is, and its HLS renditions plus a poster.
//!
//! Both run as child processes with a deadline and are killed when their
//! future is dropped (a shut-down or aborted worker leaves no ffmpeg behind).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{ProcessingConfig, RenditionConfig};
use crate::uploads::RenditionInfo;

/// What ffprobe found.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub duration_ms: u32,
    pub width: u32,
    pub height: u32,
    pub video_codec: String,
    pub audio_codec: Option<String>,
}

/// Why a run failed: the input's fault (the upload fails with this reason,
/// in words for its creator), or the machine's (retried).
#[derive(Debug)]
pub enum Failure {
    Input(String),
    Retry(anyhow::Error),
}

#[derive(Deserialize)]
struct ProbeJson {
    #[serde(default)]
    streams: Vec<StreamJson>,
    format: Option<FormatJson>,
}

#[derive(Deserialize)]
struct StreamJson {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    #[serde(default)]
    disposition: std::collections::HashMap<String, i64>,
}

#[derive(Deserialize)]
struct FormatJson {
    duration: Option<String>,
}

async fn run(
    program: &str,
    args: &[String],
    timeout: Duration,
) -> Result<std::process::Output, Failure> {
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Failure::Retry(anyhow::anyhow!("starting {program}: {e}")))?;
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(e)) => Err(Failure::Retry(anyhow::anyhow!(
            "waiting for {program}: {e}"
        ))),
        Err(_) => Err(Failure::Retry(anyhow::anyhow!(
            "{program} took longer than {timeout:?}"
        ))),
    }
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

/// Probes `source`; refuses what is not a playable video of an acceptable length.
pub async fn probe(
    config: &ProcessingConfig,
    source: &Path,
    max_duration_ms: u32,
) -> Result<Probe, Failure> {
    let args = [
        "-v",
        "error",
        // An uploaded file may name other inputs (a playlist, a concat
        // list): read local files only, never the network.
        "-protocol_whitelist",
        "file",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([source.display().to_string()])
    .collect::<Vec<_>>();
    let out = run(
        &config.ffprobe,
        &args,
        Duration::from_secs(config.timeout_secs),
    )
    .await?;
    if !out.status.success() {
        let err = first_line(&out.stderr);
        tracing::info!(stderr = %err, "ffprobe refused an upload");
        return Err(Failure::Input(if err.contains("moov atom not found") {
            "the file is incomplete (truncated) or corrupt".into()
        } else {
            "the file is not a video that can be read".into()
        }));
    }
    if !out.stderr.is_empty() {
        // ffprobe read the header but hit damaged or missing data (e.g. a
        // file cut short whose index is at the front).
        tracing::info!(stderr = %first_line(&out.stderr), "ffprobe found damage in an upload");
        return Err(Failure::Input(
            "the file is incomplete (truncated) or corrupt".into(),
        ));
    }
    let parsed: ProbeJson = serde_json::from_slice(&out.stdout)
        .map_err(|e| Failure::Retry(anyhow::anyhow!("ffprobe output: {e}")))?;
    judge(parsed, max_duration_ms)
}

fn judge(parsed: ProbeJson, max_duration_ms: u32) -> Result<Probe, Failure> {
    let video = parsed
        .streams
        .iter()
        .find(|s| {
            s.codec_type.as_deref() == Some("video")
                && s.disposition.get("attached_pic").copied().unwrap_or(0) == 0
        })
        .ok_or_else(|| Failure::Input("the file has no video stream".into()))?;
    let (Some(width), Some(height)) = (video.width, video.height) else {
        return Err(Failure::Input("the video stream has no dimensions".into()));
    };
    if width < 16 || height < 16 {
        return Err(Failure::Input(format!(
            "the video is {width}x{height}; at least 16x16 is needed"
        )));
    }
    let video_codec = video.codec_name.clone().unwrap_or_default();
    if matches!(
        video_codec.as_str(),
        "mjpeg" | "png" | "bmp" | "gif" | "webp"
    ) {
        return Err(Failure::Input("the file is an image, not a video".into()));
    }
    let seconds: f64 = parsed
        .format
        .and_then(|f| f.duration)
        .and_then(|d| d.parse().ok())
        .filter(|d: &f64| d.is_finite() && *d > 0.0)
        .ok_or_else(|| Failure::Input("the video has no duration".into()))?;
    let duration_ms = (seconds * 1000.0).round().min(f64::from(u32::MAX)) as u32;
    if duration_ms < 1000 {
        return Err(Failure::Input(format!(
            "the video is {duration_ms} ms long; at least 1 s is needed"
        )));
    }
    if duration_ms > max_duration_ms {
        return Err(Failure::Input(format!(
            "the video is {:.1} s long; the limit is {:.0} s",
            f64::from(duration_ms) / 1000.0,
            f64::from(max_duration_ms) / 1000.0
        )));
    }
    let audio_codec = parsed
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"))
        .map(|s| s.codec_name.clone().unwrap_or_default());
    Ok(Probe {
        duration_ms,
        width,
        height,
        video_codec,
        audio_codec,
    })
}

fn even(x: f64) -> u32 {
    let v = (x / 2.0).round() * 2.0;
    v.max(2.0) as u32
}

/// The renditions of a `width`x`height` source: each configured one whose
/// short side fits in the source's (never upscaled), scaled to keep the
/// aspect; a source smaller than all of them gets one at its own size.
pub fn plan(renditions: &[RenditionConfig], width: u32, height: u32) -> Vec<RenditionInfo> {
    let short = width.min(height);
    let mut fitting: Vec<&RenditionConfig> = renditions
        .iter()
        .filter(|r| r.short_side <= short)
        .collect();
    let mut out = Vec::new();
    if fitting.is_empty()
        && let Some(smallest) = renditions.iter().min_by_key(|r| r.short_side)
    {
        fitting.push(smallest);
    }
    for r in fitting {
        let side = f64::from(r.short_side.min(short));
        let (w, h) = if width >= height {
            (
                even(f64::from(width) * side / f64::from(height)),
                even(side),
            )
        } else {
            (
                even(side),
                even(f64::from(height) * side / f64::from(width)),
            )
        };
        out.push(RenditionInfo {
            name: r.name.clone(),
            width: w,
            height: h,
            bandwidth: (r.video_kbps + r.audio_kbps) * 1000,
            playlist: format!("{}/index.m3u8", r.name),
        });
    }
    out
}

fn kbps_of(config: &ProcessingConfig, name: &str) -> (u32, u32) {
    config
        .renditions
        .iter()
        .find(|r| r.name == name)
        .map_or((800, 96), |r| (r.video_kbps, r.audio_kbps))
}

/// The ffmpeg arguments that write `renditions` of `source` as HLS into
/// `out` (`master.m3u8`, `<name>/index.m3u8`, `<name>/seg_NNNNN.ts`). The
/// benchmark runs the same arguments directly.
pub fn hls_args(
    config: &ProcessingConfig,
    source: &Path,
    out: &Path,
    renditions: &[RenditionInfo],
    has_audio: bool,
) -> Vec<String> {
    let n = renditions.len();
    let mut filter = format!(
        "[0:v]split={n}{}",
        (0..n).map(|i| format!("[s{i}]")).collect::<String>()
    );
    for (i, r) in renditions.iter().enumerate() {
        filter.push_str(&format!(";[s{i}]scale={}:{}[v{i}]", r.width, r.height));
    }
    let mut a: Vec<String> = vec![
        "-hide_banner".into(),
        "-nostdin".into(),
        "-loglevel".into(),
        "error".into(),
        "-y".into(),
        "-protocol_whitelist".into(),
        "file".into(),
        "-i".into(),
        source.display().to_string(),
        "-filter_complex".into(),
        filter,
    ];
    for i in 0..n {
        a.extend(["-map".into(), format!("[v{i}]")]);
        if has_audio {
            a.extend(["-map".into(), "0:a:0".into()]);
        }
    }
    let seg = config.segment_secs;
    a.extend(
        [
            "-c:v",
            "libx264",
            "-preset",
            config.preset.as_str(),
            "-profile:v",
            "main",
            "-pix_fmt",
            "yuv420p",
            "-sc_threshold",
            "0",
        ]
        .map(String::from),
    );
    a.extend([
        "-force_key_frames".into(),
        format!("expr:gte(t,n_forced*{seg})"),
    ]);
    for (i, r) in renditions.iter().enumerate() {
        let (v, audio) = kbps_of(config, &r.name);
        a.extend([
            format!("-b:v:{i}"),
            format!("{v}k"),
            format!("-maxrate:v:{i}"),
            format!("{}k", v * 107 / 100),
            format!("-bufsize:v:{i}"),
            format!("{}k", v * 3 / 2),
        ]);
        if has_audio {
            a.extend([format!("-b:a:{i}"), format!("{audio}k")]);
        }
    }
    if has_audio {
        a.extend(["-c:a", "aac", "-ac", "2"].map(String::from));
    }
    let map = renditions
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if has_audio {
                format!("v:{i},a:{i},name:{}", r.name)
            } else {
                format!("v:{i},name:{}", r.name)
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    a.extend([
        "-f".into(),
        "hls".into(),
        "-hls_time".into(),
        seg.to_string(),
        "-hls_playlist_type".into(),
        "vod".into(),
        "-hls_flags".into(),
        "independent_segments".into(),
        "-hls_segment_filename".into(),
        out.join("%v/seg_%05d.ts").display().to_string(),
        "-master_pl_name".into(),
        "master.m3u8".into(),
        "-var_stream_map".into(),
        map,
        out.join("%v/index.m3u8").display().to_string(),
    ]);
    a
}

/// The ffmpeg arguments of the poster: one frame (at 1 s, or mid-way in a
/// shorter clip) at the largest rendition's size.
pub fn poster_args(source: &Path, out: &Path, probe: &Probe, size: &RenditionInfo) -> Vec<String> {
    let at = (f64::from(probe.duration_ms) / 2000.0).min(1.0);
    [
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-protocol_whitelist",
        "file",
        "-ss",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([
        format!("{at:.3}"),
        "-i".into(),
        source.display().to_string(),
        "-frames:v".into(),
        "1".into(),
        "-vf".into(),
        format!("scale={}:{}", size.width, size.height),
        "-q:v".into(),
        "3".into(),
        out.join("poster.jpg").display().to_string(),
    ])
    .collect()
}

/// Transcodes `source` into `out` (renditions, master playlist, poster).
pub async fn transcode(
    config: &ProcessingConfig,
    source: &Path,
    out: &Path,
    probe: &Probe,
    renditions: &[RenditionInfo],
) -> Result<(), Failure> {
    for r in renditions {
        tokio::fs::create_dir_all(out.join(&r.name))
            .await
            .map_err(|e| Failure::Retry(e.into()))?;
    }
    let timeout = Duration::from_secs(config.timeout_secs);
    let hls = hls_args(config, source, out, renditions, probe.audio_codec.is_some());
    let done = run(&config.ffmpeg, &hls, timeout).await?;
    if !done.status.success() {
        // The probe passed, so this is most likely damage inside the
        // stream; retried up to the attempt limit, then failed.
        return Err(Failure::Retry(anyhow::anyhow!(
            "ffmpeg failed ({}): {}",
            done.status,
            first_line(&done.stderr)
        )));
    }
    let log = String::from_utf8_lossy(&done.stderr);
    if log.contains("partial file") || log.contains("Invalid data found") {
        tracing::info!(stderr = %first_line(&done.stderr), "ffmpeg found damage in an upload");
        return Err(Failure::Input(
            "the file is incomplete (truncated) or corrupt".into(),
        ));
    }
    let Some(largest) = renditions.first() else {
        return Err(Failure::Input("no rendition fits the video".into()));
    };
    // Damage the probe did not reach shows as a shorter output.
    let playlist = tokio::fs::read_to_string(out.join(&largest.playlist))
        .await
        .map_err(|e| Failure::Retry(e.into()))?;
    let decoded_ms = playlist_ms(&playlist);
    let expected_ms = u64::from(probe.duration_ms);
    if decoded_ms + 500 < expected_ms * 9 / 10 {
        return Err(Failure::Input(format!(
            "the file is incomplete (truncated) or corrupt: {:.1} s of its {:.1} s could be decoded",
            decoded_ms as f64 / 1000.0,
            expected_ms as f64 / 1000.0
        )));
    }
    let poster = poster_args(source, out, probe, largest);
    let done = run(&config.ffmpeg, &poster, timeout).await?;
    if !done.status.success() {
        return Err(Failure::Retry(anyhow::anyhow!(
            "ffmpeg poster failed ({}): {}",
            done.status,
            first_line(&done.stderr)
        )));
    }
    Ok(())
}

/// The total duration of a media playlist's segments (`#EXTINF`).
pub fn playlist_ms(playlist: &str) -> u64 {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|l| l.split(',').next()?.trim().parse::<f64>().ok())
        .map(|s| (s * 1000.0).round() as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn renditions_fit_the_source_without_upscaling() {
        let r = Config::default().processing.renditions;
        let landscape = plan(&r, 1920, 1080);
        assert_eq!(
            landscape
                .iter()
                .map(|x| (x.width, x.height))
                .collect::<Vec<_>>(),
            [(1280, 720), (640, 360)]
        );
        let portrait = plan(&r, 1080, 1920);
        assert_eq!(
            portrait
                .iter()
                .map(|x| (x.width, x.height))
                .collect::<Vec<_>>(),
            [(720, 1280), (360, 640)]
        );
        let small = plan(&r, 480, 360);
        assert_eq!(small.len(), 1);
        assert_eq!((small[0].width, small[0].height), (480, 360));
        let tiny = plan(&r, 160, 120);
        assert_eq!((tiny[0].width, tiny[0].height), (160, 120));
    }

    fn parsed(json: &str) -> ProbeJson {
        serde_json::from_str(json).expect("json")
    }

    #[test]
    fn the_judge_refuses_what_is_not_a_usable_video() {
        let ok = parsed(
            r#"{"streams":[{"codec_type":"video","codec_name":"h264","width":1280,"height":720},{"codec_type":"audio","codec_name":"aac"}],"format":{"duration":"4.000"}}"#,
        );
        let p = judge(ok, 600_000).map_err(|_| ()).expect("ok");
        assert_eq!(p.duration_ms, 4000);
        assert_eq!(p.audio_codec.as_deref(), Some("aac"));
        let reason = |json: &str, max: u32| match judge(parsed(json), max) {
            Err(Failure::Input(r)) => r,
            other => panic!("{:?}", other.map(|p| p.duration_ms).map_err(|_| ())),
        };
        assert!(reason(r#"{"streams":[{"codec_type":"audio","codec_name":"mp3"}],"format":{"duration":"3"}}"#, 600_000).contains("no video"));
        assert!(reason(r#"{"streams":[{"codec_type":"video","codec_name":"png","width":100,"height":100}],"format":{}}"#, 600_000).contains("image"));
        assert!(reason(r#"{"streams":[{"codec_type":"video","codec_name":"h264","width":100,"height":100}],"format":{"duration":"700"}}"#, 600_000).contains("limit is 600 s"));
    }
}
