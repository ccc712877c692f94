// Studio analytics, from what the API offers:
//  - the marketplace's analytics of the creator (`GET
//    /v1/marketplace/creators/{id}/analytics`: followers, average views and
//    videos over 30 days, engagement rate, audience split by age band,
//    gender and country, top hashtags, diamonds from gifts over 30 days);
//  - diamonds from gifts per day (the creator's own wallet transactions,
//    `GET /v1/wallet/transactions?asset=diamonds`, summed by day);
//  - the creator's own views (`GET /v1/marketplace/creator/videos`): views
//    per UTC day over 30 days (the chart) and per video views, distinct
//    viewers, likes, comments and shares, newest first; captions come from
//    `GET /v1/users/{id}/videos`.
import { useId } from "react";

import { api, call, type Schemas, type User } from "../api/client";
import { lang, t } from "../i18n";
import { LoadState, Shares, useLoad } from "./common";

type Transaction = Schemas["TransactionDto"];

/** Days shown in the diamonds chart. */
const DAYS = 14;

/** Diamonds each of the last `DAYS` days brought from gifts (oldest first, UTC days). */
export function diamondsPerDay(txs: Transaction[], me: string, now: Date): { day: string; diamonds: number }[] {
  const days: { day: string; diamonds: number }[] = [];
  for (let i = DAYS - 1; i >= 0; i--) {
    const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - i));
    days.push({ day: d.toISOString().slice(0, 10), diamonds: 0 });
  }
  const index = new Map(days.map((d, i) => [d.day, i]));
  for (const tx of txs) {
    if (tx.kind !== "gift" || !tx.created_at) continue;
    const i = index.get(tx.created_at.slice(0, 10));
    if (i === undefined) continue;
    for (const e of tx.entries) {
      if (e.asset === "diamonds" && e.account === `user:${me}` && e.amount > 0) days[i]!.diamonds += e.amount;
    }
  }
  return days;
}

async function recentDiamondTransactions() {
  const items: Transaction[] = [];
  let token: string | undefined;
  const since = Date.now() - DAYS * 86_400_000;
  // Newest first: stop at the first page that reaches past the chart's first day.
  for (let page = 0; page < 5; page++) {
    const r = await call(() =>
      api.GET("/v1/wallet/transactions", { params: { query: { asset: "diamonds", page_size: 100, page_token: token } } }),
    );
    if (!r.ok) return r;
    items.push(...r.data.items);
    token = r.data.next_page_token ?? undefined;
    const last = r.data.items.at(-1)?.created_at;
    if (!token || (last && Date.parse(last) < since)) break;
  }
  return { ok: true as const, data: items };
}

