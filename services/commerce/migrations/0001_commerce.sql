-- The commerce service's store. See docs/commerce.md.
--
-- Stock: skus.stock is what is available now. Checkout takes units with a
-- conditional UPDATE (stock >= quantity), so concurrent buyers can never take
-- more than there is (CHECK stock >= 0 backs it); a cancelled order gives
-- its units back in the same transaction that cancels it, once.
-- Money never moves here: orders keep the wallet escrow's id and which
-- wallet steps are due, and every wallet call carries a key derived from the
-- order (or refund), so a retry after a crash moves nothing twice.

CREATE TABLE shops (
    shop_id     UUID        PRIMARY KEY,
    seller_id   UUID        NOT NULL UNIQUE,
    name        TEXT        NOT NULL,
    description TEXT        NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Status: 1 pending review, 2 approved, 3 rejected (loop.commerce.v1.ProductStatus).
CREATE TABLE products (
    product_id    UUID        PRIMARY KEY,
    shop_id       UUID        NOT NULL REFERENCES shops,
    seller_id     UUID        NOT NULL,
    version       INT         NOT NULL DEFAULT 1,
    status        SMALLINT    NOT NULL DEFAULT 1,
    reject_reason TEXT        NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX products_shop ON products (shop_id, product_id DESC);

-- Every version as it was written (append-only): what an order bought.
-- skus: [{"sku_id","name","price_cents"}].
CREATE TABLE product_versions (
    product_id  UUID        NOT NULL REFERENCES products,
    version     INT         NOT NULL,
    title       TEXT        NOT NULL,
    description TEXT        NOT NULL,
    category    TEXT        NOT NULL,
    image_urls  TEXT[]      NOT NULL,
    skus        JSONB       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (product_id, version)
);

CREATE TABLE skus (
    sku_id      UUID        PRIMARY KEY,
    product_id  UUID        NOT NULL REFERENCES products,
    name        TEXT        NOT NULL,
    price_cents BIGINT      NOT NULL CHECK (price_cents > 0),
    stock       BIGINT      NOT NULL CHECK (stock >= 0),
    -- Left out of an edit: no longer sold.
    retired     BOOLEAN     NOT NULL DEFAULT false,
    position    INT         NOT NULL DEFAULT 0
);
CREATE INDEX skus_product ON skus (product_id, position);

-- Status: loop.commerce.v1.OrderStatus.
CREATE TABLE orders (
    order_id        UUID        PRIMARY KEY,
    shop_id         UUID        NOT NULL REFERENCES shops,
    seller_id       UUID        NOT NULL,
    buyer_id        UUID        NOT NULL,
    status          SMALLINT    NOT NULL,
    total_cents     BIGINT      NOT NULL CHECK (total_cents > 0),
    refunded_cents  BIGINT      NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0 AND refunded_cents <= total_cents),
    -- PlaceOrder's key and body hash: a retry returns this order.
    place_key       TEXT        NOT NULL,
    place_hash      BYTEA       NOT NULL,
    -- The receipt the first PayOrder brought (encoded PaymentReceipt); every
    -- retry of the charge sends this one.
    receipt         BYTEA,
    escrow_id       UUID,
    carrier         TEXT        NOT NULL DEFAULT '',
    tracking_number TEXT        NOT NULL DEFAULT '',
    cancel_reason   TEXT        NOT NULL DEFAULT '',
    cancelled_by    TEXT        NOT NULL DEFAULT '',
    -- A paid order was cancelled or fully refunded and the wallet has not
    -- yet confirmed returning the rest of the escrow.
    refund_all_due  BOOLEAN     NOT NULL DEFAULT false,
    -- Settlement: the split fixed when it became due (so a retry sends the
    -- same body), and whether the wallet confirmed it.
    seller_cents    BIGINT      NOT NULL DEFAULT 0,
    fee_cents       BIGINT      NOT NULL DEFAULT 0,
    settle_due      BOOLEAN     NOT NULL DEFAULT false,
    created_at      TIMESTAMPTZ NOT NULL,
    paid_at         TIMESTAMPTZ,
    hold_until      TIMESTAMPTZ,
    shipped_at      TIMESTAMPTZ,
    delivered_at    TIMESTAMPTZ,
    settle_at       TIMESTAMPTZ,
    closed_at       TIMESTAMPTZ,
    UNIQUE (buyer_id, place_key)
);
CREATE INDEX orders_buyer ON orders (buyer_id, order_id DESC);
CREATE INDEX orders_seller ON orders (seller_id, order_id DESC);
-- What the sweeper looks at: orders that are not finished.
CREATE INDEX orders_open ON orders (status, created_at) WHERE status NOT IN (7, 8, 9) OR refund_all_due OR settle_due;

CREATE TABLE order_items (
    order_id         UUID   NOT NULL REFERENCES orders,
    idx              SMALLINT NOT NULL,
    product_id       UUID   NOT NULL,
    product_version  INT    NOT NULL,
    sku_id           UUID   NOT NULL,
    title            TEXT   NOT NULL,
    sku_name         TEXT   NOT NULL,
    unit_price_cents BIGINT NOT NULL CHECK (unit_price_cents > 0),
    quantity         INT    NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, idx)
);

-- Partial refunds: written with the order's lock held, sent to the wallet
-- with key commerce:refund:<refund_id>; done once the wallet confirmed.
CREATE TABLE order_refunds (
    refund_id    UUID        PRIMARY KEY,
    order_id     UUID        NOT NULL REFERENCES orders,
    amount_cents BIGINT      NOT NULL CHECK (amount_cents > 0),
    reason       TEXT        NOT NULL,
    request_key  TEXT        NOT NULL,
    done         BOOLEAN     NOT NULL DEFAULT false,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (order_id, request_key)
);
CREATE INDEX order_refunds_pending ON order_refunds (order_id) WHERE NOT done;

-- Mutating order rpcs: (caller, rpc, key) -> the order and the request's
-- hash, written in the transaction that did the step; a retry answers with
-- the order as it is now, the same key with another body is refused.
CREATE TABLE request_keys (
    scope      TEXT        NOT NULL,
    key        TEXT        NOT NULL,
    hash       BYTEA       NOT NULL,
    order_id   UUID        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
