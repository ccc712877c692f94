-- CreateCampaign notes here, in its own commit, the reserve it is about to
-- make in the wallet, and locks the row until its transaction ends (which
-- deletes it). An unlocked row whose campaign does not exist means the
-- reserve may be held in the wallet for a campaign that never committed:
-- the settlement loop releases it. No foreign key: the campaign row does not
-- exist yet when the note is written.
CREATE TABLE wallet_intents (
    campaign_id   UUID PRIMARY KEY,
    advertiser_id UUID NOT NULL,
    amount_cents  BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
