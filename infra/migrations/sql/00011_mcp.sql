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
-- Every call, for the key's list of them (auditors find each call's
-- history from it) and for the reaper, which closes calls still open when
-- a gateway died in the middle of one.
CREATE TABLE mcp_calls (
  call_id      uuid PRIMARY KEY,
  api_key_id   uuid NOT NULL,
  tool         text NOT NULL,
  status       text NOT NULL, -- open | completed | refused
  code         text NOT NULL DEFAULT '',
  is_error     boolean NOT NULL DEFAULT false,
  requested_at timestamptz NOT NULL,
  ended_at     timestamptz
);
CREATE INDEX mcp_calls_key ON mcp_calls (api_key_id, requested_at DESC, call_id DESC);
CREATE INDEX mcp_calls_open ON mcp_calls (requested_at) WHERE status = 'open';

-- +goose Down
DROP TABLE mcp_calls;
DROP TABLE mcp_usage;
ALTER TABLE api_keys DROP COLUMN tools;
