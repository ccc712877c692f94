-- A remix's VideoPublished can be consumed before its original's (content.v1
-- is keyed by video, so the two may sit on different partitions). The remix
-- upload remembers what it remixes, and the original's VideoPublished queues
-- the renders waiting for it; whichever event comes second queues the render.
ALTER TABLE uploads
    ADD COLUMN remix_kind     TEXT CHECK (remix_kind IN ('duet', 'stitch')),
    ADD COLUMN remix_of_video UUID;
CREATE INDEX uploads_waiting_remixes ON uploads (remix_of_video) WHERE remix_of_video IS NOT NULL;
