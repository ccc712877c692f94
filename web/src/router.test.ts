import { describe, expect, it } from "vitest";

import { parse } from "./router";

describe("the app's paths", () => {
  it("name every page, and anything else is For You", () => {
    expect(parse("/")).toEqual({ page: "for-you" });
    expect(parse("/following")).toEqual({ page: "following" });
    expect(parse("/@maker_1")).toEqual({ page: "profile", handle: "maker_1" });
    expect(parse("/users/0190-ab")).toEqual({ page: "profile", userId: "0190-ab" });
    expect(parse("/live")).toEqual({ page: "live" });
    expect(parse("/live/r1")).toEqual({ page: "room", roomId: "r1" });
    expect(parse("/tag/caf%C3%A9")).toEqual({ page: "hashtag", name: "café" });
    expect(parse("/studio/")).toEqual({ page: "studio" });
    expect(parse("/wallet")).toEqual({ page: "wallet" });
    expect(parse("/ads")).toEqual({ page: "ads" });
    expect(parse("/admin")).toEqual({ page: "admin" });
    expect(parse("/discover")).toEqual({ page: "discover" });
    expect(parse("/@")).toEqual({ page: "for-you" });
    expect(parse("/nowhere")).toEqual({ page: "for-you" });
  });
});

describe("the viewer's filters and the studio's sections", () => {
  it("have paths of their own", () => {
    expect(parse("/filters")).toEqual({ page: "filters" });
    expect(parse("/studio/earnings")).toEqual({ page: "studio-section", section: "earnings" });
    expect(parse("/studio/marketplace/")).toEqual({ page: "studio-section", section: "marketplace" });
  });
});

describe("the shop's and Spark's paths", () => {
  it("name their pages", () => {
    expect(parse("/product/0190-p1")).toEqual({ page: "product", productId: "0190-p1" });
    expect(parse("/product")).toEqual({ page: "for-you" });
    expect(parse("/orders")).toEqual({ page: "orders" });
    expect(parse("/sell")).toEqual({ page: "sell" });
    expect(parse("/spark-codes")).toEqual({ page: "spark" });
  });
});
