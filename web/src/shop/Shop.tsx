// The shop, for viewers and sellers:
//   /product/{id}  a product (its version, SKUs with price and stock) and checkout:
//                  the order (POST /v1/orders), then payment by card through the
//                  development store (a receipt for `commerce:order:<id>` and its total)
//   /orders        my orders: status, pay, cancel (while unpaid or within the hold after
//                  payment), confirm delivery, tracking
//   /sell          open a shop, list products with SKUs (reviewed by an admin before sale),
//                  invite creators to feature an approved product at a commission rate
//                  (and withdraw), the shop's orders, ship with carrier and tracking number
// Every order change sends an Idempotency-Key, kept across retries of that change.
import { useEffect, useId, useRef, useState, type FormEvent } from "react";

import { api, call, type ApiError, type Schemas, type User } from "../api/client";
import { Done, Pending, Section, cents, key, label, ready, useAction, useLoad, when, whole } from "../biz/ui";
import { Field, FormError } from "../components/Field";
import { t } from "../i18n";
import type { MessageKey } from "../i18n/messages";
import { Link } from "../router";
import { money } from "../wallet/Wallet";
import { testReceipt } from "../wallet/testStore";
import { Features } from "../live/Features";

type Product = Schemas["ProductDto"];
type Order = Schemas["OrderDto"];
type Status = Order["status"];

const STATUS: Record<Status, MessageKey> = {
  unpaid: "orderUnpaid",
  paying: "orderPaying",
  on_hold: "orderOnHold",
  awaiting_shipment: "orderAwaitingShipment",
  shipped: "orderShipped",
  delivered: "orderDelivered",
  completed: "orderCompleted",
  cancelled: "orderCancelled",
  refunded: "orderRefunded",
};

/** Pays `order` by card through the development store (the wallet refuses it outside development). */
export async function pay(order: Order, idem: string) {
  const receipt = await testReceipt(`commerce:order:${order.order_id}`, order.total_cents, key()).catch(() => null);
  if (!receipt) return { ok: false as const, error: { code: "store", message: t("storeUnavailable"), status: 0 } as ApiError };
  return call(() =>
    api.POST("/v1/orders/{order_id}/pay", {
      params: { path: { order_id: order.order_id }, header: { "Idempotency-Key": idem } },
      body: { receipt },
    }),
  );
}

/** A key for one change, kept while it fails for want of an answer (network) and renewed after a definite answer. */
function useKey() {
  const k = useRef(key());
  return {
    get: () => k.current,
    settle: (error: ApiError | null) => {
      if (!error || error.status !== 0) k.current = key();
    },
  };
}

export function ProductPage({ productId, me }: { productId: string; me: User }) {
  const version = whole(new URLSearchParams(window.location.search).get("version") ?? "") || undefined;
  const [product, reload] = useLoad(
    () => call(() => api.GET("/v1/products/{product_id}", { params: { path: { product_id: productId }, query: version ? { version } : {} } })),
    [productId, version],
  );
  const [shop] = useLoad(
    async () => (ready(product) ? call(() => api.GET("/v1/shops/{shop_id}", { params: { path: { shop_id: product.shop_id } } })) : { ok: false as const, error: { code: "", message: "", status: 0 } }),
    [ready(product) ? product.shop_id : ""],
  );
  useEffect(() => {
    if (ready(product)) document.title = `${product.title} · Loop`;
  }, [product]);
  return (
    <main className="page shop">
      {product === "error" ? (
        <>
          <h1>{t("shop")}</h1>
          <p role="alert">{t("productUnavailable")}</p>
          <button type="button" className="link" onClick={() => void reload()}>
            {t("retry")}
          </button>
        </>
      ) : (
        <Pending value={product} retry={() => void reload()} />
      )}
      {ready(product) && (
        <>
          <h1>{product.title}</h1>
          <p className="muted">
            {ready(shop) && <>{shop.name} · </>}
            {label(product.category)} · <span data-testid="product-version">{t("versionN", { version: product.version })}</span>
            {product.status !== "approved" && (
              <>
                {" "}
                <span className="tag">{label(product.status)}</span>
              </>
            )}
          </p>
          {version && <p className="muted">{t("pastVersion")}</p>}
          {product.image_urls.length > 0 && (
            <div className="product-images">
              {product.image_urls.map((u) => (
                <img key={u} src={u} alt={product.title} loading="lazy" />
              ))}
            </div>
          )}
          {product.description && <p>{product.description}</p>}
          {product.reject_reason && <p className="form-error">{t("bizRejectedBecause", { reason: product.reject_reason })}</p>}
          {!version && product.status === "approved" && product.seller_id !== me.user_id ? (
            <Checkout product={product} />
          ) : (
            <ul className="reasons">
              {product.skus.map((s) => (
                <li key={s.sku_id}>
                  {s.name}: {money(s.price_cents)}
                </li>
              ))}
            </ul>
          )}
          {!version && product.status === "approved" && <Features productId={product.product_id} />}
        </>
      )}
    </main>
  );
}

