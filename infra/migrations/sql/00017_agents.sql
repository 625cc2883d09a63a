-- Named agents (projections/agents): one row per agent stream, written
-- only by its projector. Under the same forced row-level security as the
-- other tenant tables (00014).

-- +goose Up
CREATE TABLE agents (
    id           uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    slug         text NOT NULL,
    config       jsonb NOT NULL,
    deleted      boolean NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint NOT NULL
);
CREATE INDEX agents_workspace_slug ON agents (workspace_id, slug COLLATE "C");
ALTER TABLE agents ENABLE ROW LEVEL SECURITY;
ALTER TABLE agents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agents TO gateway_tenant
    USING (workspace_id = NULLIF(current_setting('app.workspace_id', true), '')::uuid);
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('CREATE POLICY gateway_owner ON agents TO %I USING (true) WITH CHECK (true)', current_user);
END
$$;
-- +goose StatementEnd
GRANT SELECT ON agents TO gateway_tenant;

-- +goose Down
DROP TABLE agents;
