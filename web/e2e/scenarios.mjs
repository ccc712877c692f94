// The creator and LIVE scenarios of the browser tests, each run at the
// viewport `kind` by two people in two browser contexts:
//  - creatorToFollower: a viewer follows a creator from the creator's
//    profile; the creator uploads a generated clip in the studio (tus, the
//    media service transcodes it to HLS); it plays in the follower's
//    Following feed (natively on the phone; through hls.js on the desktop,
//    made a browser without native HLS); an upload that is not a video stays
//    as a draft showing why it failed;
//  - giftInLive: a creator goes LIVE (a blank title shows the server's
//    error by its field), a viewer buys coins, joins the room (viewer count),
//    sends a gift (a count of 0 shows the server's error by its field), and
//    is on the leaderboard; the wallet history shows both; the creator sees
//    the leaderboard and the diamonds in the studio;
//  - advertiser: an advertiser funds the account (too little is refused by
//    its field), creates a campaign (too small a budget is refused by its
//    field) with an in-feed ad group targeting Spanish speakers in the US
//    and a creative; a viewer who speaks Spanish sees it as Sponsored in
//    For You; the advertiser's report counts the impression;
//  - hashtagAndDiscover: a feed video's hashtag opens the hashtag's page
//    (its count, its videos, one plays); Discover's search opens another.
import { join } from "node:path";

import { base, check, playingActive, shots, signUp, unique, VIEWPORTS } from "./lib.mjs";

const UPLOAD_CLIP = process.env.UPLOAD_CLIP;
const BROKEN_CLIP = process.env.BROKEN_CLIP;

/** Two people at one viewport: the creator's page and the other person's. */
async function pair(browser, kind, { withoutNativeHls = false } = {}) {
  const a = await browser.newContext(VIEWPORTS[kind]);
  const b = await browser.newContext(VIEWPORTS[kind]);
  // Chromium plays HLS natively (since 2025); a browser that does not (Firefox)
  // gets it through hls.js. This makes the viewer such a browser.
  if (withoutNativeHls) {
    await b.addInitScript(() => {
      const canPlay = HTMLMediaElement.prototype.canPlayType;
      HTMLMediaElement.prototype.canPlayType = function (type) {
        return /mpegurl/i.test(type) ? "" : canPlay.call(this, type);
      };
    });
  }
  const errors = [];
  const pages = [await a.newPage(), await b.newPage()];
  for (const p of pages) p.on("pageerror", (e) => errors.push(String(e)));
  return {
    creatorPage: pages[0],
    viewerPage: pages[1],
    errors,
    close: async () => {
      await a.close();
      await b.close();
    },
  };
}

