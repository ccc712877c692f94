// Earnings: diamonds from gifts and cash from the marketplace, cashed out
// as payouts (`POST /v1/wallet/payouts`: diamonds or cents, one of the two;
// an admin approves or rejects each) and the list of the creator's payouts
// (`GET /v1/wallet/payouts`). A request keeps its idempotency key while the
// same amount is retried after a network failure, so a lost response never
// requests twice; a new amount, or an answer from the server, starts a new
// key.
import { useId, useRef, useState, type FormEvent } from "react";

import { api, call, type ApiError } from "../api/client";
import { errorFor } from "../components/Field";
import { lang, plural, t } from "../i18n";
import { money } from "../wallet/Wallet";
import { cents, errorText, LoadState, useLoad } from "./common";

export function Earnings() {
  const [balance, reloadBalance] = useLoad(() => call(() => api.GET("/v1/wallet/balance")));
  const [payouts, reloadPayouts] = useLoad(() => call(() => api.GET("/v1/wallet/payouts", { params: { query: { page_size: 50 } } })));
  const id = useId();
  const done = () => {
    void reloadBalance();
    void reloadPayouts();
  };
  return (
    <>
      <section aria-labelledby={`${id}-balance`}>
        <h2 id={`${id}-balance`}>{t("earnings")}</h2>
        <LoadState value={balance} retry={() => void reloadBalance()} />
        {balance.state === "ok" && (
          <dl className="stats">
            <div>
              <dt>{t("diamonds")}</dt>
              <dd data-testid="diamonds-available">{balance.data.diamonds.available}</dd>
              <dd className="muted worth">{t("worth", { value: money(balance.data.diamonds_cash_value_cents) })}</dd>
            </div>
            <div>
              <dt>{t("diamondsInPayouts")}</dt>
              <dd data-testid="diamonds-held">{balance.data.diamonds.held}</dd>
            </div>
            <div>
              <dt>{t("marketplaceEarnings")}</dt>
              <dd data-testid="cash-available">{money(balance.data.cents.available)}</dd>
            </div>
          </dl>
        )}
      </section>
      <PayoutForm kind="diamonds" onDone={done} />
      {balance.state === "ok" && balance.data.cents.available > 0 && <PayoutForm kind="cents" onDone={done} />}
      <section aria-labelledby={`${id}-payouts`}>
        <h2 id={`${id}-payouts`}>{t("payouts")}</h2>
        <LoadState value={payouts} retry={() => void reloadPayouts()} />
        {payouts.state === "ok" && payouts.data.items.length === 0 && <p className="muted">{t("noPayoutsYet")}</p>}
        {payouts.state === "ok" && payouts.data.items.length > 0 && (
          <ul className="list" data-testid="my-payouts">
            {payouts.data.items.map((p) => (
              <li key={p.payout_id} data-payout-id={p.payout_id} data-status={p.status}>
                <strong>{money(p.cash_value_cents)}</strong>{" "}
                <span>{p.diamonds > 0 ? plural(p.diamonds, "diamondsOne", "diamondsCount") : t("fromEarnings")}</span>{" "}
                <span className={`status status-${p.status}`}>{t(p.status === "approved" ? "payoutStatusApproved" : p.status === "rejected" ? "payoutStatusRejected" : "payoutStatusPending")}</span>{" "}
                {p.created_at && <span className="muted">{new Date(p.created_at).toLocaleString(lang)}</span>}
                {p.reject_reason && <p className="muted">{t("rejectedBecause", { reason: p.reject_reason })}</p>}
              </li>
            ))}
          </ul>
        )}
      </section>
    </>
  );
}

/** Requests a payout of diamonds (a count) or of marketplace earnings (dollars). */
function PayoutForm({ kind, onDone }: { kind: "diamonds" | "cents"; onDone: () => void }) {
  const [amount, setAmount] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState("");
  const attempt = useRef<{ amount: string; key: string } | null>(null);
  const id = useId();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setNotice("");
    // The number as typed goes to the server (0, -5, 1.5...): its refusal names the field.
    const value = kind === "diamonds" ? Number(amount.trim() === "" ? Number.NaN : amount) : cents(amount);
    if (!Number.isFinite(value) || !Number.isInteger(value)) {
      setError({ code: "invalid", field: kind, message: t(kind === "diamonds" ? "enterWholeDiamonds" : "enterAmount"), status: 400 });
      return;
    }
    if (attempt.current?.amount !== amount) attempt.current = { amount, key: crypto.randomUUID() };
    const key = attempt.current.key;
    setBusy(true);
    const r = await call(() =>
      api.POST("/v1/wallet/payouts", {
        params: { header: { "Idempotency-Key": key } },
        body: kind === "diamonds" ? { diamonds: value } : { cents: value },
      }),
    );
    setBusy(false);
    if (!r.ok) {
      // Answered by the server: the next try is a new request.
      if (r.error.status !== 0) attempt.current = null;
      setError(r.error);
      return;
    }
    attempt.current = null;
    setAmount("");
    setNotice(t("payoutRequested", { value: money(r.data.cash_value_cents) }));
    onDone();
  };

  // A rule the amount broke (below the minimum, more than is available) names no field: it is about this one.
  const field = errorFor(error, kind) ?? errorFor(error, "amount") ?? (error?.status === 422 && !error.field ? error.message : undefined);
  const label = kind === "diamonds" ? t("diamondsToCashOut") : t("earningsToCashOut");
  return (
    <form onSubmit={(e) => void submit(e)} noValidate aria-labelledby={`${id}-title`} data-testid={`payout-${kind}`}>
      <h2 id={`${id}-title`}>{kind === "diamonds" ? t("cashOutDiamonds") : t("cashOutEarnings")}</h2>
      <p className="muted">{t("payoutNote")}</p>
      <div className="field">
        <label htmlFor={`${id}-amount`}>{label}</label>
        <input
          id={`${id}-amount`}
          name={kind}
          inputMode={kind === "diamonds" ? "numeric" : "decimal"}
          value={amount}
          aria-invalid={field ? true : undefined}
          aria-describedby={field ? `${id}-amount-error` : undefined}
          onChange={(e) => setAmount(e.target.value)}
        />
        {field && (
          <p className="field-error" id={`${id}-amount-error`} data-field={error?.field ?? kind}>
            {field}
          </p>
        )}
      </div>
      {error && !field && (
        <p className="form-error" role="alert">
          {errorText(error)}
        </p>
      )}
      {notice && <p role="status">{notice}</p>}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? t("submitting") : t("requestPayout")}
      </button>
    </form>
  );
}
