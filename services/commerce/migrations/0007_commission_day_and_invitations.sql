-- Issue 16, the rest (docs/commerce.md): the affiliate's commission is paid
-- on its own day, the order keeps where it was bought from, and sellers
-- invite chosen creators at a rate.

-- The commission: fixed at settlement (affiliate_cents) and left held in the
-- escrow by a partial release; paid orders.commission_after_days after
-- delivery (commission_at) by a second release; commission_paid_at once the
-- wallet confirmed it.
ALTER TABLE orders
    ADD COLUMN commission_at      TIMESTAMPTZ,
    ADD COLUMN commission_paid_at TIMESTAMPTZ,
    -- The attributed visit's source (loop.commerce.v1.ReferralSource) and
    -- its video or LIVE room: the ranker counts the purchase as engagement
    -- with it, the marketplace as the creator's conversion.
    ADD COLUMN source             SMALLINT NOT NULL DEFAULT 0,
    ADD COLUMN source_id          TEXT     NOT NULL DEFAULT '';
-- What the sweeper pays: completed orders whose commission is still held.
CREATE INDEX orders_commission_due ON orders (commission_at)
    WHERE status = 7 AND affiliate_cents > 0 AND commission_paid_at IS NULL;

-- A seller's invitation of one creator to one product at a rate (basis
-- points 100..8000, may differ from the open rate; works for products not
-- open to all). Status: 1 pending, 2 accepted, 3 declined, 4 withdrawn
-- (loop.commerce.v1.InvitationStatus). An accepted invitation lets the
-- creator feature the product (showcase, anchors, LIVE bag) and earn the
-- invited rate on orders attributed to them.
CREATE TABLE invitations (
    invitation_id UUID        PRIMARY KEY,
    product_id    UUID        NOT NULL REFERENCES products,
    seller_id     UUID        NOT NULL,
    creator_id    UUID        NOT NULL,
    rate_bps      INT         NOT NULL CHECK (rate_bps BETWEEN 100 AND 8000),
    message       TEXT        NOT NULL DEFAULT '',
    status        SMALLINT    NOT NULL DEFAULT 1,
    created_at    TIMESTAMPTZ NOT NULL,
    answered_at   TIMESTAMPTZ,
    UNIQUE (product_id, creator_id)
);
CREATE INDEX invitations_creator ON invitations (creator_id, created_at DESC);
CREATE INDEX invitations_seller ON invitations (seller_id, created_at DESC);

-- Orders completed before this migration paid their commission with the
-- settlement: recorded as paid then, so nothing pays it twice.
UPDATE orders SET commission_at = settle_at, commission_paid_at = closed_at
    WHERE status = 7 AND affiliate_cents > 0;
