import { lazy, Suspense, useCallback, useEffect, useState, type ReactNode } from "react";

import { api, call, type User } from "./api/client";
import { Admin, Ads, BizMenu, bizPage } from "./biz/pages";
import { AuthScreen } from "./components/AuthScreen";
import { Feed } from "./components/Feed";
import { Discover, Hashtag } from "./discover/Discover";
import { engagement } from "./engagement";
import { lang, t } from "./i18n";
import { LiveList, LiveRoom } from "./live/Live";
import { Profile } from "./profile/Profile";
import { Link, navigate, useRoute } from "./router";
import { Studio } from "./studio/Studio";
import { Wallet } from "./wallet/Wallet";

// The keyword filters and the studio's sections load when first opened.
const Filters = lazy(() => import("./filters/Filters").then((m) => ({ default: m.Filters })));
const CreatorStudio = lazy(() => import("./creator/CreatorStudio").then((m) => ({ default: m.CreatorStudio })));
const lazyFallback = (
  <main className="page" aria-busy="true">
    <p role="status">{t("loading")}</p>
  </main>
);

type Session = { state: "loading" } | { state: "anonymous" } | { state: "error" } | { state: "in"; user: User };

export function App() {
  const [session, setSession] = useState<Session>({ state: "loading" });
  const route = useRoute();
  const [generation, setGeneration] = useState(0);
  const [notice, setNotice] = useState("");
  const [menu, setMenu] = useState(false);

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
  }, [loadMe]);

  // Escape or a click outside closes the menu.
  useEffect(() => {
    if (!menu) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== "Escape") return;
      setMenu(false);
      document.getElementById("app-menu-button")?.focus();
    };
    const onClick = (e: MouseEvent) => {
      const target = e.target as Element | null;
      if (!target?.closest("#app-menu, #app-menu-button")) setMenu(false);
    };
    window.addEventListener("keydown", onKey);
    window.addEventListener("click", onClick);
    return () => {
      window.removeEventListener("keydown", onKey);
      window.removeEventListener("click", onClick);
    };
  }, [menu]);

  // A new page: close the menu, and give feeds their title back.
  useEffect(() => {
    setMenu(false);
    if (route.page === "for-you" || route.page === "following") document.title = t("appName");
  }, [route]);

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
    navigate("/");
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
  const me = session.user;
  const current = (page: string) => (route.page === page ? "page" : undefined);
  let content: ReactNode = null;
  switch (route.page) {
    case "for-you":
    case "following":
      content = <Feed key={`${route.page}-${generation}`} kind={route.page} me={me} />;
      break;
    case "studio":
      content = <Studio me={me} />;
      break;
    case "wallet":
      content = <Wallet me={me} />;
      break;
    case "discover":
      content = <Discover me={me} />;
      break;
    case "hashtag":
      content = <Hashtag key={route.name} name={route.name} />;
      break;
    case "ads":
      content = <Ads me={me} />;
      break;
    case "admin":
      content = <Admin me={me} />;
      break;
    case "live":
      content = <LiveList me={me} />;
      break;
    case "room":
      content = <LiveRoom key={route.roomId} me={me} roomId={route.roomId} />;
      break;
    case "profile":
      content = <Profile key={route.handle ?? route.userId} me={me} handle={route.handle} userId={route.userId} />;
      break;
    case "filters":
      content = (
        <Suspense fallback={lazyFallback}>
          <Filters />
        </Suspense>
      );
      break;
    case "studio-section":
      content = (
        <Suspense fallback={lazyFallback}>
          <CreatorStudio key={route.section} me={me} section={route.section} />
        </Suspense>
      );
      break;
    default:
      content = bizPage(route, me);
  }
  return (
    <div className={route.page === "for-you" || route.page === "following" ? "shell" : "shell shell-page"}>
      <header className="topbar">
        <nav aria-label={t("feedNav")}>
          <Link href="/following" aria-current={current("following")}>
            {t("following")}
          </Link>
          <Link href="/" aria-current={current("for-you")}>
            {t("forYou")}
          </Link>
        </nav>
        <div className="topbar-actions">
          {route.page === "for-you" && (
            <button type="button" className="icon" aria-label={t("refresh")} title={t("refresh")} onClick={() => void refresh()}>
              ⟳
            </button>
          )}
          <button
            type="button"
            id="app-menu-button"
            className="icon"
            aria-label={t("menu")}
            aria-expanded={menu}
            aria-controls="app-menu"
            onClick={() => setMenu(!menu)}
          >
            ☰
          </button>
          {menu && (
            <nav id="app-menu" className="menu" aria-label={t("menu")}>
              <Link href={`/@${me.handle}`} aria-current={route.page === "profile" && route.handle === me.handle ? "page" : undefined}>
                {t("myProfile")}
              </Link>
              <Link href="/discover" aria-current={current("discover")}>
                {t("discover")}
              </Link>
              <Link href="/live" aria-current={current("live")}>
                {t("live")}
              </Link>
              <Link href="/wallet" aria-current={current("wallet")}>
                {t("wallet")}
              </Link>
              {me.role === "creator" && (
                <Link href="/studio" aria-current={route.page === "studio" || route.page === "studio-section" ? "page" : undefined}>
                  {t("studio")}
                </Link>
              )}
              {me.role === "advertiser" && (
                <Link href="/ads" aria-current={current("ads")}>
                  {t("ads")}
                </Link>
              )}
              {me.role === "admin" && (
                <Link href="/admin" aria-current={current("admin")}>
                  {t("admin")}
                </Link>
              )}
              <Link href="/filters" aria-current={current("filters")}>
                {t("feedFilters")}
              </Link>
              <BizMenu me={me} route={route} />
              <button type="button" className="link" onClick={() => void logOut()}>
                {t("logOut")}
              </button>
            </nav>
          )}
        </div>
      </header>
      {notice && (
        <p className="toast" role="status" onAnimationEnd={() => setNotice("")}>
          {notice}
        </p>
      )}
      {content}
    </div>
  );
}
