// Spark Ads: a creator issues a code for one of their videos; an advertiser
// turns the code into a creative of a spark ad group ("sponsored by" the
// creator). Creators list, create and revoke their codes at /spark-codes.
import { useEffect, useId, useState, type FormEvent } from "react";

import { api, call, type Schemas, type User } from "../api/client";
import { Done, Pending, Section, label, ready, useAction, useLoad, when, whole } from "../biz/ui";
import { Field, FormError } from "../components/Field";
import { t } from "../i18n";
import { CTAS, Choice } from "./Manage";

type Cta = Schemas["SparkAdBody"]["call_to_action"];
type Code = Schemas["SparkCodeDto"];

/** Advertisers: a Spark Ad from a creator's code in a spark ad group. */
export function SparkAdForm({ adGroupId, onCreated }: { adGroupId: string; onCreated: () => void }) {
  const id = useId();
  const [v, setV] = useState({ code: "", cta: "learn_more" as Cta, landing: "https://" });
  const action = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = await action.run(
      () =>
        call(() =>
          api.POST("/v1/ads/ad-groups/{ad_group_id}/spark-ads", {
            params: { path: { ad_group_id: adGroupId } },
            body: { code: v.code.trim(), call_to_action: v.cta, landing_url: v.landing },
          }),
        ),
      () => t("sparkAdCreated"),
    );
    if (!r) return;
    setV({ code: "", cta: v.cta, landing: "https://" });
    onCreated();
  };
  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="inline-form" aria-label={t("addSparkAd")}>
      <Field id={`${id}-code`} label={t("sparkCode")} field="code" error={action.error} value={v.code} onChange={(e) => setV({ ...v, code: e.target.value })} />
      <Choice id={`${id}-cta`} text={t("callToAction")} value={v.cta} options={CTAS} onChange={(cta) => setV({ ...v, cta })} />
      <Field id={`${id}-landing`} label={t("landingUrl")} field="landing_url" error={action.error} type="url" value={v.landing} onChange={(e) => setV({ ...v, landing: e.target.value })} />
      <FormError error={action.error} fields={["code", "landing_url", "call_to_action"]} fallback={t("errorGeneric")} />
      <button type="submit" className="secondary" disabled={action.busy}>
        {action.busy ? t("submitting") : t("addSparkAd")}
      </button>
      <Done text={action.done} />
    </form>
  );
}

/** Creators: Spark codes for their videos (give one to an advertiser to boost the video). */
export function SparkCodes({ me }: { me: User }) {
  const id = useId();
  useEffect(() => {
    document.title = `${t("sparkCodes")} · Loop`;
  }, []);
  const [codes, reload] = useLoad(() => call(() => api.GET("/v1/spark-codes", { params: { query: { page_size: 50 } } })));
  const [videos, reloadVideos] = useLoad(
    () => call(() => api.GET("/v1/users/{user_id}/videos", { params: { path: { user_id: me.user_id }, query: { page_size: 50 } } })),
    [me.user_id],
  );
  const [videoId, setVideoId] = useState("");
  const [days, setDays] = useState("30");
  const action = useAction();
  if (me.role !== "creator") {
    return (
      <main className="page">
        <h1>{t("sparkCodes")}</h1>
        <p>{t("sparkCreatorsOnly")}</p>
      </main>
    );
  }
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const chosen = videoId || (ready(videos) ? (videos.items[0]?.video_id ?? "") : "");
    const r = await action.run(
      () => call(() => api.POST("/v1/spark-codes", { body: { video_id: chosen, validity_days: whole(days) } })),
      (c) => t("sparkCodeIssued", { code: c.code }),
    );
    if (r) void reload();
  };
  return (
    <main className="page">
      <h1>{t("sparkCodes")}</h1>
      <p className="muted">{t("sparkCodesNote")}</p>
      <form onSubmit={(e) => void submit(e)} noValidate className="inline-form" aria-label={t("issueSparkCode")}>
        <Pending value={videos} retry={() => void reloadVideos()} />
        {ready(videos) && (
          <div className="field">
            <label htmlFor={`${id}-video`}>{t("video")}</label>
            <select id={`${id}-video`} value={videoId} onChange={(e) => setVideoId(e.target.value)}>
              {videos.items.map((v) => (
                <option key={v.video_id} value={v.video_id}>
                  {v.caption || v.video_id}
                </option>
              ))}
            </select>
          </div>
        )}
        <Field id={`${id}-days`} label={t("validityDays")} field="validity_days" error={action.error} inputMode="numeric" value={days} onChange={(e) => setDays(e.target.value)} />
        <FormError error={action.error} fields={["validity_days"]} fallback={t("errorGeneric")} />
        <button type="submit" className="primary" disabled={action.busy}>
          {action.busy ? t("submitting") : t("issueSparkCode")}
        </button>
        <Done text={action.done} />
      </form>
      <Section id="spark-codes-title" title={t("yourCodes")}>
        <Pending value={codes} retry={() => void reload()} />
        {ready(codes) && codes.items.length === 0 && <p className="muted">{t("noSparkCodes")}</p>}
        {ready(codes) && (
          <ul className="admin-list">
            {codes.items.map((c) => (
              <CodeItem key={c.code} code={c} />
            ))}
          </ul>
        )}
      </Section>
    </main>
  );
}

function CodeItem({ code }: { code: Code }) {
  const [c, setC] = useState(code);
  const action = useAction();
  const revoke = async () => {
    const r = await action.run(() => call(() => api.POST("/v1/spark-codes/{code}/revoke", { params: { path: { code: c.code } } })));
    if (r) setC(r);
  };
  return (
    <li>
      <p>
        <code data-testid="spark-code">{c.code}</code> <span className="tag">{label(c.status)}</span>
      </p>
      <p className="muted">{t("expires", { date: when(c.expires_at) })}</p>
      {c.status === "active" && (
        <button type="button" className="secondary" disabled={action.busy} onClick={() => void revoke()}>
          {t("revoke")}
        </button>
      )}
      <FormError error={action.error} fields={[]} fallback={t("errorGeneric")} />
    </li>
  );
}
