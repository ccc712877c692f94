//! The CI smoke test of `loopctl simulate`: a short simulation against the
//! whole platform (in-process, real Postgres, Redis and broker), driven only
//! through the gateway's HTTP API. Asserts what the issue asks of every run:
//! no 5xx, the ledger reconciles (shopping included: showcase, video and
//! LIVE-bag purchases, a flash sale, an auction), billed ad impressions
//! equal delivered ones, the feed learned (each viewer's taste is served
//! more often than a taste-blind popularity feed would), and the invalid
//! traffic a share of cheating viewers injects is detected and neither
//! billed nor counted.

use std::time::Duration;

use loopctl::simulate;

#[tokio::test]
async fn a_short_simulation_has_no_server_errors_exact_money_and_a_feed_that_learns() {
    let platform = loop_testkit::Platform::start_with(|g| {
        // One test process stands in for every client's IP.
        g.rate_limit.auth_per_ip_per_minute = 100_000;
    })
    .await;
    let (args, json) = args(&platform, 7);
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
    shopping(&report["shop"]);
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
    // Real video: every creator's first video and the ones posted during
    // traffic went through the media path, none failed, and they play.
    let media = &report["media"];
    assert_eq!(media["failed"], 0, "{media}");
    assert!(
        media["videos_from_clips"].as_u64().unwrap_or(0) >= 20,
        "one clip per creator at least: {media}"
    );
    assert_eq!(media["uploads"], media["ready"], "{media}");
    assert!(
        media["playback"]["checked"].as_u64().unwrap_or(0) > 0
            && media["playback"]["played"] == media["playback"]["checked"],
        "{media}"
    );
    plays(&platform.base, media).await;
    let _ = std::fs::remove_file(json);
}

/// Shopping: paid orders from every source, the affiliate's 10% of what
/// was attributed to them (the ledger's reconciliation, asserted by the
/// caller, covers every escrow), a sold-out flash sale nobody bought past
/// its limit, and an auction with one paid winner at the price the bids
/// made.
fn shopping(shop: &serde_json::Value) {
    let n = |v: &serde_json::Value| v.as_i64().unwrap_or(-1);
    assert!(shop["problem"].is_null(), "{shop}");
    let by = &shop["by_source"];
    for source in ["showcase", "video", "live", "flash_sale", "auction"] {
        assert!(n(&by[source]["orders_paid"]) > 0, "{source}: {shop}");
    }
    // The affiliate's showcase, video and LIVE bag: every order theirs.
    for source in ["showcase", "video", "live"] {
        assert_eq!(
            by[source]["attributed_gmv_cents"], by[source]["gmv_cents"],
            "{source}: {shop}"
        );
    }
    let attributed = n(&shop["attributed_gmv_cents"]);
    assert!(attributed > 0, "{shop}");
    assert_eq!(
        n(&shop["commissions_locked_cents"]),
        attributed / 10,
        "{shop}"
    );
    // 40 buyers for 10 units, at most 2 each: all 10 sold (none left in
    // the sale), nobody over the limit, refusals only by those two rules,
    // and every unit paid at the sale price.
    let flash = &shop["flash_sale"];
    assert!(n(&flash["buyers"]) > n(&flash["total_units"]), "{flash}");
    assert_eq!(flash["units_sold"], flash["total_units"], "{flash}");
    assert_eq!(flash["remaining_units"], 0, "{flash}");
    assert!(
        (1..=n(&flash["per_buyer_limit"])).contains(&n(&flash["max_units_per_buyer"])),
        "{flash}"
    );
    let refused = flash["refused"].as_object().expect("refusals");
    assert!(
        refused
            .keys()
            .all(|r| r == "FLASH_SALE_SOLD_OUT" || r == "FLASH_SALE_LIMIT"),
        "{flash}"
    );
    assert_eq!(
        n(&by["flash_sale"]["gmv_cents"]),
        n(&flash["units_sold"]) * n(&flash["sale_price_cents"]),
        "{shop}"
    );
    // Every bid accepted; sold at the price after the last bid to the
    // leader then, within what bidders authorised; exactly one order among
    // the bidders, the winner's, paid at that price.
    let auction = &shop["auction"];
    assert_eq!(auction["status"], "sold", "{auction}");
    assert_eq!(
        n(&auction["bids_accepted"]),
        2 + 2 * (n(&auction["bidders"]) - 2),
        "{auction}"
    );
    let price = n(&auction["winning_cents"]);
    assert!(
        (n(&auction["starting_cents"])..=n(&auction["authorised_cents"])).contains(&price),
        "{auction}"
    );
    assert_eq!(
        price,
        n(&auction["price_after_last_bid_cents"]),
        "{auction}"
    );
    assert_eq!(
        auction["winner_id"], auction["leader_after_last_bid"],
        "{auction}"
    );
    assert_eq!(auction["bidder_orders"], 1, "{auction}");
    assert_eq!(auction["winner_order_paid"], true, "{auction}");
    assert_eq!(n(&by["auction"]["gmv_cents"]), price, "{shop}");
}

