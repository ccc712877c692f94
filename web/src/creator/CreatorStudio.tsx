// The studio's sections past upload (loaded when first opened):
// analytics, earnings (diamonds -> payouts), marketplace (profile,
// application, invitations and collaborations), shop (showcase and
// commissions).
import { useEffect } from "react";

import type { User } from "../api/client";
import { t } from "../i18n";
import { Analytics } from "./Analytics";
import { Earnings } from "./Earnings";
import { Marketplace } from "./Marketplace";
import { Shop } from "./Shop";
import { SECTIONS, StudioNav } from "./StudioNav";

export function CreatorStudio({ me, section }: { me: User; section: string }) {
  const known = SECTIONS.find((s) => s.section === section && s.section !== "upload");
  useEffect(() => {
    document.title = `${known ? t(known.label) : t("studio")} · ${t("studio")} · Loop`;
  }, [known]);
  if (me.role !== "creator") {
    return (
      <main className="page studio">
        <h1>{t("studio")}</h1>
        <p>{t("studioCreatorsOnly")}</p>
      </main>
    );
  }
  return (
    <main className="page studio">
      <h1>{t("studio")}</h1>
      <StudioNav current={section} />
      {section === "analytics" && <Analytics me={me} />}
      {section === "earnings" && <Earnings />}
      {section === "marketplace" && <Marketplace me={me} />}
      {section === "shop" && <Shop me={me} />}
      {!known && <p>{t("noSuchSection")}</p>}
    </main>
  );
}
