-- GET /api/documents pages a workspace's documents in the order they were
-- made, keyset over (created_at, id): this index makes each page cost what
-- it returns, however many documents the workspace has.

-- +goose Up
CREATE INDEX documents_workspace_created ON documents (workspace_id, created_at, id);

-- +goose Down
DROP INDEX documents_workspace_created;