function Checkout({ product }: { product: Product }) {
  const id = useId();
  const [sku, setSku] = useState(product.skus.find((s) => s.stock > 0)?.sku_id ?? product.skus[0]?.sku_id ?? "");
  const [quantity, setQuantity] = useState("1");
  const [order, setOrder] = useState<Order | null>(null);
  const action = useAction();
  const placeKey = useKey();
  const payKey = useKey();
  const chosen = product.skus.find((s) => s.sku_id === sku);
  const buy = async (e: FormEvent) => {
    e.preventDefault();
    let placed = order;
    if (!placed) {
      placed = await action.run(() =>
        call(() =>
          api.POST("/v1/orders", {
            params: { header: { "Idempotency-Key": placeKey.get() } },
            body: { shop_id: product.shop_id, items: [{ sku_id: sku, quantity: whole(quantity) }] },
          }),
        ),
      );
      placeKey.settle(action.lastError());
      if (!placed) return;
      setOrder(placed);
    }
    const orderNow = placed;
    const paid = await action.run(
      () => pay(orderNow, payKey.get()),
      (o) => t("orderPaid", { total: money(o.total_cents) }),
    );
    payKey.settle(action.lastError());
    if (paid) setOrder(null);
  };
  return (
    <form onSubmit={(e) => void buy(e)} noValidate className="inline-form" aria-label={t("buy")}>
      <fieldset className="skus">
        <legend>{t("chooseSku")}</legend>
        {product.skus.map((s) => (
          <label key={s.sku_id} className="sku">
            <input type="radio" name={`${id}-sku`} value={s.sku_id} checked={sku === s.sku_id} disabled={!!order} onChange={() => setSku(s.sku_id)} />{" "}
            <span>{s.name}</span> <strong>{money(s.price_cents)}</strong>{" "}
            <span className="muted">{s.stock > 0 ? t("inStock", { count: s.stock }) : t("soldOut")}</span>
          </label>
        ))}
      </fieldset>
      <Field id={`${id}-qty`} label={t("quantity")} field="items[0].quantity" error={action.error} inputMode="numeric" disabled={!!order} value={quantity} onChange={(e) => setQuantity(e.target.value)} />
      {chosen && <p data-testid="checkout-total">{t("total", { total: money(chosen.price_cents * Math.max(0, whole(quantity))) })}</p>}
      <p className="muted">{t("testStoreNote")}</p>
      <FormError error={action.error} fields={["items[0].quantity"]} fallback={t("errorGeneric")} />
      <button type="submit" className="primary" disabled={action.busy}>
        {action.busy ? t("submitting") : order ? t("payNow", { total: money(order.total_cents) }) : t("buyNow")}
      </button>
      {action.done && (
        <p role="status">
          {action.done} <Link href="/orders">{t("myOrders")}</Link>
        </p>
      )}
    </form>
  );
}

