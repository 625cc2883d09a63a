-- What each API key's conversations add up to, per status, kept as sums by
-- the conversations projector in the same transaction as the views: key
-- usage is read from here, whatever the key's history, instead of adding
-- up every conversation the key ever had.

-- +goose Up
CREATE TABLE conversation_usage (
    api_key_id         uuid NOT NULL,
    status             text NOT NULL,
    conversations      bigint NOT NULL,
    model_steps        bigint NOT NULL,
    tool_calls         bigint NOT NULL,
    input_tokens       bigint NOT NULL,
    output_tokens      bigint NOT NULL,
    failed_for_budget  bigint NOT NULL,
    webhooks_pending   bigint NOT NULL,
    webhooks_delivered bigint NOT NULL,
    webhooks_failed    bigint NOT NULL,
    PRIMARY KEY (api_key_id, status)
);

-- The sums of the conversations already there.
INSERT INTO conversation_usage
SELECT api_key_id, status, count(*),
       coalesce(sum((view->>'steps')::bigint), 0), coalesce(sum((view->>'tool_calls')::bigint), 0),
       coalesce(sum((view->>'input_tokens')::bigint), 0), coalesce(sum((view->>'output_tokens')::bigint), 0),
       count(*) FILTER (WHERE view->'error'->>'code' = 'BUDGET_EXCEEDED'),
       count(*) FILTER (WHERE view->'webhook'->>'status' = 'pending'),
       count(*) FILTER (WHERE view->'webhook'->>'status' = 'delivered'),
       count(*) FILTER (WHERE view->'webhook'->>'status' = 'failed')
FROM conversations GROUP BY api_key_id, status;

-- +goose Down
DROP TABLE conversation_usage;
