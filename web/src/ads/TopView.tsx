// TopView: the first screen after app open, one UTC day, booked at the rate
// card's CPM. Quote (price and inventory left), reserve (the price is
// committed against the campaign budget), list and cancel before the day.
import { useEffect, useId, useRef, useState, type FormEvent } from "react";

import { api, call, type Schemas } from "../api/client";
import { Done, Pending, Section, key, label, ready, useAction, useLoad, whole } from "../biz/ui";
import { Field, FormError } from "../components/Field";
import { lang, t } from "../i18n";
import { money } from "../wallet/Wallet";

type Quote = Schemas["QuoteDto"];
type Reservation = Schemas["TopViewReservationDto"];

/** Tells the reservations list to reload (a booking happened elsewhere on the page). */
const CHANGED = "loop:topview";

const tomorrow = () => new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
const day = (date: string) => new Date(`${date}T00:00:00Z`).toLocaleDateString(lang, { dateStyle: "medium", timeZone: "UTC" });

/** Quote and reserve TopView impressions for one creative of a topview ad group. */
export function TopViewBook({ creativeId }: { creativeId: string }) {
  const id = useId();
  const [date, setDate] = useState(tomorrow);
  const [impressions, setImpressions] = useState("10000");
  const [quote, setQuote] = useState<Quote | null>(null);
  const quoting = useAction();
  const booking = useAction();
  // One key per booking, kept across retries: a lost response never books twice.
  const idem = useRef(key());
  const ask = async () => {
    setQuote(null);
    const r = await quoting.run(() => call(() => api.GET("/v1/ads/topview/quote", { params: { query: { date } } })));
    if (r) setQuote(r);
  };
  const reserve = async (e: FormEvent) => {
    e.preventDefault();
    const r = await booking.run(
      () =>
        call(() =>
          api.POST("/v1/ads/topview/reservations", {
            body: {
              idempotency_key: idem.current,
              creative_id: creativeId,
              date,
              impressions: whole(impressions),
              ...(quote && quote.date === date ? { expected_cpm_cents: quote.cpm_cents } : {}),
            },
          }),
        ),
      (res) => t("topViewBooked", { date: day(res.date), price: money(res.total_price_cents) }),
    );
    if (r) {
      idem.current = key();
      window.dispatchEvent(new Event(CHANGED));
    } else if ((booking.lastError()?.status ?? 0) >= 400 && (booking.lastError()?.status ?? 0) < 500) {
      // A refused booking reserved nothing: the next attempt is a new one.
      idem.current = key();
    }
  };
  const n = whole(impressions);
  const error = booking.error ?? quoting.error;
  return (
    <form onSubmit={(e) => void reserve(e)} noValidate className="inline-form topview-form" aria-label={t("bookTopView")}>
      <Field id={`${id}-date`} label={t("topViewDate")} field="date" error={error} type="date" value={date} onChange={(e) => setDate(e.target.value)} />
      <Field id={`${id}-imp`} label={t("topViewImpressions")} field="impressions" error={booking.error} inputMode="numeric" value={impressions} onChange={(e) => setImpressions(e.target.value)} />
      <div className="admin-actions">
        <button type="button" className="secondary" disabled={quoting.busy} onClick={() => void ask()}>
          {quoting.busy ? t("submitting") : t("getQuote")}
        </button>
        <button type="submit" className="primary" disabled={booking.busy}>
          {booking.busy ? t("submitting") : t("reserveTopView")}
        </button>
      </div>
      {quote && (
        <p role="status" data-testid="topview-quote">
          {t("topViewQuote", {
            cpm: money(quote.cpm_cents),
            available: quote.available_impressions.toLocaleString(lang),
            price: money(Math.ceil((n * quote.cpm_cents) / 1000)),
          })}
        </p>
      )}
      <FormError error={error} fields={["date", "impressions"]} fallback={t("errorGeneric")} />
      <Done text={booking.done} />
    </form>
  );
}

/** The advertiser's reservations, newest first, with Cancel before their day. */
export function TopViewList() {
  const [page, reload] = useLoad(() => call(() => api.GET("/v1/ads/topview/reservations", { params: { query: { page_size: 50 } } })));
  useEffect(() => {
    const again = () => void reload();
    window.addEventListener(CHANGED, again);
    return () => window.removeEventListener(CHANGED, again);
  }, [reload]);
  return (
    <Section id="topview-title" title={t("topViewReservations")}>
      <Pending value={page} retry={() => void reload()} />
      {ready(page) && page.items.length === 0 && <p className="muted">{t("noReservations")}</p>}
      {ready(page) && page.items.length > 0 && (
        <ul className="admin-list" data-testid="topview-reservations">
          {page.items.map((r) => (
            <ReservationItem key={r.reservation_id} reservation={r} />
          ))}
        </ul>
      )}
    </Section>
  );
}

function ReservationItem({ reservation }: { reservation: Reservation }) {
  const [r, setR] = useState(reservation);
  const cancel = useAction();
  const go = async () => {
    const x = await cancel.run(
      () => call(() => api.POST("/v1/ads/topview/reservations/{reservation_id}/cancel", { params: { path: { reservation_id: r.reservation_id } } })),
      () => t("reservationCancelled"),
    );
    if (x) setR(x);
  };
  return (
    <li data-reservation-id={r.reservation_id}>
      <p>
        <strong>{day(r.date)}</strong> · {t("impressionsCount", { count: r.impressions.toLocaleString(lang) })} · {money(r.total_price_cents)}{" "}
        <span className="tag" data-testid="reservation-status">
          {label(r.status)}
        </span>
      </p>
      <p className="muted">{t("delivered", { count: r.delivered_impressions.toLocaleString(lang) })}</p>
      {r.status === "confirmed" && (
        <button type="button" className="secondary" disabled={cancel.busy} onClick={() => void go()}>
          {t("cancelReservation")}
        </button>
      )}
      <FormError error={cancel.error} fields={[]} fallback={t("errorGeneric")} />
      <Done text={cancel.done} />
    </li>
  );
}
