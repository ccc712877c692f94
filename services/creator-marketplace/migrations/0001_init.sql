-- creator-marketplace schema.
--
-- Analytics facts (written by the consumers, one transaction per batch,
-- deduplicated by event id in processed_events) are kept raw enough that
-- every number the API shows is a query over them, so a recount from the raw
-- events and a replay into an empty database give the same answers:
--   follows            one row per (follower, followee)
--   viewers            viewer profiles from content.v1 UserRegistered
--   videos             video facts from content.v1 (published_at, category, hashtags)
--   video_stats        per-video counters: views (engagement.v1 VIEW), likes,
--                      comments, shares (content.v1, authoritative)
--   video_likes        one row per (video, user) like
--   video_comments     one row per live comment
--   creator_viewers    one row per (creator, viewer): the last view time
--   video_viewers      one row per (video, viewer) (sponsored-video audience)
--   gifts              one row per wallet.v1 GiftSent transaction
-- creator_stats is the search projection (metrics + audience shares per
-- creator), recomputed from the facts for creators marked dirty.
-- Enumerations are the proto enum numbers (SMALLINT). Money is integer cents.

CREATE TABLE processed_events (
    event_id     UUID PRIMARY KEY,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE follows (
    follower_id UUID NOT NULL,
    followee_id UUID NOT NULL,
    PRIMARY KEY (followee_id, follower_id)
);

CREATE TABLE viewers (
    user_id    UUID PRIMARY KEY,
    birth_date DATE,
    gender     SMALLINT NOT NULL DEFAULT 0,
    country    TEXT NOT NULL DEFAULT ''
);

CREATE TABLE videos (
    video_id     UUID PRIMARY KEY,
    creator_id   UUID NOT NULL,
    category     TEXT NOT NULL DEFAULT '',
    hashtags     TEXT[] NOT NULL DEFAULT '{}',
    published_at TIMESTAMPTZ NOT NULL,
    removed      BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX videos_by_creator ON videos (creator_id, published_at DESC);

CREATE TABLE video_stats (
    video_id   UUID PRIMARY KEY,
    creator_id UUID NOT NULL,
    views      BIGINT NOT NULL DEFAULT 0,
    likes      BIGINT NOT NULL DEFAULT 0,
    comments   BIGINT NOT NULL DEFAULT 0,
    shares     BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE video_likes (
    video_id UUID NOT NULL,
    user_id  UUID NOT NULL,
    PRIMARY KEY (video_id, user_id)
);

CREATE TABLE video_comments (
    comment_id UUID PRIMARY KEY,
    video_id   UUID NOT NULL
);

CREATE TABLE creator_viewers (
    creator_id   UUID NOT NULL,
    viewer_id    UUID NOT NULL,
    last_view_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (creator_id, viewer_id)
);

CREATE TABLE video_viewers (
    video_id  UUID NOT NULL,
    viewer_id UUID NOT NULL,
    PRIMARY KEY (video_id, viewer_id)
);

CREATE TABLE gifts (
    transaction_id UUID PRIMARY KEY,
    recipient_id   UUID NOT NULL,
    diamonds       BIGINT NOT NULL,
    occurred_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX gifts_by_recipient ON gifts (recipient_id, occurred_at);

-- Creators whose projection must be recomputed (the consumers mark, the
-- refresher recomputes and deletes; SKIP LOCKED lets replicas share it).
CREATE TABLE dirty_creators (
    creator_id UUID PRIMARY KEY,
    marked_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Creator profiles and applications --------------------------------------------

CREATE TABLE creator_applications (
    application_id           UUID PRIMARY KEY,
    creator_id               UUID NOT NULL,
    categories               TEXT[] NOT NULL,
    rate_cents               BIGINT NOT NULL,
    pitch                    TEXT NOT NULL DEFAULT '',
    status                   SMALLINT NOT NULL,
    followers_at_application BIGINT NOT NULL,
    rejection_reason         TEXT NOT NULL DEFAULT '',
    created_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    reviewed_at              TIMESTAMPTZ,
    reviewed_by              UUID,
    reapply_after            TIMESTAMPTZ
);
CREATE INDEX applications_by_creator ON creator_applications (creator_id, created_at DESC);
CREATE INDEX applications_by_status ON creator_applications (status, created_at, application_id);
-- At most one PENDING application per creator.
CREATE UNIQUE INDEX applications_one_pending ON creator_applications (creator_id) WHERE status = 1;

-- The marketplace profile plus the search projection: metrics and audience
-- shares copied from the analytics by the refresher, so a search reads one
-- table through its indexes.
CREATE TABLE creator_stats (
    creator_id          UUID PRIMARY KEY,
    -- Profile (set at application, edited by the creator).
    has_profile         BOOLEAN NOT NULL DEFAULT false,
    listed              BOOLEAN NOT NULL DEFAULT false,
    open_to_offers      BOOLEAN NOT NULL DEFAULT true,
    country             TEXT NOT NULL DEFAULT '',
    categories          TEXT[] NOT NULL DEFAULT '{}',
    accepted_categories TEXT[] NOT NULL DEFAULT '{}',
    rate_cents          BIGINT NOT NULL DEFAULT 0,
    pitch               TEXT NOT NULL DEFAULT '',
    profile_updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Metrics (last 30 days).
    followers           BIGINT NOT NULL DEFAULT 0,
    avg_views_30d       BIGINT NOT NULL DEFAULT 0,
    engagement_rate     DOUBLE PRECISION NOT NULL DEFAULT 0,
    -- Audience shares: age bands 13_17 .. 55_plus, genders female, male,
    -- non_binary, undisclosed, and the top countries {"US": 0.41, ...}.
    aud_age             DOUBLE PRECISION[] NOT NULL DEFAULT '{0,0,0,0,0,0}',
    aud_gender          DOUBLE PRECISION[] NOT NULL DEFAULT '{0,0,0,0}',
    aud_countries       JSONB NOT NULL DEFAULT '{}',
    computed_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Keyset walks per sort order over the searchable creators; the planner
-- combines them with the filters (or the country index for country filters).
CREATE INDEX creators_by_followers ON creator_stats (followers DESC, creator_id DESC)
    WHERE listed AND open_to_offers;
CREATE INDEX creators_by_avg_views ON creator_stats (avg_views_30d DESC, creator_id DESC)
    WHERE listed AND open_to_offers;
CREATE INDEX creators_by_engagement ON creator_stats (engagement_rate DESC, creator_id DESC)
    WHERE listed AND open_to_offers;
CREATE INDEX creators_by_country ON creator_stats (country, followers DESC, creator_id DESC)
    WHERE listed AND open_to_offers;
CREATE INDEX creators_by_country_avg_views ON creator_stats (country, avg_views_30d DESC, creator_id DESC)
    WHERE listed AND open_to_offers;
CREATE INDEX creators_by_country_engagement ON creator_stats (country, engagement_rate DESC, creator_id DESC)
    WHERE listed AND open_to_offers;
CREATE INDEX creators_by_category ON creator_stats USING GIN (categories)
    WHERE listed AND open_to_offers;
CREATE INDEX creators_stale ON creator_stats (computed_at);

-- Campaigns --------------------------------------------------------------------

CREATE TABLE campaigns (
    campaign_id              UUID PRIMARY KEY,
    advertiser_id            UUID NOT NULL,
    title                    TEXT NOT NULL,
    brief                    TEXT NOT NULL,
    video_count              INT NOT NULL,
    required_hashtag         TEXT NOT NULL,
    budget_per_creator_cents BIGINT NOT NULL CHECK (budget_per_creator_cents > 0),
    max_creators             INT NOT NULL,
    deadline                 TIMESTAMPTZ NOT NULL,
    visibility               SMALLINT NOT NULL,
    status                   SMALLINT NOT NULL,
    accepted_creators        INT NOT NULL DEFAULT 0,
    created_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at             TIMESTAMPTZ
);
CREATE INDEX campaigns_by_advertiser ON campaigns (advertiser_id, created_at DESC, campaign_id DESC);
CREATE INDEX campaigns_open ON campaigns (created_at DESC, campaign_id DESC)
    WHERE status = 2 AND visibility = 2;
CREATE INDEX campaigns_by_deadline ON campaigns (deadline) WHERE status = 2;

CREATE TABLE collaborations (
    collaboration_id    UUID PRIMARY KEY,
    campaign_id         UUID NOT NULL REFERENCES campaigns (campaign_id),
    advertiser_id       UUID NOT NULL,
    creator_id          UUID NOT NULL,
    state               SMALLINT NOT NULL,
    pitch               TEXT NOT NULL DEFAULT '',
    escrow_id           UUID,
    amount_cents        BIGINT NOT NULL,
    video_ids           UUID[] NOT NULL DEFAULT '{}',
    submitted_at        TIMESTAMPTZ,
    change_request_note TEXT NOT NULL DEFAULT '',
    paid_cents          BIGINT NOT NULL DEFAULT 0,
    platform_fee_cents  BIGINT NOT NULL DEFAULT 0,
    -- The fee fixed at approval, so every release retry sends the same body.
    fee_bps             INT NOT NULL DEFAULT 0,
    accepted_at         TIMESTAMPTZ,
    deadline            TIMESTAMPTZ NOT NULL,
    -- The idempotency keys of the calls that moved money, so a retry with
    -- the same key returns the result instead of failing INVALID_STATE.
    accept_key          TEXT,
    approve_key         TEXT,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, creator_id)
);
CREATE INDEX collaborations_by_campaign ON collaborations (campaign_id, created_at DESC, collaboration_id DESC);
CREATE INDEX collaborations_by_creator ON collaborations (creator_id, created_at DESC, collaboration_id DESC);
-- What the sweeper looks at: open states past their deadline, approvals to pay.
CREATE INDEX collaborations_due ON collaborations (deadline) WHERE state IN (1, 2, 3, 6);
CREATE INDEX collaborations_unpaid ON collaborations (updated_at) WHERE state IN (5, 7);

-- Every state change, with who made it (the audit trail of the escrow flow).
CREATE TABLE collaboration_history (
    id               BIGSERIAL PRIMARY KEY,
    collaboration_id UUID NOT NULL REFERENCES collaborations (collaboration_id),
    from_state       SMALLINT NOT NULL,
    to_state         SMALLINT NOT NULL,
    actor            TEXT NOT NULL,
    note             TEXT NOT NULL DEFAULT '',
    at               TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX history_by_collaboration ON collaboration_history (collaboration_id, id);

-- Idempotency keys of money-moving calls: one key names one call on one
-- collaboration for one caller.
CREATE TABLE idempotency_keys (
    caller           TEXT NOT NULL,
    key              TEXT NOT NULL,
    method           TEXT NOT NULL,
    collaboration_id UUID NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);

CREATE TABLE messages (
    message_id       UUID PRIMARY KEY,
    collaboration_id UUID NOT NULL REFERENCES collaborations (collaboration_id),
    sender_id        UUID NOT NULL,
    body             TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX messages_by_thread ON messages (collaboration_id, created_at DESC, message_id DESC);
