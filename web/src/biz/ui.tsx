// Small pieces the advertiser console, the admin review queues and the shop
// share: a loaded value with its loading and error states, a retry line,
// an action's pending/error state, and number helpers.
import { useCallback, useEffect, useRef, useState, type ReactNode } from "react";

import type { ApiError } from "../api/client";
import { lang, t } from "../i18n";

export type Loaded<T> = T | null | "error";

type Result<T> = Promise<{ ok: true; data: T } | { ok: false; error: ApiError }>;

/** Loads `run()` on mount and when `deps` change; `reload` runs it again (the old value stays while it runs). */
export function useLoad<T>(run: () => Result<T>, deps: unknown[] = []): [Loaded<T>, () => Promise<void>] {
  const [value, setValue] = useState<Loaded<T>>(null);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const load = useCallback(async () => {
    const r = await run();
    setValue(r.ok ? r.data : "error");
  }, deps);
  useEffect(() => {
    setValue(null);
    void load();
  }, [load]);
  return [value, load];
}

/** The loading line, or the error line with Try again, for a value not loaded yet. */
export function Pending({ value, retry }: { value: Loaded<unknown>; retry: () => void }) {
  if (value === null) return <p role="status">{t("loading")}</p>;
  if (value === "error")
    return (
      <p role="alert">
        {t("errorGeneric")}{" "}
        <button type="button" className="link" onClick={retry}>
          {t("retry")}
        </button>
      </p>
    );
  return null;
}

/** Whether `value` is loaded (not loading, not failed). */
export const ready = <T,>(value: Loaded<T>): value is T => value !== null && value !== "error";

/** An action's state: busy while it runs, its error (for fields), and a done message. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [done, setDone] = useState("");
  const last = useRef<ApiError | null>(null);
  /** Runs a call (made with `call`); its data, or null after showing its error. */
  const run = async <T,>(work: () => Result<T>, ok: (data: T) => string | void = () => ""): Promise<T | null> => {
    setBusy(true);
    setError(null);
    setDone("");
    const r = await work();
    setBusy(false);
    last.current = r.ok ? null : r.error;
    if (!r.ok) {
      setError(r.error);
      return null;
    }
    setDone(ok(r.data) ?? "");
    return r.data;
  };
  return { busy, error, setError, done, setDone, run, lastError: () => last.current };
}

/** Dollars typed by a person as whole cents (NaN stays NaN, sent as 0: the server names the field). */
export const cents = (dollars: string) => {
  const n = Math.round(Number.parseFloat(dollars.replace(",", ".")) * 100);
  return Number.isFinite(n) ? n : 0;
};
/** A whole number typed by a person (0 when it is not one: the server names the field). */
export const whole = (text: string) => {
  const n = Number.parseInt(text, 10);
  return Number.isFinite(n) ? n : 0;
};
export const list = (text: string) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
export const when = (at?: string | null) => (at ? new Date(at).toLocaleString(lang) : "");
export const label = (value: string) => value.replace(/_/g, " ");
export const key = () => crypto.randomUUID();

/** A status line for a finished action. */
export function Done({ text }: { text: string }) {
  return text ? <p role="status">{text}</p> : null;
}

/** A titled section. */
export function Section({ id, title, children }: { id: string; title: string; children: ReactNode }) {
  return (
    <section aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}
