// The development "store": Loop's wallet accepts receipts of its test
// provider only when LOOP_ENV=development (payments.test_provider_enabled is
// refused elsewhere), signed `base64url(HMAC-SHA256(key, receipt_data))`
// with the development key that is public in the repository
// (services/wallet/src/config.rs, DEV_TEST_RECEIPT_SECRET). So the browser
// can play the store itself: a purchase here is a real wallet purchase, with
// the store step stubbed, exactly as the gateway's own tests buy coins.
// A production build would take the receipt from a real store (Stripe,
// App Store, Play) instead; no secret of a real store is ever in the client.
//
// Only builds made for a development platform carry it: `npm run build:dev`
// (Vite mode `devstore`; the browser tests and `make up` use it) sets
// __LOOP_DEV_STORE__, and the signing code is a chunk of its own
// (devStore.ts) loaded on the first purchase. `npm run build` (production)
// compiles the branch away: no key, no signing code, and a purchase fails
// with "the store is not available" instead.

import type { Receipt } from "./devStore";

export type { Receipt } from "./devStore";

declare const __LOOP_DEV_STORE__: boolean;

/** Whether this build has the development store. */
export const devStore: boolean = __LOOP_DEV_STORE__;

/** A receipt for `productId` at `amountCents`, as the test store signs it (rejects without the store). */
export async function testReceipt(productId: string, amountCents: number, receiptId: string): Promise<Receipt> {
  if (__LOOP_DEV_STORE__) {
    const { signReceipt } = await import("./devStore");
    return signReceipt(productId, amountCents, receiptId);
  }
  throw new Error("this build has no store: coin purchases need a payment provider");
}
