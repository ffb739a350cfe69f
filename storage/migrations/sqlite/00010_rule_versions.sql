-- Routing file versions: every `rules apply` and `rules rollback` stores
-- the complete file as a new version (append-only; a rollback is a new
-- version carrying an older content), with who, when and why.
-- +goose Up
CREATE TABLE rule_versions (
  version INTEGER PRIMARY KEY,
  filename TEXT NOT NULL DEFAULT '',
  content TEXT NOT NULL,
  sha256 TEXT NOT NULL DEFAULT '',
  author TEXT NOT NULL DEFAULT '',
  comment TEXT NOT NULL DEFAULT '',
  rollback_of INTEGER NOT NULL DEFAULT 0,
  created_at DATETIME NOT NULL
);
CREATE INDEX idx_rule_versions_created ON rule_versions (created_at);

-- +goose Down
DROP TABLE rule_versions;
