// The seller's page (/sell), its own chunk, loaded the first time it opens
// (the viewer app does not carry it):
//  - open a shop;
//  - the shop's products (status, version, options with price and stock, a
//    rejection's reason, the affiliate rate), each with Edit (`PUT /v1/products/{id}` with the
//    version edited: title, category, description, images, options; existing
//    options keep their id, new ones have a starting stock, those left out
//    are no longer sold; it makes a new version, off sale until an admin
//    approves it) and Stock (add or remove units of an option:
//    `POST /v1/skus/{id}/stock`) and Affiliates (open the product to every
//    creator at a commission, change the rate, close it:
//    `PUT/DELETE /v1/products/{id}/affiliate`); New product;
//  - creator invitations: invite a creator by username to feature an
//    approved product at a commission, the invitations sent, Withdraw;
//  - the shop's orders (OrderItem: ship, answer a return) with Refund on a
//    delivered order (`POST /v1/orders/{id}/refund`: an amount or everything
//    left, and why; its Idempotency-Key kept across retries of one refund).
// What the server refuses shows by the field it names.
import { useEffect, useId, useState, type FormEvent } from "react";

import { api, call, type ApiError, type Schemas, type User } from "../api/client";
import { Done, Pending, Section, cents, label, ready, useAction, useLoad, whole } from "../biz/ui";
import { Field, FormError, errorFor } from "../components/Field";
import { t } from "../i18n";
import { Link } from "../router";
import { money } from "../wallet/Wallet";
import { OrderList, refundCents, useKey } from "./Shop";

type Product = Schemas["ProductDto"];
type Order = Schemas["OrderDto"];
type Sku = Schemas["SkuDto"];

/** Sellers: open a shop, list and edit products, set stock, invite creators, ship and refund orders. */
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
            <SellerProduct key={p.product_id} product={p} onSaved={() => void reload()} />
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

function NewProduct({ onCreated }: { onCreated: () => void }) {
  const id = useId();
  const [v, setV] = useState({ title: "", category: "", description: "", image: "https://" });
  const [skus, setSkus] = useState<OptionRow[]>([{ name: "", price: "", stock: "10" }]);
  const action = useAction();
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
      <OptionRows id={id} rows={skus} setRows={setSkus} error={action.error} />
      <FormError error={action.error} fields={["title", "category", "description", "image_urls", "skus", ...skuFields]} fallback={t("errorGeneric")} />
      <button type="submit" className="primary" disabled={action.busy}>
        {action.busy ? t("submitting") : t("submitProduct")}
      </button>
      <Done text={action.done} />
    </form>
  );
}

/** A product form's options: name, price, and a starting stock for a new
 * option (an existing one's stock changes through Stock, not the form). */
function OptionRows({
  id,
  rows,
  setRows,
  error,
}: {
  id: string;
  rows: OptionRow[];
  setRows: (rows: OptionRow[]) => void;
  error: ApiError | null;
}) {
  const set = (i: number, k: "name" | "price" | "stock", value: string) => setRows(rows.map((s, j) => (j === i ? { ...s, [k]: value } : s)));
  return (
    <>
      {rows.map((s, i) => (
        <fieldset key={s.skuId ?? `new-${i}`} className="sku-row">
          <legend>{t("skuN", { n: i + 1 })}</legend>
          <Field id={`${id}-sku${i}-name`} label={t("skuName")} field={`skus[${i}].name`} error={error} value={s.name} onChange={(e) => set(i, "name", e.target.value)} />
          <Field id={`${id}-sku${i}-price`} label={t("priceUsd")} field={`skus[${i}].price_cents`} error={error} inputMode="decimal" value={s.price} onChange={(e) => set(i, "price", e.target.value)} />
          {s.skuId ? (
            <p className="muted">{t("stockElsewhere", { count: s.stock })}</p>
          ) : (
            <Field id={`${id}-sku${i}-stock`} label={t("stock")} field={`skus[${i}].stock`} error={error} inputMode="numeric" value={s.stock} onChange={(e) => set(i, "stock", e.target.value)} />
          )}
          {rows.length > 1 && (
            <button type="button" className="link" onClick={() => setRows(rows.filter((_, j) => j !== i))}>
              {t("removeSku", { n: i + 1 })}
            </button>
          )}
        </fieldset>
      ))}
      <button type="button" className="secondary" onClick={() => setRows([...rows, { name: "", price: "", stock: "10" }])}>
        {t("addSku")}
      </button>
    </>
  );
}

