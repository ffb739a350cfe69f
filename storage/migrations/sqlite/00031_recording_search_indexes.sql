-- +goose Up
-- A tag search lists a tag's recordings newest first: the tag row carries
-- its recording's start, so (tag, started_at, recording_id) serves the
-- order and the cursor instead of sorting every recording with the tag.
ALTER TABLE recording_tags ADD COLUMN started_at DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00+00:00';
UPDATE recording_tags SET started_at = COALESCE((SELECT r.started_at FROM recordings r WHERE r.id = recording_tags.recording_id), started_at);
DROP INDEX idx_rec_tags_tag;
CREATE INDEX idx_rec_tags_tag_started ON recording_tags (tag, started_at, recording_id);
-- Node and legal-hold searches in time order (idx_rec_node_name serves
-- the PBX's events, which look a recording up by (node, name)).
CREATE INDEX idx_rec_node_started ON recordings (node, started_at, id);
CREATE INDEX idx_rec_hold_started ON recordings (legal_hold, started_at, id);
-- Duration searches: a rare duration (calls over an hour) is found through
-- this index; a common one through the time order (the planner's
-- statistics decide, docs/recordings.md).
CREATE INDEX idx_rec_duration ON recordings (duration_ms);

-- +goose Down
DROP INDEX idx_rec_duration;
DROP INDEX idx_rec_hold_started;
DROP INDEX idx_rec_node_started;
DROP INDEX idx_rec_tags_tag_started;
CREATE INDEX idx_rec_tags_tag ON recording_tags (tag, recording_id);
ALTER TABLE recording_tags DROP COLUMN started_at;
