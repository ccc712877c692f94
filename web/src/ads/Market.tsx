// The creator marketplace for advertisers: search creators, create and
// publish campaigns, invite creators, and review collaborations
// (applications to accept or reject, submitted videos to approve or send
// back with a note). Money moves at acceptance (escrow hold) and approval
// (release); those calls keep their Idempotency-Key across retries. Each
// collaboration has its message thread with the creator (src/biz/Thread.tsx).
import { useId, useRef, useState, type FormEvent } from "react";

import { api, call, type Schemas } from "../api/client";
import { Done, Pending, Section, cents, key, label, list, ready, useAction, useLoad, when, whole } from "../biz/ui";
import { Thread } from "../biz/Thread";
import { Field, FormError } from "../components/Field";
import { lang, t } from "../i18n";
import { money } from "../wallet/Wallet";
import { Choice } from "./Manage";

type MarketCampaign = Schemas["MarketCampaignDto"];
type Collaboration = Schemas["CollaborationDto"];
type CreatorResult = Schemas["CreatorResultDto"];
type Sort = "followers" | "avg_views" | "engagement_rate";
type Visibility = Schemas["MarketCampaignBody"]["visibility"];

export function Marketplace() {
  const [campaigns, reload] = useLoad(() => call(() => api.GET("/v1/marketplace/campaigns", { params: { query: { scope: "mine", page_size: 50 } } })));
  const mine = ready(campaigns) ? campaigns.items : [];
  return (
    <>
      <CreatorSearch campaigns={mine} />
      <Section id="market-campaigns" title={t("marketCampaigns")}>
        <Pending value={campaigns} retry={() => void reload()} />
        {ready(campaigns) && campaigns.items.length === 0 && <p className="muted">{t("noMarketCampaigns")}</p>}
        {ready(campaigns) && (
          <ul className="campaigns">
            {campaigns.items.map((c) => (
              <MarketCampaignItem key={c.campaign_id} campaign={c} />
            ))}
          </ul>
        )}
        <NewMarketCampaign onCreated={() => void reload()} />
      </Section>
    </>
  );
}

function CreatorSearch({ campaigns }: { campaigns: MarketCampaign[] }) {
  const id = useId();
  const [f, setF] = useState({ countries: "", category: "", followers: "", sort: "followers" as Sort });
  const [results, setResults] = useState<CreatorResult[] | null>(null);
  const action = useAction();
  const search = async (e: FormEvent) => {
    e.preventDefault();
    const query = {
      ...(f.countries ? { countries: list(f.countries).map((c) => c.toUpperCase()).join(",") } : {}),
      ...(f.category ? { category: f.category.trim() } : {}),
      ...(f.followers ? { follower_min: whole(f.followers) } : {}),
      sort: f.sort,
      page_size: 20,
    };
    const r = await action.run(() => call(() => api.GET("/v1/marketplace/creators", { params: { query } })));
    if (r) setResults(r.items);
  };
  return (
    <Section id="creator-search" title={t("findCreators")}>
      <form onSubmit={(e) => void search(e)} noValidate className="inline-form" role="search" aria-label={t("findCreators")}>
        <Field id={`${id}-countries`} label={t("creatorCountries")} field="countries" error={action.error} value={f.countries} onChange={(e) => setF({ ...f, countries: e.target.value })} />
        <Field id={`${id}-category`} label={t("category")} field="category" error={action.error} value={f.category} onChange={(e) => setF({ ...f, category: e.target.value })} />
        <Field id={`${id}-followers`} label={t("minFollowers")} field="follower_min" error={action.error} inputMode="numeric" value={f.followers} onChange={(e) => setF({ ...f, followers: e.target.value })} />
        <Choice id={`${id}-sort`} text={t("sortBy")} value={f.sort} options={["followers", "avg_views", "engagement_rate"]} onChange={(sort) => setF({ ...f, sort })} />
        <FormError error={action.error} fields={["countries", "category", "follower_min", "sort"]} fallback={t("errorGeneric")} />
        <button type="submit" className="primary" disabled={action.busy}>
          {action.busy ? t("submitting") : t("search")}
        </button>
      </form>
      {results && results.length === 0 && <p className="muted">{t("noCreatorsFound")}</p>}
      {results && results.length > 0 && (
        <ul className="admin-list" data-testid="creator-results">
          {results.map((c) => (
            <CreatorItem key={c.creator_id} creator={c} campaigns={campaigns} />
          ))}
        </ul>
      )}
    </Section>
  );
}

