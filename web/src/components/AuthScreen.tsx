import { useId, useState, type FormEvent } from "react";

import { api, call, type ApiError, type User } from "../api/client";
import { lang, t } from "../i18n";
import type { MessageKey } from "../i18n/messages";

type Mode = "signup" | "login";

interface Field {
  name: string;
  label: MessageKey;
  type: string;
  autoComplete: string;
  signupOnly?: boolean;
  initial?: string;
}

const FIELDS: Field[] = [
  { name: "handle", label: "handle", type: "text", autoComplete: "username" },
  { name: "password", label: "password", type: "password", autoComplete: "current-password" },
  { name: "birth_date", label: "birthDate", type: "date", autoComplete: "bday", signupOnly: true },
  { name: "country", label: "country", type: "text", autoComplete: "country", signupOnly: true, initial: "US" },
  { name: "language", label: "language", type: "text", autoComplete: "off", signupOnly: true, initial: lang },
  { name: "interests", label: "interests", type: "text", autoComplete: "off", signupOnly: true },
];

/** Sign up or log in; the server's field errors are shown next to their field. */
export function AuthScreen({ onSignedIn }: { onSignedIn: (user: User) => void }) {
  const [mode, setMode] = useState<Mode>("signup");
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(FIELDS.map((f) => [f.name, f.initial ?? ""])),
  );
  const [role, setRole] = useState<"viewer" | "creator" | "advertiser">("viewer");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const v = values;
    const result =
      mode === "signup"
        ? await call(() =>
            api.POST("/v1/auth/signup", {
              body: {
                handle: v.handle ?? "",
                password: v.password ?? "",
                birth_date: v.birth_date ?? "",
                country: (v.country ?? "").toUpperCase(),
                language: v.language ?? "",
                role,
                interests: (v.interests ?? "")
                  .split(",")
                  .map((s) => s.trim().toLowerCase())
                  .filter(Boolean),
              },
            }),
          )
        : await call(() => api.POST("/v1/auth/login", { body: { handle: v.handle ?? "", password: v.password ?? "" } }));
    setBusy(false);
    if (result.ok) onSignedIn(result.data.user);
    else setError(result.error);
  };

  const fieldError = (name: string) => {
    const f = error?.field ?? "";
    return f === name || f.startsWith(`${name}[`) || f.startsWith(`${name}.`) ? error?.message : undefined;
  };
  const shownByField = FIELDS.some((f) => fieldError(f.name));

  return (
    <main className="auth">
      <h1 className="logo">{t("appName")}</h1>
      <form onSubmit={(e) => void submit(e)} noValidate aria-labelledby={`${id}-title`}>
        <h2 id={`${id}-title`}>{mode === "signup" ? t("signUp") : t("logIn")}</h2>
        {FIELDS.filter((f) => mode === "signup" || !f.signupOnly).map((f) => {
          const message = fieldError(f.name);
          const inputId = `${id}-${f.name}`;
          return (
            <div className="field" key={f.name}>
              <label htmlFor={inputId}>{t(f.label)}</label>
              <input
                id={inputId}
                name={f.name}
                type={f.type}
                autoComplete={mode === "signup" && f.name === "password" ? "new-password" : f.autoComplete}
                value={values[f.name] ?? ""}
                aria-invalid={message ? true : undefined}
                aria-describedby={message ? `${inputId}-error` : undefined}
                onChange={(e) => setValues({ ...values, [f.name]: e.target.value })}
              />
              {message && (
                <p className="field-error" id={`${inputId}-error`} data-field={f.name}>
                  {message}
                </p>
              )}
            </div>
          );
        })}
        {mode === "signup" && (
          <fieldset className="field roles">
            <legend>{t("role")}</legend>
            {(["viewer", "creator", "advertiser"] as const).map((r) => (
              <label key={r}>
                <input type="radio" name="role" value={r} checked={role === r} onChange={() => setRole(r)} />{" "}
                {t(r === "viewer" ? "roleViewer" : r === "creator" ? "roleCreator" : "roleAdvertiser")}
              </label>
            ))}
          </fieldset>
        )}
        {error && !shownByField && (
          <p className="form-error" role="alert">
            {error.message || (error.code === "network" ? t("errorNetwork") : t("errorGeneric"))}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? t("submitting") : mode === "signup" ? t("signUp") : t("logIn")}
        </button>
        <button
          type="button"
          className="link"
          onClick={() => {
            setError(null);
            setMode(mode === "signup" ? "login" : "signup");
          }}
        >
          {mode === "signup" ? t("switchToLogIn") : t("switchToSignUp")}
        </button>
      </form>
    </main>
  );
}
