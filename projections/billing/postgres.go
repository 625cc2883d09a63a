package billing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	dbilling "github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Postgres keeps the read model in billing_periods, billing_reservations
// and billing_charges (migration 00007).
type Postgres struct{ pool *pgxpool.Pool }

// NewPostgres returns a store on the pool (migrations already applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{pool: pool} }

func (p *Postgres) Name() string { return Name }

func (p *Postgres) Checkpoint(ctx context.Context) (es.Position, error) {
	return projections.PgCheckpoint(ctx, p.pool, Name)
}

// Apply folds the batch in one transaction with the checkpoint. Each
// event locks its period's row first, so a second instance running this
// projection cannot fold the same stream from a stale version.
func (p *Postgres) Apply(ctx context.Context, batch []es.Recorded) error {
	return projections.PgApply(ctx, p.pool, Name, batch, isBudget, func(ctx context.Context, tx pgx.Tx, rec es.Recorded) error {
		return applyOne(ctx, tx, rec)
	})
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func getPeriod(ctx context.Context, q querier, keyID, periodKey, lock string) (PeriodTotals, error) {
	t := PeriodTotals{APIKeyID: keyID, PeriodKey: periodKey}
	err := q.QueryRow(ctx, `SELECT spent_microusd, outstanding_microusd, charges, reservations, open_reservations, version
FROM billing_periods WHERE api_key_id = $1 AND period_key = $2`+lock, keyID, periodKey).
		Scan(&t.SpentMicroUSD, &t.OutstandingMicroUSD, &t.Charges, &t.Reservations, &t.OpenReservations, &t.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, nil
	}
	return t, err
}

// settle closes an open reservation and returns what it set aside.
func settle(ctx context.Context, tx pgx.Tx, t PeriodTotals, id, status string) (int64, bool, error) {
	var amount int64
	err := tx.QueryRow(ctx, `UPDATE billing_reservations SET status = $4
WHERE api_key_id = $1 AND period_key = $2 AND reservation_id = $3 AND status = 'open' RETURNING amount_microusd`,
		t.APIKeyID, t.PeriodKey, id, status).Scan(&amount)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return amount, err == nil, err
}

// applyOne is fold (store.go) in SQL.
func applyOne(ctx context.Context, tx pgx.Tx, rec es.Recorded) error {
	keyID, periodKey, _ := ParseStream(rec.Stream)
	t, err := getPeriod(ctx, tx, keyID, periodKey, ` FOR UPDATE`)
	if err != nil {
		return err
	}
	f, ok, err := decodeNext(t.Version, rec)
	if err != nil || !ok {
		return err
	}
	switch e := f.(type) {
	case *dbilling.Reserved:
		// An id reserved again while open replaces the amount, as in the
		// aggregate's fold, which also counts it twice in Outstanding.
		var wasOpen bool
		err = tx.QueryRow(ctx, `SELECT status = 'open' FROM billing_reservations
WHERE api_key_id = $1 AND period_key = $2 AND reservation_id = $3`, keyID, periodKey, e.ReservationID).Scan(&wasOpen)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO billing_reservations
  (api_key_id, period_key, reservation_id, conversation_id, amount_microusd, status, reserved_at)
VALUES ($1, $2, $3, $4, $5, 'open', $6)
ON CONFLICT (api_key_id, period_key, reservation_id) DO UPDATE SET conversation_id = EXCLUDED.conversation_id,
  amount_microusd = EXCLUDED.amount_microusd, status = 'open', reserved_at = EXCLUDED.reserved_at`,
			keyID, periodKey, e.ReservationID, e.ConversationID, int64(e.Amount), projections.Stamp(e.ReservedAt)); err != nil {
			return err
		}
		t.OutstandingMicroUSD += int64(e.Amount)
		t.Reservations++
		if !wasOpen {
			t.OpenReservations++
		}
	case *dbilling.Charged:
		amount, open, err := settle(ctx, tx, t, e.ReservationID, "charged")
		if err != nil {
			return err
		}
		if open {
			t.OutstandingMicroUSD -= amount
			t.OpenReservations--
		}
		t.SpentMicroUSD += int64(e.Amount)
		t.Charges++
		c := chargeFrom(rec, e)
		if _, err := tx.Exec(ctx, `INSERT INTO billing_charges (event_id, log_tx, log_seq, reservation_id, workspace_id,
  api_key_id, user_id, conversation_id, period_key, cause_kind, cause_ref, model, input_tokens, output_tokens,
  amount_microusd, charged_at, day)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::date)`,
			c.EventID, int64(c.Position.Tx), int64(c.Position.Seq), c.ReservationID, c.WorkspaceID, c.APIKeyID, c.UserID,
			c.ConversationID, c.PeriodKey, c.CauseKind, c.CauseRef, c.Model, c.InputTokens, c.OutputTokens,
			c.AmountMicroUSD, c.ChargedAt, c.Day.String()); err != nil {
			return err
		}
	case *dbilling.Released:
		amount, open, err := settle(ctx, tx, t, e.ReservationID, "released")
		if err != nil {
			return err
		}
		if open {
			t.OutstandingMicroUSD -= amount
			t.OpenReservations--
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO billing_periods (api_key_id, period_key, spent_microusd, outstanding_microusd,
  charges, reservations, open_reservations, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (api_key_id, period_key) DO UPDATE SET spent_microusd = EXCLUDED.spent_microusd,
  outstanding_microusd = EXCLUDED.outstanding_microusd, charges = EXCLUDED.charges,
  reservations = EXCLUDED.reservations, open_reservations = EXCLUDED.open_reservations, version = EXCLUDED.version`,
		keyID, periodKey, t.SpentMicroUSD, t.OutstandingMicroUSD, t.Charges, t.Reservations, t.OpenReservations, rec.StreamVersion)
	return err
}

