import { useEffect, useId, useRef, useState, type FormEvent } from "react";

import { api, call, type ApiError, type Schemas, type User } from "../api/client";
import { Field, FormError, errorFor } from "../components/Field";
import { lang, t } from "../i18n";
import { money, useBalance } from "../wallet/Wallet";
import { testReceipt } from "../wallet/testStore";
import { CampaignManage } from "./Manage";
import { Marketplace } from "./Market";
import { TopViewList } from "./TopView";

type Campaign = Schemas["CampaignDto"];
type Report = Schemas["AdReportDto"];
type Objective = Schemas["CampaignBody"]["objective"];
type Cta = Schemas["CreativeBody"]["call_to_action"];

const OBJECTIVES: Objective[] = ["reach", "traffic", "video_views", "conversions"];
const CTAS: Cta[] = ["learn_more", "shop_now", "sign_up", "download", "watch_more", "book_now", "contact_us"];
const AGE_BANDS = ["13_17", "18_24", "25_34", "35_44", "45_54", "55_plus"] as const;

/** Dollars typed by a person as whole cents (NaN stays NaN: the server names the field). */
const cents = (dollars: string) => Math.round(Number.parseFloat(dollars.replace(",", ".")) * 100);
const list = (text: string) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/** Advertiser console: fund the account, create a campaign (ad group with targeting and a creative), reports. */
export function Ads({ me }: { me: User }) {
  const [campaigns, setCampaigns] = useState<Campaign[] | null | "error">(null);
  const [balance, reloadBalance] = useBalance();
  const load = async () => {
    const r = await call(() => api.GET("/v1/ads/campaigns", { params: { query: { page_size: 50 } } }));
    setCampaigns(r.ok ? r.data.items : "error");
  };
  useEffect(() => {
    document.title = `${t("ads")} · Loop`;
    if (me.role === "advertiser") void load();
  }, [me.role]);

  if (me.role !== "advertiser") {
    return (
      <main className="page">
        <h1>{t("ads")}</h1>
        <p>{t("adsAdvertisersOnly")}</p>
      </main>
    );
  }
  return (
    <main className="page ads">
      <h1>{t("ads")}</h1>
      <section aria-labelledby="ads-balance">
        <h2 id="ads-balance">{t("adBalance")}</h2>
        {balance === null && <p role="status">{t("loading")}</p>}
        {balance === "error" && <p role="alert">{t("errorGeneric")}</p>}
        {balance && balance !== "error" && (
          <p>
            <strong data-testid="cash">{money(balance.cents.available)}</strong>{" "}
            <span className="muted">{t("reserved", { value: money(balance.cents.held) })}</span>
          </p>
        )}
        <Fund onFunded={() => void reloadBalance()} />
      </section>
      <section aria-labelledby="ads-campaigns">
        <h2 id="ads-campaigns">{t("campaigns")}</h2>
        {campaigns === null && <p role="status">{t("loading")}</p>}
        {campaigns === "error" && (
          <p role="alert">
            {t("errorGeneric")}{" "}
            <button type="button" className="link" onClick={() => void load()}>
              {t("retry")}
            </button>
          </p>
        )}
        {Array.isArray(campaigns) && campaigns.length === 0 && <p className="muted">{t("noCampaigns")}</p>}
        {Array.isArray(campaigns) && (
          <ul className="campaigns">
            {campaigns.map((c) => (
              <CampaignRow key={c.campaign_id} campaign={c} />
            ))}
          </ul>
        )}
      </section>
      <NewCampaign
        onCreated={() => {
          void load();
          void reloadBalance();
        }}
      />
      <TopViewList />
      <Marketplace />
    </main>
  );
}

/** Add cash to the advertiser balance (development store receipts, as coins). */
function Fund({ onFunded }: { onFunded: () => void }) {
  const [amount, setAmount] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState("");
  const id = useId();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone("");
    const amount_cents = cents(amount);
    const value = Number.isFinite(amount_cents) ? amount_cents : 0;
    const receipt = await testReceipt("loop.cents", value, crypto.randomUUID()).catch(() => null);
    if (!receipt) {
      setBusy(false);
      return setError({ code: "store", message: t("storeUnavailable"), status: 0 });
    }
    const r = await call(() =>
      api.POST("/v1/wallet/top-ups", {
        params: { header: { "Idempotency-Key": crypto.randomUUID() } },
        body: { amount_cents: value, receipt },
      }),
    );
    setBusy(false);
    if (!r.ok) return setError(r.error);
    setAmount("");
    setDone(t("funded", { value: money(r.data.cents_balance) }));
    onFunded();
  };
  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="inline-form" aria-label={t("fund")}>
      <Field id={`${id}-amount`} label={t("fundAmount")} field="amount_cents" error={error} inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} />
      <FormError error={error} fields={["amount_cents"]} fallback={t("errorGeneric")} />
      <button type="submit" className="primary" disabled={busy}>
        {busy ? t("submitting") : t("fund")}
      </button>
      {done && <p role="status">{done}</p>}
    </form>
  );
}

