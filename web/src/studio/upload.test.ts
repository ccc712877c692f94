import { describe, expect, it } from "vitest";

import { uploadFile, type UploadTransport } from "./upload";

/** The tus rules that matter: bytes only at the current offset; a request
 * may die before or after the server stored (part of) its chunk. */
class FakeTus implements UploadTransport {
  stored = new Uint8Array(0);
  size = 0;
  plan: ("ok" | "lost-before" | "lost-after-half" | "lost-after-all" | "503")[] = [];
  appends = 0;

  async create(size: number) {
    this.size = size;
    return "0190f0b8-0000-7000-8000-000000000001";
  }
  async offset() {
    return this.stored.length;
  }
  async append(_id: string, offset: number, chunk: Blob, progress: (n: number) => void) {
    this.appends += 1;
    if (offset !== this.stored.length) throw Object.assign(new Error("offset mismatch"), { status: 409 });
    const bytes = new Uint8Array(await chunk.arrayBuffer());
    expect(this.stored.length + bytes.length).toBeLessThanOrEqual(this.size);
    const step = this.plan.shift() ?? "ok";
    if (step === "lost-before") throw new TypeError("Failed to fetch");
    if (step === "503") throw Object.assign(new Error("unavailable"), { status: 503 });
    const keep = step === "lost-after-half" ? bytes.slice(0, bytes.length >> 1) : bytes;
    const next = new Uint8Array(this.stored.length + keep.length);
    next.set(this.stored);
    next.set(keep, this.stored.length);
    this.stored = next;
    progress(keep.length);
    if (step !== "ok") throw new TypeError("network connection lost");
    return this.stored.length;
  }
}

const file = (n: number) => new Blob([Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) % 251)], { type: "video/mp4" });
const noPause = async () => {};

describe("resumable upload", () => {
  it("sends the file in chunks and reports progress to the end", async () => {
    const tus = new FakeTus();
    const seen: number[] = [];
    const f = file(10_000);
    await uploadFile(f, tus, { chunkBytes: 3000, onProgress: (s) => seen.push(s) });
    expect(tus.stored).toEqual(new Uint8Array(await f.arrayBuffer()));
    expect(tus.appends).toBe(4);
    expect(seen.at(-1)).toBe(10_000);
  });

  it("resumes from the server's offset after every kind of failure, byte for byte", async () => {
    const tus = new FakeTus();
    tus.plan = ["ok", "lost-after-half", "lost-before", "503", "lost-after-all", "ok"];
    const f = file(10_000);
    await uploadFile(f, tus, { chunkBytes: 3000, pause: noPause });
    expect(tus.stored).toEqual(new Uint8Array(await f.arrayBuffer()));
  });

  it("gives up after too many failures in a row", async () => {
    const tus = new FakeTus();
    tus.plan = ["lost-before", "lost-before", "lost-before"];
    await expect(uploadFile(file(100), tus, { retries: 2, pause: noPause })).rejects.toThrow("Failed to fetch");
  });
});
