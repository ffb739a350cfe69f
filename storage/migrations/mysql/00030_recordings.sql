-- +goose Up
CREATE TABLE recordings (
  id VARCHAR(64) NOT NULL PRIMARY KEY,
  call_id VARCHAR(64) NOT NULL DEFAULT '',
  node VARCHAR(64) NOT NULL DEFAULT '',
  pbx_name VARCHAR(255) NOT NULL DEFAULT '',
  caller_leg VARCHAR(128) NOT NULL DEFAULT '',
  agent_leg VARCHAR(128) NOT NULL DEFAULT '',
  bridge_id VARCHAR(128) NOT NULL DEFAULT '',
  caller_number VARCHAR(64) NOT NULL DEFAULT '',
  dialed_number VARCHAR(64) NOT NULL DEFAULT '',
  agent_id VARCHAR(64) NOT NULL DEFAULT '',
  queue VARCHAR(64) NOT NULL DEFAULT '',
  path VARCHAR(512) NOT NULL DEFAULT '',
  uri VARCHAR(512) NOT NULL DEFAULT '',
  format VARCHAR(16) NOT NULL DEFAULT '',
  started_at DATETIME(6) NOT NULL,
  ended_at DATETIME(6) NULL,
  duration_ms BIGINT NOT NULL DEFAULT 0,
  size_bytes BIGINT NULL,
  checksum VARCHAR(80) NOT NULL DEFAULT '',
  status VARCHAR(16) NOT NULL DEFAULT 'recording',
  reason VARCHAR(32) NOT NULL DEFAULT '',
  started_by VARCHAR(128) NOT NULL DEFAULT '',
  error VARCHAR(255) NOT NULL DEFAULT '',
  paused_ms BIGINT NOT NULL DEFAULT 0,
  retention_until DATETIME(6) NULL,
  legal_hold TINYINT(1) NOT NULL DEFAULT 0,
  score DOUBLE NULL,
  evaluations INT NOT NULL DEFAULT 0,
  exemplary TINYINT(1) NOT NULL DEFAULT 0,
  exemplary_by VARCHAR(128) NOT NULL DEFAULT '',
  note VARCHAR(255) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  -- Every search is "newest first" within a filter: each index leads with
  -- the filter column and ends with (started_at, id), the order and the cursor.
  KEY idx_rec_started (started_at, id),
  KEY idx_rec_agent_started (agent_id, started_at, id),
  KEY idx_rec_queue_started (queue, started_at, id),
  KEY idx_rec_caller_started (caller_number, started_at, id),
  KEY idx_rec_status_started (status, started_at, id),
  KEY idx_rec_exemplary_started (exemplary, started_at, id),
  KEY idx_rec_score (score),
  KEY idx_rec_call (call_id),
  KEY idx_rec_node_name (node, pbx_name),
  KEY idx_rec_retention (retention_until)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE recording_pauses (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  recording_id VARCHAR(64) NOT NULL,
  paused_at DATETIME(6) NOT NULL,
  resumed_at DATETIME(6) NULL,
  paused_by VARCHAR(128) NOT NULL DEFAULT '',
  reason VARCHAR(255) NOT NULL DEFAULT '',
  resumed_by VARCHAR(128) NOT NULL DEFAULT '',
  KEY idx_rec_pauses_rec (recording_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE recording_tags (
  recording_id VARCHAR(64) NOT NULL,
  tag VARCHAR(64) NOT NULL,
  PRIMARY KEY (recording_id, tag),
  KEY idx_rec_tags_tag (tag, recording_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE scorecard_versions (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  version INT NOT NULL,
  checksum VARCHAR(64) NOT NULL,
  body TEXT NOT NULL,
  applied_by VARCHAR(128) NOT NULL DEFAULT '',
  applied_at DATETIME(6) NOT NULL,
  UNIQUE KEY idx_scorecard_versions (name, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE evaluations (
  id VARCHAR(64) NOT NULL PRIMARY KEY,
  recording_id VARCHAR(64) NOT NULL,
  agent_id VARCHAR(64) NOT NULL DEFAULT '',
  queue VARCHAR(64) NOT NULL DEFAULT '',
  scorecard VARCHAR(64) NOT NULL,
  scorecard_version INT NOT NULL,
  reviewer VARCHAR(128) NOT NULL DEFAULT '',
  percent DOUBLE NOT NULL,
  raw DOUBLE NOT NULL,
  passed TINYINT(1) NOT NULL DEFAULT 0,
  critical_failed TINYINT(1) NOT NULL DEFAULT 0,
  notes TEXT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  KEY idx_eval_rec (recording_id),
  KEY idx_eval_created (created_at),
  KEY idx_eval_agent_created (agent_id, created_at),
  KEY idx_eval_queue_created (queue, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE evaluation_scores (
  evaluation_id VARCHAR(64) NOT NULL,
  criterion VARCHAR(64) NOT NULL,
  score DOUBLE NOT NULL,
  max_score DOUBLE NOT NULL,
  weight DOUBLE NOT NULL,
  na TINYINT(1) NOT NULL DEFAULT 0,
  earned DOUBLE NOT NULL,
  PRIMARY KEY (evaluation_id, criterion)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE evaluation_comments (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  evaluation_id VARCHAR(64) NOT NULL,
  offset_ms BIGINT NOT NULL DEFAULT 0,
  author VARCHAR(128) NOT NULL DEFAULT '',
  text TEXT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  KEY idx_eval_comments_eval (evaluation_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE review_samples (
  week_start DATETIME(6) NOT NULL,
  agent_id VARCHAR(64) NOT NULL,
  recording_id VARCHAR(64) NOT NULL,
  picked_at DATETIME(6) NOT NULL,
  PRIMARY KEY (week_start, agent_id, recording_id),
  KEY idx_review_samples_rec (recording_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- +goose Down
DROP TABLE review_samples;
DROP TABLE evaluation_comments;
DROP TABLE evaluation_scores;
DROP TABLE evaluations;
DROP TABLE scorecard_versions;
DROP TABLE recording_tags;
DROP TABLE recording_pauses;
DROP TABLE recordings;
