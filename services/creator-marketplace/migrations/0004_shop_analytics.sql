-- Shop analytics per creator (issue 16; docs/commerce.md, docs/creator-marketplace.md):
-- from commerce.v1, a creator's referral visits (ReferralRecorded: a buyer
-- opened a product from the creator's showcase, video or LIVE) and the
-- orders attributed to them (OrderPaid with affiliate_id, then
-- OrderRefunded / OrderCancelled of the same order, which share its key and
-- so arrive after it).
--   GMV 30d        = sum(total - refunded) of attributed orders paid in the
--                    last 30 days and not cancelled
--   conversion 30d = attributed orders paid in the last 30 days, neither
--                    cancelled nor fully refunded / referral visits recorded
--                    in the last 30 days (capped at 1; 0 without visits)
CREATE TABLE shop_referrals (
    event_id    UUID PRIMARY KEY,
    creator_id  UUID NOT NULL,
    product_id  UUID NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX shop_referrals_by_creator ON shop_referrals (creator_id, occurred_at);

CREATE TABLE shop_orders (
    order_id       UUID PRIMARY KEY,
    creator_id     UUID NOT NULL,
    total_cents    BIGINT NOT NULL,
    refunded_cents BIGINT NOT NULL DEFAULT 0,
    cancelled      BOOLEAN NOT NULL DEFAULT false,
    paid_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX shop_orders_by_creator ON shop_orders (creator_id, paid_at);

ALTER TABLE creator_stats
    ADD COLUMN shop_gmv_cents_30d       BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN shop_conversion_rate_30d DOUBLE PRECISION NOT NULL DEFAULT 0;
CREATE INDEX creators_by_shop_gmv ON creator_stats (shop_gmv_cents_30d DESC, creator_id DESC)
    WHERE listed AND open_to_offers;
CREATE INDEX creators_by_shop_conversion ON creator_stats (shop_conversion_rate_30d DESC, creator_id DESC)
    WHERE listed AND open_to_offers;
