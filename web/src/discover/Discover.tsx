import { useEffect, useId, useState, type FormEvent } from "react";

import { api, call, type Schemas, type User } from "../api/client";
import { lang, t } from "../i18n";
import { Link, navigate } from "../router";
import { Tile } from "../profile/Profile";

type Challenge = Schemas["ChallengeDto"];
type Branded = Schemas["BrandedChallengeDto"];
type Video = Schemas["VideoDto"];

const until = (at?: string | null) => (at ? t("endsOn", { date: new Date(at).toLocaleDateString(lang) }) : "");

/** Discover: find a hashtag, sponsored challenges pinned on top, then the running challenges. */
export function Discover({ me }: { me: User }) {
  const [query, setQuery] = useState("");
  const [pinned, setPinned] = useState<Branded[] | null | "error">(null);
  const [challenges, setChallenges] = useState<Challenge[] | null | "error">(null);
  const id = useId();
  const load = async () => {
    const [p, c] = await Promise.all([
      call(() => api.GET("/v1/discover/challenges", { params: { query: { country: me.country || undefined } } })),
      call(() => api.GET("/v1/challenges", { params: { query: { active_only: true, page_size: 30 } } })),
    ]);
    setPinned(p.ok ? p.data : "error");
    setChallenges(c.ok ? c.data.items : "error");
  };
  useEffect(() => {
    document.title = `${t("discover")} · Loop`;
    void load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  const search = (e: FormEvent) => {
    e.preventDefault();
    const tag = query.trim().replace(/^#+/, "");
    if (tag) navigate(`/tag/${encodeURIComponent(tag.toLowerCase())}`);
  };
  const failed = pinned === "error" || challenges === "error";
  return (
    <main className="page">
      <h1>{t("discover")}</h1>
      <form onSubmit={search} role="search" className="search">
        <label htmlFor={`${id}-q`} className="sr-only">
          {t("searchHashtag")}
        </label>
        <input id={`${id}-q`} type="search" placeholder={t("searchHashtag")} value={query} onChange={(e) => setQuery(e.target.value)} />
        <button type="submit" className="primary">
          {t("search")}
        </button>
      </form>
      {(pinned === null || challenges === null) && !failed && <p role="status">{t("loading")}</p>}
      {failed && (
        <p role="alert">
          {t("errorGeneric")}{" "}
          <button type="button" className="link" onClick={() => void load()}>
            {t("retry")}
          </button>
        </p>
      )}
      {Array.isArray(pinned) && pinned.length > 0 && (
        <section aria-labelledby="pinned-title">
          <h2 id="pinned-title">{t("sponsoredChallenges")}</h2>
          <ul className="rooms">
            {pinned.map((b) => (
              <li key={b.branded_challenge_id}>
                <Link href={`/tag/${encodeURIComponent(b.hashtag)}`} className="room-link">
                  <span className="badge">{t("sponsored")}</span> <strong>#{b.hashtag}</strong> <span className="muted">{b.description}</span>
                </Link>
              </li>
            ))}
          </ul>
        </section>
      )}
      {Array.isArray(challenges) && (
        <section aria-labelledby="challenges-title">
          <h2 id="challenges-title">{t("challenges")}</h2>
          {challenges.length === 0 && <p className="muted">{t("noChallenges")}</p>}
          <ul className="rooms">
            {challenges.map((c) => (
              <li key={c.challenge_id}>
                <Link href={`/tag/${encodeURIComponent(c.hashtag)}`} className="room-link">
                  <strong>#{c.hashtag}</strong> <span className="muted">{c.description}</span>{" "}
                  <span className="muted">{until(c.ends_at)}</span>
                </Link>
              </li>
            ))}
          </ul>
        </section>
      )}
    </main>
  );
}

/** A hashtag: how many videos carry it, its running challenge, and its videos (newest first). */
export function Hashtag({ name }: { name: string }) {
  const [tag, setTag] = useState<Schemas["HashtagDto"] | null | "missing" | "error">(null);
  const [videos, setVideos] = useState<Video[] | null | "error">(null);
  const [next, setNext] = useState<string | undefined>(undefined);
  const loadVideos = async (pageToken?: string) => {
    const r = await call(() =>
      api.GET("/v1/hashtags/{name}/videos", { params: { path: { name }, query: { page_size: 24, page_token: pageToken } } }),
    );
    if (!r.ok) return setVideos("error");
    setVideos((old) => (pageToken && Array.isArray(old) ? [...old, ...r.data.items] : r.data.items));
    setNext(r.data.next_page_token ?? undefined);
  };
  const load = async () => {
    setTag(null);
    const r = await call(() => api.GET("/v1/hashtags/{name}", { params: { path: { name } } }));
    setTag(r.ok ? r.data : r.error.status === 404 || r.error.status === 400 ? "missing" : "error");
    if (r.ok) void loadVideos();
  };
  useEffect(() => {
    document.title = `#${name} · Loop`;
    void load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [name]);
  if (tag === null) {
    return (
      <main className="page" aria-busy="true">
        <p role="status">{t("loading")}</p>
      </main>
    );
  }
  if (tag === "missing" || tag === "error") {
    return (
      <main className="page">
        <h1>#{name}</h1>
        <p role="alert">{tag === "missing" ? t("noSuchHashtag") : t("errorGeneric")}</p>
        <Link href="/discover">{t("discover")}</Link>
      </main>
    );
  }
  return (
    <main className="page">
      <h1>#{tag.name}</h1>
      <p className="muted" data-testid="video-count">
        {t("videoCount", { count: tag.video_count })}
      </p>
      {tag.active_challenge && (
        <p className="challenge">
          <span className="badge">{t("challenge")}</span> {tag.active_challenge.description} <span className="muted">{until(tag.active_challenge.ends_at)}</span>
        </p>
      )}
      {videos === null && <p role="status">{t("loading")}</p>}
      {videos === "error" && (
        <p role="alert">
          {t("errorGeneric")}{" "}
          <button type="button" className="link" onClick={() => void loadVideos()}>
            {t("retry")}
          </button>
        </p>
      )}
      {Array.isArray(videos) && videos.length === 0 && <p className="muted">{t("noVideos")}</p>}
      {Array.isArray(videos) && videos.length > 0 && (
        <ul className="grid" aria-label={t("videos")}>
          {videos.map((v) => (
            <li key={v.video_id}>
              <Tile video={v} />
            </li>
          ))}
        </ul>
      )}
      {next && (
        <button type="button" className="secondary" onClick={() => void loadVideos(next)}>
          {t("loadMore")}
        </button>
      )}
    </main>
  );
}