/** The buyer's orders, newest first. */
export function Orders() {
  useEffect(() => {
    document.title = `${t("myOrders")} · Loop`;
  }, []);
  const [page, reload] = useLoad(() => call(() => api.GET("/v1/orders", { params: { query: { role: "buyer", page_size: 50 } } })));
  return (
    <main className="page shop">
      <h1>{t("myOrders")}</h1>
      <button type="button" className="secondary" onClick={() => void reload()}>
        {t("reload")}
      </button>
      <Pending value={page} retry={() => void reload()} />
      {ready(page) && page.items.length === 0 && <p className="muted">{t("noOrders")}</p>}
      {ready(page) && (
        <ul className="campaigns" data-testid="orders">
          {page.items.map((o) => (
            <OrderItem key={o.order_id} order={o} role="buyer" />
          ))}
        </ul>
      )}
    </main>
  );
}

function OrderItem({ order: initial, role }: { order: Order; role: "buyer" | "seller" }) {
  const id = useId();
  const [o, setO] = useState(initial);
  useEffect(() => setO(initial), [initial]);
  const action = useAction();
  const keys = useRef<Record<string, string>>({});
  const keyFor = (step: string) => (keys.current[step] ??= key());
  const [ship, setShip] = useState({ carrier: "", tracking: "" });
  const [ret, setRet] = useState({ amount: "", reason: "", note: "" });
  const step = async (what: "pay" | "cancel" | "deliver" | "ship" | "return" | "approve" | "reject") => {
    const params = { path: { order_id: o.order_id }, header: { "Idempotency-Key": keyFor(what) } };
    const r = await action.run(
      () => {
        switch (what) {
          case "pay":
            return pay(o, keyFor(what));
          case "cancel":
            return call(() => api.POST("/v1/orders/{order_id}/cancel", { params, body: {} }));
          case "deliver":
            return call(() => api.POST("/v1/orders/{order_id}/deliver", { params }));
          case "ship":
            return call(() => api.POST("/v1/orders/{order_id}/ship", { params, body: { carrier: ship.carrier, tracking_number: ship.tracking } }));
          case "return":
            return call(() => api.POST("/v1/orders/{order_id}/return", { params, body: { amount_cents: ret.amount.trim() ? cents(ret.amount) : 0, reason: ret.reason } }));
          case "approve":
            return call(() => api.POST("/v1/orders/{order_id}/return/approve", { params, body: {} }));
          case "reject":
            return call(() => api.POST("/v1/orders/{order_id}/return/reject", { params, body: { note: ret.note } }));
        }
      },
      () =>
        t(
          (
            { pay: "orderPaidShort", cancel: "orderCancelledDone", deliver: "deliveryConfirmed", ship: "orderShippedDone", return: "cmReturnAsked", approve: "cmReturnApproved", reject: "cmReturnRejected" } as const
          )[what],
        ),
    );
    // A definite answer ends this attempt: the next one is a new change.
    if (r || (action.lastError()?.status ?? 0) !== 0) delete keys.current[what];
    if (r) setO(r);
  };
  const holdOpen = o.status === "on_hold" && (!o.hold_until || new Date(o.hold_until).getTime() > Date.now());
  const rr = o.return_request;
  return (
    <li className="campaign order" data-order-id={o.order_id} data-status={o.status}>
      <div className="campaign-head">
        <strong>{money(o.total_cents)}</strong>
        <span className="tag" data-testid="order-status">
          {t(STATUS[o.status])}
        </span>
        <span className="muted">{when(o.created_at)}</span>
      </div>
      <ul className="reasons">
        {o.items.map((i) => (
          <li key={`${i.sku_id}-${i.product_version}`}>
            <Link href={`/product/${i.product_id}?version=${i.product_version}`}>{i.title}</Link> · {i.sku_name} × {i.quantity} · {money(i.line_cents)}
          </li>
        ))}
      </ul>
      {holdOpen && role === "buyer" && o.hold_until && <p className="muted">{t("cancelUntil", { time: when(o.hold_until) })}</p>}
      {holdOpen && role === "seller" && o.hold_until && <p className="muted">{t("shipAfter", { time: when(o.hold_until) })}</p>}
      {o.tracking_number && (
        <p className="muted" data-testid="tracking">
          {t("trackingLine", { carrier: o.carrier ?? "", tracking: o.tracking_number })}
        </p>
      )}
      {o.cancel_reason && <p className="muted">{o.cancel_reason}</p>}
      {o.wallet_problem && <p className="form-error">{o.wallet_problem}</p>}
      {rr && (
        <p className="muted" data-testid="return" data-status={rr.status}>
          {t("cmReturnLine", { amount: money(rr.amount_cents), reason: rr.reason })} · {t(`cmReturn_${rr.status}` as const, { time: when(rr.answer_due) })}
          {rr.note && ` · ${rr.note}`}
        </p>
      )}
      {role === "buyer" && o.status === "delivered" && rr?.status !== "requested" && (
        <form onSubmit={(e) => (e.preventDefault(), void step("return"))} noValidate className="inline-form" aria-label={t("cmReturnAsk")}>
          <Field id={`${id}-ramount`} label={t("cmReturnAmount")} field="amount_cents" error={action.error} inputMode="decimal" value={ret.amount} onChange={(e) => setRet({ ...ret, amount: e.target.value })} />
          <Field id={`${id}-reason`} label={t("cmReturnReason")} field="reason" error={action.error} value={ret.reason} onChange={(e) => setRet({ ...ret, reason: e.target.value })} />
          <button type="submit" className="secondary" disabled={action.busy}>
            {t("cmReturnAsk")}
          </button>
        </form>
      )}
      {role === "seller" && rr?.status === "requested" && (
        <form onSubmit={(e) => (e.preventDefault(), void step("reject"))} noValidate className="inline-form" aria-label={t("cmReturnReject")}>
          <button type="button" className="primary" disabled={action.busy} onClick={() => void step("approve")}>
            {t("cmReturnApprove")}
          </button>
          <Field id={`${id}-note`} label={t("cmReturnNote")} field="note" error={action.error} value={ret.note} onChange={(e) => setRet({ ...ret, note: e.target.value })} />
          <button type="submit" className="secondary" disabled={action.busy}>
            {t("cmReturnReject")}
          </button>
        </form>
      )}
      {role === "buyer" && (
        <div className="admin-actions">
          {o.status === "unpaid" && (
            <button type="button" className="primary" disabled={action.busy} onClick={() => void step("pay")}>
              {t("payNow", { total: money(o.total_cents) })}
            </button>
          )}
          {(o.status === "unpaid" || holdOpen) && (
            <button type="button" className="secondary" disabled={action.busy} onClick={() => void step("cancel")}>
              {t("cancelOrder")}
            </button>
          )}
          {o.status === "shipped" && (
            <button type="button" className="primary" disabled={action.busy} onClick={() => void step("deliver")}>
              {t("confirmDelivery")}
            </button>
          )}
        </div>
      )}
      {role === "seller" && o.status === "awaiting_shipment" && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void step("ship");
          }}
          noValidate
          className="inline-form"
          aria-label={t("ship")}
        >
          <Field id={`${id}-carrier`} label={t("carrier")} field="carrier" error={action.error} value={ship.carrier} onChange={(e) => setShip({ ...ship, carrier: e.target.value })} />
          <Field id={`${id}-tracking`} label={t("trackingNumber")} field="tracking_number" error={action.error} value={ship.tracking} onChange={(e) => setShip({ ...ship, tracking: e.target.value })} />
          <button type="submit" className="primary" disabled={action.busy}>
            {action.busy ? t("submitting") : t("ship")}
          </button>
        </form>
      )}
      <FormError error={action.error} fields={["carrier", "tracking_number", "amount_cents", "reason", "note"]} fallback={t("errorGeneric")} />
      <Done text={action.done} />
    </li>
  );
}

