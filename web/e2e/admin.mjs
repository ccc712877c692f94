// The admin app: the development bootstrap admin (content's default
// `admin` / loop-admin-dev-password, which the test platform keeps) logs
// in, takes down a video a viewer reported (the viewer can no longer get
// it), approves the payout a gifted creator requested, and runs the
// wallet's reconcile.
import { join } from "node:path";

import { ADMIN, apiCall, base, check, must, shots, signUp, unique, VIEWPORTS } from "./lib.mjs";

export async function adminApp(browser, kind) {
  const contexts = await Promise.all([0, 1, 2].map(() => browser.newContext(VIEWPORTS[kind])));
  const errors = [];
  const [admin, creator, viewer] = await Promise.all(contexts.map((c) => c.newPage()));
  for (const p of [admin, creator, viewer]) p.on("pageerror", (e) => errors.push(String(e)));
  try {
    const handle = `mod_${kind[0]}_${unique()}`;
    await signUp(creator, handle, "creator");
    await signUp(viewer, `reporter_${kind[0]}_${unique()}`);
    const caption = `Report me ${unique()}`;
    const video = await must(creator, "POST", "/v1/videos", {
      caption,
      hashtags: ["moderation"],
      category: "comedy",
      duration_ms: 6000,
      media_url: `${base}/e2e-media/clip-0.webm`,
    });
    const creatorId = (await must(creator, "GET", "/v1/users/me")).user_id;

    // The viewer buys 5000 coins in the wallet and gifts the video two Galaxies (2 x 1000 coins):
    // 2000 diamonds, worth the $10.00 minimum payout, which the creator requests.
    await viewer.goto(`${base}/wallet`);
    await viewer.getByRole("button", { name: /^Buy 5000 coins for/ }).click();
    await viewer.getByText("You bought 5000 coins. Balance: 5000 coins.").waitFor({ timeout: 15_000 });
    await must(viewer, "POST", "/v1/wallet/gifts", { gift_id: "galaxy", recipient_id: creatorId, video_id: video.video_id, count: 2 });
    const payout = await must(creator, "POST", "/v1/wallet/payouts", { diamonds: 2000 });
    check(payout.status === "pending", `the payout is ${payout.status}`);

    // The viewer sees the video on the creator's profile, then reports it.
    await viewer.goto(`${base}/@${handle}`);
    await viewer.locator(`[data-video-id="${video.video_id}"]`).waitFor({ timeout: 15_000 });
    await must(viewer, "POST", `/v1/videos/${video.video_id}/reports`, { reason: "spam", details: `filed by the ${kind} test` });

    // A viewer's menu has no Admin entry, nor does the page open for them.
    await viewer.getByRole("button", { name: "Menu" }).click();
    await viewer.getByRole("link", { name: "Wallet" }).waitFor();
    check((await viewer.getByRole("link", { name: "Admin" }).count()) === 0, "a viewer's menu has no Admin entry");
    await viewer.keyboard.press("Escape");

    // The admin logs in and opens Admin from the menu.
    await admin.goto(base);
    await admin.getByRole("button", { name: "Have an account? Log in" }).click();
    await admin.getByLabel("Username").fill(ADMIN.handle);
    await admin.getByLabel("Password").fill(ADMIN.password);
    await admin.getByRole("button", { name: "Log in", exact: true }).click();
    await admin.getByRole("button", { name: "Menu" }).click();
    await admin.getByRole("link", { name: "Admin" }).click();
    await admin.getByRole("heading", { name: "Admin", level: 1 }).waitFor();

    // The report is in the queue, under the video's caption.
    const reported = admin.locator(`[data-testid="reports"] > li[data-video-id="${video.video_id}"]`);
    await reported.getByText(caption).waitFor({ timeout: 15_000 });
    await reported.getByText(`filed by the ${kind} test`).waitFor();
    const pending = admin.locator(`[data-testid="payouts"] > li[data-payout-id="${payout.payout_id}"]`);
    await pending.getByText("$10.00").waitFor({ timeout: 15_000 });

    // Rejecting without a reason shows the server's error next to the reason field; nothing changes.
    await pending.getByRole("button", { name: "Reject" }).click();
    const reasonError = pending.locator('.field-error[data-field="reason"]');
    await reasonError.waitFor({ timeout: 10_000 });
    check((await pending.getByLabel(/^Reason/).getAttribute("aria-invalid")) === "true", "the reason field is marked invalid");
    await admin.screenshot({ path: join(shots, `admin-queues-${kind}.png`), fullPage: true });

    // Take down: the viewer no longer gets the video.
    await reported.getByRole("button", { name: "Take down" }).click();
    await reported.getByText("Taken down").waitFor({ timeout: 10_000 });
    const gone = await apiCall(viewer, "GET", `/v1/videos/${video.video_id}`);
    check(gone.status === 404, `the viewer gets the taken-down video: ${gone.status}`);
    await viewer.goto(`${base}/@${handle}`);
    await viewer.getByText("No videos yet.").waitFor({ timeout: 15_000 });
    check((await viewer.locator(`[data-video-id="${video.video_id}"]`).count()) === 0, "the profile still lists the taken-down video");

    // Approve the payout: the creator's payout is approved.
    await pending.getByRole("button", { name: "Approve" }).click();
    await pending.getByText("Approved.").waitFor({ timeout: 10_000 });
    const mine = await must(creator, "GET", "/v1/wallet/payouts");
    check(mine.items.some((p) => p.payout_id === payout.payout_id && p.status === "approved"), "the creator's payout is approved");

    // Reconcile: balanced.
    await admin.getByRole("button", { name: "Run reconcile" }).click();
    const result = admin.getByTestId("reconcile");
    await result.getByText("Balanced", { exact: true }).waitFor({ timeout: 15_000 });
    await result.getByRole("rowheader", { name: "diamonds" }).waitFor();
    await admin.screenshot({ path: join(shots, `admin-done-${kind}.png`), fullPage: true });
    check(errors.length === 0, `page errors: ${errors.join("; ")}`);
  } finally {
    await Promise.all(contexts.map((c) => c.close()));
  }
}
