// LIVE shopping in a room (its own chunk, loaded when a room opens):
//   everyone: the pinned product (from the room, refreshed with it), the bag, the
//   flash sale (countdown, time and units left, Buy -> an order paid like the shop's),
//   the auction (price, leader, time left; bids arrive through the SSE stream
//   GET /v1/live/{room_id}/auction/events; bidding needs a card authorisation first);
//   the host: add/remove the bag's products, pin one, start a flash sale or an auction.
import { useEffect, useId, useRef, useState, type FormEvent } from "react";

import { api, call, type ApiError, type Schemas, type User } from "../api/client";
import { cents, key, ready, useAction, useLoad, whole, type Loaded } from "../biz/ui";
import { Field, FormError } from "../components/Field";
import { t } from "../i18n";
import { Link } from "../router";
import { pay } from "../shop/Shop";
import { money } from "../wallet/Wallet";
import { testReceipt } from "../wallet/testStore";
import { useHandles } from "./handles";

type Room = Schemas["LiveRoomDetailDto"];
type Product = Schemas["ProductDto"];
type Sale = Schemas["FlashSaleDto"];
type Auction = Schemas["AuctionDto"];
type Bid = Schemas["AuctionBidDto"];

const fromPrice = (p: Product) => (p.skus.length ? Math.min(...p.skus.map((s) => s.price_cents)) : 0);

/** Seconds left until `at` (ISO), ticking every second; `fallback` seconds when there is no time. */
function useSecondsTo(at: string | null | undefined): number | null {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, []);
  if (!at) return null;
  return Math.max(0, Math.ceil((new Date(at).getTime() - now) / 1000));
}

const clock = (s: number) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;

