// The creator's side of the marketplace:
//  - the application to be listed (`GET/POST
//    /v1/marketplace/creator/application`): apply, or its status (pending,
//    approved, rejected with the reason and when to apply again);
//  - the listed profile (`GET/PATCH /v1/marketplace/creator/profile`):
//    categories, brand categories accepted, rate, pitch, open to offers;
//  - collaborations (`GET /v1/marketplace/collaborations`), each with its
//    campaign: an invitation is accepted (its idempotency key kept across
//    retries: the brand's budget is held in escrow once) or declined; an
//    accepted one (or one with changes requested) is delivered by picking
//    the creator's videos (`.../submit`); each has its message thread with
//    the brand (src/biz/Thread.tsx).
import { useEffect, useId, useRef, useState, type FormEvent } from "react";

import { api, call, type ApiError, type Schemas, type User } from "../api/client";
import { Thread } from "../biz/Thread";
import { errorFor } from "../components/Field";
import { lang, t } from "../i18n";
import type { MessageKey } from "../i18n/messages";
import { money } from "../wallet/Wallet";
import { cents, errorText, Labelled, LoadState, useLoad, words } from "./common";

type Application = Schemas["ApplicationDto"];
type Profile = Schemas["MarketProfileDto"];
type Collaboration = Schemas["CollaborationDto"];
type Campaign = Schemas["MarketCampaignDto"];

/** A 404 is an answer here (no application yet, not listed yet), not a failure. */
async function orNone<T>(run: Promise<{ ok: true; data: T } | { ok: false; error: ApiError }>) {
  const r = await run;
  if (!r.ok && r.error.status === 404) return { ok: true as const, data: null };
  return r;
}

export function Marketplace({ me }: { me: User }) {
  const [application, reloadApplication] = useLoad(() => orNone(call(() => api.GET("/v1/marketplace/creator/application"))));
  const [profile, reloadProfile] = useLoad(() => orNone(call(() => api.GET("/v1/marketplace/creator/profile"))));
  const id = useId();
  return (
    <>
      <section aria-labelledby={`${id}-listing`}>
        <h2 id={`${id}-listing`}>{t("marketplaceListing")}</h2>
        <LoadState value={application} retry={() => void reloadApplication()} />
        {application.state === "ok" && application.data === null && (
          <ApplyForm
            onApplied={() => {
              void reloadApplication();
              void reloadProfile();
            }}
          />
        )}
        {application.state === "ok" && application.data && <ApplicationStatus application={application.data} onReapply={() => void reloadApplication()} />}
      </section>
      {profile.state === "ok" && profile.data && <ProfileForm profile={profile.data} />}
      {profile.state === "error" && <LoadState value={profile} retry={() => void reloadProfile()} />}
      <Collaborations me={me} />
    </>
  );
}

const STATUS: Record<string, MessageKey> = {
  pending: "applicationPending",
  approved: "applicationApproved",
  rejected: "applicationRejected",
};

function ApplicationStatus({ application, onReapply }: { application: Application; onReapply: () => void }) {
  const reapply = application.reapply_after ? new Date(application.reapply_after) : null;
  const [again, setAgain] = useState(false);
  if (again) return <ApplyForm onApplied={onReapply} initial={application} />;
  return (
    <div data-testid="application" data-status={application.status}>
      <p>
        <strong>{t(STATUS[application.status] ?? "applicationPending")}</strong>{" "}
        {application.created_at && <span className="muted">{t("appliedOn", { date: new Date(application.created_at).toLocaleDateString(lang) })}</span>}
      </p>
      {application.rejection_reason && <p>{t("rejectedBecause", { reason: application.rejection_reason })}</p>}
      {application.status === "rejected" && reapply && reapply.getTime() > Date.now() && (
        <p className="muted">{t("reapplyAfter", { date: reapply.toLocaleDateString(lang) })}</p>
      )}
      {application.status === "rejected" && (!reapply || reapply.getTime() <= Date.now()) && (
        <button type="button" className="secondary" onClick={() => setAgain(true)}>
          {t("applyAgain")}
        </button>
      )}
    </div>
  );
}

