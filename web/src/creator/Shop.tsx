// The creator's shop side: the showcase (`GET/POST/DELETE /v1/showcase`:
// products open to affiliates that the creator features, each earning the
// seller's commission rate on what the creator's videos sell) and the
// commissions earned (`GET /v1/commissions`: pending until the order
// settles, then payable, then paid; each attributed order with its state);
// sellers' invitations to feature a product (`GET /v1/invitations`: accept
// puts it in the showcase at the invited rate, or decline); and a video's
// product anchors (`GET/PUT /v1/videos/{id}/products`: showcase or own
// approved products, shown to the video's viewers).
import { useEffect, useId, useState, type FormEvent } from "react";

import { api, call, type ApiError, type Schemas, type User } from "../api/client";
import { errorFor } from "../components/Field";
import { lang, t } from "../i18n";
import type { MessageKey } from "../i18n/messages";
import { money } from "../wallet/Wallet";
import { errorText, Labelled, LoadState, useLoad, type Loaded } from "./common";

type Commission = Schemas["CommissionDto"];
type Product = Schemas["ProductDto"];

const bps = (n: number) => `${(n / 100).toFixed(n % 100 === 0 ? 0 : 1)}%`;

export function Shop({ me }: { me: User }) {
  const [showcase, reload] = useLoad(() => call(() => api.GET("/v1/showcase", { params: { query: { page_size: 50 } } })));
  const [productId, setProductId] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState("");
  const id = useId();

  const add = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setNotice("");
    setBusy(true);
    const r = await call(() => api.POST("/v1/showcase", { body: { product_id: productId.trim() } }));
    setBusy(false);
    if (!r.ok) return setError(r.error);
    setProductId("");
    setNotice(t("addedToShowcase", { title: r.data.product.title }));
    void reload();
  };
  const remove = async (product: string, title: string) => {
    setError(null);
    setNotice("");
    setBusy(true);
    const r = await call(() => api.DELETE("/v1/showcase/{product_id}", { params: { path: { product_id: product } } }));
    setBusy(false);
    if (!r.ok) return setError(r.error);
    setNotice(t("removedFromShowcase", { title }));
    void reload();
  };

  const fieldError = errorFor(error, "product_id");
  return (
    <>
      <section aria-labelledby={`${id}-showcase`}>
        <h2 id={`${id}-showcase`}>{t("showcase")}</h2>
        <p className="muted">{t("showcaseNote")}</p>
        <form onSubmit={(e) => void add(e)} noValidate className="row-form">
          <div className="field">
            <label htmlFor={`${id}-product`}>{t("productId")}</label>
            <input
              id={`${id}-product`}
              name="product_id"
              value={productId}
              autoComplete="off"
              aria-invalid={fieldError ? true : undefined}
              aria-describedby={fieldError ? `${id}-product-error` : undefined}
              onChange={(e) => setProductId(e.target.value)}
            />
            {fieldError && (
              <p className="field-error" id={`${id}-product-error`} data-field="product_id">
                {fieldError}
              </p>
            )}
          </div>
          <button type="submit" className="primary" disabled={busy}>
            {t("addToShowcase")}
          </button>
        </form>
        {error && !fieldError && (
          <p className="form-error" role="alert">
            {errorText(error)}
          </p>
        )}
        {notice && <p role="status">{notice}</p>}
        <LoadState value={showcase} retry={() => void reload()} />
        {showcase.state === "ok" && showcase.data.items.length === 0 && <p className="muted">{t("emptyShowcase")}</p>}
        {showcase.state === "ok" && showcase.data.items.length > 0 && (
          <ul className="list" data-testid="showcase">
            {showcase.data.items.map(({ product: p, rate_bps }) => {
              const prices = p.skus.map((s) => s.price_cents);
              return (
                <li key={p.product_id} data-product-id={p.product_id}>
                  <strong>{p.title}</strong>{" "}
                  {prices.length > 0 && <span>{money(Math.min(...prices))}</span>}{" "}
                  <span className="muted" data-testid="rate">{t("commissionRate", { rate: bps(rate_bps ?? p.affiliate_rate_bps) })}</span>{" "}
                  <button type="button" className="link" disabled={busy} onClick={() => void remove(p.product_id, p.title)}>
                    {t("removeFromShowcase", { title: p.title })}
                  </button>
                </li>
              );
            })}
          </ul>
        )}
      </section>
      <Invitations featured={showcase.state === "ok" ? showcase.data.items.map((i) => i.product.product_id) : null} onFeatured={() => void reload()} />
      <Anchors me={me} showcase={showcase} />
      <Commissions />
    </>
  );
}

