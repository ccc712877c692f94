// LIVE shopping in the browser (src/live/Shopping.tsx): a seller-host whose
// product an admin approved (through the API) goes LIVE, adds it to the
// room's bag and pins it; a viewer in the room sees the pin, and the
// product's page lists the room under "Featured in". The host starts an
// auction; the viewer authorises a card hold (development store), bids and
// sees the bid arrive through the SSE stream (on the host's page too); after a
// reload the page reads the authorisation back rather than asking again; a
// bid below the next minimum is refused by the amount field; a maximum above
// the card hold is refused by the maximum's field, and a proxy bid (an amount
// with a maximum) leads. A rival authorises and quick-bids the next minimum:
// the leader's maximum answers, both pages show the new price, and each
// names the other by @handle (the viewer the rival's bid, the rival the
// leader). The host's
// flash sale refuses a $0 sale price by its field, then announces a sale
// with a 10 s countdown; the viewer waits for it to open, buys one unit and
// pays at the sale price.
import { join } from "node:path";

import { ADMIN, base, check, must, shots, signUp, unique, VIEWPORTS } from "./lib.mjs";

export async function liveShopping(browser, kind) {
  const contexts = await Promise.all([0, 1, 2, 3].map(() => browser.newContext(VIEWPORTS[kind])));
  const [host, viewer, admin, rival] = await Promise.all(contexts.map((c) => c.newPage()));
  const errors = [];
  for (const p of [host, viewer, admin, rival]) p.on("pageerror", (e) => errors.push(String(e)));
  try {
    // The seller's approved product (shop, product and review through the API).
    await signUp(host, `lshost_${kind[0]}_${unique()}`, "creator");
    await must(host, "POST", "/v1/shop", { name: `Lamps ${kind} ${unique()}` });
    const title = `Lamp ${unique()}`;
    const product = await must(host, "POST", "/v1/products", {
      title,
      category: "home",
      description: "Brass desk lamp",
      image_urls: ["https://shop.test/lamp.jpg"],
      skus: [{ name: "Brass", price_cents: 5000, stock: 10 }],
    });
    await admin.goto(base);
    await must(admin, "POST", "/v1/auth/login", ADMIN);
    await must(admin, "POST", `/v1/admin/products/${product.product_id}/approve`, { expected_version: product.version });

    // The host goes LIVE, adds the product to the bag and pins it.
    const room = await must(host, "POST", "/v1/live", { title: `Lamp night ${unique()}` });
    await host.goto(`${base}/live/${room.room_id}`);
    await host.getByRole("heading", { name: room.title }).waitFor();
    await host.getByRole("button", { name: `Add ${title} to the bag` }).click({ timeout: 15_000 });
    const item = host.getByTestId("bag").locator(`li[data-product-id="${product.product_id}"]`);
    await item.waitFor({ timeout: 15_000 });
    await item.getByRole("button", { name: "Pin", exact: true }).click();
    await host.getByTestId("pinned").getByRole("link", { name: title }).waitFor({ timeout: 15_000 });

    // The viewer in the room sees the pin (the room's refresh brings it), and its page lists the room.
    const viewerHandle = `lsviewer_${kind[0]}_${unique()}`;
    await signUp(viewer, viewerHandle);
    await viewer.goto(`${base}/live/${room.room_id}`);
    await viewer.getByRole("heading", { name: room.title }).waitFor();
    const pinned = viewer.getByTestId("pinned").getByRole("link", { name: title });
    await pinned.waitFor({ timeout: 15_000 });
    await viewer.screenshot({ path: join(shots, `live-shop-pinned-${kind}.png`), fullPage: true });
    await pinned.click();
    await viewer.getByRole("heading", { name: title }).waitFor();
    await viewer.getByTestId("features").getByRole("link", { name: "A LIVE room" }).waitFor({ timeout: 15_000 });
    await viewer.screenshot({ path: join(shots, `live-shop-product-${kind}.png`), fullPage: true });
    await viewer.goBack();
    await viewer.getByRole("heading", { name: room.title }).waitFor();

    // The host starts an auction ($2 to start, 2 minutes).
    const auctionForm = host.getByRole("form", { name: "Start auction" });
    await auctionForm.getByLabel("Starting bid (USD, at least 1)").fill("2");
    await auctionForm.getByLabel("Duration (seconds)").fill("120");
    await auctionForm.getByRole("button", { name: "Start auction" }).click();
    await auctionForm.getByText(`Auction of ${title} started.`).waitFor({ timeout: 15_000 });

    // The viewer sees it, authorises a $50 hold, bids $5 and sees the bid arrive live.
    const auction = viewer.getByTestId("auction");
    await auction.waitFor({ timeout: 15_000 });
    await auction.getByLabel("The most you may bid (USD)").fill("50");
    await auction.getByRole("button", { name: "Authorise card" }).click();
    const amount = auction.getByLabel(/^Your bid \(USD, at least/);
    await amount.waitFor({ timeout: 15_000 });
    await amount.fill("5");
    await auction.getByRole("button", { name: "Bid", exact: true }).click();
    await auction.getByText("Your bid leads.").waitFor({ timeout: 15_000 });
    await auction.getByTestId("bids").locator("li").filter({ hasText: "$5.00 · you" }).waitFor({ timeout: 15_000 });
    await auction.getByTestId("auction-state").filter({ hasText: "Price $5.00" }).waitFor({ timeout: 15_000 });
    // The host's page gets the same bid through its own stream.
    await host.getByTestId("bids").locator("li").filter({ hasText: "$5.00" }).waitFor({ timeout: 15_000 });
    await host.getByTestId("auction-state").filter({ hasText: "Price $5.00" }).waitFor({ timeout: 15_000 });

    // A reload keeps the authorisation: the page reads it back (GET .../authorization) instead of asking again.
    await viewer.reload();
    await auction.getByText("Card authorised up to $50.00.").waitFor({ timeout: 15_000 });
    check((await auction.getByRole("button", { name: "Authorise card" }).count()) === 0, "no second authorisation is asked after a reload");
    await auction.getByTestId("auction-state").filter({ hasText: "Price $5.00 · leading: you" }).waitFor({ timeout: 15_000 });
    await amount.waitFor({ timeout: 15_000 });

    // A lower bid is refused (BID_TOO_LOW: from the leader, a maximum not raised) by the amount field.
    await amount.fill("3");
    await auction.getByRole("button", { name: "Bid", exact: true }).click();
    const refusal = auction.locator('.field-error[data-field="amount_cents"]');
    await refusal.waitFor({ timeout: 15_000 });
    check((await amount.getAttribute("aria-invalid")) === "true", "the bid amount is marked invalid");
    check(/BID_TOO_LOW/.test((await refusal.textContent()) ?? ""), `the refusal says: ${await refusal.textContent()}`);
    await viewer.screenshot({ path: join(shots, `live-shop-auction-${kind}.png`), fullPage: true });

    // A proxy bid: a maximum above the $50 hold is refused by the maximum's field (PAYMENT_NOT_AUTHORIZED);
    // $6 with a $20 maximum raises the leader's maximum, not the price.
    const max = auction.getByLabel(/^Your maximum \(USD/);
    await amount.fill("6");
    await max.fill("80");
    await auction.getByRole("button", { name: "Bid", exact: true }).click();
    const overHold = auction.locator('.field-error[data-field="max_cents"]');
    await overHold.waitFor({ timeout: 15_000 });
    check((await max.getAttribute("aria-invalid")) === "true", "the maximum is marked invalid");
    check(/PAYMENT_NOT_AUTHORIZED/.test((await overHold.textContent()) ?? ""), `the refusal says: ${await overHold.textContent()}`);
    await viewer.screenshot({ path: join(shots, `live-shop-max-error-${kind}.png`), fullPage: true });
    await max.fill("20");
    await auction.getByRole("button", { name: "Bid", exact: true }).click();
    await auction.getByText("Your bid leads.").waitFor({ timeout: 15_000 });
    check((await overHold.count()) === 0, "the maximum's error is gone after a good proxy bid");
    // The leader raised their maximum: the price they pay stays.
    await auction.getByTestId("auction-state").filter({ hasText: "Price $5.00" }).waitFor({ timeout: 15_000 });

    // A rival quick-bids the next minimum ($6): the leader's $20 maximum answers at once, so the rival's bid
    // is taken but the leader still leads, now at $7 (the rival's $6 plus the $1 increment).
    const rivalHandle = `lsrival_${kind[0]}_${unique()}`;
    await signUp(rival, rivalHandle);
    await rival.goto(`${base}/live/${room.room_id}`);
    const rivalAuction = rival.getByTestId("auction");
    await rivalAuction.waitFor({ timeout: 15_000 });
    await rivalAuction.getByLabel("The most you may bid (USD)").fill("50");
    await rivalAuction.getByRole("button", { name: "Authorise card" }).click();
    await rivalAuction.getByRole("button", { name: "Bid $6.00", exact: true }).click({ timeout: 15_000 });
    await rivalAuction.getByText("Your bid was taken but another maximum leads.").waitFor({ timeout: 15_000 });
    await rivalAuction.getByTestId("bids").locator("li").filter({ hasText: "$6.00 · you" }).waitFor({ timeout: 15_000 });
    await rivalAuction.getByTestId("auction-state").filter({ hasText: "Price $7.00" }).waitFor({ timeout: 15_000 });
    // The leader sees it live: the price moved, they still lead.
    await auction.getByTestId("auction-state").filter({ hasText: "Price $7.00 · leading: you" }).waitFor({ timeout: 15_000 });
    // Each names the other by @handle: the viewer the rival's bid, the rival the leader.
    await auction.getByTestId("bids").locator("li").filter({ hasText: `$6.00 · @${rivalHandle}` }).waitFor({ timeout: 15_000 });
    await rivalAuction.getByTestId("auction-state").filter({ hasText: `leading: @${viewerHandle}` }).waitFor({ timeout: 15_000 });
    await rival.screenshot({ path: join(shots, `live-shop-quick-bid-${kind}.png`), fullPage: true });

    // The host's flash sale: a $0 price is refused by its field; then $30, 10 s countdown, 1 per buyer.
    const flashForm = host.getByRole("form", { name: "Start flash sale" });
    const salePrice = flashForm.getByLabel("Sale price (USD)");
    await salePrice.fill("0");
    await flashForm.getByRole("button", { name: "Start flash sale" }).click();
    await flashForm.locator('.field-error[data-field="sale_price_cents"]').waitFor({ timeout: 15_000 });
    check((await salePrice.getAttribute("aria-invalid")) === "true", "the sale price is marked invalid");
    await host.screenshot({ path: join(shots, `live-shop-host-${kind}.png`), fullPage: true });
    await salePrice.fill("30");
    await flashForm.getByLabel("Countdown (seconds, 10-300)").fill("10");
    await flashForm.getByLabel("Duration (seconds)").fill("60");
    await flashForm.getByLabel("Units on sale").fill("2");
    await flashForm.getByLabel("Units per buyer").fill("1");
    await flashForm.getByRole("button", { name: "Start flash sale" }).click();
    await flashForm.getByText(`Flash sale on ${title} announced.`).waitFor({ timeout: 15_000 });

    // The viewer sees the countdown, waits for the sale to open, buys one and pays $30.
    const sale = viewer.getByTestId("flash-sale");
    await sale.getByTestId("flash-clock").filter({ hasText: /Starts in/ }).waitFor({ timeout: 15_000 });
    await sale.getByTestId("flash-price").filter({ hasText: "$30.00" }).waitFor();
    const buy = sale.getByRole("button", { name: "Buy at the sale price" });
    await sale.getByTestId("flash-clock").filter({ hasText: /left/ }).waitFor({ timeout: 30_000 });
    await viewer.waitForFunction(() => {
      const b = [...document.querySelectorAll('[data-testid="flash-sale"] button')].find((x) => x.textContent === "Buy at the sale price");
      return b && !b.disabled;
    }, null, { timeout: 30_000 });
    await buy.click();
    await sale.getByText("Paid $30.00: your order is placed.").waitFor({ timeout: 20_000 });
    await sale.getByTestId("flash-clock").filter({ hasText: "1 of 2 left" }).waitFor({ timeout: 15_000 });
    await viewer.screenshot({ path: join(shots, `live-shop-flash-${kind}.png`), fullPage: true });
    const orders = await must(viewer, "GET", "/v1/orders?page_size=10");
    check(
      orders.items.some((o) => o.total_cents === 3000 && o.status !== "unpaid"),
      `the viewer's paid flash order: ${JSON.stringify(orders.items.map((o) => [o.total_cents, o.status]))}`,
    );
    check(errors.length === 0, `page errors: ${errors.join("; ")}`);
  } finally {
    await Promise.all(contexts.map((c) => c.close()));
  }
}
