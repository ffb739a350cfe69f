-- +goose Up
CREATE TABLE callbacks (
  id VARCHAR(64) NOT NULL PRIMARY KEY,
  kind VARCHAR(16) NOT NULL DEFAULT '',
  state VARCHAR(16) NOT NULL DEFAULT 'pending',
  queue VARCHAR(64) NOT NULL DEFAULT '',
  number VARCHAR(64) NOT NULL DEFAULT '',
  caller_id VARCHAR(64) NOT NULL DEFAULT '',
  origin_call_id VARCHAR(64) NOT NULL DEFAULT '',
  priority INT NOT NULL DEFAULT 0,
  skills TEXT NOT NULL,
  enqueued_at DATETIME(6) NOT NULL,
  not_before DATETIME(6) NOT NULL,
  window_spec VARCHAR(64) NOT NULL DEFAULT '',
  tz VARCHAR(64) NOT NULL DEFAULT '',
  max_attempts INT NOT NULL DEFAULT 3,
  interval_seconds INT NOT NULL DEFAULT 600,
  multiplier DOUBLE NOT NULL DEFAULT 1,
  attempts INT NOT NULL DEFAULT 0,
  agent_id VARCHAR(64) NOT NULL DEFAULT '',
  agent_deadline DATETIME(6) NULL,
  dial_order VARCHAR(16) NOT NULL DEFAULT '',
  note TEXT NOT NULL,
  created_by VARCHAR(128) NOT NULL DEFAULT '',
  claimed_by VARCHAR(128) NOT NULL DEFAULT '',
  lease_until DATETIME(6) NULL,
  outcome VARCHAR(32) NOT NULL DEFAULT '',
  detail VARCHAR(255) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  connected_at DATETIME(6) NULL,
  ended_at DATETIME(6) NULL,
  KEY idx_callbacks_state_due (state, not_before),
  KEY idx_callbacks_queue (queue),
  KEY idx_callbacks_agent (agent_id),
  KEY idx_callbacks_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE callback_attempts (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  callback_id VARCHAR(64) NOT NULL,
  seq INT NOT NULL,
  instance VARCHAR(128) NOT NULL DEFAULT '',
  agent_id VARCHAR(64) NOT NULL DEFAULT '',
  tag VARCHAR(128) NOT NULL DEFAULT '',
  leg_node VARCHAR(64) NOT NULL DEFAULT '',
  leg_id VARCHAR(128) NOT NULL DEFAULT '',
  started_at DATETIME(6) NOT NULL,
  answered_at DATETIME(6) NULL,
  ended_at DATETIME(6) NULL,
  outcome VARCHAR(32) NOT NULL DEFAULT '',
  cause INT NOT NULL DEFAULT 0,
  detail VARCHAR(255) NOT NULL DEFAULT '',
  UNIQUE KEY idx_callback_attempts_seq (callback_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- +goose Down
DROP TABLE callback_attempts;
DROP TABLE callbacks;