function CreatorItem({ creator, campaigns }: { creator: CreatorResult; campaigns: MarketCampaign[] }) {
  const id = useId();
  const [campaignId, setCampaignId] = useState("");
  const [pitch, setPitch] = useState("");
  const action = useAction();
  const invite = async (e: FormEvent) => {
    e.preventDefault();
    const target = campaignId || campaigns[0]?.campaign_id || "";
    await action.run(
      () =>
        call(() =>
          api.POST("/v1/marketplace/campaigns/{campaign_id}/invitations", {
            params: { path: { campaign_id: target } },
            body: { creator_id: creator.creator_id, pitch },
          }),
        ),
      () => t("invited"),
    );
  };
  return (
    <li>
      <p>
        <a href={`/users/${creator.creator_id}`}>{creator.creator_id.slice(0, 8)}</a> <span className="muted">{creator.country}</span>{" "}
        {creator.categories.map((c) => (
          <span key={c} className="tag">
            {c}
          </span>
        ))}
      </p>
      <p className="muted">
        {t("creatorFigures", {
          followers: creator.followers.toLocaleString(lang),
          views: creator.avg_views_30d.toLocaleString(lang),
          rate: (creator.engagement_rate * 100).toFixed(1),
          price: money(creator.rate_cents),
        })}
      </p>
      {campaigns.length > 0 && (
        <form onSubmit={(e) => void invite(e)} noValidate className="inline-form" aria-label={t("invite")}>
          <Choice id={`${id}-campaign`} text={t("marketCampaign")} value={campaignId || campaigns[0]!.campaign_id} options={campaigns.map((c) => c.campaign_id)} names={Object.fromEntries(campaigns.map((c) => [c.campaign_id, c.title]))} onChange={setCampaignId} />
          <Field id={`${id}-pitch`} label={t("invitePitch")} field="pitch" error={action.error} value={pitch} onChange={(e) => setPitch(e.target.value)} />
          <FormError error={action.error} fields={["pitch"]} fallback={t("errorGeneric")} />
          <button type="submit" className="secondary" disabled={action.busy}>
            {t("invite")}
          </button>
          <Done text={action.done} />
        </form>
      )}
    </li>
  );
}

function NewMarketCampaign({ onCreated }: { onCreated: () => void }) {
  const id = useId();
  const inTwoWeeks = new Date(Date.now() + 14 * 86_400_000).toISOString().slice(0, 10);
  const [v, setV] = useState({ title: "", brief: "", hashtag: "", budget: "100", creators: "5", videos: "1", deadline: inTwoWeeks, visibility: "public" as Visibility });
  const action = useAction();
  const set = (k: keyof typeof v) => (e: { target: { value: string } }) => setV({ ...v, [k]: e.target.value });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const deadline = new Date(`${v.deadline}T23:59:00Z`);
    const r = await action.run(
      () =>
        call(() =>
          api.POST("/v1/marketplace/campaigns", {
            body: {
              title: v.title,
              brief: v.brief,
              required_hashtag: v.hashtag.replace(/^#/, ""),
              budget_per_creator_cents: cents(v.budget),
              max_creators: whole(v.creators),
              video_count: whole(v.videos),
              deadline: Number.isNaN(deadline.getTime()) ? v.deadline : deadline.toISOString(),
              visibility: v.visibility,
            },
          }),
        ),
      (c) => t("marketCampaignCreated", { title: c.title }),
    );
    if (r) onCreated();
  };
  const f = (name: string, text: string, k: keyof typeof v, extra: Record<string, string> = {}) => (
    <Field id={`${id}-${k}`} label={text} field={name} error={action.error} value={v[k]} onChange={set(k)} {...extra} />
  );
  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="inline-form" aria-label={t("newMarketCampaign")}>
      <h3>{t("newMarketCampaign")}</h3>
      {f("title", t("title"), "title")}
      {f("brief", t("brief"), "brief")}
      {f("required_hashtag", t("requiredHashtag"), "hashtag")}
      {f("budget_per_creator_cents", t("budgetPerCreator"), "budget", { inputMode: "decimal" })}
      {f("max_creators", t("maxCreators"), "creators", { inputMode: "numeric" })}
      {f("video_count", t("videoCountField"), "videos", { inputMode: "numeric" })}
      {f("deadline", t("deadline"), "deadline", { type: "date" })}
      <Choice id={`${id}-visibility`} text={t("visibility")} value={v.visibility} options={["public", "invite_only"]} onChange={(visibility) => setV({ ...v, visibility })} />
      <FormError
        error={action.error}
        fields={["title", "brief", "required_hashtag", "budget_per_creator_cents", "max_creators", "video_count", "deadline"]}
        fallback={t("errorGeneric")}
      />
      <button type="submit" className="primary" disabled={action.busy}>
        {action.busy ? t("submitting") : t("createMarketCampaign")}
      </button>
      <Done text={action.done} />
    </form>
  );
}

