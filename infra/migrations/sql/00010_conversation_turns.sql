-- Conversations go on with follow-ups: the view now counts its turns and
-- which turn each webhook delivery carries, and counts model steps rather
-- than taking the latest step's number. Views folded before this version
-- lack those, so the read model is emptied here and folded again from the
-- event log when the gateway next starts (the key usage sums with it).

-- +goose Up
TRUNCATE conversations, conversation_usage;
DELETE FROM projection_checkpoints WHERE name = 'conversations';

-- +goose Down
SELECT 1;