type Step = "campaign" | "video" | "group" | "creative";

/** Duration of the video at `url` in ms, read by the browser (15 s if it cannot tell). */
function videoDuration(url: string): Promise<number> {
  return new Promise((resolve) => {
    const v = document.createElement("video");
    const done = (ms: number) => {
      v.removeAttribute("src");
      v.load();
      resolve(ms);
    };
    const timer = window.setTimeout(() => done(15_000), 8000);
    v.preload = "metadata";
    v.muted = true;
    v.onloadedmetadata = () => {
      window.clearTimeout(timer);
      const ms = Math.round(v.duration * 1000);
      done(Number.isFinite(ms) && ms >= 1000 ? Math.min(ms, 600_000) : 15_000);
    };
    v.onerror = () => {
      window.clearTimeout(timer);
      done(15_000);
    };
    v.src = url;
  });
}

/** One form, four calls: campaign (budget reserved), the ad's video (private), an in-feed ad
 * group with its targeting, and the creative. A failed step keeps what went through: sending
 * again continues from that step (the campaign's idempotency key is this form's). */
function NewCampaign({ onCreated }: { onCreated: () => void }) {
  const [v, setV] = useState({
    name: "",
    objective: "traffic" as Objective,
    budget: "100",
    daily: "50",
    bid: "5",
    countries: "",
    languages: "",
    interests: "",
    videoUrl: "",
    displayName: "",
    cta: "learn_more" as Cta,
    landing: "https://",
  });
  const [ages, setAges] = useState<string[]>([]);
  const [failed, setFailed] = useState<{ step: Step; error: ApiError } | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState("");
  const made = useRef<{ key: string; campaignId?: string; videoId?: string; groupId?: string }>({ key: crypto.randomUUID() });
  const id = useId();
  const set = (k: keyof typeof v) => (e: { target: { value: string } }) => setV({ ...v, [k]: e.target.value });
  const err = (step: Step) => (failed?.step === step ? failed.error : null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setFailed(null);
    setDone("");
    const m = made.current;
    const fail = (step: Step, error: ApiError) => {
      setBusy(false);
      setFailed({ step, error });
    };
    if (!m.campaignId) {
      const r = await call(() =>
        api.POST("/v1/ads/campaigns", {
          body: { idempotency_key: m.key, name: v.name, objective: v.objective, total_budget_cents: cents(v.budget) || 0 },
        }),
      );
      if (!r.ok) {
        // A refused campaign reserved nothing: the next attempt is a new one.
        if (r.error.status >= 400 && r.error.status < 500) m.key = crypto.randomUUID();
        return fail("campaign", r.error);
      }
      m.campaignId = r.data.campaign_id;
    }
    if (!m.videoId) {
      const duration_ms = await videoDuration(v.videoUrl);
      const r = await call(() =>
        api.POST("/v1/videos", { body: { caption: v.displayName || v.name, media_url: v.videoUrl, duration_ms, visibility: "private" } }),
      );
      if (!r.ok) return fail("video", r.error);
      m.videoId = r.data.video_id;
    }
    if (!m.groupId) {
      const campaignId = m.campaignId;
      const r = await call(() =>
        api.POST("/v1/ads/campaigns/{campaign_id}/ad-groups", {
          params: { path: { campaign_id: campaignId } },
          body: {
            name: v.name,
            format: "in_feed",
            bid_type: "cpm",
            bid_cents: cents(v.bid) || 0,
            daily_budget_cents: cents(v.daily) || 0,
            schedule: { starts_at: new Date(Date.now() - 60_000).toISOString() },
            targeting: {
              countries: list(v.countries).map((c) => c.toUpperCase()),
              languages: list(v.languages).map((l) => l.toLowerCase()),
              interest_categories: list(v.interests),
              age_bands: ages as (typeof AGE_BANDS)[number][],
            },
          },
        }),
      );
      if (!r.ok) return fail("group", r.error);
      m.groupId = r.data.ad_group_id;
    }
    const groupId = m.groupId;
    const videoId = m.videoId;
    const r = await call(() =>
      api.POST("/v1/ads/ad-groups/{ad_group_id}/creatives", {
        params: { path: { ad_group_id: groupId } },
        body: { video_id: videoId, display_name: v.displayName, call_to_action: v.cta, landing_url: v.landing },
      }),
    );
    if (!r.ok) return fail("creative", r.error);
    made.current = { key: crypto.randomUUID() };
    setBusy(false);
    setDone(t("campaignLive", { name: v.name }));
    onCreated();
  };

  const field = (step: Step, name: string, label: string, key: keyof typeof v, extra: Record<string, string> = {}) => (
    <Field id={`${id}-${step}-${name}`} label={label} field={name} error={err(step)} value={v[key]} onChange={set(key)} {...extra} />
  );
  const shownFields: Record<Step, string[]> = {
    campaign: ["name", "total_budget_cents", "objective"],
    video: ["media_url"],
    group: ["daily_budget_cents", "bid_cents", "targeting"],
    creative: ["display_name", "landing_url", "call_to_action"],
  };
  return (
    <form onSubmit={(e) => void submit(e)} noValidate aria-labelledby={`${id}-title`} className="campaign-form">
      <h2 id={`${id}-title`}>{t("newCampaign")}</h2>
      <fieldset>
        <legend>{t("campaign")}</legend>
        {field("campaign", "name", t("campaignName"), "name")}
        <div className="field">
          <label htmlFor={`${id}-objective`}>{t("objective")}</label>
          <select id={`${id}-objective`} value={v.objective} onChange={set("objective")}>
            {OBJECTIVES.map((o) => (
              <option key={o} value={o}>
                {o.replace(/_/g, " ")}
              </option>
            ))}
          </select>
        </div>
        {field("campaign", "total_budget_cents", t("totalBudget"), "budget", { inputMode: "decimal" })}
      </fieldset>
      <fieldset>
        <legend>{t("adGroup")}</legend>
        {field("group", "daily_budget_cents", t("dailyBudget"), "daily", { inputMode: "decimal" })}
        {field("group", "bid_cents", t("cpmBid"), "bid", { inputMode: "decimal" })}
        {field("group", "targeting.countries", t("targetCountries"), "countries")}
        {field("group", "targeting.languages", t("targetLanguages"), "languages")}
        {field("group", "targeting.interest_categories", t("targetInterests"), "interests")}
        <fieldset className="roles">
          <legend>{t("targetAges")}</legend>
          {AGE_BANDS.map((a) => (
            <label key={a}>
              <input
                type="checkbox"
                checked={ages.includes(a)}
                onChange={(e) => setAges(e.target.checked ? [...ages, a] : ages.filter((x) => x !== a))}
              />{" "}
              {a.replace("_plus", "+").replace("_", "–")}
            </label>
          ))}
        </fieldset>
        {errorFor(err("group"), "targeting.age_bands") && (
          <p className="field-error" data-field="targeting.age_bands">
            {errorFor(err("group"), "targeting.age_bands")}
          </p>
        )}
      </fieldset>
      <fieldset>
        <legend>{t("creative")}</legend>
        {field("video", "media_url", t("adVideoUrl"), "videoUrl", { type: "url" })}
        {field("creative", "display_name", t("sponsorName"), "displayName")}
        <div className="field">
          <label htmlFor={`${id}-cta`}>{t("callToAction")}</label>
          <select id={`${id}-cta`} value={v.cta} onChange={set("cta")}>
            {CTAS.map((c) => (
              <option key={c} value={c}>
                {c.replace(/_/g, " ")}
              </option>
            ))}
          </select>
        </div>
        {field("creative", "landing_url", t("landingUrl"), "landing", { type: "url" })}
      </fieldset>
      {failed && <FormError error={failed.error} fields={shownFields[failed.step]} fallback={t("errorGeneric")} />}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? t("submitting") : t("launchCampaign")}
      </button>
      {done && <p role="status">{done}</p>}
    </form>
  );
}

