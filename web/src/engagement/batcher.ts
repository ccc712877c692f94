// Engagement reporting: what the viewer watched, skipped and shared, sent
// to `POST /v1/events` in batches exactly as the gateway expects.
//
// Every event gets its `event_id` (a UUID) when it is recorded and keeps it
// for every retry, so a batch whose response was lost can be sent again
// without being counted twice (the gateway and its consumers dedupe by
// event id). An event leaves the queue only when a 202 acknowledged it; a
// network failure, 408, 429 or 5xx puts the whole batch back, in order, and
// the batcher backs off. A 400 names the one bad event (`events[i].field`):
// that event is dropped (it would be refused forever) and the rest go on. A
// 413 halves the batch and sends again at once. Any other refusal (401: the
// session ended; 403, 404, 422, a 400 naming no event) would refuse the same
// batch forever, so it is dropped and reported rather than blocking the
// queue behind it.
// On tab hide the queue is sent with `fetch(..., {keepalive: true})` (sendBeacon
// cannot carry the CSRF header the session cookie needs). Browsers allow 64 KiB
// of keepalive bodies in flight per page in all, counted in bytes: the batcher
// keeps the sum of its keepalive requests in flight under that budget, and
// what does not fit stays queued for the next flush (it goes if the page
// comes back; a page that closes with more than the budget waiting loses the
// rest, which is the browser's limit).

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
  /** Keepalive bytes this batcher may have in flight at once (browsers allow 64 KiB per page). */
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
  /** Events per request now: halves on 413, grows back after each success. */
  private limit: number;
  /** Bytes of keepalive request bodies sent and not yet answered. */
  private keepaliveInFlight = 0;
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
    this.limit = this.opts.maxBatch;
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
   * The tab is being hidden (maybe closed): waiting events go out now with
   * keepalive, in chunks whose bodies together stay within the keepalive
   * budget (with what is already in flight). Events already in flight are
   * left to their own request; events that do not fit wait.
   */
  flushOnHide(): Promise<void> {
    const overhead = byteLength(JSON.stringify({ events: [], context: this.opts.context ?? null }));
    let room = this.opts.keepaliveBytes - this.keepaliveInFlight;
    const chunks: Queued[][] = [];
    let chunk: Queued[] = [];
    let bytes = overhead;
    for (const item of this.queue) {
      if (item.sending) continue;
      const size = byteLength(JSON.stringify(item.event)) + 1;
      if (chunk.length && (bytes + size > room || chunk.length >= this.limit)) {
        chunks.push(chunk);
        room -= bytes;
        chunk = [];
        bytes = overhead;
      }
      if (bytes + size > room) break;
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
      const batch = this.queue.filter((q) => !q.sending).slice(0, this.limit);
      if (!batch.length) return;
      const outcome = await this.sendBatch(batch, false);
      if (outcome === "retry") {
        const backoff = Math.min(30_000, 1000 * 2 ** Math.min(this.failures, 5));
        this.schedule(backoff);
        return;
      }
    }
  }

  /**
   * Sends `batch`. "done": the gateway took it, or refused what it will
   * always refuse (dropped); "split": too large, sent again smaller at once;
   * "retry": try again later, same ids.
   */
  private async sendBatch(batch: Queued[], keepalive: boolean): Promise<"done" | "split" | "retry"> {
    for (const q of batch) q.sending = true;
    const body: EventsBody = { events: batch.map((q) => q.event) };
    if (this.opts.context) body.context = this.opts.context;
    const raw = JSON.stringify(body);
    const bytes = keepalive ? byteLength(raw) : 0;
    this.keepaliveInFlight += bytes;
    let result: SendResult;
    try {
      result = await this.opts.send(raw, { keepalive });
    } catch {
      return this.retryLater(batch);
    } finally {
      this.keepaliveInFlight -= bytes;
    }
    const status = result.status;
    if (status === 202) {
      this.failures = 0;
      this.limit = Math.min(this.opts.maxBatch, this.limit * 2);
      this.remove(batch);
      return "done";
    }
    if (status === 408 || status === 425 || status === 429 || status >= 500) return this.retryLater(batch);
    if (status === 413 && batch.length > 1) {
      this.limit = Math.max(1, Math.floor(batch.length / 2));
      for (const q of batch) q.sending = false;
      return "split";
    }
    if (status === 400) {
      const bad = badEventIndex(result.body);
      const dropped = bad === null ? undefined : batch[bad];
      if (dropped) {
        this.remove([dropped]);
        this.opts.onDropped?.(dropped.event, fieldOf(result.body));
        for (const q of batch) q.sending = false;
        return "done";
      }
    }
    // Refused for good (401, 403, 404, 413 of one event, 422, a 400 naming
    // no event): sending it again would be refused again and hold up the queue.
    this.remove(batch);
    const reason = fieldOf(result.body) || `status ${status}`;
    for (const q of batch) this.opts.onDropped?.(q.event, reason);
    return "done";
  }

  private retryLater(batch: Queued[]): "retry" {
    this.failures += 1;
    for (const q of batch) q.sending = false;
    return "retry";
  }

  private remove(batch: Queued[]): void {
    const gone = new Set(batch);
    this.queue = this.queue.filter((q) => !gone.has(q));
  }
}

const encoder = new TextEncoder();

/** Size in bytes of `text` as it goes over the wire (UTF-8). */
function byteLength(text: string): number {
  return encoder.encode(text).length;
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
