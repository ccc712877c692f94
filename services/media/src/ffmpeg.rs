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
    /// The demuxer ffprobe chose (the first of its `format_name`s, one of
    /// `processing.formats`); ffmpeg is told to use it (`-f`), so it cannot
    /// read the file as something else.
    pub format: String,
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
    format_name: Option<String>,
    duration: Option<String>,
}

/// What a run left: its exit status, its standard output (at most
/// `MAX_STDOUT` bytes) and the end of its error output.
#[derive(Debug)]
pub struct Output {
    pub status: std::process::ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr_tail: Vec<u8>,
}

/// Most standard output kept (ffprobe's JSON of a sane file is a few KiB;
/// one with thousands of streams is refused).
const MAX_STDOUT: usize = 4 * 1024 * 1024;

/// Reads `reader` to its end keeping only its last `keep` bytes.
async fn read_tail(mut reader: impl tokio::io::AsyncRead + Unpin, keep: usize) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut tail = Vec::with_capacity(keep.min(64 * 1024));
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > keep.saturating_mul(2) {
                    tail.drain(..tail.len() - keep);
                }
            }
        }
    }
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
    tail
}

/// Reads `reader` to its end, at most `max` bytes (`None` past that).
async fn read_capped(mut reader: impl tokio::io::AsyncRead + Unpin, max: usize) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return Some(out),
            Ok(n) => {
                if out.len() + n > max {
                    return None;
                }
                out.extend_from_slice(&buf[..n]);
            }
        }
    }
}

/// Runs `program` for at most `timeout`. Past it the run is killed and the
/// upload fails (`Failure::Input`, no retry); its error output is kept
/// only to its last `stderr_keep` bytes, its standard output to `MAX_STDOUT`.
pub async fn run(
    program: &str,
    args: &[String],
    timeout: Duration,
    stderr_keep: usize,
) -> Result<Output, Failure> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Failure::Retry(anyhow::anyhow!("starting {program}: {e}")))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(Failure::Retry(anyhow::anyhow!("{program}: no pipes")));
    };
    let name = Path::new(program)
        .file_name()
        .map_or_else(|| program.to_owned(), |n| n.to_string_lossy().into_owned());
    let finished = tokio::time::timeout(timeout, async {
        let (out, err, status) = tokio::join!(
            read_capped(stdout, MAX_STDOUT),
            read_tail(stderr, stderr_keep),
            child.wait()
        );
        (out, err, status)
    })
    .await;
    // On every early return the child is dropped, so killed.
    match finished {
        Ok((_, _, Err(e))) => Err(Failure::Retry(anyhow::anyhow!("waiting for {name}: {e}"))),
        Ok((None, _, _)) => Err(Failure::Input(format!(
            "the file could not be read ({name} described it in over {MAX_STDOUT} bytes)"
        ))),
        Ok((Some(stdout), stderr_tail, Ok(status))) => Ok(Output {
            status,
            stdout,
            stderr_tail,
        }),
        Err(_) => {
            tracing::info!(program = %name, ?timeout, "an ffmpeg run took too long; killed");
            Err(Failure::Input(format!(
                "processing took too long ({name} ran past {} s); the file may be damaged or too complex",
                timeout.as_secs()
            )))
        }
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

fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

/// Probes `source`; refuses what is not a playable video of an acceptable
/// length, size and container.
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
        Duration::from_secs(config.probe_timeout_secs),
        config.stderr_tail_bytes,
    )
    .await?;
    if !out.status.success() {
        let err = first_line(&out.stderr_tail);
        tracing::info!(stderr = %err, "ffprobe refused an upload");
        return Err(Failure::Input(if err.contains("moov atom not found") {
            "the file is incomplete (truncated) or corrupt".into()
        } else {
            "the file is not a video that can be read".into()
        }));
    }
    if !out.stderr_tail.is_empty() {
        // ffprobe read the header but hit damaged or missing data (e.g. a
        // file cut short whose index is at the front).
        tracing::info!(stderr = %first_line(&out.stderr_tail), "ffprobe found damage in an upload");
        return Err(Failure::Input(
            "the file is incomplete (truncated) or corrupt".into(),
        ));
    }
    let parsed: ProbeJson = serde_json::from_slice(&out.stdout)
        .map_err(|e| Failure::Retry(anyhow::anyhow!("ffprobe output: {e}")))?;
    judge(parsed, config, max_duration_ms)
}

