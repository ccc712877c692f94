import { useEffect, useRef, useState } from "react";

import { api, call, type ApiError, type Schemas, type User } from "../api/client";
import { Field, FormError } from "../components/Field";
import { lang, plural, t } from "../i18n";
import { money } from "../wallet/Wallet";
import { AttentionQueue } from "./Attention";
import { ReviewQueues } from "./Reviews";

type Report = Schemas["ReportDto"];
type Video = Schemas["VideoDto"];
type Payout = Schemas["PayoutDto"];
type Reconcile = Schemas["ReconcileDto"];

const when = (at?: string | null) => (at ? new Date(at).toLocaleString(lang) : "");

function Failed({ retry }: { retry: () => void }) {
  return (
    <p role="alert">
      {t("errorGeneric")}{" "}
      <button type="button" className="link" onClick={retry}>
        {t("retry")}
      </button>
    </p>
  );
}

/** Admins: the moderation queue, payouts awaiting approval, orders whose wallet step was refused, the review
 * queues, and the ledger's reconcile. */
export function Admin({ me }: { me: User }) {
  useEffect(() => {
    document.title = `${t("admin")} · Loop`;
  }, []);
  if (me.role !== "admin") {
    return (
      <main className="page admin">
        <h1>{t("admin")}</h1>
        <p role="alert">{t("adminOnly")}</p>
      </main>
    );
  }
  return (
    <main className="page admin">
      <h1>{t("admin")}</h1>
      <Moderation />
      <Payouts />
      <AttentionQueue />
      <ReviewQueues />
      <Ledger />
    </main>
  );
}

/** Open reports grouped by video (a decision resolves every report of its video; decided ones stay, with
 * what was decided, until the next visit). */
function Moderation() {
  const [reports, setReports] = useState<Report[] | null | "error">(null);
  const [videos, setVideos] = useState<Record<string, Video | undefined>>({});
  const load = async () => {
    setReports(null);
    const r = await call(() => api.GET("/v1/admin/reports", { params: { query: { status: "open", page_size: 100 } } }));
    if (!r.ok) return setReports("error");
    setReports(r.data.items);
    const ids = [...new Set(r.data.items.map((x) => x.video_id))];
    const found = await Promise.all(
      ids.map(async (id) => {
        const v = await call(() => api.GET("/v1/videos/{video_id}", { params: { path: { video_id: id } } }));
        return [id, v.ok ? v.data : undefined] as const;
      }),
    );
    setVideos(Object.fromEntries(found));
  };
  useEffect(() => {
    void load();
  }, []);

  const byVideo = new Map<string, Report[]>();
  if (Array.isArray(reports)) for (const r of reports) byVideo.set(r.video_id, [...(byVideo.get(r.video_id) ?? []), r]);

  return (
    <section aria-labelledby="moderation-title">
      <h2 id="moderation-title">{t("moderationQueue")}</h2>
      {reports === null && <p role="status">{t("loading")}</p>}
      {reports === "error" && <Failed retry={() => void load()} />}
      {Array.isArray(reports) && reports.length === 0 && <p className="muted">{t("noReports")}</p>}
      {byVideo.size > 0 && (
        <ul className="admin-list" data-testid="reports">
          {[...byVideo].map(([videoId, list]) => (
            <ReportedVideo
              key={videoId}
              videoId={videoId}
              video={videos[videoId]}
              reports={list}
            />
          ))}
        </ul>
      )}
    </section>
  );
}

function ReportedVideo({
  videoId,
  video,
  reports,
}: {
  videoId: string;
  video?: Video;
  reports: Report[];
}) {
  const [note, setNote] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState("");
  const decide = async (decision: "remove" | "approve") => {
    setBusy(true);
    setError(null);
    const r = await call(() =>
      api.POST("/v1/admin/videos/{video_id}/moderation", {
        params: { path: { video_id: videoId } },
        body: { decision, note },
      }),
    );
    setBusy(false);
    if (!r.ok) return setError(r.error);
    setDone(decision === "remove" ? t("takenDown") : t("dismissed"));
  };
  const id = `note-${videoId}`;
  return (
    <li data-video-id={videoId}>
      <p>
        <strong>{video ? video.caption : videoId}</strong>
        {video && <span className="muted"> @{video.creator_handle}</span>}
      </p>
      <ul className="reasons">
        {reports.map((r) => (
          <li key={r.report_id}>
            <span className="tag">{r.reason.replace(/_/g, " ")}</span> {r.details}{" "}
            <span className="muted">{when(r.created_at)}</span>
          </li>
        ))}
      </ul>
      {done ? (
        <p role="status">{done}</p>
      ) : (
        <>
          <Field id={id} label={t("moderationNote")} field="note" error={error} value={note} onChange={(e) => setNote(e.target.value)} />
          <FormError error={error} fields={["note"]} fallback={t("errorGeneric")} />
          <div className="admin-actions">
            <button type="button" className="primary" disabled={busy} onClick={() => void decide("remove")}>
              {t("takeDown")}
            </button>
            <button type="button" className="secondary" disabled={busy} onClick={() => void decide("approve")}>
              {t("dismiss")}
            </button>
          </div>
        </>
      )}
    </li>
  );
}

