// A resumable upload (tus 1.0 through the gateway, `POST /v1/uploads` then
// `PATCH /v1/uploads/{id}` at `Upload-Offset`): the file goes up in chunks;
// when a chunk fails (network, 5xx, or 409 offset mismatch) the client asks
// the server where it stands and resumes from there, so no byte is skipped
// or sent twice into the file whatever the network does.

export interface UploadTransport {
  /** Starts an upload of `size` bytes; its id. */
  create(size: number, contentType: string): Promise<string>;
  /** Bytes the server holds (tus HEAD / GET). */
  offset(uploadId: string): Promise<number>;
  /** Appends `chunk` at `offset`; the server's new offset. Throws on failure. */
  append(uploadId: string, offset: number, chunk: Blob, progress: (sent: number) => void): Promise<number>;
}

export interface UploadOptions {
  chunkBytes?: number;
  /** Failed chunks in a row before giving up. */
  retries?: number;
  onProgress?: (sent: number, total: number) => void;
  /** Waits before a retry (tests pass a no-op). */
  pause?: (attempt: number) => Promise<void>;
  /** An upload of this same file started earlier (e.g. before a page reload): continue it
   * from the offset the server holds instead of starting again. When the server no longer
   * has it (expired, discarded), a new upload starts. */
  resume?: string;
  /** Told the id as soon as the upload exists, so it can be kept for a later resume. */
  onCreated?: (uploadId: string) => void;
}

/** Uploads `file`, resuming after failures; returns the upload id. */
export async function uploadFile(file: Blob, transport: UploadTransport, options: UploadOptions = {}): Promise<string> {
  const chunkBytes = options.chunkBytes ?? 4 * 1024 * 1024;
  const retries = options.retries ?? 5;
  const pause = options.pause ?? ((attempt) => new Promise<void>((r) => setTimeout(r, Math.min(8000, 500 * 2 ** attempt))));
  let id: string | undefined;
  let offset = 0;
  if (options.resume) {
    try {
      offset = await transport.offset(options.resume);
      id = options.resume;
    } catch {
      offset = 0;
    }
  }
  if (id === undefined) {
    id = await transport.create(file.size, file.type || "video/mp4");
    options.onCreated?.(id);
  }
  let failures = 0;
  options.onProgress?.(offset, file.size);
  while (offset < file.size) {
    const chunk = file.slice(offset, offset + chunkBytes);
    try {
      const base = offset;
      offset = await transport.append(id, offset, chunk, (sent) => options.onProgress?.(base + sent, file.size));
      failures = 0;
    } catch (err) {
      failures += 1;
      if (failures > retries) throw err;
      await pause(failures);
      offset = await transport.offset(id);
    }
    options.onProgress?.(offset, file.size);
  }
  return id;
}