export function Analytics({ me }: { me: User }) {
  const [summary, reloadSummary] = useLoad(() =>
    call(() => api.GET("/v1/marketplace/creators/{creator_id}/analytics", { params: { path: { creator_id: me.user_id } } })),
  );
  const [gifts, reloadGifts] = useLoad(recentDiamondTransactions);
  const [videos, reloadVideos] = useLoad(() =>
    call(() => api.GET("/v1/users/{user_id}/videos", { params: { path: { user_id: me.user_id }, query: { page_size: 50 } } })),
  );
  const [views, reloadViews] = useLoad(() =>
    call(() => api.GET("/v1/marketplace/creator/videos", { params: { query: { page_size: 50 } } })),
  );
  const id = useId();
  const nf = new Intl.NumberFormat(lang);

  const reloadAll = () => {
    void reloadSummary();
    void reloadGifts();
    void reloadVideos();
    void reloadViews();
  };

  return (
    <>
      <section aria-labelledby={`${id}-overview`}>
        <h2 id={`${id}-overview`}>{t("last30Days")}</h2>
        <LoadState value={summary} retry={() => void reloadSummary()} />
        {summary.state === "ok" && (
          <>
            <dl className="stats" data-testid="analytics-summary">
              <div>
                <dt>{t("followersLabel")}</dt>
                <dd data-testid="stat-followers">{nf.format(summary.data.followers)}</dd>
              </div>
              <div>
                <dt>{t("avgViews")}</dt>
                <dd>{nf.format(summary.data.avg_views_30d)}</dd>
              </div>
              <div>
                <dt>{t("videosPosted")}</dt>
                <dd>{nf.format(summary.data.videos_30d)}</dd>
              </div>
              <div>
                <dt>{t("engagementRate")}</dt>
                <dd>{(summary.data.engagement_rate * 100).toFixed(1)}%</dd>
              </div>
              <div>
                <dt>{t("giftDiamonds")}</dt>
                <dd data-testid="stat-gift-diamonds">{nf.format(summary.data.gifts_received_diamonds_30d)}</dd>
              </div>
            </dl>
            <p className="muted">
              {summary.data.computed_at
                ? t("computedAt", { when: new Date(summary.data.computed_at).toLocaleString(lang) })
                : t("notComputedYet")}{" "}
              <button type="button" className="link" onClick={reloadAll}>
                {t("reload")}
              </button>
            </p>
            <h3>{t("audience")}</h3>
            <div className="audience">
              <div>
                <h4>{t("ageBands")}</h4>
                <Shares items={summary.data.audience_age_bands} label={t("ageBands")} ages />
              </div>
              <div>
                <h4>{t("genders")}</h4>
                <Shares items={summary.data.audience_genders} label={t("genders")} />
              </div>
              <div>
                <h4>{t("countries")}</h4>
                <Shares items={summary.data.audience_countries} label={t("countries")} />
              </div>
              <div>
                <h4>{t("topHashtags")}</h4>
                <Shares items={summary.data.top_hashtags} label={t("topHashtags")} />
              </div>
            </div>
          </>
        )}
      </section>
      <section aria-labelledby={`${id}-gifts`}>
        <h2 id={`${id}-gifts`}>{t("diamondsPerDay")}</h2>
        <LoadState value={gifts} retry={() => void reloadGifts()} />
        {gifts.state === "ok" && (
          <DayChart
            days={diamondsPerDay(gifts.data, me.user_id, new Date()).map((d) => ({ day: d.day, value: d.diamonds }))}
            label={(total, days) => t("diamondsChartLabel", { total, days })}
            caption={(total, from, to) => t("diamondsChartCaption", { total, from, to })}
            testid="diamonds-chart"
          />
        )}
      </section>
      <section aria-labelledby={`${id}-views`}>
        <h2 id={`${id}-views`}>{t("studioViewsPerDay")}</h2>
        <LoadState value={views} retry={() => void reloadViews()} />
        {views.state === "ok" && (
          <DayChart
            days={views.data.daily_views.map((d) => ({ day: d.day, value: d.views }))}
            label={(total, days) => t("viewsChartLabel", { total, days })}
            caption={(total, from, to) => t("viewsChartCaption", { total, from, to })}
            testid="views-chart"
          />
        )}
      </section>
      <section aria-labelledby={`${id}-videos`}>
        <h2 id={`${id}-videos`}>{t("videoStats")}</h2>
        <p className="muted">{t("videoStatsHint")}</p>
        <LoadState value={views} retry={() => void reloadViews()} />
        <LoadState value={videos} retry={() => void reloadVideos()} />
        {views.state === "ok" && views.data.items.length === 0 && <p className="muted">{t("noVideos")}</p>}
        {views.state === "ok" && views.data.items.length > 0 && (
          <div className="table-wrap">
            <table data-testid="video-stats">
              <thead>
                <tr>
                  <th scope="col">{t("caption")}</th>
                  <th scope="col">{t("viewsColumn")}</th>
                  <th scope="col">{t("viewersColumn")}</th>
                  <th scope="col">{t("likesColumn")}</th>
                  <th scope="col">{t("commentsColumn")}</th>
                  <th scope="col">{t("sharesColumn")}</th>
                </tr>
              </thead>
              <tbody>
                {views.data.items.map((v) => (
                  <tr key={v.video_id} data-video-id={v.video_id} data-views={v.views}>
                    <th scope="row">{(videos.state === "ok" && captions(videos.data.items).get(v.video_id)) || v.video_id}</th>
                    <td>{nf.format(v.views)}</td>
                    <td>{nf.format(v.unique_viewers)}</td>
                    <td>{nf.format(v.likes)}</td>
                    <td>{nf.format(v.comments)}</td>
                    <td>{nf.format(v.shares)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

/** Captions by video id, from the creator's public video list. */
function captions(items: { video_id: string; caption?: string | null }[]): Map<string, string> {
  return new Map(items.filter((v) => v.caption).map((v) => [v.video_id, v.caption as string]));
}

/** One bar per UTC day (oldest first), with its total as the figure's label. */
function DayChart({
  days,
  label,
  caption,
  testid,
}: {
  days: { day: string; value: number }[];
  label: (total: number, days: number) => string;
  caption: (total: number, from: string, to: string) => string;
  testid: string;
}) {
  const peak = Math.max(1, ...days.map((d) => d.value));
  const total = days.reduce((n, d) => n + d.value, 0);
  const fmt = new Intl.DateTimeFormat(lang, { month: "short", day: "numeric", timeZone: "UTC" });
  if (days.length === 0) return null;
  return (
    <figure className="dchart">
      <div className="bars" role="img" aria-label={label(total, days.length)} data-testid={testid} data-total={total} style={{ gridTemplateColumns: `repeat(${days.length}, 1fr)` }}>
        {days.map((d) => (
          <div key={d.day} className="bar-wrap" title={`${fmt.format(new Date(d.day))}: ${d.value}`} data-day={d.day} data-value={d.value}>
            <div className="bar" style={{ height: `${(100 * d.value) / peak}%` }} />
          </div>
        ))}
      </div>
      <figcaption className="muted">{caption(total, fmt.format(new Date(days[0]!.day)), fmt.format(new Date(days.at(-1)!.day)))}</figcaption>
    </figure>
  );
}