function ApplyForm({ onApplied, initial }: { onApplied: () => void; initial?: Application }) {
  const [categories, setCategories] = useState(initial?.categories.join(", ") ?? "");
  const [rate, setRate] = useState(initial ? String(initial.rate_cents / 100) : "");
  const [pitch, setPitch] = useState(initial?.pitch ?? "");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    const r = await call(() =>
      api.POST("/v1/marketplace/creator/application", {
        body: { categories: words(categories), rate_cents: Number.isFinite(cents(rate)) ? cents(rate) : 0, pitch },
      }),
    );
    setBusy(false);
    if (!r.ok) return setError(r.error);
    onApplied();
  };
  return (
    <form onSubmit={(e) => void submit(e)} noValidate data-testid="apply-form">
      <p className="muted">{t("applyNote")}</p>
      <Labelled id={`${id}-categories`} label={t("contentCategories")} field="categories" error={error}>
        {(a) => <input {...a} value={categories} onChange={(e) => setCategories(e.target.value)} />}
      </Labelled>
      <Labelled id={`${id}-rate`} label={t("ratePerVideo")} field="rate_cents" error={error}>
        {(a) => <input {...a} inputMode="decimal" value={rate} onChange={(e) => setRate(e.target.value)} />}
      </Labelled>
      <Labelled id={`${id}-pitch`} label={t("pitch")} field="pitch" error={error}>
        {(a) => <textarea {...a} rows={3} value={pitch} onChange={(e) => setPitch(e.target.value)} />}
      </Labelled>
      {error && !["categories", "rate_cents", "pitch"].some((f) => errorFor(error, f)) && (
        <p className="form-error" role="alert">
          {errorText(error)}
        </p>
      )}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? t("submitting") : t("applyToMarketplace")}
      </button>
    </form>
  );
}

function ProfileForm({ profile }: { profile: Profile }) {
  const [categories, setCategories] = useState(profile.categories.join(", "));
  const [accepted, setAccepted] = useState(profile.accepted_categories.join(", "));
  const [rate, setRate] = useState(String(profile.rate_cents / 100));
  const [pitch, setPitch] = useState(profile.pitch);
  const [open, setOpen] = useState(profile.open_to_offers);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState("");
  const id = useId();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setNotice("");
    setBusy(true);
    const r = await call(() =>
      api.PATCH("/v1/marketplace/creator/profile", {
        body: {
          categories: words(categories),
          accepted_categories: words(accepted),
          rate_cents: Number.isFinite(cents(rate)) ? cents(rate) : 0,
          pitch,
          open_to_offers: open,
        },
      }),
    );
    setBusy(false);
    if (!r.ok) return setError(r.error);
    setNotice(t("profileSaved"));
  };
  return (
    <section aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{t("marketplaceProfile")}</h2>
      <p className="muted">{profile.listed ? t("listedNote") : t("notListedNote")}</p>
      <form onSubmit={(e) => void submit(e)} noValidate data-testid="profile-form">
        <Labelled id={`${id}-categories`} label={t("contentCategories")} field="categories" error={error}>
          {(a) => <input {...a} value={categories} onChange={(e) => setCategories(e.target.value)} />}
        </Labelled>
        <Labelled id={`${id}-accepted`} label={t("acceptedCategories")} field="accepted_categories" error={error}>
          {(a) => <input {...a} value={accepted} onChange={(e) => setAccepted(e.target.value)} />}
        </Labelled>
        <Labelled id={`${id}-rate`} label={t("ratePerVideo")} field="rate_cents" error={error}>
          {(a) => <input {...a} inputMode="decimal" value={rate} onChange={(e) => setRate(e.target.value)} />}
        </Labelled>
        <Labelled id={`${id}-pitch`} label={t("pitch")} field="pitch" error={error}>
          {(a) => <textarea {...a} rows={3} value={pitch} onChange={(e) => setPitch(e.target.value)} />}
        </Labelled>
        <label className="check">
          <input type="checkbox" checked={open} onChange={(e) => setOpen(e.target.checked)} /> {t("openToOffers")}
        </label>
        {error && !["categories", "accepted_categories", "rate_cents", "pitch", "open_to_offers"].some((f) => errorFor(error, f)) && (
          <p className="form-error" role="alert">
            {errorText(error)}
          </p>
        )}
        {notice && <p role="status">{notice}</p>}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? t("submitting") : t("saveProfile")}
        </button>
      </form>
    </section>
  );
}