/** Sellers: open a shop, list products, ship orders. */
export function Sell({ me }: { me: User }) {
  useEffect(() => {
    document.title = `${t("sell")} · Loop`;
  }, []);
  const [shop, reload] = useLoad(async () => {
    const r = await call(() => api.GET("/v1/shop"));
    // No shop yet is an answer, not a failure.
    return r.ok || r.error.status !== 404 ? r : { ok: true as const, data: undefined };
  });
  return (
    <main className="page shop">
      <h1>{t("sell")}</h1>
      <Pending value={shop} retry={() => void reload()} />
      {shop === undefined && <OpenShop onOpened={() => void reload()} />}
      {ready(shop) && shop && (
        <>
          <p>
            <strong data-testid="shop-name">{shop.name}</strong> {shop.description && <span className="muted">· {shop.description}</span>}
          </p>
          <SellerProducts shopId={shop.shop_id} me={me} />
          <SellerOrders />
        </>
      )}
    </main>
  );
}

function OpenShop({ onOpened }: { onOpened: () => void }) {
  const id = useId();
  const [v, setV] = useState({ name: "", description: "" });
  const action = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (await action.run(() => call(() => api.POST("/v1/shop", { body: { name: v.name, description: v.description } })))) onOpened();
  };
  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="inline-form" aria-label={t("openShop")}>
      <p className="muted">{t("openShopNote")}</p>
      <Field id={`${id}-name`} label={t("shopName")} field="name" error={action.error} value={v.name} onChange={(e) => setV({ ...v, name: e.target.value })} />
      <Field id={`${id}-desc`} label={t("description")} field="description" error={action.error} value={v.description} onChange={(e) => setV({ ...v, description: e.target.value })} />
      <FormError error={action.error} fields={["name", "description"]} fallback={t("errorGeneric")} />
      <button type="submit" className="primary" disabled={action.busy}>
        {action.busy ? t("submitting") : t("openShop")}
      </button>
    </form>
  );
}

