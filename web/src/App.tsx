import { useCallback, useEffect, useState } from "react";

import { api, call, type User } from "./api/client";
import { AuthScreen } from "./components/AuthScreen";
import { Feed, type FeedKind } from "./components/Feed";
import { engagement } from "./engagement";
import { Studio } from "./studio/Studio";
import { lang, t } from "./i18n";

type Session = { state: "loading" } | { state: "anonymous" } | { state: "error" } | { state: "in"; user: User };

type Route = FeedKind | "studio";

function routeFromPath(): Route {
  const path = window.location.pathname;
  if (path.startsWith("/following")) return "following";
  if (path.startsWith("/studio")) return "studio";
  return "for-you";
}

const PATHS: Record<Route, string> = { "for-you": "/", following: "/following", studio: "/studio" };

export function App() {
  const [session, setSession] = useState<Session>({ state: "loading" });
  const [feed, setFeed] = useState<Route>(routeFromPath);
  const [generation, setGeneration] = useState(0);
  const [notice, setNotice] = useState("");

  const loadMe = useCallback(async () => {
    setSession({ state: "loading" });
    const me = await call(() => api.GET("/v1/users/me"));
    if (me.ok) setSession({ state: "in", user: me.data });
    else if (me.error.status === 401) setSession({ state: "anonymous" });
    else setSession({ state: "error" });
  }, []);

  useEffect(() => {
    document.documentElement.lang = lang;
    void loadMe();
    const onPop = () => setFeed(routeFromPath());
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, [loadMe]);

  const go = (route: Route) => {
    window.history.pushState(null, "", PATHS[route]);
    setFeed(route);
  };

  const refresh = async () => {
    await engagement.flush();
    const r = await call(() => api.POST("/v1/feed/refresh"));
    setNotice(r.ok ? t("refreshed") : t("errorGeneric"));
    setGeneration((g) => g + 1);
  };

  const logOut = async () => {
    await engagement.flush();
    engagement.stop(true);
    await call(() => api.POST("/v1/auth/logout"));
    setSession({ state: "anonymous" });
  };

  if (session.state === "loading") {
    return (
      <main className="center" aria-busy="true">
        <p role="status">{t("loading")}</p>
      </main>
    );
  }
  if (session.state === "error") {
    return (
      <main className="center">
        <p role="alert">{t("errorNetwork")}</p>
        <button type="button" onClick={() => void loadMe()}>
          {t("retry")}
        </button>
      </main>
    );
  }
  if (session.state === "anonymous") {
    return <AuthScreen onSignedIn={(user) => setSession({ state: "in", user })} />;
  }
  return (
    <div className="shell">
      <header className="topbar">
        <nav aria-label={t("feedNav")}>
          <a
            href="/following"
            aria-current={feed === "following" ? "page" : undefined}
            onClick={(e) => {
              e.preventDefault();
              go("following");
            }}
          >
            {t("following")}
          </a>
          <a
            href="/"
            aria-current={feed === "for-you" ? "page" : undefined}
            onClick={(e) => {
              e.preventDefault();
              go("for-you");
            }}
          >
            {t("forYou")}
          </a>
          {session.user.role === "creator" && (
            <a
              href="/studio"
              aria-current={feed === "studio" ? "page" : undefined}
              onClick={(e) => {
                e.preventDefault();
                go("studio");
              }}
            >
              {t("studio")}
            </a>
          )}
        </nav>
        <div className="topbar-actions">
          {feed === "for-you" && (
            <button type="button" className="icon" aria-label={t("refresh")} title={t("refresh")} onClick={() => void refresh()}>
              ⟳
            </button>
          )}
          <button type="button" className="link" onClick={() => void logOut()}>
            {t("logOut")}
          </button>
        </div>
      </header>
      {notice && (
        <p className="toast" role="status" onAnimationEnd={() => setNotice("")}>
          {notice}
        </p>
      )}
      {feed === "studio" ? (
        <Studio me={session.user} />
      ) : (
        <Feed key={`${feed}-${generation}`} kind={feed} me={session.user} />
      )}
    </div>
  );
}
