// A marketplace collaboration's message thread, for its two parties: the
// brand in the advertiser console (src/ads/Market.tsx) and the creator in
// the studio (src/creator/Marketplace.tsx). `GET .../messages` (newest
// first; shown oldest first, Show older for the pages before) and
// `POST .../messages` (the body 1..4000 characters, checked by the server,
// whose error shows by the field). Nothing pushes new messages: Refresh
// asks again. A declined or expired collaboration's thread is read-only.
// Its own module, so only the console's and the studio's chunks carry it.
import { useEffect, useId, useState, type FormEvent } from "react";

import { api, call, type Schemas } from "../api/client";
import { Field, FormError } from "../components/Field";
import { t } from "../i18n";
import { Pending, ready, useAction, useLoad, when } from "./ui";

type Collaboration = Schemas["CollaborationDto"];
type Message = Schemas["ThreadMessageDto"];

const PAGE = 50;
const READ_ONLY = ["declined", "expired_refunded"];

export function Thread({ collaboration: c, side }: { collaboration: Collaboration; side: "brand" | "creator" }) {
  const id = useId();
  const path = { collaboration_id: c.collaboration_id };
  const [latest, reload] = useLoad(
    () => call(() => api.GET("/v1/marketplace/collaborations/{collaboration_id}/messages", { params: { path, query: { page_size: PAGE } } })),
    [c.collaboration_id],
  );
  // Pages before the latest (Show older), and what was sent since it was loaded.
  const [older, setOlder] = useState<{ items: Message[]; token?: string | null } | null>(null);
  const [sent, setSent] = useState<Message[]>([]);
  useEffect(() => {
    setOlder(null);
    setSent([]);
  }, [latest]);
  const [body, setBody] = useState("");
  const send = useAction();
  const more = useAction();
  const token = older ? older.token : ready(latest) ? latest.next_page_token : null;

  const showOlder = async () => {
    const r = await more.run(() =>
      call(() => api.GET("/v1/marketplace/collaborations/{collaboration_id}/messages", { params: { path, query: { page_size: PAGE, page_token: token ?? "" } } })),
    );
    if (r) setOlder({ items: [...(older?.items ?? []), ...r.items], token: r.next_page_token });
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    // Sent as typed: the server trims it and names `body` when nothing is left.
    const m = await send.run(() => call(() => api.POST("/v1/marketplace/collaborations/{collaboration_id}/messages", { params: { path }, body: { body } })));
    if (!m) return;
    setSent((now) => [...now, m]);
    setBody("");
  };

  // Oldest first; a message sent here may also be in a page loaded after it.
  const seen = new Set<string>();
  const messages = ready(latest)
    ? [...[...(older?.items ?? [])].reverse(), ...[...latest.items].reverse(), ...sent].filter((m) => !seen.has(m.message_id) && seen.add(m.message_id))
    : [];
  const mine = (m: Message) => (m.sender_id === c.advertiser_id) === (side === "brand");
  const who = (m: Message) => (mine(m) ? t("threadYou") : side === "brand" ? t("threadCreator") : t("threadBrand"));
  return (
    <section className="thread" aria-labelledby={`${id}-title`} data-testid="thread">
      <h3 id={`${id}-title`}>{t("threadTitle")}</h3>
      <Pending value={latest} retry={() => void reload()} />
      {token && (
        <button type="button" className="link" disabled={more.busy} onClick={() => void showOlder()}>
          {more.busy ? t("loading") : t("threadOlder")}
        </button>
      )}
      <FormError error={more.error} fields={[]} fallback={t("errorGeneric")} />
      {ready(latest) && messages.length === 0 && <p className="muted">{t("threadEmpty")}</p>}
      {messages.length > 0 && (
        <ol className="messages" aria-label={t("threadTitle")}>
          {messages.map((m) => (
            <li key={m.message_id} data-mine={mine(m)}>
              <p className="muted">
                <strong>{who(m)}</strong> · {when(m.created_at)}
              </p>
              <p className="message-body">{m.body}</p>
            </li>
          ))}
        </ol>
      )}
      {ready(latest) && (
        <button type="button" className="link" onClick={() => void reload()}>
          {t("threadRefresh")}
        </button>
      )}
      {READ_ONLY.includes(c.state) ? (
        <p className="muted">{t("threadReadOnly")}</p>
      ) : (
        <form onSubmit={(e) => void submit(e)} noValidate className="inline-form" aria-label={t("threadSend")}>
          <Field id={`${id}-body`} label={t("threadMessage")} field="body" error={send.error} autoComplete="off" value={body} onChange={(e) => setBody(e.target.value)} />
          <FormError error={send.error} fields={["body"]} fallback={t("errorGeneric")} />
          <button type="submit" className="primary" disabled={send.busy}>
            {send.busy ? t("submitting") : t("threadSend")}
          </button>
        </form>
      )}
    </section>
  );
}