export function Shopping({ me, room, own }: { me: User; room: Room; own: boolean }) {
  const roomId = room.room_id;
  const [bag, reloadBag] = useLoad(() => call(() => api.GET("/v1/live/{room_id}/bag", { params: { path: { room_id: roomId } } })), [roomId]);
  const pinned = room.pinned_product ?? null;
  const pinnedId = pinned?.product_id ?? "";
  useEffect(() => {
    void reloadBag();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [pinnedId]);
  return (
    <>
      {room.shop_available === false && <p role="status">{t("lsShopDown")}</p>}
      {pinned && (
        <section aria-labelledby="pinned-title" className="pinned" data-testid="pinned">
          <h2 id="pinned-title">{t("lsPinned")}</h2>
          <p>
            <Link href={`/product/${pinned.product_id}`}>{pinned.title}</Link> <strong>{t("lsFrom", { price: money(fromPrice(pinned)) })}</strong>
          </p>
        </section>
      )}
      {room.flash_sale && room.flash_sale.state !== "ended" && <FlashSale sale={room.flash_sale} own={own} />}
      <AuctionPanel me={me} roomId={roomId} own={own} />
      <section aria-labelledby="bag-title">
        <h2 id="bag-title">{t("lsBag")}</h2>
        {bag === null && <p role="status">{t("loading")}</p>}
        {bag === "error" && (
          <p role="alert">
            {t("errorGeneric")}{" "}
            <button type="button" className="link" onClick={() => void reloadBag()}>
              {t("retry")}
            </button>
          </p>
        )}
        {ready(bag) && bag.products.length === 0 && <p className="muted">{t("lsBagEmpty")}</p>}
        {ready(bag) && bag.products.length > 0 && (
          <ul className="reasons" data-testid="bag">
            {bag.products.map((p) => (
              <BagItem key={p.product_id} product={p} roomId={roomId} own={own && room.open} pinned={p.product_id === pinnedId} onChange={() => void reloadBag()} />
            ))}
          </ul>
        )}
      </section>
      {own && room.open && <HostTools roomId={roomId} bag={bag} pinned={pinned} onChange={() => void reloadBag()} />}
    </>
  );
}

function BagItem({ product, roomId, own, pinned, onChange }: { product: Product; roomId: string; own: boolean; pinned: boolean; onChange: () => void }) {
  const action = useAction();
  const path = { params: { path: { room_id: roomId } } };
  const pin = (productId?: string) =>
    action.run(() => call(() => api.PUT("/v1/live/{room_id}/pin", { ...path, body: productId ? { product_id: productId } : {} }))).then(onChange);
  const remove = () =>
    action
      .run(() => call(() => api.DELETE("/v1/live/{room_id}/bag/{product_id}", { params: { path: { room_id: roomId, product_id: product.product_id } } })))
      .then(onChange);
  return (
    <li data-product-id={product.product_id}>
      <Link href={`/product/${product.product_id}`}>{product.title}</Link> <span className="muted">{t("lsFrom", { price: money(fromPrice(product)) })}</span>
      {pinned && (
        <>
          {" "}
          <span className="tag">{t("lsPinnedTag")}</span>
        </>
      )}
      {own && (
        <>
          {" "}
          <button type="button" className="link" disabled={action.busy} onClick={() => void pin(pinned ? undefined : product.product_id)}>
            {pinned ? t("lsUnpin") : t("lsPin")}
          </button>{" "}
          <button type="button" className="link" disabled={action.busy} onClick={() => void remove()}>
            {t("lsRemove")}
          </button>
        </>
      )}
      {action.error && <span role="alert"> {action.error.message || t("errorGeneric")}</span>}
    </li>
  );
}

/** The room's flash sale: countdown or time left, units, price; Buy places an order at the sale price and pays it. */
function FlashSale({ sale, own }: { sale: Sale; own: boolean }) {
  const id = useId();
  // The server's seconds_left, counted down here until the room's next refresh brings another.
  const [deadline, setDeadline] = useState(() => new Date(Date.now() + sale.seconds_left * 1000).toISOString());
  useEffect(() => setDeadline(new Date(Date.now() + sale.seconds_left * 1000).toISOString()), [sale.seconds_left, sale.state]);
  const left = useSecondsTo(deadline) ?? 0;
  const [quantity, setQuantity] = useState("1");
  const [order, setOrder] = useState<Schemas["OrderDto"] | null>(null);
  const action = useAction();
  const buyKey = useRef(key());
  const payKey = useRef(key());
  // Buy opens when the server says the sale is live (the room's refresh), not when the local clock says so.
  const live = sale.state === "live";
  const buy = async (e: FormEvent) => {
    e.preventDefault();
    let placed = order;
    if (!placed) {
      const r = await action.run(() =>
        call(() =>
          api.POST("/v1/flash-sales/{sale_id}/orders", {
            params: { path: { sale_id: sale.sale_id }, header: { "Idempotency-Key": buyKey.current } },
            body: { quantity: whole(quantity) },
          }),
        ),
      );
      if (action.lastError()?.status !== 0) buyKey.current = key();
      if (!r) return;
      placed = r.order;
      setOrder(placed);
    }
    const orderNow = placed;
    const paid = await action.run(
      () => pay(orderNow, payKey.current),
      (o) => t("orderPaid", { total: money(o.total_cents) }),
    );
    if (action.lastError()?.status !== 0) payKey.current = key();
    if (paid) setOrder(null);
  };
  return (
    <section aria-labelledby={`${id}-title`} className="flash-sale" data-testid="flash-sale">
      <h2 id={`${id}-title`}>{t("lsFlashSale")}</h2>
      <p>
        <strong>{sale.title}</strong> · {sale.sku_name} · <strong data-testid="flash-price">{money(sale.sale_price_cents)}</strong>{" "}
        <s className="muted">{money(sale.list_price_cents)}</s>
      </p>
      <p role="status" data-testid="flash-clock">
        {sale.state === "scheduled" ? t("lsStartsIn", { time: clock(left) }) : t("lsTimeLeft", { time: clock(left) })} ·{" "}
        {t("lsUnitsLeft", { count: sale.remaining_units, total: sale.total_units })} · {t("lsPerBuyer", { count: sale.per_buyer_limit })}
      </p>
      {!own && (
        <form onSubmit={(e) => void buy(e)} noValidate className="inline-form" aria-label={t("lsFlashBuy")}>
          <Field id={`${id}-qty`} label={t("quantity")} field="quantity" error={action.error} inputMode="numeric" disabled={!!order} value={quantity} onChange={(e) => setQuantity(e.target.value)} />
          <FormError error={action.error} fields={["quantity"]} fallback={t("errorGeneric")} />
          <button type="submit" className="primary" disabled={action.busy || !live || sale.remaining_units === 0}>
            {action.busy ? t("submitting") : order ? t("payNow", { total: money(order.total_cents) }) : t("lsFlashBuy")}
          </button>
          {action.done && (
            <p role="status">
              {action.done} <Link href="/orders">{t("myOrders")}</Link>
            </p>
          )}
        </form>
      )}
    </section>
  );
}

/** The room's auction, live through Server-Sent Events while it is open; polled while the room has none. */
function AuctionPanel({ me, roomId, own }: { me: User; roomId: string; own: boolean }) {
  const id = useId();
  const [auction, setAuction] = useState<Loaded<Auction | "none">>(null);
  const [bids, setBids] = useState<Bid[]>([]);
  const [live, setLive] = useState(false);
  const check = async () => {
    const r = await call(() => api.GET("/v1/live/{room_id}/auction", { params: { path: { room_id: roomId } } }));
    if (r.ok) setAuction((a) => (ready(a) && a !== "none" && a.auction_id === r.data.auction_id && a.bids > r.data.bids ? a : r.data));
    else setAuction(r.error.status === 404 ? "none" : "error");
  };
  const current = ready(auction) && auction !== "none" ? auction : null;
  const open = current && (current.status === "open" || current.status === "closing");
  // Without an open auction, look for one every 2.5 s (the host may start one).
  useEffect(() => {
    if (open) return;
    void check();
    const timer = window.setInterval(() => {
      if (!document.hidden) void check();
    }, 2500);
    return () => window.clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [roomId, open]);
  // With one, follow it live.
  const auctionId = open ? current.auction_id : "";
  useEffect(() => {
    if (!auctionId) return;
    setBids([]);
    const source = new EventSource(`/v1/live/${encodeURIComponent(roomId)}/auction/events`);
    const onState = (e: MessageEvent<string>) => setAuction(JSON.parse(e.data) as Auction);
    const onBid = (e: MessageEvent<string>) => {
      const b = JSON.parse(e.data) as Bid;
      setBids((list) => (list.some((x) => x.seq === b.seq) ? list : [b, ...list].slice(0, 10)));
      setAuction((a) =>
        ready(a) && a !== "none" && b.seq > a.bids ? { ...a, price_cents: b.price_cents, leader_id: b.leader_id, bids: b.seq, ends_at: b.ends_at ?? a.ends_at } : a,
      );
      void check();
    };
    const onExtended = (e: MessageEvent<string>) => {
      const x = JSON.parse(e.data) as { ends_at?: string };
      setAuction((a) => (ready(a) && a !== "none" ? { ...a, ends_at: x.ends_at ?? a.ends_at } : a));
    };
    const onClosed = (e: MessageEvent<string>) => {
      setAuction(JSON.parse(e.data) as Auction);
      source.close();
    };
    source.addEventListener("state", onState);
    source.addEventListener("bid", onBid);
    source.addEventListener("extended", onExtended);
    source.addEventListener("closed", onClosed);
    source.onopen = () => setLive(true);
    source.onerror = () => setLive(false);
    return () => source.close();
  }, [roomId, auctionId]);
  const left = useSecondsTo(current?.ends_at);
  const others = current ? [...bids.map((b) => b.bidder_id), ...(current.leader_id ? [current.leader_id] : [])].filter((u) => u !== me.user_id) : [];
  const handles = useHandles([...new Set(others)]);
  // "you", the bidder's @handle once known, else the start of their id.
  const who = (userId: string) => (userId === me.user_id ? t("lsYou") : handles[userId] ? `@${handles[userId]}` : t("lsBidder", { id: userId.slice(0, 8) }));
  if (auction === "none" || auction === null) return null;
  if (auction === "error")
    return (
      <p role="alert">
        {t("errorGeneric")}{" "}
        <button type="button" className="link" onClick={() => void check()}>
          {t("retry")}
        </button>
      </p>
    );
  const a = auction;
  const leader = a.leader_id ? who(a.leader_id) : t("lsNoBids");
  return (
    <section aria-labelledby={`${id}-title`} className="auction" data-testid="auction">
      <h2 id={`${id}-title`}>{t("lsAuction")}</h2>
      <p>
        <Link href={`/product/${a.product_id}`}>{a.title}</Link>
      </p>
      <p role="status" data-testid="auction-state">
        {t("lsPrice", { price: money(a.price_cents || a.starting_cents) })} · {t("lsLeader", { who: leader })} ·{" "}
        {a.status === "sold" ? t("lsSold", { price: money(a.winning_cents) }) : a.status === "unsold" ? t("lsUnsold") : t("lsTimeLeft", { time: clock(left ?? 0) })}
        {live && <span className="muted"> · {t("lsLive")}</span>}
      </p>
      {bids.length > 0 && (
        <ol className="board" data-testid="bids" aria-label={t("lsBids")}>
          {bids.map((b) => (
            <li key={b.seq} data-seq={b.seq}>
              {money(b.amount_cents)} · {who(b.bidder_id)}
            </li>
          ))}
        </ol>
      )}
      {!own && open && <BidForm auction={a} />}
    </section>
  );
}

/** Authorise a card hold (once per auction; one made before, e.g. before a reload, is read back), then bid an amount (optionally with a maximum the service bids up to) or quickly at the next minimum; refusals show by the field they name. */
function BidForm({ auction }: { auction: Auction }) {
  const id = useId();
  const [authorized, setAuthorized] = useState(0);
  // An authorisation made earlier (before a reload, or in another tab) is the server's to tell.
  const [asked, setAsked] = useState(false);
  useEffect(() => {
    let live = true;
    void call(() => api.GET("/v1/auctions/{auction_id}/authorization", { params: { path: { auction_id: auction.auction_id } } })).then((r) => {
      if (!live) return;
      if (r.ok) setAuthorized((now) => now || r.data.authorized_cents);
      setAsked(true);
    });
    return () => {
      live = false;
    };
  }, [auction.auction_id]);
  const [limit, setLimit] = useState("");
  const [amount, setAmount] = useState("");
  const auth = useAction();
  const bid = useAction();
  const authorize = async (e: FormEvent) => {
    e.preventDefault();
    const value = cents(limit);
    const r = await auth.run(async () => {
      const receipt = await testReceipt(`commerce:auction:${auction.auction_id}`, value, key()).catch(() => null);
      if (!receipt) return { ok: false as const, error: { code: "store", message: t("storeUnavailable"), status: 0, field: "amount_cents" } as ApiError };
      return call(() => api.POST("/v1/auctions/{auction_id}/authorization", { params: { path: { auction_id: auction.auction_id } }, body: { amount_cents: value, receipt } }));
    }, (d) => t("lsAuthorized", { amount: money(d.authorized_cents) }));
    if (r) setAuthorized(r.authorized_cents);
  };
  const [max, setMax] = useState("");
  // A bid whose answer was lost (no response): the next submit of the same kind repeats it exactly, key and all, so
  // the auction answers with the bid if it took it, never a second one (a quick bid re-sent at a newer minimum would be).
  const lost = useRef<{ quick: boolean; key: string; body: Schemas["BidBody"] } | null>(null);
  /** A bid of `amount` (with the typed maximum), or a quick bid at the next minimum. */
  const place = async (e: FormEvent | null) => {
    e?.preventDefault();
    const quick = !e;
    const body: Schemas["BidBody"] = quick
      ? { amount_cents: auction.next_min_cents, at_next_min: true }
      : { amount_cents: cents(amount), max_cents: max.trim() ? (Number.isFinite(Number.parseFloat(max)) ? cents(max) : -1) : undefined };
    const prev = lost.current;
    const attempt = prev && prev.quick === quick && (quick || JSON.stringify(prev.body) === JSON.stringify(body)) ? prev : { quick, key: key(), body };
    const r = await bid.run(
      async () => {
        const res = await call(() =>
          api.POST("/v1/auctions/{auction_id}/bids", {
            params: { path: { auction_id: auction.auction_id }, header: { "Idempotency-Key": attempt.key } },
            body: attempt.body,
          }),
        );
        // A refusal (too low, closed, above the authorisation) names its reason; it is about the maximum when one was
        // typed and the message names it (a leader's plain bid below their maximum names it too), else the amount.
        if (res.ok) return res;
        const onMax = !quick && max.trim() && /\bmax_cents:/.test(res.error.message);
        return { ok: false as const, error: { ...res.error, field: res.error.field || (onMax ? "max_cents" : "amount_cents") } };
      },
      (d) => (d.leading ? t("lsLeading") : t("lsOutbid")),
    );
    lost.current = bid.lastError()?.status === 0 ? attempt : null;
    if (r && !quick) {
      setAmount("");
      setMax("");
    }
  };
  if (!authorized && !asked) return null;
  if (!authorized)
    return (
      <form onSubmit={(e) => void authorize(e)} noValidate className="inline-form" aria-label={t("lsAuthorize")}>
        <p className="muted">{t("lsAuthorizeNote")}</p>
        <Field id={`${id}-limit`} label={t("lsAuthorizeUpTo")} field="amount_cents" error={auth.error} inputMode="decimal" value={limit} onChange={(e) => setLimit(e.target.value)} />
        <FormError error={auth.error} fields={["amount_cents"]} fallback={t("errorGeneric")} />
        <button type="submit" className="primary" disabled={auth.busy}>
          {auth.busy ? t("submitting") : t("lsAuthorize")}
        </button>
      </form>
    );
  return (
    <form onSubmit={(e) => void place(e)} noValidate className="inline-form" aria-label={t("lsBid")}>
      <p className="muted">{t("lsAuthorized", { amount: money(authorized) })}</p>
      <Field
        id={`${id}-amount`}
        label={t("lsBidAmount", { min: money(auction.next_min_cents) })}
        field="amount_cents"
        error={bid.error}
        inputMode="decimal"
        value={amount}
        onChange={(e) => setAmount(e.target.value)}
      />
      <Field id={`${id}-max`} label={t("cmMax")} field="max_cents" error={bid.error} inputMode="decimal" value={max} onChange={(e) => setMax(e.target.value)} />
      <FormError error={bid.error} fields={["amount_cents", "max_cents"]} fallback={t("errorGeneric")} />
      <button type="submit" className="primary" disabled={bid.busy}>
        {bid.busy ? t("submitting") : t("lsBid")}
      </button>
      <button type="button" className="secondary" disabled={bid.busy} onClick={() => void place(null)}>
        {t("cmQuick", { amount: money(auction.next_min_cents) })}
      </button>
      {bid.done && <p role="status">{bid.done}</p>}
    </form>
  );
}

/** The host's tools: add own approved products to the bag, a flash sale on the pinned product, an auction. */
function HostTools({ roomId, bag, pinned, onChange }: { roomId: string; bag: Loaded<Schemas["LiveBagDto"]>; pinned: Product | null; onChange: () => void }) {
  const id = useId();
  const [mine, reloadMine] = useLoad(async () => {
    const shop = await call(() => api.GET("/v1/shop"));
    if (!shop.ok) return shop.error.status === 404 ? { ok: true as const, data: [] as Product[] } : shop;
    const products = await call(() => api.GET("/v1/shops/{shop_id}/products", { params: { path: { shop_id: shop.data.shop_id }, query: { page_size: 100 } } }));
    return products.ok ? { ok: true as const, data: products.data.items.filter((p) => p.status === "approved") } : products;
  }, []);
  const add = useAction();
  const inBag = new Set(ready(bag) ? bag.products.map((p) => p.product_id) : []);
  const addable = ready(mine) ? mine.filter((p) => !inBag.has(p.product_id)) : [];
  const put = (productId: string) =>
    add.run(() => call(() => api.POST("/v1/live/{room_id}/bag", { params: { path: { room_id: roomId } }, body: { product_id: productId } }))).then(onChange);
  return (
    <section aria-labelledby={`${id}-title`} className="host-tools">
      <h2 id={`${id}-title`}>{t("lsSell")}</h2>
      {mine === null && <p role="status">{t("loading")}</p>}
      {mine === "error" && (
        <p role="alert">
          {t("errorGeneric")}{" "}
          <button type="button" className="link" onClick={() => void reloadMine()}>
            {t("retry")}
          </button>
        </p>
      )}
      {ready(mine) && mine.length === 0 && <p className="muted">{t("lsNoProducts")}</p>}
      {addable.length > 0 && (
        <ul className="reasons" aria-label={t("lsYourProducts")}>
          {addable.map((p) => (
            <li key={p.product_id}>
              {p.title}{" "}
              <button type="button" className="secondary" disabled={add.busy} onClick={() => void put(p.product_id)} aria-label={t("lsAddNamed", { title: p.title })}>
                {t("lsAdd")}
              </button>
            </li>
          ))}
        </ul>
      )}
      {add.error && <p role="alert">{add.error.message || t("errorGeneric")}</p>}
      {pinned && <FlashSaleForm roomId={roomId} product={pinned} />}
      {ready(bag) && bag.products.length > 0 && <AuctionForm roomId={roomId} products={bag.products} />}
    </section>
  );
}

function SkuSelect({ id, product, value, onChange }: { id: string; product: Product; value: string; onChange: (v: string) => void }) {
  return (
    <div className="field">
      <label htmlFor={id}>{t("lsSku")}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        {product.skus.map((s) => (
          <option key={s.sku_id} value={s.sku_id}>
            {s.name} · {money(s.price_cents)} ({s.stock})
          </option>
        ))}
      </select>
    </div>
  );
}

const FLASH_FIELDS = ["countdown_seconds", "duration_seconds", "sale_price_cents", "total_units", "per_buyer_limit", "sku_id"];

function FlashSaleForm({ roomId, product }: { roomId: string; product: Product }) {
  const id = useId();
  const [sku, setSku] = useState(product.skus[0]?.sku_id ?? "");
  const [f, setF] = useState({ countdown: "10", duration: "60", price: "", units: "1", limit: "1" });
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF((v) => ({ ...v, [k]: e.target.value }));
  const action = useAction();
  const idem = useRef(key());
  useEffect(() => setSku(product.skus[0]?.sku_id ?? ""), [product.product_id]); // eslint-disable-line react-hooks/exhaustive-deps
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    await action.run(
      () =>
        call(() =>
          api.POST("/v1/live/{room_id}/flash-sales", {
            params: { path: { room_id: roomId }, header: { "Idempotency-Key": idem.current } },
            body: {
              sku_id: sku,
              countdown_seconds: whole(f.countdown),
              duration_seconds: whole(f.duration),
              sale_price_cents: cents(f.price),
              total_units: whole(f.units),
              per_buyer_limit: whole(f.limit),
            },
          }),
        ),
      (s) => t("lsFlashStarted", { title: s.title }),
    );
    if (action.lastError()?.status !== 0) idem.current = key();
  };
  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="inline-form" aria-label={t("lsStartFlash")}>
      <h3>{t("lsStartFlashOn", { title: product.title })}</h3>
      <SkuSelect id={`${id}-sku`} product={product} value={sku} onChange={setSku} />
      <Field id={`${id}-countdown`} label={t("lsCountdown")} field="countdown_seconds" error={action.error} inputMode="numeric" value={f.countdown} onChange={set("countdown")} />
      <Field id={`${id}-duration`} label={t("lsDuration")} field="duration_seconds" error={action.error} inputMode="numeric" value={f.duration} onChange={set("duration")} />
      <Field id={`${id}-price`} label={t("lsSalePrice")} field="sale_price_cents" error={action.error} inputMode="decimal" value={f.price} onChange={set("price")} />
      <Field id={`${id}-units`} label={t("lsUnits")} field="total_units" error={action.error} inputMode="numeric" value={f.units} onChange={set("units")} />
      <Field id={`${id}-limit`} label={t("lsLimit")} field="per_buyer_limit" error={action.error} inputMode="numeric" value={f.limit} onChange={set("limit")} />
      <FormError error={action.error} fields={FLASH_FIELDS} fallback={t("errorGeneric")} />
      <button type="submit" className="primary" disabled={action.busy}>
        {action.busy ? t("submitting") : t("lsStartFlash")}
      </button>
      {action.done && <p role="status">{action.done}</p>}
    </form>
  );
}

