import { describe, expect, it } from "vitest";

import { testReceipt } from "./testStore";

describe("the development store", () => {
  it("signs receipt_data as the wallet's test provider verifies it: base64url(HMAC-SHA256(dev key, data)), unpadded", async () => {
    const r = await testReceipt("loop.coins.100", 99, "r-1");
    expect(r.provider).toBe("test");
    expect(JSON.parse(r.receipt_data)).toEqual({ receipt_id: "r-1", product_id: "loop.coins.100", amount_cents: 99 });
    // Computed once with node:crypto (createHmac("sha256", key).update(data).digest("base64url")).
    expect(r.receipt_data).toBe('{"receipt_id":"r-1","product_id":"loop.coins.100","amount_cents":99}');
    expect(r.signature).toBe("rpxdskKA9JnZNwITnH1desLoBtKwQK-xotbWqh9dEqg");
    expect(r.signature).not.toMatch(/[+/=]/);
  });
});

describe("the store in a build", () => {
  it("is there in the unit tests' build (mode test), as in `npm run build:dev`", async () => {
    const { devStore } = await import("./testStore");
    expect(devStore).toBe(true);
  });
});
