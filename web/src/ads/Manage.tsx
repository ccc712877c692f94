// The advertiser console's campaign management: pause/resume and edit a
// campaign; its ad groups (pause/resume, edit targeting and bids), each
// with several creatives (pause/resume, add one), Spark Ads for spark ad
// groups and TopView booking for topview ones; a new ad group.
import { useId, useState, type FormEvent } from "react";

import { api, call, type Schemas } from "../api/client";
import { Done, Pending, cents, label, list, ready, useAction, useLoad, whole } from "../biz/ui";
import { Field, FormError, errorFor } from "../components/Field";
import { t } from "../i18n";
import { money } from "../wallet/Wallet";
import { SparkAdForm } from "./Spark";
import { TopViewBook } from "./TopView";

type Campaign = Schemas["CampaignDto"];
type AdGroup = Schemas["AdGroupDto"];
type Creative = Schemas["CreativeDto"];
type Format = Schemas["AdGroupBody"]["format"];
type Cta = Schemas["CreativeBody"]["call_to_action"];
type AgeBand = NonNullable<Schemas["TargetingDto"]["age_bands"]>[number];

export const CTAS: Cta[] = ["learn_more", "shop_now", "sign_up", "download", "watch_more", "book_now", "contact_us"];
const FORMATS: Format[] = ["in_feed", "topview", "spark"];
const AGE_BANDS: AgeBand[] = ["13_17", "18_24", "25_34", "35_44", "45_54", "55_plus"];

/** A select with its label. */
export function Choice<T extends string>({
  id,
  text,
  value,
  options,
  onChange,
  names,
}: {
  id: string;
  text: string;
  value: T;
  options: T[];
  onChange: (v: T) => void;
  names?: Record<string, string>;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{text}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value as T)}>
        {options.map((o) => (
          <option key={o} value={o}>
            {names?.[o] ?? label(o)}
          </option>
        ))}
      </select>
    </div>
  );
}

/** Pause or resume, edit name and budget, and the campaign's ad groups. */
export function CampaignManage({ campaign, onChanged }: { campaign: Campaign; onChanged: (c: Campaign) => void }) {
  const id = useId();
  const toggle = useAction();
  const edit = useAction();
  const [name, setName] = useState(campaign.name);
  const [budget, setBudget] = useState(String(campaign.total_budget_cents / 100));
  const paused = campaign.status === "paused";
  const path = { params: { path: { campaign_id: campaign.campaign_id } } };
  const flip = async () => {
    const r = await toggle.run(() =>
      paused ? call(() => api.POST("/v1/ads/campaigns/{campaign_id}/resume", path)) : call(() => api.POST("/v1/ads/campaigns/{campaign_id}/pause", path)),
    );
    if (r) onChanged(r);
  };
  const save = async (e: FormEvent) => {
    e.preventDefault();
    const r = await edit.run(
      () => call(() => api.PATCH("/v1/ads/campaigns/{campaign_id}", { ...path, body: { name, total_budget_cents: cents(budget) } })),
      () => t("saved"),
    );
    if (r) onChanged(r);
  };
  return (
    <div className="manage">
      <div className="admin-actions">
        <button type="button" className="secondary" disabled={toggle.busy} onClick={() => void flip()}>
          {paused ? t("resume") : t("pause")}
        </button>
      </div>
      <FormError error={toggle.error} fields={[]} fallback={t("errorGeneric")} />
      <form onSubmit={(e) => void save(e)} noValidate className="inline-form" aria-label={t("editCampaign")}>
        <Field id={`${id}-name`} label={t("campaignName")} field="name" error={edit.error} value={name} onChange={(e) => setName(e.target.value)} />
        <Field id={`${id}-budget`} label={t("totalBudget")} field="total_budget_cents" error={edit.error} inputMode="decimal" value={budget} onChange={(e) => setBudget(e.target.value)} />
        <FormError error={edit.error} fields={["name", "total_budget_cents"]} fallback={t("errorGeneric")} />
        <button type="submit" className="secondary" disabled={edit.busy}>
          {edit.busy ? t("submitting") : t("saveCampaign")}
        </button>
        <Done text={edit.done} />
      </form>
      <AdGroups campaignId={campaign.campaign_id} />
    </div>
  );
}