/** Sellers' invitations to feature their products: accept the pending ones (which puts the product in the showcase) or decline. */
function Invitations({ featured, onFeatured }: { featured: string[] | null; onFeatured: () => void }) {
  const [data, reload] = useLoad(() => call(() => api.GET("/v1/invitations", { params: { query: { page_size: 50 } } })));
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState("");
  const id = useId();
  /** Accepts or declines; an accepted invitation only allows the showcase, so its product is added there too. */
  const answer = async (i: Schemas["InvitationDto"], accept: boolean | null) => {
    setError(null);
    setNotice("");
    setBusy(true);
    const path = { params: { path: { invitation_id: i.invitation_id } } };
    if (accept !== null) {
      const r = await call(() => (accept ? api.POST("/v1/invitations/{invitation_id}/accept", path) : api.POST("/v1/invitations/{invitation_id}/decline", path)));
      if (!r.ok) {
        setBusy(false);
        return setError(r.error);
      }
      setNotice(t("cmAnswered", { status: t(`cmStatus_${r.data.status}` as const) }));
      void reload();
    }
    if (accept !== false) {
      const r = await call(() => api.POST("/v1/showcase", { body: { product_id: i.product_id } }));
      if (!r.ok) setError(r.error);
      else if (accept === null) setNotice(t("addedToShowcase", { title: r.data.product.title }));
      onFeatured();
    }
    setBusy(false);
  };
  return (
    <section aria-labelledby={`${id}-t`}>
      <h2 id={`${id}-t`}>{t("cmInvites")}</h2>
      <LoadState value={data} retry={() => void reload()} />
      {data.state === "ok" && data.data.items.length === 0 && <p className="muted">{t("cmNone")}</p>}
      {data.state === "ok" && data.data.items.length > 0 && (
        <ul className="list" data-testid="invitations">
          {data.data.items.map((i) => (
            <li key={i.invitation_id} data-product-id={i.product_id} data-status={i.status}>
              <strong>{i.product_title}</strong> {i.seller_handle && <span className="muted">@{i.seller_handle}</span>}{" "}
              <span className="muted">{t("commissionRate", { rate: bps(i.rate_bps) })}</span>{" "}
              <span className="tag">{t(`cmStatus_${i.status}` as const)}</span>
              {i.message && <p className="muted">{i.message}</p>}
              {i.status === "pending" && (
                <span>
                  <button type="button" className="primary" disabled={busy} onClick={() => void answer(i, true)}>
                    {t("cmAccept")}
                  </button>{" "}
                  <button type="button" className="secondary" disabled={busy} onClick={() => void answer(i, false)}>
                    {t("cmDecline")}
                  </button>
                </span>
              )}
              {i.status === "accepted" && featured && !featured.includes(i.product_id) && (
                <button type="button" className="secondary" disabled={busy} onClick={() => void answer(i, null)}>
                  {t("addToShowcase")}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {error && (
        <p className="form-error" role="alert">
          {errorText(error)}
        </p>
      )}
      {notice && <p role="status">{notice}</p>}
    </section>
  );
}

/** Up to 3 products (showcase or own approved ones) anchored to one of the creator's videos. */
function Anchors({ me, showcase }: { me: User; showcase: Loaded<{ items: { product: Product }[] }> }) {
  const id = useId();
  const [videos, reloadVideos] = useLoad(() => call(() => api.GET("/v1/users/{user_id}/videos", { params: { path: { user_id: me.user_id }, query: { page_size: 50 } } })), [me.user_id]);
  const [own, reloadOwn] = useLoad(async () => {
    const shop = await call(() => api.GET("/v1/shop"));
    // No shop: no products of their own.
    if (!shop.ok) return shop.error.status === 404 ? { ok: true as const, data: [] as Product[] } : shop;
    const r = await call(() => api.GET("/v1/shops/{shop_id}/products", { params: { path: { shop_id: shop.data.shop_id }, query: { page_size: 50 } } }));
    return r.ok ? { ok: true as const, data: (r.data.items as Product[]).filter((p) => p.status === "approved") } : r;
  });
  const [chosen, setChosen] = useState("");
  const video = chosen || (videos.state === "ok" ? (videos.data.items[0]?.video_id ?? "") : "");
  const [current, reloadCurrent] = useLoad(
    () => (video ? call(() => api.GET("/v1/videos/{video_id}/products", { params: { path: { video_id: video } } })) : Promise.resolve({ ok: true as const, data: { products: [] as Product[] } })),
    [video],
  );
  const [picked, setPicked] = useState<string[]>([]);
  useEffect(() => {
    if (current.state === "ok") setPicked(current.data.products.map((p) => p.product_id));
  }, [current]);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState("");
  const options: Product[] = [];
  for (const p of [...(showcase.state === "ok" ? showcase.data.items.map((i) => i.product) : []), ...(own.state === "ok" ? own.data : [])])
    if (!options.some((o) => o.product_id === p.product_id)) options.push(p);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setNotice("");
    setBusy(true);
    const r = await call(() => api.PUT("/v1/videos/{video_id}/products", { params: { path: { video_id: video } }, body: { product_ids: picked } }));
    setBusy(false);
    if (!r.ok) return setError(r.error);
    setPicked(r.data.products.map((p) => p.product_id));
    setNotice(t("cmSaved", { count: r.data.products.length }));
  };
  const fieldError = errorFor(error, "product_ids");
  return (
    <section aria-labelledby={`${id}-t`}>
      <h2 id={`${id}-t`}>{t("cmAnchors")}</h2>
      <p className="muted">{t("cmAnchorsNote")}</p>
      <LoadState value={videos} retry={() => void reloadVideos()} />
      <LoadState value={own} retry={() => void reloadOwn()} />
      {videos.state === "ok" && videos.data.items.length === 0 && <p className="muted">{t("cmNoVideos")}</p>}
      {videos.state === "ok" && videos.data.items.length > 0 && own.state === "ok" && (
        <form onSubmit={(e) => void save(e)} noValidate className="inline-form" aria-label={t("cmAnchors")}>
          <Labelled id={`${id}-v`} label={t("cmVideo")} field="video_id" error={error}>
            {(a) => (
              <select {...a} value={video} onChange={(e) => setChosen(e.target.value)}>
                {videos.data.items.map((v) => (
                  <option key={v.video_id} value={v.video_id}>
                    {v.caption || v.video_id.slice(0, 8)}
                  </option>
                ))}
              </select>
            )}
          </Labelled>
          <LoadState value={current} retry={() => void reloadCurrent()} />
          {options.length === 0 ? (
            <p className="muted">{t("cmNoOptions")}</p>
          ) : (
            <fieldset className="skus" aria-describedby={fieldError ? `${id}-error` : undefined}>
              <legend>{t("products")}</legend>
              {options.map((p) => (
                <label key={p.product_id} className="sku">
                  <input
                    type="checkbox"
                    checked={picked.includes(p.product_id)}
                    onChange={() => setPicked(picked.includes(p.product_id) ? picked.filter((x) => x !== p.product_id) : [...picked, p.product_id])}
                  />{" "}
                  {p.title}
                </label>
              ))}
              {fieldError && (
                <p className="field-error" id={`${id}-error`} data-field="product_ids">
                  {fieldError}
                </p>
              )}
            </fieldset>
          )}
          {error && !fieldError && (
            <p className="form-error" role="alert">
              {errorText(error)}
            </p>
          )}
          <button type="submit" className="primary" disabled={busy || current.state !== "ok"}>
            {t("cmSave")}
          </button>
          {notice && <p role="status">{notice}</p>}
        </form>
      )}
    </section>
  );
}

const STATES: Record<Commission["state"], MessageKey> = {
  pending: "commissionPending",
  payable: "commissionPayable",
  paid: "commissionPaid",
};

function Commissions() {
  const [data, reload] = useLoad(() => call(() => api.GET("/v1/commissions", { params: { query: { page_size: 50 } } })));
  const id = useId();
  return (
    <section aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{t("commissions")}</h2>
      <LoadState value={data} retry={() => void reload()} />
      {data.state === "ok" && (
        <>
          <dl className="stats" data-testid="commission-totals">
            <div>
              <dt>{t("commissionPending")}</dt>
              <dd>{money(data.data.pending_cents)}</dd>
            </div>
            <div>
              <dt>{t("commissionPayable")}</dt>
              <dd>{money(data.data.payable_cents)}</dd>
            </div>
            <div>
              <dt>{t("commissionPaid")}</dt>
              <dd>{money(data.data.paid_cents)}</dd>
            </div>
          </dl>
          {data.data.items.length === 0 ? (
            <p className="muted">{t("noCommissions")}</p>
          ) : (
            <div className="table-wrap">
              <table data-testid="commissions">
                <thead>
                  <tr>
                    <th scope="col">{t("order")}</th>
                    <th scope="col">{t("orderTotal")}</th>
                    <th scope="col">{t("commission")}</th>
                    <th scope="col">{t("state")}</th>
                  </tr>
                </thead>
                <tbody>
                  {data.data.items.map((c) => (
                    <tr key={c.order_id} data-state={c.state}>
                      <th scope="row">{c.order_id.slice(0, 8)}</th>
                      <td>{money(c.order_cents)}</td>
                      <td>{money(c.commission_cents)}</td>
                      <td>
                        {t(STATES[c.state])}
                        {c.state !== "paid" && c.settle_at && (
                          <span className="muted"> · {t("settlesOn", { date: new Date(c.settle_at).toLocaleDateString(lang) })}</span>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}
