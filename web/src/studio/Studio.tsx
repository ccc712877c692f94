import { useEffect, useId, useState, type FormEvent } from "react";

import { StudioNav } from "../creator/StudioNav";
import { api, call, CSRF_HEADER, toApiError, type ApiError, type Schemas, type User } from "../api/client";
import { errorFor } from "../components/Field";
import { t } from "../i18n";
import type { MessageKey } from "../i18n/messages";
import { GoLive } from "../live/Live";
import { Link } from "../router";
import { money, useBalance } from "../wallet/Wallet";
import { forgetDraft, listDrafts, saveDraft, type Draft } from "./drafts";
import { findUpload, forgetUpload, pendingUploads, rememberUpload, sessionStore } from "./resume";
import { uploadFile, type UploadTransport } from "./upload";

/** The gateway's tus endpoints, with upload progress from XMLHttpRequest. */
const transport: UploadTransport = {
  async create(size, contentType) {
    // The server names the types it takes (and refuses others, naming the field).
    const content_type = contentType as Schemas["CreateUploadBody"]["content_type"];
    const r = await call(() => api.POST("/v1/uploads", { body: { size_bytes: size, content_type } }));
    if (!r.ok) throw r.error;
    return r.data.upload_id;
  },
  async offset(uploadId) {
    const r = await call(() => api.GET("/v1/uploads/{upload_id}", { params: { path: { upload_id: uploadId } } }));
    if (!r.ok) throw r.error;
    return r.data.offset;
  },
  append(uploadId, offset, chunk, progress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PATCH", `/v1/uploads/${encodeURIComponent(uploadId)}`);
      xhr.setRequestHeader("Tus-Resumable", "1.0.0");
      xhr.setRequestHeader("Upload-Offset", String(offset));
      xhr.setRequestHeader("Content-Type", "application/offset+octet-stream");
      for (const [k, v] of Object.entries(CSRF_HEADER)) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => progress(e.loaded);
      xhr.onerror = () => reject(new TypeError("network error"));
      xhr.onload = () => {
        const next = Number(xhr.getResponseHeader("Upload-Offset"));
        if (xhr.status === 204 && Number.isFinite(next)) resolve(next);
        else {
          let body: unknown;
          try {
            body = JSON.parse(xhr.responseText);
          } catch {
            body = undefined;
          }
          reject({ ...toApiError(body), status: xhr.status });
        }
      };
      xhr.send(chunk);
    });
  },
};

type Stage =
  | { step: "idle" }
  | { step: "uploading"; sent: number; total: number }
  | { step: "processing" }
  | { step: "published"; videoId: string }
  | { step: "failed"; error: ApiError };

type Upload = Schemas["UploadDto"];

const asError = (e: unknown): ApiError => {
  const err = e as Partial<ApiError> & { message?: string; status?: number };
  return { code: err.code ?? "upload", message: err.message || t("errorGeneric"), field: err.field, status: err.status ?? 0 };
};

/** Polls an upload until the media service is done with it (ready, failed...). */
async function processed(uploadId: string): Promise<{ ok: true; upload: Upload } | { ok: false; error: ApiError }> {
  for (;;) {
    const r = await call(() => api.GET("/v1/uploads/{upload_id}", { params: { path: { upload_id: uploadId } } }));
    if (!r.ok) return r;
    if (r.data.state !== "processing" && r.data.state !== "uploading") return { ok: true, upload: r.data };
    await new Promise((done) => setTimeout(done, 1000));
  }
}

/** Creator studio: upload and publish, drafts of uploads that did not make it, diamonds, go LIVE. */
export function Studio({ me }: { me: User }) {
  useEffect(() => {
    document.title = `${t("studio")} · Loop`;
  }, []);
  if (me.role !== "creator") {
    return (
      <main className="page studio">
        <h1>{t("studio")}</h1>
        <p>{t("studioCreatorsOnly")}</p>
      </main>
    );
  }
  return (
    <main className="page studio">
      <h1>{t("studio")}</h1>
      <StudioNav current="upload" />
      <p>
        <Link href={`/@${me.handle}`}>{t("myProfile")}</Link>
      </p>
      <UploadForm me={me} />
      <Diamonds />
      <GoLive />
    </main>
  );
}