function AdGroups({ campaignId }: { campaignId: string }) {
  const [groups, reload] = useLoad(
    () => call(() => api.GET("/v1/ads/campaigns/{campaign_id}/ad-groups", { params: { path: { campaign_id: campaignId }, query: { page_size: 50 } } })),
    [campaignId],
  );
  return (
    <div className="ad-groups">
      <h3>{t("adGroups")}</h3>
      <Pending value={groups} retry={() => void reload()} />
      {ready(groups) && groups.items.length === 0 && <p className="muted">{t("noAdGroups")}</p>}
      {ready(groups) && (
        <ul className="campaigns">
          {groups.items.map((g) => (
            <AdGroupItem key={g.ad_group_id} group={g} />
          ))}
        </ul>
      )}
      <AdGroupForm campaignId={campaignId} onSaved={() => void reload()} />
    </div>
  );
}

interface GroupValues {
  name: string;
  format: Format;
  bid: string;
  daily: string;
  cap: string;
  countries: string;
  languages: string;
  interests: string;
  ages: AgeBand[];
}

const valuesOf = (g?: AdGroup): GroupValues => ({
  name: g?.name ?? "",
  format: (g?.format as Format | undefined) ?? "in_feed",
  bid: g ? String(g.bid_cents / 100) : "5",
  daily: g ? String(g.daily_budget_cents / 100) : "50",
  cap: g ? String(g.frequency_cap_per_day) : "0",
  countries: g?.targeting.countries?.join(", ") ?? "",
  languages: g?.targeting.languages?.join(", ") ?? "",
  interests: g?.targeting.interest_categories?.join(", ") ?? "",
  ages: g?.targeting.age_bands ?? [],
});

const targeting = (v: GroupValues) => ({
  countries: list(v.countries).map((c) => c.toUpperCase()),
  languages: list(v.languages).map((l) => l.toLowerCase()),
  interest_categories: list(v.interests),
  age_bands: v.ages,
});

/** A new ad group of the campaign, or the edit of `group` (format cannot change). */
export function AdGroupForm({ campaignId, group, onSaved }: { campaignId: string; group?: AdGroup; onSaved: (g: AdGroup) => void }) {
  const id = useId();
  const [v, setV] = useState<GroupValues>(() => valuesOf(group));
  const action = useAction();
  const set = (k: keyof GroupValues) => (e: { target: { value: string } }) => setV({ ...v, [k]: e.target.value });
  const topview = v.format === "topview";
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const money = topview ? {} : { bid_cents: cents(v.bid), daily_budget_cents: cents(v.daily) };
    const r = group
      ? await action.run(
          () =>
            call(() =>
              api.PATCH("/v1/ads/ad-groups/{ad_group_id}", {
                params: { path: { ad_group_id: group.ad_group_id } },
                body: { name: v.name, ...money, frequency_cap_per_day: whole(v.cap), targeting: targeting(v) },
              }),
            ),
          () => t("saved"),
        )
      : await action.run(
          () =>
            call(() =>
              api.POST("/v1/ads/campaigns/{campaign_id}/ad-groups", {
                params: { path: { campaign_id: campaignId } },
                body: {
                  name: v.name,
                  format: v.format,
                  ...(topview ? {} : { bid_type: "cpm" as const }),
                  ...money,
                  frequency_cap_per_day: whole(v.cap),
                  schedule: { starts_at: new Date(Date.now() - 60_000).toISOString() },
                  targeting: targeting(v),
                },
              }),
            ),
          (g) => t("adGroupCreated", { name: g.name }),
        );
    if (!r) return;
    if (!group) setV(valuesOf());
    onSaved(r);
  };
  const f = (name: string, text: string, k: keyof GroupValues, extra: Record<string, string> = {}) => (
    <Field id={`${id}-${k}`} label={text} field={name} error={action.error} value={v[k] as string} onChange={set(k)} {...extra} />
  );
  const fields = ["name", "format", "bid_cents", "daily_budget_cents", "frequency_cap_per_day", "targeting", "schedule"];
  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="inline-form" aria-label={group ? t("editAdGroup") : t("newAdGroup")}>
      {!group && <h4>{t("newAdGroup")}</h4>}
      {f("name", t("adGroupName"), "name")}
      {!group && <Choice id={`${id}-format`} text={t("format")} value={v.format} options={FORMATS} onChange={(format) => setV({ ...v, format })} />}
      {!topview && f("daily_budget_cents", t("dailyBudget"), "daily", { inputMode: "decimal" })}
      {!topview && f("bid_cents", t("cpmBid"), "bid", { inputMode: "decimal" })}
      {f("frequency_cap_per_day", t("frequencyCap"), "cap", { inputMode: "numeric" })}
      {f("targeting.countries", t("targetCountries"), "countries")}
      {f("targeting.languages", t("targetLanguages"), "languages")}
      {f("targeting.interest_categories", t("targetInterests"), "interests")}
      <fieldset className="roles">
        <legend>{t("targetAges")}</legend>
        {AGE_BANDS.map((a) => (
          <label key={a}>
            <input
              type="checkbox"
              checked={v.ages.includes(a)}
              onChange={(e) => setV({ ...v, ages: e.target.checked ? [...v.ages, a] : v.ages.filter((x) => x !== a) })}
            />{" "}
            {a.replace("_plus", "+").replace("_", "–")}
          </label>
        ))}
      </fieldset>
      {errorFor(action.error, "targeting.age_bands") && (
        <p className="field-error" data-field="targeting.age_bands">
          {errorFor(action.error, "targeting.age_bands")}
        </p>
      )}
      <FormError error={action.error} fields={fields} fallback={t("errorGeneric")} />
      <button type="submit" className={group ? "secondary" : "primary"} disabled={action.busy}>
        {action.busy ? t("submitting") : group ? t("saveAdGroup") : t("createAdGroup")}
      </button>
      <Done text={action.done} />
    </form>
  );
}

