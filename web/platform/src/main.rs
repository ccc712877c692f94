//! `loop-web-platform <site> <url-file>`: starts the whole platform in this process,
//! isolated like a test (its own databases, Redis key prefix and Kafka
//! topics on `LOOP_TEST_KAFKA_BROKERS`, services on ephemeral ports), with
//! the gateway serving the built web client from `<site>` (a copy of
//! `web/dist`, plus the clips in `<site>/e2e-media/` when the caller made
//! them), publishes a catalogue of hashtag families whose videos play those
//! clips, waits until the ranker has indexed every video, writes the
//! gateway's base URL to `<url-file>` (stdout carries the services' logs),
//! and runs until it gets
//! SIGINT or SIGTERM; then everything it made is removed.
//! The media service runs too (`Platform` starts every service), so what a
//! creator uploads in the studio is transcoded to HLS and served signed,
//! as in production. `web/e2e/run.sh` drives it for the browser tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use loop_platform::auth::Role;
use loop_proto::feed_ranking::v1 as ranker;
use serde_json::{Value, json};

/// Hashtag families of the catalogue (as `loopctl seed`'s).
const FAMILIES: &[&str] = &[
    "dance", "cooking", "comedy", "travel", "fitness", "pets", "music", "gaming",
];
const CREATORS_PER_FAMILY: usize = 5;
const VIDEOS_PER_CREATOR: usize = 6;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let usage = "usage: loop-web-platform <site dir: web/dist or a copy> <url file>";
    let mut args = std::env::args().skip(1);
    let site = PathBuf::from(args.next().context(usage)?);
    let url_file = PathBuf::from(args.next().context(usage)?);
    if !site.join("index.html").is_file() {
        bail!(
            "{} has no index.html: build the web client first (npm run build in web/)",
            site.display()
        );
    }
    let clips = clips(&site);
    let platform = loop_testkit::Platform::start_with_commerce(
        |c| {
            c.http.web_dir = Some(site);
            // The catalogue's creators and the browser's viewers sign up from 127.0.0.1.
            c.rate_limit.auth_per_ip_per_minute = 100_000;
        },
        // A paid order may be cancelled by its buyer for 1 minute (60 in
        // production), then the seller ships it: a browser test sees both.
        |c| c.orders.hold_minutes = 1,
    )
    .await;
    seed(&platform, &clips).await?;
    let stuck = stuck_orders(&platform, &["phone", "desktop"]).await?;
    write_whole(
        &url_file.with_extension("attention.json"),
        &stuck.to_string(),
    )?;
    // Written last and whole: a reader never sees half a URL, and the
    // attention file is there once the URL is.
    write_whole(&url_file, &format!("{}\n", platform.base))?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    drop(platform);
    Ok(())
}

/// Writes `text` to `path` whole (then renamed: a reader never sees half of it).
fn write_whole(path: &Path, text: &str) -> anyhow::Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, path)?;
    Ok(())
}