function AuctionForm({ roomId, products }: { roomId: string; products: Product[] }) {
  const id = useId();
  const [productId, setProductId] = useState(products[0]?.product_id ?? "");
  const product = products.find((p) => p.product_id === productId) ?? products[0];
  const [sku, setSku] = useState(product?.skus[0]?.sku_id ?? "");
  const [starting, setStarting] = useState("");
  const [duration, setDuration] = useState("120");
  const [sudden, setSudden] = useState(false);
  const action = useAction();
  const idem = useRef(key());
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    await action.run(
      () =>
        call(() =>
          api.POST("/v1/live/{room_id}/auctions", {
            params: { path: { room_id: roomId }, header: { "Idempotency-Key": idem.current } },
            body: { sku_id: sku, starting_cents: cents(starting), duration_seconds: whole(duration), sudden_death: sudden },
          }),
        ),
      (a) => t("lsAuctionStarted", { title: a.title }),
    );
    if (action.lastError()?.status !== 0) idem.current = key();
  };
  if (!product) return null;
  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="inline-form" aria-label={t("lsStartAuction")}>
      <h3>{t("lsStartAuction")}</h3>
      <div className="field">
        <label htmlFor={`${id}-product`}>{t("lsProduct")}</label>
        <select
          id={`${id}-product`}
          value={product.product_id}
          onChange={(e) => {
            setProductId(e.target.value);
            setSku(products.find((p) => p.product_id === e.target.value)?.skus[0]?.sku_id ?? "");
          }}
        >
          {products.map((p) => (
            <option key={p.product_id} value={p.product_id}>
              {p.title}
            </option>
          ))}
        </select>
      </div>
      <SkuSelect id={`${id}-sku`} product={product} value={sku} onChange={setSku} />
      <Field id={`${id}-start`} label={t("lsStartingPrice")} field="starting_cents" error={action.error} inputMode="decimal" value={starting} onChange={(e) => setStarting(e.target.value)} />
      <Field id={`${id}-duration`} label={t("lsDuration")} field="duration_seconds" error={action.error} inputMode="numeric" value={duration} onChange={(e) => setDuration(e.target.value)} />
      <label className="check">
        <input type="checkbox" checked={sudden} onChange={(e) => setSudden(e.target.checked)} /> {t("lsSuddenDeath")}
      </label>
      <FormError error={action.error} fields={["starting_cents", "duration_seconds", "sku_id"]} fallback={t("errorGeneric")} />
      <button type="submit" className="primary" disabled={action.busy}>
        {action.busy ? t("submitting") : t("lsStartAuction")}
      </button>
      {action.done && <p role="status">{action.done}</p>}
    </form>
  );
}
