-- A bid's idempotency key and the hash of the request that placed it: a
-- repeat of the key by the same bidder on the same auction answers with
-- that bid (a retry after a lost answer places nothing more). Rows written
-- before this migration have none.
ALTER TABLE auction_bids
    ADD COLUMN idempotency_key TEXT,
    ADD COLUMN request_hash    BYTEA;
CREATE UNIQUE INDEX auction_bids_by_key ON auction_bids (auction_id, bidder_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