function MarketCampaignItem({ campaign }: { campaign: MarketCampaign }) {
  const [c, setC] = useState(campaign);
  const [open, setOpen] = useState(false);
  const publish = useAction();
  const go = async () => {
    const r = await publish.run(() => call(() => api.POST("/v1/marketplace/campaigns/{campaign_id}/publish", { params: { path: { campaign_id: c.campaign_id } } })));
    if (r) setC(r);
  };
  return (
    <li className="campaign">
      <div className="campaign-head">
        <strong>{c.title}</strong>
        <span className="tag">{label(c.status)}</span>
        <span className="muted">
          #{c.required_hashtag} · {money(c.budget_per_creator_cents)} · {c.accepted_creators}/{c.max_creators} · {when(c.deadline)}
        </span>
        {c.status === "draft" && (
          <button type="button" className="secondary" disabled={publish.busy} onClick={() => void go()}>
            {t("publish")}
          </button>
        )}
        <button type="button" className="link" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? t("hideCollaborations") : t("collaborations")}
        </button>
      </div>
      <FormError error={publish.error} fields={[]} fallback={t("errorGeneric")} />
      {open && <Collaborations campaignId={c.campaign_id} />}
    </li>
  );
}

function Collaborations({ campaignId }: { campaignId: string }) {
  const [page, reload] = useLoad(
    () => call(() => api.GET("/v1/marketplace/collaborations", { params: { query: { campaign_id: campaignId, page_size: 50 } } })),
    [campaignId],
  );
  return (
    <div>
      <Pending value={page} retry={() => void reload()} />
      {ready(page) && page.items.length === 0 && <p className="muted">{t("bizNoCollaborations")}</p>}
      {ready(page) && (
        <ul className="admin-list">
          {page.items.map((x) => (
            <CollaborationItem key={x.collaboration_id} collaboration={x} />
          ))}
        </ul>
      )}
    </div>
  );
}

function CollaborationItem({ collaboration }: { collaboration: Collaboration }) {
  const id = useId();
  const [c, setC] = useState(collaboration);
  const [note, setNote] = useState("");
  const [talk, setTalk] = useState(false);
  const action = useAction();
  // Money moves on accept and approve: one key per step, kept across retries.
  const keys = useRef({ accept: key(), approve: key() });
  const path = { path: { collaboration_id: c.collaboration_id } };
  const step = async (what: "accept" | "reject" | "approve" | "changes") => {
    const r = await action.run(() => {
      switch (what) {
        case "accept":
          return call(() => api.POST("/v1/marketplace/collaborations/{collaboration_id}/accept-application", { params: { ...path, header: { "Idempotency-Key": keys.current.accept } } }));
        case "approve":
          return call(() => api.POST("/v1/marketplace/collaborations/{collaboration_id}/approve", { params: { ...path, header: { "Idempotency-Key": keys.current.approve } } }));
        case "reject":
          return call(() => api.POST("/v1/marketplace/collaborations/{collaboration_id}/reject-application", { params: path }));
        case "changes":
          return call(() => api.POST("/v1/marketplace/collaborations/{collaboration_id}/request-changes", { params: path, body: { note } }));
      }
    });
    if (r) setC(r);
  };
  return (
    <li data-collaboration-id={c.collaboration_id}>
      <p>
        <a href={`/users/${c.creator_id}`}>{c.creator_id.slice(0, 8)}</a> <span className="tag">{label(c.state)}</span>
      </p>
      {c.pitch && <p className="muted">{c.pitch}</p>}
      {c.video_ids.length > 0 && <p className="muted">{t("submittedVideos", { count: c.video_ids.length })}</p>}
      {c.paid_cents > 0 && <p className="muted">{t("bizPaidAmount", { value: money(c.paid_cents) })}</p>}
      {c.state === "applied" && (
        <div className="admin-actions">
          <button type="button" className="primary" disabled={action.busy} onClick={() => void step("accept")}>
            {t("accept")}
          </button>
          <button type="button" className="secondary" disabled={action.busy} onClick={() => void step("reject")}>
            {t("reject")}
          </button>
        </div>
      )}
      {c.state === "submitted" && (
        <>
          <Field id={`${id}-note`} label={t("changesNote")} field="note" error={action.error} value={note} onChange={(e) => setNote(e.target.value)} />
          <div className="admin-actions">
            <button type="button" className="primary" disabled={action.busy} onClick={() => void step("approve")}>
              {t("approve")}
            </button>
            <button type="button" className="secondary" disabled={action.busy} onClick={() => void step("changes")}>
              {t("requestChanges")}
            </button>
          </div>
        </>
      )}
      <FormError error={action.error} fields={["note"]} fallback={t("errorGeneric")} />
      <div className="admin-actions">
        <button type="button" className="link" aria-expanded={talk} onClick={() => setTalk(!talk)}>
          {talk ? t("threadHide") : t("threadTitle")}
        </button>
      </div>
      {talk && <Thread collaboration={c} side="brand" />}
    </li>
  );
}
