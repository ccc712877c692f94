//! `loopctl seed` against the whole platform (in-process, real Postgres,
//! Redis, broker and ffmpeg): demo creators publish real clips, uploaded
//! and processed by the media service, so the demo platform plays.

use serde_json::Value;

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    seed: loopctl::seed::Args,
}

#[tokio::test]
async fn the_seed_publishes_real_clips_that_play() {
    let platform = loop_testkit::Platform::start_with(|g| {
        g.rate_limit.auth_per_ip_per_minute = 100_000;
    })
    .await;
    let base = platform.base.clone();
    let cli = <Cli as clap::Parser>::parse_from([
        "seed",
        "--gateway",
        &base,
        "--creators",
        "2",
        "--videos-per-creator",
        "2",
        "--viewers",
        "1",
        "--clips-per-creator",
        "1",
    ]);
    loopctl::seed::run(cli.seed).await.expect("seed");

    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"handle": "demo_dance_0", "password": "demo-password-123"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["token"].as_str().expect("token");
    let id = login["user"]["user_id"].as_str().expect("id");
    // The demo shop's approved products, featured by the first creator.
    let showcase: Value = http
        .get(format!("{base}/v1/creators/{id}/showcase"))
        .bearer_auth(token)
        .send()
        .await
        .expect("showcase")
        .json()
        .await
        .expect("json");
    assert_eq!(
        showcase["items"].as_array().map(Vec::len),
        Some(2),
        "{showcase}"
    );
    let videos: Value = http
        .get(format!("{base}/v1/users/{id}/videos"))
        .bearer_auth(token)
        .send()
        .await
        .expect("videos")
        .json()
        .await
        .expect("json");
    let items = videos["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{videos}");
    let played: Vec<&Value> = items
        .iter()
        .filter(|v| v["playback_url"].is_string())
        .collect();
    assert_eq!(played.len(), 1, "one real clip per creator: {videos}");
    assert_eq!(
        played[0]["duration_ms"]
            .as_u64()
            .map(|d| d.abs_diff(4000) <= 100),
        Some(true)
    );
    let master = http
        .get(format!(
            "{base}{}",
            played[0]["playback_url"].as_str().expect("url")
        ))
        .send()
        .await
        .expect("master");
    assert_eq!(master.status(), reqwest::StatusCode::OK);
    // A 640x360 clip is not upscaled: its one rendition is 360p.
    assert!(
        master
            .text()
            .await
            .expect("text")
            .contains("360p/index.m3u8")
    );
}
