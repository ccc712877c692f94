// The development store's signing (see testStore.ts): loaded only by
// builds made with the development store (`npm run build:dev`, the browser
// tests, `make up`); a production build (`npm run build`) has no trace of it.

const DEV_KEY = "loop-test-receipts-dev-secret";

function base64url(bytes: ArrayBuffer): string {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export interface Receipt {
  provider: "test";
  receipt_data: string;
  signature: string;
}

/** A receipt for `productId` at `amountCents`, as the test store signs it. */
export async function signReceipt(productId: string, amountCents: number, receiptId: string): Promise<Receipt> {
  const data = JSON.stringify({ receipt_id: receiptId, product_id: productId, amount_cents: amountCents });
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", enc.encode(DEV_KEY), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const signature = base64url(await crypto.subtle.sign("HMAC", key, enc.encode(data)));
  return { provider: "test", receipt_data: data, signature };
}
