//! `loopctl seed`: demo data created the way clients would, through the
//! gateway's HTTP API, so it exercises the same validation and events.

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

/// Hashtag families with a few hashtags each; creators specialise in one.
const FAMILIES: &[(&str, &[&str])] = &[
    ("dance", &["dance", "choreo", "dancechallenge"]),
    ("cooking", &["cooking", "recipe", "foodtok"]),
    ("comedy", &["comedy", "skit", "funny"]),
    ("travel", &["travel", "wanderlust", "roadtrip"]),
    ("fitness", &["fitness", "workout", "gym"]),
    ("pets", &["pets", "dogsoftiktok", "catsofloop"]),
    ("music", &["music", "cover", "guitar"]),
    ("gaming", &["gaming", "speedrun", "esports"]),
];
const COUNTRIES: &[&str] = &["US", "BR", "GB", "DE", "IN", "JP"];
const PASSWORD: &str = "demo-password-123";

#[derive(clap::Args)]
pub struct Args {
    /// Base URL of the gateway.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        env = "LOOP_GATEWAY_URL"
    )]
    gateway: String,
    #[arg(long, default_value_t = 8)]
    creators: usize,
    #[arg(long, default_value_t = 6)]
    videos_per_creator: usize,
    #[arg(long, default_value_t = 20)]
    viewers: usize,
    /// Videos per creator published from real clips (an ffmpeg test
    /// pattern with a tone, uploaded, processed into HLS and played through
    /// signed URLs); the rest name a media URL (development only). 0 needs
    /// no ffmpeg.
    #[arg(long, default_value_t = 1)]
    clips_per_creator: usize,
    /// Secret of the wallet's test receipts (funds the demo advertiser).
    #[arg(
        long,
        env = "LOOP_WALLET_TEST_RECEIPT_SECRET",
        default_value = loop_wallet::config::DEV_TEST_RECEIPT_SECRET
    )]
    receipt_secret: String,
    /// The administrator who approves the demo shop's products (the
    /// development platform's bootstrap admin).
    #[arg(long, default_value = "admin", env = "LOOP_ADMIN_HANDLE")]
    admin_handle: String,
    #[arg(
        long,
        default_value = "loop-admin-dev-password",
        env = "LOOP_ADMIN_PASSWORD"
    )]
    admin_password: String,
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("calling {path} (is the gateway up?)"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> anyhow::Result<(u16, Value)> {
        self.send(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// Generates a 4 s clip (test pattern `n`, a tone), uploads it with tus
    /// and waits until the media service has processed it; returns its id.
    async fn upload_clip(&self, token: &str, name: &str, n: usize) -> anyhow::Result<String> {
        const PATTERNS: &[&str] = &[
            "testsrc",
            "testsrc2",
            "smptebars",
            "rgbtestsrc",
            "smptehdbars",
            "yuvtestsrc",
            "pal75bars",
            "pal100bars",
        ];
        let dir = std::env::temp_dir().join("loop-seed-clips");
        std::fs::create_dir_all(&dir)?;
        let file = dir.join(format!("{name}.mp4"));
        let status = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi", "-i"])
            .arg(format!("{}=size=640x360:rate=30:duration=4", PATTERNS[n % PATTERNS.len()]))
            .args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency={}:duration=4", 220 + 110 * (n % 8)))
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
            .arg(&file)
            .status()
            .context("running ffmpeg (scripts/ensure-deps.sh installs it; --clips-per-creator 0 needs none)")?;
        if !status.success() {
            bail!("ffmpeg could not generate {name}");
        }
        let bytes = std::fs::read(&file)?;
        let _ = std::fs::remove_file(&file);
        let (status, upload) = self
            .post(
                "/v1/uploads",
                Some(token),
                json!({"size_bytes": bytes.len(), "content_type": "video/mp4"}),
            )
            .await?;
        if status != 201 {
            bail!("upload of {name}: status {status}: {upload}");
        }
        let id = upload["upload_id"]
            .as_str()
            .context("upload_id")?
            .to_owned();
        let path = format!("/v1/uploads/{id}");
        let resp = self
            .http
            .patch(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Upload-Offset", "0")
            .header("Content-Type", "application/offset+octet-stream")
            .body(bytes)
            .send()
            .await?;
        if resp.status().as_u16() != 204 {
            bail!("sending {name}: status {}", resp.status());
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        loop {
            let (_, upload) = self
                .send(reqwest::Method::GET, &path, Some(token), None)
                .await?;
            match upload["state"].as_str() {
                Some("ready") => return Ok(id),
                Some("processing") if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                _ => bail!("processing {name}: {upload}"),
            }
        }
    }

    /// Signs up, or logs in when the handle exists; returns (token, user_id).
    async fn account(
        &self,
        handle: &str,
        role: &str,
        country: &str,
        interests: &[&str],
    ) -> anyhow::Result<(String, String)> {
        let (status, body) = self
            .post(
                "/v1/auth/signup",
                None,
                json!({"handle": handle, "password": PASSWORD, "display_name": handle, "birth_date": "1996-05-17",
                       "country": country, "language": "en", "interests": interests, "role": role}),
            )
            .await?;
        let body = match status {
            201 => body,
            409 => {
                let (status, body) = self
                    .post(
                        "/v1/auth/login",
                        None,
                        json!({"handle": handle, "password": PASSWORD}),
                    )
                    .await?;
                if status != 200 {
                    bail!("{handle} exists but cannot log in: {body}");
                }
                body
            }
            _ => bail!("sign-up of {handle} failed ({status}): {body}"),
        };
        let token = body["token"].as_str().context("token")?.to_owned();
        let id = body["user"]["user_id"]
            .as_str()
            .context("user_id")?
            .to_owned();
        Ok((token, id))
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let client = Client {
        http: reqwest::Client::new(),
        base: args.gateway.trim_end_matches('/').to_owned(),
    };
    let total = args.creators * (2 + args.videos_per_creator) + args.viewers * 4;
    let bar = ProgressBar::new(u64::try_from(total).unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("{spinner} seeding [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    let mut creators = Vec::new();
    for i in 0..args.creators {
        let (family, tags) = FAMILIES[i % FAMILIES.len()];
        let handle = format!("demo_{family}_{i}");
        bar.set_message(handle.clone());
        let (token, id) = client
            .account(
                &handle,
                "creator",
                COUNTRIES[i % COUNTRIES.len()],
                &[family],
            )
            .await?;
        let (status, _) = client
            .send(
                reqwest::Method::PUT,
                "/v1/users/me/creator-profile",
                Some(&token),
                Some(json!({"bio": format!("All about {family}"), "category": family})),
            )
            .await?;
        if status != 200 {
            bail!("creator profile of {handle}: status {status}");
        }
        bar.inc(1);
        let (status, sound) = client
            .post("/v1/sounds", Some(&token), json!({"title": format!("{family} anthem"), "artist": handle, "duration_ms": 30000}))
            .await?;
        if status != 201 {
            bail!("sound for {handle}: status {status}: {sound}");
        }
        let sound_id = sound["sound_id"].as_str().unwrap_or_default().to_owned();
        bar.inc(1);
        let (_, existing) = client
            .send(
                reqwest::Method::GET,
                &format!("/v1/users/{id}/videos?page_size=100"),
                Some(&token),
                None,
            )
            .await?;
        let have = existing["items"].as_array().map_or(0, Vec::len);
        for v in 0..args.videos_per_creator {
            if v >= have {
                let tag = tags[v % tags.len()];
                let mut video = json!({"caption": format!("{family} video {v} #{tag}"), "hashtags": [family],
                                       "sound_id": sound_id, "category": family});
                if v < args.clips_per_creator {
                    let n = creators.len() * args.clips_per_creator + v;
                    video["upload_id"] = json!(
                        client
                            .upload_clip(&token, &format!("{handle}-{v}"), n)
                            .await?
                    );
                } else {
                    video["duration_ms"] = json!(8000 + 1000 * (v as u64 % 20));
                    video["media_url"] =
                        json!(format!("https://cdn.loop.example/{handle}/{v}.mp4"));
                }
                let (status, body) = client.post("/v1/videos", Some(&token), video).await?;
                if status != 201 {
                    bail!("video {v} of {handle}: status {status}: {body}");
                }
            }
            bar.inc(1);
        }
        creators.push((id, family));
    }

    for i in 0..args.viewers {
        let (family, _) = FAMILIES[(i * 3) % FAMILIES.len()];
        let handle = format!("demo_viewer_{i}");
        bar.set_message(handle.clone());
        let (token, _) = client
            .account(&handle, "viewer", COUNTRIES[i % COUNTRIES.len()], &[family])
            .await?;
        bar.inc(1);
        // Follow two creators (a repeated seed finds them already followed: 409 is fine).
        for (creator_id, _) in creators.iter().skip(i % creators.len().max(1)).take(2) {
            let (status, body) = client
                .post(
                    &format!("/v1/users/{creator_id}/follow"),
                    Some(&token),
                    json!({}),
                )
                .await?;
            if status != 204 && status != 409 {
                bail!("{handle} follow: status {status}: {body}");
            }
        }
        bar.inc(1);
        // Like the newest video of every creator in their favourite family.
        for (creator_id, _) in creators.iter().filter(|(_, f)| *f == family) {
            let (_, videos) = client
                .send(
                    reqwest::Method::GET,
                    &format!("/v1/users/{creator_id}/videos?page_size=1"),
                    Some(&token),
                    None,
                )
                .await?;
            if let Some(video_id) = videos["items"][0]["video_id"].as_str() {
                client
                    .post(
                        &format!("/v1/videos/{video_id}/like"),
                        Some(&token),
                        json!({}),
                    )
                    .await?;
            }
        }
        bar.inc(2);
    }
    seed_ads(&client, &args.receipt_secret).await?;
    if let Some((creator, _)) = creators.first() {
        seed_shop(&client, &args, creator).await?;
    }
    bar.finish_with_message("done");
    println!(
        "seeded {} creators x {} videos and {} viewers (password for every demo account: {PASSWORD})",
        args.creators, args.videos_per_creator, args.viewers
    );
    Ok(())
}

/// A demo product: (title, category, [(SKU, price cents, stock)]).
type DemoProduct = (
    &'static str,
    &'static str,
    &'static [(&'static str, i64, i64)],
);

/// The demo shop's products.
const SHOP_PRODUCTS: &[DemoProduct] = &[
    (
        "Loop ceramic mug",
        "home",
        &[("White", 1_800, 500), ("Black", 1_900, 500)],
    ),
    (
        "Dance crew hoodie",
        "apparel",
        &[("M", 4_500, 200), ("L", 4_500, 200)],
    ),
];

/// A shop (`demo_shop`) with approved products open to affiliates at 10%,
/// featured in the first demo creator's showcase. Re-running finds the shop
/// and its products; the showcase add is a no-op.
async fn seed_shop(client: &Client, args: &Args, creator_id: &str) -> anyhow::Result<()> {
    let (admin_status, admin) = client
        .post(
            "/v1/auth/login",
            None,
            json!({"handle": args.admin_handle, "password": args.admin_password}),
        )
        .await?;
    if admin_status != 200 {
        bail!(
            "the demo shop's products need an admin's review: cannot log in as {} ({admin_status}); pass --admin-handle/--admin-password",
            args.admin_handle
        );
    }
    let admin = admin["token"].as_str().context("admin token")?.to_owned();
    let (token, _) = client.account("demo_shop", "creator", "US", &[]).await?;
    let (status, shop) = client
        .post(
            "/v1/shop",
            Some(&token),
            json!({"name": "Loop Demo Shop", "description": "Mugs and hoodies for the demo"}),
        )
        .await?;
    let shop = match status {
        201 => shop,
        _ => {
            let (status, shop) = client
                .send(reqwest::Method::GET, "/v1/shop", Some(&token), None)
                .await?;
            if status != 200 {
                bail!("demo shop: status {status}: {shop}");
            }
            shop
        }
    };
    let shop_id = shop["shop_id"].as_str().context("shop_id")?.to_owned();
    let (_, listed) = client
        .send(
            reqwest::Method::GET,
            &format!("/v1/shops/{shop_id}/products?page_size=100"),
            Some(&token),
            None,
        )
        .await?;
    let have: Vec<String> = listed["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|p| p["title"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for (title, category, skus) in SHOP_PRODUCTS {
        if have.iter().any(|t| t == title) {
            continue;
        }
        let skus: Vec<Value> = skus
            .iter()
            .map(|(name, price, stock)| json!({"name": name, "price_cents": price, "stock": stock}))
            .collect();
        let (status, product) = client
            .post(
                "/v1/products",
                Some(&token),
                json!({"title": title, "description": format!("{title}, from the demo shop"), "category": category,
                       "image_urls": [format!("https://cdn.loop.example/demo_shop/{category}.jpg")], "skus": skus}),
            )
            .await?;
        if status != 201 {
            bail!("demo product {title}: status {status}: {product}");
        }
        let id = product["product_id"].as_str().context("product_id")?;
        let (status, body) = client
            .post(
                &format!("/v1/admin/products/{id}/approve"),
                Some(&admin),
                json!({"expected_version": product["version"]}),
            )
            .await?;
        if status != 200 {
            bail!("approving {title}: status {status}: {body}");
        }
        let (status, body) = client
            .send(
                reqwest::Method::PUT,
                &format!("/v1/products/{id}/affiliate"),
                Some(&token),
                Some(json!({"rate_bps": 1000})),
            )
            .await?;
        if status != 200 {
            bail!("opening {title} to affiliates: status {status}: {body}");
        }
    }
    // The first demo creator features every product (logged in again: the
    // account exists).
    let (_, listed) = client
        .send(
            reqwest::Method::GET,
            &format!("/v1/shops/{shop_id}/products?page_size=100"),
            Some(&token),
            None,
        )
        .await?;
    let (creator_token, _) = client
        .account(
            &format!("demo_{}_0", FAMILIES[0].0),
            "creator",
            COUNTRIES[0],
            &[FAMILIES[0].0],
        )
        .await?;
    for p in listed["items"].as_array().into_iter().flatten() {
        let id = p["product_id"].as_str().context("product_id")?;
        let (status, body) = client
            .post(
                "/v1/showcase",
                Some(&creator_token),
                json!({"product_id": id}),
            )
            .await?;
        if status != 201 {
            bail!("showcase of {creator_id}: status {status}: {body}");
        }
    }
    Ok(())
}

/// A demo advertiser with one In-Feed campaign, so ads can fill feed slots.
/// Re-running finds the campaign (idempotency key) and its ad group.
async fn seed_ads(client: &Client, receipt_secret: &str) -> anyhow::Result<()> {
    let (token, _) = client
        .account("demo_brand", "advertiser", "US", &[])
        .await?;
    // Budgets are reserved from wallet cents: fund the brand first. The same
    // key and receipt on a re-run return the first top-up.
    let cents = 200_000;
    let receipt = loop_wallet::payments::TestProvider::new(receipt_secret).sign(
        &loop_wallet::payments::TestReceipt {
            receipt_id: "demo-brand-top-up-1".into(),
            product_id: "loop.cents".into(),
            amount_cents: cents,
        },
    );
    let resp = client
        .http
        .post(format!("{}/v1/wallet/top-ups", client.base))
        .bearer_auth(&token)
        .header("Idempotency-Key", "demo-brand-top-up-1")
        .json(&json!({"amount_cents": cents, "receipt": {"provider": "test", "receipt_data": receipt.receipt_data, "signature": receipt.signature}}))
        .send()
        .await
        .context("funding the demo advertiser (is the gateway up?)")?;
    if resp.status().as_u16() != 201 {
        let status = resp.status();
        bail!(
            "funding the demo advertiser: status {status}: {}",
            resp.text().await.unwrap_or_default()
        );
    }
    let (status, campaign) = client
        .post(
            "/v1/ads/campaigns",
            Some(&token),
            json!({"idempotency_key": "demo-brand-campaign-1", "name": "Demo sneakers", "objective": "traffic",
                   "total_budget_cents": 100_000}),
        )
        .await?;
    if status != 201 {
        bail!("demo campaign: status {status}: {campaign}");
    }
    let campaign_id = campaign["campaign_id"].as_str().context("campaign_id")?;
    let (_, groups) = client
        .send(
            reqwest::Method::GET,
            &format!("/v1/ads/campaigns/{campaign_id}/ad-groups"),
            Some(&token),
            None,
        )
        .await?;
    if groups["items"].as_array().is_some_and(|g| !g.is_empty()) {
        return Ok(());
    }
    let (status, video) = client
        .post(
            "/v1/videos",
            Some(&token),
            json!({"caption": "Run further #sneakers", "duration_ms": 15000, "visibility": "private",
                   "media_url": "https://cdn.loop.example/demo_brand/ad.mp4"}),
        )
        .await?;
    if status != 201 {
        bail!("demo ad video: status {status}: {video}");
    }
    let (status, group) = client
        .post(
            &format!("/v1/ads/campaigns/{campaign_id}/ad-groups"),
            Some(&token),
            json!({"name": "Everyone", "format": "in_feed", "daily_budget_cents": 5000, "bid_type": "cpm",
                   "bid_cents": 500, "schedule": {"starts_at": chrono::Utc::now().to_rfc3339()}}),
        )
        .await?;
    if status != 201 {
        bail!("demo ad group: status {status}: {group}");
    }
    let group_id = group["ad_group_id"].as_str().context("ad_group_id")?;
    let (status, creative) = client
        .post(
            &format!("/v1/ads/ad-groups/{group_id}/creatives"),
            Some(&token),
            json!({"video_id": video["video_id"], "display_name": "Demo Sneakers", "call_to_action": "shop_now",
                   "landing_url": "https://shop.loop.example/sneakers"}),
        )
        .await?;
    if status != 201 {
        bail!("demo creative: status {status}: {creative}");
    }
    Ok(())
}