const STATES: Record<string, MessageKey> = {
  invited: "collabInvited",
  applied: "collabApplied",
  accepted: "collabAccepted",
  declined: "collabDeclined",
  submitted: "collabSubmitted",
  changes_requested: "collabChangesRequested",
  approved: "collabApproved",
  paid: "collabPaid",
  expired_refunded: "collabExpired",
};

function Collaborations({ me }: { me: User }) {
  const [list, reload] = useLoad(() => call(() => api.GET("/v1/marketplace/collaborations", { params: { query: { page_size: 50 } } })));
  const id = useId();
  return (
    <section aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{t("invitationsAndCollabs")}</h2>
      <LoadState value={list} retry={() => void reload()} />
      {list.state === "ok" && list.data.items.length === 0 && <p className="muted">{t("noCollaborations")}</p>}
      {list.state === "ok" && list.data.items.length > 0 && (
        <ul className="cards" data-testid="collaborations">
          {list.data.items.map((c) => (
            <CollaborationCard key={c.collaboration_id} me={me} initial={c} />
          ))}
        </ul>
      )}
    </section>
  );
}

function CollaborationCard({ me, initial }: { me: User; initial: Collaboration }) {
  const [collab, setCollab] = useState(initial);
  const [campaign, setCampaign] = useState<Campaign | null | "error">(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [talk, setTalk] = useState(false);
  const acceptKey = useRef(crypto.randomUUID());
  const id = useId();

  useEffect(() => {
    void call(() => api.GET("/v1/marketplace/campaigns/{campaign_id}", { params: { path: { campaign_id: initial.campaign_id } } })).then((r) =>
      setCampaign(r.ok ? r.data : "error"),
    );
  }, [initial.campaign_id]);

  const act = async (run: () => Promise<{ ok: true; data: Collaboration } | { ok: false; error: ApiError }>) => {
    setBusy(true);
    setError(null);
    const r = await run();
    setBusy(false);
    if (!r.ok) return setError(r.error);
    setCollab(r.data);
  };
  const path = { collaboration_id: collab.collaboration_id };
  // The same key for every try of this acceptance: a retry never holds the budget twice.
  const accept = () =>
    act(() =>
      call(() =>
        api.POST("/v1/marketplace/collaborations/{collaboration_id}/accept-invitation", {
          params: { path, header: { "Idempotency-Key": acceptKey.current } },
        }),
      ),
    );
  const decline = () => act(() => call(() => api.POST("/v1/marketplace/collaborations/{collaboration_id}/decline-invitation", { params: { path } })));

  const title = campaign && campaign !== "error" ? campaign.title : t("campaign");
  return (
    <li className="card" data-collaboration-id={collab.collaboration_id} data-state={collab.state} aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>{title}</h3>
      <p>
        <span className={`status status-${collab.state}`}>{t(STATES[collab.state] ?? "collabInvited")}</span>
      </p>
      {campaign === null && <p role="status">{t("loading")}</p>}
      {campaign === "error" && <p className="muted">{t("campaignUnavailable")}</p>}
      {campaign && campaign !== "error" && (
        <>
          <p>{campaign.brief}</p>
          <p className="muted">
            {t("campaignTerms", {
              budget: money(campaign.budget_per_creator_cents),
              videos: campaign.video_count,
              hashtag: campaign.required_hashtag.replace(/^#*/, "#"),
            })}
            {campaign.deadline && ` · ${t("dueBy", { date: new Date(campaign.deadline).toLocaleDateString(lang) })}`}
          </p>
        </>
      )}
      {collab.pitch && <blockquote>{collab.pitch}</blockquote>}
      {collab.change_request_note && <p>{t("changesRequestedNote", { note: collab.change_request_note })}</p>}
      {collab.paid_cents > 0 && <p>{t("paidAmount", { value: money(collab.paid_cents) })}</p>}
      {collab.state === "invited" && (
        <div className="row">
          <button type="button" className="primary" disabled={busy} onClick={() => void accept()}>
            {t("acceptInvitation")}
          </button>
          <button type="button" className="secondary" disabled={busy} onClick={() => void decline()}>
            {t("declineInvitation")}
          </button>
        </div>
      )}
      {(collab.state === "accepted" || collab.state === "changes_requested") && (
        <SubmitForm me={me} collab={collab} hashtag={campaign && campaign !== "error" ? campaign.required_hashtag : ""} onSubmitted={setCollab} />
      )}
      {busy && <p role="status">{t("submitting")}</p>}
      {error && (
        <p className="form-error" role="alert">
          {errorText(error)}
        </p>
      )}
      <button type="button" className="link" aria-expanded={talk} onClick={() => setTalk(!talk)}>
        {talk ? t("threadHide") : t("threadTitle")}
      </button>
      {talk && <Thread collaboration={collab} side="creator" />}
    </li>
  );
}

/** Delivers the collaboration: the creator picks which of their videos are the sponsored ones. */
function SubmitForm({
  me,
  collab,
  hashtag,
  onSubmitted,
}: {
  me: User;
  collab: Collaboration;
  hashtag: string;
  onSubmitted: (c: Collaboration) => void;
}) {
  const [videos, reload] = useLoad(() =>
    call(() => api.GET("/v1/users/{user_id}/videos", { params: { path: { user_id: me.user_id }, query: { page_size: 50 } } })),
  );
  const [picked, setPicked] = useState<string[]>(collab.video_ids);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const r = await call(() =>
      api.POST("/v1/marketplace/collaborations/{collaboration_id}/submit", {
        params: { path: { collaboration_id: collab.collaboration_id } },
        body: { video_ids: picked },
      }),
    );
    setBusy(false);
    if (!r.ok) return setError(r.error);
    onSubmitted(r.data);
  };
  const fieldError = errorFor(error, "video_ids");
  return (
    <form onSubmit={(e) => void submit(e)} noValidate data-testid="submit-form">
      <fieldset className="videos-pick" aria-describedby={fieldError ? `${id}-error` : undefined} aria-invalid={fieldError ? true : undefined}>
        <legend>{hashtag ? t("pickVideosWithTag", { hashtag: hashtag.replace(/^#*/, "#") }) : t("pickVideos")}</legend>
        <LoadState value={videos} retry={() => void reload()} />
        {videos.state === "ok" && videos.data.items.length === 0 && <p className="muted">{t("noVideos")}</p>}
        {videos.state === "ok" &&
          videos.data.items.map((v) => (
            <label key={v.video_id} className="check">
              <input
                type="checkbox"
                value={v.video_id}
                checked={picked.includes(v.video_id)}
                onChange={(e) => setPicked((p) => (e.target.checked ? [...p, v.video_id] : p.filter((x) => x !== v.video_id)))}
              />{" "}
              {v.caption || v.video_id}
            </label>
          ))}
        {fieldError && (
          <p className="field-error" id={`${id}-error`} data-field="video_ids">
            {fieldError}
          </p>
        )}
      </fieldset>
      {error && !fieldError && (
        <p className="form-error" role="alert">
          {errorText(error)}
        </p>
      )}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? t("submitting") : t("submitDeliverable")}
      </button>
    </form>
  );
}
