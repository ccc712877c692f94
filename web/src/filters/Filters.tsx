// The viewer's feed filters (`GET/PUT /v1/feed/filters`): keywords whose
// videos (caption or hashtags containing them) never reach For You, and the
// creators and sounds hidden by "Not interested", each of which can be shown
// again. Every change saves the whole list at once; the server's answer is
// what the page shows, and a refused change (e.g. a keyword over 50
// characters) leaves the saved list as it was, with the error by the field.
import { useEffect, useId, useState, type FormEvent } from "react";

import { api, call, type ApiError, type Schemas } from "../api/client";
import { errorFor } from "../components/Field";
import { errorText, LoadState, useLoad } from "../creator/common";
import { lang, t } from "../i18n";
import { Link } from "../router";

type Filters = Schemas["FiltersDto"];
type Body = Schemas["FiltersBody"];

export function Filters() {
  const [filters, reload] = useLoad(() => call(() => api.GET("/v1/feed/filters")));
  const [saved, setSaved] = useState<Filters | null>(null);
  const [keyword, setKeyword] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState("");
  const id = useId();

  useEffect(() => {
    document.title = `${t("feedFilters")} · Loop`;
  }, []);
  useEffect(() => {
    if (filters.state === "ok") setSaved(filters.data);
  }, [filters]);

  const saveOrShow = async (body: Body, done: string) => {
    setBusy(true);
    setError(null);
    setNotice("");
    const r = await call(() => api.PUT("/v1/feed/filters", { body }));
    setBusy(false);
    if (!r.ok) {
      setError(r.error);
      return false;
    }
    setSaved(r.data);
    setNotice(done);
    return true;
  };

  const current = saved?.keywords ?? [];
  const add = async (e: FormEvent) => {
    e.preventDefault();
    const word = keyword.trim().replace(/^#+/, "");
    if (current.some((k) => k.toLowerCase() === word.toLowerCase()) && word) {
      setKeyword("");
      return;
    }
    // An empty keyword goes to the server too: its refusal names the field.
    if (await saveOrShow({ keywords: [...current, word] }, t("keywordAdded", { keyword: word }))) setKeyword("");
  };
  const remove = (word: string) =>
    void saveOrShow({ keywords: current.filter((k) => k !== word) }, t("keywordRemoved", { keyword: word }));

  const keywordError = errorFor(error, "keywords");
  return (
    <main className="page filters">
      <h1>{t("feedFilters")}</h1>
      <p className="muted">{t("feedFiltersNote")}</p>
      <LoadState value={filters} retry={() => void reload()} />
      {saved && (
        <>
          <section aria-labelledby={`${id}-kw`}>
            <h2 id={`${id}-kw`}>{t("keywords")}</h2>
            <form onSubmit={(e) => void add(e)} noValidate className="row-form">
              <div className="field">
                <label htmlFor={`${id}-keyword`}>{t("addKeyword")}</label>
                <input
                  id={`${id}-keyword`}
                  name="keywords"
                  value={keyword}
                  autoComplete="off"
                  aria-invalid={keywordError ? true : undefined}
                  aria-describedby={keywordError ? `${id}-keyword-error` : undefined}
                  onChange={(e) => setKeyword(e.target.value)}
                />
                {keywordError && (
                  <p className="field-error" id={`${id}-keyword-error`} data-field="keywords">
                    {keywordError}
                  </p>
                )}
              </div>
              <button type="submit" className="primary" disabled={busy}>
                {t("add")}
              </button>
            </form>
            {error && !keywordError && (
              <p className="form-error" role="alert">
                {errorText(error)}
              </p>
            )}
            {saved.keywords.length === 0 ? (
              <p className="muted">{t("noKeywords")}</p>
            ) : (
              <ul className="chips" data-testid="keywords">
                {saved.keywords.map((k) => (
                  <li key={k} data-keyword={k}>
                    <span>{k}</span>
                    <button type="button" className="chip-remove" aria-label={t("removeKeyword", { keyword: k })} disabled={busy} onClick={() => remove(k)}>
                      ×
                    </button>
                  </li>
                ))}
              </ul>
            )}
          </section>
          <section aria-labelledby={`${id}-hidden`}>
            <h2 id={`${id}-hidden`}>{t("hiddenByNotInterested")}</h2>
            {saved.suppressed_creators.length === 0 && saved.suppressed_sounds.length === 0 ? (
              <p className="muted">{t("nothingHidden")}</p>
            ) : (
              <>
                <ul className="list" data-testid="suppressed">
                  {saved.suppressed_creators.map((c) => (
                    <li key={c.id}>
                      <Link href={`/users/${c.id}`}>{t("hiddenCreator")}</Link>
                      {c.suppressed_at && <span className="muted"> {new Date(c.suppressed_at).toLocaleDateString(lang)}</span>}{" "}
                      <button
                        type="button"
                        className="link"
                        disabled={busy}
                        onClick={() => void saveOrShow({ unsuppress_creator_ids: [c.id] }, t("shownAgain"))}
                      >
                        {t("showAgain")}
                      </button>
                    </li>
                  ))}
                  {saved.suppressed_sounds.map((s) => (
                    <li key={s.id}>
                      {t("hiddenSound")}
                      {s.suppressed_at && <span className="muted"> {new Date(s.suppressed_at).toLocaleDateString(lang)}</span>}{" "}
                      <button
                        type="button"
                        className="link"
                        disabled={busy}
                        onClick={() => void saveOrShow({ unsuppress_sound_ids: [s.id] }, t("shownAgain"))}
                      >
                        {t("showAgain")}
                      </button>
                    </li>
                  ))}
                </ul>
                <button
                  type="button"
                  className="secondary"
                  disabled={busy}
                  onClick={() => void saveOrShow({ clear_all_suppressions: true }, t("shownAgain"))}
                >
                  {t("showAllAgain")}
                </button>
              </>
            )}
          </section>
          {busy && <p role="status">{t("submitting")}</p>}
          {notice && !busy && (
            <p role="status" data-testid="filters-notice">
              {notice}
            </p>
          )}
        </>
      )}
    </main>
  );
}
