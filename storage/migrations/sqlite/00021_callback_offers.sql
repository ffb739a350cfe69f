-- +goose Up
-- One row per callback offer played to a waiting caller; accepted_at is
-- set when the caller accepted it. Queue statistics count offers and
-- acceptances from here, so they survive restarts and add up across
-- instances.
CREATE TABLE callback_offers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL DEFAULT '',
  call_id TEXT NOT NULL DEFAULT '',
  offered_at DATETIME NOT NULL,
  accepted_at DATETIME NULL,
  callback_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_callback_offers_at ON callback_offers (offered_at);
CREATE INDEX idx_callback_offers_call ON callback_offers (call_id);

-- +goose Down
DROP TABLE callback_offers;
