-- Affiliates (docs/commerce.md): a product open to affiliates at a rate;
-- each order item keeps the rate of its checkout; an order attributed to a
-- creator locks its commission at payment and pays it with the settlement.
ALTER TABLE products
    ADD COLUMN affiliate_rate_bps INT NOT NULL DEFAULT 0
        CHECK (affiliate_rate_bps = 0 OR affiliate_rate_bps BETWEEN 100 AND 8000);
ALTER TABLE order_items
    ADD COLUMN affiliate_rate_bps INT NOT NULL DEFAULT 0;
ALTER TABLE orders
    ADD COLUMN affiliate_id UUID,
    ADD COLUMN commission_cents BIGINT NOT NULL DEFAULT 0 CHECK (commission_cents >= 0),
    -- The commission the settlement paid (fixed with the split).
    ADD COLUMN affiliate_cents BIGINT NOT NULL DEFAULT 0;
