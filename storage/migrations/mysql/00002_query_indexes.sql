-- Indexes for what the API, the wallboard's restart seeding and the
-- reports ask (checked with EXPLAIN in TestQueriesUseIndexes). InnoDB
-- secondary indexes end with the primary key, so (queue, arrived_at) is
-- already (queue, arrived_at, id), the order of every call list.
--   * calls by caller, newest first;
--   * live calls in arrival order (restart recovery);
--   * a day's queue stints across all queues (the daily and interval
--     reports; the (queue, entered_at) index serves one queue).
-- +goose Up
ALTER TABLE calls
  DROP INDEX idx_calls_caller,
  ADD INDEX idx_calls_caller_arrived (caller_number, arrived_at),
  DROP INDEX idx_calls_outcome,
  ADD INDEX idx_calls_outcome_arrived (outcome, arrived_at);
ALTER TABLE queue_waits ADD INDEX idx_waits_entered (entered_at);

-- +goose Down
ALTER TABLE queue_waits DROP INDEX idx_waits_entered;
ALTER TABLE calls
  DROP INDEX idx_calls_outcome_arrived,
  ADD INDEX idx_calls_outcome (outcome),
  DROP INDEX idx_calls_caller_arrived,
  ADD INDEX idx_calls_caller (caller_number);