function UploadForm({ me }: { me: User }) {
  const [file, setFile] = useState<File | null>(null);
  const [caption, setCaption] = useState("");
  const [stage, setStage] = useState<Stage>({ step: "idle" });
  const [drafts, setDrafts] = useState<Draft[]>(() => listDrafts(me.user_id));
  const [interrupted, setInterrupted] = useState<{ file: string; percent: number } | null>(null);
  const [resuming, setResuming] = useState<{ file: string; percent: number } | null>(null);
  const id = useId();

  // An upload this tab started before a reload: say which file to choose again to resume it.
  useEffect(() => {
    const store = sessionStore();
    const last = pendingUploads(store, me.user_id)[0];
    if (!last) return;
    void call(() => api.GET("/v1/uploads/{upload_id}", { params: { path: { upload_id: last.upload_id } } })).then((r) => {
      if (r.ok && r.data.state === "uploading") {
        setInterrupted({ file: last.file.name, percent: Math.floor((100 * r.data.offset) / Math.max(1, last.file.size)) });
      } else if (r.ok || r.error.status === 404) forgetUpload(store, me.user_id, last.upload_id);
    });
  }, [me.user_id]);

  const choose = (f: File | null) => {
    setFile(f);
    setResuming(null);
    const prior = f ? findUpload(sessionStore(), me.user_id, f) : undefined;
    if (!f || !prior) return;
    if (!caption) setCaption(prior.caption);
    void call(() => api.GET("/v1/uploads/{upload_id}", { params: { path: { upload_id: prior.upload_id } } })).then((r) => {
      if (r.ok && r.data.state === "uploading") setResuming({ file: f.name, percent: Math.floor((100 * r.data.offset) / Math.max(1, f.size)) });
    });
  };

  const fail = (e: unknown) => setStage({ step: "failed", error: asError(e) });

  const publish = async (uploadId: string, text: string) => {
    const published = await call(() => api.POST("/v1/videos", { body: { caption: text, upload_id: uploadId } }));
    if (!published.ok) return fail(published.error);
    forgetDraft(me.user_id, uploadId);
    setDrafts(listDrafts(me.user_id));
    setStage({ step: "published", videoId: published.data.video_id });
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!file) return fail({ message: t("chooseFile"), field: "file" });
    let uploadId: string;
    // Remembered from its creation: a failed upload stays as a draft with its reason.
    const remembering: UploadTransport = {
      ...transport,
      async create(size, type) {
        const created = await transport.create(size, type);
        saveDraft(me.user_id, { upload_id: created, caption, file_name: file.name, created_at: new Date().toISOString() });
        setDrafts(listDrafts(me.user_id));
        return created;
      },
    };
    const store = sessionStore();
    try {
      uploadId = await uploadFile(file, remembering, {
        onProgress: (sent, total) => setStage({ step: "uploading", sent, total }),
        // The same file as an upload interrupted by a reload: continue it at the server's offset.
        resume: findUpload(store, me.user_id, file)?.upload_id,
        onCreated: (created) => rememberUpload(store, me.user_id, file, created, caption),
      });
    } catch (err) {
      return fail(err);
    }
    forgetUpload(store, me.user_id, uploadId);
    setInterrupted(null);
    setResuming(null);
    setStage({ step: "processing" });
    const done = await processed(uploadId);
    if (!done.ok) return fail(done.error);
    if (done.upload.state !== "ready") {
      setDrafts(listDrafts(me.user_id));
      return fail({ message: t("uploadFailed", { reason: done.upload.failure_reason || done.upload.state }) });
    }
    await publish(uploadId, caption);
  };

  const busy = stage.step === "uploading" || stage.step === "processing";
  const error = stage.step === "failed" ? stage.error : null;
  const fieldError = (name: string) => errorFor(error, name);
  return (
    <>
      <form onSubmit={(e) => void submit(e)} noValidate aria-labelledby={`${id}-title`}>
        <h2 id={`${id}-title`}>{t("upload")}</h2>
        <div className="field">
          <label htmlFor={`${id}-file`}>{t("videoFile")}</label>
          <input
            id={`${id}-file`}
            type="file"
            accept="video/*"
            aria-invalid={fieldError("file") || fieldError("content_type") || fieldError("size_bytes") ? true : undefined}
            aria-describedby={fieldError("file") || fieldError("content_type") || fieldError("size_bytes") ? `${id}-file-error` : undefined}
            onChange={(e) => choose(e.target.files?.[0] ?? null)}
          />
          {interrupted && !resuming && (
            <p className="muted" data-testid="resume-hint">
              {t("resumeHint", interrupted)}
            </p>
          )}
          {resuming && (
            <p role="status" data-testid="resuming">
              {t("resuming", resuming)}
            </p>
          )}
          {(fieldError("file") || fieldError("content_type") || fieldError("size_bytes")) && (
            <p className="field-error" id={`${id}-file-error`} data-field={error?.field}>
              {fieldError("file") || fieldError("content_type") || fieldError("size_bytes")}
            </p>
          )}
        </div>
        <div className="field">
          <label htmlFor={`${id}-caption`}>{t("caption")}</label>
          <input
            id={`${id}-caption`}
            value={caption}
            aria-invalid={fieldError("caption") ? true : undefined}
            aria-describedby={fieldError("caption") ? `${id}-caption-error` : undefined}
            onChange={(e) => setCaption(e.target.value)}
          />
          {fieldError("caption") && (
            <p className="field-error" id={`${id}-caption-error`} data-field="caption">
              {fieldError("caption")}
            </p>
          )}
        </div>
        {stage.step === "uploading" && (
          <label className="progress">
            {t("uploading")}
            <progress max={stage.total} value={stage.sent} />
          </label>
        )}
        {stage.step === "processing" && <p role="status">{t("processing")}</p>}
        {stage.step === "published" && <p role="status">{t("published")}</p>}
        {error && !["file", "content_type", "size_bytes", "caption"].some((f) => fieldError(f)) && (
          <p role="alert" className="form-error">
            {error.message}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {t("publish")}
        </button>
      </form>
      <Drafts
        drafts={drafts}
        onPublish={(d) => void publish(d.upload_id, d.caption)}
        onDiscard={(d) => {
          void call(() => api.DELETE("/v1/uploads/{upload_id}", { params: { path: { upload_id: d.upload_id } } }));
          forgetDraft(me.user_id, d.upload_id);
          forgetUpload(sessionStore(), me.user_id, d.upload_id);
          setDrafts(listDrafts(me.user_id));
        }}
      />
    </>
  );
}

/** Uploads that were not published: each with its state, and its reason when processing failed. */
function Drafts({ drafts, onPublish, onDiscard }: { drafts: Draft[]; onPublish: (d: Draft) => void; onDiscard: (d: Draft) => void }) {
  const [states, setStates] = useState<Record<string, Upload | "error">>({});
  const key = drafts.map((d) => d.upload_id).join(",");
  useEffect(() => {
    for (const d of drafts) {
      void call(() => api.GET("/v1/uploads/{upload_id}", { params: { path: { upload_id: d.upload_id } } })).then((r) =>
        setStates((s) => ({ ...s, [d.upload_id]: r.ok ? r.data : "error" })),
      );
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  if (drafts.length === 0) return null;
  return (
    <section aria-labelledby="drafts-title">
      <h2 id="drafts-title">{t("drafts")}</h2>
      <ul className="drafts" data-testid="drafts">
        {drafts.map((d) => {
          const u = states[d.upload_id];
          return (
            <li key={d.upload_id} data-state={u && u !== "error" ? u.state : ""}>
              <strong>{d.caption || d.file_name}</strong>{" "}
              {u === undefined && <span role="status">{t("loading")}</span>}
              {u === "error" && <span className="muted">{t("draftGone")}</span>}
              {u && u !== "error" && u.state === "failed" && (
                <span className="form-error">{t("uploadFailed", { reason: u.failure_reason || u.state })}</span>
              )}
              {u && u !== "error" && u.state !== "failed" && <span className="muted">{t(STATE_LABELS[u.state] ?? "uploadStateOther")}</span>}
              {u && u !== "error" && u.state === "ready" && (
                <button type="button" className="link" onClick={() => onPublish(d)}>
                  {t("publishDraft")}
                </button>
              )}
              <button type="button" className="link" onClick={() => onDiscard(d)}>
                {t("discard")}
              </button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

const STATE_LABELS: Record<string, MessageKey> = {
  uploading: "uploadStateUploading",
  processing: "processing",
  ready: "uploadStateReady",
  expired: "uploadStateExpired",
  cancelled: "uploadStateExpired",
};

/** Diamonds from gifts: what is available and what it is worth. */
function Diamonds() {
  const [balance, reload] = useBalance();
  return (
    <section aria-labelledby="diamonds-title">
      <h2 id="diamonds-title">{t("diamonds")}</h2>
      {balance === null && <p role="status">{t("loading")}</p>}
      {balance === "error" && (
        <p role="alert">
          {t("errorGeneric")}{" "}
          <button type="button" className="link" onClick={() => void reload()}>
            {t("retry")}
          </button>
        </p>
      )}
      {balance && balance !== "error" && (
        <p>
          <strong data-testid="diamonds">{balance.diamonds.available}</strong> {t("diamondsWorth", { value: money(balance.diamonds_cash_value_cents) })}{" "}
          <button type="button" className="link" onClick={() => void reload()}>
            {t("reload")}
          </button>
        </p>
      )}
    </section>
  );
}
