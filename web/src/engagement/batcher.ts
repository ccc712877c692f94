// Engagement reporting: what the viewer watched, skipped and shared, sent
// to `POST /v1/events` in batches exactly as the gateway expects.
//
// Every event gets its `event_id` (a UUID) when it is recorded and keeps it
// for every retry, so a batch whose response was lost can be sent again
// without being counted twice (the gateway and its consumers dedupe by
// event id). An event leaves the queue only when a 202 acknowledged it; a
// network failure, 429 or 5xx puts the whole batch back, in order, and the
// batcher backs off. A 400 names the one bad event (`events[i].field`):
// that event is dropped (it would be refused forever) and the rest go on.
// On tab hide the queue is sent with `fetch(..., {keepalive: true})` in
// chunks under the browser's 64 KiB keepalive budget (sendBeacon cannot
// carry the CSRF header the session cookie needs).

import type { components } from "../api/schema";

export type EventBody = components["schemas"]["EventBody"];
export type EventsBody = components["schemas"]["EventsBody"];
export type ClientContext = components["schemas"]["ClientContextBody"];
export type EngagementInput = Omit<EventBody, "event_id" | "occurred_at">;

/** The answer of one POST /v1/events, as far as the batcher needs it. */
export interface SendResult {
  status: number;
  body: unknown;
}

/** Sends one JSON body to POST /v1/events; throws when the network failed. */
export type Transport = (body: string, options: { keepalive: boolean }) => Promise<SendResult>;

export interface BatcherOptions {
  send: Transport;
  context?: ClientContext;
  /** At most this many events per request (the gateway takes 1..=100). */
  maxBatch?: number;
  /** Flush this often while events wait; 0 turns the timer off (tests). */
  intervalMs?: number;
  /** Flush as soon as this many events wait. */
  eagerAt?: number;
  /** Largest keepalive request body in bytes (browsers allow 64 KiB in flight). */
  keepaliveBytes?: number;
  newId?: () => string;
  now?: () => Date;
  onDropped?: (event: EventBody, reason: string) => void;
}

interface Queued {
  event: EventBody;
  sending: boolean;
}

export class EngagementBatcher {
  private queue: Queued[] = [];
  private flushing: Promise<void> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private failures = 0;
  private readonly opts: Required<Omit<BatcherOptions, "context" | "onDropped">> &
    Pick<BatcherOptions, "context" | "onDropped">;

  constructor(options: BatcherOptions) {
    this.opts = {
      maxBatch: 100,
      intervalMs: 4000,
      eagerAt: 20,
      keepaliveBytes: 60_000,
      newId: () => crypto.randomUUID(),
      now: () => new Date(),
      ...options,
    };
  }

  /** Events not yet acknowledged by the gateway (queued or in flight). */
  get pending(): number {
    return this.queue.length;
  }

  /** Records one engagement; it is sent with the next batch. */
  record(input: EngagementInput): EventBody {
    const event: EventBody = {
      ...input,
      event_id: this.opts.newId(),
      occurred_at: this.opts.now().toISOString(),
    };
    this.queue.push({ event, sending: false });
    if (this.queue.length >= this.opts.eagerAt) void this.flush();
    else this.schedule(this.opts.intervalMs);
    return event;
  }

  /**
   * Sends the waiting events, one batch at a time, until none waits or a
   * batch fails (then a retry is scheduled). Concurrent calls share the run.
   */
  flush(): Promise<void> {
    if (!this.flushing) {
      this.flushing = this.drain().finally(() => {
        this.flushing = null;
      });
    }
    return this.flushing;
  }

  /**
   * The tab is being hidden (maybe closed): every waiting event goes out
   * now with keepalive, in chunks that fit the browser's budget. Events
   * already in flight are left to their own request.
   */
  flushOnHide(): Promise<void> {
    const chunks: Queued[][] = [];
    let chunk: Queued[] = [];
    let bytes = 200;
    for (const item of this.queue) {
      if (item.sending) continue;
      const size = JSON.stringify(item.event).length + 1;
      if (chunk.length && (bytes + size > this.opts.keepaliveBytes || chunk.length >= this.opts.maxBatch)) {
        chunks.push(chunk);
        chunk = [];
        bytes = 200;
      }
      chunk.push(item);
      bytes += size;
    }
    if (chunk.length) chunks.push(chunk);
    return Promise.all(chunks.map((c) => this.sendBatch(c, true))).then(() => undefined);
  }

  /** Stops the timer (logging out drops what is unsent: it was that user's). */
  stop(discard = false): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (discard) this.queue = [];
  }

  private schedule(ms: number): void {
    if (this.opts.intervalMs <= 0 || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, ms);
  }

  private async drain(): Promise<void> {
    for (;;) {
      const batch = this.queue.filter((q) => !q.sending).slice(0, this.opts.maxBatch);
      if (!batch.length) return;
      const ok = await this.sendBatch(batch, false);
      if (!ok) {
        const backoff = Math.min(30_000, 1000 * 2 ** Math.min(this.failures, 5));
        this.schedule(backoff);
        return;
      }
    }
  }

  /** Sends `batch`; true when the gateway took it (or refused one bad event). */
  private async sendBatch(batch: Queued[], keepalive: boolean): Promise<boolean> {
    for (const q of batch) q.sending = true;
    const body: EventsBody = { events: batch.map((q) => q.event) };
    if (this.opts.context) body.context = this.opts.context;
    let result: SendResult;
    try {
      result = await this.opts.send(JSON.stringify(body), { keepalive });
    } catch {
      return this.retryLater(batch);
    }
    if (result.status === 202) {
      this.failures = 0;
      this.remove(batch);
      return true;
    }
    if (result.status === 400) {
      const bad = badEventIndex(result.body);
      const dropped = bad === null ? undefined : batch[bad];
      if (dropped) {
        this.remove([dropped]);
        this.opts.onDropped?.(dropped.event, fieldOf(result.body));
        for (const q of batch) q.sending = false;
        return true;
      }
    }
    return this.retryLater(batch);
  }

  private retryLater(batch: Queued[]): boolean {
    this.failures += 1;
    for (const q of batch) q.sending = false;
    return false;
  }

  private remove(batch: Queued[]): void {
    const gone = new Set(batch);
    this.queue = this.queue.filter((q) => !gone.has(q));
  }
}

function fieldOf(body: unknown): string {
  const field = (body as { error?: { field?: unknown } } | null)?.error?.field;
  return typeof field === "string" ? field : "";
}

/** The `i` of an error naming `events[i]...`, if the body names one. */
export function badEventIndex(body: unknown): number | null {
  const match = /^events\[(\d+)\]/.exec(fieldOf(body));
  return match ? Number(match[1]) : null;
}