func (p *Postgres) Period(ctx context.Context, keyID, periodKey string) (PeriodTotals, error) {
	return getPeriod(ctx, p.pool, keyID, periodKey, ``)
}

// groupExpr is GroupOf in SQL. COLLATE "C" orders and compares group
// values byte by byte, as Go does, whatever the database's collation.
func groupExpr(groupBy string) string {
	switch groupBy {
	case GroupKey:
		return `api_key_id`
	case GroupDay:
		return `to_char(day, 'YYYY-MM-DD')`
	case GroupModel:
		return fmt.Sprintf(`CASE WHEN cause_kind = '%s' THEN '%s' WHEN model = '' THEN '%s' ELSE model END`,
			dbilling.CauseToolCall, ToolCallsGroup, UnknownModelGroup)
	case GroupUser:
		return `user_id`
	}
	panic("billing: unknown grouping " + groupBy)
}

// readOnly runs fn in one read-only snapshot, so a page and its total agree
// even while the projector writes.
func (p *Postgres) readOnly(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := p.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (p *Postgres) Report(ctx context.Context, workspaceID string, q ReportQuery) (ReportPage, error) {
	if err := q.Validate(); err != nil {
		return ReportPage{}, err
	}
	after, paged, err := decodeReportCursor(q.GroupBy, q.After)
	if err != nil {
		return ReportPage{}, err
	}
	limit := q.limit()
	var page ReportPage
	err = p.readOnly(ctx, func(tx pgx.Tx) error {
		var charges int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(amount_microusd), 0)::bigint, count(*),
  coalesce(sum(input_tokens), 0)::bigint, coalesce(sum(output_tokens), 0)::bigint
FROM billing_charges WHERE workspace_id = $1 AND day BETWEEN $2::date AND $3::date`,
			workspaceID, q.From.String(), q.To.String()).
			Scan(&page.Total.AmountMicroUSD, &charges, &page.Total.InputTokens, &page.Total.OutputTokens); err != nil {
			return err
		}
		page.Total.Charges = int(charges)
		rows, err := tx.Query(ctx, `SELECT grp, sum(amount_microusd)::bigint, count(*), sum(input_tokens)::bigint,
  sum(output_tokens)::bigint
FROM (SELECT `+groupExpr(q.GroupBy)+` COLLATE "C" AS grp, amount_microusd, input_tokens, output_tokens
      FROM billing_charges WHERE workspace_id = $1 AND day BETWEEN $2::date AND $3::date) AS c
WHERE NOT $4::boolean OR grp > $5::text COLLATE "C"
GROUP BY grp ORDER BY grp LIMIT $6`,
			workspaceID, q.From.String(), q.To.String(), paged, after, limit+1)
		if err != nil {
			return err
		}
		page.Rows, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Row, error) {
			var r Row
			var n int64
			err := row.Scan(&r.Group, &r.AmountMicroUSD, &n, &r.InputTokens, &r.OutputTokens)
			r.Charges = int(n)
			return r, err
		})
		return err
	})
	if err != nil {
		return ReportPage{}, fmt.Errorf("billing report: %w", err)
	}
	if len(page.Rows) > limit {
		page.Rows, page.HasMore = page.Rows[:limit], true
		page.NextCursor = ReportCursor(q.GroupBy, page.Rows[limit-1].Group)
	}
	if page.Rows == nil {
		page.Rows = []Row{}
	}
	return page, nil
}

const chargeColumns = `event_id, log_tx, log_seq, reservation_id, workspace_id, api_key_id, user_id, conversation_id,
  period_key, cause_kind, cause_ref, model, input_tokens, output_tokens, amount_microusd, charged_at, day`

func (p *Postgres) Charges(ctx context.Context, workspaceID string, from, to Date, after string, limit int) (ChargePage, error) {
	if err := validRange(from, to); err != nil {
		return ChargePage{}, err
	}
	pos, err := decodeChargeCursor(after)
	if err != nil {
		return ChargePage{}, err
	}
	limit = clampLimit(limit)
	rows, err := p.pool.Query(ctx, `SELECT `+chargeColumns+` FROM billing_charges
WHERE workspace_id = $1 AND day BETWEEN $2::date AND $3::date AND (log_tx, log_seq) > ($4::bigint, $5::bigint)
ORDER BY log_tx, log_seq LIMIT $6`, workspaceID, from.String(), to.String(), int64(pos.Tx), int64(pos.Seq), limit+1)
	if err != nil {
		return ChargePage{}, fmt.Errorf("billing charges: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Charge, error) {
		var c Charge
		var tx, seq int64
		var day time.Time
		err := row.Scan(&c.EventID, &tx, &seq, &c.ReservationID, &c.WorkspaceID, &c.APIKeyID, &c.UserID, &c.ConversationID,
			&c.PeriodKey, &c.CauseKind, &c.CauseRef, &c.Model, &c.InputTokens, &c.OutputTokens, &c.AmountMicroUSD,
			&c.ChargedAt, &day)
		c.Position = es.Position{Tx: uint64(tx), Seq: uint64(seq)}
		c.ChargedAt = c.ChargedAt.UTC()
		c.Day = NewDate(day.Year(), day.Month(), day.Day())
		return c, err
	})
	if err != nil {
		return ChargePage{}, fmt.Errorf("billing charges: %w", err)
	}
	return chargePage(cs, limit), nil
}

func (p *Postgres) Workspaces(ctx context.Context, from, to Date) ([]string, error) {
	if err := validRange(from, to); err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, `SELECT DISTINCT workspace_id COLLATE "C" AS ws FROM billing_charges
WHERE day BETWEEN $1::date AND $2::date ORDER BY ws`, from.String(), to.String())
	if err != nil {
		return nil, fmt.Errorf("billing workspaces: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("billing workspaces: %w", err)
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}
