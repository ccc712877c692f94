-- The wallet's double-entry ledger. See docs/wallet.md for the design.
--
-- transactions + entries are the books: append-only (triggers refuse UPDATE,
-- DELETE and TRUNCATE), every INSERT statement into entries must balance per
-- transaction and asset (a statement trigger checks it), amounts are integers.
-- accounts caches each account's balance; it is only ever changed by
-- ledger_post() in the same database transaction as the entries, so a cached
-- balance always equals the sum of its entries (reconcile proves it).

-- Assets: 1 coins, 2 diamonds, 3 cents (loop.wallet.v1.Asset).
CREATE TABLE accounts (
    account         TEXT     NOT NULL,
    asset           SMALLINT NOT NULL CHECK (asset IN (1, 2, 3)),
    -- The user for user accounts (available, shards and holds); NULL for system accounts.
    owner_id        UUID,
    -- Payout, escrow and ad-budget holds: counted as `held`, not spendable.
    holding         BOOLEAN  NOT NULL DEFAULT false,
    -- System accounts (issuance, revenue...) are mirrors and may go negative.
    may_go_negative BOOLEAN  NOT NULL DEFAULT false,
    balance         BIGINT   NOT NULL DEFAULT 0,
    PRIMARY KEY (account, asset),
    CONSTRAINT balance_not_negative CHECK (may_go_negative OR balance >= 0)
) WITH (fillfactor = 70); -- room for HOT updates of hot rows

CREATE INDEX accounts_owner ON accounts (owner_id, asset) WHERE owner_id IS NOT NULL;