fn judge(
    parsed: ProbeJson,
    config: &ProcessingConfig,
    max_duration_ms: u32,
) -> Result<Probe, Failure> {
    let format_name = parsed
        .format
        .as_ref()
        .and_then(|f| f.format_name.clone())
        .unwrap_or_default();
    let accepted = format_name
        .split(',')
        .any(|f| config.formats.iter().any(|ok| ok == f));
    if !accepted {
        return Err(Failure::Input(format!(
            "the file's format ({}) is not accepted; upload an MP4, MOV, WebM, MKV or MPEG file",
            if format_name.is_empty() {
                "unknown"
            } else {
                format_name.as_str()
            }
        )));
    }
    let format = format_name.split(',').next().unwrap_or_default().to_owned();
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
    let pixels = u64::from(width) * u64::from(height);
    if pixels > config.max_pixels {
        return Err(Failure::Input(format!(
            "the video is {width}x{height} ({pixels} pixels a frame); the limit is {} pixels",
            config.max_pixels
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
        format,
    })
}

/// The `-t` bound of a run over `probe`'s file: its measured duration and
/// a second of slack (a container that understates its length cannot make
/// ffmpeg decode more than that).
fn read_limit(probe: &Probe) -> String {
    format!("{:.3}", f64::from(probe.duration_ms) / 1000.0 + 1.0)
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
    probe: &Probe,
) -> Vec<String> {
    let has_audio = probe.audio_codec.is_some();
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
        // Read it as what the probe found, for no longer than it said.
        "-f".into(),
        probe.format.clone(),
        "-t".into(),
        read_limit(probe),
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
        "-f".into(),
        probe.format.clone(),
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
    let keep = config.stderr_tail_bytes;
    let hls = hls_args(config, source, out, renditions, probe);
    let done = run(
        &config.ffmpeg,
        &hls,
        config.transcode_timeout(probe.duration_ms),
        keep,
    )
    .await?;
    if !done.status.success() {
        // The probe passed, so this is most likely damage inside the
        // stream; retried up to the attempt limit, then failed.
        return Err(Failure::Retry(anyhow::anyhow!(
            "ffmpeg failed ({}): {}",
            done.status,
            last_line(&done.stderr_tail)
        )));
    }
    let log = String::from_utf8_lossy(&done.stderr_tail);
    if log.contains("partial file") || log.contains("Invalid data found") {
        tracing::info!(stderr = %last_line(&done.stderr_tail), "ffmpeg found damage in an upload");
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
    let done = run(
        &config.ffmpeg,
        &poster,
        Duration::from_secs(config.probe_timeout_secs),
        keep,
    )
    .await?;
    if !done.status.success() {
        return Err(Failure::Retry(anyhow::anyhow!(
            "ffmpeg poster failed ({}): {}",
            done.status,
            last_line(&done.stderr_tail)
        )));
    }
    Ok(())
}

/// The ffmpeg arguments of a duet: `original` and `clip` side by side,
/// both scaled to the smaller height (so the width is the sum of the two
/// scaled widths), as long as the shorter; the two audio tracks mixed (or
/// the one there is). Returns them and the expected duration.
pub(crate) fn duet_args(
    config: &ProcessingConfig,
    original: &crate::worker::render::Fetched,
    clip: &crate::worker::render::Fetched,
    out: &Path,
) -> (Vec<String>, u32) {
    let h = even(f64::from(
        original.rendition.height.min(clip.rendition.height),
    ));
    let mut filter = format!(
        "[0:v]setpts=PTS-STARTPTS,scale=-2:{h},setsar=1[l];[1:v]setpts=PTS-STARTPTS,scale=-2:{h},setsar=1[r];[l][r]hstack=inputs=2:shortest=1,format=yuv420p[v]"
    );
    let audio = match (original.has_audio, clip.has_audio) {
        (true, true) => {
            filter.push_str(";[0:a]asetpts=PTS-STARTPTS[a0];[1:a]asetpts=PTS-STARTPTS[a1];[a0][a1]amix=inputs=2:duration=shortest[a]");
            Some("[a]".to_owned())
        }
        (false, true) => Some("1:a:0".to_owned()),
        (true, false) => Some("0:a:0".to_owned()),
        (false, false) => None,
    };
    let expected = original.duration_ms.min(clip.duration_ms);
    (
        render_args(config, original, clip, &filter, audio, expected, out),
        expected,
    )
}

/// The ffmpeg arguments of a stitch: the first `stitch_ms` of `original`,
/// then `clip`, at the clip's size (the original fitted in, padded). Both
/// need audio for the audio to be kept. Returns them and the expected
/// duration.
pub(crate) fn stitch_args(
    config: &ProcessingConfig,
    original: &crate::worker::render::Fetched,
    clip: &crate::worker::render::Fetched,
    stitch_ms: u32,
    out: &Path,
) -> (Vec<String>, u32) {
    let (w, h) = (clip.rendition.width, clip.rendition.height);
    let n = format!("{:.3}", f64::from(stitch_ms) / 1000.0);
    let fit = format!(
        "scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=30,format=yuv420p"
    );
    let both_audio = original.has_audio && clip.has_audio;
    let mut filter = format!(
        "[0:v]trim=duration={n},setpts=PTS-STARTPTS,{fit}[v0];[1:v]setpts=PTS-STARTPTS,{fit}[v1]"
    );
    if both_audio {
        filter.push_str(&format!(
            ";[0:a]atrim=duration={n},asetpts=PTS-STARTPTS,aresample=44100,aformat=channel_layouts=stereo[a0];[1:a]asetpts=PTS-STARTPTS,aresample=44100,aformat=channel_layouts=stereo[a1];[v0][a0][v1][a1]concat=n=2:v=1:a=1[v][a]"
        ));
    } else {
        filter.push_str(";[v0][v1]concat=n=2:v=1:a=0[v]");
    }
    let expected = stitch_ms + clip.duration_ms;
    let audio = both_audio.then(|| "[a]".to_owned());
    (
        render_args(config, original, clip, &filter, audio, expected, out),
        expected,
    )
}

fn render_args(
    config: &ProcessingConfig,
    original: &crate::worker::render::Fetched,
    clip: &crate::worker::render::Fetched,
    filter: &str,
    audio: Option<String>,
    expected_ms: u32,
    out: &Path,
) -> Vec<String> {
    let mut a: Vec<String> = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        .map(String::from)
        .to_vec();
    // The inputs are the platform's own HLS outputs (local files only).
    for input in [&original.playlist, &clip.playlist] {
        a.extend(["-protocol_whitelist", "file", "-f", "hls", "-i"].map(String::from));
        a.push(input.display().to_string());
    }
    a.extend(["-filter_complex".into(), filter.to_owned()]);
    a.extend(["-map".into(), "[v]".into()]);
    if let Some(audio) = &audio {
        a.extend(["-map".into(), audio.clone()]);
    }
    a.extend(
        [
            "-c:v",
            "libx264",
            "-preset",
            config.preset.as_str(),
            "-pix_fmt",
            "yuv420p",
        ]
        .map(String::from),
    );
    if audio.is_some() {
        a.extend(["-c:a", "aac", "-ac", "2"].map(String::from));
    } else {
        a.push("-an".into());
    }
    a.extend([
        "-t".into(),
        format!("{:.3}", f64::from(expected_ms) / 1000.0 + 1.0),
        "-movflags".into(),
        "+faststart".into(),
        out.display().to_string(),
    ]);
    a
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
        let config = Config::default().processing;
        let ok = parsed(
            r#"{"streams":[{"codec_type":"video","codec_name":"h264","width":1280,"height":720},{"codec_type":"audio","codec_name":"aac"}],"format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"4.000"}}"#,
        );
        let p = judge(ok, &config, 600_000).map_err(|_| ()).expect("ok");
        assert_eq!(p.duration_ms, 4000);
        assert_eq!(p.audio_codec.as_deref(), Some("aac"));
        assert_eq!(p.format, "mov");
        let reason = |json: &str, max: u32| match judge(parsed(json), &config, max) {
            Err(Failure::Input(r)) => r,
            other => panic!("{:?}", other.map(|p| p.duration_ms).map_err(|_| ())),
        };
        assert!(reason(r#"{"streams":[{"codec_type":"audio","codec_name":"mp3"}],"format":{"format_name":"mp3","duration":"3"}}"#, 600_000).contains("format (mp3)"));
        assert!(reason(r#"{"streams":[{"codec_type":"audio","codec_name":"aac"}],"format":{"format_name":"mov,mp4","duration":"3"}}"#, 600_000).contains("no video"));
        assert!(reason(r#"{"streams":[{"codec_type":"video","codec_name":"png","width":100,"height":100}],"format":{"format_name":"matroska,webm"}}"#, 600_000).contains("image"));
        assert!(reason(r#"{"streams":[{"codec_type":"video","codec_name":"h264","width":100,"height":100}],"format":{"format_name":"mpegts","duration":"700"}}"#, 600_000).contains("limit is 600 s"));
        // Playlists, concat lists and image sequences make ffmpeg read other
        // files: refused whatever they contain.
        for format in ["hls", "concat", "image2", "tty", ""] {
            let json = format!(
                r#"{{"streams":[{{"codec_type":"video","codec_name":"h264","width":320,"height":240}}],"format":{{"format_name":"{format}","duration":"3"}}}}"#
            );
            assert!(
                reason(&json, 600_000).contains("is not accepted"),
                "{format}"
            );
        }
        // Frames over the pixel cap (a 16384x16384 frame is 1 GiB of YUV).
        let huge = r#"{"streams":[{"codec_type":"video","codec_name":"h264","width":7680,"height":4320}],"format":{"format_name":"mov,mp4","duration":"3"}}"#;
        assert!(reason(huge, 600_000).contains("the limit is 8294400 pixels"));
    }

    #[test]
    fn ffmpeg_reads_the_probed_format_for_the_probed_duration() {
        let config = Config::default().processing;
        let probe = Probe {
            duration_ms: 4000,
            width: 1280,
            height: 720,
            video_codec: "h264".into(),
            audio_codec: None,
            format: "mov".into(),
        };
        let renditions = plan(&config.renditions, 1280, 720);
        let args = hls_args(
            &config,
            Path::new("/w/source"),
            Path::new("/w/out"),
            &renditions,
            &probe,
        );
        let input = args.iter().position(|a| a == "-i").expect("-i");
        let before = &args[..input];
        let pair = |flag: &str| {
            before
                .iter()
                .position(|a| a == flag)
                .map(|i| before[i + 1].as_str())
        };
        assert_eq!(pair("-f"), Some("mov"));
        assert_eq!(pair("-t"), Some("5.000"));
        assert_eq!(pair("-protocol_whitelist"), Some("file"));
        // Bounded by the video's length, capped by timeout_secs.
        assert_eq!(config.transcode_timeout(4000).as_secs(), 72);
        assert_eq!(config.transcode_timeout(3_600_000).as_secs(), 1800);
    }

    #[tokio::test]
    async fn runs_are_bounded_in_time_and_in_what_they_keep() {
        // 5 MB of error output: only the end is kept.
        let out = run(
            "sh",
            &[
                "-c".into(),
                "head -c 5000000 /dev/zero | tr '\\0' x >&2; printf '\\nthe-end\\n' >&2; exit 3"
                    .into(),
            ],
            Duration::from_secs(30),
            4096,
        )
        .await
        .map_err(|_| ())
        .expect("ran");
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stderr_tail.len(), 4096);
        assert_eq!(last_line(&out.stderr_tail), "the-end");
        // Past the bound: killed, and the upload's fault (no retry).
        let started = std::time::Instant::now();
        match run("sleep", &["30".into()], Duration::from_millis(300), 4096).await {
            Err(Failure::Input(reason)) => assert!(reason.contains("took too long"), "{reason}"),
            other => panic!("{:?}", other.map(|o| o.status)),
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        // Standard output past its cap is refused.
        match run(
            "sh",
            &["-c".into(), "head -c 5000000 /dev/zero".into()],
            Duration::from_secs(30),
            4096,
        )
        .await
        {
            Err(Failure::Input(reason)) => {
                assert!(reason.contains("could not be read"), "{reason}")
            }
            other => panic!("{:?}", other.map(|o| o.status)),
        }
    }
}
