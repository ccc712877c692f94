import { useEffect, useRef, useState } from "react";

import { api, call, type Schemas, type User } from "../api/client";
import { attachMedia } from "../components/media";
import { t } from "../i18n";
import { Link } from "../router";

type Video = Schemas["VideoDto"];

/** A profile: avatar, name, counts, the follow button and the creator's videos. */
export function Profile({ me, handle, userId }: { me: User; handle?: string; userId?: string }) {
  const [user, setUser] = useState<User | null>(null);
  const [state, setState] = useState<"loading" | "ok" | "missing" | "error">("loading");
  const [videos, setVideos] = useState<Video[] | null>(null);
  const [videosError, setVideosError] = useState(false);
  const [following, setFollowing] = useState<boolean | null>(null);
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState("");

  const load = async () => {
    setState("loading");
    const r = handle
      ? await call(() => api.GET("/v1/users/by-handle/{handle}", { params: { path: { handle } } }))
      : await call(() => api.GET("/v1/users/{user_id}", { params: { path: { user_id: userId ?? "" } } }));
    if (!r.ok) return setState(r.error.status === 404 || r.error.status === 400 ? "missing" : "error");
    setUser(r.data);
    setState("ok");
    document.title = `${r.data.display_name || r.data.handle} (@${r.data.handle}) · Loop`;
    const id = r.data.user_id;
    setVideosError(false);
    const [vs, mine] = await Promise.all([
      call(() => api.GET("/v1/users/{user_id}/videos", { params: { path: { user_id: id }, query: { page_size: 30 } } })),
      id === me.user_id
        ? Promise.resolve(null)
        : call(() =>
            api.GET("/v1/users/{user_id}/following", { params: { path: { user_id: me.user_id }, query: { page_size: 100 } } }),
          ),
    ]);
    if (vs.ok) setVideos(vs.data.items);
    else setVideosError(true);
    if (mine?.ok) setFollowing(mine.data.items.some((u) => u.user_id === id));
    else if (mine) setFollowing(false);
  };

  useEffect(() => {
    void load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [handle, userId]);

  const toggleFollow = async () => {
    if (!user) return;
    setBusy(true);
    setNote("");
    const path = { params: { path: { user_id: user.user_id } } };
    const r = following
      ? await call(() => api.DELETE("/v1/users/{user_id}/follow", path))
      : await call(() => api.POST("/v1/users/{user_id}/follow", path));
    setBusy(false);
    if (r.ok || (!following && r.error.status === 409)) {
      const now = !following;
      setFollowing(now);
      setUser({ ...user, follower_count: Math.max(0, user.follower_count + (now ? 1 : -1)) });
    } else setNote(r.error.message || t("errorGeneric"));
  };

  if (state === "loading") {
    return (
      <main className="page" aria-busy="true">
        <p role="status">{t("loading")}</p>
      </main>
    );
  }
  if (state === "missing" || state === "error" || !user) {
    return (
      <main className="page">
        <p role="alert">{state === "missing" ? t("noSuchUser") : t("errorGeneric")}</p>
        {state === "error" && (
          <button type="button" onClick={() => void load()}>
            {t("retry")}
          </button>
        )}
      </main>
    );
  }
  const name = user.display_name || user.handle;
  return (
    <main className="page profile">
      <header className="profile-head">
        <div className="avatar" aria-hidden="true">
          {name.slice(0, 1).toUpperCase()}
        </div>
        <div>
          <h1>{name}</h1>
          <p className="muted">@{user.handle}</p>
          <p className="counts">
            <span>{t(user.follower_count === 1 ? "followersOne" : "followers", { count: user.follower_count })}</span>{" "}
            <span>{t("followingCount", { count: user.following_count })}</span>
          </p>
        </div>
      </header>
      {user.creator?.bio && <p>{user.creator.bio}</p>}
      {user.user_id !== me.user_id && following !== null && (
        <button type="button" className={following ? "secondary" : "primary"} aria-pressed={following} disabled={busy} onClick={() => void toggleFollow()}>
          {following ? t("unfollow") : t("follow")}
        </button>
      )}
      {note && <p role="alert" className="form-error">{note}</p>}
      <h2>{t("videos")}</h2>
      {videos === null && !videosError && <p role="status">{t("loading")}</p>}
      {videosError && <p role="alert">{t("errorGeneric")}</p>}
      {videos?.length === 0 && <p className="muted">{t("noVideos")}</p>}
      {videos && videos.length > 0 && (
        <ul className="grid" aria-label={t("videos")}>
          {videos.map((v) => (
            <li key={v.video_id}>
              <Tile video={v} />
            </li>
          ))}
        </ul>
      )}
      {user.user_id === me.user_id && me.role === "creator" && (
        <p>
          <Link href="/studio">{t("studio")}</Link>
        </p>
      )}
    </main>
  );
}

/** One video of a profile: its poster until played, then inline. */
export function Tile({ video }: { video: Video }) {
  const el = useRef<HTMLVideoElement>(null);
  const [playing, setPlaying] = useState(false);
  const [broken, setBroken] = useState(false);
  const url = video.playback_url || video.media_url;

  useEffect(() => {
    const v = el.current;
    if (!v || !playing) return;
    const detach = attachMedia(v, url, () => setBroken(true));
    v.play().catch(() => {
      /* refused: the controls stay */
    });
    return detach;
  }, [playing, url]);

  return (
    <figure className="tile" data-video-id={video.video_id}>
      <video
        ref={el}
        className="tile-video"
        playsInline
        muted
        loop
        controls={playing}
        preload="none"
        poster={video.poster_url || undefined}
        aria-label={video.caption}
      />
      {!playing && (
        <button type="button" className="tile-play" aria-label={t("playVideo", { caption: video.caption })} onClick={() => setPlaying(true)}>
          ▶
        </button>
      )}
      {broken && <p className="media-note">{t("videoUnavailable")}</p>}
      <figcaption>{video.caption}</figcaption>
    </figure>
  );
}
