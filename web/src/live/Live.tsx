import { lazy, Suspense, useEffect, useId, useState, type FormEvent } from "react";

import { api, call, CSRF_HEADER, type ApiError, type Schemas, type User } from "../api/client";
import { Field, FormError } from "../components/Field";
import { plural, t } from "../i18n";
import { Link, navigate } from "../router";
import { useBalance } from "../wallet/Wallet";
import { useHandles } from "./handles";

type Room = Schemas["LiveRoomDetailDto"];

// LIVE shopping (bag, pin, flash sale, auction) is its own chunk, loaded when a room opens.
const Shopping = lazy(() => import("./Shopping").then((m) => ({ default: m.Shopping })));
type Gift = Schemas["GiftDto"];
type Board = Schemas["RoomLeaderboardDto"];

/** How often an open room's viewer count and leaderboard are refreshed. */
const POLL_MS = 2500;

/** Open LIVE rooms, most viewers first. */
export function LiveList({ me }: { me: User }) {
  const [rooms, setRooms] = useState<Schemas["LiveRoomDto"][] | null | "error">(null);
  const load = async () => {
    setRooms(null);
    const r = await call(() => api.GET("/v1/live", { params: { query: { page_size: 50 } } }));
    setRooms(r.ok ? r.data.items : "error");
  };
  useEffect(() => {
    document.title = `${t("live")} · Loop`;
    void load();
  }, []);
  return (
    <main className="page">
      <h1>{t("live")}</h1>
      {me.role === "creator" && (
        <p>
          <Link href="/studio">{t("goLive")}</Link>
        </p>
      )}
      {rooms === null && <p role="status">{t("loading")}</p>}
      {rooms === "error" && (
        <p role="alert">
          {t("errorGeneric")}{" "}
          <button type="button" className="link" onClick={() => void load()}>
            {t("retry")}
          </button>
        </p>
      )}
      {Array.isArray(rooms) && rooms.length === 0 && <p className="muted">{t("noLive")}</p>}
      {Array.isArray(rooms) && rooms.length > 0 && (
        <ul className="rooms">
          {rooms.map((r) => (
            <li key={r.room_id}>
              <Link href={`/live/${r.room_id}`} className="room-link">
                <span className="badge live-badge">{t("liveBadge")}</span> <strong>{r.title}</strong>{" "}
                <span className="muted">@{r.creator_handle}</span>{" "}
                <span className="muted">{t("watching", { count: r.viewer_count })}</span>
              </Link>
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}

/** Joins and leaves, one after another in the order asked (a quick leave and
 * rejoin must not reach the server the other way round). */
let presence: Promise<unknown> = Promise.resolve();
function inOrder<T>(step: () => Promise<T>): Promise<T> {
  const next = presence.then(step, step);
  presence = next.catch(() => undefined);
  return next;
}

/** One LIVE room: viewers join it, send gifts, and see the top gifters. */
export function LiveRoom({ me, roomId }: { me: User; roomId: string }) {
  const [room, setRoom] = useState<Room | null>(null);
  const [state, setState] = useState<"loading" | "ok" | "missing" | "error">("loading");
  const [board, setBoard] = useState<Board | null | "error">(null);
  const own = room?.creator_id === me.user_id;

  const refresh = async () => {
    const [r, b] = await Promise.all([
      call(() => api.GET("/v1/live/{room_id}", { params: { path: { room_id: roomId } } })),
      call(() => api.GET("/v1/live/{room_id}/leaderboard", { params: { path: { room_id: roomId }, query: { limit: 10 } } })),
    ]);
    if (r.ok) setRoom(r.data);
    setBoard(b.ok ? b.data : "error");
  };

  useEffect(() => {
    let stopped = false;
    const path = { params: { path: { room_id: roomId } } };
    const enter = async () => {
      setState("loading");
      const first = await call(() => api.GET("/v1/live/{room_id}", path));
      if (stopped) return;
      if (!first.ok) return setState(first.error.status === 404 || first.error.status === 400 ? "missing" : "error");
      setRoom(first.data);
      setState("ok");
      document.title = `${first.data.title} · ${t("live")} · Loop`;
      if (first.data.open && first.data.creator_id !== me.user_id) {
        const joined = await inOrder(() => call(() => api.POST("/v1/live/{room_id}/join", path)));
        if (joined.ok && !stopped) setRoom((r) => (r ? { ...r, ...joined.data } : r));
      }
      void refresh();
    };
    void enter();
    const timer = window.setInterval(() => {
      if (!document.hidden) void refresh();
    }, POLL_MS);
    // Closing the tab leaves the room too (keepalive outlives the page).
    const onHide = () => {
      void fetch(`/v1/live/${encodeURIComponent(roomId)}/leave`, {
        method: "POST",
        keepalive: true,
        credentials: "same-origin",
        headers: CSRF_HEADER,
      }).catch(() => undefined);
    };
    window.addEventListener("pagehide", onHide);
    return () => {
      stopped = true;
      window.clearInterval(timer);
      window.removeEventListener("pagehide", onHide);
      void inOrder(() => call(() => api.POST("/v1/live/{room_id}/leave", path)));
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [roomId]);

  const handles = useHandles(board && board !== "error" ? board.entries.map((e) => e.user_id) : []);

  const end = async () => {
    const r = await call(() => api.POST("/v1/live/{room_id}/end", { params: { path: { room_id: roomId } } }));
    // An ended room sells nothing: no pin, no sale.
    if (r.ok) setRoom((prev) => (prev ? { ...prev, ...r.data, pinned_product: null, flash_sale: null } : prev));
  };

  if (state === "loading") {
    return (
      <main className="page" aria-busy="true">
        <p role="status">{t("loading")}</p>
      </main>
    );
  }
  if (state !== "ok" || !room) {
    return (
      <main className="page">
        <p role="alert">{state === "missing" ? t("noSuchRoom") : t("errorGeneric")}</p>
        <Link href="/live">{t("live")}</Link>
      </main>
    );
  }
  return (
    <main className="page room">
      <div className="stage" aria-hidden="true">
        <span className="badge live-badge">{room.open ? t("liveBadge") : t("ended")}</span>
      </div>
      <h1>{room.title}</h1>
      <p>
        <Link href={`/@${room.creator_handle}`}>@{room.creator_handle}</Link>{" "}
        <span className="muted" role="status" data-testid="viewers">
          {t("watching", { count: room.viewer_count })}
        </span>
      </p>
      {!room.open && <p role="status">{t("roomEnded")}</p>}
      {own && room.open && (
        <button type="button" className="secondary" onClick={() => void end()}>
          {t("endLive")}
        </button>
      )}
      <section aria-labelledby="board-title">
        <h2 id="board-title">{t("leaderboard")}</h2>
        {board === null && <p role="status">{t("loading")}</p>}
        {board === "error" && <p role="alert">{t("errorGeneric")}</p>}
        {board && board !== "error" && board.entries.length === 0 && <p className="muted">{t("noGifts")}</p>}
        {board && board !== "error" && board.entries.length > 0 && (
          <ol className="board" data-testid="leaderboard">
            {board.entries.map((e) => (
              <li key={e.user_id} data-user-id={e.user_id}>
                <span className="rank">#{e.rank}</span> <span>@{handles[e.user_id] ?? "…"}</span>{" "}
                <span className="muted">{plural(e.score, "coinsOne", "coinsCount")}</span>
              </li>
            ))}
          </ol>
        )}
        {board && board !== "error" && board.me && !board.entries.some((e) => e.user_id === me.user_id) && (
          <p>{t("yourRank", { rank: board.me.rank, count: board.me.score })}</p>
        )}
      </section>
      <Suspense fallback={<p role="status">{t("loading")}</p>}>
        <Shopping me={me} room={room} own={own} />
      </Suspense>
      {!own && room.open && <GiftPicker room={room} onSent={() => void refresh()} />}
    </main>
  );
}

/** Pick a gift and a count, and send it to the room's creator (spends coins). */
function GiftPicker({ room, onSent }: { room: Room; onSent: () => void }) {
  const [gifts, setGifts] = useState<Gift[] | null | "error">(null);
  const [giftId, setGiftId] = useState("");
  const [count, setCount] = useState("1");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState("");
  const [balance, reloadBalance] = useBalance();
  const id = useId();

  const load = async () => {
    const r = await call(() => api.GET("/v1/wallet/gifts"));
    if (!r.ok) return setGifts("error");
    setGifts(r.data.items);
    setGiftId((g) => g || r.data.items[0]?.gift_id || "");
  };
  useEffect(() => {
    void load();
  }, []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setSent("");
    const n = Number.parseInt(count, 10);
    const r = await call(() =>
      api.POST("/v1/wallet/gifts", {
        params: { header: { "Idempotency-Key": crypto.randomUUID() } },
        body: { gift_id: giftId, recipient_id: room.creator_id, live_room_id: room.room_id, count: Number.isNaN(n) ? 0 : n },
      }),
    );
    setBusy(false);
    if (!r.ok) return setError(r.error);
    const gift = Array.isArray(gifts) ? gifts.find((g) => g.gift_id === giftId) : undefined;
    setSent(t("giftSent", { gift: gift?.name ?? "", balance: r.data.coins_balance }));
    void reloadBalance();
    onSent();
  };

  const coins = balance && balance !== "error" ? balance.coins.available : null;
  return (
    <section aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{t("sendGift")}</h2>
      <p>
        {coins !== null && <span data-testid="coins">{t("yourCoins", { count: coins })}</span>}{" "}
        <Link href="/wallet">{t("buyCoins")}</Link>
      </p>
      {gifts === null && <p role="status">{t("loading")}</p>}
      {gifts === "error" && (
        <p role="alert">
          {t("errorGeneric")}{" "}
          <button type="button" className="link" onClick={() => void load()}>
            {t("retry")}
          </button>
        </p>
      )}
      {Array.isArray(gifts) && (
        <form onSubmit={(e) => void submit(e)} noValidate className="gift-form">
          <fieldset className="gifts">
            <legend>{t("gift")}</legend>
            {gifts.map((g) => (
              <label key={g.gift_id} className="gift">
                <input type="radio" name="gift_id" value={g.gift_id} checked={giftId === g.gift_id} onChange={() => setGiftId(g.gift_id)} />
                <span>{g.name}</span> <span className="muted">{plural(g.coins, "coinsOne", "coinsCount")}</span>
              </label>
            ))}
          </fieldset>
          <Field
            id={`${id}-count`}
            label={t("giftCount")}
            field="count"
            error={error}
            type="number"
            inputMode="numeric"
            min={1}
            max={999}
            value={count}
            onChange={(e) => setCount(e.target.value)}
          />
          <FormError error={error} fields={["count", "gift_id"]} fallback={t("errorGeneric")} />
          <button type="submit" className="primary" disabled={busy || !giftId}>
            {busy ? t("submitting") : t("sendGift")}
          </button>
          {sent && <p role="status">{sent}</p>}
        </form>
      )}
    </section>
  );
}

/** Go LIVE (creators): a title, then the room. */
export function GoLive() {
  const [title, setTitle] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const r = await call(() => api.POST("/v1/live", { body: { title } }));
    setBusy(false);
    if (!r.ok) return setError(r.error);
    navigate(`/live/${r.data.room_id}`);
  };
  return (
    <form onSubmit={(e) => void submit(e)} noValidate aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{t("goLive")}</h2>
      <Field id={`${id}-live-title`} label={t("liveTitle")} field="title" error={error} value={title} onChange={(e) => setTitle(e.target.value)} />
      <FormError error={error} fields={["title"]} fallback={t("errorGeneric")} />
      <button type="submit" className="primary" disabled={busy}>
        {busy ? t("submitting") : t("goLive")}
      </button>
    </form>
  );
}