/// The clip videos the report names play for a viewer of our own: each
/// carries a signed playback URL whose master playlist, media playlist and
/// first segment (MPEG-TS) fetch.
async fn plays(base: &str, media: &serde_json::Value) {
    let http = reqwest::Client::new();
    let viewer: serde_json::Value = http
        .post(format!("{base}/v1/auth/signup"))
        .json(
            &serde_json::json!({"handle": "sim_media_check", "password": "check-password-123",
            "birth_date": "1990-01-01", "country": "US", "language": "en", "role": "viewer"}),
        )
        .send()
        .await
        .expect("sign up")
        .json()
        .await
        .expect("json");
    let token = viewer["token"].as_str().expect("token");
    let ids = media["sample_video_ids"].as_array().expect("ids");
    assert!(!ids.is_empty(), "{media}");
    for id in ids {
        let video: serde_json::Value = http
            .get(format!("{base}/v1/videos/{}", id.as_str().expect("id")))
            .bearer_auth(token)
            .send()
            .await
            .expect("video")
            .json()
            .await
            .expect("json");
        assert!(
            video["duration_ms"]
                .as_u64()
                .is_some_and(|d| d.abs_diff(2_000) <= 150),
            "{video}"
        );
        assert!(video["aspect_ratio"].as_f64().is_some(), "{video}");
        let master_url = video["playback_url"].as_str().expect("playback_url");
        let get = |path: String| {
            let http = http.clone();
            async move {
                let resp = http
                    .get(format!("{base}{path}"))
                    .send()
                    .await
                    .expect("fetch");
                assert_eq!(resp.status(), reqwest::StatusCode::OK, "{path}");
                let kind = resp.headers()["content-type"]
                    .to_str()
                    .expect("type")
                    .to_owned();
                (kind, resp.bytes().await.expect("body"))
            }
        };
        let (kind, master) = get(master_url.to_owned()).await;
        assert_eq!(kind, "application/vnd.apple.mpegurl");
        let master = String::from_utf8_lossy(&master).into_owned();
        let dir = master_url.trim_end_matches("master.m3u8");
        let variant = loop_testkit::clips::playlist_uris(&master).remove(0);
        let (_, playlist) = get(format!("{dir}{variant}")).await;
        let segment =
            loop_testkit::clips::playlist_uris(&String::from_utf8_lossy(&playlist)).remove(0);
        let folder = variant.trim_end_matches("index.m3u8");
        let (kind, bytes) = get(format!("{dir}{folder}{segment}")).await;
        assert_eq!(kind, "video/mp2t");
        assert!(!bytes.is_empty());
    }
}

/// The CI run's options against `platform` with `seed`; the JSON report's path.
fn args(platform: &loop_testkit::Platform, seed: u64) -> (simulate::Args, std::path::PathBuf) {
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
        // Each creator's first video is a real clip (uploaded, processed,
        // published by upload id), as are the videos posted during traffic.
        clips_per_creator: 1,
        duration: Duration::from_secs(25),
        rate: 100.0,
        concurrency: 12,
        seed,
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
    (args, json)
}

