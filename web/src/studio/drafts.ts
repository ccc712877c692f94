// Drafts: uploads a creator started and has not published (still uploading,
// failed in processing, or ready but not yet published). The gateway has no
// list of a creator's uploads, so the studio remembers their ids per user in
// localStorage (ids and captions only: nothing secret) and asks the gateway
// for each one's state (`GET /v1/uploads/{id}`, the owner only).

export interface Draft {
  upload_id: string;
  caption: string;
  file_name: string;
  created_at: string;
}

const key = (userId: string) => `loop:drafts:${userId}`;
/** Drafts kept at most (the oldest go first). */
const KEEP = 20;

export function listDrafts(userId: string): Draft[] {
  try {
    const raw = JSON.parse(localStorage.getItem(key(userId)) ?? "[]") as unknown;
    return Array.isArray(raw) ? (raw as Draft[]).filter((d) => typeof d?.upload_id === "string") : [];
  } catch {
    return [];
  }
}

function store(userId: string, drafts: Draft[]) {
  try {
    localStorage.setItem(key(userId), JSON.stringify(drafts.slice(0, KEEP)));
  } catch {
    /* storage full or disabled: drafts are a convenience */
  }
}

export function saveDraft(userId: string, draft: Draft) {
  store(userId, [draft, ...listDrafts(userId).filter((d) => d.upload_id !== draft.upload_id)]);
}

export function forgetDraft(userId: string, uploadId: string) {
  store(userId, listDrafts(userId).filter((d) => d.upload_id !== uploadId));
}
