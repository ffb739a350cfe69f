-- +goose Up
CREATE TABLE recordings (
  id TEXT PRIMARY KEY,
  call_id TEXT NOT NULL DEFAULT '',
  node TEXT NOT NULL DEFAULT '',
  pbx_name TEXT NOT NULL DEFAULT '',
  caller_leg TEXT NOT NULL DEFAULT '',
  agent_leg TEXT NOT NULL DEFAULT '',
  bridge_id TEXT NOT NULL DEFAULT '',
  caller_number TEXT NOT NULL DEFAULT '',
  dialed_number TEXT NOT NULL DEFAULT '',
  agent_id TEXT NOT NULL DEFAULT '',
  queue TEXT NOT NULL DEFAULT '',
  path TEXT NOT NULL DEFAULT '',
  uri TEXT NOT NULL DEFAULT '',
  format TEXT NOT NULL DEFAULT '',
  started_at DATETIME NOT NULL,
  ended_at DATETIME NULL,
  duration_ms INTEGER NOT NULL DEFAULT 0,
  size_bytes INTEGER NULL,
  checksum TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'recording',
  reason TEXT NOT NULL DEFAULT '',
  started_by TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  paused_ms INTEGER NOT NULL DEFAULT 0,
  retention_until DATETIME NULL,
  legal_hold INTEGER NOT NULL DEFAULT 0,
  score REAL NULL,
  evaluations INTEGER NOT NULL DEFAULT 0,
  exemplary INTEGER NOT NULL DEFAULT 0,
  exemplary_by TEXT NOT NULL DEFAULT '',
  note TEXT NOT NULL DEFAULT '',
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
-- Every search is "newest first" within a filter: each index leads with the
-- filter column and ends with (started_at, id), the order and the cursor.
CREATE INDEX idx_rec_started ON recordings (started_at, id);
CREATE INDEX idx_rec_agent_started ON recordings (agent_id, started_at, id);
CREATE INDEX idx_rec_queue_started ON recordings (queue, started_at, id);
CREATE INDEX idx_rec_caller_started ON recordings (caller_number, started_at, id);
CREATE INDEX idx_rec_status_started ON recordings (status, started_at, id);
CREATE INDEX idx_rec_exemplary_started ON recordings (exemplary, started_at, id);
CREATE INDEX idx_rec_score ON recordings (score);
CREATE INDEX idx_rec_call ON recordings (call_id);
CREATE INDEX idx_rec_node_name ON recordings (node, pbx_name);
CREATE INDEX idx_rec_retention ON recordings (retention_until);

CREATE TABLE recording_pauses (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  recording_id TEXT NOT NULL,
  paused_at DATETIME NOT NULL,
  resumed_at DATETIME NULL,
  paused_by TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  resumed_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_rec_pauses_rec ON recording_pauses (recording_id);

CREATE TABLE recording_tags (
  recording_id TEXT NOT NULL,
  tag TEXT NOT NULL,
  PRIMARY KEY (recording_id, tag)
);
CREATE INDEX idx_rec_tags_tag ON recording_tags (tag, recording_id);

CREATE TABLE scorecard_versions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  checksum TEXT NOT NULL,
  body TEXT NOT NULL,
  applied_by TEXT NOT NULL DEFAULT '',
  applied_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX idx_scorecard_versions ON scorecard_versions (name, version);

CREATE TABLE evaluations (
  id TEXT PRIMARY KEY,
  recording_id TEXT NOT NULL,
  agent_id TEXT NOT NULL DEFAULT '',
  queue TEXT NOT NULL DEFAULT '',
  scorecard TEXT NOT NULL,
  scorecard_version INTEGER NOT NULL,
  reviewer TEXT NOT NULL DEFAULT '',
  percent REAL NOT NULL,
  raw REAL NOT NULL,
  passed INTEGER NOT NULL DEFAULT 0,
  critical_failed INTEGER NOT NULL DEFAULT 0,
  notes TEXT NOT NULL DEFAULT '',
  created_at DATETIME NOT NULL
);
CREATE INDEX idx_eval_rec ON evaluations (recording_id);
CREATE INDEX idx_eval_created ON evaluations (created_at);
CREATE INDEX idx_eval_agent_created ON evaluations (agent_id, created_at);
CREATE INDEX idx_eval_queue_created ON evaluations (queue, created_at);

CREATE TABLE evaluation_scores (
  evaluation_id TEXT NOT NULL,
  criterion TEXT NOT NULL,
  score REAL NOT NULL,
  max_score REAL NOT NULL,
  weight REAL NOT NULL,
  na INTEGER NOT NULL DEFAULT 0,
  earned REAL NOT NULL,
  PRIMARY KEY (evaluation_id, criterion)
);

CREATE TABLE evaluation_comments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  evaluation_id TEXT NOT NULL,
  offset_ms INTEGER NOT NULL DEFAULT 0,
  author TEXT NOT NULL DEFAULT '',
  text TEXT NOT NULL,
  created_at DATETIME NOT NULL
);
CREATE INDEX idx_eval_comments_eval ON evaluation_comments (evaluation_id);

CREATE TABLE review_samples (
  week_start DATETIME NOT NULL,
  agent_id TEXT NOT NULL,
  recording_id TEXT NOT NULL,
  picked_at DATETIME NOT NULL,
  PRIMARY KEY (week_start, agent_id, recording_id)
);
CREATE INDEX idx_review_samples_rec ON review_samples (recording_id);

-- +goose Down
DROP TABLE review_samples;
DROP TABLE evaluation_comments;
DROP TABLE evaluation_scores;
DROP TABLE evaluations;
DROP TABLE scorecard_versions;
DROP TABLE recording_tags;
DROP TABLE recording_pauses;
DROP TABLE recordings;
