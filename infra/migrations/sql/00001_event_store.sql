-- The event store: one append-only log of events, grouped into streams.
--
-- Global order is (transaction_id, global_position), not global_position
-- alone: identity values are handed out when a row is inserted, but rows become
-- visible when their transaction commits, so a plain counter can be read with
-- holes that fill in later. Readers only return events whose transaction is
-- older than every transaction still running (pg_snapshot_xmin), and within
-- that horizon the (xid, position) order never changes again.

-- +goose Up
CREATE TABLE streams (
    stream_id text PRIMARY KEY,
    -- number of events in the stream; the last event's stream_version
    version bigint NOT NULL CHECK (version > 0),
    -- transaction that last appended; an append whose xid is not greater must
    -- retry, so a stream's versions never go backwards in the global order
    last_tx xid8 NOT NULL
);

CREATE TABLE events (
    global_position bigint GENERATED ALWAYS AS IDENTITY,
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    stream_id text NOT NULL,
    stream_version bigint NOT NULL CHECK (stream_version > 0),
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    data jsonb NOT NULL,
    metadata jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);

-- ReadAll and Head walk this index in log order.
CREATE UNIQUE INDEX events_log_order ON events (transaction_id, global_position);

-- Where durable subscribers (sagas, projections) have got to in the log.
CREATE TABLE subscription_checkpoints (
    name text PRIMARY KEY,
    tx bigint NOT NULL,
    seq bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE subscription_checkpoints;
DROP TABLE events;
DROP TABLE streams;
