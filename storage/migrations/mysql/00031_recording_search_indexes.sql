-- +goose Up
-- A tag search lists a tag's recordings newest first: the tag row carries
-- its recording's start, so (tag, started_at, recording_id) serves the
-- order and the cursor instead of sorting every recording with the tag.
ALTER TABLE recording_tags
  ADD COLUMN started_at DATETIME(6) NOT NULL DEFAULT '1970-01-01 00:00:00',
  DROP INDEX idx_rec_tags_tag,
  ADD KEY idx_rec_tags_tag_started (tag, started_at, recording_id);
UPDATE recording_tags t JOIN recordings r ON r.id = t.recording_id SET t.started_at = r.started_at;
-- Node and legal-hold searches in time order (idx_rec_node_name serves
-- the PBX's events, which look a recording up by (node, name)); duration
-- searches: a rare duration through idx_rec_duration, a common one through
-- the time order (the optimizer's statistics decide, docs/recordings.md).
ALTER TABLE recordings
  ADD KEY idx_rec_node_started (node, started_at, id),
  ADD KEY idx_rec_hold_started (legal_hold, started_at, id),
  ADD KEY idx_rec_duration (duration_ms);

-- +goose Down
ALTER TABLE recordings DROP INDEX idx_rec_duration, DROP INDEX idx_rec_hold_started, DROP INDEX idx_rec_node_started;
ALTER TABLE recording_tags
  DROP INDEX idx_rec_tags_tag_started,
  ADD KEY idx_rec_tags_tag (tag, recording_id),
  DROP COLUMN started_at;
