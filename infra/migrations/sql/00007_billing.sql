-- Billing read model (projections/billing), fed by the budget-<key>-<period>
-- streams and written only by its projector, in the transaction that moves
-- its checkpoint. Money is integer micro-dollars.

-- +goose Up

-- One row per key and budget period: the fold of its budget stream.
CREATE TABLE billing_periods (
    api_key_id           text NOT NULL,
    period_key           text NOT NULL,
    spent_microusd       bigint NOT NULL,
    outstanding_microusd bigint NOT NULL,
    charges              integer NOT NULL,
    reservations         integer NOT NULL,
    open_reservations    integer NOT NULL,
    version              bigint NOT NULL,
    PRIMARY KEY (api_key_id, period_key)
);

-- Every reservation of a period, so that a charge or a release finds what
-- its reservation set aside.
CREATE TABLE billing_reservations (
    api_key_id      text NOT NULL,
    period_key      text NOT NULL,
    reservation_id  text NOT NULL,
    conversation_id text NOT NULL,
    amount_microusd bigint NOT NULL,
    status          text NOT NULL CHECK (status IN ('open', 'charged', 'released')),
    reserved_at     timestamptz NOT NULL,
    PRIMARY KEY (api_key_id, period_key, reservation_id)
);
CREATE INDEX billing_reservations_open ON billing_reservations (api_key_id, period_key) WHERE status = 'open';

-- One row per ChargeRecorded; day is charged_at's UTC date.
CREATE TABLE billing_charges (
    event_id        text PRIMARY KEY,
    log_tx          bigint NOT NULL,
    log_seq         bigint NOT NULL,
    reservation_id  text NOT NULL,
    workspace_id    text NOT NULL,
    api_key_id      text NOT NULL,
    user_id         text NOT NULL,
    conversation_id text NOT NULL,
    period_key      text NOT NULL,
    cause_kind      text NOT NULL,
    cause_ref       text NOT NULL,
    model           text NOT NULL,
    input_tokens    bigint NOT NULL,
    output_tokens   bigint NOT NULL,
    amount_microusd bigint NOT NULL,
    charged_at      timestamptz NOT NULL,
    day             date NOT NULL
);
-- Reports: one workspace, a range of days.
CREATE INDEX billing_charges_workspace_day ON billing_charges (workspace_id, day);
-- Listings and audits: one workspace in log order.
CREATE INDEX billing_charges_workspace_log ON billing_charges (workspace_id, log_tx, log_seq);

-- +goose Down
DROP TABLE billing_charges;
DROP TABLE billing_reservations;
DROP TABLE billing_periods;
