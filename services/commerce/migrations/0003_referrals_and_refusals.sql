-- Server-verified affiliate attribution and final wallet refusals
-- (docs/commerce.md).
--
-- showcase: the products a creator features (open to affiliates, approved).
-- referrals: a buyer's last visit to a product from a creator's showcase,
-- video or LIVE, recorded by the service after checking the creator
-- features it there; a checkout is attributed to the latest one within the
-- window. Clients never name the affiliate.
CREATE TABLE showcase (
    creator_id UUID        NOT NULL,
    product_id UUID        NOT NULL REFERENCES products,
    added_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (creator_id, product_id)
);
CREATE INDEX showcase_latest ON showcase (creator_id, added_at DESC, product_id DESC);

-- Source: loop.commerce.v1.ReferralSource.
CREATE TABLE referrals (
    buyer_id   UUID        NOT NULL,
    product_id UUID        NOT NULL REFERENCES products,
    creator_id UUID        NOT NULL,
    source     SMALLINT    NOT NULL,
    source_id  TEXT        NOT NULL DEFAULT '',
    visited_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (buyer_id, product_id, creator_id)
);
CREATE INDEX referrals_last ON referrals (buyer_id, visited_at DESC);

CREATE INDEX orders_affiliate ON orders (affiliate_id, order_id DESC) WHERE affiliate_id IS NOT NULL;
-- The cap on a buyer's unpaid orders counts these.
CREATE INDEX orders_unpaid ON orders (buyer_id) WHERE status IN (1, 2);

-- A money step the wallet refused for good: not retried, the order waits
-- for a person (and its settlement with it).
ALTER TABLE orders ADD COLUMN wallet_problem TEXT NOT NULL DEFAULT '';
ALTER TABLE order_refunds
    ADD COLUMN failed  BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN failure TEXT    NOT NULL DEFAULT '';
DROP INDEX order_refunds_pending;
CREATE INDEX order_refunds_pending ON order_refunds (order_id) WHERE NOT done AND NOT failed;
CREATE INDEX orders_problem ON orders (order_id) WHERE wallet_problem <> '';
