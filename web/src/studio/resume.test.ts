import { describe, expect, it } from "vitest";

import { findUpload, forgetUpload, pendingUploads, rememberUpload, type KeyValue } from "./resume";
import { uploadFile, type UploadTransport } from "./upload";

/** sessionStorage as far as the studio uses it; it survives a "reload" (a new page on the same tab). */
class Session implements KeyValue {
  data = new Map<string, string>();
  getItem(k: string) {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.data.set(k, v);
  }
  removeItem(k: string) {
    this.data.delete(k);
  }
}

/** A tus server: bytes only at its offset; uploads it no longer has answer 404. */
class Server implements UploadTransport {
  uploads = new Map<string, { size: number; bytes: Uint8Array }>();
  created = 0;
  appended: { id: string; offset: number; length: number }[] = [];
  /** The connection dies (the page is reloaded) once this many bytes of the upload arrived. */
  dieAt = Number.POSITIVE_INFINITY;

  async create(size: number) {
    this.created += 1;
    const id = `0190f0b8-0000-7000-8000-00000000000${this.created}`;
    this.uploads.set(id, { size, bytes: new Uint8Array(0) });
    return id;
  }
  async offset(id: string) {
    const u = this.uploads.get(id);
    if (!u) throw Object.assign(new Error("upload not found"), { status: 404 });
    return u.bytes.length;
  }
  async append(id: string, offset: number, chunk: Blob) {
    const u = this.uploads.get(id)!;
    if (offset !== u.bytes.length) throw Object.assign(new Error("offset mismatch"), { status: 409 });
    let bytes = new Uint8Array(await chunk.arrayBuffer());
    const dies = u.bytes.length + bytes.length > this.dieAt;
    if (dies) bytes = bytes.slice(0, this.dieAt - u.bytes.length);
    const next = new Uint8Array(u.bytes.length + bytes.length);
    next.set(u.bytes);
    next.set(bytes, u.bytes.length);
    u.bytes = next;
    this.appended.push({ id, offset, length: bytes.length });
    if (dies) throw new TypeError("the page went away");
    return u.bytes.length;
  }
}

const USER = "0190f0b8-aaaa-7000-8000-000000000001";
const video = (n: number, name = "clip.mp4", lastModified = 1_700_000_000_000) =>
  new File([Uint8Array.from({ length: n }, (_, i) => (i * 13 + 5) % 251)], name, { type: "video/mp4", lastModified });
const noPause = async () => {};

/** The studio's upload: resumes the kept upload of this file, keeps a new one, forgets it when done. */
async function studioUpload(server: Server, session: Session, file: File, caption = "hello") {
  const id = await uploadFile(file, server, {
    chunkBytes: 1000,
    retries: 0,
    pause: noPause,
    resume: findUpload(session, USER, file)?.upload_id,
    onCreated: (created) => rememberUpload(session, USER, file, created, caption),
  });
  forgetUpload(session, USER, id);
  return id;
}

describe("upload resume after a page reload", () => {
  it("continues the same upload at the server's offset when the same file is chosen again", async () => {
    const server = new Server();
    const session = new Session();
    const file = video(5_500);
    server.dieAt = 2_300;
    // The first page: the upload starts and dies part-way (the reload), its id kept in the session.
    await expect(studioUpload(server, session, file)).rejects.toThrow();
    const kept = pendingUploads(session, USER);
    expect(kept).toHaveLength(1);
    expect(kept[0]!.file).toEqual({ name: "clip.mp4", size: 5_500, type: "video/mp4", lastModified: 1_700_000_000_000 });
    const id = kept[0]!.upload_id;
    expect(await server.offset(id)).toBe(2_300);

    // The new page: the creator chooses the same file (a new File object with the same identity).
    server.dieAt = Number.POSITIVE_INFINITY;
    server.appended = [];
    const again = video(5_500);
    expect(await studioUpload(server, session, again)).toBe(id);
    expect(server.created).toBe(1);
    // It went on from byte 2300: nothing before it was sent again.
    expect(server.appended[0]).toEqual({ id, offset: 2_300, length: 1_000 });
    expect(server.appended.reduce((n, a) => n + a.length, 0)).toBe(5_500 - 2_300);
    expect(server.uploads.get(id)!.bytes).toEqual(new Uint8Array(await file.arrayBuffer()));
    // Done: nothing left to resume.
    expect(pendingUploads(session, USER)).toEqual([]);
  });

  it("never resumes a different file's upload (same name, another size or date)", async () => {
    const session = new Session();
    rememberUpload(session, USER, video(5_500), "0190f0b8-0000-7000-8000-0000000000aa", "");
    expect(findUpload(session, USER, video(5_501))).toBeUndefined();
    expect(findUpload(session, USER, video(5_500, "clip.mp4", 1_700_000_000_001))).toBeUndefined();
    expect(findUpload(session, USER, video(5_500, "other.mp4"))).toBeUndefined();
    expect(findUpload(session, USER, video(5_500))?.upload_id).toBe("0190f0b8-0000-7000-8000-0000000000aa");
    // Another user of the same tab has none of it.
    expect(findUpload(session, "0190f0b8-bbbb-7000-8000-000000000002", video(5_500))).toBeUndefined();
  });

  it("starts a new upload when the server no longer has the kept one", async () => {
    const server = new Server();
    const session = new Session();
    const file = video(2_500);
    rememberUpload(session, USER, file, "0190f0b8-0000-7000-8000-0000000000ff", "");
    const id = await studioUpload(server, session, file);
    expect(id).not.toBe("0190f0b8-0000-7000-8000-0000000000ff");
    expect(server.created).toBe(1);
    expect(server.uploads.get(id)!.bytes).toEqual(new Uint8Array(await file.arrayBuffer()));
    expect(pendingUploads(session, USER)).toEqual([]);
  });

  it("a file chosen again after all its bytes arrived finishes without sending any", async () => {
    const server = new Server();
    const session = new Session();
    const file = video(2_000);
    const id = await server.create(2_000);
    await server.append(id, 0, file);
    rememberUpload(session, USER, file, id, "");
    server.appended = [];
    expect(await studioUpload(server, session, file)).toBe(id);
    expect(server.appended).toEqual([]);
  });

  it("survives storage that is full, disabled or holds garbage", () => {
    const broken: KeyValue = {
      getItem: () => "{not json",
      setItem: () => {
        throw new Error("QuotaExceededError");
      },
      removeItem: () => {},
    };
    expect(pendingUploads(broken, USER)).toEqual([]);
    expect(() => rememberUpload(broken, USER, video(10), "x", "")).not.toThrow();
    expect(findUpload(null, USER, video(10))).toBeUndefined();
  });
});
