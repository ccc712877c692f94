// The app's one engagement batcher, sending with fetch and flushing when
// the tab is hidden or the page goes away.

import { CSRF_HEADER } from "../api/client";
import { lang } from "../i18n";
import { EngagementBatcher, type Transport } from "./batcher";

const transport: Transport = async (body, { keepalive }) => {
  const response = await fetch("/v1/events", {
    method: "POST",
    body,
    keepalive,
    credentials: "same-origin",
    headers: { "content-type": "application/json", ...CSRF_HEADER },
  });
  let parsed: unknown = null;
  try {
    parsed = await response.json();
  } catch {
    parsed = null;
  }
  return { status: response.status, body: parsed };
};

export const engagement = new EngagementBatcher({
  send: transport,
  context: { device_os: "web", language: lang, app_version: "web-0.1" },
  onDropped: (event, field) => console.warn("engagement event refused", event.kind, field),
});

if (typeof document !== "undefined") {
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") void engagement.flushOnHide();
    // Back from hidden: what did not fit the keepalive budget goes now.
    else void engagement.flush();
  });
  window.addEventListener("pagehide", () => void engagement.flushOnHide());
}
