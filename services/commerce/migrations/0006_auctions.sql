-- LIVE auctions (docs/commerce.md "LIVE auctions"). Postgres is the truth:
-- a bid is accepted only once its row is committed, under the auction row's
-- lock (one serialisation point per auction), so a crash loses no accepted
-- bid and the bids' order (seq) is the order the rules saw them in.

-- Status: 1 open, 2 closing (winner chosen, payment being taken), 3 sold,
-- 4 unsold (loop.commerce.v1.AuctionStatus).
CREATE TABLE auctions (
    auction_id            UUID        PRIMARY KEY,
    room_id               UUID        NOT NULL,
    seller_id             UUID        NOT NULL,
    shop_id               UUID        NOT NULL REFERENCES shops,
    product_id            UUID        NOT NULL REFERENCES products,
    product_version       INT         NOT NULL,
    sku_id                UUID        NOT NULL REFERENCES skus,
    title                 TEXT        NOT NULL,
    sku_name              TEXT        NOT NULL,
    starting_cents        BIGINT      NOT NULL CHECK (starting_cents >= 100),
    status                SMALLINT    NOT NULL,
    sudden_death          BOOLEAN     NOT NULL,
    extend_within_ms      BIGINT      NOT NULL,
    extend_by_ms          BIGINT      NOT NULL,
    starts_at             TIMESTAMPTZ NOT NULL,
    original_ends_at      TIMESTAMPTZ NOT NULL,
    ends_at               TIMESTAMPTZ NOT NULL,
    extensions            INT         NOT NULL DEFAULT 0,
    -- The last accepted bid's seq (bids are 1, 2, ...).
    seq                   INT         NOT NULL DEFAULT 0,
    price_cents           BIGINT      NOT NULL DEFAULT 0,
    leader_id             UUID,
    leader_max_cents      BIGINT      NOT NULL DEFAULT 0,
    -- The close: the bidder being charged, at what price; bidders whose
    -- payment failed are skipped (the next bidder is offered the unit).
    winner_id             UUID,
    winning_cents         BIGINT      NOT NULL DEFAULT 0,
    failed_bidders        UUID[]      NOT NULL DEFAULT '{}',
    order_id              UUID,
    start_key             TEXT        NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    closed_at             TIMESTAMPTZ,
    -- The unit taken from stock at the start was given back (unsold).
    restocked             BOOLEAN     NOT NULL DEFAULT false,
    UNIQUE (seller_id, start_key)
);
-- One running auction per room.
CREATE UNIQUE INDEX auctions_one_per_room ON auctions (room_id) WHERE status IN (1, 2);
CREATE INDEX auctions_room ON auctions (room_id, created_at DESC);
CREATE INDEX auctions_due ON auctions (ends_at) WHERE status IN (1, 2);

-- A bidder's payment authorisation: a card hold in a wallet escrow of up to
-- authorized_cents (key commerce:auction-auth:<auction>:<bidder>). The
-- receipt is kept so the hold can be resent with the same key and body
-- after a crash. At the close the winner's hold is cut down to the price
-- (captured) and becomes their order's escrow; every other hold is
-- returned (released).
CREATE TABLE auction_bidders (
    auction_id       UUID        NOT NULL REFERENCES auctions,
    bidder_id        UUID        NOT NULL,
    authorized_cents BIGINT      NOT NULL CHECK (authorized_cents > 0),
    receipt          BYTEA       NOT NULL,
    escrow_id        UUID,
    released         BOOLEAN     NOT NULL DEFAULT false,
    problem          TEXT        NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (auction_id, bidder_id)
);
CREATE INDEX auction_bidders_due ON auction_bidders (auction_id) WHERE NOT released;

-- Every accepted bid, in the order the auction accepted it. max_cents is
-- the bidder's maximum (= amount_cents for a plain bid).
CREATE TABLE auction_bids (
    auction_id   UUID        NOT NULL REFERENCES auctions,
    seq          INT         NOT NULL,
    bidder_id    UUID        NOT NULL,
    amount_cents BIGINT      NOT NULL CHECK (amount_cents > 0),
    max_cents    BIGINT      NOT NULL CHECK (max_cents >= amount_cents),
    placed_at    TIMESTAMPTZ NOT NULL,
    price_cents  BIGINT      NOT NULL,
    leader_id    UUID        NOT NULL,
    ends_at      TIMESTAMPTZ NOT NULL,
    extended     BOOLEAN     NOT NULL,
    PRIMARY KEY (auction_id, seq)
);
