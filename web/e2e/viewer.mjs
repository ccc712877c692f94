// Browser tests of the viewer app, driving Debian's Chromium through
// playwright-core (no browser is downloaded) against the platform at
// argv[2], at a phone and a desktop viewport:
//  - a new viewer signs up, scrolls 30 videos that play (the <video>
//    reports playing and its time advancing), likes the videos of the
//    first one's hashtag family, and within the session sees that family
//    take over: its share of videos 21-30 is at least 60% and above its
//    share of the first 10;
//  - a bad sign-up, and a bad comment, show the server's field error next
//    to their field;
//  - hashtag pages and Discover; a creator's upload plays in a follower's
//    feed; a viewer gifts in a LIVE room; an advertiser's ad reaches its
//    targeted viewer and its report (e2e/scenarios.mjs);
//  - an admin takes down a reported video, approves a payout, runs the
//    wallet's reconcile and retries an order's wallet step (a blank note
//    shows its field error) (e2e/admin.mjs);
//  - a viewer filters a keyword out of For You; a creator uses the studio's
//    analytics, earnings, marketplace and shop sections (e2e/creator.mjs);
//  - LIVE shopping: bag, pin, auction bids over SSE (a maximum above the
//    card hold refused by its field, a proxy bid), a flash sale (e2e/live-shop.mjs);
//  - a seller sells, ships and refunds (e2e/biz.mjs), with a brand and the
//    seller writing in a collaboration's messages;
//  - a seller invites a creator to feature a product, the creator accepts
//    and anchors it to a video, a follower opens it from the video; the
//    seller sets the product's stock and edits it (e2e/commerce.mjs).
// Screenshots go to $SCREENSHOTS (docs/screenshots). Ends with the plain
// "N passed, N failed" line.
import { join } from "node:path";

import { chromium } from "playwright-core";

import { base, check, next, playingActive, results, shots, signUp, test, timings, unique, VIEWPORTS } from "./lib.mjs";
import { adminApp } from "./admin.mjs";
import { creatorStudio, keywordFilter, uploadResume } from "./creator.mjs";
import { advertiser, creatorToFollower, giftInLive, hashtagAndDiscover } from "./scenarios.mjs";
import { advertiserTopView, shopSale } from "./biz.mjs";
import { liveShopping } from "./live-shop.mjs";
import { shopInvitations } from "./commerce.mjs";

async function viewerLearns(browser, kind) {
  const context = await browser.newContext(VIEWPORTS[kind]);
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  try {
    await page.goto(base);
    await page.getByRole("heading", { name: "Sign up" }).waitFor();
    const paint = await page.evaluate(() => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? -1);
    console.log(`     ${kind}: first contentful paint ${paint.toFixed(0)} ms`);
    await page.screenshot({ path: join(shots, `viewer-signup-${kind}.png`) });
    await signUp(page, `web_${kind}_${unique()}`);
    // The session is a cookie scripts cannot read.
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "loop_session");
    check(session && session.httpOnly && session.sameSite === "Strict", `session cookie: ${JSON.stringify(session)}`);
    check(!(await page.evaluate(() => document.cookie)).includes("loop_session"), "the token is readable by scripts");
    // The cookie alone does not change anything: the CSRF header must come with it.
    const forged = await page.evaluate(() => fetch("/v1/feed/refresh", { method: "POST" }).then((r) => r.status));
    check(forged === 403, `a cookie-only POST was answered ${forged}`);

    const seen = [];
    let family = null;
    let liked = 0;
    for (let i = 0; i < 30; i++) {
      const now = await playingActive(page);
      seen.push(now.family);
      if (i === 0) {
        family = now.family;
        await page.screenshot({ path: join(shots, `viewer-feed-${kind}.png`) });
      }
      if (now.family === family) {
        // Watched through (more than a quick skip) and liked.
        await page.waitForFunction((v) => v.currentTime > 1.5, now.video, { timeout: 10_000 });
        const like = now.slide.getByRole("button", { name: "Like", exact: true });
        await like.click();
        await now.slide.getByRole("button", { name: "Unlike" }).waitFor();
        liked += 1;
        if (liked === 1) await page.screenshot({ path: join(shots, `viewer-liked-${kind}.png`) });
      }
      if (i === 19) {
        check(seen.length === 20, "20 videos played");
        await page.screenshot({ path: join(shots, `viewer-twenty-${kind}.png`) });
      }
      if (i < 29) await next(page, kind, now.videoId);
    }
    const share = (list) => list.filter((f) => f === family).length / list.length;
    const before = share(seen.slice(0, 10));
    const after = share(seen.slice(20, 30));
    console.log(`     ${kind}: liked ${liked} #${family} videos; #${family} share ${before.toFixed(2)} of videos 1-10 -> ${after.toFixed(2)} of videos 21-30`);
    console.log(`     ${kind}: families seen ${seen.join(" ")}`);
    check(after >= 0.6 && after > before, `#${family} did not take over: ${before.toFixed(2)} -> ${after.toFixed(2)}`);
    await page.screenshot({ path: join(shots, `viewer-learned-${kind}.png`) });
    // Following: the app's own path, also when loaded directly (the gateway
    // answers it with index.html).
    await page.getByRole("link", { name: "Following" }).click();
    await page.getByText("Follow creators to see their videos here.").waitFor();
    check(new URL(page.url()).pathname === "/following", `url ${page.url()}`);
    await page.reload();
    await page.getByText("Follow creators to see their videos here.").waitFor();
    await page.screenshot({ path: join(shots, `viewer-following-${kind}.png`) });
    check(pageErrors.length === 0, `page errors: ${pageErrors.join("; ")}`);
  } finally {
    await context.close();
  }
}

