// Browser tests of the advertiser console's management pages and the shop:
//  - an advertiser funds, launches a campaign, opens Manage: an ad group
//    with too small a daily budget shows the server's `daily_budget_cents`
//    error by its field; a TopView ad group with a creative; booking 10
//    impressions shows the `impressions` error by its field; a quote, then
//    a booking of 5000 impressions is listed under TopView reservations,
//    then cancelled; pause and resume the campaign; a creator makes a Spark
//    code for their video at /spark-codes and the advertiser adds it as a
//    Spark Ad to a spark ad group;
//  - a seller opens a shop and submits a product with two SKUs (a $0 price
//    shows the `skus[1].price_cents` error by its field); the admin finds it
//    among the products awaiting review and approves it, and approves the
//    seller's marketplace application (a rejection without a reason shows
//    the `rejection_reason` error by its field); a buyer opens the
//    product page, buys one, buys another and cancels it within the hold;
//    the seller sees the order, waits out the buyer's hold (1 minute on
//    the test platform), ships it (a blank carrier shows the `carrier`
//    error) and the buyer sees the tracking number and confirms delivery;
//    the buyer asks for a return, which the seller rejects, then approves;
//    the seller refunds $2 more from /sell (a blank reason shows the
//    `reason` error by its field), then everything left: the order is
//    refunded; a brand creates and publishes a marketplace campaign (a blank
//    title shows the `title` error), finds the seller in the creator search
//    and invites them; the brand writes in the collaboration's messages (a
//    blank message shows the `body` error), the seller reads it in the
//    studio and answers, and the brand sees the answer.
import { join } from "node:path";

import { ADMIN, base, check, must, shots, signUp, unique, VIEWPORTS } from "./lib.mjs";

async function pages(browser, kind, n) {
  const contexts = await Promise.all(Array.from({ length: n }, () => browser.newContext(VIEWPORTS[kind])));
  const errors = [];
  const list = await Promise.all(contexts.map((c) => c.newPage()));
  for (const p of list) p.on("pageerror", (e) => errors.push(String(e)));
  return { list, errors, close: () => Promise.all(contexts.map((c) => c.close())) };
}

/** Waits for the server's error on `field` inside `scope`, and checks its input says so. */
async function fieldError(scope, field, input) {
  await scope.locator(`.field-error[data-field="${field}"]`).waitFor({ timeout: 15_000 });
  if (input) check((await input.getAttribute("aria-invalid")) === "true", `the ${field} field is marked invalid`);
}

