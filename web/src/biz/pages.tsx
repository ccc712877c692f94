// The advertiser console, the admin page and the shop load as their own
// chunks (React.lazy) the first time one is opened: the feed's first render
// does not carry them. This module maps their routes to pages and adds their
// menu entries.
import { lazy, Suspense, type ComponentType, type ReactNode } from "react";

import type { User } from "../api/client";
import { t } from "../i18n";
import { Link, type Route } from "../router";

function later<P extends object>(load: () => Promise<ComponentType<P>>) {
  const Lazy = lazy(async () => ({ default: await load() }));
  return function Page(props: P) {
    return (
      <Suspense
        fallback={
          <main className="page" aria-busy="true">
            <p role="status">{t("loading")}</p>
          </main>
        }
      >
        <Lazy {...props} />
      </Suspense>
    );
  };
}

export const Ads = later(() => import("../ads/Ads").then((m) => m.Ads));
export const Admin = later(() => import("../admin/Admin").then((m) => m.Admin));
const ProductPage = later(() => import("../shop/Shop").then((m) => m.ProductPage));
const Orders = later(() => import("../shop/Shop").then((m) => m.Orders));
// The seller's page is its own chunk (with the shop's, which it imports): the viewer app does not carry it.
const Sell = later(() => import("../shop/Sell").then((m) => m.Sell));
const SparkCodes = later(() => import("../ads/Spark").then((m) => m.SparkCodes));

/** The page of a shop or Spark route; null for the app's other routes. */
export function bizPage(route: Route, me: User): ReactNode | null {
  switch (route.page) {
    case "product":
      return <ProductPage key={route.productId} productId={route.productId} me={me} />;
    case "orders":
      return <Orders />;
    case "sell":
      return <Sell me={me} />;
    case "spark":
      return <SparkCodes me={me} />;
    default:
      return null;
  }
}

/** The menu's shop entries (everyone) and Spark codes (creators). */
export function BizMenu({ me, route }: { me: User; route: Route }) {
  const current = (page: Route["page"]) => (route.page === page ? "page" : undefined);
  return (
    <>
      <Link href="/orders" aria-current={current("orders")}>
        {t("myOrders")}
      </Link>
      <Link href="/sell" aria-current={current("sell")}>
        {t("sell")}
      </Link>
      {me.role === "creator" && (
        <Link href="/spark-codes" aria-current={current("spark")}>
          {t("sparkCodes")}
        </Link>
      )}
    </>
  );
}
