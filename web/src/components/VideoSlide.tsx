import { useEffect, useRef, useState } from "react";

import { api, call, type Schemas, type User } from "../api/client";
import { engagement } from "../engagement";
import { t } from "../i18n";
import { Link } from "../router";
import { Comments } from "./Comments";
import { CommentIcon, SoundOffIcon, SoundOnIcon } from "./icons";
import { attachMedia } from "./media";

export interface Slide {
  key: string;
  videoId: string | null;
  creatorId: string;
  creatorHandle?: string;
  caption: string;
  hashtags: string[];
  category: string;
  mediaUrl: string;
  posterUrl?: string;
  durationMs: number;
  likeCount?: number;
  reason: string;
  sponsored: boolean;
  serveToken: string | null;
  ad: Schemas["AdItemDto"] | null;
}

/** `shop_now` -> "Shop now". */
const ctaText = (cta: string) => cta.charAt(0).toUpperCase() + cta.slice(1).replace(/_/g, " ");

/** Below this a video left is a quick skip, above it a view. */
const SKIP_MS = 1200;

interface Props {
  slide: Slide;
  index: number;
  total: number;
  active: boolean;
  near: boolean;
  me: User;
  onNotInterested: () => void;
}

/** One full-screen video with its reason, marker and actions. */
export function VideoSlide({ slide, index, total, active, near, me, onNotInterested }: Props) {
  const video = useRef<HTMLVideoElement>(null);
  const [liked, setLiked] = useState(false);
  const [likes, setLikes] = useState(slide.likeCount ?? null);
  const [following, setFollowing] = useState(false);
  const [comments, setComments] = useState(false);
  const [note, setNote] = useState("");
  const [broken, setBroken] = useState(false);
  const [muted, setMuted] = useState(true);
  // The products its creator anchored to it, asked for once it is first shown.
  const [products, setProducts] = useState<Schemas["ProductDto"][] | null>(null);
  const shownAt = useRef<number | null>(null);
  const organic = slide.videoId !== null && !slide.sponsored;

  // Media: attached while near the active slide, playing only when active.
  useEffect(() => {
    const el = video.current;
    if (!el || !near || !slide.mediaUrl) return;
    return attachMedia(el, slide.mediaUrl, () => setBroken(true));
  }, [near, slide.mediaUrl]);

  useEffect(() => {
    const el = video.current;
    if (!el) return;
    if (active) {
      el.play().catch(() => {
        /* autoplay refused or media missing: the poster stays */
      });
    } else el.pause();
  }, [active, near]);

  useEffect(() => {
    const id = slide.videoId;
    if (!active || !organic || !id || products) return;
    void call(() => api.GET("/v1/videos/{video_id}/products", { params: { path: { video_id: id } } })).then((r) => setProducts(r.ok ? r.data.products : []));
  }, [active, organic, slide.videoId, products]);

  // Engagement: an impression when shown, a view or quick skip when left.
  useEffect(() => {
    if (!active) return;
    shownAt.current = performance.now();
    if (organic && slide.videoId) {
      engagement.record({ kind: "impression", video_id: slide.videoId, serve_token: slide.serveToken ?? undefined });
    } else if (slide.ad) {
      void call(() =>
        api.POST("/v1/ad-events", {
          body: { events: [{ event_id: crypto.randomUUID(), kind: "impression", impression_token: slide.ad!.impression_token }] },
        }),
      );
    }
    return () => {
      const started = shownAt.current;
      shownAt.current = null;
      if (started === null || !organic || !slide.videoId) return;
      const dwell = Math.round(performance.now() - started);
      const played = video.current && !broken ? Math.round(video.current.currentTime * 1000) : 0;
      const watch = Math.max(dwell, played);
      const duration = slide.durationMs > 0 ? slide.durationMs : undefined;
      if (watch < SKIP_MS) {
        engagement.record({ kind: "quick_skip", video_id: slide.videoId, serve_token: slide.serveToken ?? undefined });
      } else {
        engagement.record({
          kind: "view",
          video_id: slide.videoId,
          watch_ms: duration ? Math.min(watch, duration * 10) : watch,
          video_duration_ms: duration ? Math.min(duration, 600_000) : undefined,
          serve_token: slide.serveToken ?? undefined,
        });
      }
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [active]);

  const flash = (text: string) => {
    setNote(text);
    window.setTimeout(() => setNote(""), 2000);
  };

  const like = async () => {
    if (!slide.videoId) return;
    const id = slide.videoId;
    const was = liked;
    setLiked(!was);
    const r = was
      ? await call(() => api.DELETE("/v1/videos/{video_id}/like", { params: { path: { video_id: id } } }))
      : await call(() =>
          api.POST("/v1/videos/{video_id}/like", {
            params: { path: { video_id: id } },
            body: { serve_token: slide.serveToken ?? undefined },
          }),
        );
    if (r.ok) setLikes(r.data.like_count);
    else {
      setLiked(was);
      flash(r.error.message || t("errorGeneric"));
    }
  };

  const share = async () => {
    if (!slide.videoId) return;
    const id = slide.videoId;
    const r = await call(() =>
      api.POST("/v1/videos/{video_id}/share", { params: { path: { video_id: id } }, body: { channel: "copy_link" } }),
    );
    if (!r.ok) return flash(r.error.message || t("errorGeneric"));
    engagement.record({ kind: "share", video_id: id, serve_token: slide.serveToken ?? undefined });
    const url = `${window.location.origin}/videos/${id}`;
    try {
      if (navigator.share) await navigator.share({ url, text: slide.caption });
      else await navigator.clipboard.writeText(url);
    } catch {
      /* the share sheet was dismissed or the clipboard refused: the share is recorded */
    }
    flash(t("shared"));
  };

  const follow = async () => {
    const r = await call(() =>
      api.POST("/v1/users/{user_id}/follow", { params: { path: { user_id: slide.creatorId } } }),
    );
    if (r.ok || r.error.status === 409) {
      setFollowing(true);
      if (slide.videoId) {
        engagement.record({ kind: "follow", video_id: slide.videoId, serve_token: slide.serveToken ?? undefined });
      }
    } else flash(r.error.message || t("errorGeneric"));
  };

  const notInterested = () => {
    if (!slide.videoId) return;
    engagement.record({
      kind: "not_interested",
      video_id: slide.videoId,
      target: "video",
      serve_token: slide.serveToken ?? undefined,
    });
    flash(t("notInterestedDone"));
    onNotInterested();
  };

  const own = slide.creatorId === me.user_id;
  return (
    <article
      className="slide"
      aria-roledescription="video"
      aria-posinset={index + 1}
      aria-setsize={total}
      aria-label={slide.caption}
      data-testid="slide"
      data-active={active}
      data-video-id={slide.videoId ?? ""}
      data-category={slide.category}
      data-hashtags={slide.hashtags.join(" ")}
      data-sponsored={slide.sponsored}
    >
      <video
        ref={video}
        className="player"
        playsInline
        loop
        muted={muted}
        preload={near ? "auto" : "none"}
        poster={slide.posterUrl}
        aria-label={slide.caption}
        onClick={() => setMuted(!muted)}
      />
      {broken && <p className="media-note">{t("videoUnavailable")}</p>}
      <div className="overlay">
        <div className="meta">
          {slide.sponsored && <span className="badge">{t("sponsored")}</span>}
          {slide.creatorHandle && (
            <p className="handle">
              <Link href={`/@${slide.creatorHandle}`}>@{slide.creatorHandle}</Link>
            </p>
          )}
          <p className="caption">{slide.caption}</p>
          {slide.hashtags.length > 0 && (
            <p className="tags">
              {slide.hashtags.map((h) => (
                <Link key={h} href={`/tag/${encodeURIComponent(h)}`}>
                  #{h}
                </Link>
              ))}
            </p>
          )}
          {products?.map((p) => (
            <Link
              key={p.product_id}
              className="cta anchor"
              href={`/product/${p.product_id}`}
              // The visit is the creator's referral: the viewer's checkout of it within the window earns them the commission.
              onClick={() => void call(() => api.POST("/v1/products/{product_id}/referrals", { params: { path: { product_id: p.product_id } }, body: { creator_id: slide.creatorId, source: "video", source_id: slide.videoId ?? undefined } }))}
            >
              <span aria-hidden="true">🛍 </span>
              {p.title}
            </Link>
          ))}
          {slide.reason && (
            <p className="reason">
              <span className="reason-label">{t("whyThisVideo")}: </span>
              {slide.reason}
            </p>
          )}
          {slide.ad && slide.ad.landing_url && (
            <a className="cta" href={slide.ad.landing_url} target="_blank" rel="noopener noreferrer">
              {slide.ad.call_to_action ? ctaText(slide.ad.call_to_action) : t("learnMore")}
            </a>
          )}
        </div>
        {slide.videoId && (
          <div className="actions">
            <button type="button" className="action" aria-pressed={liked} aria-label={liked ? t("unlike") : t("like")} onClick={() => void like()}>
              <span aria-hidden="true">{liked ? "♥" : "♡"}</span>
              {likes !== null && <span className="count">{likes}</span>}
            </button>
            <button type="button" className="action" aria-label={t("comment")} aria-expanded={comments} onClick={() => setComments(true)}>
              <CommentIcon />
            </button>
            <button type="button" className="action" aria-label={t("share")} onClick={() => void share()}>
              <span aria-hidden="true">↗</span>
            </button>
            {!slide.sponsored && slide.creatorId && (
              <Link
                className="action"
                href={slide.creatorHandle ? `/@${slide.creatorHandle}` : `/users/${slide.creatorId}`}
                aria-label={t("viewProfile")}
              >
                <span aria-hidden="true">☺</span>
              </Link>
            )}
            {!own && !slide.sponsored && (
              <button type="button" className="action" aria-pressed={following} aria-label={following ? t("followed") : t("follow")} onClick={() => void follow()} disabled={following}>
                <span aria-hidden="true">{following ? "✓" : "+"}</span>
              </button>
            )}
            {!slide.sponsored && (
              <button type="button" className="action" aria-label={t("notInterested")} onClick={notInterested}>
                <span aria-hidden="true">⊘</span>
              </button>
            )}
            <button type="button" className="action" aria-label={muted ? t("sound") : t("mute")} onClick={() => setMuted(!muted)}>
              {muted ? <SoundOffIcon /> : <SoundOnIcon />}
            </button>
          </div>
        )}
      </div>
      {note && (
        <p className="toast" role="status">
          {note}
        </p>
      )}
      {comments && slide.videoId && (
        <Comments
          videoId={slide.videoId}
          onClose={() => setComments(false)}
          onPosted={() => engagement.record({ kind: "comment", video_id: slide.videoId!, serve_token: slide.serveToken ?? undefined })}
        />
      )}
    </article>
  );
}