/** Pending payouts, oldest first: approve, or reject with a reason the creator sees. */
function Payouts() {
  const [payouts, setPayouts] = useState<Payout[] | null | "error">(null);
  const load = async () => {
    setPayouts(null);
    const r = await call(() => api.GET("/v1/wallet/payouts", { params: { query: { status: "pending", page_size: 100 } } }));
    setPayouts(r.ok ? r.data.items : "error");
  };
  useEffect(() => {
    void load();
  }, []);
  return (
    <section aria-labelledby="payouts-title">
      <h2 id="payouts-title">{t("pendingPayouts")}</h2>
      {payouts === null && <p role="status">{t("loading")}</p>}
      {payouts === "error" && <Failed retry={() => void load()} />}
      {Array.isArray(payouts) && payouts.length === 0 && <p className="muted">{t("noPayouts")}</p>}
      {Array.isArray(payouts) && payouts.length > 0 && (
        <ul className="admin-list" data-testid="payouts">
          {payouts.map((p) => (
            <PendingPayout key={p.payout_id} payout={p} />
          ))}
        </ul>
      )}
    </section>
  );
}

function PendingPayout({ payout }: { payout: Payout }) {
  const [reason, setReason] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState("");
  // One key per action, kept across retries: a lost response never decides twice.
  const keys = useRef({ approve: crypto.randomUUID(), reject: crypto.randomUUID() });
  const decide = async (action: "approve" | "reject") => {
    setBusy(true);
    setError(null);
    const params = { path: { payout_id: payout.payout_id }, header: { "Idempotency-Key": keys.current[action] } };
    const r =
      action === "approve"
        ? await call(() => api.POST("/v1/admin/payouts/{payout_id}/approve", { params }))
        : await call(() => api.POST("/v1/admin/payouts/{payout_id}/reject", { params, body: { reason } }));
    setBusy(false);
    if (!r.ok) return setError(r.error);
    setDone(action === "approve" ? t("payoutApproved") : t("payoutRejected"));
  };
  const id = `reason-${payout.payout_id}`;
  return (
    <li data-payout-id={payout.payout_id}>
      <p>
        <strong>{money(payout.cash_value_cents)}</strong> <span className="muted">({plural(payout.diamonds, "diamondsOne", "diamondsCount")})</span>
      </p>
      <p className="muted">
        {t("creator")}: {payout.creator_id} · {when(payout.created_at)}
      </p>
      {done ? (
        <p role="status">{done}</p>
      ) : (
        <>
          <Field id={id} label={t("rejectReason")} field="reason" error={error} value={reason} onChange={(e) => setReason(e.target.value)} />
          <FormError error={error} fields={["reason"]} fallback={t("errorGeneric")} />
          <div className="admin-actions">
            <button type="button" className="primary" disabled={busy} onClick={() => void decide("approve")}>
              {t("approve")}
            </button>
            <button type="button" className="secondary" disabled={busy} onClick={() => void decide("reject")}>
              {t("reject")}
            </button>
          </div>
        </>
      )}
    </li>
  );
}

/** Runs the wallet's reconcile and shows what it found. */
function Ledger() {
  const [result, setResult] = useState<Reconcile | null | "error" | "running">(null);
  const run = async () => {
    setResult("running");
    const r = await call(() => api.GET("/v1/admin/wallet/reconcile"));
    setResult(r.ok ? r.data : "error");
  };
  return (
    <section aria-labelledby="reconcile-title">
      <h2 id="reconcile-title">{t("reconcile")}</h2>
      <p className="muted">{t("reconcileNote")}</p>
      <button type="button" className="primary" disabled={result === "running"} onClick={() => void run()}>
        {t("runReconcile")}
      </button>
      {result === "running" && <p role="status">{t("loading")}</p>}
      {result === "error" && <p role="alert">{t("errorGeneric")}</p>}
      {result && typeof result === "object" && (
        <div data-testid="reconcile">
          <p role="status" className={result.consistent ? "ok" : "form-error"}>
            <strong>{result.consistent ? t("ledgerBalanced") : t("ledgerUnbalanced")}</strong>{" "}
            <span className="muted">{when(result.checked_at)}</span>
          </p>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">{t("asset")}</th>
                  <th scope="col">{t("entriesSum")}</th>
                  <th scope="col">{t("userBalances")}</th>
                  <th scope="col">{t("systemBalances")}</th>
                </tr>
              </thead>
              <tbody>
                {result.assets.map((a) => (
                  <tr key={a.asset}>
                    <th scope="row">{a.asset}</th>
                    <td>{a.entries_sum}</td>
                    <td>{a.user_balances}</td>
                    <td>{a.system_balances}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {!result.consistent && (
            <ul className="muted">
              {result.mismatched_accounts.map((m) => (
                <li key={`${m.asset}-${m.account}`}>
                  {m.account} ({m.asset}): {m.stored_balance} ≠ {m.entries_sum}
                </li>
              ))}
              {result.unbalanced_transaction_ids.map((id) => (
                <li key={id}>{t("unbalancedTx", { id })}</li>
              ))}
              {result.negative_user_accounts.map((a) => (
                <li key={a}>{t("negativeAccount", { account: a })}</li>
              ))}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}
