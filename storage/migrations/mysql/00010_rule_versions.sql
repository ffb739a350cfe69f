-- Routing file versions: every `rules apply` and `rules rollback` stores
-- the complete file as a new version (append-only; a rollback is a new
-- version carrying an older content), with who, when and why.
-- +goose Up
CREATE TABLE rule_versions (
  version BIGINT NOT NULL PRIMARY KEY,
  filename VARCHAR(255) NOT NULL DEFAULT '',
  content MEDIUMTEXT NOT NULL,
  sha256 CHAR(64) NOT NULL DEFAULT '',
  author VARCHAR(128) NOT NULL DEFAULT '',
  comment TEXT NOT NULL,
  rollback_of BIGINT NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL,
  KEY idx_rule_versions_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- +goose Down
DROP TABLE rule_versions;