function SellerProducts({ shopId, me }: { shopId: string; me: User }) {
  const [page, reload] = useLoad(() => call(() => api.GET("/v1/shops/{shop_id}/products", { params: { path: { shop_id: shopId }, query: { page_size: 50 } } })), [shopId, me.user_id]);
  return (
    <Section id="shop-products" title={t("products")}>
      <Pending value={page} retry={() => void reload()} />
      {ready(page) && page.items.length === 0 && <p className="muted">{t("noProducts")}</p>}
      {ready(page) && (
        <ul className="admin-list" data-testid="seller-products">
          {(page.items as Product[]).map((p) => (
            <li key={p.product_id} data-product-id={p.product_id}>
              <Link href={`/product/${p.product_id}`}>{p.title}</Link> <span className="tag">{label(p.status)}</span>{" "}
              <span className="muted">
                {t("versionN", { version: p.version })} · {p.skus.map((s) => `${s.name} ${money(s.price_cents)} (${s.stock})`).join(", ")}
              </span>
              {p.reject_reason && <p className="form-error">{t("bizRejectedBecause", { reason: p.reject_reason })}</p>}
            </li>
          ))}
        </ul>
      )}
      <NewProduct onCreated={() => void reload()} />
      {ready(page) && <Invites products={(page.items as Product[]).filter((p) => p.status === "approved")} />}
    </Section>
  );
}

const pct = (bps: number) => `${bps / 100}%`;

