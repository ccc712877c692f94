-- Views per video per UTC day (the studio's views-per-day chart), bumped by
-- the analytics consumer in the same transaction as video_stats.views, so
-- processed_events makes it exactly once under redelivery. The day is the
-- view event's occurred_at in UTC. Views counted before this table existed
-- are in video_stats only (no day is known for them).
CREATE TABLE video_views_daily (
    video_id   UUID NOT NULL,
    creator_id UUID NOT NULL,
    day        DATE NOT NULL,
    views      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (video_id, day)
);
CREATE INDEX video_views_daily_by_creator ON video_views_daily (creator_id, day);

