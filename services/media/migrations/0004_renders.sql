-- Duets and stitches rendered by the pipeline (see docs/media.md): one job
-- per remix upload, queued when content publishes the remix (content.v1),
-- leased and fenced like processing (attempts); the finish points the
-- upload's output_prefix at the rendered outputs (media/<id>/r<attempt>/).
CREATE TABLE renders (
    upload_id        UUID        PRIMARY KEY REFERENCES uploads (upload_id) ON DELETE CASCADE,
    source_upload_id UUID        NOT NULL,
    kind             TEXT        NOT NULL CHECK (kind IN ('duet', 'stitch')),
    state            TEXT        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'ready', 'failed')),
    attempts         INT         NOT NULL DEFAULT 0,
    lease_until      TIMESTAMPTZ,
    failure_reason   TEXT        NOT NULL DEFAULT '',
    output_prefix    TEXT        NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at      TIMESTAMPTZ
);
CREATE INDEX renders_jobs ON renders (created_at) WHERE state = 'pending';
