-- The sweeper forgets consumed event ids past jobs.processed_retention_hours.
CREATE INDEX processed_events_by_time ON processed_events (processed_at);
