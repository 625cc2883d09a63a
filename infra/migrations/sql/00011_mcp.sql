-- The MCP server: a key may name the tools it allows (NULL: all of them),
-- and each key's MCP tool calls are counted (the calls themselves are
-- streams in the event log).

-- +goose Up
ALTER TABLE api_keys ADD COLUMN tools text[];
CREATE TABLE mcp_usage (
  api_key_id uuid PRIMARY KEY,
  calls      bigint NOT NULL DEFAULT 0,
  refused    bigint NOT NULL DEFAULT 0
);
-- Calls recorded as requested and not yet as completed or refused: what
-- the reaper closes when a gateway died in the middle of one.
CREATE TABLE mcp_open_calls (
  call_id      uuid PRIMARY KEY,
  api_key_id   uuid NOT NULL,
  requested_at timestamptz NOT NULL
);
CREATE INDEX mcp_open_calls_requested ON mcp_open_calls (requested_at);

-- +goose Down
DROP TABLE mcp_open_calls;
DROP TABLE mcp_usage;
ALTER TABLE api_keys DROP COLUMN tools;
