-- UpdateCampaign notes a budget change here, in its own commit, before it
-- moves money in the wallet, and locks the note until its transaction ends
-- (which deletes it). A note left unlocked means the commit failed after (or
-- before) the wallet call: the settlement loop completes the change (the same
-- movement again with the same key moves money at most once, then the
-- budget and version are applied), and until then the campaign's budget
-- cannot change again. No foreign key: the update holds the campaign row
-- FOR UPDATE while the note is written from another connection.
CREATE TABLE budget_intents (
    campaign_id   UUID PRIMARY KEY,
    advertiser_id UUID NOT NULL,
    version       BIGINT NOT NULL,
    budget_cents  BIGINT NOT NULL,
    diff_cents    BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
