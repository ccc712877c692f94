-- Cleanup (see docs/media.md):
-- * A chunk is stored before its row commits (no connection is held while
--   the object store writes), at a key of its own (object_key; '' = the
--   older uploads/<id>/parts/<offset>), and commits only if the session is
--   still at that offset.
-- * purge_pending: the row reached a state whose bytes (and, unless ready,
--   outputs) must go; set in the transaction that changes the state,
--   cleared once the objects are deleted (inline, else by the sweeper).
-- * video_id: the video published from a ready upload (from content's
--   VideoPublished); a ready upload never published expires, a removed
--   video's upload becomes 'removed' and its outputs are deleted.
ALTER TABLE upload_parts ADD COLUMN object_key TEXT NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN purge_pending BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE uploads ADD COLUMN video_id UUID;
ALTER TABLE uploads DROP CONSTRAINT uploads_state_check;
ALTER TABLE uploads ADD CONSTRAINT uploads_state_check
    CHECK (state IN ('uploading', 'processing', 'ready', 'failed', 'expired', 'cancelled', 'removed'));
CREATE INDEX uploads_purge ON uploads (updated_at) WHERE purge_pending;
CREATE INDEX uploads_unpublished ON uploads (expires_at) WHERE state = 'ready' AND video_id IS NULL;
CREATE INDEX uploads_open ON uploads (owner_id) WHERE state = 'uploading';
CREATE INDEX uploads_video ON uploads (video_id) WHERE video_id IS NOT NULL;
-- Uploads made ready before this migration may already be published (the
-- consumer's replay of content.v1 records their videos): they never expire.
UPDATE uploads SET expires_at = '9999-12-31T00:00:00Z' WHERE state = 'ready';
