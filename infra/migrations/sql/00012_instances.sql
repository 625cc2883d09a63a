-- Live instances: each gateway process writes its id here every second.
-- A model step claimed by an instance whose row is stale (or gone, after a
-- clean stop) is taken over at once instead of waiting out the claim.

-- +goose Up
CREATE TABLE gateway_instances (
  id         text PRIMARY KEY,
  started_at timestamptz NOT NULL DEFAULT now(),
  seen_at    timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE gateway_instances;
