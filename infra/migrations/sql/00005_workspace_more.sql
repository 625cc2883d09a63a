-- More read models of the workspace: task assignees, documents (with full
-- text search), the organisation (departments, teams and their members) and
-- sent emails. Each table is written only by its projector
-- (projections/tasks, projections/documents, projections/org,
-- projections/emails) in the transaction that moves its checkpoint, and can
-- be rebuilt from the event log by clearing its projection_checkpoints row.

-- +goose Up
ALTER TABLE tasks ADD COLUMN assignee_id text NOT NULL DEFAULT '';
-- "My tasks": a workspace's tasks of one assignee, oldest first.
CREATE INDEX tasks_workspace_assignee ON tasks (workspace_id, assignee_id, created_at, id);

CREATE TABLE documents (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    title text NOT NULL,
    -- normalised path from the root: "/", "/Reports", "/Reports/Q1"
    folder text NOT NULL,
    body text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version bigint NOT NULL,
    -- Full-text search over title (weight A) and body (weight B).
    --
    -- The 'simple' configuration lower-cases and keeps every word (no
    -- stemming, no stop words), so the search matches exactly the words
    -- the in-memory store matches; 'english' would also find "reports" for
    -- "report" and drop words like "the", and the two stores would disagree.
    --
    -- Every run of characters other than letters and digits becomes a
    -- space first: the text-search parser would otherwise keep e-mail
    -- addresses, host names, decimals and dates as single lexemes
    -- ("ada@example.com", "1.5", "-03") where the memory store sees the
    -- words "ada", "example", "com". The query side is cleaned the same way
    -- (projections/documents).
    search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', regexp_replace(title, '[^[:alnum:]]+', ' ', 'g')), 'A') ||
        setweight(to_tsvector('simple', regexp_replace(body, '[^[:alnum:]]+', ' ', 'g')), 'B')
    ) STORED
);
CREATE INDEX documents_search ON documents USING gin (search);
-- Listing a folder (exact, or as a prefix with COLLATE "C" LIKE).
CREATE INDEX documents_workspace_folder ON documents (workspace_id, folder COLLATE "C", title COLLATE "C", id);

CREATE TABLE departments (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    name text NOT NULL,
    created_at timestamptz NOT NULL,
    version bigint NOT NULL
);
CREATE INDEX departments_workspace_name ON departments (workspace_id, name COLLATE "C", id);

CREATE TABLE teams (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    -- as the event carries it ('' for a team outside any department); text
    -- so an odd id can never stop the projector
    department_id text NOT NULL DEFAULT '',
    name text NOT NULL,
    created_at timestamptz NOT NULL,
    version bigint NOT NULL
);
CREATE INDEX teams_workspace_name ON teams (workspace_id, name COLLATE "C", id);
CREATE INDEX teams_workspace_department ON teams (workspace_id, department_id);

CREATE TABLE team_members (
    team_id uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id text NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
-- "Which teams is this member in?"
CREATE INDEX team_members_user ON team_members (user_id, team_id);

CREATE TABLE emails (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    from_addr text NOT NULL DEFAULT '',
    to_addrs text[] NOT NULL DEFAULT '{}',
    subject text NOT NULL DEFAULT '',
    body text NOT NULL DEFAULT '',
    contact_ids text[] NOT NULL DEFAULT '{}',
    team_id text NOT NULL DEFAULT '',
    status text NOT NULL CHECK (status IN ('queued', 'sent', 'outbox', 'failed')),
    transport text NOT NULL DEFAULT '',
    message_id text NOT NULL DEFAULT '',
    failure_reason text NOT NULL DEFAULT '',
    queued_at timestamptz NOT NULL,
    sent_at timestamptz,
    version bigint NOT NULL
);
-- List is scoped to a workspace and ordered newest first.
CREATE INDEX emails_workspace_queued ON emails (workspace_id, queued_at DESC, id DESC);
-- "Mails sent to this contact" (contact_ids @> ARRAY[id]).
CREATE INDEX emails_contacts ON emails USING gin (contact_ids);

-- +goose Down
DROP TABLE emails;
DROP TABLE team_members;
DROP TABLE teams;
DROP TABLE departments;
DROP TABLE documents;
DROP INDEX tasks_workspace_assignee;
ALTER TABLE tasks DROP COLUMN assignee_id;