async function signUpFieldError(browser, kind) {
  const context = await browser.newContext(VIEWPORTS[kind]);
  const page = await context.newPage();
  try {
    await page.goto(base);
    await page.getByLabel("Username").fill(`young_${unique()}`);
    await page.getByLabel("Password").fill("viewer-password-1");
    const year = new Date().getFullYear() - 5;
    await page.getByLabel("Birth date").fill(`${year}-01-01`);
    await page.getByRole("button", { name: "Sign up", exact: true }).click();
    const error = page.locator('.field-error[data-field="birth_date"]');
    await error.waitFor({ timeout: 10_000 });
    const text = await error.textContent();
    check(/birth_date/.test(text ?? ""), `the field error says: ${text}`);
    const input = page.getByLabel("Birth date");
    check((await input.getAttribute("aria-invalid")) === "true", "the field is marked invalid");
    const described = await input.getAttribute("aria-describedby");
    check(described && (await error.getAttribute("id")) === described, "the error describes the field");
    await page.screenshot({ path: join(shots, `viewer-signup-error-${kind}.png`) });
  } finally {
    await context.close();
  }
}

async function commentFieldError(browser, kind) {
  const context = await browser.newContext(VIEWPORTS[kind]);
  const page = await context.newPage();
  try {
    await signUp(page, `talk_${kind[0]}_${unique()}`);
    const slide = page.locator('[data-testid="slide"][data-active="true"]');
    await slide.getByRole("button", { name: "Comments" }).click();
    const sheet = page.getByRole("dialog", { name: "Comments" });
    // Loaded: empty, or with the comments of earlier viewers of this video.
    await sheet.getByText("No comments yet.").or(sheet.locator(".comments")).waitFor();
    const input = sheet.getByLabel("Add a comment…");
    await input.fill("   ");
    await sheet.getByRole("button", { name: "Send" }).click();
    const error = sheet.locator('.field-error[data-field="text"]');
    await error.waitFor({ timeout: 10_000 });
    check((await input.getAttribute("aria-invalid")) === "true", "the comment field is marked invalid");
    await page.screenshot({ path: join(shots, `viewer-comment-error-${kind}.png`) });
    // Its own text: the other viewport's viewer may have commented on the same video already.
    const said = `first! this clip is great (${kind} ${unique()})`;
    await input.fill(said);
    await sheet.getByRole("button", { name: "Send" }).click();
    await sheet.getByText(said, { exact: true }).waitFor();
    check((await sheet.getByText(said, { exact: true }).count()) === 1, "the comment is listed once");
    check((await error.count()) === 0, "the error is gone after a good comment");
  } finally {
    await context.close();
  }
}

const started = Date.now();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--autoplay-policy=no-user-gesture-required", "--mute-audio"],
});
try {
  for (const kind of ["phone", "desktop"]) {
    await test(`${kind}: a new viewer's liked hashtag family takes over their feed`, () => viewerLearns(browser, kind));
    await test(`${kind}: a bad sign-up shows the server's error next to its field`, () => signUpFieldError(browser, kind));
    await test(`${kind}: a bad comment shows the server's error next to its field; a good one is listed`, () =>
      commentFieldError(browser, kind),
    );
    await test(`${kind}: a feed video's hashtag opens its page; Discover finds another`, () => hashtagAndDiscover(browser, kind));
    await test(`${kind}: a creator's upload is processed and plays in a follower's Following feed`, () =>
      creatorToFollower(browser, kind),
    );
    await test(`${kind}: a viewer buys coins and gifts in a LIVE room; the creator sees the leaderboard and diamonds`, () =>
      giftInLive(browser, kind),
    );
    await test(`${kind}: an advertiser's campaign is served as Sponsored to a targeted viewer and reported`, () =>
      advertiser(browser, kind),
    );
    await test(`${kind}: an admin takes down a reported video, approves a payout, sees the ledger balanced and retries an order's wallet step (a blank note shows its field error)`, () =>
      adminApp(browser, kind),
    );
    await test(`${kind}: a viewer's keyword filter takes its videos out of For You`, () => keywordFilter(browser, kind));
    await test(`${kind}: a creator's studio: analytics, a payout, the marketplace application and an accepted invitation, the shop`, () =>
      creatorStudio(browser, kind),
    );
    await test(`${kind}: a creator's upload cut by a reload resumes at the server's offset`, () => uploadResume(browser, kind));
    await test(`${kind}: an advertiser manages a campaign and books a TopView; bad ad group and TopView input shows field errors`, () =>
      advertiserTopView(browser, kind),
    );
    await test(`${kind}: a seller lists a product, an admin approves it, a buyer buys it, the seller ships and refunds it (a blank reason shows its field error); a brand and the seller exchange collaboration messages (a blank one shows its field error)`, () =>
      shopSale(browser, kind),
    );
    await test(`${kind}: a LIVE host pins a product and runs an auction and a flash sale; a viewer bids live and buys`, () =>
      liveShopping(browser, kind),
    );
    await test(`${kind}: a seller invites a creator at a commission (a bad rate shows its field error); the creator accepts and anchors the product to a video a follower opens it from; the seller sets stock and edits the product (0 units and a blank title show their field errors)`, () =>
      shopInvitations(browser, kind),
    );
  }
} finally {
  await browser.close();
}
const failed = results.filter((r) => !r.ok).length;
console.log(`web e2e took ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
