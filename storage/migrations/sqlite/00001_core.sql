-- +goose Up
CREATE TABLE calls (
  id TEXT PRIMARY KEY,
  node TEXT NOT NULL DEFAULT '',
  caller_leg_id TEXT NOT NULL DEFAULT '',
  caller_number TEXT NOT NULL DEFAULT '',
  caller_name TEXT NOT NULL DEFAULT '',
  dialed_number TEXT NOT NULL DEFAULT '',
  queue TEXT NOT NULL DEFAULT '',
  priority INTEGER NOT NULL DEFAULT 0,
  agent_id TEXT NOT NULL DEFAULT '',
  arrived_at DATETIME NOT NULL,
  enqueued_at DATETIME NULL,
  offered_at DATETIME NULL,
  answered_at DATETIME NULL,
  ended_at DATETIME NULL,
  outcome TEXT NOT NULL DEFAULT 'live',
  end_reason TEXT NOT NULL DEFAULT '',
  wait_seconds REAL NOT NULL DEFAULT 0,
  talk_seconds REAL NOT NULL DEFAULT 0,
  offers INTEGER NOT NULL DEFAULT 0,
  trace TEXT NOT NULL DEFAULT '',
  updated_at DATETIME NOT NULL
);
CREATE INDEX idx_calls_arrived ON calls (arrived_at);
CREATE INDEX idx_calls_queue_arrived ON calls (queue, arrived_at);
CREATE INDEX idx_calls_agent_arrived ON calls (agent_id, arrived_at);
CREATE INDEX idx_calls_caller ON calls (caller_number);
CREATE INDEX idx_calls_outcome ON calls (outcome);
CREATE INDEX idx_calls_caller_leg ON calls (caller_leg_id);

CREATE TABLE legs (
  id TEXT PRIMARY KEY,
  call_id TEXT NOT NULL DEFAULT '',
  node TEXT NOT NULL DEFAULT '',
  channel_id TEXT NOT NULL DEFAULT '',
  role TEXT NOT NULL DEFAULT '',
  agent_id TEXT NOT NULL DEFAULT '',
  endpoint TEXT NOT NULL DEFAULT '',
  created_at DATETIME NOT NULL,
  answered_at DATETIME NULL,
  ended_at DATETIME NULL,
  cause INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_legs_call ON legs (call_id);

CREATE TABLE queue_waits (
  id TEXT PRIMARY KEY,
  call_id TEXT NOT NULL DEFAULT '',
  queue TEXT NOT NULL DEFAULT '',
  entered_at DATETIME NOT NULL,
  left_at DATETIME NULL,
  outcome TEXT NOT NULL DEFAULT '',
  wait_seconds REAL NOT NULL DEFAULT 0,
  agent_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_waits_call ON queue_waits (call_id);
CREATE INDEX idx_waits_queue_entered ON queue_waits (queue, entered_at);

CREATE TABLE agent_state_changes (
  id TEXT PRIMARY KEY,
  agent_id TEXT NOT NULL DEFAULT '',
  from_state TEXT NOT NULL DEFAULT '',
  to_state TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  at DATETIME NOT NULL,
  prev_duration_seconds REAL NOT NULL DEFAULT 0
);
CREATE INDEX idx_agent_states_agent_at ON agent_state_changes (agent_id, at);
CREATE INDEX idx_agent_states_at ON agent_state_changes (at);

CREATE TABLE agents (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL DEFAULT '',
  endpoint TEXT NOT NULL DEFAULT '',
  skills TEXT NOT NULL DEFAULT '{}',
  attributes TEXT NOT NULL DEFAULT '{}',
  queues TEXT NOT NULL DEFAULT '{}',
  state TEXT NOT NULL DEFAULT 'logged_out',
  state_reason TEXT NOT NULL DEFAULT '',
  state_since DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);

CREATE TABLE queues (
  name TEXT PRIMARY KEY,
  service_level_seconds REAL NOT NULL DEFAULT 20,
  service_level_goal REAL NOT NULL DEFAULT 0.95,
  updated_at DATETIME NOT NULL
);

CREATE TABLE audit_entries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at DATETIME NOT NULL,
  actor TEXT NOT NULL DEFAULT '',
  action TEXT NOT NULL DEFAULT '',
  subject TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_audit_at ON audit_entries (at);

-- +goose Down
DROP TABLE audit_entries;
DROP TABLE queues;
DROP TABLE agents;
DROP TABLE agent_state_changes;
DROP TABLE queue_waits;
DROP TABLE legs;
DROP TABLE calls;