/** Invite a creator (by username) to feature an approved product at a rate; the invitations sent, each withdrawable. */
function Invites({ products }: { products: Product[] }) {
  const id = useId();
  const [v, setV] = useState({ product: "", handle: "", rate: "", message: "" });
  const [sent, reload] = useLoad(() => call(() => api.GET("/v1/invitations", { params: { query: { sent: true, page_size: 50 } } })));
  const action = useAction();
  const invite = async (e: FormEvent) => {
    e.preventDefault();
    const handle = v.handle.trim().replace(/^@/, "");
    const r = await action.run(
      async () => {
        const u = await call(() => api.GET("/v1/users/by-handle/{handle}", { params: { path: { handle } } }));
        if (!u.ok) return { ok: false as const, error: { ...u.error, field: "creator_id", message: u.error.message || t("errorGeneric") } };
        return call(() =>
          api.POST("/v1/products/{product_id}/invitations", {
            params: { path: { product_id: v.product || products[0]?.product_id || "" } },
            body: { creator_id: u.data.user_id, rate_bps: Math.round(Number(v.rate.replace(",", ".")) * 100) || 0, message: v.message.trim() || null },
          }),
        );
      },
      (i) => t("cmInvited", { handle, rate: pct(i.rate_bps) }),
    );
    if (!r) return;
    setV({ ...v, handle: "", rate: "", message: "" });
    void reload();
  };
  const withdraw = async (i: Schemas["InvitationDto"]) => {
    const path = { product_id: i.product_id, creator_id: i.creator_id };
    if (await action.run(() => call(() => api.DELETE("/v1/products/{product_id}/invitations/{creator_id}", { params: { path } })))) void reload();
  };
  return (
    <section aria-labelledby={`${id}-t`}>
      <h3 id={`${id}-t`}>{t("cmInvites")}</h3>
      <p className="muted">{t("cmInviteNote")}</p>
      {products.length > 0 && (
        <form onSubmit={(e) => void invite(e)} noValidate className="inline-form" aria-label={t("cmInvite")}>
          <div className="field">
            <label htmlFor={`${id}-p`}>{t("lsProduct")}</label>
            <select id={`${id}-p`} value={v.product} onChange={(e) => setV({ ...v, product: e.target.value })}>
              {products.map((p) => (
                <option key={p.product_id} value={p.product_id}>
                  {p.title}
                </option>
              ))}
            </select>
          </div>
          <Field id={`${id}-c`} label={t("cmCreator")} field="creator_id" error={action.error} autoComplete="off" value={v.handle} onChange={(e) => setV({ ...v, handle: e.target.value })} />
          <Field id={`${id}-r`} label={t("cmRate")} field="rate_bps" error={action.error} inputMode="decimal" value={v.rate} onChange={(e) => setV({ ...v, rate: e.target.value })} />
          <Field id={`${id}-m`} label={t("cmMessage")} field="message" error={action.error} value={v.message} onChange={(e) => setV({ ...v, message: e.target.value })} />
          <FormError error={action.error} fields={["creator_id", "rate_bps", "message"]} fallback={t("errorGeneric")} />
          <button type="submit" className="primary" disabled={action.busy}>
            {action.busy ? t("submitting") : t("cmInvite")}
          </button>
          <Done text={action.done} />
        </form>
      )}
      <Pending value={sent} retry={() => void reload()} />
      {ready(sent) && sent.items.length === 0 && <p className="muted">{t("cmNone")}</p>}
      {ready(sent) && (
        <ul className="admin-list" data-testid="sent-invitations">
          {sent.items.map((i) => (
            <li key={i.invitation_id} data-creator-id={i.creator_id} data-status={i.status}>
              <span>
                {i.product_title} · <Link href={`/users/${i.creator_id}`}>{i.creator_handle ? `@${i.creator_handle}` : t("cmCreator")}</Link> · {pct(i.rate_bps)}{" "}
                <span className="tag">{t(`cmStatus_${i.status}` as const)}</span>
              </span>
              {(i.status === "pending" || i.status === "accepted") && (
                <button type="button" className="secondary" disabled={action.busy} onClick={() => void withdraw(i)}>
                  {t("cmWithdraw")}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

interface SkuRow {
  name: string;
  price: string;
  stock: string;
}

function NewProduct({ onCreated }: { onCreated: () => void }) {
  const id = useId();
  const [v, setV] = useState({ title: "", category: "", description: "", image: "https://" });
  const [skus, setSkus] = useState<SkuRow[]>([{ name: "", price: "", stock: "10" }]);
  const action = useAction();
  const setSku = (i: number, k: keyof SkuRow, value: string) => setSkus(skus.map((s, j) => (j === i ? { ...s, [k]: value } : s)));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = await action.run(
      () =>
        call(() =>
          api.POST("/v1/products", {
            body: {
              title: v.title,
              category: v.category,
              description: v.description,
              image_urls: v.image.trim() && v.image.trim() !== "https://" ? [v.image.trim()] : [],
              skus: skus.map((s) => ({ name: s.name, price_cents: cents(s.price), stock: whole(s.stock) })),
            },
          }),
        ),
      (p) => t("productSubmitted", { title: p.title }),
    );
    if (!r) return;
    setV({ title: "", category: "", description: "", image: "https://" });
    setSkus([{ name: "", price: "", stock: "10" }]);
    onCreated();
  };
  const skuFields = skus.flatMap((_, i) => [`skus[${i}].name`, `skus[${i}].price_cents`, `skus[${i}].stock`]);
  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="inline-form" aria-label={t("newProduct")}>
      <h3>{t("newProduct")}</h3>
      <Field id={`${id}-title`} label={t("productTitle")} field="title" error={action.error} value={v.title} onChange={(e) => setV({ ...v, title: e.target.value })} />
      <Field id={`${id}-category`} label={t("category")} field="category" error={action.error} value={v.category} onChange={(e) => setV({ ...v, category: e.target.value })} />
      <Field id={`${id}-desc`} label={t("description")} field="description" error={action.error} value={v.description} onChange={(e) => setV({ ...v, description: e.target.value })} />
      <Field id={`${id}-image`} label={t("imageUrl")} field="image_urls" error={action.error} type="url" value={v.image} onChange={(e) => setV({ ...v, image: e.target.value })} />
      {skus.map((s, i) => (
        <fieldset key={i} className="sku-row">
          <legend>{t("skuN", { n: i + 1 })}</legend>
          <Field id={`${id}-sku${i}-name`} label={t("skuName")} field={`skus[${i}].name`} error={action.error} value={s.name} onChange={(e) => setSku(i, "name", e.target.value)} />
          <Field id={`${id}-sku${i}-price`} label={t("priceUsd")} field={`skus[${i}].price_cents`} error={action.error} inputMode="decimal" value={s.price} onChange={(e) => setSku(i, "price", e.target.value)} />
          <Field id={`${id}-sku${i}-stock`} label={t("stock")} field={`skus[${i}].stock`} error={action.error} inputMode="numeric" value={s.stock} onChange={(e) => setSku(i, "stock", e.target.value)} />
          {skus.length > 1 && (
            <button type="button" className="link" onClick={() => setSkus(skus.filter((_, j) => j !== i))}>
              {t("removeSku", { n: i + 1 })}
            </button>
          )}
        </fieldset>
      ))}
      <button type="button" className="secondary" onClick={() => setSkus([...skus, { name: "", price: "", stock: "10" }])}>
        {t("addSku")}
      </button>
      <FormError error={action.error} fields={["title", "category", "description", "image_urls", "skus", ...skuFields]} fallback={t("errorGeneric")} />
      <button type="submit" className="primary" disabled={action.busy}>
        {action.busy ? t("submitting") : t("submitProduct")}
      </button>
      <Done text={action.done} />
    </form>
  );
}

function SellerOrders() {
  const [page, reload] = useLoad(() => call(() => api.GET("/v1/orders", { params: { query: { role: "seller", page_size: 50 } } })));
  return (
    <Section id="shop-orders" title={t("shopOrders")}>
      <button type="button" className="secondary" onClick={() => void reload()}>
        {t("reload")}
      </button>
      <Pending value={page} retry={() => void reload()} />
      {ready(page) && page.items.length === 0 && <p className="muted">{t("noOrders")}</p>}
      {ready(page) && (
        <ul className="campaigns" data-testid="seller-orders">
          {page.items.map((o) => (
            <OrderItem key={o.order_id} order={o} role="seller" />
          ))}
        </ul>
      )}
    </Section>
  );
}

