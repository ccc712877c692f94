// Browser tests of the viewer's keyword filters and the creator studio's
// sections, at the viewport `kind`:
//  - keywordFilter: a viewer filters the hashtag family of their first For
//    You video on the Feed filters page (opened from the menu; a blank
//    keyword shows the server's error by the field), the keyword is still
//    there after a reload, and none of their next For You videos carries it;
//  - creatorStudio: a creator with a follower and 2000 diamonds of gifts,
//    whose sketch the follower was served and watched, sees them in
//    Analytics (today's bar of the diamonds chart, today's bar of the views
//    chart and the sketch's row of the video table with 1 view) and in
//    Earnings, where a payout of 0 diamonds shows the server's error by the
//    field and 2000 is requested (pending in the list); applies to the
//    marketplace (a rate under $1 is refused by its field), is approved by
//    the admin, is invited by a brand to a campaign, accepts the invitation
//    in the studio (the brand's budget goes to escrow), and delivers a video
//    carrying the campaign's hashtag; edits the listed profile (a rate under
//    $1 refused by its field); once the brand approves, cashes out $10 of
//    the marketplace earnings; the Shop section refuses a product id
//    that is not one by its field and shows the commission totals.
//  - uploadResume: a creator's upload is cut by a page reload after its
//    first 4 MiB chunk; after choosing the same file again the studio says
//    it resumes, and the next PATCH starts at the offset the server holds
//    (at least 4 MiB), no byte before it sent again and no new upload made.
// The other people (viewer, brand, admin) act through the API from their
// own signed-in pages, as admin.mjs does.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { ADMIN, apiCall, base, check, must, next, playingActive, shots, signUp, unique, VIEWPORTS } from "./lib.mjs";

/** Asks until `ok(answer)` holds (the answer of a service that learns of a change through events). */
async function until(page, method, path, body, ok, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await apiCall(page, method, path, body);
    if (ok(last)) return last.body;
    check(Date.now() < deadline, `${what}: last answer ${last.status} ${JSON.stringify(last.body)}`);
    await page.waitForTimeout(250);
  }
}

async function menuTo(page, name) {
  await page.getByRole("button", { name: "Menu" }).click();
  await page.getByRole("navigation", { name: "Menu" }).getByRole("link", { name, exact: true }).click();
}

export async function keywordFilter(browser, kind) {
  const context = await browser.newContext(VIEWPORTS[kind]);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  try {
    await signUp(page, `picky_${kind[0]}_${unique()}`);
    const first = await playingActive(page);
    const family = first.family;
    check(family, "the first video has a hashtag family");

    // Feed filters, from the menu.
    await menuTo(page, "Feed filters");
    await page.getByRole("heading", { name: "Feed filters", level: 1 }).waitFor();
    check(new URL(page.url()).pathname === "/filters", `url ${page.url()}`);
    await page.getByText("No keywords filtered.").waitFor();
    const input = page.getByLabel("Keyword to filter");
    // A blank keyword: the server's error, by the field; nothing saved.
    await input.fill("   ");
    await page.getByRole("button", { name: "Add", exact: true }).click();
    const error = page.locator('.field-error[data-field="keywords"]');
    await error.waitFor({ timeout: 10_000 });
    check((await input.getAttribute("aria-invalid")) === "true", "the keyword field is marked invalid");
    check((await input.getAttribute("aria-describedby")) === (await error.getAttribute("id")), "the error describes the field");
    await page.screenshot({ path: join(shots, `filters-error-${kind}.png`) });
    await input.fill(family);
    await page.getByRole("button", { name: "Add", exact: true }).click();
    await page.locator(`[data-testid="keywords"] li[data-keyword="${family}"]`).waitFor({ timeout: 10_000 });
    check((await error.count()) === 0, "the error is gone after a good keyword");
    await page.screenshot({ path: join(shots, `filters-${kind}.png`) });
    // Saved on the server: still there after a reload.
    await page.reload();
    await page.locator(`[data-testid="keywords"] li[data-keyword="${family}"]`).waitFor({ timeout: 10_000 });

    // For You no longer serves that family: the next 12 videos carry neither the family nor the keyword.
    await page.getByRole("link", { name: "For You" }).click();
    const seen = [];
    for (let i = 0; i < 12; i++) {
      const now = await playingActive(page);
      const tags = (await now.slide.getAttribute("data-hashtags")) ?? "";
      const caption = ((await now.slide.getAttribute("aria-label")) ?? "").toLowerCase();
      seen.push(now.family);
      // A keyword filter matches a video's caption and hashtags (as on
      // TikTok), organic or sponsored; the category is not text the viewer
      // sees (another test's Spark ad, "spark me" #spark, has this category).
      check(!tags.split(" ").includes(family) && !caption.includes(family), `video ${i + 1} carries #${family}: ${tags} "${caption}"`);
      if (i < 11) await next(page, kind, now.videoId);
    }
    console.log(`     ${kind}: filtered "${family}"; the next 12 videos: ${seen.join(" ")}`);

    // Removing it: the list is empty again.
    await menuTo(page, "Feed filters");
    await page.getByRole("button", { name: `Remove ${family}` }).click();
    await page.getByText("No keywords filtered.").waitFor({ timeout: 10_000 });
    check(errors.length === 0, `page errors: ${errors.join("; ")}`);
  } finally {
    await context.close();
  }
}

