-- Admins' retries of a money step the wallet refused for good: who, when,
-- the problem the order had and the admin's note (what was fixed).
CREATE TABLE order_interventions (
    intervention_id UUID        PRIMARY KEY,
    order_id        UUID        NOT NULL REFERENCES orders,
    admin_id        UUID        NOT NULL,
    problem         TEXT        NOT NULL,
    note            TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX order_interventions_by_order ON order_interventions (order_id, created_at);
-- The admins' list of orders needing attention.
CREATE INDEX orders_with_wallet_problem ON orders (order_id DESC) WHERE wallet_problem <> '';