function AdGroupItem({ group: initial }: { group: AdGroup }) {
  const [group, setGroup] = useState(initial);
  const [editing, setEditing] = useState(false);
  const toggle = useAction();
  const paused = group.status === "paused";
  const [creatives, reload] = useLoad(
    () => call(() => api.GET("/v1/ads/ad-groups/{ad_group_id}/creatives", { params: { path: { ad_group_id: group.ad_group_id }, query: { page_size: 50 } } })),
    [group.ad_group_id],
  );
  const flip = async () => {
    const params = { params: { path: { ad_group_id: group.ad_group_id } } };
    const r = await toggle.run(() =>
      paused ? call(() => api.POST("/v1/ads/ad-groups/{ad_group_id}/resume", params)) : call(() => api.POST("/v1/ads/ad-groups/{ad_group_id}/pause", params)),
    );
    if (r) setGroup(r);
  };
  return (
    <li className="campaign" data-ad-group={group.name}>
      <div className="campaign-head">
        <strong>{group.name}</strong>
        <span className="tag">{label(group.format)}</span>
        <span className="muted" data-testid="ad-group-status">
          {label(group.status)} · {label(group.delivery_state)}
        </span>
        {group.format !== "topview" && (
          <span className="muted">
            {t("bidDaily", { bid: money(group.bid_cents), daily: money(group.daily_budget_cents) })}
          </span>
        )}
      </div>
      <div className="admin-actions">
        <button type="button" className="secondary" disabled={toggle.busy} onClick={() => void flip()}>
          {paused ? t("resume") : t("pause")}
        </button>
        <button type="button" className="secondary" aria-expanded={editing} onClick={() => setEditing(!editing)}>
          {t("edit")}
        </button>
      </div>
      <FormError error={toggle.error} fields={[]} fallback={t("errorGeneric")} />
      {editing && <AdGroupForm campaignId={group.campaign_id} group={group} onSaved={setGroup} />}
      <h4>{t("creatives")}</h4>
      <Pending value={creatives} retry={() => void reload()} />
      {ready(creatives) && creatives.items.length === 0 && <p className="muted">{t("noCreatives")}</p>}
      {ready(creatives) && (
        <ul className="admin-list">
          {creatives.items.map((c) => (
            <CreativeItem key={c.creative_id} creative={c} topview={group.format === "topview"} />
          ))}
        </ul>
      )}
      {group.format === "spark" ? (
        <SparkAdForm adGroupId={group.ad_group_id} onCreated={() => void reload()} />
      ) : (
        <CreativeForm adGroupId={group.ad_group_id} onCreated={() => void reload()} />
      )}
    </li>
  );
}

