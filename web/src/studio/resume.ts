// Upload resume after a page reload: the tus upload's id is kept in
// sessionStorage (this tab only, gone when it closes) with the identity of
// the file it carries (name, size, type, last modified). The browser cannot
// reopen a file by itself after a reload, so the studio says which file was
// interrupted; when the creator chooses it again, the upload continues at
// the offset the server holds (`GET /v1/uploads/{id}`), not from byte 0.
// A different file (same name, other size or date) never resumes another's
// upload.

export interface FileIdentity {
  name: string;
  size: number;
  type: string;
  lastModified: number;
}

export interface PendingUpload {
  upload_id: string;
  file: FileIdentity;
  caption: string;
  started_at: string;
}

/** The part of Storage used here (sessionStorage in the app; a Map in tests). */
export type KeyValue = Pick<Storage, "getItem" | "setItem" | "removeItem">;

const key = (userId: string) => `loop:upload-resume:${userId}`;
/** Interrupted uploads kept at most (the oldest go first). */
const KEEP = 5;

export const identity = (f: FileIdentity): FileIdentity => ({ name: f.name, size: f.size, type: f.type, lastModified: f.lastModified });

const same = (a: FileIdentity, b: FileIdentity) =>
  a.name === b.name && a.size === b.size && a.type === b.type && a.lastModified === b.lastModified;

export function pendingUploads(store: KeyValue | null, userId: string): PendingUpload[] {
  if (!store) return [];
  try {
    const raw = JSON.parse(store.getItem(key(userId)) ?? "[]") as unknown;
    return Array.isArray(raw) ? (raw as PendingUpload[]).filter((p) => typeof p?.upload_id === "string" && p.file) : [];
  } catch {
    return [];
  }
}

function write(store: KeyValue | null, userId: string, list: PendingUpload[]) {
  try {
    store?.setItem(key(userId), JSON.stringify(list.slice(0, KEEP)));
  } catch {
    /* storage full or disabled: resuming is a convenience */
  }
}

/** Keeps `uploadId` as the upload of `file` until it finishes. */
export function rememberUpload(store: KeyValue | null, userId: string, file: FileIdentity, uploadId: string, caption: string, now = new Date()) {
  const f = identity(file);
  const rest = pendingUploads(store, userId).filter((p) => p.upload_id !== uploadId && !same(p.file, f));
  write(store, userId, [{ upload_id: uploadId, file: f, caption, started_at: now.toISOString() }, ...rest]);
}

/** The unfinished upload of this very file, if one was kept. */
export function findUpload(store: KeyValue | null, userId: string, file: FileIdentity): PendingUpload | undefined {
  const f = identity(file);
  return pendingUploads(store, userId).find((p) => same(p.file, f));
}

/** Forgets an upload (all its bytes arrived, or it was discarded). */
export function forgetUpload(store: KeyValue | null, userId: string, uploadId: string) {
  write(
    store,
    userId,
    pendingUploads(store, userId).filter((p) => p.upload_id !== uploadId),
  );
}

/** sessionStorage when the browser lets scripts use it. */
export function sessionStore(): KeyValue | null {
  try {
    return typeof sessionStorage === "undefined" ? null : sessionStorage;
  } catch {
    return null;
  }
}