export async function advertiserTopView(browser, kind) {
  const {
    list: [brand, creator],
    errors,
    close,
  } = await pages(browser, kind, 2);
  try {
    await signUp(brand, `tv_${kind[0]}_${unique()}`, "advertiser");
    await brand.goto(`${base}/ads`);
    await brand.getByLabel("Amount (USD)").fill("500");
    await brand.getByRole("button", { name: "Add funds" }).click();
    await brand.getByText("Funds added. Balance: $500.00.").waitFor({ timeout: 15_000 });
    const name = `TopView ${unique()}`;
    const launch = brand.getByRole("form", { name: "New campaign" });
    await launch.getByLabel("Campaign name").fill(name);
    await launch.getByLabel("Total budget (USD)").fill("200");
    await launch.getByLabel("Video URL").fill(`${base}/e2e-media/clip-2.webm`);
    await launch.getByLabel("Sponsor name").fill("TopCo");
    await launch.getByLabel("Landing page (https)").fill("https://top.test/");
    await launch.getByRole("button", { name: "Launch campaign" }).click();
    await brand.getByText(`${name} is live.`).waitFor({ timeout: 20_000 });

    const row = brand.locator(".campaign").filter({ hasText: name }).first();
    await row.getByRole("button", { name: "Manage" }).click();
    // The launch made one in-feed ad group with one creative.
    await row.locator("li[data-ad-group]").first().waitFor({ timeout: 15_000 });

    // Pause and resume the campaign.
    await row.getByRole("button", { name: "Pause" }).first().click();
    await row.locator(".campaign-head .muted").first().filter({ hasText: "paused" }).waitFor({ timeout: 10_000 });
    await row.getByRole("button", { name: "Resume" }).first().click();
    await row.locator(".campaign-head .muted").first().filter({ hasText: "active" }).waitFor({ timeout: 10_000 });

    // An ad group with a $5 daily budget: the server's error by its field.
    const group = row.getByRole("form", { name: "New ad group" });
    await group.getByLabel("Ad group name").fill("Too small");
    const daily = group.getByLabel("Daily budget (USD)");
    await daily.fill("5");
    await group.getByRole("button", { name: "Create ad group" }).click();
    await fieldError(group, "daily_budget_cents", daily);
    await brand.screenshot({ path: join(shots, `ads-adgroup-error-${kind}.png`), fullPage: true });

    // A TopView ad group (no bid, no daily budget) with a creative.
    await group.getByLabel("Ad group name").fill("First screen");
    await group.getByLabel("Format").selectOption("topview");
    await group.getByRole("button", { name: "Create ad group" }).click();
    await group.getByText("Ad group First screen created.").waitFor({ timeout: 15_000 });
    const tv = row.locator('li[data-ad-group="First screen"]');
    await tv.waitFor({ timeout: 15_000 });
    const creative = tv.getByRole("form", { name: "Add creative" });
    await creative.getByLabel("Video URL").fill(`${base}/e2e-media/clip-0.webm`);
    await creative.getByLabel("Sponsor name").fill("TopCo");
    await creative.getByLabel("Landing page (https)").fill("https://top.test/open");
    await creative.getByRole("button", { name: "Add creative" }).click();
    await tv.locator('li[data-creative="TopCo"]').waitFor({ timeout: 15_000 });
    await tv.getByRole("button", { name: "Book TopView" }).click();

    // Too few impressions: the server's error by its field. Then a quote and a booking.
    const book = tv.getByRole("form", { name: "Book TopView" });
    const impressions = book.getByLabel("Impressions (at least 1000)");
    await impressions.fill("10");
    await book.getByRole("button", { name: "Reserve" }).click();
    await fieldError(book, "impressions", impressions);
    await brand.screenshot({ path: join(shots, `ads-topview-error-${kind}.png`), fullPage: true });
    await impressions.fill("5000");
    await book.getByRole("button", { name: "Get quote" }).click();
    await book.getByTestId("topview-quote").filter({ hasText: "this booking: $50.00" }).waitFor({ timeout: 10_000 });
    await book.getByRole("button", { name: "Reserve" }).click();
    await book.getByText(/^TopView booked for .*: \$50\.00\.$/).waitFor({ timeout: 15_000 });

    // The reservation is listed; cancelling it (before its day) frees its price.
    const reservations = brand.getByTestId("topview-reservations");
    const booked = reservations.locator("li").filter({ hasText: "5,000 impressions" }).first();
    await booked.getByTestId("reservation-status").filter({ hasText: "confirmed" }).waitFor({ timeout: 15_000 });
    await booked.scrollIntoViewIfNeeded();
    await brand.screenshot({ path: join(shots, `ads-topview-${kind}.png`), fullPage: true });
    await booked.getByRole("button", { name: "Cancel reservation" }).click();
    await booked.getByTestId("reservation-status").filter({ hasText: "cancelled" }).waitFor({ timeout: 15_000 });

    // Spark Ads: a creator makes a code for their video at /spark-codes; the advertiser boosts it.
    const handle = `spark_${kind[0]}_${unique()}`;
    await signUp(creator, handle, "creator");
    await must(creator, "POST", "/v1/videos", {
      caption: `Spark me ${kind}`,
      hashtags: ["spark"],
      category: "comedy",
      duration_ms: 6000,
      media_url: `${base}/e2e-media/clip-1.webm`,
    });
    await creator.getByRole("button", { name: "Menu" }).click();
    await creator.getByRole("link", { name: "Spark codes" }).click();
    await creator.getByRole("heading", { name: "Spark codes" }).waitFor();
    await creator.getByLabel("Video").locator("option").first().waitFor({ state: "attached", timeout: 15_000 });
    await creator.getByRole("button", { name: "Create code" }).click();
    const code = (await creator.getByTestId("spark-code").first().textContent({ timeout: 15_000 }))?.trim();
    check(code && code.length >= 8, `the Spark code is ${code}`);
    await creator.screenshot({ path: join(shots, `spark-codes-${kind}.png`), fullPage: true });
    await group.getByLabel("Ad group name").fill("Boost");
    await group.getByLabel("Format").selectOption("spark");
    await group.getByLabel("Daily budget (USD)").fill("50");
    await group.getByRole("button", { name: "Create ad group" }).click();
    const spark = row.locator('li[data-ad-group="Boost"]');
    await spark.waitFor({ timeout: 15_000 });
    const sparkForm = spark.getByRole("form", { name: "Add Spark Ad" });
    await sparkForm.getByLabel("Spark code (from the creator)").fill(code);
    await sparkForm.getByLabel("Landing page (https)").fill("https://top.test/spark");
    await sparkForm.getByRole("button", { name: "Add Spark Ad" }).click();
    await sparkForm.getByText("Spark Ad added.").waitFor({ timeout: 15_000 });
    await spark.locator("li[data-creative]").filter({ hasText: "Spark" }).waitFor({ timeout: 15_000 });
    check(errors.length === 0, `page errors: ${errors.join("; ")}`);
  } finally {
    await close();
  }
}