function SellerOrders() {
  return (
    <Section id="shop-orders" title={t("shopOrders")}>
      <OrderList role="seller" testId="seller-orders" tools={(order, update) => <Refund order={order} onRefunded={update} />} />
    </Section>
  );
}


/** A product of the shop with Edit and Stock, each opened by its own button. */
function SellerProduct({ product, onSaved }: { product: Product; onSaved: () => void }) {
  const id = useId();
  const [p, setP] = useState(product);
  useEffect(() => setP(product), [product]);
  const [open, setOpen] = useState<Panel | null>(null);
  const [saved, setSaved] = useState("");
  const toggle = (what: Panel) => {
    setSaved("");
    setOpen(open === what ? null : what);
  };
  return (
    <li data-product-id={p.product_id} data-version={p.version}>
      <p>
        <Link href={`/product/${p.product_id}`}>{p.title}</Link> <span className="tag">{label(p.status)}</span>{" "}
        <span className="muted" data-testid="product-line">
          {t("versionN", { version: p.version })} · {p.skus.map((s) => `${s.name} ${money(s.price_cents)} (${s.stock})`).join(", ")}
        </span>
        {p.affiliate_rate_bps > 0 && (
          <span className="tag" data-testid="affiliate-rate">
            {t("cmAffiliateOpenAt", { rate: pct(p.affiliate_rate_bps) })}
          </span>
        )}
      </p>
      {p.reject_reason && <p className="form-error">{t("bizRejectedBecause", { reason: p.reject_reason })}</p>}
      <div className="admin-actions">
        <button type="button" className="secondary" aria-expanded={open === "edit"} aria-controls={`${id}-panel`} onClick={() => toggle("edit")}>
          {t("edit")}
        </button>
        <button type="button" className="secondary" aria-expanded={open === "stock"} aria-controls={`${id}-panel`} onClick={() => toggle("stock")}>
          {t("stock")}
        </button>
        <button type="button" className="secondary" aria-expanded={open === "affiliates"} aria-controls={`${id}-panel`} onClick={() => toggle("affiliates")}>
          {t("cmAffiliates")}
        </button>
      </div>
      <Done text={saved} />
      <div id={`${id}-panel`}>
        {open === "edit" && (
          // A new form for each version: options added by the last save now have their ids.
          <EditProduct
            key={p.version}
            product={p}
            onSaved={(next) => {
              setP(next);
              setOpen(null);
              setSaved(t("productEdited", { version: next.version }));
              onSaved();
            }}
          />
        )}
        {open === "stock" &&
          p.skus.map((s) => <StockForm key={s.sku_id} sku={s} onChanged={(sku) => setP((now) => ({ ...now, skus: now.skus.map((x) => (x.sku_id === sku.sku_id ? sku : x)) }))} />)}
        {open === "affiliates" && <AffiliateForm product={p} onChanged={setP} />}
      </div>
    </li>
  );
}

type Panel = "edit" | "stock" | "affiliates";

/** Open a product to every creator at a commission (1-80%), change the rate, or close it. */
function AffiliateForm({ product, onChanged }: { product: Product; onChanged: (p: Product) => void }) {
  const id = useId();
  const isOpen = product.affiliate_rate_bps > 0;
  const [rate, setRate] = useState(isOpen ? String(product.affiliate_rate_bps / 100) : "");
  const action = useAction();
  const path = { product_id: product.product_id };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    // Blank or not a number is sent as 0: the server names `rate_bps` and its range.
    const rate_bps = Math.round(Number(rate.replace(",", ".")) * 100) || 0;
    const r = await action.run(
      () => call(() => api.PUT("/v1/products/{product_id}/affiliate", { params: { path }, body: { rate_bps } })),
      (p) => t("cmAffiliateOpened", { rate: pct(p.affiliate_rate_bps) }),
    );
    if (r) onChanged(r);
  };
  const close = async () => {
    const r = await action.run(() => call(() => api.DELETE("/v1/products/{product_id}/affiliate", { params: { path } })), () => t("cmAffiliateClosed"));
    if (!r) return;
    setRate("");
    onChanged(r);
  };
  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="inline-form" aria-label={t("cmAffiliates")}>
      <h3>{t("cmAffiliates")}</h3>
      <p className="muted">{t("cmAffiliateNote")}</p>
      <Field id={`${id}-rate`} label={t("cmRate")} field="rate_bps" error={action.error} inputMode="decimal" value={rate} onChange={(e) => setRate(e.target.value)} />
      <FormError error={action.error} fields={["rate_bps"]} fallback={t("errorGeneric")} />
      <button type="submit" className="primary" disabled={action.busy}>
        {action.busy ? t("submitting") : isOpen ? t("cmAffiliateChange") : t("cmAffiliateOpen")}
      </button>
      {isOpen && (
        <button type="button" className="secondary" disabled={action.busy} onClick={() => void close()}>
          {t("cmAffiliateClose")}
        </button>
      )}
      <Done text={action.done} />
    </form>
  );
}

