// The app's paths (the gateway answers each with index.html):
//   /            For You           /following     Following
//   /@handle     a profile         /users/{id}    a profile by id
//   /studio      creator studio    /wallet        coins and history
//   /live        open LIVE rooms   /live/{id}     one room
//   /ads         advertiser console /admin       admins: moderation, payouts, reconcile
//   /discover    challenges, hashtag search   /tag/{name}  a hashtag
//   /filters     the viewer's keyword filters   /studio/{section}  studio: analytics, earnings, marketplace, shop
//   /product/{id} a product, checkout  /orders  my orders   /sell  my shop
//   /spark-codes creators' Spark Ads codes
import { createElement, useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from "react";

export type Route =
  | { page: "for-you" }
  | { page: "following" }
  | { page: "studio" }
  | { page: "wallet" }
  | { page: "ads" }
  | { page: "admin" }
  | { page: "discover" }
  | { page: "hashtag"; name: string }
  | { page: "live" }
  | { page: "room"; roomId: string }
  | { page: "profile"; handle?: string; userId?: string }
  | { page: "filters" }
  | { page: "studio-section"; section: string }
  | { page: "product"; productId: string }
  | { page: "orders" }
  | { page: "sell" }
  | { page: "spark" };

export function parse(path: string): Route {
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const [first, second] = parts;
  if (!first) return { page: "for-you" };
  if (first.startsWith("@") && first.length > 1) return { page: "profile", handle: first.slice(1) };
  if (first === "users" && second) return { page: "profile", userId: second };
  if (first === "following") return { page: "following" };
  if (first === "studio" && second) return { page: "studio-section", section: second };
  if (first === "studio") return { page: "studio" };
  if (first === "filters") return { page: "filters" };
  if (first === "wallet") return { page: "wallet" };
  if (first === "ads") return { page: "ads" };
  if (first === "admin") return { page: "admin" };
  if (first === "discover") return { page: "discover" };
  if (first === "tag" && second) return { page: "hashtag", name: second };
  if (first === "live") return second ? { page: "room", roomId: second } : { page: "live" };
  if (first === "product" && second) return { page: "product", productId: second };
  if (first === "orders") return { page: "orders" };
  if (first === "sell") return { page: "sell" };
  if (first === "spark-codes") return { page: "spark" };
  return { page: "for-you" };
}

const CHANGE = "loop:navigate";

/** Goes to `path` without a reload. */
export function navigate(path: string) {
  if (path === window.location.pathname) return;
  window.history.pushState(null, "", path);
  window.dispatchEvent(new Event(CHANGE));
}

/** The current route, following pushState and back/forward. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(window.location.pathname));
  useEffect(() => {
    const update = () => setRoute(parse(window.location.pathname));
    window.addEventListener("popstate", update);
    window.addEventListener(CHANGE, update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener(CHANGE, update);
    };
  }, []);
  return route;
}

/** An `<a>` that navigates inside the app (modifier clicks open a new tab as usual). */
export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  return createElement("a", {
    href,
    ...rest,
    onClick: (e: MouseEvent<HTMLAnchorElement>) => {
      onClick?.(e);
      if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      navigate(href);
    },
  });
}
