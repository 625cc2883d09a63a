-- The tenant policies, as one function that (re)makes them all in the
-- current schema. Some policies reach another table (a team's members
-- through teams, a key's usage and budget through api_keys); a policy
-- holds on to the table it names, so a projection rebuild, which swaps
-- in freshly built tables and drops the old ones with their schema,
-- would leave such a policy pointing at a dropped or stale table. The
-- rebuild therefore calls gateway_apply_tenant_policies() in the same
-- transaction as its swap, and every policy then names the live tables.
-- It supersedes the policies of 00014, 00016 and 00017 (same rules).

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION gateway_apply_tenant_policies() RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    s constant text := current_schema();
    ws constant text := $w$NULLIF(current_setting('app.workspace_id', true), '')$w$;
    sandbox constant text := $w$sandbox = (coalesce(current_setting('app.sandbox', true), '') = 'on')$w$;
    rules text[][];
    i int;
    t text;
BEGIN
    rules := ARRAY[
        ['workspaces',           format('id = %s::uuid', ws)],
        ['members',              format('workspace_id = %s::uuid', ws)],
        ['api_keys',             format('workspace_id = %s::uuid', ws)],
        ['conversations',        format('workspace_id = %s::uuid', ws)],
        ['contacts',             format('workspace_id = %s::uuid AND %s', ws, sandbox)],
        ['tasks',                format('workspace_id = %s::uuid AND %s', ws, sandbox)],
        ['documents',            format('workspace_id = %s::uuid AND %s', ws, sandbox)],
        ['emails',               format('workspace_id = %s::uuid AND %s', ws, sandbox)],
        ['departments',          format('workspace_id = %s::uuid', ws)],
        ['teams',                format('workspace_id = %s::uuid', ws)],
        ['agents',               format('workspace_id = %s::uuid', ws)],
        ['billing_charges',      format('workspace_id = %s', ws)],
        ['team_members',         format('team_id IN (SELECT id FROM %I.teams)', s)],
        ['billing_periods',      format('api_key_id IN (SELECT id::text FROM %I.api_keys)', s)],
        ['billing_reservations', format('api_key_id IN (SELECT id::text FROM %I.api_keys)', s)],
        ['conversation_usage',   format('api_key_id IN (SELECT id FROM %I.api_keys)', s)],
        ['mcp_usage',            format('api_key_id IN (SELECT id FROM %I.api_keys)', s)],
        ['mcp_calls',            format('api_key_id IN (SELECT id FROM %I.api_keys)', s)]
    ];
    FOR i IN 1 .. array_length(rules, 1) LOOP
        t := rules[i][1];
        EXECUTE format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', s, t);
        EXECUTE format('ALTER TABLE %I.%I FORCE ROW LEVEL SECURITY', s, t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I.%I', s, t);
        EXECUTE format('DROP POLICY IF EXISTS gateway_owner ON %I.%I', s, t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I.%I TO gateway_tenant USING (%s)', s, t, rules[i][2]);
        EXECUTE format('CREATE POLICY gateway_owner ON %I.%I TO %I USING (true) WITH CHECK (true)', s, t, current_user);
        EXECUTE format('GRANT SELECT ON %I.%I TO gateway_tenant', s, t);
    END LOOP;
END
$fn$;
-- +goose StatementEnd
SELECT gateway_apply_tenant_policies();

-- +goose Down
DROP FUNCTION gateway_apply_tenant_policies();
