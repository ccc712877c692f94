-- Buyers' return requests: one open (status 1) per order; approved (2)
-- by the seller, an admin or the service after answer_due, with the refund
-- it made; rejected (3) with a note.
CREATE TABLE return_requests (
    request_id   UUID        PRIMARY KEY,
    order_id     UUID        NOT NULL REFERENCES orders,
    amount_cents BIGINT      NOT NULL CHECK (amount_cents > 0),
    reason       TEXT        NOT NULL,
    status       SMALLINT    NOT NULL DEFAULT 1,
    created_at   TIMESTAMPTZ NOT NULL,
    answer_due   TIMESTAMPTZ NOT NULL,
    answered_at  TIMESTAMPTZ,
    answered_by  TEXT        NOT NULL DEFAULT '',
    note         TEXT        NOT NULL DEFAULT '',
    refund_id    UUID
);
CREATE UNIQUE INDEX return_requests_one_open ON return_requests (order_id) WHERE status = 1;
CREATE INDEX return_requests_by_order ON return_requests (order_id, created_at DESC);
CREATE INDEX return_requests_due ON return_requests (answer_due) WHERE status = 1;
