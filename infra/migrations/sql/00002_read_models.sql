-- +goose Up
-- Read models: every table here is written only by its projector, in the
-- same transaction that moves the projector's checkpoint.
CREATE TABLE projection_checkpoints (
    name       text PRIMARY KEY,
    tx         bigint NOT NULL,
    seq        bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workspaces (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL,
    version    bigint NOT NULL
);

CREATE TABLE members (
    user_id      uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    email        text NOT NULL,
    role         text NOT NULL,
    token_hash   text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL
);
CREATE INDEX members_workspace ON members (workspace_id);

CREATE TABLE api_keys (
    id               uuid PRIMARY KEY,
    workspace_id     uuid NOT NULL,
    user_id          uuid NOT NULL,
    key_hash         text NOT NULL UNIQUE,
    key_prefix       text NOT NULL,
    label            text NOT NULL,
    response_url     text NOT NULL,
    budget_usd_cents bigint,
    budget_period    text NOT NULL,
    revoked          boolean NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    revoked_at       timestamptz,
    version          bigint NOT NULL
);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at DESC);

CREATE TABLE conversations (
    id           uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    user_id      uuid NOT NULL,
    api_key_id   uuid NOT NULL,
    status       text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint NOT NULL,
    view         jsonb NOT NULL
);
CREATE INDEX conversations_key ON conversations (api_key_id);
CREATE INDEX conversations_unfinished ON conversations (updated_at) WHERE status IN ('open', 'processing');

-- +goose Down
DROP TABLE conversations;
DROP TABLE api_keys;
DROP TABLE members;
DROP TABLE workspaces;
DROP TABLE projection_checkpoints;
