-- A caller's conversations, newest first (GET /api/agent): a keyset page
-- reads its rows from this index, however many the caller has.

-- +goose Up
CREATE INDEX conversations_by_user ON conversations (user_id, created_at DESC, id DESC);

-- +goose Down
DROP INDEX conversations_by_user;
