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

-- +goose Down
DROP TABLE mcp_usage;
ALTER TABLE api_keys DROP COLUMN tools;
