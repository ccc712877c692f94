// The shop, for viewers and sellers:
//   /product/{id}  a product (its version, SKUs with price and stock) and checkout:
//                  the order (POST /v1/orders), then payment by card through the
//                  development store (a receipt for `commerce:order:<id>` and its total)
//   /orders        my orders: status, pay, cancel (while unpaid or within the hold after
//                  payment), confirm delivery, tracking
// The seller's page (/sell) is src/shop/Sell.tsx, its own chunk; it lists the shop's orders with
// OrderItem below (ship, answer a return, and the seller's tools it passes in).
// Every order change sends an Idempotency-Key, kept across retries of that change.
import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from "react";

import { api, call, type ApiError, type Schemas, type User } from "../api/client";
import { Done, Pending, cents, key, label, ready, useAction, useLoad, when, whole } from "../biz/ui";
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

/**
 * An amount to refund as typed: empty is 0, which the API reads as everything not yet refunded; one that is not
 * a positive amount goes as -1, which the server refuses by the amount's field (rather than as "everything").
 */
export const refundCents = (typed: string) => {
  if (!typed.trim()) return 0;
  const n = cents(typed);
  return n > 0 ? n : -1;
};

/** A key for one change, kept while it fails for want of an answer (network) and renewed after a definite answer. */
export function useKey() {
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
  return (
    <main className="page shop">
      <h1>{t("myOrders")}</h1>
      <OrderList role="buyer" testId="orders" />
    </main>
  );
}

/** The caller's orders as `role`, newest first (50), with Reload; `tools` as {@link OrderItem}'s. */
export function OrderList({
  role,
  testId,
  tools,
}: {
  role: "buyer" | "seller";
  testId: string;
  tools?: (order: Order, update: (o: Order) => void) => ReactNode;
}) {
  const [page, reload] = useLoad(() => call(() => api.GET("/v1/orders", { params: { query: { role, page_size: 50 } } })));
  return (
    <>
      <button type="button" className="secondary" onClick={() => void reload()}>
        {t("reload")}
      </button>
      <Pending value={page} retry={() => void reload()} />
      {ready(page) && page.items.length === 0 && <p className="muted">{t("noOrders")}</p>}
      {ready(page) && (
        <ul className="campaigns" data-testid={testId}>
          {page.items.map((o) => (
            <OrderItem key={o.order_id} order={o} role={role} tools={tools} />
          ))}
        </ul>
      )}
    </>
  );
}

/** An order's lines, each linking to the product version bought. */
export function OrderLines({ order }: { order: Order }) {
  return (
    <ul className="reasons">
      {order.items.map((i) => (
        <li key={`${i.sku_id}-${i.product_version}`}>
          <Link href={`/product/${i.product_id}?version=${i.product_version}`}>{i.title}</Link> · {i.sku_name} × {i.quantity} · {money(i.line_cents)}
        </li>
      ))}
    </ul>
  );
}

/** One order and the steps its buyer or seller may take; `tools` adds the seller page's own (given the order and a setter). */
export function OrderItem({
  order: initial,
  role,
  tools,
}: {
  order: Order;
  role: "buyer" | "seller";
  tools?: (order: Order, update: (o: Order) => void) => ReactNode;
}) {
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
            return call(() => api.POST("/v1/orders/{order_id}/return", { params, body: { amount_cents: refundCents(ret.amount), reason: ret.reason } }));
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
      <OrderLines order={o} />
      {holdOpen && role === "buyer" && o.hold_until && <p className="muted">{t("cancelUntil", { time: when(o.hold_until) })}</p>}
      {holdOpen && role === "seller" && o.hold_until && <p className="muted">{t("shipAfter", { time: when(o.hold_until) })}</p>}
      {o.tracking_number && (
        <p className="muted" data-testid="tracking">
          {t("trackingLine", { carrier: o.carrier ?? "", tracking: o.tracking_number })}
        </p>
      )}
      {o.refunded_cents > 0 && (
        <p className="muted" data-testid="refunded">
          {t("refundedSoFar", { amount: money(o.refunded_cents) })}
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
      {tools?.(o, setO)}
    </li>
  );
}