CREATE TABLE transactions (
    transaction_id UUID        PRIMARY KEY,
    kind           SMALLINT    NOT NULL,
    reference      TEXT        NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE entries (
    transaction_id UUID     NOT NULL,
    idx            SMALLINT NOT NULL,
    account        TEXT     NOT NULL,
    asset          SMALLINT NOT NULL CHECK (asset IN (1, 2, 3)),
    amount         BIGINT   NOT NULL CHECK (amount <> 0),
    owner_id       UUID,
    PRIMARY KEY (transaction_id, idx)
);

-- A user's history, newest first (keyset on transaction_id, a UUIDv7).
CREATE INDEX entries_owner ON entries (owner_id, transaction_id DESC) WHERE owner_id IS NOT NULL;

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'WL009';
END $$;

CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER transactions_no_truncate BEFORE TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

CREATE FUNCTION entries_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad UUID;
BEGIN
    SELECT transaction_id INTO bad FROM new_entries
        GROUP BY transaction_id, asset HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance', bad USING ERRCODE = 'WL002';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER entries_balanced AFTER INSERT ON entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION entries_balanced();

-- Posts one ledger transaction: its row, its entries and the cached balances.
-- Balances are changed in (account, asset) order, the same global order in
-- every transaction, so ledger transactions never deadlock each other. A
-- debit of a user account is a conditional update on that one row
-- (balance + amount >= 0); when it fails nothing is written and the error
-- WL001 INSUFFICIENT_FUNDS names the account. Returns each entry's balance
-- after the posting, in entry order.
CREATE FUNCTION ledger_post(
    p_tx UUID, p_kind SMALLINT, p_reference TEXT,
    p_accounts TEXT[], p_assets SMALLINT[], p_amounts BIGINT[],
    p_owners UUID[], p_holding BOOLEAN[], p_system BOOLEAN[]
) RETURNS BIGINT[] LANGUAGE plpgsql AS $$
DECLARE
    i INT;
    b BIGINT;
    result BIGINT[] := array_fill(0::BIGINT, ARRAY[cardinality(p_accounts)]);
BEGIN
    INSERT INTO transactions (transaction_id, kind, reference) VALUES (p_tx, p_kind, p_reference);
    INSERT INTO entries (transaction_id, idx, account, asset, amount, owner_id)
        SELECT p_tx, (t.i - 1)::SMALLINT, t.a, t.s, t.m, t.o
        FROM unnest(p_accounts, p_assets, p_amounts, p_owners) WITH ORDINALITY AS t(a, s, m, o, i);
    FOR i IN
        SELECT t.i FROM unnest(p_accounts, p_assets) WITH ORDINALITY AS t(a, s, i) ORDER BY t.a, t.s
    LOOP
        IF p_amounts[i] < 0 AND NOT p_system[i] THEN
            UPDATE accounts SET balance = balance + p_amounts[i]
                WHERE account = p_accounts[i] AND asset = p_assets[i] AND balance + p_amounts[i] >= 0
                RETURNING balance INTO b;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'INSUFFICIENT_FUNDS' USING ERRCODE = 'WL001',
                    DETAIL = p_accounts[i] || ' asset ' || p_assets[i];
            END IF;
        ELSE
            INSERT INTO accounts AS a (account, asset, owner_id, holding, may_go_negative, balance)
                VALUES (p_accounts[i], p_assets[i], p_owners[i], p_holding[i], p_system[i], p_amounts[i])
                ON CONFLICT (account, asset) DO UPDATE SET balance = a.balance + EXCLUDED.balance
                RETURNING a.balance INTO b;
        END IF;
        result[i] := b;
    END LOOP;
    RETURN result;
END $$;

-- Idempotency: the first successful result of (caller, rpc, key). A row is
-- only written in the transaction that did the work, so failures leave none.
CREATE TABLE idempotency_keys (
    scope         TEXT        NOT NULL,
    key           TEXT        NOT NULL,
    request_hash  BYTEA       NOT NULL,
    -- The encoded response message.
    response      BYTEA       NOT NULL,
    -- Hot-path responses carry the balance the transaction produced here.
    balance_after BIGINT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys USING brin (created_at);

-- A store receipt credits once, whatever the idempotency key.
CREATE TABLE receipt_redemptions (
    provider       SMALLINT    NOT NULL,
    receipt_id     TEXT        NOT NULL,
    transaction_id UUID        NOT NULL,
    user_id        UUID        NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, receipt_id)
);

-- One row per gift transaction; `xid` orders rows by commit safety for the
-- leaderboard projector (rows below the snapshot xmin can no longer appear).
CREATE TABLE gifts (
    transaction_id UUID        PRIMARY KEY,
    sender_id      UUID        NOT NULL,
    recipient_id   UUID        NOT NULL,
    gift_id        TEXT        NOT NULL,
    count          INT         NOT NULL CHECK (count > 0),
    coins          BIGINT      NOT NULL CHECK (coins > 0),
    diamonds       BIGINT      NOT NULL CHECK (diamonds > 0),
    video_id       UUID,
    live_room_id   UUID,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    xid            xid8        NOT NULL DEFAULT pg_current_xact_id(),
    CHECK ((video_id IS NULL) <> (live_room_id IS NULL))
);
CREATE INDEX gifts_xid ON gifts (xid);
CREATE TRIGGER gifts_append_only BEFORE UPDATE OR DELETE ON gifts
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

-- Statuses: 1 pending, 2 approved, 3 rejected (loop.wallet.v1.PayoutStatus).
CREATE TABLE payouts (
    payout_id        UUID        PRIMARY KEY,
    creator_id       UUID        NOT NULL,
    asset            SMALLINT    NOT NULL CHECK (asset IN (2, 3)),
    amount           BIGINT      NOT NULL CHECK (amount > 0),
    cash_value_cents BIGINT      NOT NULL CHECK (cash_value_cents >= 0),
    status           SMALLINT    NOT NULL DEFAULT 1,
    reject_reason    TEXT        NOT NULL DEFAULT '',
    decided_by       UUID,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    decided_at       TIMESTAMPTZ
);
CREATE INDEX payouts_creator ON payouts (creator_id, payout_id DESC);
CREATE INDEX payouts_pending ON payouts (payout_id) WHERE status = 1;

-- Statuses: 1 held, 2 released, 3 refunded (loop.wallet.v1.EscrowStatus).
CREATE TABLE escrows (
    escrow_id          UUID        PRIMARY KEY,
    payer_id           UUID        NOT NULL,
    payee_id           UUID        NOT NULL,
    amount_cents       BIGINT      NOT NULL CHECK (amount_cents > 0),
    reference          TEXT        NOT NULL,
    status             SMALLINT    NOT NULL DEFAULT 1,
    platform_fee_bps   INT         NOT NULL DEFAULT 0,
    platform_fee_cents BIGINT      NOT NULL DEFAULT 0,
    payee_cents        BIGINT      NOT NULL DEFAULT 0,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    settled_at         TIMESTAMPTZ
);

-- Sends a gift in one statement (one round trip, one implicit transaction):
-- posts the ledger transaction, records the gift, queues its event in the
-- outbox (no NOTIFY: it takes a cluster-wide lock held through the commit's
-- WAL flush and would serialise every gift), and remembers the result under
-- the idempotency key. When the key was used before, raises WL003 so that
-- everything rolls back and the caller returns the stored result.
CREATE FUNCTION wallet_send_gift(
    p_scope TEXT, p_key TEXT, p_hash BYTEA, p_response BYTEA,
    p_tx UUID, p_reference TEXT,
    p_accounts TEXT[], p_assets SMALLINT[], p_amounts BIGINT[],
    p_owners UUID[], p_holding BOOLEAN[], p_system BOOLEAN[], p_balance_of INT,
    p_sender UUID, p_recipient UUID, p_gift_id TEXT, p_count INT, p_coins BIGINT, p_diamonds BIGINT,
    p_video UUID, p_room UUID,
    p_event_id UUID, p_topic TEXT, p_event_key TEXT, p_event_type TEXT, p_payload BYTEA, p_headers JSONB
) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    balances BIGINT[];
BEGIN
    balances := ledger_post(p_tx, 3::SMALLINT, p_reference, p_accounts, p_assets, p_amounts,
                            p_owners, p_holding, p_system);
    INSERT INTO gifts (transaction_id, sender_id, recipient_id, gift_id, count, coins, diamonds, video_id, live_room_id)
        VALUES (p_tx, p_sender, p_recipient, p_gift_id, p_count, p_coins, p_diamonds, p_video, p_room);
    INSERT INTO outbox (event_id, topic, msg_key, event_type, payload, headers)
        VALUES (p_event_id, p_topic, p_event_key, p_event_type, p_payload, p_headers);
    INSERT INTO idempotency_keys (scope, key, request_hash, response, balance_after)
        VALUES (p_scope, p_key, p_hash, p_response, balances[p_balance_of])
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'IDEMPOTENCY_KEY_USED' USING ERRCODE = 'WL003';
    END IF;
    RETURN balances[p_balance_of];
END $$;