export async function shopSale(browser, kind) {
  const {
    list: [seller, admin, buyer],
    errors,
    close,
  } = await pages(browser, kind, 3);
  try {
    await signUp(seller, `seller_${kind[0]}_${unique()}`, "creator");
    await seller.goto(`${base}/sell`);
    const open = seller.getByRole("form", { name: "Open my shop" });
    await open.getByLabel("Shop name").fill(`Mugs ${kind}`);
    await open.getByRole("button", { name: "Open my shop" }).click();
    await seller.getByTestId("shop-name").waitFor({ timeout: 15_000 });

    // A product with two SKUs; a $0 price is refused by its field.
    const title = `Mug ${unique()}`;
    const form = seller.getByRole("form", { name: "New product" });
    await form.getByLabel("Product title").fill(title);
    await form.getByLabel("Category").fill("home");
    await form.getByLabel("Description").fill("Stoneware, 350 ml");
    await form.getByLabel("Image URL (https)").fill("https://shop.test/mug.jpg");
    const first = form.getByRole("group", { name: "Option 1" });
    await first.getByLabel("Option name (e.g. size or colour)").fill("Blue");
    await first.getByLabel("Price (USD)").fill("25");
    await first.getByLabel("Stock").fill("3");
    await form.getByRole("button", { name: "Add an option" }).click();
    const second = form.getByRole("group", { name: "Option 2" });
    await second.getByLabel("Option name (e.g. size or colour)").fill("Red");
    const price = second.getByLabel("Price (USD)");
    await price.fill("0");
    await form.getByRole("button", { name: "Submit for review" }).click();
    await fieldError(second, "skus[1].price_cents", price);
    await seller.screenshot({ path: join(shots, `shop-product-error-${kind}.png`), fullPage: true });
    await price.fill("27");
    await form.getByRole("button", { name: "Submit for review" }).click();
    await form.getByText(`${title} was submitted`).waitFor({ timeout: 15_000 });
    const listed = seller.getByTestId("seller-products").locator("li").filter({ hasText: title });
    await listed.getByText("pending review").waitFor({ timeout: 15_000 });
    const productId = await listed.getAttribute("data-product-id");

    // The buyer signs up and follows the seller, who applies to the creator marketplace.
    await signUp(buyer, `buyer_${kind[0]}_${unique()}`);
    const sellerId = (await must(seller, "GET", "/v1/users/me")).user_id;
    await must(buyer, "POST", `/v1/users/${sellerId}/follow`);
    const application = await must(seller, "POST", "/v1/marketplace/creator/application", {
      categories: ["comedy"],
      rate_cents: 15000,
      pitch: `Mugs and jokes (${kind})`,
    });

    // The admin approves it from the products awaiting review.
    await admin.goto(base);
    await admin.getByRole("button", { name: "Have an account? Log in" }).click();
    await admin.getByLabel("Username").fill(ADMIN.handle);
    await admin.getByLabel("Password").fill(ADMIN.password);
    await admin.getByRole("button", { name: "Log in", exact: true }).click();
    await admin.getByRole("button", { name: "Menu" }).waitFor();
    await admin.goto(`${base}/admin`);
    const queued = admin.locator(`[data-testid="product-queue"] > li[data-product-id="${productId}"]`);
    await queued.getByText(title).waitFor({ timeout: 15_000 });
    await queued.getByText("Red: $27.00").waitFor();
    await queued.scrollIntoViewIfNeeded();
    await admin.screenshot({ path: join(shots, `admin-products-${kind}.png`), fullPage: true });
    await queued.getByRole("button", { name: "Approve" }).click();
    await queued.getByText("Approved: on sale now.").waitFor({ timeout: 15_000 });

    // The seller's marketplace application: a rejection needs a reason (by its field); approved.
    const applied = admin.locator(`[data-testid="applications"] > li[data-application-id="${application.application_id}"]`);
    await applied.getByText(`Mugs and jokes (${kind})`).waitFor({ timeout: 15_000 });
    await applied.getByRole("button", { name: "Reject" }).click();
    await fieldError(applied, "rejection_reason", applied.getByLabel(/^Reason/));
    await applied.getByRole("button", { name: "Approve" }).click();
    await applied.getByText("Approved: the creator is listed in the marketplace.").waitFor({ timeout: 15_000 });

    // The buyer opens the product page and buys one Red; buys a Blue and cancels it within the hold.
    await buyer.goto(`${base}/product/${productId}`);
    await buyer.getByRole("heading", { name: title }).waitFor({ timeout: 15_000 });
    await buyer.getByTestId("product-version").filter({ hasText: "version 1" }).waitFor();
    const checkout = buyer.getByRole("form", { name: "Buy" });
    await checkout.getByRole("radio", { name: /Red/ }).check();
    await checkout.getByTestId("checkout-total").filter({ hasText: "$27.00" }).waitFor();
    await buyer.screenshot({ path: join(shots, `shop-product-${kind}.png`), fullPage: true });
    await checkout.getByRole("button", { name: "Buy now" }).click();
    await checkout.getByText("Paid $27.00: your order is placed.").waitFor({ timeout: 20_000 });
    await checkout.getByRole("radio", { name: /Blue/ }).check();
    await checkout.getByRole("button", { name: "Buy now" }).click();
    await checkout.getByText("Paid $25.00: your order is placed.").waitFor({ timeout: 20_000 });
    await checkout.getByRole("link", { name: "My orders" }).click();
    await buyer.getByRole("heading", { name: "My orders" }).waitFor();
    const orders = buyer.getByTestId("orders");
    const blue = orders.locator("li.order").filter({ hasText: "Blue × 1" });
    const red = orders.locator("li.order").filter({ hasText: "Red × 1" });
    await blue.getByText("You can cancel until").waitFor({ timeout: 15_000 });
    await blue.getByRole("button", { name: "Cancel order" }).click();
    await blue.getByTestId("order-status").filter({ hasText: "Cancelled" }).waitFor({ timeout: 15_000 });
    await red.getByTestId("order-status").filter({ hasText: "Paid" }).waitFor();
    await buyer.screenshot({ path: join(shots, `shop-orders-${kind}.png`), fullPage: true });

    // The seller sees the order; once the buyer's hold is over, ships it (a blank carrier is refused by its field).
    await seller.goto(`${base}/sell`);
    const sold = seller.getByTestId("seller-orders").locator("li.order").filter({ hasText: "Red × 1" });
    await sold.waitFor({ timeout: 15_000 });
    const ship = sold.getByRole("form", { name: "Ship" });
    // Refreshes the list every 5 s at most until the order can be shipped.
    const deadline = Date.now() + 100_000;
    while (!(await ship.isVisible())) {
      check(Date.now() < deadline, "the order never became ready to ship");
      await seller.getByRole("button", { name: "Refresh", exact: true }).click();
      await ship.waitFor({ timeout: 5_000 }).catch(() => {});
    }
    await ship.getByLabel("Tracking number").fill("1Z999AA10123456784");
    await ship.getByRole("button", { name: "Ship" }).click();
    await fieldError(ship, "carrier", ship.getByLabel("Carrier"));
    await ship.getByLabel("Carrier").fill("UPS");
    await ship.getByRole("button", { name: "Ship" }).click();
    await sold.getByTestId("order-status").filter({ hasText: "Shipped" }).waitFor({ timeout: 15_000 });
    await seller.screenshot({ path: join(shots, `shop-seller-${kind}.png`), fullPage: true });

    // The buyer sees the tracking number and confirms delivery.
    await buyer.getByRole("button", { name: "Refresh", exact: true }).click();
    await red.getByTestId("tracking").filter({ hasText: "UPS · tracking 1Z999AA10123456784" }).waitFor({ timeout: 15_000 });
    await red.getByRole("button", { name: "Confirm delivery" }).click();
    await red.getByTestId("order-status").filter({ hasText: "Delivered" }).waitFor({ timeout: 15_000 });

    // The buyer asks for $5 back: a blank reason is refused by its field; the seller rejects without a note
    // (refused by the note's field), then with one; the buyer asks again and the seller approves: $5 refunded.
    const ask = red.getByRole("form", { name: "Ask for a return" });
    await ask.getByLabel("Amount back (USD; empty: everything)").fill("5");
    await ask.getByRole("button", { name: "Ask for a return" }).click();
    await fieldError(ask, "reason", ask.getByLabel("Why"));
    await ask.getByLabel("Why").fill("The handle is chipped");
    await ask.getByRole("button", { name: "Ask for a return" }).click();
    await red.getByTestId("return").filter({ hasText: "Return of $5.00 asked: The handle is chipped" }).waitFor({ timeout: 15_000 });
    await seller.getByRole("button", { name: "Refresh", exact: true }).click();
    const answer = sold.getByRole("form", { name: "Reject return" });
    await answer.waitFor({ timeout: 15_000 });
    await answer.getByRole("button", { name: "Reject return" }).click();
    await fieldError(answer, "note", answer.getByLabel("Reason for the buyer"));
    await answer.getByLabel("Reason for the buyer").fill("Please send a photo of the chip");
    await answer.getByRole("button", { name: "Reject return" }).click();
    await sold.getByTestId("return").filter({ hasText: "rejected · Please send a photo of the chip" }).waitFor({ timeout: 15_000 });
    await buyer.getByRole("button", { name: "Refresh", exact: true }).click();
    await red.getByTestId("return").filter({ hasText: "Please send a photo of the chip" }).waitFor({ timeout: 15_000 });
    await ask.getByLabel("Amount back (USD; empty: everything)").fill("5");
    await ask.getByLabel("Why").fill("Photo attached: the handle is chipped");
    await ask.getByRole("button", { name: "Ask for a return" }).click();
    await red.getByTestId("return").filter({ hasText: "waiting for the seller" }).waitFor({ timeout: 15_000 });
    await seller.getByRole("button", { name: "Refresh", exact: true }).click();
    await answer.getByRole("button", { name: "Approve return" }).click();
    await sold.getByTestId("return").filter({ hasText: "approved: refunded" }).waitFor({ timeout: 15_000 });
    await seller.screenshot({ path: join(shots, `shop-return-${kind}.png`), fullPage: true });
    const redId = await red.getAttribute("data-order-id");
    const refunded = await must(buyer, "GET", `/v1/orders/${redId}`);
    check(refunded.refunded_cents === 500, `the buyer got $5 back: ${refunded.refunded_cents}`);

    // The seller refunds $2 more (a blank reason is refused by its field), then everything left: refunded.
    const refund = sold.getByRole("form", { name: "Refund", exact: true });
    const refundReason = refund.getByLabel("Reason (the buyer sees it)");
    await refund.getByLabel(/^Amount to refund/).fill("2");
    await refund.getByRole("button", { name: "Refund", exact: true }).click();
    await fieldError(refund, "reason", refundReason);
    await seller.screenshot({ path: join(shots, `shop-refund-error-${kind}.png`), fullPage: true });
    await refundReason.fill("Sorry about the chipped handle");
    await refund.getByRole("button", { name: "Refund", exact: true }).click();
    await sold.getByText("Refunded: $7.00 of $27.00 in all.").waitFor({ timeout: 15_000 });
    await sold.getByTestId("refunded").filter({ hasText: "$7.00 refunded" }).waitFor();
    await refund.getByLabel(/^Amount to refund/).fill("");
    await refundReason.fill("Returned in full");
    await refund.getByRole("button", { name: "Refund", exact: true }).click();
    await sold.getByTestId("order-status").filter({ hasText: "Refunded" }).waitFor({ timeout: 15_000 });
    await sold.getByText("Refunded: $27.00 of $27.00 in all.").waitFor();
    const all = await must(buyer, "GET", `/v1/orders/${redId}`);
    check(all.refunded_cents === 2700 && all.status === "refunded", `the buyer got everything back: ${all.refunded_cents}, ${all.status}`);
    await buyer.getByRole("button", { name: "Refresh", exact: true }).click();
    await red.getByTestId("refunded").filter({ hasText: "$27.00 refunded" }).waitFor({ timeout: 15_000 });

    // A brand creates and publishes a marketplace campaign (a blank title is refused by its field),
    // finds the seller (now a listed creator) in the creator search and invites them.
    const brand = await (await browser.newContext(VIEWPORTS[kind])).newPage();
    brand.on("pageerror", (e) => errors.push(String(e)));
    try {
      await signUp(brand, `mkt_${kind[0]}_${unique()}`, "advertiser");
      await brand.goto(`${base}/ads`);
      const campaignForm = brand.getByRole("form", { name: "New marketplace campaign" });
      await campaignForm.getByLabel("Brief").fill("Show our mug in your morning routine");
      await campaignForm.getByLabel("Required hashtag").fill("mugmorning");
      await campaignForm.getByRole("button", { name: "Create campaign" }).click();
      await fieldError(campaignForm, "title", campaignForm.getByLabel("Title"));
      const campaignTitle = `Mug mornings ${unique()}`;
      await campaignForm.getByLabel("Title").fill(campaignTitle);
      await campaignForm.getByRole("button", { name: "Create campaign" }).click();
      await campaignForm.getByText(`${campaignTitle} created`).waitFor({ timeout: 15_000 });
      const mine = brand.locator(".campaign").filter({ hasText: campaignTitle });
      await mine.getByRole("button", { name: "Publish" }).click();
      await mine.getByText("published").waitFor({ timeout: 15_000 });
      // The search index follows approvals within its refresh interval: search again until the seller is listed.
      const search = brand.getByRole("search", { name: "Find creators" });
      const found = brand.getByTestId("creator-results").locator("li").filter({ has: brand.locator(`a[href="/users/${sellerId}"]`) });
      const until = Date.now() + 30_000;
      while (!(await found.isVisible())) {
        check(Date.now() < until, "the approved seller never showed in the creator search");
        await search.getByRole("button", { name: "Search" }).click();
        await found.waitFor({ timeout: 3_000 }).catch(() => {});
      }
      await found.getByLabel("Marketplace campaign").selectOption({ label: campaignTitle });
      await found.getByRole("button", { name: "Invite" }).click();
      await found.getByText("Invited.").waitFor({ timeout: 15_000 });
      await mine.getByRole("button", { name: "Collaborations" }).click();
      await mine.locator("li[data-collaboration-id]").getByText("invited").waitFor({ timeout: 15_000 });
      await brand.screenshot({ path: join(shots, `ads-marketplace-${kind}.png`), fullPage: true });

      // The brand writes in the collaboration's messages (a blank one is refused by its field); the seller,
      // a creator, reads it in the studio and answers; the brand sees the answer.
      const collab = mine.locator("li[data-collaboration-id]").first();
      const collabId = await collab.getAttribute("data-collaboration-id");
      await collab.getByRole("button", { name: "Messages", exact: true }).click();
      const thread = collab.getByTestId("thread");
      await thread.getByText("No messages yet.").waitFor({ timeout: 15_000 });
      const say = thread.getByRole("form", { name: "Send", exact: true });
      await say.getByRole("button", { name: "Send", exact: true }).click();
      await fieldError(say, "body", say.getByLabel("Message", { exact: true }));
      await say.getByLabel("Message", { exact: true }).fill("Could you post it by Friday?");
      await say.getByRole("button", { name: "Send", exact: true }).click();
      await thread.locator('li[data-mine="true"]').filter({ hasText: "Could you post it by Friday?" }).getByText("You", { exact: true }).waitFor({ timeout: 15_000 });
      check((await say.locator(".field-error").count()) === 0, "the body error is gone after a good message");
      await seller.goto(`${base}/studio/marketplace`);
      const card = seller.locator(`[data-collaboration-id="${collabId}"]`);
      await card.getByRole("button", { name: "Messages", exact: true }).click({ timeout: 15_000 });
      const theirs = card.getByTestId("thread");
      await theirs.locator('li[data-mine="false"]').filter({ hasText: "Could you post it by Friday?" }).getByText("The brand").waitFor({ timeout: 15_000 });
      const answer = theirs.getByRole("form", { name: "Send", exact: true });
      await answer.getByLabel("Message", { exact: true }).fill("Friday works for me.");
      await answer.getByRole("button", { name: "Send", exact: true }).click();
      await theirs.locator('li[data-mine="true"]').filter({ hasText: "Friday works for me." }).waitFor({ timeout: 15_000 });
      await card.scrollIntoViewIfNeeded();
      await seller.screenshot({ path: join(shots, `studio-messages-${kind}.png`), fullPage: true });
      await thread.getByRole("button", { name: "Refresh messages" }).click();
      await thread.locator('li[data-mine="false"]').filter({ hasText: "Friday works for me." }).getByText("The creator").waitFor({ timeout: 15_000 });
      await collab.scrollIntoViewIfNeeded();
      await brand.screenshot({ path: join(shots, `ads-messages-${kind}.png`), fullPage: true });
    } finally {
      await brand.context().close();
    }
    check(errors.length === 0, `page errors: ${errors.join("; ")}`);
  } finally {
    await close();
  }
}