export async function creatorToFollower(browser, kind) {
  check(UPLOAD_CLIP && BROKEN_CLIP, "UPLOAD_CLIP and BROKEN_CLIP name the files to upload (run.sh makes them)");
  // The phone plays HLS natively, the desktop through hls.js (Media Source).
  const hlsJs = kind === "desktop";
  const { creatorPage: creator, viewerPage: viewer, errors, close } = await pair(browser, kind, { withoutNativeHls: hlsJs });
  try {
    const handle = `maker_${kind[0]}_${unique()}`;
    await signUp(creator, handle, "creator");
    await signUp(viewer, `fan_${kind[0]}_${unique()}`);

    // The follower finds the creator's profile and follows from it.
    await viewer.goto(`${base}/@${handle}`);
    await viewer.getByRole("heading", { name: handle }).waitFor();
    await viewer.getByText("No videos yet.").waitFor();
    await viewer.getByRole("button", { name: "Follow", exact: true }).click();
    await viewer.getByRole("button", { name: "Unfollow" }).waitFor();
    await viewer.getByText("1 follower", { exact: true }).waitFor();

    // The creator uploads a generated clip; the media service makes HLS of it.
    await creator.goto(`${base}/studio`);
    await creator.getByLabel("Video file").setInputFiles(UPLOAD_CLIP);
    const caption = `fresh upload ${unique()} #webtest`;
    await creator.getByLabel("Caption").fill(caption);
    const uploadStarted = Date.now();
    await creator.getByRole("button", { name: "Upload and publish" }).click();
    await creator.getByText("Published: it is in your followers' feeds.").waitFor({ timeout: 180_000 });
    console.log(`     ${kind}: upload -> processed -> published in ${((Date.now() - uploadStarted) / 1000).toFixed(1)} s`);
    await creator.screenshot({ path: join(shots, `studio-published-${kind}.png`) });

    // It plays in the follower's Following feed, from its signed HLS playlist.
    await viewer.getByRole("link", { name: "Following", exact: true }).click();
    const now = await playingActive(viewer);
    const shown = await now.slide.getAttribute("aria-label");
    check(shown === caption, `the Following feed shows "${shown}", not the upload "${caption}"`);
    const src = await now.video.evaluate((v) => v.currentSrc);
    if (hlsJs) check(src.startsWith("blob:"), `played through Media Source (hls.js), src ${src}`);
    else check(/^http.*\/media\/.*\/master\.m3u8$/.test(src), `played the signed HLS playlist natively, src ${src}`);
    console.log(`     ${kind}: the upload plays in the follower's Following feed (${hlsJs ? "hls.js" : "native HLS"})`);
    await now.slide.getByRole("link", { name: `@${handle}` }).waitFor();
    await viewer.screenshot({ path: join(shots, `following-upload-${kind}.png`) });

    // Its profile lists it now, and it plays there too.
    await now.slide.getByRole("link", { name: `@${handle}` }).click();
    await viewer.getByRole("button", { name: `Play: ${caption}` }).click();
    const tile = viewer.locator(".tile video").first();
    await tile.evaluate((v) => new Promise((ok) => (v.currentTime > 0.2 ? ok() : v.addEventListener("timeupdate", () => v.currentTime > 0.2 && ok()))));
    await viewer.screenshot({ path: join(shots, `profile-${kind}.png`) });

    // A file that is not a video: processing fails, and the draft says why, also after a reload.
    await creator.getByLabel("Video file").setInputFiles(BROKEN_CLIP);
    await creator.getByLabel("Caption").fill("not really a video");
    await creator.getByRole("button", { name: "Upload and publish" }).click();
    await creator.getByRole("alert").filter({ hasText: "Processing failed" }).waitFor({ timeout: 120_000 });
    await creator.reload();
    const draft = creator.locator('[data-testid="drafts"] li[data-state="failed"]');
    await draft.filter({ hasText: "not really a video" }).filter({ hasText: "Processing failed" }).waitFor();
    await creator.screenshot({ path: join(shots, `studio-draft-failed-${kind}.png`), fullPage: true });
    check(errors.length === 0, `page errors: ${errors.join("; ")}`);
  } finally {
    await close();
  }
}

