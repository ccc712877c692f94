// Affiliate commerce in the browser (issue 18): a seller whose product an
// admin approved (through the API) invites a creator from /sell: a 90% rate
// is refused by the server's `rate_bps` error next to its field, 15% is
// sent and listed as pending. The creator sees the invitation in the
// studio's Shop section and accepts it: the product joins the showcase and
// the product options of the studio's "Products on a video", where the
// creator anchors it to a video they published. A follower sees the anchor
// on the video in their Following feed, opens the product (recorded as the
// creator's referral), and its page lists the creator's video under
// "Featured in". The seller then withdraws the invitation and the creator's
// showcase loses the product. Last, the seller manages the product from
// /sell: Affiliates refuses a 90% rate by the `rate_bps` field, opens the
// product to every affiliate at 10% (tagged on the product), and closes it;
// Stock refuses 0 units by the `units` field and adds 5; removing
// more than there is is refused by the same field; Edit refuses a blank
// title by its field, then saves version 2 (a new price, a new option),
// off sale until an admin approves it.
import { join } from "node:path";

import { ADMIN, base, check, must, shots, signUp, unique, VIEWPORTS } from "./lib.mjs";

export async function shopInvitations(browser, kind) {
  const contexts = await Promise.all([0, 1, 2, 3].map(() => browser.newContext(VIEWPORTS[kind])));
  const [seller, creator, viewer, admin] = await Promise.all(contexts.map((c) => c.newPage()));
  const errors = [];
  for (const p of [seller, creator, viewer, admin]) p.on("pageerror", (e) => errors.push(String(e)));
  try {
    // The seller's approved product (shop, product and review through the API).
    const sellerHandle = `invs_${kind[0]}_${unique()}`;
    await signUp(seller, sellerHandle, "creator");
    await must(seller, "POST", "/v1/shop", { name: `Mugs ${kind} ${unique()}` });
    const title = `Mug ${unique()}`;
    const product = await must(seller, "POST", "/v1/products", {
      title,
      category: "home",
      description: "Stoneware mug",
      image_urls: ["https://shop.test/mug.jpg"],
      skus: [{ name: "Blue", price_cents: 2400, stock: 20 }],
    });
    await admin.goto(base);
    await must(admin, "POST", "/v1/auth/login", ADMIN);
    await must(admin, "POST", `/v1/admin/products/${product.product_id}/approve`, { expected_version: product.version });

    // The creator, and a follower of theirs.
    const handle = `invc_${kind[0]}_${unique()}`;
    await signUp(creator, handle, "creator");
    const me = await must(creator, "GET", "/v1/users/me");
    await signUp(viewer, `invf_${kind[0]}_${unique()}`);
    await must(viewer, "POST", `/v1/users/${me.user_id}/follow`);

    // The seller invites the creator from /sell: 90% is refused by the rate's field, 15% is sent.
    await seller.goto(`${base}/sell`);
    const form = seller.getByRole("form", { name: "Invite" });
    await form.waitFor({ timeout: 15_000 });
    await form.getByLabel("Product").selectOption(product.product_id);
    await form.getByLabel("Creator's username").fill(handle);
    const rate = form.getByLabel("Commission (%, 1-80)");
    await rate.fill("90");
    await form.getByLabel("Message (optional)").fill("Our mugs suit your kitchen videos");
    await form.getByRole("button", { name: "Invite" }).click();
    const rateError = form.locator('.field-error[data-field="rate_bps"]');
    await rateError.waitFor({ timeout: 15_000 });
    check((await rate.getAttribute("aria-invalid")) === "true", "the rate is marked invalid");
    check((await rate.getAttribute("aria-describedby")) === (await rateError.getAttribute("id")), "the error describes the rate");
    await seller.screenshot({ path: join(shots, `shop-invite-error-${kind}.png`), fullPage: true });
    await rate.fill("15");
    await form.getByRole("button", { name: "Invite" }).click();
    await form.getByText(`Invited ${handle} at 15%.`).waitFor({ timeout: 15_000 });
    check((await rateError.count()) === 0, "the rate error is gone after a good invitation");
    const sent = seller.getByTestId("sent-invitations").locator(`li[data-creator-id="${me.user_id}"]`);
    // The sent invitation names the creator by username, linked to their profile.
    await sent.filter({ hasText: "pending" }).getByRole("link", { name: `@${handle}` }).waitFor({ timeout: 15_000 });
    await sent.scrollIntoViewIfNeeded();
    await seller.screenshot({ path: join(shots, `shop-invite-sent-${kind}.png`), fullPage: true });

    // The creator sees it in the studio's Shop section and accepts: the product joins the showcase.
    await creator.goto(`${base}/studio/shop`);
    const invitation = creator.getByTestId("invitations").locator(`li[data-product-id="${product.product_id}"]`);
    await invitation.filter({ hasText: "15% commission" }).waitFor({ timeout: 15_000 });
    await invitation.getByText("Our mugs suit your kitchen videos").waitFor();
    await invitation.getByText(`@${sellerHandle}`).waitFor();
    await creator.screenshot({ path: join(shots, `studio-shop-invitation-${kind}.png`), fullPage: true });
    await invitation.getByRole("button", { name: "Accept" }).click();
    await creator.getByText("Invitation accepted.").waitFor({ timeout: 15_000 });
    // The showcase shows the invited 15% (the product is not open to all affiliates: its open rate is 0).
    await creator
      .getByTestId("showcase")
      .locator(`li[data-product-id="${product.product_id}"]`)
      .getByTestId("rate")
      .filter({ hasText: "15% commission" })
      .waitFor({ timeout: 15_000 });
    await creator.locator(`li[data-product-id="${product.product_id}"][data-status="accepted"]`).waitFor();

    // The creator publishes a video and anchors the product to it from the studio.
    const caption = `Morning coffee ${unique()}`;
    await must(creator, "POST", "/v1/videos", {
      caption,
      hashtags: ["coffee"],
      category: "food",
      duration_ms: 6000,
      media_url: `${base}/e2e-media/clip-1.webm`,
    });
    await creator.reload();
    const anchors = creator.getByRole("form", { name: "Products on a video" });
    await anchors.getByLabel("Video").locator("option", { hasText: caption }).waitFor({ state: "attached", timeout: 15_000 });
    await anchors.getByLabel("Video").selectOption({ label: caption });
    const box = anchors.getByRole("checkbox", { name: title });
    await box.waitFor({ timeout: 15_000 });
    await box.check();
    await anchors.getByRole("button", { name: "Save products" }).click();
    await anchors.getByText("Products on this video: 1.").waitFor({ timeout: 15_000 });
    await anchors.scrollIntoViewIfNeeded();
    await creator.screenshot({ path: join(shots, `studio-video-products-${kind}.png`), fullPage: true });

    // The follower sees the anchor on the video in their Following feed and opens the product.
    const anchor = viewer.locator('[data-testid="slide"][data-active="true"]').getByRole("link", { name: title });
    const deadline = Date.now() + 60_000;
    for (;;) {
      await viewer.goto(`${base}/following`);
      await viewer.locator('[data-testid="slide"]').first().or(viewer.getByText("Follow creators to see their videos here.")).waitFor({ timeout: 15_000 });
      if (await anchor.isVisible().catch(() => false)) break;
      try {
        await anchor.waitFor({ timeout: 3_000 });
        break;
      } catch {
        check(Date.now() < deadline, "the anchored video with its product link in the follower's Following feed");
      }
    }
    await viewer.screenshot({ path: join(shots, `video-anchor-${kind}.png`) });
    // Opening it records the visit as the creator's referral (their commission on the follower's checkout).
    const referral = viewer.waitForResponse((r) => r.url().endsWith(`/v1/products/${product.product_id}/referrals`) && r.request().method() === "POST");
    await anchor.click();
    const recorded = await referral;
    check(recorded.ok(), `the referral: ${recorded.status()} ${await recorded.text()}`);
    await viewer.getByRole("heading", { name: title }).waitFor({ timeout: 15_000 });
    await viewer.getByTestId("features").getByRole("link", { name: "A creator's video" }).waitFor({ timeout: 15_000 });
    await viewer.screenshot({ path: join(shots, `video-anchor-product-${kind}.png`), fullPage: true });

    // The seller withdraws the invitation: it is listed as withdrawn and leaves the creator's showcase.
    await seller.reload();
    const accepted = seller.getByTestId("sent-invitations").locator(`li[data-creator-id="${me.user_id}"][data-status="accepted"]`);
    await accepted.getByRole("button", { name: "Withdraw" }).click({ timeout: 15_000 });
    await seller.getByTestId("sent-invitations").locator(`li[data-creator-id="${me.user_id}"][data-status="withdrawn"]`).waitFor({ timeout: 15_000 });
    await creator.reload();
    await creator.getByTestId("invitations").locator(`li[data-product-id="${product.product_id}"][data-status="withdrawn"]`).waitFor({ timeout: 15_000 });
    await creator.getByText("Your showcase is empty.").waitFor({ timeout: 15_000 });

    // The seller opens the product to every affiliate from /sell: 90% is refused by the rate's field, 10%
    // opens it (tagged on the product), then closes it again.
    const row = seller.getByTestId("seller-products").locator(`li[data-product-id="${product.product_id}"]`);
    await row.getByRole("button", { name: "Affiliates", exact: true }).click({ timeout: 15_000 });
    const affiliates = row.getByRole("form", { name: "Affiliates" });
    const openRate = affiliates.getByLabel("Commission (%, 1-80)");
    await openRate.fill("90");
    await affiliates.getByRole("button", { name: "Open to affiliates" }).click();
    const openError = affiliates.locator('.field-error[data-field="rate_bps"]');
    await openError.waitFor({ timeout: 15_000 });
    check((await openRate.getAttribute("aria-invalid")) === "true", "the open rate is marked invalid");
    check((await must(seller, "GET", `/v1/products/${product.product_id}`)).affiliate_rate_bps === 0, "a refused rate changes nothing");
    await seller.screenshot({ path: join(shots, `shop-affiliate-error-${kind}.png`), fullPage: true });
    await openRate.fill("10");
    await affiliates.getByRole("button", { name: "Open to affiliates" }).click();
    await affiliates.getByText("Open to affiliates at 10%.").waitFor({ timeout: 15_000 });
    await row.getByTestId("affiliate-rate").filter({ hasText: "open to affiliates at 10%" }).waitFor();
    check((await must(seller, "GET", `/v1/products/${product.product_id}`)).affiliate_rate_bps === 1000, "the product is open at 10%");
    await affiliates.getByRole("button", { name: "Close to affiliates" }).click();
    await affiliates.getByText("Closed to affiliates (orders already placed keep their rate).").waitFor({ timeout: 15_000 });
    check((await row.getByTestId("affiliate-rate").count()) === 0, "the closed product has no affiliate tag");
    check((await must(seller, "GET", `/v1/products/${product.product_id}`)).affiliate_rate_bps === 0, "the product is closed");

    // The seller sets the option's stock: 0 units is refused by the field, 5 more makes 25; removing 30
    // is refused (OUT_OF_STOCK) by the same field and the stock stays.
    await row.getByRole("button", { name: "Stock", exact: true }).click({ timeout: 15_000 });
    const stock = row.getByRole("form", { name: "Stock of Blue" });
    const units = stock.getByLabel("Units", { exact: true });
    await units.fill("0");
    await stock.getByRole("button", { name: "Update stock" }).click();
    const unitsError = stock.locator('.field-error[data-field="units"]');
    await unitsError.waitFor({ timeout: 15_000 });
    check((await units.getAttribute("aria-invalid")) === "true", "the units field is marked invalid");
    check((await units.getAttribute("aria-describedby")) === (await unitsError.getAttribute("id")), "the error describes the units");
    await seller.screenshot({ path: join(shots, `shop-stock-error-${kind}.png`), fullPage: true });
    await units.fill("5");
    await stock.getByRole("button", { name: "Update stock" }).click();
    await stock.getByText("Blue: 25 in stock.").waitFor({ timeout: 15_000 });
    await stock.getByTestId("sku-stock").filter({ hasText: "25 in stock" }).waitFor();
    await stock.getByLabel("Change", { exact: true }).selectOption("remove");
    await units.fill("30");
    await stock.getByRole("button", { name: "Update stock" }).click();
    await unitsError.waitFor({ timeout: 15_000 });
    const kept = await must(seller, "GET", `/v1/products/${product.product_id}`);
    check(kept.skus[0]?.stock === 25, `the stock after a refused removal: ${kept.skus[0]?.stock}`);

    // The seller edits the product: a blank title is refused by its field; then a new title, a new price
    // and a new option make version 2, waiting for review.
    await row.getByRole("button", { name: "Edit", exact: true }).click();
    const edit = row.getByRole("form", { name: "Edit product" });
    const titleField = edit.getByLabel("Product title");
    await titleField.fill("");
    await edit.getByRole("button", { name: "Save and submit for review" }).click();
    await edit.locator('.field-error[data-field="title"]').waitFor({ timeout: 15_000 });
    check((await titleField.getAttribute("aria-invalid")) === "true", "the title field is marked invalid");
    await seller.screenshot({ path: join(shots, `shop-edit-error-${kind}.png`), fullPage: true });
    const newTitle = `${title} (large)`;
    await titleField.fill(newTitle);
    await edit.getByRole("group", { name: "Option 1" }).getByLabel("Price (USD)").fill("26");
    await edit.getByRole("button", { name: "Add an option" }).click();
    const green = edit.getByRole("group", { name: "Option 2" });
    await green.getByLabel("Option name (e.g. size or colour)").fill("Green");
    await green.getByLabel("Price (USD)").fill("26");
    await green.getByLabel("Stock").fill("4");
    await edit.getByRole("button", { name: "Save and submit for review" }).click();
    await row.getByText("Version 2 submitted: it goes on sale once an admin approves it.").waitFor({ timeout: 15_000 });
    await row.getByText("pending review").waitFor({ timeout: 15_000 });
    await row.getByTestId("product-line").filter({ hasText: "version 2" }).waitFor({ timeout: 15_000 });
    await row.scrollIntoViewIfNeeded();
    await seller.screenshot({ path: join(shots, `shop-edited-${kind}.png`), fullPage: true });
    const v2 = await must(seller, "GET", `/v1/products/${product.product_id}`);
    const blue = v2.skus.find((s) => s.name === "Blue");
    const added = v2.skus.find((s) => s.name === "Green");
    check(
      v2.version === 2 && v2.status === "pending_review" && v2.title === newTitle && blue?.price_cents === 2600 && blue?.stock === 25 && added?.stock === 4,
      `version 2: ${JSON.stringify(v2)}`,
    );
    check(errors.length === 0, `page errors: ${errors.join("; ")}`);
  } finally {
    await Promise.all(contexts.map((c) => c.close()));
  }
}
