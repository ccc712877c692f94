// Admin review queues: creators applying to the marketplace (approve, or
// reject with a reason they see) and shop products awaiting review (approve
// the version under review, or reject it with a reason the seller sees).
import { useState } from "react";

import { api, call, type Schemas } from "../api/client";
import { Done, Pending, Section, label, ready, useAction, useLoad, when } from "../biz/ui";
import { Field, FormError } from "../components/Field";
import { t } from "../i18n";
import { money } from "../wallet/Wallet";

type Application = Schemas["ApplicationDto"];
type Product = Schemas["ProductDto"];

export function ReviewQueues() {
  return (
    <>
      <ProductQueue />
      <ApplicationQueue />
    </>
  );
}

function ApplicationQueue() {
  const [page, reload] = useLoad(() => call(() => api.GET("/v1/admin/marketplace/applications", { params: { query: { status: "pending", page_size: 100 } } })));
  return (
    <Section id="applications-title" title={t("marketplaceApplications")}>
      <Pending value={page} retry={() => void reload()} />
      {ready(page) && page.items.length === 0 && <p className="muted">{t("noApplications")}</p>}
      {ready(page) && page.items.length > 0 && (
        <ul className="admin-list" data-testid="applications">
          {page.items.map((a) => (
            <ApplicationItem key={a.application_id} application={a} />
          ))}
        </ul>
      )}
    </Section>
  );
}

function ApplicationItem({ application: a }: { application: Application }) {
  const [reason, setReason] = useState("");
  const action = useAction();
  const decide = (decision: "approve" | "reject") =>
    action.run(
      () =>
        call(() =>
          api.POST("/v1/admin/marketplace/applications/{application_id}/review", {
            params: { path: { application_id: a.application_id } },
            body: decision === "approve" ? { decision } : { decision, rejection_reason: reason },
          }),
        ),
      () => (decision === "approve" ? t("bizApplicationApproved") : t("bizApplicationRejected")),
    );
  const id = `app-${a.application_id}`;
  return (
    <li data-application-id={a.application_id}>
      <p>
        <a href={`/users/${a.creator_id}`}>{a.creator_id.slice(0, 8)}</a> · {money(a.rate_cents)} · {t("followersAt", { count: a.followers_at_application })}
      </p>
      <p>
        {a.categories.map((c) => (
          <span key={c} className="tag">
            {c}
          </span>
        ))}{" "}
        <span className="muted">{when(a.created_at)}</span>
      </p>
      {a.pitch && <p className="muted">{a.pitch}</p>}
      {action.done ? (
        <Done text={action.done} />
      ) : (
        <>
          <Field id={id} label={t("rejectReasonShort")} field="rejection_reason" error={action.error} value={reason} onChange={(e) => setReason(e.target.value)} />
          <FormError error={action.error} fields={["rejection_reason"]} fallback={t("errorGeneric")} />
          <div className="admin-actions">
            <button type="button" className="primary" disabled={action.busy} onClick={() => void decide("approve")}>
              {t("approve")}
            </button>
            <button type="button" className="secondary" disabled={action.busy} onClick={() => void decide("reject")}>
              {t("reject")}
            </button>
          </div>
        </>
      )}
    </li>
  );
}

function ProductQueue() {
  const [page, reload] = useLoad(() => call(() => api.GET("/v1/admin/products", { params: { query: { status: "pending_review", page_size: 100 } } })));
  return (
    <Section id="products-title" title={t("productsAwaitingReview")}>
      <Pending value={page} retry={() => void reload()} />
      {ready(page) && page.items.length === 0 && <p className="muted">{t("noProductsToReview")}</p>}
      {ready(page) && page.items.length > 0 && (
        <ul className="admin-list" data-testid="product-queue">
          {page.items.map((p) => (
            <ProductItem key={p.product_id} product={p} />
          ))}
        </ul>
      )}
    </Section>
  );
}

function ProductItem({ product: p }: { product: Product }) {
  const [reason, setReason] = useState("");
  const action = useAction();
  const decide = (approve: boolean) => {
    const params = { path: { product_id: p.product_id } };
    return action.run(
      () =>
        approve
          ? call(() => api.POST("/v1/admin/products/{product_id}/approve", { params, body: { expected_version: p.version } }))
          : call(() => api.POST("/v1/admin/products/{product_id}/reject", { params, body: { expected_version: p.version, reason } })),
      (r) => (r.status === "approved" ? t("productApproved") : t("productRejected")),
    );
  };
  const id = `product-${p.product_id}`;
  return (
    <li data-product-id={p.product_id}>
      <p>
        <strong>{p.title}</strong> <span className="muted">{t("versionN", { version: p.version })} · {label(p.category)}</span>
      </p>
      {p.image_urls[0] && <img className="product-thumb" src={p.image_urls[0]} alt="" loading="lazy" />}
      {p.description && <p className="muted">{p.description}</p>}
      <ul className="reasons">
        {p.skus.map((s) => (
          <li key={s.sku_id}>
            {s.name}: {money(s.price_cents)} · {t("inStock", { count: s.stock })}
          </li>
        ))}
      </ul>
      {action.done ? (
        <Done text={action.done} />
      ) : (
        <>
          <Field id={id} label={t("rejectReasonSeller")} field="reason" error={action.error} value={reason} onChange={(e) => setReason(e.target.value)} />
          <FormError error={action.error} fields={["reason"]} fallback={t("errorGeneric")} />
          <div className="admin-actions">
            <button type="button" className="primary" disabled={action.busy} onClick={() => void decide(true)}>
              {t("approve")}
            </button>
            <button type="button" className="secondary" disabled={action.busy} onClick={() => void decide(false)}>
              {t("reject")}
            </button>
          </div>
        </>
      )}
    </li>
  );
}
