// The videos and LIVE rooms featuring a product (GET /v1/products/{id}/features), on its page.
import { api, call } from "../api/client";
import { ready, useLoad } from "../biz/ui";
import { t } from "../i18n";
import { Link } from "../router";

/** The videos and LIVE rooms featuring a product (its page). */
export function Features({ productId }: { productId: string }) {
  const [features, reload] = useLoad(() => call(() => api.GET("/v1/products/{product_id}/features", { params: { path: { product_id: productId } } })), [productId]);
  return (
    <section aria-labelledby="features-title" data-testid="features">
      <h2 id="features-title">{t("lsFeatured")}</h2>
      {features === null && <p role="status">{t("loading")}</p>}
      {features === "error" && (
        <p role="alert">
          {t("errorGeneric")}{" "}
          <button type="button" className="link" onClick={() => void reload()}>
            {t("retry")}
          </button>
        </p>
      )}
      {ready(features) && features.videos.length + features.live_rooms.length === 0 && <p className="muted">{t("lsNotFeatured")}</p>}
      {ready(features) && features.live_rooms.length + features.videos.length > 0 && (
        <ul className="reasons">
          {features.live_rooms.map((r) => (
            <li key={`r${r.id}`}>
              <Link href={`/live/${r.id}`}>{t("lsInLive")}</Link>
            </li>
          ))}
          {features.videos.map((v) => (
            <li key={`v${v.id}`}>
              <Link href={`/users/${v.creator_id}`}>{t("lsInVideo")}</Link>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