function CreativeItem({ creative: initial, topview }: { creative: Creative; topview: boolean }) {
  const [c, setC] = useState(initial);
  const [booking, setBooking] = useState(false);
  const toggle = useAction();
  const paused = c.status === "paused";
  const flip = async () => {
    const r = await toggle.run(() =>
      call(() =>
        api.PATCH("/v1/ads/creatives/{creative_id}", {
          params: { path: { creative_id: c.creative_id } },
          body: { status: paused ? "active" : "paused" },
        }),
      ),
    );
    if (r) setC(r);
  };
  return (
    <li data-creative={c.display_name}>
      <p>
        <strong>{c.display_name}</strong> <span className="muted">{label(c.call_to_action)} · {label(c.status)}</span>
        {c.spark_code && <span className="muted"> · Spark</span>}
      </p>
      <div className="admin-actions">
        {(c.status === "active" || paused) && (
          <button type="button" className="secondary" disabled={toggle.busy} onClick={() => void flip()}>
            {paused ? t("resume") : t("pause")}
          </button>
        )}
        {topview && (
          <button type="button" className="secondary" aria-expanded={booking} onClick={() => setBooking(!booking)}>
            {t("bookTopView")}
          </button>
        )}
      </div>
      <FormError error={toggle.error} fields={[]} fallback={t("errorGeneric")} />
      {booking && <TopViewBook creativeId={c.creative_id} />}
    </li>
  );
}

/** A video creative: the ad's video (a private video from a URL), sponsor name, call to action, landing page. */
function CreativeForm({ adGroupId, onCreated }: { adGroupId: string; onCreated: () => void }) {
  const id = useId();
  const [v, setV] = useState({ url: "", name: "", cta: "learn_more" as Cta, landing: "https://" });
  const action = useAction();
  const [videoId, setVideoId] = useState<string | null>(null);
  const [step, setStep] = useState<"video" | "creative">("video");
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    let vid = videoId;
    if (!vid) {
      setStep("video");
      const r = await action.run(() =>
        call(() => api.POST("/v1/videos", { body: { caption: v.name || "Ad", media_url: v.url, duration_ms: 15_000, visibility: "private" } })),
      );
      if (!r) return;
      vid = r.video_id;
      setVideoId(vid);
    }
    setStep("creative");
    const videoIdNow = vid;
    const r = await action.run(
      () =>
        call(() =>
          api.POST("/v1/ads/ad-groups/{ad_group_id}/creatives", {
            params: { path: { ad_group_id: adGroupId } },
            body: { video_id: videoIdNow, display_name: v.name, call_to_action: v.cta, landing_url: v.landing },
          }),
        ),
      (c) => t("creativeAdded", { name: c.display_name }),
    );
    if (!r) return;
    setVideoId(null);
    setV({ url: "", name: "", cta: v.cta, landing: "https://" });
    onCreated();
  };
  const err = (s: typeof step) => (step === s ? action.error : null);
  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="inline-form" aria-label={t("addCreative")}>
      <Field id={`${id}-url`} label={t("adVideoUrl")} field="media_url" error={err("video")} type="url" value={v.url} onChange={(e) => setV({ ...v, url: e.target.value })} />
      <Field id={`${id}-name`} label={t("sponsorName")} field="display_name" error={err("creative")} value={v.name} onChange={(e) => setV({ ...v, name: e.target.value })} />
      <Choice id={`${id}-cta`} text={t("callToAction")} value={v.cta} options={CTAS} onChange={(cta) => setV({ ...v, cta })} />
      <Field id={`${id}-landing`} label={t("landingUrl")} field="landing_url" error={err("creative")} type="url" value={v.landing} onChange={(e) => setV({ ...v, landing: e.target.value })} />
      <FormError error={action.error} fields={["media_url", "display_name", "landing_url", "call_to_action"]} fallback={t("errorGeneric")} />
      <button type="submit" className="secondary" disabled={action.busy}>
        {action.busy ? t("submitting") : t("addCreative")}
      </button>
      <Done text={action.done} />
    </form>
  );
}


