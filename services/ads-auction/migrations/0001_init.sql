-- ads-auction schema: campaigns -> ad groups -> creatives, TopView
-- reservations, branded challenges, Spark codes, and the exactly-once billing
-- ledger (one row per (impression_id, action)) with its daily roll-ups.
-- Enumerations are stored as the proto enum numbers (SMALLINT). Money is
-- integer: budgets in cents as sold, delivery charges in millicents.

CREATE TABLE campaigns (
    id                   UUID PRIMARY KEY,
    advertiser_id        UUID NOT NULL,
    name                 TEXT NOT NULL,
    objective            SMALLINT NOT NULL,
    total_budget_cents   BIGINT NOT NULL CHECK (total_budget_cents > 0),
    -- Billed: auction charges, delivered TopView, challenge fees.
    spent_millicents     BIGINT NOT NULL DEFAULT 0 CHECK (spent_millicents >= 0),
    -- Booked TopView not yet delivered.
    committed_millicents BIGINT NOT NULL DEFAULT 0 CHECK (committed_millicents >= 0),
    -- Charged beyond the budget (bounded pacing overspend): recorded, never billed.
    written_off_millicents BIGINT NOT NULL DEFAULT 0,
    -- Whole cents already settled against the wallet.
    settled_cents        BIGINT NOT NULL DEFAULT 0,
    status               SMALLINT NOT NULL,
    -- Bumped by every budget update; wallet idempotency keys derive from it.
    version              BIGINT NOT NULL DEFAULT 1,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_by_advertiser ON campaigns (advertiser_id, created_at DESC, id DESC);

CREATE TABLE ad_groups (
    id                    UUID PRIMARY KEY,
    campaign_id           UUID NOT NULL REFERENCES campaigns (id),
    advertiser_id         UUID NOT NULL,
    name                  TEXT NOT NULL,
    format                SMALLINT NOT NULL,
    daily_budget_cents    BIGINT NOT NULL DEFAULT 0,
    bid_type              SMALLINT NOT NULL DEFAULT 0,
    bid_cents             BIGINT NOT NULL DEFAULT 0,
    starts_at             TIMESTAMPTZ NOT NULL,
    ends_at               TIMESTAMPTZ,
    active_hours          SMALLINT[] NOT NULL DEFAULT '{}',
    time_zone             TEXT NOT NULL DEFAULT 'UTC',
    -- loop.ads_auction.v1.Targeting, protobuf-encoded.
    targeting             BYTEA NOT NULL,
    frequency_cap_per_day INTEGER NOT NULL DEFAULT 0,
    status                SMALLINT NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Every change to the ad group, its campaign or its creatives bumps this,
    -- so the serving index reloads it.
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ad_groups_by_campaign ON ad_groups (campaign_id, created_at DESC, id DESC);
CREATE INDEX ad_groups_by_update ON ad_groups (updated_at);

CREATE TABLE spark_codes (
    code           TEXT PRIMARY KEY,
    video_id       UUID NOT NULL,
    creator_id     UUID NOT NULL,
    creator_handle TEXT NOT NULL,
    revoked_at     TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX spark_codes_by_creator ON spark_codes (creator_id, created_at DESC, code);

CREATE TABLE creatives (
    id               UUID PRIMARY KEY,
    ad_group_id      UUID NOT NULL REFERENCES ad_groups (id),
    campaign_id      UUID NOT NULL,
    advertiser_id    UUID NOT NULL,
    format           SMALLINT NOT NULL,
    video_id         UUID NOT NULL,
    display_name     TEXT NOT NULL,
    call_to_action   SMALLINT NOT NULL,
    landing_url      TEXT NOT NULL,
    status           SMALLINT NOT NULL,
    spark_code       TEXT REFERENCES spark_codes (code),
    spark_creator_id UUID,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX creatives_by_ad_group ON creatives (ad_group_id, created_at DESC, id DESC);
CREATE INDEX creatives_by_video ON creatives (video_id);
CREATE UNIQUE INDEX creatives_one_per_code ON creatives (ad_group_id, spark_code) WHERE spark_code IS NOT NULL;

CREATE TABLE topview_reservations (
    id                UUID PRIMARY KEY,
    advertiser_id     UUID NOT NULL,
    campaign_id       UUID NOT NULL REFERENCES campaigns (id),
    ad_group_id       UUID NOT NULL REFERENCES ad_groups (id),
    creative_id       UUID NOT NULL REFERENCES creatives (id),
    day               DATE NOT NULL,
    impressions       BIGINT NOT NULL CHECK (impressions > 0),
    cpm_cents         BIGINT NOT NULL,
    total_price_cents BIGINT NOT NULL,
    delivered         BIGINT NOT NULL DEFAULT 0,
    -- 1 confirmed, 2 cancelled, 3 completed (TopViewReservationStatus).
    status            SMALLINT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX topview_by_day ON topview_reservations (day) WHERE status = 1;
CREATE INDEX topview_by_advertiser ON topview_reservations (advertiser_id, created_at DESC, id DESC);

CREATE TABLE branded_challenges (
    id            UUID PRIMARY KEY,
    challenge_id  UUID NOT NULL,
    advertiser_id UUID NOT NULL,
    campaign_id   UUID NOT NULL REFERENCES campaigns (id),
    hashtag       TEXT NOT NULL,
    description   TEXT NOT NULL,
    banner_url    TEXT NOT NULL DEFAULT '',
    starts_at     TIMESTAMPTZ NOT NULL,
    ends_at       TIMESTAMPTZ NOT NULL,
    countries     TEXT[] NOT NULL DEFAULT '{}',
    fee_cents     BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX branded_challenges_by_period ON branded_challenges (ends_at, starts_at);

-- Remembered successful results of money-moving rpcs (7 days at least).
CREATE TABLE idempotency (
    caller       TEXT NOT NULL,
    key          TEXT NOT NULL,
    operation    TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    response     BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);

-- The billing ledger: one row per counted action of one served ad. The
-- unique key makes redelivered events and re-reported tokens no-ops.
CREATE TABLE ad_actions (
    id                     BIGSERIAL PRIMARY KEY,
    billing_id             UUID NOT NULL UNIQUE,
    impression_id          UUID NOT NULL,
    -- AdBillableAction: 1 impression, 2 click, 3 6-second view.
    action                 SMALLINT NOT NULL,
    source_event_id        UUID NOT NULL,
    creative_id            UUID NOT NULL,
    ad_group_id            UUID NOT NULL,
    campaign_id            UUID NOT NULL,
    advertiser_id          UUID NOT NULL,
    user_id                UUID NOT NULL,
    reservation_id         UUID,
    bid_type               SMALLINT NOT NULL,
    billable               BOOLEAN NOT NULL,
    price_millicents       BIGINT NOT NULL,
    charge_millicents      BIGINT NOT NULL,
    written_off_millicents BIGINT NOT NULL DEFAULT 0,
    occurred_at            TIMESTAMPTZ NOT NULL,
    billed_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (impression_id, action)
);
CREATE INDEX ad_actions_by_campaign ON ad_actions (campaign_id, id) WHERE billable;

-- Spend per ad group per day of its schedule's time zone (budget pacing).
CREATE TABLE ad_group_spend (
    ad_group_id      UUID NOT NULL,
    day              DATE NOT NULL,
    spent_millicents BIGINT NOT NULL DEFAULT 0,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (ad_group_id, day)
);
CREATE INDEX ad_group_spend_by_update ON ad_group_spend (updated_at);

-- Report roll-up per ad group per UTC day.
CREATE TABLE daily_stats (
    ad_group_id      UUID NOT NULL,
    day              DATE NOT NULL,
    campaign_id      UUID NOT NULL,
    impressions      BIGINT NOT NULL DEFAULT 0,
    clicks           BIGINT NOT NULL DEFAULT 0,
    views_6s         BIGINT NOT NULL DEFAULT 0,
    spend_millicents BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (ad_group_id, day)
);
CREATE INDEX daily_stats_by_campaign ON daily_stats (campaign_id, day);

-- Campaign-level spend outside ad groups (challenge fees), per UTC day.
CREATE TABLE campaign_fees (
    campaign_id      UUID NOT NULL,
    day              DATE NOT NULL,
    spend_millicents BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, day)
);

-- Learned action rates per creative and segment ('' = all segments).
CREATE TABLE creative_stats (
    creative_id UUID NOT NULL,
    segment     TEXT NOT NULL,
    impressions BIGINT NOT NULL DEFAULT 0,
    clicks      BIGINT NOT NULL DEFAULT 0,
    views_6s    BIGINT NOT NULL DEFAULT 0,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (creative_id, segment)
);
CREATE INDEX creative_stats_by_update ON creative_stats (updated_at);

-- Settlements of billed spend against the advertiser's wallet reserve.
CREATE TABLE settlements (
    idempotency_key TEXT PRIMARY KEY,
    campaign_id     UUID NOT NULL,
    amount_cents    BIGINT NOT NULL,
    last_action_id  BIGINT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
