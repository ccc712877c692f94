-- Invalid traffic (docs/security.md): clicks and views that a served,
-- recorded impression does not back, clicks faster than a person, repeats
-- on one impression, and one viewer clicking far above the ad's rate. Each
-- such event is recorded once (keyed by its event id, so redelivery adds
-- nothing), counted in the reports, and never billed.
CREATE TABLE ad_invalid_traffic (
    source_event_id UUID PRIMARY KEY,
    impression_id   UUID NOT NULL,
    -- AdBillableAction: 2 click, 3 6-second view.
    action          SMALLINT NOT NULL,
    reason          TEXT NOT NULL,
    creative_id     UUID NOT NULL,
    ad_group_id     UUID NOT NULL,
    campaign_id     UUID NOT NULL,
    user_id         UUID NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ad_invalid_traffic_by_campaign ON ad_invalid_traffic (campaign_id, occurred_at);

ALTER TABLE daily_stats ADD COLUMN invalid_events BIGINT NOT NULL DEFAULT 0;

-- Clicks per viewer per campaign per day are counted from here.
CREATE INDEX ad_actions_clicks_by_user ON ad_actions (user_id, campaign_id, occurred_at) WHERE action = 2;

-- A view bills only when watched for 6 s, or the whole creative when it is
-- shorter: the creative's duration, from its video (0: unknown, 6 s apply).
ALTER TABLE creatives ADD COLUMN duration_ms INT NOT NULL DEFAULT 0;
ALTER TABLE spark_codes ADD COLUMN duration_ms INT NOT NULL DEFAULT 0;