export async function creatorStudio(browser, kind) {
  const contexts = await Promise.all([0, 1, 2, 3].map(() => browser.newContext(VIEWPORTS[kind])));
  const errors = [];
  const [creator, fan, brand, admin] = await Promise.all(contexts.map((c) => c.newPage()));
  for (const p of [creator, fan, brand, admin]) p.on("pageerror", (e) => errors.push(String(e)));
  try {
    const handle = `studio_${kind[0]}_${unique()}`;
    await signUp(creator, handle, "creator");
    await signUp(fan, `fan_${kind[0]}_${unique()}`);
    await signUp(brand, `sponsor_${kind[0]}_${unique()}`, "advertiser");
    const creatorId = (await must(creator, "GET", "/v1/users/me")).user_id;
    const tag = `brand${unique()}`.replace(/[^a-z0-9]/gi, "");
    const clip = `${base}/e2e-media/clip-0.webm`;
    const early = await must(creator, "POST", "/v1/videos", { caption: "my first sketch", hashtags: ["comedy"], category: "comedy", duration_ms: 6000, media_url: clip });

    // A follower (the marketplace's minimum here is 1), who buys coins and gifts two Galaxies: 2000 diamonds.
    await must(fan, "POST", `/v1/users/${creatorId}/follow`);
    await fan.goto(`${base}/wallet`);
    await fan.getByRole("button", { name: /^Buy 5000 coins for/ }).click();
    await fan.getByText("You bought 5000 coins. Balance: 5000 coins.").waitFor({ timeout: 15_000 });
    await must(fan, "POST", "/v1/wallet/gifts", { gift_id: "galaxy", recipient_id: creatorId, video_id: early.video_id, count: 2 });
    // The follower is served the sketch and watches it: one counted view.
    const following = await until(
      fan, "GET", "/v1/feed/following", null,
      (r) => r.status === 200 && r.body.items.some((i) => i.video_id === early.video_id),
      "the sketch in the follower's feed",
    );
    const served = following.items.find((i) => i.video_id === early.video_id);
    const viewed = await must(fan, "POST", "/v1/events", { events: [{ kind: "view", video_id: early.video_id, watch_ms: 5000, serve_token: served.serve_token }] });
    check(viewed.credits[0] === "counted", `view credit ${JSON.stringify(viewed)}`);
    await until(
      creator, "GET", "/v1/marketplace/creator/videos", null,
      (r) => r.status === 200 && r.body.items.some((v) => v.video_id === early.video_id && v.views === 1),
      "the view in the creator's video stats",
    );

    // The studio's sections, from the menu's Studio.
    await menuTo(creator, "Studio");
    await creator.getByRole("navigation", { name: "Studio sections" }).getByRole("link", { name: "Analytics" }).click();
    check(new URL(creator.url()).pathname === "/studio/analytics", `url ${creator.url()}`);
    await creator.getByTestId("analytics-summary").waitFor({ timeout: 15_000 });
    const today = new Date().toISOString().slice(0, 10);
    await creator.locator(`[data-testid="diamonds-chart"] [data-day="${today}"][data-value="2000"]`).waitFor({ timeout: 15_000 });
    await creator.locator(`[data-testid="views-chart"] [data-day="${today}"][data-value="1"]`).waitFor({ timeout: 15_000 });
    const row = creator.locator(`[data-testid="video-stats"] tr[data-video-id="${early.video_id}"][data-views="1"]`);
    await row.waitFor();
    check((await row.locator("td").first().textContent()) === "1", "the sketch's views cell shows 1");
    check((await row.locator("th").textContent()) === "my first sketch", "the row is captioned");
    await creator.screenshot({ path: join(shots, `studio-analytics-${kind}.png`), fullPage: true });

    // Earnings: 0 diamonds is refused by its field; 2000 ($10, the minimum) is requested.
    await creator.getByRole("link", { name: "Earnings" }).click();
    await creator.getByTestId("diamonds-available").filter({ hasText: /^2000$/ }).waitFor({ timeout: 15_000 });
    await creator.getByText("No payouts yet.").waitFor();
    const amount = creator.getByLabel("Diamonds to cash out");
    await amount.fill("0");
    await creator.getByRole("button", { name: "Request payout" }).first().click();
    const amountError = creator.locator('[data-testid="payout-diamonds"] .field-error[data-field="diamonds"]');
    await amountError.waitFor({ timeout: 10_000 });
    check((await amount.getAttribute("aria-invalid")) === "true", "the diamonds field is marked invalid");
    await creator.screenshot({ path: join(shots, `studio-payout-error-${kind}.png`), fullPage: true });
    check((await creator.locator('[data-testid="my-payouts"] li').count()) === 0, "a refused payout was listed");
    await amount.fill("2000");
    await creator.getByRole("button", { name: "Request payout" }).first().click();
    await creator.getByText("Payout of $10.00 requested: waiting for approval.").waitFor({ timeout: 15_000 });
    await creator.locator('[data-testid="my-payouts"] li[data-status="pending"]').filter({ hasText: "$10.00" }).waitFor({ timeout: 10_000 });
    await creator.getByTestId("diamonds-available").filter({ hasText: /^0$/ }).waitFor({ timeout: 10_000 });
    check((await amountError.count()) === 0, "the error is gone after a good payout");
    await creator.screenshot({ path: join(shots, `studio-earnings-${kind}.png`), fullPage: true });

    // Marketplace: apply (a rate under $1 is refused by its field), then the admin approves.
    await creator.getByRole("link", { name: "Marketplace" }).click();
    const apply = creator.getByTestId("apply-form");
    await apply.waitFor({ timeout: 15_000 });
    await apply.getByLabel("Your content categories (comma separated)").fill("comedy, sketches");
    const rate = apply.getByLabel("Rate per sponsored video (USD)");
    await rate.fill("0.5");
    await apply.getByLabel("Pitch").fill("Short sketches, big laughs.");
    await apply.getByRole("button", { name: "Apply" }).click();
    await apply.locator('.field-error[data-field="rate_cents"]').waitFor({ timeout: 10_000 });
    check((await rate.getAttribute("aria-invalid")) === "true", "the rate field is marked invalid");
    await creator.screenshot({ path: join(shots, `studio-apply-error-${kind}.png`), fullPage: true });
    await rate.fill("150");
    await apply.getByRole("button", { name: "Apply" }).click();
    await creator.getByText("Application pending review").waitFor({ timeout: 15_000 });

    await admin.goto(base);
    await must(admin, "POST", "/v1/auth/login", ADMIN);
    const pending = await until(
      admin,
      "GET",
      "/v1/admin/marketplace/applications?status=pending&page_size=100",
      null,
      (r) => r.status === 200 && r.body.items.some((a) => a.creator_id === creatorId),
      "the application in the admin's queue",
    );
    const application = pending.items.find((a) => a.creator_id === creatorId);
    await must(admin, "POST", `/v1/admin/marketplace/applications/${application.application_id}/review`, { decision: "approve" });

    // A brand funds its account, opens an invite-only campaign and invites the creator.
    await brand.goto(`${base}/ads`);
    await brand.getByLabel("Amount (USD)").fill("500");
    await brand.getByRole("button", { name: "Add funds" }).click();
    await brand.getByText("Funds added. Balance: $500.00.").waitFor({ timeout: 15_000 });
    const title = `Spring sketches ${unique()}`;
    const campaign = await must(brand, "POST", "/v1/marketplace/campaigns", {
      title,
      brief: "One sketch about spring cleaning, with our hashtag.",
      video_count: 1,
      required_hashtag: tag,
      budget_per_creator_cents: 5000,
      max_creators: 3,
      deadline: new Date(Date.now() + 3 * 86_400_000).toISOString(),
      visibility: "invite_only",
    });
    await must(brand, "POST", `/v1/marketplace/campaigns/${campaign.campaign_id}/publish`);
    const invited = await until(
      brand,
      "POST",
      `/v1/marketplace/campaigns/${campaign.campaign_id}/invitations`,
      { creator_id: creatorId, pitch: "We love your sketches!" },
      (r) => r.status === 201,
      "the invitation of the approved creator",
    );

    // The creator sees the approval and the invitation, and accepts it.
    await creator.reload();
    await creator.getByText("Listed in the marketplace").waitFor({ timeout: 15_000 });
    await creator.getByTestId("profile-form").waitFor();
    const card = creator.locator(`[data-collaboration-id="${invited.collaboration_id}"]`);
    await card.getByRole("heading", { name: title }).waitFor({ timeout: 15_000 });
    await card.getByText("We love your sketches!").waitFor();
    await creator.screenshot({ path: join(shots, `studio-invitation-${kind}.png`), fullPage: true });
    await card.getByRole("button", { name: "Accept invitation" }).click();
    await card.getByText("Accepted: deliver your videos").waitFor({ timeout: 15_000 });
    const accepted = await must(brand, "GET", `/v1/marketplace/collaborations/${invited.collaboration_id}`);
    check(accepted.state === "accepted" && accepted.escrow_id, `the brand sees ${accepted.state}, escrow ${accepted.escrow_id}`);

    // The sponsored video (published after the acceptance, with the campaign's hashtag) is delivered.
    const sponsored = await must(creator, "POST", "/v1/videos", {
      caption: `spring cleaning sketch #${tag}`,
      hashtags: [tag, "comedy"],
      category: "comedy",
      duration_ms: 6000,
      media_url: clip,
    });
    await creator.reload();
    const again = creator.locator(`[data-collaboration-id="${invited.collaboration_id}"]`);
    await again.getByRole("checkbox", { name: `spring cleaning sketch #${tag}` }).check({ timeout: 15_000 });
    await again.getByRole("button", { name: "Submit videos" }).click();
    await again.getByText("Submitted: waiting for the brand").waitFor({ timeout: 15_000 });
    const submitted = await must(brand, "GET", `/v1/marketplace/collaborations/${invited.collaboration_id}`);
    check(submitted.state === "submitted" && submitted.video_ids.includes(sponsored.video_id), `the brand sees ${JSON.stringify(submitted)}`);
    await creator.screenshot({ path: join(shots, `studio-marketplace-${kind}.png`), fullPage: true });

    // The profile: a rate under $1 is refused by its field; a new pitch is saved.
    const profile = creator.getByTestId("profile-form");
    const profileRate = profile.getByLabel("Rate per sponsored video (USD)");
    await profileRate.fill("0.5");
    await profile.getByRole("button", { name: "Save profile" }).click();
    await profile.locator('.field-error[data-field="rate_cents"]').waitFor({ timeout: 10_000 });
    check((await profileRate.getAttribute("aria-invalid")) === "true", "the profile's rate field is marked invalid");
    await profileRate.fill("200");
    await profile.getByLabel("Pitch").fill("Sketches for brands that like to laugh.");
    await profile.getByRole("button", { name: "Save profile" }).click();
    await profile.getByText("Profile saved.").waitFor({ timeout: 10_000 });
    const saved = await must(creator, "GET", "/v1/marketplace/creator/profile");
    check(saved.rate_cents === 20000 && saved.pitch === "Sketches for brands that like to laugh.", `the saved profile: ${JSON.stringify(saved)}`);

    // The brand approves the delivery: the escrow pays the creator, whose earnings can be cashed out.
    await must(brand, "POST", `/v1/marketplace/collaborations/${invited.collaboration_id}/approve`);
    await until(
      creator,
      "GET",
      "/v1/wallet/balance",
      null,
      (r) => r.status === 200 && r.body.cents.available > 0,
      "the creator's marketplace earnings",
    );
    await creator.getByRole("link", { name: "Earnings" }).click();
    const cashOut = creator.getByTestId("payout-cents");
    await cashOut.waitFor({ timeout: 15_000 });
    const earned = await creator.getByTestId("cash-available").textContent();
    await cashOut.getByLabel("Amount (USD)").fill("10");
    await cashOut.getByRole("button", { name: "Request payout" }).click();
    await cashOut.getByText("Payout of $10.00 requested: waiting for approval.").waitFor({ timeout: 15_000 });
    await creator.locator('[data-testid="my-payouts"] li[data-status="pending"]').filter({ hasText: "from earnings" }).waitFor({ timeout: 10_000 });
    console.log(`     ${kind}: the approved collaboration paid ${earned}; $10.00 of it requested as a payout`);

    // Shop: a product id that is not one is refused by its field; the commissions' totals show.
    await creator.getByRole("link", { name: "Shop" }).click();
    await creator.getByTestId("commission-totals").waitFor({ timeout: 15_000 });
    const product = creator.getByLabel("Product id");
    await product.fill("not-a-product");
    await creator.getByRole("button", { name: "Add to showcase" }).click();
    await creator.locator('.field-error[data-field="product_id"]').waitFor({ timeout: 10_000 });
    check((await product.getAttribute("aria-invalid")) === "true", "the product field is marked invalid");
    await creator.getByText("Your showcase is empty.").waitFor();
    await creator.screenshot({ path: join(shots, `studio-shop-${kind}.png`), fullPage: true });
    check(errors.length === 0, `page errors: ${errors.join("; ")}`);
  } finally {
    await Promise.all(contexts.map((c) => c.close()));
  }
}

