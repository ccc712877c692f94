-- A video published from an upload stores `loop-media:<upload_id>` as its
-- media (issue 17); an upload becomes at most one video.
CREATE UNIQUE INDEX videos_upload_once ON videos (media_url) WHERE media_url LIKE 'loop-media:%';
