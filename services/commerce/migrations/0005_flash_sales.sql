-- Flash sales (docs/commerce.md, "Flash sales"): the host of an open LIVE
-- room, who sells the pinned product, sells `total_units` of one SKU at a
-- sale price for a few minutes after a countdown, at most
-- `per_buyer_limit` units per buyer.
--
-- Postgres is the truth for every unit. Starting a sale moves its units
-- out of the SKU's stock into `remaining` (one transaction); a purchase
-- decrements `remaining` (conditional UPDATE, CHECK >= 0) in the same
-- transaction that writes the order, so a crash between "unit taken" and
-- "order written" cannot happen: both commit or neither does. A cancelled
-- sale order gives its units back to `remaining` while the sale is not
-- closed, to the SKU's stock after. Closing (once, by the sweeper, the row
-- locked) moves what is left back to the SKU's stock.
CREATE TABLE flash_sales (
    sale_id          UUID        PRIMARY KEY,
    room_id          UUID        NOT NULL,
    host_id          UUID        NOT NULL,
    shop_id          UUID        NOT NULL REFERENCES shops,
    product_id       UUID        NOT NULL REFERENCES products,
    sku_id           UUID        NOT NULL REFERENCES skus,
    list_price_cents BIGINT      NOT NULL,
    sale_price_cents BIGINT      NOT NULL CHECK (sale_price_cents > 0 AND sale_price_cents < list_price_cents),
    total_units      INT         NOT NULL CHECK (total_units > 0),
    remaining        INT         NOT NULL CHECK (remaining >= 0 AND remaining <= total_units),
    per_buyer_limit  INT         NOT NULL CHECK (per_buyer_limit > 0),
    starts_at        TIMESTAMPTZ NOT NULL,
    ends_at          TIMESTAMPTZ NOT NULL CHECK (ends_at > starts_at),
    created_at       TIMESTAMPTZ NOT NULL,
    -- FlashSaleStarted was written (once, by the sweeper).
    started          BOOLEAN     NOT NULL DEFAULT false,
    -- Closed: what was left went back to the SKU's stock, FlashSaleEnded written.
    closed           BOOLEAN     NOT NULL DEFAULT false,
    closed_at        TIMESTAMPTZ,
    -- StartFlashSale's key: a retry returns this sale.
    start_key        TEXT        NOT NULL,
    start_hash       BYTEA       NOT NULL,
    UNIQUE (host_id, start_key)
);
-- One sale at a time per room.
CREATE UNIQUE INDEX flash_sales_room_open ON flash_sales (room_id) WHERE NOT closed;
CREATE INDEX flash_sales_room ON flash_sales (room_id, created_at DESC);

-- Units each buyer holds in a sale (orders not cancelled), against the limit.
CREATE TABLE flash_buyers (
    sale_id  UUID NOT NULL REFERENCES flash_sales,
    buyer_id UUID NOT NULL,
    units    INT  NOT NULL CHECK (units >= 0),
    PRIMARY KEY (sale_id, buyer_id)
);

-- An order bought in a flash sale (at the sale price).
ALTER TABLE orders ADD COLUMN flash_sale_id UUID REFERENCES flash_sales;
CREATE INDEX orders_flash_unpaid ON orders (created_at) WHERE flash_sale_id IS NOT NULL AND status = 1;
