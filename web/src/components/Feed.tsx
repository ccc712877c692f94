import { useCallback, useEffect, useRef, useState } from "react";

import { api, call, type Schemas, type User } from "../api/client";
import { engagement } from "../engagement";
import { t } from "../i18n";
import { VideoSlide, type Slide } from "./VideoSlide";

export type FeedKind = "for-you" | "following";

const PAGE = 10;

/** What plays: the signed HLS playback URL of an uploaded video (media
 * service), else the media_url a video was published with. */
interface Playable {
  media_url: string;
  playback_url?: string | null;
  poster_url?: string | null;
}
const source = (v: Playable) => v.playback_url || v.media_url;
const poster = (v: Playable) => v.poster_url || undefined;

function fromForYou(item: Schemas["FeedItemDto"]): Slide | null {
  const video = item.video ?? item.ad?.video ?? null;
  if (!video && !item.ad) return null;
  return {
    key: item.ad ? `ad-${item.ad.ad_id}-${item.position}` : `v-${video?.video_id}`,
    videoId: video?.video_id ?? null,
    creatorId: video?.creator_id ?? item.ad?.advertiser_id ?? "",
    caption: video?.caption ?? item.ad?.display_name ?? "",
    hashtags: video?.hashtags ?? [],
    category: video?.category ?? "",
    mediaUrl: video ? source(video) : "",
    posterUrl: video ? poster(video) : undefined,
    durationMs: video?.duration_ms ?? 0,
    reason: item.reason,
    sponsored: item.sponsored,
    serveToken: item.serve_token ?? null,
    ad: item.ad ?? null,
  };
}

function fromFollowing(v: Schemas["ServedVideoDto"]): Slide {
  return {
    key: `v-${v.video_id}`,
    videoId: v.video_id,
    creatorId: v.creator_id,
    creatorHandle: v.creator_handle,
    caption: v.caption,
    hashtags: v.hashtags,
    category: v.category,
    mediaUrl: source(v),
    posterUrl: poster(v),
    durationMs: v.duration_ms,
    likeCount: v.like_count,
    reason: "",
    sponsored: false,
    serveToken: v.serve_token,
    ad: null,
  };
}

/** A vertical full-screen feed: swipe or scroll, arrow keys or J/K. */
export function Feed({ kind, me }: { kind: FeedKind; me: User }) {
  const [slides, setSlides] = useState<Slide[]>([]);
  const [state, setState] = useState<"loading" | "idle" | "error" | "end">("loading");
  const [active, setActive] = useState(0);
  const scroller = useRef<HTMLDivElement>(null);
  const pageToken = useRef<string | undefined>(undefined);
  const loading = useRef(false);
  const seen = useRef(new Set<string>());

  const load = useCallback(async () => {
    if (loading.current) return;
    loading.current = true;
    setState("loading");
    let next: Slide[] = [];
    let ended = false;
    let failed = false;
    if (kind === "for-you") {
      // The client context ads are targeted by: the viewer's country and language, on the web.
      const query = { page_size: PAGE, country: me.country || undefined, language: me.language || undefined, device_os: "web" as const };
      const r = await call(() => api.GET("/v1/feed/for-you", { params: { query } }));
      if (r.ok) {
        next = r.data.items.map(fromForYou).filter((s): s is Slide => s !== null);
        ended = r.data.items.length === 0;
      } else failed = true;
    } else {
      const r = await call(() =>
        api.GET("/v1/feed/following", { params: { query: { page_size: PAGE, page_token: pageToken.current } } }),
      );
      if (r.ok) {
        next = r.data.items.map(fromFollowing);
        pageToken.current = r.data.next_page_token ?? undefined;
        ended = !r.data.next_page_token;
      } else failed = true;
    }
    next = next.filter((s) => !seen.current.has(s.key));
    for (const s of next) seen.current.add(s.key);
    setSlides((old) => [...old, ...next]);
    setState(failed ? "error" : ended ? "end" : "idle");
    loading.current = false;
  }, [kind, me.country, me.language]);

  useEffect(() => {
    void load();
  }, [load]);

  // Near the end: fetch the next page.
  useEffect(() => {
    if (state === "idle" && slides.length - active <= 3) void load();
  }, [active, slides.length, state, load]);

  const goTo = useCallback((index: number) => {
    const el = scroller.current;
    if (!el) return;
    const target = Math.max(0, index);
    el.scrollTo({ top: target * el.clientHeight, behavior: "smooth" });
  }, []);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const tag = (e.target as HTMLElement | null)?.tagName;
      if (tag === "INPUT" || tag === "TEXTAREA") return;
      if (e.key === "ArrowDown" || e.key === "j" || e.key === "PageDown") {
        e.preventDefault();
        goTo(active + 1);
      } else if (e.key === "ArrowUp" || e.key === "k" || e.key === "PageUp") {
        e.preventDefault();
        goTo(active - 1);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [active, goTo]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el || !el.clientHeight) return;
    const index = Math.round(el.scrollTop / el.clientHeight);
    if (index !== active) setActive(index);
  };

  const remove = (key: string) => setSlides((old) => old.filter((s) => s.key !== key));

  return (
    <div className="feed-wrap">
      <div
        className="feed"
        ref={scroller}
        onScroll={onScroll}
        role="feed"
        aria-busy={state === "loading"}
        aria-label={kind === "for-you" ? t("forYou") : t("following")}
        data-testid="feed"
      >
        {slides.map((slide, i) => (
          <VideoSlide
            key={slide.key}
            slide={slide}
            index={i}
            total={slides.length}
            active={i === active}
            near={Math.abs(i - active) <= 1}
            me={me}
            onNotInterested={() => {
              remove(slide.key);
            }}
          />
        ))}
        {state === "loading" && (
          <div className="slide placeholder" role="status">
            {slides.length ? t("loadingMore") : t("loading")}
          </div>
        )}
        {state === "error" && (
          <div className="slide placeholder" role="alert">
            <p>{t("errorGeneric")}</p>
            <button type="button" onClick={() => void load()}>
              {t("retry")}
            </button>
          </div>
        )}
        {state === "end" && slides.length === 0 && (
          <div className="slide placeholder">
            <p>{kind === "for-you" ? t("emptyFeed") : t("emptyFollowing")}</p>
          </div>
        )}
      </div>
      <div className="stepper">
        <button type="button" className="icon" aria-label={t("previous")} onClick={() => goTo(active - 1)} disabled={active === 0}>
          ↑
        </button>
        <button type="button" className="icon" aria-label={t("next")} onClick={() => goTo(active + 1)} disabled={active >= slides.length - 1}>
          ↓
        </button>
      </div>
      <p className="sr-only">{t("keyboardHint")}</p>
      {/* engagement is flushed on its own timer and on tab hide */}
      <span hidden data-pending={engagement.pending} />
    </div>
  );
}
