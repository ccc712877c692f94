//! Real video for tests: short clips generated with ffmpeg (a test pattern
//! with a tone), and ffprobe/ffmpeg checks of what the platform serves.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Generates an H.264/AAC MP4 of `seconds` at `width`x`height` into `dir`.
pub fn generate(dir: &Path, name: &str, seconds: u32, width: u32, height: u32) -> PathBuf {
    std::fs::create_dir_all(dir).expect("clip folder");
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!(
            "testsrc=size={width}x{height}:rate=30:duration={seconds}"
        ))
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=440:sample_rate=44100:duration={seconds}"
        ))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            "-movflags",
            "+faststart",
        ])
        .arg(&out)
        .status()
        .expect("ffmpeg runs (scripts/ensure-deps.sh installs it)");
    assert!(status.success(), "ffmpeg could not generate {name}");
    out
}

/// The duration in milliseconds ffprobe reads from `file`.
pub fn duration_ms(file: &Path) -> u64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "default=noprint_wrappers=1:nokey=1",
        ])
        .arg(file)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seconds: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a duration");
    (seconds * 1000.0).round() as u64
}

/// Whether every frame of `file` decodes without an error.
pub fn decodes(file: &Path) -> bool {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    out.status.success() && out.stderr.is_empty()
}

/// The media playlists a master playlist names, and the segments a media
/// playlist names (its URI lines).
pub fn playlist_uris(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}
