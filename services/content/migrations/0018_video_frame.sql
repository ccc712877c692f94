-- The frame size the media service measured for a video published from an
-- upload (issue 17): width x height, the aspect the ranker and clients use;
-- 0 x 0 for a video published by URL. `media_revision` says which
-- measurement the row holds: 0 the upload's at publication, 1 the rendered
-- duet's or stitch's (`MediaRendered`), so a redelivered older event never
-- overwrites a newer one.
ALTER TABLE videos
    ADD COLUMN width          INTEGER  NOT NULL DEFAULT 0,
    ADD COLUMN height         INTEGER  NOT NULL DEFAULT 0,
    ADD COLUMN media_revision SMALLINT NOT NULL DEFAULT 0;
