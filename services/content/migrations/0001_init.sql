-- Content service schema: users, creators, videos, social graph, engagement,
-- hashtags/challenges, sounds, moderation and LIVE rooms.
-- Enumerations are stored as the proto enum numbers (SMALLINT).

CREATE TABLE users (
    id                 UUID PRIMARY KEY,
    handle             TEXT NOT NULL UNIQUE,
    display_name       TEXT NOT NULL,
    password_hash      TEXT NOT NULL,
    birth_date         DATE NOT NULL,
    country            TEXT NOT NULL,
    language           TEXT NOT NULL,
    gender             SMALLINT NOT NULL DEFAULT 0,
    role               TEXT NOT NULL CHECK (role IN ('viewer', 'creator', 'advertiser', 'admin')),
    declared_interests TEXT[] NOT NULL DEFAULT '{}',
    follower_count     BIGINT NOT NULL DEFAULT 0 CHECK (follower_count >= 0),
    following_count    BIGINT NOT NULL DEFAULT 0 CHECK (following_count >= 0),
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE creator_profiles (
    user_id    UUID PRIMARY KEY REFERENCES users (id),
    bio        TEXT NOT NULL DEFAULT '',
    category   TEXT NOT NULL DEFAULT '',
    verified   BOOLEAN NOT NULL DEFAULT false,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE sounds (
    id          UUID PRIMARY KEY,
    title       TEXT NOT NULL,
    artist      TEXT NOT NULL,
    duration_ms INTEGER NOT NULL CHECK (duration_ms > 0),
    created_by  UUID NOT NULL REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE videos (
    id               UUID PRIMARY KEY,
    creator_id       UUID NOT NULL REFERENCES users (id),
    caption          TEXT NOT NULL,
    hashtags         TEXT[] NOT NULL DEFAULT '{}',
    sound_id         UUID REFERENCES sounds (id),
    duration_ms      INTEGER NOT NULL CHECK (duration_ms > 0),
    media_url        TEXT NOT NULL,
    visibility       SMALLINT NOT NULL,
    moderation_state SMALLINT NOT NULL,
    category         TEXT NOT NULL DEFAULT '',
    remix_of         UUID REFERENCES videos (id),
    remix_kind       SMALLINT NOT NULL DEFAULT 0,
    like_count       BIGINT NOT NULL DEFAULT 0 CHECK (like_count >= 0),
    comment_count    BIGINT NOT NULL DEFAULT 0 CHECK (comment_count >= 0),
    share_count      BIGINT NOT NULL DEFAULT 0 CHECK (share_count >= 0),
    published_at     TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX videos_by_creator ON videos (creator_id, published_at DESC, id DESC);
CREATE INDEX videos_by_sound ON videos (sound_id, published_at DESC, id DESC) WHERE sound_id IS NOT NULL;
CREATE INDEX videos_by_remix ON videos (remix_of, published_at, id) WHERE remix_of IS NOT NULL;

CREATE TABLE video_hashtags (
    hashtag      TEXT NOT NULL,
    video_id     UUID NOT NULL REFERENCES videos (id),
    published_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (hashtag, video_id)
);
CREATE INDEX video_hashtags_recent ON video_hashtags (hashtag, published_at DESC, video_id DESC);

CREATE TABLE follows (
    follower_id UUID NOT NULL REFERENCES users (id),
    followee_id UUID NOT NULL REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (follower_id, followee_id),
    CHECK (follower_id <> followee_id)
);
CREATE INDEX follows_by_followee ON follows (followee_id, created_at DESC, follower_id DESC);
CREATE INDEX follows_by_follower ON follows (follower_id, created_at DESC, followee_id DESC);

CREATE TABLE likes (
    video_id   UUID NOT NULL REFERENCES videos (id),
    user_id    UUID NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (video_id, user_id)
);

CREATE TABLE comments (
    id          UUID PRIMARY KEY,
    video_id    UUID NOT NULL REFERENCES videos (id),
    author_id   UUID NOT NULL REFERENCES users (id),
    parent_id   UUID REFERENCES comments (id),
    text        TEXT NOT NULL,
    reply_count BIGINT NOT NULL DEFAULT 0 CHECK (reply_count >= 0),
    deleted     BOOLEAN NOT NULL DEFAULT false,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX comments_top_level ON comments (video_id, created_at, id) WHERE parent_id IS NULL;
CREATE INDEX comments_replies ON comments (parent_id, created_at, id) WHERE parent_id IS NOT NULL;

CREATE TABLE shares (
    id         UUID PRIMARY KEY,
    video_id   UUID NOT NULL REFERENCES videos (id),
    user_id    UUID NOT NULL REFERENCES users (id),
    channel    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE challenges (
    id          UUID PRIMARY KEY,
    hashtag     TEXT NOT NULL,
    description TEXT NOT NULL,
    starts_at   TIMESTAMPTZ NOT NULL,
    ends_at     TIMESTAMPTZ NOT NULL,
    sponsor_id  UUID,
    created_by  UUID NOT NULL REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX challenges_by_hashtag ON challenges (hashtag, starts_at);
CREATE INDEX challenges_by_end ON challenges (ends_at, id);

CREATE TABLE reports (
    id          UUID PRIMARY KEY,
    video_id    UUID NOT NULL REFERENCES videos (id),
    reporter_id UUID NOT NULL REFERENCES users (id),
    reason      SMALLINT NOT NULL,
    details     TEXT NOT NULL DEFAULT '',
    status      SMALLINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at TIMESTAMPTZ,
    resolved_by UUID REFERENCES users (id)
);
-- One open report per reporter and video.
CREATE UNIQUE INDEX reports_one_open ON reports (video_id, reporter_id) WHERE status = 1;
CREATE INDEX reports_by_status ON reports (status, created_at, id);

-- Audit trail of moderation decisions.
CREATE TABLE moderation_actions (
    id         UUID PRIMARY KEY,
    video_id   UUID NOT NULL REFERENCES videos (id),
    admin_id   UUID NOT NULL REFERENCES users (id),
    decision   SMALLINT NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE live_rooms (
    id            UUID PRIMARY KEY,
    creator_id    UUID NOT NULL REFERENCES users (id),
    title         TEXT NOT NULL,
    viewer_count  BIGINT NOT NULL DEFAULT 0 CHECK (viewer_count >= 0),
    total_viewers BIGINT NOT NULL DEFAULT 0,
    started_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at      TIMESTAMPTZ
);
-- At most one open room per creator.
CREATE UNIQUE INDEX live_rooms_one_open ON live_rooms (creator_id) WHERE ended_at IS NULL;
CREATE INDEX live_rooms_open ON live_rooms (viewer_count DESC, id) WHERE ended_at IS NULL;

CREATE TABLE live_viewers (
    room_id   UUID NOT NULL REFERENCES live_rooms (id),
    user_id   UUID NOT NULL REFERENCES users (id),
    joined_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    left_at   TIMESTAMPTZ,
    PRIMARY KEY (room_id, user_id)
);
