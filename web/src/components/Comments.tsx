import { useEffect, useId, useRef, useState, type FormEvent } from "react";

import { api, call, type ApiError, type Schemas } from "../api/client";
import { t } from "../i18n";

type Comment = Schemas["CommentDto"];

/** The comment sheet of one video: the list, and a form whose error sits by its field. */
export function Comments({ videoId, onClose, onPosted }: { videoId: string; onClose: () => void; onPosted: () => void }) {
  const [items, setItems] = useState<Comment[] | null>(null);
  const [loadError, setLoadError] = useState(false);
  const [text, setText] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const input = useRef<HTMLInputElement>(null);

  const load = async () => {
    setLoadError(false);
    const r = await call(() =>
      api.GET("/v1/videos/{video_id}/comments", { params: { path: { video_id: videoId }, query: { page_size: 50 } } }),
    );
    if (r.ok) setItems(r.data.items);
    else setLoadError(true);
  };

  useEffect(() => {
    void load();
    input.current?.focus();
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [videoId]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const r = await call(() =>
      api.POST("/v1/videos/{video_id}/comments", { params: { path: { video_id: videoId } }, body: { text } }),
    );
    setBusy(false);
    if (!r.ok) return setError(r.error);
    setText("");
    setItems((old) => [r.data, ...(old ?? [])]);
    onPosted();
  };

  return (
    <div className="sheet" role="dialog" aria-modal="true" aria-labelledby={`${id}-title`}>
      <div className="sheet-head">
        <h2 id={`${id}-title`}>{t("commentsTitle")}</h2>
        <button type="button" className="icon" aria-label={t("close")} onClick={onClose}>
          ✕
        </button>
      </div>
      {items === null && !loadError && <p role="status">{t("loading")}</p>}
      {loadError && (
        <p role="alert">
          {t("errorGeneric")}{" "}
          <button type="button" className="link" onClick={() => void load()}>
            {t("retry")}
          </button>
        </p>
      )}
      {items && items.length === 0 && <p>{t("noComments")}</p>}
      {items && items.length > 0 && (
        <ul className="comments">
          {items.map((c) => (
            <li key={c.comment_id}>{c.text}</li>
          ))}
        </ul>
      )}
      <form onSubmit={(e) => void submit(e)} className="comment-form" noValidate>
        <div className="field">
          <label htmlFor={`${id}-text`} className="sr-only">
            {t("commentPlaceholder")}
          </label>
          <input
            id={`${id}-text`}
            ref={input}
            name="text"
            value={text}
            placeholder={t("commentPlaceholder")}
            aria-invalid={error?.field === "text" ? true : undefined}
            aria-describedby={error ? `${id}-error` : undefined}
            onChange={(e) => setText(e.target.value)}
          />
          {error && (
            <p className="field-error" id={`${id}-error`} data-field={error.field ?? ""}>
              {error.message || t("errorGeneric")}
            </p>
          )}
        </div>
        <button type="submit" className="primary" disabled={busy}>
          {t("send")}
        </button>
      </form>
    </div>
  );
}
