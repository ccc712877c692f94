//! `loopctl simulate`: the platform under realistic traffic, driven only
//! through the gateway's public HTTP API, as real clients would.
//!
//! Viewers (each with a hidden taste over hashtag families, a daily-active
//! probability, a country, an age and a device) open the app, scroll For You
//! and Following, watch with a watch time drawn from their taste, like,
//! comment, share, follow, skip, say "not interested", buy coins and send
//! gifts in LIVE rooms; creators (Zipf popularity) post videos, go LIVE and
//! cash out; advertisers run In-Feed campaigns. Everything is derived from
//! `--seed` (what the server answers, and so the exact traffic, still
//! varies run to run), rate-limited to `--rate` requests per second.

//!
//! The run, in order: [`setup`] (accounts, catalog, campaigns, LIVE rooms;
//! not measured), [`traffic`] (viewer [`session`]s, cheaters in [`abuse`],
//! [`creators`] posting, [`money`]), [`settle`] (ledger and ads billing
//! after traffic; [`shop`] shopping just before it: showcase, video and
//! LIVE-bag purchases, then [`live_shop`]'s flash sale and auction), then
//! the report: [`summary`] computes it, [`report`] renders it, [`output`]
//! writes it.

mod abuse;
mod args;
mod campaigns;
mod client;
mod creators;
mod live_shop;
mod media;
mod money;
mod output;
mod report;
mod resources;
mod session;
mod settle;
mod setup;
mod shop;
mod state;
mod summary;
mod traffic;
mod world;

use std::sync::Arc;

use serde_json::Value;

use client::Api;
use world::World;

pub use args::{Args, parse_duration};
pub use report::text as render;

fn bar(len: u64, what: &str, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        crate::progress(len, what)
    }
}

/// Runs the whole simulation and returns the report (JSON).
pub async fn run(args: Args) -> anyhow::Result<Value> {
    let api = Api::new(&args.gateway, args.rate)?;
    setup::ensure_ready(&api, &args).await?;
    let world = World::new(args.seed, args.viewers, args.creators, args.advertisers);
    let run_id = format!("{}-{}", args.seed, chrono::Utc::now().timestamp_millis());
    eprintln!(
        "simulate: seed {}, {} viewers, {} creators, {} advertisers; set-up first (accounts, catalog, campaigns)",
        args.seed, args.viewers, args.creators, args.advertisers
    );
    let clips = if args.clips_per_creator > 0 {
        let started = std::time::Instant::now();
        let clips = media::generate_clips().await?;
        eprintln!(
            "simulate: {} clips generated with ffmpeg in {:.1} s (uploaded again for each video)",
            clips.len(),
            started.elapsed().as_secs_f64()
        );
        clips
    } else {
        Vec::new()
    };
    let prepared = setup::prepare(args.clone(), api, world, run_id, clips).await?;
    let sim = Arc::new(prepared.sim);
    // Set-up requests are not part of the measured serving figures.
    sim.api.recorder.endpoints.lock().clear();
    let traffic = traffic::drive(&sim, prepared.probe).await;
    // Shopping before settling, so the ledger reconciliation covers it.
    let shopping = sim.shop().await;
    let settled = settle::settle(&sim, &prepared.advertisers).await;
    let playback = sim.play_clips().await;
    let mut report = summary::build(&sim, &traffic, &settled);
    report["media"] = media::summary(&sim.media.lock(), playback);
    report["shop"] = shopping.to_json();
    output::write(&args, &report)?;
    Ok(report)
}
