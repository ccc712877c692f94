import { describe, expect, it } from "vitest";

import { bizEn, bizEs } from "./biz";
import { creatorEn, creatorEs } from "./creator";
import { liveshopEn, liveshopEs } from "./liveshop";
import { commerceEn, commerceEs } from "./commerce";
import { en, es } from "./messages";

// The catalogues are spread into one flat list per language, so a key two of
// them define silently takes the later one's wording on the other's pages.
function shared(...catalogues: object[]): string[] {
  const seen = new Map<string, number>();
  for (const c of catalogues) for (const k of Object.keys(c)) seen.set(k, (seen.get(k) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([k]) => k);
}

describe("the string catalogues", () => {
  it("define each key once", () => {
    // (A key of messages.ts's own that a spread repeats is a tsc error:
    // "This spread always overwrites this property".)
    expect(shared(creatorEn, bizEn, liveshopEn, commerceEn)).toEqual([]);
    expect(shared(creatorEs, bizEs, liveshopEs, commerceEs)).toEqual([]);
  });

  it("give every language every key", () => {
    expect(Object.keys(es).sort()).toEqual(Object.keys(en).sort());
  });
});
