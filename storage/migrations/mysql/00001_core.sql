-- +goose Up
CREATE TABLE calls (
  id VARCHAR(64) NOT NULL PRIMARY KEY,
  node VARCHAR(64) NOT NULL DEFAULT '',
  caller_leg_id VARCHAR(128) NOT NULL DEFAULT '',
  caller_number VARCHAR(64) NOT NULL DEFAULT '',
  caller_name VARCHAR(128) NOT NULL DEFAULT '',
  dialed_number VARCHAR(64) NOT NULL DEFAULT '',
  queue VARCHAR(64) NOT NULL DEFAULT '',
  priority INT NOT NULL DEFAULT 0,
  agent_id VARCHAR(64) NOT NULL DEFAULT '',
  arrived_at DATETIME(6) NOT NULL,
  enqueued_at DATETIME(6) NULL,
  offered_at DATETIME(6) NULL,
  answered_at DATETIME(6) NULL,
  ended_at DATETIME(6) NULL,
  outcome VARCHAR(16) NOT NULL DEFAULT 'live',
  end_reason VARCHAR(255) NOT NULL DEFAULT '',
  wait_seconds DOUBLE NOT NULL DEFAULT 0,
  talk_seconds DOUBLE NOT NULL DEFAULT 0,
  offers INT NOT NULL DEFAULT 0,
  trace TEXT NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  KEY idx_calls_arrived (arrived_at),
  KEY idx_calls_queue_arrived (queue, arrived_at),
  KEY idx_calls_agent_arrived (agent_id, arrived_at),
  KEY idx_calls_caller (caller_number),
  KEY idx_calls_outcome (outcome),
  KEY idx_calls_caller_leg (caller_leg_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE legs (
  id VARCHAR(160) NOT NULL PRIMARY KEY,
  call_id VARCHAR(64) NOT NULL DEFAULT '',
  node VARCHAR(64) NOT NULL DEFAULT '',
  channel_id VARCHAR(128) NOT NULL DEFAULT '',
  role VARCHAR(16) NOT NULL DEFAULT '',
  agent_id VARCHAR(64) NOT NULL DEFAULT '',
  endpoint VARCHAR(255) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL,
  answered_at DATETIME(6) NULL,
  ended_at DATETIME(6) NULL,
  cause INT NOT NULL DEFAULT 0,
  KEY idx_legs_call (call_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE queue_waits (
  id VARCHAR(96) NOT NULL PRIMARY KEY,
  call_id VARCHAR(64) NOT NULL DEFAULT '',
  queue VARCHAR(64) NOT NULL DEFAULT '',
  entered_at DATETIME(6) NOT NULL,
  left_at DATETIME(6) NULL,
  outcome VARCHAR(16) NOT NULL DEFAULT '',
  wait_seconds DOUBLE NOT NULL DEFAULT 0,
  agent_id VARCHAR(64) NOT NULL DEFAULT '',
  KEY idx_waits_call (call_id),
  KEY idx_waits_queue_entered (queue, entered_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE agent_state_changes (
  id VARCHAR(96) NOT NULL PRIMARY KEY,
  agent_id VARCHAR(64) NOT NULL DEFAULT '',
  from_state VARCHAR(16) NOT NULL DEFAULT '',
  to_state VARCHAR(16) NOT NULL DEFAULT '',
  reason VARCHAR(64) NOT NULL DEFAULT '',
  at DATETIME(6) NOT NULL,
  prev_duration_seconds DOUBLE NOT NULL DEFAULT 0,
  KEY idx_agent_states_agent_at (agent_id, at),
  KEY idx_agent_states_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE agents (
  id VARCHAR(64) NOT NULL PRIMARY KEY,
  name VARCHAR(128) NOT NULL DEFAULT '',
  endpoint VARCHAR(255) NOT NULL DEFAULT '',
  skills TEXT NOT NULL,
  attributes TEXT NOT NULL,
  queues TEXT NOT NULL,
  state VARCHAR(16) NOT NULL DEFAULT 'logged_out',
  state_reason VARCHAR(64) NOT NULL DEFAULT '',
  state_since DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE queues (
  name VARCHAR(64) NOT NULL PRIMARY KEY,
  service_level_seconds DOUBLE NOT NULL DEFAULT 20,
  service_level_goal DOUBLE NOT NULL DEFAULT 0.95,
  updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE audit_entries (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  at DATETIME(6) NOT NULL,
  actor VARCHAR(128) NOT NULL DEFAULT '',
  action VARCHAR(64) NOT NULL DEFAULT '',
  subject VARCHAR(255) NOT NULL DEFAULT '',
  detail TEXT NOT NULL,
  KEY idx_audit_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- +goose Down
DROP TABLE audit_entries;
DROP TABLE queues;
DROP TABLE agents;
DROP TABLE agent_state_changes;
DROP TABLE queue_waits;
DROP TABLE legs;
DROP TABLE calls;
