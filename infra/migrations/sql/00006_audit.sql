-- Audit: hash chains per stream and reads by correlation id.

-- +goose Up

-- The hash of the stream's last event (es.ChainHash), so that an append
-- links its first event to it without reading that event. NULL for streams
-- written before hash chains: their next append seals their events first.
ALTER TABLE streams ADD COLUMN last_hash text;

-- ReadCorrelated: one correlation id's events in log order. An expression
-- index rather than a stored generated column, so that adding it does not
-- rewrite the events table; queries must spell the expression exactly as
-- here. Events without a correlation id are left out of the index.
CREATE INDEX events_correlation_log_order
    ON events ((metadata->>'correlation_id'), transaction_id, global_position)
    WHERE (metadata->>'correlation_id') IS NOT NULL;

-- +goose Down
DROP INDEX events_correlation_log_order;
ALTER TABLE streams DROP COLUMN last_hash;
