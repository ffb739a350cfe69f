-- +goose Up
-- One row per callback offer played to a waiting caller; accepted_at is
-- set when the caller accepted it. Queue statistics count offers and
-- acceptances from here, so they survive restarts and add up across
-- instances.
CREATE TABLE callback_offers (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  queue VARCHAR(64) NOT NULL DEFAULT '',
  call_id VARCHAR(64) NOT NULL DEFAULT '',
  offered_at DATETIME(6) NOT NULL,
  accepted_at DATETIME(6) NULL,
  callback_id VARCHAR(64) NOT NULL DEFAULT '',
  KEY idx_callback_offers_at (offered_at),
  KEY idx_callback_offers_call (call_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- +goose Down
DROP TABLE callback_offers;