/** A product form's option, as typed. */
interface OptionRow {
  /** Set for an option the product has: its stock is changed with Stock, not here. */
  skuId?: string;
  name: string;
  price: string;
  stock: string;
}

/** Edit a product: the whole new version (`PUT`), made from the version shown (`expected_version`). */
function EditProduct({ product, onSaved }: { product: Product; onSaved: (p: Product) => void }) {
  const id = useId();
  const [v, setV] = useState({ title: product.title, category: product.category, description: product.description });
  const [images, setImages] = useState(product.image_urls.length > 0 ? product.image_urls : [""]);
  const [skus, setSkus] = useState<OptionRow[]>(
    product.skus.map((s) => ({ skuId: s.sku_id, name: s.name, price: (s.price_cents / 100).toFixed(2), stock: String(s.stock) })),
  );
  const action = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = await action.run(() =>
      call(() =>
        api.PUT("/v1/products/{product_id}", {
          params: { path: { product_id: product.product_id } },
          body: {
            expected_version: product.version,
            title: v.title,
            category: v.category,
            description: v.description,
            // As typed, blank ones too: the server names the one at fault (`image_urls[i]`).
            image_urls: images.map((u) => u.trim()),
            skus: skus.map((s) =>
              s.skuId ? { sku_id: s.skuId, name: s.name, price_cents: cents(s.price) } : { name: s.name, price_cents: cents(s.price), stock: whole(s.stock) },
            ),
          },
        }),
      ),
    );
    if (r) onSaved(r);
  };
  // "image_urls" itself (none at all) is shown by the first image.
  const imageError: ApiError | null = action.error?.field === "image_urls" ? { ...action.error, field: "image_urls[0]" } : action.error;
  const skuFields = skus.flatMap((_, i) => [`skus[${i}].name`, `skus[${i}].price_cents`, `skus[${i}].stock`, `skus[${i}].sku_id`]);
  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="inline-form" aria-label={t("editProduct")}>
      <h3>{t("editProduct")}</h3>
      <p className="muted">{t("editProductNote", { version: product.version + 1 })}</p>
      <Field id={`${id}-title`} label={t("productTitle")} field="title" error={action.error} value={v.title} onChange={(e) => setV({ ...v, title: e.target.value })} />
      <Field id={`${id}-category`} label={t("category")} field="category" error={action.error} value={v.category} onChange={(e) => setV({ ...v, category: e.target.value })} />
      <Field id={`${id}-desc`} label={t("description")} field="description" error={action.error} value={v.description} onChange={(e) => setV({ ...v, description: e.target.value })} />
      {images.map((u, i) => (
        <div key={i}>
          <Field
            id={`${id}-image${i}`}
            label={t("imageUrlN", { n: i + 1 })}
            field={`image_urls[${i}]`}
            error={imageError}
            type="url"
            value={u}
            onChange={(e) => setImages(images.map((x, j) => (j === i ? e.target.value : x)))}
          />
          {images.length > 1 && (
            <button type="button" className="link" onClick={() => setImages(images.filter((_, j) => j !== i))}>
              {t("removeImage", { n: i + 1 })}
            </button>
          )}
        </div>
      ))}
      {images.length < 9 && (
        <button type="button" className="secondary" onClick={() => setImages([...images, "https://"])}>
          {t("addImage")}
        </button>
      )}
      <OptionRows id={id} rows={skus} setRows={setSkus} error={action.error} />
      <FormError
        error={action.error}
        fields={["title", "category", "description", "image_urls", "skus", ...images.map((_, i) => `image_urls[${i}]`), ...skuFields]}
        fallback={t("errorGeneric")}
      />
      <button type="submit" className="primary" disabled={action.busy}>
        {action.busy ? t("submitting") : t("saveProduct")}
      </button>
    </form>
  );
}

