import type { InputHTMLAttributes } from "react";

import type { ApiError } from "../api/client";

/** Whether the server's error names this field (`name`, `name[i]` or `name.x`). */
export function errorFor(error: ApiError | null, name: string): string | undefined {
  const f = error?.field ?? "";
  return f === name || f.startsWith(`${name}[`) || f.startsWith(`${name}.`) ? error?.message : undefined;
}

interface Props extends InputHTMLAttributes<HTMLInputElement> {
  /** The input's id; the error's is `${id}-error`. */
  id: string;
  label: string;
  /** The API's field name this input fills. */
  field: string;
  error: ApiError | null;
}

/** A labelled input with the server's error for its field next to it. */
export function Field({ id, label, field, error, ...input }: Props) {
  const message = errorFor(error, field);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        name={field}
        aria-invalid={message ? true : undefined}
        aria-describedby={message ? `${id}-error` : undefined}
        {...input}
      />
      {message && (
        <p className="field-error" id={`${id}-error`} data-field={field}>
          {message}
        </p>
      )}
    </div>
  );
}

/** The error no field shows (network, or a field this form does not have). */
export function FormError({ error, fields, fallback }: { error: ApiError | null; fields: string[]; fallback: string }) {
  if (!error || fields.some((f) => errorFor(error, f))) return null;
  return (
    <p className="form-error" role="alert">
      {error.message || fallback}
    </p>
  );
}
