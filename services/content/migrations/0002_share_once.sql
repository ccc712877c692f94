-- A share counts once per viewer and video (repeats were inflating
-- share_count), and never for the video's own creator. Keep each viewer's
-- first share, then recount.
DELETE FROM shares s
USING shares t
WHERE s.video_id = t.video_id
  AND s.user_id = t.user_id
  AND (s.created_at, s.id) > (t.created_at, t.id);

CREATE UNIQUE INDEX shares_once ON shares (video_id, user_id);

UPDATE videos v
SET share_count = (
    SELECT count(*) FROM shares s WHERE s.video_id = v.id AND s.user_id <> v.creator_id
);
