import { describe, expect, it } from "vitest";

import { EngagementBatcher, type EventsBody, type SendResult, type Transport } from "./batcher";

/**
 * A stand-in for POST /v1/events with the gateway's rules that matter here:
 * 1..=100 events, a retried event id is recognised (not counted again), and
 * a network that can fail before the request arrives or after the gateway
 * took it (the response lost on the way back).
 */
class FakeGateway {
  /** Event ids the gateway took, with how often each arrived. */
  readonly arrivals = new Map<string, number>();
  /** Ids acknowledged to the client with a 202 that reached it. */
  readonly acknowledged: string[] = [];
  readonly requests: { ids: string[]; keepalive: boolean }[] = [];
  /** What happens to the next requests, in order; then every request succeeds. */
  plan: ("ok" | "drop-request" | "drop-response" | "503" | "429" | "401" | "413")[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Bytes (UTF-8) of keepalive bodies in flight, and the most at once. */
  keepaliveBytes = 0;
  maxKeepaliveBytes = 0;

  transport: Transport = async (raw, { keepalive }) => {
    const body = JSON.parse(raw) as EventsBody;
    const ids = body.events.map((e) => e.event_id ?? "");
    this.requests.push({ ids, keepalive });
    const bytes = keepalive ? new TextEncoder().encode(raw).length : 0;
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.keepaliveBytes += bytes;
    this.maxKeepaliveBytes = Math.max(this.maxKeepaliveBytes, this.keepaliveBytes);
    await Promise.resolve();
    this.inFlight -= 1;
    this.keepaliveBytes -= bytes;
    expect(body.events.length).toBeGreaterThan(0);
    expect(body.events.length).toBeLessThanOrEqual(100);
    const step = this.plan.shift() ?? "ok";
    if (step === "drop-request") throw new TypeError("Failed to fetch");
    if (step === "401") return { status: 401, body: { error: { code: "unauthenticated" } } };
    if (step === "413") return { status: 413, body: { error: { code: "payload_too_large" } } };
    if (step === "503" || step === "429") return { status: Number(step), body: { error: { code: "unavailable" } } };
    const bad = body.events.findIndex((e) => e.video_id === "not-a-uuid");
    if (bad >= 0) {
      return { status: 400, body: { error: { code: "invalid_argument", field: `events[${bad}].video_id` } } };
    }
    for (const id of ids) this.arrivals.set(id, (this.arrivals.get(id) ?? 0) + 1);
    if (step === "drop-response") throw new TypeError("network connection lost");
    this.acknowledged.push(...ids);
    return { status: 202, body: { accepted: ids.length } } satisfies SendResult;
  };

  /** Distinct events the gateway recorded. */
  get recorded(): Set<string> {
    return new Set(this.arrivals.keys());
  }
}

let seq = 0;
const video = () => `0190f0b8-0000-7000-8000-${String(++seq).padStart(12, "0")}`;

function batcher(gw: FakeGateway, extra: Partial<ConstructorParameters<typeof EngagementBatcher>[0]> = {}) {
  return new EngagementBatcher({ send: gw.transport, intervalMs: 0, eagerAt: 10_000, ...extra });
}

describe("engagement batching", () => {
  it("sends at most 100 events a request and acknowledges each once", async () => {
    const gw = new FakeGateway();
    const b = batcher(gw);
    const ids = Array.from({ length: 250 }, () => b.record({ kind: "impression", video_id: video() }).event_id);
    await b.flush();
    expect(gw.requests.map((r) => r.ids.length)).toEqual([100, 100, 50]);
    expect(b.pending).toBe(0);
    expect(gw.acknowledged).toEqual(ids);
  });

  it("loses nothing and counts nothing twice when the response of a batch is lost", async () => {
    const gw = new FakeGateway();
    const b = batcher(gw);
    const ids = Array.from({ length: 30 }, (_, i) =>
      b.record({ kind: "view", video_id: video(), watch_ms: 1000 + i, video_duration_ms: 9000 }).event_id,
    );
    gw.plan = ["drop-response"];
    await b.flush();
    // The gateway has them; the client does not know, so they wait.
    expect(gw.recorded.size).toBe(30);
    expect(b.pending).toBe(30);
    await b.flush();
    expect(b.pending).toBe(0);
    // The retry carried the same ids: the gateway sees retries, never new events.
    expect([...gw.recorded].sort()).toEqual([...ids].sort());
    expect(gw.requests[0]!.ids).toEqual(gw.requests[1]!.ids);
    expect(new Set(gw.acknowledged).size).toBe(gw.acknowledged.length);
  });

  it("keeps the batch, in order, when the request never arrived, and what was recorded meanwhile", async () => {
    const gw = new FakeGateway();
    const b = batcher(gw);
    const first = Array.from({ length: 5 }, () => b.record({ kind: "impression", video_id: video() }).event_id);
    gw.plan = ["drop-request", "503", "429"];
    const failing = b.flush();
    // Recorded while the batch is in flight: not part of it, not lost.
    const later = b.record({ kind: "quick_skip", video_id: video() }).event_id;
    await failing;
    await b.flush();
    await b.flush();
    expect(b.pending).toBe(6);
    await b.flush();
    expect(b.pending).toBe(0);
    expect(gw.acknowledged).toEqual([...first, later]);
    for (const n of gw.arrivals.values()) expect(n).toBe(1);
  });

  it("never sends one event in two requests at once", async () => {
    const gw = new FakeGateway();
    const b = batcher(gw);
    for (let i = 0; i < 40; i++) b.record({ kind: "impression", video_id: video() });
    await Promise.all([b.flush(), b.flush(), b.flushOnHide()]);
    expect(b.pending).toBe(0);
    const sent = gw.requests.flatMap((r) => r.ids);
    expect(new Set(sent).size).toBe(sent.length);
    expect(gw.maxInFlight).toBe(1);
  });

  it("drops only the event the gateway names as bad", async () => {
    const gw = new FakeGateway();
    const dropped: string[] = [];
    const b = batcher(gw, { onDropped: (e, field) => dropped.push(`${e.video_id} ${field}`) });
    const good1 = b.record({ kind: "impression", video_id: video() }).event_id;
    b.record({ kind: "impression", video_id: "not-a-uuid" });
    const good2 = b.record({ kind: "share", video_id: video() }).event_id;
    await b.flush();
    expect(dropped).toEqual(["not-a-uuid events[1].video_id"]);
    expect(gw.acknowledged).toEqual([good1, good2]);
    expect(b.pending).toBe(0);
  });

  it("on tab hide sends everything that fits the budget with keepalive, at most 100 a request", async () => {
    const gw = new FakeGateway();
    const b = batcher(gw, { keepaliveBytes: 60_000 });
    const ids = Array.from({ length: 250 }, () => b.record({ kind: "impression", video_id: video() }).event_id);
    await b.flushOnHide();
    expect(gw.requests.map((r) => r.ids.length)).toEqual([100, 100, 50]);
    for (const r of gw.requests) expect(r.keepalive).toBe(true);
    expect(gw.maxKeepaliveBytes).toBeLessThanOrEqual(60_000);
    expect([...gw.acknowledged].sort()).toEqual([...ids].sort());
    expect(b.pending).toBe(0);
  });

  it("a lost keepalive chunk is sent again by the next flush with the same ids", async () => {
    const gw = new FakeGateway();
    const b = batcher(gw);
    const ids = Array.from({ length: 3 }, () => b.record({ kind: "impression", video_id: video() }).event_id);
    gw.plan = ["drop-response"];
    await b.flushOnHide();
    expect(b.pending).toBe(3);
    await b.flush();
    expect(b.pending).toBe(0);
    expect([...gw.recorded].sort()).toEqual([...ids].sort());
    expect(gw.acknowledged).toEqual(ids);
  });

  it("flushes on its own when enough events wait", async () => {
    const gw = new FakeGateway();
    const b = new EngagementBatcher({ send: gw.transport, intervalMs: 0, eagerAt: 3 });
    b.record({ kind: "impression", video_id: video() });
    b.record({ kind: "impression", video_id: video() });
    expect(gw.requests.length).toBe(0);
    b.record({ kind: "impression", video_id: video() });
    await b.flush();
    expect(gw.requests[0]!.ids.length).toBe(3);
  });

  it("keeps the keepalive bytes in flight under the budget, counted in UTF-8; the rest waits", async () => {
    const gw = new FakeGateway();
    const b = batcher(gw, { keepaliveBytes: 4000 });
    // Two bytes a character in UTF-8: a budget counted in characters would overshoot.
    const token = "é".repeat(300);
    const ids = Array.from({ length: 40 }, () =>
      b.record({ kind: "impression", video_id: video(), serve_token: token }).event_id,
    );
    // pagehide follows visibilitychange: both flush, the budget is shared.
    await Promise.all([b.flushOnHide(), b.flushOnHide()]);
    expect(gw.requests.length).toBeGreaterThan(0);
    for (const r of gw.requests) expect(r.keepalive).toBe(true);
    expect(gw.maxKeepaliveBytes).toBeLessThanOrEqual(4000);
    expect(b.pending).toBeGreaterThan(0);
    expect(b.pending).toBeLessThan(40);
    // The page came back: the rest goes, each event once.
    await b.flush();
    expect(b.pending).toBe(0);
    expect([...gw.acknowledged].sort()).toEqual([...ids].sort());
    for (const n of gw.arrivals.values()) expect(n).toBe(1);
  });

  it("halves a batch the gateway finds too large and loses nothing", async () => {
    const gw = new FakeGateway();
    const b = batcher(gw);
    const ids = Array.from({ length: 10 }, () => b.record({ kind: "impression", video_id: video() }).event_id);
    gw.plan = ["413", "413"];
    await b.flush();
    expect(gw.requests.map((r) => r.ids.length)).toEqual([10, 5, 2, 4, 4]);
    expect(b.pending).toBe(0);
    expect(gw.acknowledged).toEqual(ids);
  });

  it("drops a batch refused for good (401) instead of retrying it forever", async () => {
    const gw = new FakeGateway();
    const dropped: string[] = [];
    const b = batcher(gw, { onDropped: (e, reason) => dropped.push(`${e.event_id} ${reason}`) });
    const refused = Array.from({ length: 3 }, () => b.record({ kind: "impression", video_id: video() }).event_id);
    gw.plan = ["401"];
    await b.flush();
    expect(dropped).toEqual(refused.map((id) => `${id} status 401`));
    expect(b.pending).toBe(0);
    // The queue is not blocked: the next event goes out with the next flush.
    const next = b.record({ kind: "impression", video_id: video() }).event_id;
    await b.flush();
    expect(gw.acknowledged).toEqual([next]);
  });
});
