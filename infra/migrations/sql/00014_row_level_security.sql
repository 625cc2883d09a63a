-- Tenant isolation by the database itself. Every read model table that
-- holds a workspace's rows is under forced row-level security: a query
-- that runs as the role gateway_tenant sees only the rows of the
-- workspace named by the transaction's app.workspace_id setting, and
-- nothing at all when the setting is missing. The gateway reads as that
-- role, in a transaction of its own, for everything it reads on behalf of
-- a caller (REST, MCP and the agent's tools: projections.Read).
--
-- Projectors, sweeps (reaper, webhook timers) and the authentication
-- lookup must see every tenant: they run as the role that applied these
-- migrations (the DATABASE_URL role), which the gateway_owner policy lets
-- through. gateway_tenant may only read: nothing but a projector writes a
-- read model, and the database now holds the gateway to that.
--
-- Tables without a workspace_id column of their own are scoped through
-- the row they belong to (a team, an API key), whose own policy is the
-- workspace rule; the subquery runs under the same policies.
--
-- Roles are shared by every database of a server, so creating the role
-- tolerates one that exists (made by a DBA in advance, or by another
-- database's migration running at the same moment).

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gateway_tenant') THEN
        BEGIN
            CREATE ROLE gateway_tenant NOLOGIN NOSUPERUSER NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    IF NOT pg_has_role(current_user, 'gateway_tenant', 'MEMBER') THEN
        BEGIN
            EXECUTE format('GRANT gateway_tenant TO %I', current_user);
        EXCEPTION WHEN unique_violation THEN NULL;
        END;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO gateway_tenant', current_schema());
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $$
DECLARE
    t text;
    ws constant text := $w$NULLIF(current_setting('app.workspace_id', true), '')$w$;
    rules constant text[][] := ARRAY[
        -- table, the rule that ties a row to the workspace in app.workspace_id
        ['workspaces',           format('id = %s::uuid', ws)],
        ['members',              format('workspace_id = %s::uuid', ws)],
        ['api_keys',             format('workspace_id = %s::uuid', ws)],
        ['conversations',        format('workspace_id = %s::uuid', ws)],
        ['contacts',             format('workspace_id = %s::uuid', ws)],
        ['tasks',                format('workspace_id = %s::uuid', ws)],
        ['documents',            format('workspace_id = %s::uuid', ws)],
        ['departments',          format('workspace_id = %s::uuid', ws)],
        ['teams',                format('workspace_id = %s::uuid', ws)],
        ['emails',               format('workspace_id = %s::uuid', ws)],
        ['billing_charges',      format('workspace_id = %s', ws)],
        ['team_members',         'team_id IN (SELECT id FROM teams)'],
        ['billing_periods',      'api_key_id IN (SELECT id::text FROM api_keys)'],
        ['billing_reservations', 'api_key_id IN (SELECT id::text FROM api_keys)'],
        ['conversation_usage',   'api_key_id IN (SELECT id FROM api_keys)'],
        ['mcp_usage',            'api_key_id IN (SELECT id FROM api_keys)'],
        ['mcp_calls',            'api_key_id IN (SELECT id FROM api_keys)']
    ];
    i int;
BEGIN
    FOR i IN 1 .. array_length(rules, 1) LOOP
        t := rules[i][1];
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO gateway_tenant USING (%s)', t, rules[i][2]);
        EXECUTE format('CREATE POLICY gateway_owner ON %I TO %I USING (true) WITH CHECK (true)', t, current_user);
        EXECUTE format('GRANT SELECT ON %I TO gateway_tenant', t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['workspaces', 'members', 'api_keys', 'conversations', 'contacts', 'tasks',
        'documents', 'departments', 'teams', 'emails', 'billing_charges', 'team_members', 'billing_periods',
        'billing_reservations', 'conversation_usage', 'mcp_usage', 'mcp_calls'] LOOP
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I', t);
        EXECUTE format('DROP POLICY IF EXISTS gateway_owner ON %I', t);
        EXECUTE format('REVOKE ALL ON %I FROM gateway_tenant', t);
        EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;
-- +goose StatementEnd
