-- +goose Up
CREATE TABLE callbacks (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL DEFAULT 'pending',
  queue TEXT NOT NULL DEFAULT '',
  number TEXT NOT NULL DEFAULT '',
  caller_id TEXT NOT NULL DEFAULT '',
  origin_call_id TEXT NOT NULL DEFAULT '',
  priority INTEGER NOT NULL DEFAULT 0,
  skills TEXT NOT NULL DEFAULT '',
  enqueued_at DATETIME NOT NULL,
  not_before DATETIME NOT NULL,
  window_spec TEXT NOT NULL DEFAULT '',
  tz TEXT NOT NULL DEFAULT '',
  max_attempts INTEGER NOT NULL DEFAULT 3,
  interval_seconds INTEGER NOT NULL DEFAULT 600,
  multiplier REAL NOT NULL DEFAULT 1,
  attempts INTEGER NOT NULL DEFAULT 0,
  agent_id TEXT NOT NULL DEFAULT '',
  agent_deadline DATETIME NULL,
  dial_order TEXT NOT NULL DEFAULT '',
  note TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL DEFAULT '',
  claimed_by TEXT NOT NULL DEFAULT '',
  lease_until DATETIME NULL,
  outcome TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT '',
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL,
  connected_at DATETIME NULL,
  ended_at DATETIME NULL
);
CREATE INDEX idx_callbacks_state_due ON callbacks (state, not_before);
CREATE INDEX idx_callbacks_queue ON callbacks (queue);
CREATE INDEX idx_callbacks_agent ON callbacks (agent_id);
CREATE INDEX idx_callbacks_created ON callbacks (created_at);

CREATE TABLE callback_attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  callback_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  instance TEXT NOT NULL DEFAULT '',
  agent_id TEXT NOT NULL DEFAULT '',
  tag TEXT NOT NULL DEFAULT '',
  leg_node TEXT NOT NULL DEFAULT '',
  leg_id TEXT NOT NULL DEFAULT '',
  started_at DATETIME NOT NULL,
  answered_at DATETIME NULL,
  ended_at DATETIME NULL,
  outcome TEXT NOT NULL DEFAULT '',
  cause INTEGER NOT NULL DEFAULT 0,
  detail TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX idx_callback_attempts_seq ON callback_attempts (callback_id, seq);

-- +goose Down
DROP TABLE callback_attempts;
DROP TABLE callbacks;
