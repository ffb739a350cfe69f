-- Indexes for what the API, the wallboard's restart seeding and the
-- reports ask (checked with EXPLAIN QUERY PLAN in TestQueriesUseIndexes):
--   * call lists are newest first within a filter, ordered by
--     (arrived_at, id): each index ends with both so SQLite walks it
--     backwards with no sort (SQLite indexes carry the rowid, not id);
--   * calls by caller, newest first;
--   * live calls in arrival order (restart recovery);
--   * a day's queue stints across all queues (the daily and interval
--     reports; the (queue, entered_at) index serves one queue).
-- +goose Up
DROP INDEX idx_calls_arrived;
CREATE INDEX idx_calls_arrived ON calls (arrived_at, id);
DROP INDEX idx_calls_queue_arrived;
CREATE INDEX idx_calls_queue_arrived ON calls (queue, arrived_at, id);
DROP INDEX idx_calls_agent_arrived;
CREATE INDEX idx_calls_agent_arrived ON calls (agent_id, arrived_at, id);
DROP INDEX idx_calls_caller;
CREATE INDEX idx_calls_caller_arrived ON calls (caller_number, arrived_at, id);
DROP INDEX idx_calls_outcome;
CREATE INDEX idx_calls_outcome_arrived ON calls (outcome, arrived_at, id);
CREATE INDEX idx_waits_entered ON queue_waits (entered_at);

-- +goose Down
DROP INDEX idx_waits_entered;
DROP INDEX idx_calls_outcome_arrived;
CREATE INDEX idx_calls_outcome ON calls (outcome);
DROP INDEX idx_calls_caller_arrived;
CREATE INDEX idx_calls_caller ON calls (caller_number);
DROP INDEX idx_calls_agent_arrived;
CREATE INDEX idx_calls_agent_arrived ON calls (agent_id, arrived_at);
DROP INDEX idx_calls_queue_arrived;
CREATE INDEX idx_calls_queue_arrived ON calls (queue, arrived_at);
DROP INDEX idx_calls_arrived;
CREATE INDEX idx_calls_arrived ON calls (arrived_at);
