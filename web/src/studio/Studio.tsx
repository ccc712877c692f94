import { useId, useState, type FormEvent } from "react";

import { api, call, CSRF_HEADER, type ApiError, type Schemas, type User } from "../api/client";
import { t } from "../i18n";
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
        else reject(Object.assign(new Error(xhr.responseText), { status: xhr.status }));
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
  | { step: "failed"; message: string; field?: string };

/** Creator studio: upload a video with progress, wait for processing, publish. */
export function Studio({ me }: { me: User }) {
  const [file, setFile] = useState<File | null>(null);
  const [caption, setCaption] = useState("");
  const [stage, setStage] = useState<Stage>({ step: "idle" });
  const id = useId();

  if (me.role !== "creator") {
    return (
      <main className="studio">
        <h1>{t("studio")}</h1>
        <p>{t("studioCreatorsOnly")}</p>
      </main>
    );
  }

  const fail = (e: unknown) => {
    const err = e as Partial<ApiError> & { message?: string };
    setStage({ step: "failed", message: err.message || t("errorGeneric"), field: err.field });
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!file) return setStage({ step: "failed", message: t("chooseFile"), field: "file" });
    let uploadId: string;
    try {
      uploadId = await uploadFile(file, transport, {
        onProgress: (sent, total) => setStage({ step: "uploading", sent, total }),
      });
    } catch (err) {
      return fail(err);
    }
    setStage({ step: "processing" });
    for (;;) {
      const r = await call(() => api.GET("/v1/uploads/{upload_id}", { params: { path: { upload_id: uploadId } } }));
      if (!r.ok) return fail(r.error);
      if (r.data.state === "ready") break;
      if (r.data.state !== "processing" && r.data.state !== "uploading") {
        return fail({ message: r.data.failure_reason || r.data.state });
      }
      await new Promise((done) => setTimeout(done, 1000));
    }
    const published = await call(() => api.POST("/v1/videos", { body: { caption, upload_id: uploadId } }));
    if (!published.ok) return fail(published.error);
    setStage({ step: "published", videoId: published.data.video_id });
  };

  const busy = stage.step === "uploading" || stage.step === "processing";
  const fieldError = (name: string) => (stage.step === "failed" && stage.field === name ? stage.message : undefined);
  return (
    <main className="studio">
      <h1>{t("studio")}</h1>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <div className="field">
          <label htmlFor={`${id}-file`}>{t("videoFile")}</label>
          <input
            id={`${id}-file`}
            type="file"
            accept="video/*"
            aria-invalid={fieldError("file") ? true : undefined}
            onChange={(e) => setFile(e.target.files?.[0] ?? null)}
          />
          {fieldError("file") && <p className="field-error" data-field="file">{fieldError("file")}</p>}
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
        {stage.step === "failed" && !stage.field && <p role="alert" className="form-error">{stage.message}</p>}
        <button type="submit" className="primary" disabled={busy}>
          {t("publish")}
        </button>
      </form>
    </main>
  );
}
