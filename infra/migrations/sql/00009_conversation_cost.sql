-- The conversations view now adds up what each conversation cost
-- (cost_microusd, reported as usage by polls and webhooks). Views folded
-- before this version lack that sum, so the read model is emptied here and
-- folded again from the event log when the gateway next starts (the key
-- usage sums are rebuilt with it). The log is the truth; nothing is lost.

-- +goose Up
TRUNCATE conversations, conversation_usage;
DELETE FROM projection_checkpoints WHERE name = 'conversations';

-- +goose Down
-- Nothing to undo: older code folds the views again as well.
SELECT 1;
