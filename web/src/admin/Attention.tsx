// Admin: shop orders whose money step the wallet refused for good
// (`GET /v1/admin/orders/attention`, newest first: a refund or a
// settlement that will not go through by itself, `wallet_problem` says
// why). Once the cause is fixed, Retry wallet step with a note of what was
// fixed (`POST /v1/admin/orders/{id}/retry-wallet-step`): the problem is
// cleared and the step queued again with its original wallet key, so money
// never moves twice. The note is checked by the server (1..500 characters,
// not blank), whose error shows by the field.
import { useEffect, useId, useState, type FormEvent } from "react";

import { api, call, type Schemas } from "../api/client";
import { Done, Pending, Section, ready, useAction, useLoad, when } from "../biz/ui";
import { Field, FormError } from "../components/Field";
import { t } from "../i18n";
import { Link } from "../router";
import { OrderLines } from "../shop/Shop";
import { money } from "../wallet/Wallet";

type Order = Schemas["OrderDto"];

const PAGE = 50;

export function AttentionQueue() {
  const [first, reload] = useLoad(() => call(() => api.GET("/v1/admin/orders/attention", { params: { query: { page_size: PAGE } } })));
  // Later pages, appended by Show more (cleared when the first page is loaded again).
  const [more, setMore] = useState<{ items: Order[]; token?: string | null } | null>(null);
  const next = useAction();
  useEffect(() => setMore(null), [first]);
  const token = more ? more.token : ready(first) ? first.next_page_token : null;
  const showMore = async () => {
    const r = await next.run(() => call(() => api.GET("/v1/admin/orders/attention", { params: { query: { page_size: PAGE, page_token: token ?? "" } } })));
    if (r) setMore({ items: [...(more?.items ?? []), ...r.items], token: r.next_page_token });
  };
  const items = ready(first) ? [...first.items, ...(more?.items ?? [])] : [];
  return (
    <Section id="attention-title" title={t("ordersAttention")}>
      <p className="muted">{t("ordersAttentionNote")}</p>
      <button type="button" className="secondary" onClick={() => void reload()}>
        {t("reload")}
      </button>
      <Pending value={first} retry={() => void reload()} />
      {ready(first) && items.length === 0 && <p className="muted">{t("noOrdersAttention")}</p>}
      {items.length > 0 && (
        <ul className="admin-list" data-testid="attention">
          {items.map((o) => (
            <AttentionItem key={o.order_id} order={o} />
          ))}
        </ul>
      )}
      {token && (
        <button type="button" className="link" disabled={next.busy} onClick={() => void showMore()}>
          {next.busy ? t("loading") : t("showMore")}
        </button>
      )}
      <FormError error={next.error} fields={[]} fallback={t("errorGeneric")} />
    </Section>
  );
}

function AttentionItem({ order: o }: { order: Order }) {
  const id = useId();
  const [note, setNote] = useState("");
  const action = useAction();
  const retry = async (e: FormEvent) => {
    e.preventDefault();
    // Sent as typed: the server trims it and names `note` when nothing is left.
    const r = await action.run(
      () => call(() => api.POST("/v1/admin/orders/{order_id}/retry-wallet-step", { params: { path: { order_id: o.order_id } }, body: { note } })),
      () => t("walletStepRetried"),
    );
    // Someone cleared it meanwhile (another admin's retry): nothing is left to do here either.
    if (!r && action.lastError()?.reason === "NOTHING_TO_RETRY") {
      action.setError(null);
      action.setDone(t("walletStepAlreadyCleared"));
    }
  };
  return (
    <li data-order-id={o.order_id} data-status={o.status}>
      <p>
        <strong>{money(o.total_cents)}</strong> <span className="tag">{o.status.replace(/_/g, " ")}</span>{" "}
        <span className="muted">{when(o.created_at)}</span>
      </p>
      <p className="muted">
        {t("orderIdLine", { id: o.order_id })}
        {o.refunded_cents > 0 && ` · ${t("refundedSoFar", { amount: money(o.refunded_cents) })}`}
      </p>
      <p>
        {t("buyerLabel")}: <Who userId={o.buyer_id} /> · {t("sellerLabel")}: <Who userId={o.seller_id} />
      </p>
      <OrderLines order={o} />
      {o.wallet_problem && (
        <p className="form-error" data-testid="wallet-problem">
          {t("walletProblem", { problem: o.wallet_problem })}
        </p>
      )}
      {action.done ? (
        <Done text={action.done} />
      ) : (
        <form onSubmit={(e) => void retry(e)} noValidate className="inline-form" aria-label={t("retryWalletStep")}>
          <Field id={`${id}-note`} label={t("retryNote")} field="note" error={action.error} autoComplete="off" value={note} onChange={(e) => setNote(e.target.value)} />
          <FormError error={action.error} fields={["note"]} fallback={t("errorGeneric")} />
          <div className="admin-actions">
            <button type="submit" className="primary" disabled={action.busy}>
              {action.busy ? t("submitting") : t("retryWalletStep")}
            </button>
          </div>
        </form>
      )}
    </li>
  );
}

// One lookup per person however many orders name them.
const people = new Map<string, Promise<string | null>>();

/** A user as @handle linking to their profile (the id's start until it is known, or when it cannot be read). */
function Who({ userId }: { userId: string }) {
  const [handle, setHandle] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    if (!people.has(userId))
      people.set(
        userId,
        call(() => api.GET("/v1/users/{user_id}", { params: { path: { user_id: userId } } })).then((r) => {
          if (!r.ok) people.delete(userId); // asked again by the next page that shows them
          return r.ok ? r.data.handle : null;
        }),
      );
    void people.get(userId)!.then((h) => live && setHandle(h));
    return () => {
      live = false;
    };
  }, [userId]);
  return <Link href={`/users/${userId}`}>{handle ? `@${handle}` : userId.slice(0, 8)}</Link>;
}
