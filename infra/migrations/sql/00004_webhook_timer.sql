-- +goose Up
-- The durable timer of webhook retries: which conversations wait for a
-- delivery attempt, and from when. Written only by the conversations
-- projector.
ALTER TABLE conversations
    ADD COLUMN webhook_status     text,
    ADD COLUMN webhook_next_at    timestamptz,
    ADD COLUMN webhook_claimed_at timestamptz;
CREATE INDEX conversations_webhook_pending ON conversations (updated_at) WHERE webhook_status = 'pending';

-- +goose Down
DROP INDEX conversations_webhook_pending;
ALTER TABLE conversations DROP COLUMN webhook_status, DROP COLUMN webhook_next_at, DROP COLUMN webhook_claimed_at;