export async function giftInLive(browser, kind) {
  const { creatorPage: creator, viewerPage: viewer, errors, close } = await pair(browser, kind);
  try {
    const handle = `host_${kind[0]}_${unique()}`;
    const fan = `gifter_${kind[0]}_${unique()}`;
    await signUp(creator, handle, "creator");
    await signUp(viewer, fan);

    // Go LIVE from the studio; a blank title is refused next to its field.
    await creator.goto(`${base}/studio`);
    const title = creator.getByLabel("Title");
    await title.fill("   ");
    await creator.getByRole("button", { name: "Go LIVE" }).click();
    const titleError = creator.locator('.field-error[data-field="title"]');
    await titleError.waitFor({ timeout: 10_000 });
    check((await title.getAttribute("aria-invalid")) === "true", "the title field is marked invalid");
    check((await title.getAttribute("aria-describedby")) === (await titleError.getAttribute("id")), "the error describes the title field");
    await creator.screenshot({ path: join(shots, `studio-live-error-${kind}.png`), fullPage: true });
    const roomTitle = `Jam ${unique()}`;
    await title.fill(roomTitle);
    await creator.getByRole("button", { name: "Go LIVE" }).click();
    await creator.getByRole("heading", { name: roomTitle }).waitFor();
    await creator.getByRole("button", { name: "End LIVE" }).waitFor();

    // The viewer buys coins with the development store.
    await viewer.goto(`${base}/wallet`);
    await viewer.getByTestId("coins").filter({ hasText: /^0$/ }).waitFor();
    const buy = viewer.getByRole("button", { name: /^Buy \d+ coins for/ }).first();
    const coins = Number((await buy.getAttribute("aria-label")).match(/^Buy (\d+) coins/)[1]);
    await buy.click();
    await viewer.getByText(`You bought ${coins} coins. Balance: ${coins} coins.`).waitFor({ timeout: 15_000 });
    await viewer.getByTestId("coins").filter({ hasText: new RegExp(`^${coins}$`) }).waitFor();
    await viewer.locator('[data-testid="history"] li[data-kind="coin_purchase"]').filter({ hasText: `+${coins} coins` }).waitFor();

    // ...finds the room among the open ones and joins it.
    await viewer.getByRole("button", { name: "Menu" }).click();
    await viewer.getByRole("link", { name: "LIVE", exact: true }).click();
    await viewer.getByRole("link", { name: new RegExp(roomTitle) }).click();
    await viewer.getByRole("heading", { name: roomTitle }).waitFor();
    await viewer.getByTestId("viewers").filter({ hasText: /^1 watching$/ }).waitFor({ timeout: 10_000 });

    // A gift count of 0 is refused next to its field; 2 of the first gift go through.
    const count = viewer.getByLabel("How many");
    await count.fill("0");
    await viewer.getByRole("button", { name: "Send gift" }).click();
    await viewer.locator('.field-error[data-field="count"]').waitFor({ timeout: 10_000 });
    check((await count.getAttribute("aria-invalid")) === "true", "the count field is marked invalid");
    await viewer.screenshot({ path: join(shots, `live-gift-error-${kind}.png`), fullPage: true });
    const gift = viewer.getByRole("radio").first();
    await gift.check();
    const giftCoins = Number((await gift.locator("xpath=..").textContent()).match(/(\d+) coins?/)[1]);
    await count.fill("2");
    await viewer.getByRole("button", { name: "Send gift" }).click();
    const left = coins - 2 * giftCoins;
    await viewer.getByText(new RegExp(`sent! You have ${left} coins left\\.`)).waitFor({ timeout: 15_000 });
    const board = viewer.getByTestId("leaderboard");
    await board.getByText(`@${fan}`).waitFor({ timeout: 15_000 });
    await board.getByText(`${2 * giftCoins} coins`).waitFor();
    await viewer.screenshot({ path: join(shots, `live-room-${kind}.png`), fullPage: true });

    // The wallet's history has the gift.
    await viewer.goto(`${base}/wallet`);
    await viewer.locator('[data-testid="history"] li[data-kind="gift"]').filter({ hasText: `−${2 * giftCoins} coins` }).waitFor();
    await viewer.screenshot({ path: join(shots, `wallet-${kind}.png`), fullPage: true });

    // The creator's room shows the gifter on the leaderboard; the studio shows the diamonds.
    await creator.getByTestId("leaderboard").getByText(`@${fan}`).waitFor({ timeout: 15_000 });
    await creator.screenshot({ path: join(shots, `live-creator-${kind}.png`), fullPage: true });
    await creator.goto(`${base}/studio`);
    const diamonds = creator.locator('[data-testid="diamonds"]');
    await diamonds.waitFor();
    const got = Number(await diamonds.textContent());
    check(got > 0, `the creator has ${got} diamonds after a gift`);
    console.log(`     ${kind}: bought ${coins} coins, gifted 2 x ${giftCoins}; the creator has ${got} diamonds`);
    await creator.screenshot({ path: join(shots, `studio-diamonds-${kind}.png`), fullPage: true });
    check(errors.length === 0, `page errors: ${errors.join("; ")}`);
  } finally {
    await close();
  }
}

