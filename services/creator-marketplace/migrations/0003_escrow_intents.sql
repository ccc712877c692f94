-- An acceptance notes here, in its own commit, that it is about to hold an
-- escrow; the acceptance's transaction deletes the row when it records the
-- escrow. A row left behind means the hold may exist in the wallet with no
-- collaboration knowing it (the acceptance failed after the wallet call): the
-- sweeper returns such holds once the collaboration can no longer be accepted.
-- No foreign key: the acceptance writes this row from another connection
-- while its transaction holds the collaboration FOR UPDATE, which would
-- block the key-share lock a foreign-key check takes.
CREATE TABLE escrow_intents (
    collaboration_id UUID PRIMARY KEY,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
