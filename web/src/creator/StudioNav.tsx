import { t } from "../i18n";
import type { MessageKey } from "../i18n/messages";
import { Link } from "../router";

/** The studio's sections, each at its own path (`/studio`, `/studio/{section}`). */
export const SECTIONS: { path: string; section: string; label: MessageKey }[] = [
  { path: "/studio", section: "upload", label: "studioUpload" },
  { path: "/studio/analytics", section: "analytics", label: "analytics" },
  { path: "/studio/earnings", section: "earnings", label: "earnings" },
  { path: "/studio/marketplace", section: "marketplace", label: "marketplace" },
  { path: "/studio/shop", section: "shop", label: "studioShop" },
];

export function StudioNav({ current }: { current: string }) {
  return (
    <nav className="tabs" aria-label={t("studioSections")}>
      {SECTIONS.map((s) => (
        <Link key={s.section} href={s.path} aria-current={s.section === current ? "page" : undefined}>
          {t(s.label)}
        </Link>
      ))}
    </nav>
  );
}
