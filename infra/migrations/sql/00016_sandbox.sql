-- Test API keys work in a sandbox of their workspace: what the agent
-- makes under a test key (contacts, tasks, documents, e-mails) is marked
-- sandbox, and a reader sees either the live rows or the sandbox rows,
-- never both. The gateway says which in app.sandbox ('on' for a test
-- key's work) beside app.workspace_id, and the tenant policies of these
-- tables compare it with the row: without it a reader sees live rows.
-- API keys record their mode, and each charge the mode of the key that
-- paid it, so billing reports test spend apart from live spend.

-- +goose Up
ALTER TABLE contacts ADD COLUMN sandbox boolean NOT NULL DEFAULT false;
ALTER TABLE tasks ADD COLUMN sandbox boolean NOT NULL DEFAULT false;
ALTER TABLE documents ADD COLUMN sandbox boolean NOT NULL DEFAULT false;
ALTER TABLE emails ADD COLUMN sandbox boolean NOT NULL DEFAULT false;
ALTER TABLE api_keys ADD COLUMN mode text NOT NULL DEFAULT 'live';
ALTER TABLE billing_charges ADD COLUMN mode text NOT NULL DEFAULT 'live';
-- A test key's mail is recorded with the status "sandbox": never sent.
ALTER TABLE emails DROP CONSTRAINT emails_status_check;
ALTER TABLE emails ADD CONSTRAINT emails_status_check CHECK (status IN ('queued', 'sent', 'outbox', 'failed', 'sandbox'));

-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'tasks', 'documents', 'emails'] LOOP
        EXECUTE format($p$ALTER POLICY tenant_isolation ON %I USING (
            workspace_id = NULLIF(current_setting('app.workspace_id', true), '')::uuid
            AND sandbox = (coalesce(current_setting('app.sandbox', true), '') = 'on'))$p$, t);
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
    FOREACH t IN ARRAY ARRAY['contacts', 'tasks', 'documents', 'emails'] LOOP
        EXECUTE format($p$ALTER POLICY tenant_isolation ON %I USING (
            workspace_id = NULLIF(current_setting('app.workspace_id', true), '')::uuid)$p$, t);
    END LOOP;
END
$$;
-- +goose StatementEnd
ALTER TABLE billing_charges DROP COLUMN mode;
ALTER TABLE emails DROP CONSTRAINT emails_status_check;
ALTER TABLE emails ADD CONSTRAINT emails_status_check CHECK (status IN ('queued', 'sent', 'outbox', 'failed')) NOT VALID;
ALTER TABLE api_keys DROP COLUMN mode;
ALTER TABLE emails DROP COLUMN sandbox;
ALTER TABLE documents DROP COLUMN sandbox;
ALTER TABLE tasks DROP COLUMN sandbox;
ALTER TABLE contacts DROP COLUMN sandbox;
