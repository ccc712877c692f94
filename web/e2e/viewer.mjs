// Browser tests of the viewer app, driving Debian's Chromium through
// playwright-core (no browser is downloaded) against the platform at
// argv[2], at a phone and a desktop viewport:
//  - a new viewer signs up, scrolls 30 videos that play (the <video>
//    reports playing and its time advancing), likes the videos of the
//    first one's hashtag family, and within the session sees that family
//    take over: its share of videos 21-30 is at least 60% and above its
//    share of the first 10;
//  - a bad sign-up, and a bad comment, show the server's field error next
//    to their field.
// Screenshots go to $SCREENSHOTS (docs/screenshots). Ends with the plain
// "N passed, N failed" line.
import { mkdirSync } from "node:fs";
import { join } from "node:path";

import { chromium } from "playwright-core";

const base = process.argv[2];
if (!base) throw new Error("usage: node e2e/viewer.mjs <gateway base URL>");
const shots = process.env.SCREENSHOTS ?? "screenshots";
mkdirSync(shots, { recursive: true });

const VIEWPORTS = {
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
  desktop: { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 },
};

const results = [];
const timings = {};

async function test(name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (err) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}: ${err?.stack ?? err}`);
  }
  timings[name] = Date.now() - started;
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** 12 characters at most: handles are 3..24 characters. */
const unique = () => `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`.slice(-12);

async function signUp(page, handle) {
  await page.goto(base);
  await page.getByLabel("Username").fill(handle);
  await page.getByLabel("Password").fill("viewer-password-1");
  await page.getByLabel("Birth date").fill("1998-04-12");
  await page.getByRole("button", { name: "Sign up", exact: true }).click();
  const slide = page.locator('[data-testid="slide"]').first();
  const refused = page.locator(".field-error, .form-error").first();
  await slide.or(refused).waitFor({ timeout: 30_000 });
  if (!(await slide.isVisible())) {
    throw new Error(`sign-up of ${handle} refused: ${await refused.textContent()}`);
  }
}

/** The active slide's state once its video is playing and its time advancing. */
async function playingActive(page) {
  const active = page.locator('[data-testid="slide"][data-active="true"]');
  await active.waitFor();
  const handle = await active.locator("video").elementHandle();
  await page.waitForFunction((v) => !v.paused && v.readyState >= 2 && v.currentTime > 0.2, handle, { timeout: 15_000 });
  const t1 = await handle.evaluate((v) => v.currentTime);
  await page.waitForFunction((args) => args[0].currentTime > args[1] + 0.2, [handle, t1], { timeout: 10_000 });
  return {
    videoId: await active.getAttribute("data-video-id"),
    family: await active.getAttribute("data-category"),
    slide: active,
    video: handle,
  };
}

/** Moves to the next video the way the viewport's person would. */
async function next(page, kind, from) {
  if (kind === "desktop") await page.keyboard.press("ArrowDown");
  else {
    // A swipe up: the feed scrolls one screen and snaps.
    await page.locator('[data-testid="feed"]').evaluate((el) => el.scrollBy({ top: el.clientHeight, behavior: "smooth" }));
  }
  await page.waitForFunction(
    (id) => {
      const a = document.querySelector('[data-testid="slide"][data-active="true"]');
      return a && a.getAttribute("data-video-id") !== id;
    },
    from,
    { timeout: 15_000 },
  );
}

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
    await input.fill("first! this clip is great");
    await sheet.getByRole("button", { name: "Send" }).click();
    await sheet.getByText("first! this clip is great").waitFor();
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
  }
} finally {
  await browser.close();
}
const failed = results.filter((r) => !r.ok).length;
console.log(`web e2e took ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
