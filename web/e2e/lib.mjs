// Shared by the browser tests: viewports, sign-up, and "is it really playing".
import { mkdirSync } from "node:fs";

export const base = process.argv[2];
if (!base) throw new Error("usage: node e2e/viewer.mjs <gateway base URL>");
export const shots = process.env.SCREENSHOTS ?? "screenshots";
mkdirSync(shots, { recursive: true });

export const VIEWPORTS = {
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
  desktop: { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 },
};

export const results = [];
export const timings = {};

/** WEB_E2E_ONLY=text runs only the tests whose name contains it (while working on one; `a|b`: either). */
const only = process.env.WEB_E2E_ONLY?.split("|");

export async function test(name, fn) {
  if (only && !only.some((o) => name.includes(o))) return;
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

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** 12 characters at most: handles are 3..24 characters. */
export const unique = () => `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`.slice(-12);

export async function signUp(page, handle, role = "viewer", language = null) {
  await page.goto(base);
  await page.getByLabel("Username").fill(handle);
  if (role !== "viewer") await page.getByRole("radio", { name: role[0].toUpperCase() + role.slice(1) }).check();
  if (language) await page.getByLabel("Language").fill(language);
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
export async function playingActive(page) {
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
export async function next(page, kind, from) {
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


/** The development platform's admin (web/platform creates it). */
export const ADMIN = { handle: "admin", password: "loop-admin-dev-password" };

/** A call to the API as the page's signed-in user (its cookie, the CSRF header, a fresh idempotency key). */
export async function apiCall(page, method, path, body) {
  return page.evaluate(
    async ([method, path, body]) => {
      const headers = { "x-loop-csrf": "1", "Idempotency-Key": crypto.randomUUID() };
      if (body) headers["content-type"] = "application/json";
      const r = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
      return { status: r.status, body: await r.json().catch(() => null) };
    },
    [method, path, body],
  );
}

/** `apiCall` that must succeed: the body of a 2xx. */
export async function must(page, method, path, body) {
  const r = await apiCall(page, method, path, body);
  check(r.status >= 200 && r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}