const day = (d: Date) => d.toISOString().slice(0, 10);

type Metric = "impressions" | "clicks" | "views_6s" | "spend_cents";
const METRICS: { metric: Metric; key: "impressionsPerDay" | "clicksPerDay" | "viewsPerDay" | "spendPerDay" }[] = [
  { metric: "impressions", key: "impressionsPerDay" },
  { metric: "clicks", key: "clicksPerDay" },
  { metric: "views_6s", key: "viewsPerDay" },
  { metric: "spend_cents", key: "spendPerDay" },
];

/** A campaign with its report: totals, CTR and eCPM, and one metric per day as bars (the last 7 or 30 UTC days). */
function CampaignRow({ campaign: initial }: { campaign: Campaign }) {
  const [campaign, setCampaign] = useState(initial);
  const [managing, setManaging] = useState(false);
  const [open, setOpen] = useState(false);
  const [days, setDays] = useState(7);
  const [metric, setMetric] = useState<Metric>("impressions");
  const [report, setReport] = useState<Report | null | "error">(null);
  const id = useId();
  useEffect(() => {
    if (!open) return;
    const load = async () => {
      const end = new Date();
      const start = new Date(end.getTime() - (days - 1) * 86_400_000);
      const r = await call(() =>
        api.GET("/v1/ads/reports", {
          params: { query: { campaign_id: campaign.campaign_id, start_date: day(start), end_date: day(end) } },
        }),
      );
      setReport(r.ok ? r.data : "error");
    };
    void load();
    // Delivery is counted within seconds: an open report follows it.
    const timer = window.setInterval(() => !document.hidden && void load(), 3000);
    return () => window.clearInterval(timer);
  }, [open, campaign.campaign_id, days]);
  const totals = report && report !== "error" ? report.totals : null;
  const peak = report && report !== "error" ? Math.max(1, ...report.rows.map((r) => r[metric])) : 1;
  const caption = t(METRICS.find((m) => m.metric === metric)?.key ?? "impressionsPerDay");
  const shown = (n: number) => (metric === "spend_cents" ? money(n) : String(n));
  return (
    <li className="campaign" data-campaign-id={campaign.campaign_id}>
      <div className="campaign-head">
        <strong>{campaign.name}</strong>
        <span className="muted">
          {t("budgetSpent", { spent: money(campaign.spent_cents), budget: money(campaign.total_budget_cents) })} · {campaign.status}
        </span>
        <button type="button" className="link" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? t("hideReport") : t("showReport")}
        </button>
        <button type="button" className="link" aria-expanded={managing} onClick={() => setManaging(!managing)}>
          {managing ? t("hideManage") : t("manage")}
        </button>
      </div>
      {managing && <CampaignManage campaign={campaign} onChanged={setCampaign} />}
      {open && report === null && <p role="status">{t("loading")}</p>}
      {open && report === "error" && <p role="alert">{t("errorGeneric")}</p>}
      {open && report && report !== "error" && (
        <div className="report">
          <dl className="balances">
            <div>
              <dt>{t("impressions")}</dt>
              <dd data-testid="report-impressions">{totals?.impressions ?? 0}</dd>
            </div>
            <div>
              <dt>{t("clicks")}</dt>
              <dd>{totals?.clicks ?? 0}</dd>
            </div>
            <div>
              <dt>{t("views6s")}</dt>
              <dd>{totals?.views_6s ?? 0}</dd>
            </div>
            <div>
              <dt>{t("spend")}</dt>
              <dd>{money(totals?.spend_cents ?? 0)}</dd>
            </div>
            <div>
              <dt>{t("ctr")}</dt>
              <dd>{((totals?.ctr ?? 0) * 100).toFixed(2)}%</dd>
            </div>
            <div>
              <dt>{t("ecpm")}</dt>
              <dd>{money(totals?.ecpm_cents ?? 0)}</dd>
            </div>
          </dl>
          <div className="admin-actions">
            <div className="field">
              <label htmlFor={`${id}-metric`}>{t("chartMetric")}</label>
              <select id={`${id}-metric`} value={metric} onChange={(e) => setMetric(e.target.value as Metric)}>
                {METRICS.map((m) => (
                  <option key={m.metric} value={m.metric}>
                    {t(m.key)}
                  </option>
                ))}
              </select>
            </div>
            <div className="field">
              <label htmlFor={`${id}-days`}>{t("chartRange")}</label>
              <select id={`${id}-days`} value={days} onChange={(e) => setDays(Number(e.target.value))}>
                <option value={7}>{t("lastDays", { count: 7 })}</option>
                <option value={30}>{t("lastDays", { count: 30 })}</option>
              </select>
            </div>
          </div>
          <figure className="chart" aria-label={caption} style={{ gridTemplateColumns: `repeat(${Math.max(1, report.rows.length)}, 1fr)` }}>
            {report.rows.map((r) => (
              <div key={r.date ?? ""} className="bar-wrap" title={`${r.date}: ${shown(r[metric])}`}>
                <div className="bar" style={{ height: `${(100 * r[metric]) / peak}%` }} />
                <span>
                  {r.date
                    ? new Date(`${r.date}T00:00:00Z`).toLocaleDateString(lang, days > 7 ? { day: "numeric", timeZone: "UTC" } : { weekday: "short", timeZone: "UTC" })
                    : ""}
                </span>
              </div>
            ))}
            <figcaption className="muted">{caption}</figcaption>
          </figure>
        </div>
      )}
    </li>
  );
}