/// The simulator's learning share with the learned scoring weights against
/// the hand-set ones (`feed.learned_scoring = false`), seed by seed, each
/// run on a fresh platform (the issue's "the learning share does not drop,
/// same seed"). Minutes per seed, so not part of `make test`:
///
/// ```text
/// LOOP_SIM_SEEDS=1,2,3,4,5 cargo nextest run -p loopctl --test simulate \
///     --run-ignored only --no-capture learned_weights
/// ```
///
/// (`LOOP_SIM_SET` tries ranker settings, as `loopctl eval --set` does.)
///
/// Prints a table (and the weights each learned run ended with) and
/// asserts that, averaged over the seeds, the learned weights' last-feed
/// taste share is no lower than the hand-set one's (within half a point:
/// run to run, one seed's share moves by a point or two) and freshness
/// stays under 1 s p99.
#[tokio::test]
#[ignore = "minutes per seed: run on demand (see the doc comment)"]
async fn learned_weights_keep_the_learning_share_across_seeds() {
    let seeds: Vec<u64> = std::env::var("LOOP_SIM_SEEDS")
        .unwrap_or_else(|_| "1,2,3,4,5".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("LOOP_SIM_SEEDS: comma-separated seeds")
        })
        .collect();
    // Ranker settings to try, as `loopctl eval --set` takes them
    // (`LOOP_SIM_SET="learning.ranking.rate=0.02 feed.co_evidence=5"`).
    let set: Vec<String> = std::env::var("LOOP_SIM_SET")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let (learning, feed) = loopctl::eval::ranker::configs(&set).expect("LOOP_SIM_SET");
    // `LOOP_SIM_ARMS=learned` (or `hand-set`) runs one side alone (when
    // only the learned weights changed, the hand-set runs are as before).
    let arms: Vec<bool> = match std::env::var("LOOP_SIM_ARMS").as_deref() {
        Ok("learned") => vec![true],
        Ok("hand-set") => vec![false],
        _ => vec![true, false],
    };
    let mut rows = Vec::new();
    for &seed in &seeds {
        let mut row = vec![seed.to_string()];
        let mut shares = Vec::new();
        for learned in arms.iter().copied() {
            let platform = loop_testkit::Platform::start_tuned(
                |g| g.rate_limit.auth_per_ip_per_minute = 100_000,
                |r| {
                    r.learning = learning.clone();
                    r.feed = feed.clone();
                    r.feed.learned_scoring = learned;
                },
            )
            .await;
            let (args, json) = args(&platform, seed);
            let report = simulate::run(args).await.expect("simulation");
            let _ = std::fs::remove_file(json);
            let learning = &report["learning"];
            let (first, last) = (
                learning["first_share"].as_f64().unwrap_or(0.0),
                learning["last_share"].as_f64().unwrap_or(0.0),
            );
            let p99 = report["freshness"]["p99_ms"].as_f64().unwrap_or(f64::MAX);
            assert!(p99 < 1000.0, "seed {seed}: freshness p99 {p99} ms");
            assert_eq!(report["totals"]["server_errors"], 0, "seed {seed}");
            let weights = served_weights(&platform).await;
            println!(
                "seed {seed} {}: first {:.1}% last {:.1}% baseline {:.1}% freshness p99 {p99:.0} ms; {weights}",
                if learned { "learned" } else { "hand-set" },
                100.0 * first,
                100.0 * last,
                100.0
                    * learning["popularity_baseline_share"]
                        .as_f64()
                        .unwrap_or(0.0),
            );
            row.push(format!("{:.1}% / {:.1}%", 100.0 * first, 100.0 * last));
            row.push(format!("{p99:.0} ms"));
            shares.push(last);
            loop_platform::testing::clear_redis(&platform.redis).await;
        }
        if let [learned, hand_set] = shares[..] {
            row.push(format!("{:+.1}", 100.0 * (learned - hand_set)));
        }
        rows.push((row, shares));
    }
    println!(
        "| seed | learned: first / last share | freshness p99 | hand-set: first / last share | freshness p99 | learned - hand-set (points) |"
    );
    println!("|---|---|---|---|---|---|");
    for (row, _) in &rows {
        println!("| {} |", row.join(" | "));
    }
    let mean = |i: usize| rows.iter().map(|(_, s)| s[i]).sum::<f64>() / rows.len() as f64;
    if arms.len() < 2 {
        println!("| mean | {:.1}% | |", 100.0 * mean(0));
        return;
    }
    let (learned, hand_set) = (mean(0), mean(1));
    println!(
        "| mean | {:.1}% | | {:.1}% | | {:+.1} |",
        100.0 * learned,
        100.0 * hand_set,
        100.0 * (learned - hand_set)
    );
    assert!(
        learned >= hand_set - 0.005,
        "learned weights lowered the taste share: {learned:.3} against {hand_set:.3}"
    );
}

/// The scoring weights For You served with at the end of a run (hand-set
/// + what the models learned), and how many labels they learned from.
async fn served_weights(platform: &loop_testkit::Platform) -> String {
    use loop_feed_ranking::{FeedConfig, rank};
    let r = loop_platform::cache::Redis::connect(&platform.redis)
        .await
        .expect("redis");
    let mut conn = r.conn.clone();
    let fields: std::collections::HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
        .arg(loop_feed_ranking::state::rank_model_key(&r))
        .query_async(&mut conn)
        .await
        .expect("models");
    let models = rank::decode_models(&fields);
    let examples: u64 = models.iter().map(|m| m.examples).sum();
    let positives: u64 = models.iter().map(|m| m.positives).sum();
    let feed = FeedConfig::default();
    let delta = rank::shrink(
        rank::served_delta(&models).unwrap_or([0.0; rank::SIGNALS]),
        examples,
        feed.learned_prior_examples,
    );
    let prior = feed.scoring.signal_weights();
    let weights: Vec<String> = (0..rank::SIGNALS)
        .map(|i| format!("{} {:.2}", rank::SIGNAL_NAMES[i], prior[i] + delta[i]))
        .collect();
    format!(
        "{examples} labels ({positives} engaged): {}",
        weights.join(", ")
    )
}
