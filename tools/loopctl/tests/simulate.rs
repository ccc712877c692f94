//! The CI smoke test of `loopctl simulate`: a short simulation against the
//! whole platform (in-process, real Postgres, Redis and broker), driven only
//! through the gateway's HTTP API. Asserts what the issue asks of every run:
//! no 5xx, the ledger reconciles, billed ad impressions equal delivered
//! ones, the feed learned (each viewer's taste is served more often than
//! a taste-blind popularity feed would), and the invalid traffic a share of
//! cheating viewers injects is detected and neither billed nor counted.

use std::time::Duration;

use loopctl::simulate;

#[tokio::test]
async fn a_short_simulation_has_no_server_errors_exact_money_and_a_feed_that_learns() {
    let platform = loop_testkit::Platform::start_with(|g| {
        // One test process stands in for every client's IP.
        g.rate_limit.auth_per_ip_per_minute = 100_000;
    })
    .await;
    let json = std::env::temp_dir().join(format!(
        "loop-sim-{}.json",
        loop_platform::testing::unique("report")
    ));
    let args = simulate::Args {
        gateway: platform.base.clone(),
        // One creator per family, and enough videos per family that no
        // viewer runs out of unseen videos of their taste within the run
        // (a video is never shown twice): ~8 feeds of 8 items per viewer,
        // against 30+ videos per family. With fewer videos a fast machine
        // scrolls through a viewer's whole taste and the last feeds can only
        // show other families, which says nothing about learning.
        viewers: 120,
        creators: 20,
        advertisers: 3,
        videos_per_creator: 30,
        duration: Duration::from_secs(25),
        rate: 100.0,
        concurrency: 12,
        seed: 7,
        ad_slots: vec![4, 11],
        page_size: 8,
        json: json.display().to_string(),
        admin_handle: "admin".into(),
        admin_password: "loop-admin-dev-password".into(),
        receipt_secret: loop_wallet::config::DEV_TEST_RECEIPT_SECRET.into(),
        pid_dir: "/nonexistent".into(),
        quiet: true,
        bench_report: false,
        // Every 10th viewer cheats (click floods, repeated likes, replayed
        // serve tokens); creators watch their own videos.
        abusers: 0.1,
    };
    let report = simulate::run(args).await.expect("simulation");
    println!("{}", simulate::render(&report));

    assert!(
        report["totals"]["requests"].as_u64().unwrap_or(0) > 500,
        "{report}"
    );
    assert_eq!(
        report["totals"]["server_errors"], 0,
        "5xx: {}",
        report["endpoints"]
    );
    assert_eq!(
        report["money"]["ledger_consistent"], true,
        "{}",
        report["money"]
    );
    assert!(
        report["money"]["gifts"].as_u64().unwrap_or(0) > 0,
        "{}",
        report["money"]
    );
    let ads = &report["ads"];
    assert!(
        ads["impressions_reported"].as_u64().unwrap_or(0) > 0,
        "no ads: {ads}"
    );
    assert_eq!(ads["billed_equals_delivered"], true, "{ads}");
    let learning = &report["learning"];
    let (last, baseline) = (
        learning["last_share"].as_f64().unwrap_or(0.0),
        learning["popularity_baseline_share"]
            .as_f64()
            .unwrap_or(1.0),
    );
    assert!(
        last > baseline,
        "the feed did not beat a taste-blind popularity feed: {learning}"
    );
    assert!(
        report["freshness"]["samples"].as_u64().unwrap_or(0) > 0,
        "{}",
        report["freshness"]
    );
    // The cheating was seen, and none of it billed or counted.
    let integrity = &report["integrity"];
    let flooded = integrity["ad_clicks_flooded"].as_u64().unwrap_or(0);
    assert!(flooded > 0, "no click floods: {integrity}");
    assert_eq!(
        integrity["invalid_ad_events_reported"], flooded,
        "every flooded click reported invalid: {integrity}"
    );
    assert_eq!(
        integrity["ad_clicks_counted"], integrity["honest_ad_clicks"],
        "only honest clicks counted: {integrity}"
    );
    let credits = &integrity["engagement_credits"];
    assert!(
        credits["duplicate"].as_u64().unwrap_or(0) > 0
            && credits["own_video"].as_u64().unwrap_or(0) > 0,
        "{integrity}"
    );
    assert_eq!(
        integrity["foreign_serve_tokens_refused"], integrity["foreign_serve_tokens_sent"],
        "{integrity}"
    );
    let _ = std::fs::remove_file(json);
}
