// Small pieces the studio's sections and the filters page share: a call's
// loading/error state, and the server's error shown by the field it names.
import { useCallback, useEffect, useState, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from "react";

import type { ApiError } from "../api/client";
import { errorFor } from "../components/Field";
import { t } from "../i18n";

/** `null` while loading, `"error"` (with the error) when the call failed. */
export type Loaded<T> = { state: "loading" } | { state: "error"; error: ApiError } | { state: "ok"; data: T };

type Result<T> = { ok: true; data: T } | { ok: false; error: ApiError };

/** Runs `load` now and on `reload()`; its result as a [`Loaded`]. */
export function useLoad<T>(load: () => Promise<Result<T>>, deps: unknown[] = []): [Loaded<T>, () => Promise<void>] {
  const [value, setValue] = useState<Loaded<T>>({ state: "loading" });
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const run = useCallback(load, deps);
  const reload = useCallback(async () => {
    const r = await run();
    setValue(r.ok ? { state: "ok", data: r.data } : { state: "error", error: r.error });
  }, [run]);
  useEffect(() => {
    setValue({ state: "loading" });
    void reload();
  }, [reload]);
  return [value, reload];
}

/** "Loading…", or the error with Try again; nothing once loaded. */
export function LoadState({ value, retry }: { value: Loaded<unknown>; retry: () => void }) {
  if (value.state === "loading") return <p role="status">{t("loading")}</p>;
  if (value.state === "error") {
    return (
      <p role="alert" className="form-error">
        {value.error.code === "network" ? t("errorNetwork") : value.error.message || t("errorGeneric")}{" "}
        <button type="button" className="link" onClick={retry}>
          {t("retry")}
        </button>
      </p>
    );
  }
  return null;
}

/** The message of an error for a form (network errors in words). */
export const errorText = (e: ApiError) => (e.code === "network" ? t("errorNetwork") : e.message || t("errorGeneric"));

/** A labelled control of any kind with the server's error for its field below it. */
export function Labelled({
  id,
  label,
  field,
  error,
  hint,
  children,
}: {
  id: string;
  label: string;
  field: string;
  error: ApiError | null;
  hint?: string;
  children: (aria: { id: string; name: string; "aria-invalid"?: true; "aria-describedby"?: string }) => ReactNode;
}) {
  const message = errorFor(error, field);
  const describedBy = [message ? `${id}-error` : "", hint ? `${id}-hint` : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children({ id, name: field, "aria-invalid": message ? true : undefined, "aria-describedby": describedBy })}
      {hint && (
        <p className="muted hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {message && (
        <p className="field-error" id={`${id}-error`} data-field={field}>
          {message}
        </p>
      )}
    </div>
  );
}

export function TextArea(props: TextareaHTMLAttributes<HTMLTextAreaElement>) {
  return <textarea rows={3} {...props} />;
}

export function Select(props: SelectHTMLAttributes<HTMLSelectElement>) {
  return <select {...props} />;
}

/** "a, b c" -> ["a", "b", "c"] (commas or spaces, `#` dropped). */
export const words = (text: string) =>
  text
    .split(/[\s,]+/)
    .map((w) => w.replace(/^#+/, "").trim())
    .filter(Boolean);

/** A dollar amount typed by a person, in cents (NaN when it is not one). */
export const cents = (text: string) => (text.trim() === "" ? Number.NaN : Math.round(Number(text.replace(",", ".")) * 100));

/** Horizontal bars of shares (0..1), each labelled with its key and percentage. */
export function Shares({
  items,
  label,
  testId,
  ages = false,
}: {
  items: { key: string; share: number }[];
  label: string;
  testId?: string;
  /** Age bands: `18_24` reads 18–24. */
  ages?: boolean;
}) {
  if (items.length === 0) return <p className="muted">{t("noDataYet")}</p>;
  return (
    <ul className="shares" aria-label={label} data-testid={testId}>
      {items.map((i) => (
        <li key={i.key}>
          <span className="share-key">{ages ? i.key.replace(/_/g, "–") : i.key}</span>
          <span className="share-bar" aria-hidden="true">
            <span style={{ width: `${Math.round(i.share * 100)}%` }} />
          </span>
          <span className="share-value">{Math.round(i.share * 1000) / 10}%</span>
        </li>
      ))}
    </ul>
  );
}
