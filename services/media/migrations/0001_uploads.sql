-- Upload sessions and their processing (see docs/media.md).
--
-- A session receives its bytes as contiguous chunks: `received` is the tus
-- Upload-Offset, each chunk is one object (uploads/<id>/parts/<offset>) and
-- one row of upload_parts, written while the session row is locked, so a
-- chunk at the wrong offset is refused and a retried chunk overwrites the
-- same object. The session row is also the processing job: state
-- 'processing' with a lease (lease_until) and a fencing counter
-- (processing_attempts): only the holder of the latest attempt can mark it
-- ready, so it becomes ready exactly once even after a worker crash.
CREATE TABLE uploads (
    upload_id           UUID        PRIMARY KEY,
    owner_id            UUID        NOT NULL,
    state               TEXT        NOT NULL DEFAULT 'uploading'
        CHECK (state IN ('uploading', 'processing', 'ready', 'failed', 'expired', 'cancelled')),
    size_bytes          BIGINT      NOT NULL CHECK (size_bytes > 0),
    received            BIGINT      NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= size_bytes),
    content_type        TEXT        NOT NULL,
    filename            TEXT        NOT NULL DEFAULT '',
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at          TIMESTAMPTZ NOT NULL,
    completed_at        TIMESTAMPTZ,
    lease_until         TIMESTAMPTZ,
    processing_attempts INT         NOT NULL DEFAULT 0,
    failure_reason      TEXT        NOT NULL DEFAULT '',
    duration_ms         INT         NOT NULL DEFAULT 0,
    width               INT         NOT NULL DEFAULT 0,
    height              INT         NOT NULL DEFAULT 0,
    video_codec         TEXT        NOT NULL DEFAULT '',
    audio_codec         TEXT        NOT NULL DEFAULT '',
    -- [{"name","width","height","bandwidth","playlist"}]
    renditions          JSONB       NOT NULL DEFAULT '[]',
    master_playlist     TEXT        NOT NULL DEFAULT '',
    poster              TEXT        NOT NULL DEFAULT '',
    ready_at            TIMESTAMPTZ
);

CREATE INDEX uploads_owner ON uploads (owner_id, created_at DESC);
CREATE INDEX uploads_expiring ON uploads (expires_at) WHERE state = 'uploading';
CREATE INDEX uploads_jobs ON uploads (completed_at) WHERE state = 'processing';

CREATE TABLE upload_parts (
    upload_id   UUID   NOT NULL REFERENCES uploads (upload_id) ON DELETE CASCADE,
    part_offset BIGINT NOT NULL,
    length      BIGINT NOT NULL CHECK (length > 0),
    PRIMARY KEY (upload_id, part_offset)
);