/** Add or remove units of one option (`POST /v1/skus/{id}/stock`). */
function StockForm({ sku, onChanged }: { sku: Sku; onChanged: (sku: Sku) => void }) {
  const id = useId();
  const [v, setV] = useState({ change: "add" as "add" | "remove", units: "" });
  const action = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = await action.run(
      () => call(() => api.POST("/v1/skus/{sku_id}/stock", { params: { path: { sku_id: sku.sku_id } }, body: { change: v.change, units: whole(v.units) } })),
      (s) => t("stockNow", { name: s.name, count: s.stock }),
    );
    const refused = action.lastError();
    // Removing more than there is names no field (`OUT_OF_STOCK`): it is about the units.
    if (refused?.reason === "OUT_OF_STOCK") action.setError({ ...refused, field: "units" });
    if (!r) return;
    onChanged(r);
    setV({ ...v, units: "" });
  };
  const changeError = errorFor(action.error, "change");
  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="inline-form" aria-label={t("stockOf", { name: sku.name })}>
      <h3>{t("stockOf", { name: sku.name })}</h3>
      <p data-testid="sku-stock">{t("inStock", { count: sku.stock })}</p>
      <div className="field">
        <label htmlFor={`${id}-change`}>{t("stockChange")}</label>
        <select
          id={`${id}-change`}
          name="change"
          value={v.change}
          aria-invalid={changeError ? true : undefined}
          aria-describedby={changeError ? `${id}-change-error` : undefined}
          onChange={(e) => setV({ ...v, change: e.target.value as "add" | "remove" })}
        >
          <option value="add">{t("stockAdd")}</option>
          <option value="remove">{t("stockRemove")}</option>
        </select>
        {changeError && (
          <p className="field-error" id={`${id}-change-error`} data-field="change">
            {changeError}
          </p>
        )}
      </div>
      <Field id={`${id}-units`} label={t("stockUnits")} field="units" error={action.error} inputMode="numeric" value={v.units} onChange={(e) => setV({ ...v, units: e.target.value })} />
      <FormError error={action.error} fields={["change", "units"]} fallback={t("errorGeneric")} />
      <button type="submit" className="primary" disabled={action.busy}>
        {action.busy ? t("submitting") : t("updateStock")}
      </button>
      <Done text={action.done} />
    </form>
  );
}

/** Refund a delivered order (none while the buyer's return request waits for an answer): an amount, or everything left. */
function Refund({ order, onRefunded }: { order: Order; onRefunded: (o: Order) => void }) {
  const id = useId();
  const [v, setV] = useState({ amount: "", reason: "" });
  const action = useAction();
  // One key per refund, kept while a try gets no answer (a retry never refunds twice).
  const refundKey = useKey();
  const open = order.status === "delivered" && order.return_request?.status !== "requested";
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = await action.run(
      () =>
        call(() =>
          api.POST("/v1/orders/{order_id}/refund", {
            params: { path: { order_id: order.order_id }, header: { "Idempotency-Key": refundKey.get() } },
            body: { amount_cents: refundCents(v.amount), reason: v.reason },
          }),
        ),
      (o) => t("refundDone", { amount: money(o.refunded_cents), total: money(o.total_cents) }),
    );
    refundKey.settle(action.lastError());
    if (!r) return;
    setV({ amount: "", reason: "" });
    onRefunded(r);
  };
  if (!open) return <Done text={action.done} />;
  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="inline-form" aria-label={t("refund")}>
      <Field
        id={`${id}-amount`}
        label={t("refundAmount", { left: money(order.total_cents - order.refunded_cents) })}
        field="amount_cents"
        error={action.error}
        inputMode="decimal"
        value={v.amount}
        onChange={(e) => setV({ ...v, amount: e.target.value })}
      />
      <Field id={`${id}-reason`} label={t("refundReason")} field="reason" error={action.error} value={v.reason} onChange={(e) => setV({ ...v, reason: e.target.value })} />
      <FormError error={action.error} fields={["amount_cents", "reason"]} fallback={t("errorGeneric")} />
      <button type="submit" className="secondary" disabled={action.busy}>
        {action.busy ? t("submitting") : t("refund")}
      </button>
      <Done text={action.done} />
    </form>
  );
}