export async function uploadResume(browser, kind) {
  const context = await browser.newContext(VIEWPORTS[kind]);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // 9 MiB: three chunks of at most 4 MiB. Its bytes are random (processing will refuse it): what
  // matters here is which bytes go up; a real clip's processing is the upload scenario's.
  const dir = mkdtempSync(join(tmpdir(), "loop-resume-"));
  const path = join(dir, "long-take.mp4");
  writeFileSync(path, randomBytes(9 * 1024 * 1024));
  const CHUNK = 4 * 1024 * 1024;
  try {
    await signUp(page, `resumer_${kind[0]}_${unique()}`, "creator");
    await page.goto(`${base}/studio`);
    await page.getByLabel("Video file").setInputFiles(path);
    await page.getByLabel("Caption").fill("a long take");
    // The first chunk is stored (its PATCH answered 204); the page is reloaded under the second.
    const firstChunk = page.waitForResponse((r) => r.request().method() === "PATCH" && r.url().includes("/v1/uploads/") && r.status() === 204, {
      timeout: 60_000,
    });
    await page.getByRole("button", { name: "Upload and publish" }).click();
    check(Number((await firstChunk).headers()["upload-offset"]) === CHUNK, "the first chunk's answer");
    await page.reload();

    // After the reload: the studio names the interrupted file; choosing it again resumes.
    const hint = page.getByTestId("resume-hint");
    await hint.waitFor({ timeout: 15_000 });
    check((await hint.textContent()).includes("long-take.mp4"), `the hint says: ${await hint.textContent()}`);
    await page.screenshot({ path: join(shots, `studio-resume-${kind}.png`), fullPage: true });
    const after = [];
    page.on("request", (r) => {
      if (r.method() === "PATCH" && r.url().includes("/v1/uploads/")) after.push(Number(r.headers()["upload-offset"]));
    });
    let created = 0;
    page.on("request", (r) => {
      if (r.method() === "POST" && new URL(r.url()).pathname === "/v1/uploads") created += 1;
    });
    // Where the server stands (the first chunk, and whatever of the second arrived before the reload cut it).
    const held = await page.evaluate(async () => {
      const key = Object.keys(sessionStorage).find((k) => k.startsWith("loop:upload-resume:"));
      const id = JSON.parse(sessionStorage.getItem(key))[0].upload_id;
      const r = await fetch(`/v1/uploads/${id}`, { headers: { "x-loop-csrf": "1" } });
      return (await r.json()).offset;
    });
    check(held >= CHUNK, `the server holds ${held} bytes, fewer than the first chunk`);
    await page.getByLabel("Video file").setInputFiles(path);
    await page.getByTestId("resuming").waitFor({ timeout: 10_000 });
    await page.getByLabel("Caption").fill("a long take");
    await page.getByRole("button", { name: "Upload and publish" }).click();
    // The random bytes are not a video: processing refuses them, which ends the upload's story.
    await page.getByText(/^Processing failed/).first().waitFor({ timeout: 120_000 });
    check(created === 0, `a new upload was created (${created}) instead of resuming`);
    check(after[0] === held, `the resumed upload's first PATCH was at ${after[0]}, not at the server's ${held}`);
    check(after.every((o) => o >= held), `bytes before the server's offset went again: ${after.join(", ")}`);
    console.log(`     ${kind}: the reload cut the upload with ${held} of ${9 * 1024 * 1024} bytes on the server; then PATCHes at ${after.join(", ")}`);
    check(errors.length === 0, `page errors: ${errors.join("; ")}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await context.close();
  }
}