/// For each of `kinds` (the browser tests' viewports), an order whose
/// refund the wallet refused for good, as the admin's attention list shows
/// them: a buyer pays for a lamp, the escrow holding the payment is emptied
/// behind commerce's back (as the commerce service's own tests do: nothing
/// else makes the wallet refuse for good), and the buyer cancels in the
/// hold, so the refund is refused ("no longer held") and the order waits
/// for an admin. Returns `{kind: {order_id, buyer, seller}}` (handles).
async fn stuck_orders(p: &loop_testkit::Platform, kinds: &[&str]) -> anyhow::Result<Value> {
    use loop_proto::wallet::v1 as wpb;
    let http = reqwest::Client::new();
    let base = &p.base;
    let admin = post(
        &http,
        format!("{base}/v1/auth/login"),
        None,
        json!({"handle": "admin", "password": "loop-admin-dev-password"}),
    )
    .await?;
    let admin = admin["token"].as_str().context("admin token")?.to_owned();
    let mut wallet =
        wpb::wallet_service_client::WalletServiceClient::new(p.sandbox.wallet().channel());
    let commerce = loop_platform::testing::TestKeys.issue(
        "service:commerce",
        Role::Service,
        Duration::from_secs(600),
    );
    let mut stuck = serde_json::Map::new();
    for kind in kinds {
        let sign_up = |handle: String, role: &'static str| {
            let http = http.clone();
            async move {
                let session = post(
                    &http,
                    format!("{base}/v1/auth/signup"),
                    None,
                    json!({"handle": handle, "password": "demo-password-123", "birth_date": "1990-01-01",
                           "country": "US", "language": "en", "role": role}),
                )
                .await?;
                session["token"]
                    .as_str()
                    .map(str::to_owned)
                    .context("signup token")
            }
        };
        let (seller_handle, buyer_handle) = (format!("lamps_{kind}"), format!("lamp_buyer_{kind}"));
        let seller = sign_up(seller_handle.clone(), "creator").await?;
        let buyer = sign_up(buyer_handle.clone(), "viewer").await?;
        post(
            &http,
            format!("{base}/v1/shop"),
            Some(&seller),
            json!({"name": format!("Lamps ({kind})")}),
        )
        .await?;
        let product = post(
            &http,
            format!("{base}/v1/products"),
            Some(&seller),
            json!({"title": "Paper lamp", "category": "home", "description": "Paper lamp",
                   "image_urls": ["https://shop.test/lamp.jpg"],
                   "skus": [{"name": "White", "price_cents": 1500, "stock": 3}]}),
        )
        .await?;
        let product_id = product["product_id"].as_str().context("product")?;
        post(
            &http,
            format!("{base}/v1/admin/products/{product_id}/approve"),
            Some(&admin),
            json!({"expected_version": product["version"]}),
        )
        .await?;
        let order = post(
            &http,
            format!("{base}/v1/orders"),
            Some(&buyer),
            json!({"shop_id": product["shop_id"], "items": [{"sku_id": product["skus"][0]["sku_id"], "quantity": 1}]}),
        )
        .await?;
        let order_id = order["order_id"].as_str().context("order")?.to_owned();
        let paid = post(
            &http,
            format!("{base}/v1/orders/{order_id}/pay"),
            Some(&buyer),
            json!({"receipt": loop_testkit::fixtures::test_receipt(&format!("commerce:order:{order_id}"), 1500)}),
        )
        .await?;
        let escrow = paid["escrow_id"].as_str().context("escrow")?.to_owned();
        wallet
            .refund_escrow(loop_platform::grpc::request(
                wpb::RefundEscrowRequest {
                    idempotency_key: loop_platform::ids::new_id().to_string(),
                    escrow_id: escrow,
                    amount_cents: 0,
                },
                Some(&commerce),
                Duration::from_secs(30),
            ))
            .await
            .context("emptying the escrow")?;
        let cancelled = post(
            &http,
            format!("{base}/v1/orders/{order_id}/cancel"),
            Some(&buyer),
            json!({"reason": "changed my mind"}),
        )
        .await?;
        let problem = cancelled["wallet_problem"].as_str().unwrap_or_default();
        if problem.is_empty() {
            bail!("the cancelled order {order_id} has no wallet problem: {cancelled}");
        }
        stuck.insert(
            (*kind).to_owned(),
            json!({"order_id": order_id, "buyer": buyer_handle, "seller": seller_handle, "problem": problem}),
        );
    }
    eprintln!("made {} orders needing an admin", stuck.len());
    Ok(Value::Object(stuck))
}

/// The clips under `<site>/e2e-media/`, as paths the gateway serves.
fn clips(site: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(site.join("e2e-media"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| name.ends_with(".webm") || name.ends_with(".mp4"))
                .map(|name| format!("/e2e-media/{name}"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> anyhow::Result<Value> {
    // Every POST carries a fresh idempotency key (routes that need one).
    let mut request = http
        .post(&url)
        .header("Idempotency-Key", loop_platform::ids::new_id().to_string())
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("POST {url}: {status}: {body}");
    }
    Ok(body)
}

/// Creators of each family publish their videos through the gateway, as
/// clients do; returns once the ranker's catalog holds every one.
async fn seed(p: &loop_testkit::Platform, clips: &[String]) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let base = &p.base;
    let mut n = 0usize;
    for family in FAMILIES {
        for c in 0..CREATORS_PER_FAMILY {
            let session = post(
                &http,
                format!("{base}/v1/auth/signup"),
                None,
                json!({"handle": format!("{family}_maker_{c}"), "password": "demo-password-123",
                       "birth_date": "1995-05-05", "country": "US", "language": "en", "role": "creator"}),
            )
            .await?;
            let token = session["token"].as_str().context("token")?;
            for v in 0..VIDEOS_PER_CREATOR {
                let media = clips.get(n % clips.len().max(1)).map_or_else(
                    || format!("https://media.invalid/{family}/{c}/{v}.mp4"),
                    |clip| format!("{base}{clip}"),
                );
                n += 1;
                post(
                    &http,
                    format!("{base}/v1/videos"),
                    Some(token),
                    json!({"caption": format!("{family} clip {v} by maker {c} #{family}"), "hashtags": [family],
                           "category": family, "duration_ms": 6000, "media_url": media}),
                )
                .await?;
            }
        }
    }
    let total = u64::try_from(n)?;
    let channel = loop_platform::grpc::channel(&format!("http://{}", p.ranker_addr))?;
    let client = ranker::feed_ranking_service_client::FeedRankingServiceClient::new(channel);
    let token = loop_platform::testing::TestKeys.issue(
        "service:feed-ranking",
        Role::Service,
        Duration::from_secs(600),
    );
    loop_platform::testing::wait_for(
        "the ranker indexed the catalogue",
        Duration::from_secs(120),
        || {
            let mut client = client.clone();
            let token = token.clone();
            async move {
                let request = loop_platform::grpc::request(
                    ranker::GetRankerStatsRequest {},
                    Some(&token),
                    Duration::from_secs(5),
                );
                let stats = client.get_ranker_stats(request).await.ok()?.into_inner();
                (stats.videos_indexed >= total).then_some(())
            }
        },
    )
    .await;
    eprintln!("seeded {n} videos in {} families", FAMILIES.len());
    Ok(())
}