export async function advertiser(browser, kind) {
  const { creatorPage: brand, viewerPage: viewer, errors, close } = await pair(browser, kind);
  try {
    await signUp(brand, `brand_${kind[0]}_${unique()}`, "advertiser");
    await brand.goto(`${base}/ads`);

    // Fund: too little is refused next to the field.
    const amount = brand.getByLabel("Amount (USD)");
    await amount.fill("0.5");
    await brand.getByRole("button", { name: "Add funds" }).click();
    await brand.locator('.field-error[data-field="amount_cents"]').waitFor({ timeout: 10_000 });
    check((await amount.getAttribute("aria-invalid")) === "true", "the amount field is marked invalid");
    await amount.fill("500");
    await brand.getByRole("button", { name: "Add funds" }).click();
    await brand.getByText("Funds added. Balance: $500.00.").waitFor({ timeout: 15_000 });

    // A campaign: too small a budget is refused next to its field, then it launches.
    const name = `Launch ${unique()}`;
    await brand.getByLabel("Campaign name").fill(name);
    const budget = brand.getByLabel("Total budget (USD)");
    await budget.fill("10");
    await brand.getByLabel("Countries (e.g. US, MX)").fill("US");
    await brand.getByLabel("Languages (e.g. en, es)").fill("es");
    await brand.getByLabel("Video URL").fill(`${base}/e2e-media/clip-1.webm`);
    await brand.getByLabel("Sponsor name").fill("BrandCo");
    await brand.getByLabel("Landing page (https)").fill("https://brand.test/launch");
    await brand.getByRole("button", { name: "Launch campaign" }).click();
    await brand.locator('.field-error[data-field="total_budget_cents"]').waitFor({ timeout: 10_000 });
    check((await budget.getAttribute("aria-invalid")) === "true", "the budget field is marked invalid");
    await brand.screenshot({ path: join(shots, `ads-error-${kind}.png`), fullPage: true });
    await budget.fill("100");
    await brand.getByRole("button", { name: "Launch campaign" }).click();
    await brand.getByText(`${name} is live.`).waitFor({ timeout: 20_000 });

    // A viewer who speaks Spanish (the targeting) meets it in For You, marked Sponsored.
    await signUp(viewer, `hablo_${kind[0]}_${unique()}`, "viewer", "es");
    let ad = null;
    for (let i = 0; i < 14 && !ad; i++) {
      const now = await viewer.locator('[data-testid="slide"][data-active="true"]');
      await now.waitFor();
      if ((await now.getAttribute("data-sponsored")) === "true") ad = now;
      else {
        const id = await now.getAttribute("data-video-id");
        if (kind === "desktop") await viewer.keyboard.press("ArrowDown");
        else await viewer.locator('[data-testid="feed"]').evaluate((el) => el.scrollBy({ top: el.clientHeight, behavior: "smooth" }));
        await viewer.waitForFunction(
          (from) => document.querySelector('[data-testid="slide"][data-active="true"]')?.getAttribute("data-video-id") !== from,
          id,
          { timeout: 15_000 },
        );
      }
    }
    check(ad, "no Sponsored item in the first 14 videos of the targeted viewer");
    await ad.getByText("Sponsored", { exact: true }).waitFor();
    await ad.getByText("BrandCo").waitFor();
    await viewer.screenshot({ path: join(shots, `viewer-sponsored-${kind}.png`) });

    // The advertiser's report counts the impression the viewer's client reported.
    const row = brand.locator(".campaign").filter({ hasText: name });
    await row.getByRole("button", { name: "Report" }).click();
    await row.getByTestId("report-impressions").filter({ hasText: /^[1-9]\d*$/ }).waitFor({ timeout: 90_000 });
    await brand.screenshot({ path: join(shots, `ads-report-${kind}.png`), fullPage: true });
    check(errors.length === 0, `page errors: ${errors.join("; ")}`);
  } finally {
    await close();
  }
}

/** A hashtag of a feed video opens its page (count, videos that play); Discover finds another. */
export async function hashtagAndDiscover(browser, kind) {
  const context = await browser.newContext(VIEWPORTS[kind]);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  try {
    await signUp(page, `tags_${kind[0]}_${unique()}`);
    const slide = page.locator('[data-testid="slide"][data-active="true"]');
    const family = (await slide.getAttribute("data-hashtags")).split(" ")[0];
    await slide.getByRole("link", { name: `#${family}`, exact: true }).click();
    await page.getByRole("heading", { name: `#${family}` }).waitFor();
    const count = Number((await page.getByTestId("video-count").textContent()).match(/\d+/)[0]);
    check(count >= 30, `#${family} counts ${count} videos`);
    const tiles = page.locator(".tile");
    await tiles.first().waitFor();
    check((await tiles.count()) >= 20, `#${family} lists ${await tiles.count()} videos`);
    await tiles.first().getByRole("button").click();
    await tiles
      .first()
      .locator("video")
      .evaluate((v) => new Promise((ok) => (v.currentTime > 0.2 ? ok() : v.addEventListener("timeupdate", () => v.currentTime > 0.2 && ok()))));
    await page.screenshot({ path: join(shots, `hashtag-${kind}.png`) });

    // The menu: Escape closes it and gives the focus back to its button.
    const menuButton = page.getByRole("button", { name: "Menu" });
    await menuButton.click();
    await page.getByRole("navigation", { name: "Menu" }).waitFor();
    await page.keyboard.press("Escape");
    await page.getByRole("navigation", { name: "Menu" }).waitFor({ state: "detached" });
    check(await menuButton.evaluate((b) => b === document.activeElement), "the focus went back to the menu button");
    await menuButton.click();
    await page.getByRole("link", { name: "Discover" }).click();
    await page.getByRole("heading", { name: "Discover" }).waitFor();
    await page.getByText("No challenges running.").or(page.getByRole("heading", { name: "Challenges" })).first().waitFor();
    const other = family === "cooking" ? "pets" : "cooking";
    await page.getByRole("searchbox", { name: "Search a hashtag" }).fill(`#${other}`);
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.getByRole("heading", { name: `#${other}` }).waitFor();
    check(new URL(page.url()).pathname === `/tag/${other}`, `url ${page.url()}`);
    await page.goBack();
    await page.getByRole("heading", { name: "Discover" }).waitFor();
    await page.screenshot({ path: join(shots, `discover-${kind}.png`) });
    check(errors.length === 0, `page errors: ${errors.join("; ")}`);
  } finally {
    await context.close();
  }
}
