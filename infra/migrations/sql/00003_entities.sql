-- Read models of the workspace entities the agent's tools work on: contacts
-- and tasks. Both are projections (projections/contacts, projections/tasks)
-- and can be dropped and rebuilt from the event log by clearing their
-- projection_checkpoints rows.

-- +goose Up
CREATE TABLE contacts (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    name text NOT NULL DEFAULT '',
    company text NOT NULL DEFAULT '',
    title text NOT NULL DEFAULT '',
    email text NOT NULL DEFAULT '',
    phone text NOT NULL DEFAULT '',
    city text NOT NULL DEFAULT '',
    notes text NOT NULL DEFAULT '',
    -- deleted contacts keep their row so a replayed event is recognised by
    -- version; every query filters them out
    deleted boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    -- stream version of the last event folded in
    version bigint NOT NULL
);

-- Search is always scoped to a workspace and pages in byte order of name,
-- then id; the substring filters (ILIKE) scan within the workspace.
CREATE INDEX contacts_workspace_name ON contacts (workspace_id, name COLLATE "C", id);

CREATE TABLE tasks (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    title text NOT NULL,
    description text NOT NULL DEFAULT '',
    -- YYYY-MM-DD as the event carries it, or empty
    due_date text NOT NULL DEFAULT '',
    status text NOT NULL CHECK (status IN ('open', 'done')),
    created_at timestamptz NOT NULL,
    completed_at timestamptz,
    version bigint NOT NULL
);

-- List is scoped to a workspace and ordered oldest first.
CREATE INDEX tasks_workspace_created ON tasks (workspace_id, created_at, id);

-- +goose Down
DROP TABLE tasks;
DROP TABLE contacts;
