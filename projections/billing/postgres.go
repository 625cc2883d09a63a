package billing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	dbilling "github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Postgres keeps the read model in billing_periods, billing_reservations
// and billing_charges (migration 00007).
type Postgres struct{ projections.PgProjection }

// NewPostgres returns a store on the pool (migrations already applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres {
	return &Postgres{projections.NewPgProjection(pool, Name)}
}

// Apply folds the batch in one transaction with the checkpoint, with a
// few statements for the whole batch: the periods it touches are read and
// locked at once (so a second instance running this projection cannot fold
// the same stream from a stale version), the reservations its charges and
// releases close are read at once, and everything it changed is written
// back with one statement per table.
func (p *Postgres) Apply(ctx context.Context, batch []es.Recorded) error {
	return projections.PgApplyBatch(ctx, p.Pool, Name, batch, isBudget, applyBatch)
}

type periodKey struct{ key, period string }

type reservationKey struct {
	periodKey
	id string
}

type reservationRow struct {
	conversation string
	amount       int64
	status       string
	reservedAt   time.Time
}

// applyBatch is fold (store.go) in SQL, for a batch.
func applyBatch(ctx context.Context, tx pgx.Tx, evs []es.Recorded) error {
	var pks []periodKey
	seenP := map[periodKey]bool{}
	var rks []reservationKey
	seenR := map[reservationKey]bool{}
	facts := make([]es.Fact, len(evs))
	for i, rec := range evs {
		keyID, period, _ := ParseStream(rec.Stream)
		pk := periodKey{keyID, period}
		if !seenP[pk] {
			seenP[pk] = true
			pks = append(pks, pk)
		}
		f, err := dbilling.Events.Decode(rec)
		if err != nil {
			return err
		}
		facts[i] = f
		var id string
		switch e := f.(type) {
		case *dbilling.Reserved:
			id = e.ReservationID
		case *dbilling.Charged:
			id = e.ReservationID
		case *dbilling.Released:
			id = e.ReservationID
		}
		if rk := (reservationKey{pk, id}); !seenR[rk] {
			seenR[rk] = true
			rks = append(rks, rk)
		}
	}
	slices.SortFunc(pks, func(a, b periodKey) int { return strings.Compare(a.key+"\x00"+a.period, b.key+"\x00"+b.period) })
	periods, err := lockPeriods(ctx, tx, pks)
	if err != nil {
		return err
	}
	res, err := readReservations(ctx, tx, rks)
	if err != nil {
		return err
	}
	dirtyRes := map[reservationKey]bool{}
	var resOrder []reservationKey
	touch := func(rk reservationKey) {
		if !dirtyRes[rk] {
			dirtyRes[rk] = true
			resOrder = append(resOrder, rk)
		}
	}
	var charges []Charge
	for i, rec := range evs {
		keyID, period, _ := ParseStream(rec.Stream)
		pk := periodKey{keyID, period}
		t := periods[pk]
		t.APIKeyID, t.PeriodKey = keyID, period
		if _, ok, err := decodeNext(t.Version, rec); err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		closeRes := func(id, status string) {
			rk := reservationKey{pk, id}
			if r, ok := res[rk]; ok && r.status == "open" {
				t.OutstandingMicroUSD -= r.amount
				t.OpenReservations--
				r.status = status
				res[rk] = r
				touch(rk)
			}
		}
		switch e := facts[i].(type) {
		case *dbilling.Reserved:
			// An id reserved again while open replaces the amount, as in
			// the aggregate's fold, which also counts it twice.
			rk := reservationKey{pk, e.ReservationID}
			wasOpen := res[rk].status == "open"
			res[rk] = reservationRow{conversation: e.ConversationID, amount: int64(e.Amount), status: "open",
				reservedAt: projections.Stamp(e.ReservedAt)}
			touch(rk)
			t.OutstandingMicroUSD += int64(e.Amount)
			t.Reservations++
			if !wasOpen {
				t.OpenReservations++
			}
		case *dbilling.Charged:
			closeRes(e.ReservationID, "charged")
			t.SpentMicroUSD += int64(e.Amount)
			t.Charges++
			charges = append(charges, chargeFrom(rec, e))
		case *dbilling.Released:
			closeRes(e.ReservationID, "released")
		}
		t.Version = rec.StreamVersion
		periods[pk] = t
	}
	if err := writeReservations(ctx, tx, resOrder, res); err != nil {
		return err
	}
	if err := insertCharges(ctx, tx, charges); err != nil {
		return err
	}
	return writePeriods(ctx, tx, pks, periods)
}

func lockPeriods(ctx context.Context, tx pgx.Tx, pks []periodKey) (map[periodKey]PeriodTotals, error) {
	keys, periods := make([]string, len(pks)), make([]string, len(pks))
	for i, pk := range pks {
		keys[i], periods[i] = pk.key, pk.period
	}
	rows, err := tx.Query(ctx, `SELECT p.api_key_id, p.period_key, spent_microusd, outstanding_microusd, charges,
  reservations, open_reservations, version
FROM billing_periods p
WHERE (p.api_key_id, p.period_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
ORDER BY p.api_key_id, p.period_key FOR UPDATE OF p`, keys, periods)
	if err != nil {
		return nil, err
	}
	out := map[periodKey]PeriodTotals{}
	var t PeriodTotals
	_, err = pgx.ForEachRow(rows, []any{&t.APIKeyID, &t.PeriodKey, &t.SpentMicroUSD, &t.OutstandingMicroUSD, &t.Charges,
		&t.Reservations, &t.OpenReservations, &t.Version}, func() error {
		out[periodKey{t.APIKeyID, t.PeriodKey}] = t
		return nil
	})
	return out, err
}

func readReservations(ctx context.Context, tx pgx.Tx, rks []reservationKey) (map[reservationKey]reservationRow, error) {
	keys, periods, ids := make([]string, len(rks)), make([]string, len(rks)), make([]string, len(rks))
	for i, rk := range rks {
		keys[i], periods[i], ids[i] = rk.key, rk.period, rk.id
	}
	rows, err := tx.Query(ctx, `SELECT r.api_key_id, r.period_key, r.reservation_id, conversation_id, amount_microusd,
  status, reserved_at
FROM unnest($1::text[], $2::text[], $3::text[]) AS w(api_key_id, period_key, reservation_id)
CROSS JOIN LATERAL (SELECT * FROM billing_reservations x WHERE x.api_key_id = w.api_key_id
  AND x.period_key = w.period_key AND x.reservation_id = w.reservation_id) r`, keys, periods, ids)
	if err != nil {
		return nil, err
	}
	out := map[reservationKey]reservationRow{}
	var (
		rk reservationKey
		r  reservationRow
	)
	_, err = pgx.ForEachRow(rows, []any{&rk.key, &rk.period, &rk.id, &r.conversation, &r.amount, &r.status, &r.reservedAt}, func() error {
		out[rk] = r
		return nil
	})
	return out, err
}

func writeReservations(ctx context.Context, tx pgx.Tx, order []reservationKey, res map[reservationKey]reservationRow) error {
	if len(order) == 0 {
		return nil
	}
	n := len(order)
	keys, periods, ids, convs, statuses := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	amounts, at := make([]int64, n), make([]time.Time, n)
	for i, rk := range order {
		r := res[rk]
		keys[i], periods[i], ids[i], convs[i], statuses[i], amounts[i], at[i] = rk.key, rk.period, rk.id, r.conversation, r.status, r.amount, r.reservedAt
	}
	_, err := tx.Exec(ctx, `INSERT INTO billing_reservations
  (api_key_id, period_key, reservation_id, conversation_id, amount_microusd, status, reserved_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::timestamptz[])
ON CONFLICT (api_key_id, period_key, reservation_id) DO UPDATE SET conversation_id = EXCLUDED.conversation_id,
  amount_microusd = EXCLUDED.amount_microusd, status = EXCLUDED.status, reserved_at = EXCLUDED.reserved_at`,
		keys, periods, ids, convs, amounts, statuses, at)
	return err
}

func insertCharges(ctx context.Context, tx pgx.Tx, cs []Charge) error {
	if len(cs) == 0 {
		return nil
	}
	n := len(cs)
	txt := make([][]string, 12)
	for i := range txt {
		txt[i] = make([]string, n)
	}
	logTx, logSeq, in, out, amount := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	at := make([]time.Time, n)
	for i, c := range cs {
		for j, v := range []string{c.EventID, c.ReservationID, c.WorkspaceID, c.APIKeyID, c.UserID, c.ConversationID,
			c.PeriodKey, c.CauseKind, c.CauseRef, c.Model, c.Day.String(), ModeOf(c.Mode)} {
			txt[j][i] = v
		}
		logTx[i], logSeq[i], in[i], out[i], amount[i], at[i] = int64(c.Position.Tx), int64(c.Position.Seq), c.InputTokens,
			c.OutputTokens, c.AmountMicroUSD, c.ChargedAt
	}
	_, err := tx.Exec(ctx, `INSERT INTO billing_charges (event_id, log_tx, log_seq, reservation_id, workspace_id,
  api_key_id, user_id, conversation_id, period_key, cause_kind, cause_ref, model, input_tokens, output_tokens,
  amount_microusd, charged_at, day, mode)
SELECT e, t, s, r, w, k, u, c, p, ck, cr, m, i, o, a, at, d::date, md
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
  $10::text[], $11::text[], $12::text[], $13::bigint[], $14::bigint[], $15::bigint[], $16::timestamptz[], $17::text[], $18::text[])
  AS x(e, t, s, r, w, k, u, c, p, ck, cr, m, i, o, a, at, d, md)`,
		txt[0], logTx, logSeq, txt[1], txt[2], txt[3], txt[4], txt[5], txt[6], txt[7], txt[8], txt[9], in, out, amount, at, txt[10], txt[11])
	return err
}

func writePeriods(ctx context.Context, tx pgx.Tx, pks []periodKey, periods map[periodKey]PeriodTotals) error {
	var keys, ps []string
	var spent, outstanding, versions []int64
	var charges, reservations, open []int32
	for _, pk := range pks {
		t, ok := periods[pk]
		if !ok || t.Version == 0 {
			continue
		}
		keys, ps = append(keys, pk.key), append(ps, pk.period)
		spent, outstanding, versions = append(spent, t.SpentMicroUSD), append(outstanding, t.OutstandingMicroUSD), append(versions, t.Version)
		charges, reservations, open = append(charges, int32(t.Charges)), append(reservations, int32(t.Reservations)), append(open, int32(t.OpenReservations))
	}
	if len(keys) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO billing_periods (api_key_id, period_key, spent_microusd, outstanding_microusd,
  charges, reservations, open_reservations, version)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::int[], $6::int[], $7::int[], $8::bigint[])
ON CONFLICT (api_key_id, period_key) DO UPDATE SET spent_microusd = EXCLUDED.spent_microusd,
  outstanding_microusd = EXCLUDED.outstanding_microusd, charges = EXCLUDED.charges,
  reservations = EXCLUDED.reservations, open_reservations = EXCLUDED.open_reservations, version = EXCLUDED.version`,
		keys, ps, spent, outstanding, charges, reservations, open, versions)
	return err
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// tenantRow is the pool read as the tenant ctx works for (see
// projections.Read).
type tenantRow struct{ pool *pgxpool.Pool }

func (t tenantRow) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return projections.QueryRow(ctx, t.pool, "", sql, args...)
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

func (p *Postgres) Period(ctx context.Context, keyID, periodKey string) (PeriodTotals, error) {
	return getPeriod(ctx, tenantRow{p.Pool}, keyID, periodKey, ``)
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
		return fmt.Sprintf(`CASE WHEN cause_kind = '%s' THEN '%s' WHEN cause_kind = '%s' THEN '%s' WHEN model = '' THEN '%s' ELSE model END`,
			dbilling.CauseToolCall, ToolCallsGroup, dbilling.CauseMcpToolCall, McpToolCallsGroup, UnknownModelGroup)
	case GroupUser:
		return `user_id`
	}
	panic("billing: unknown grouping " + groupBy)
}

// readOnly runs fn in one read-only snapshot, so a page and its total agree
// even while the projector writes; it reads as workspaceID's tenant.
func (p *Postgres) readOnly(ctx context.Context, workspaceID string, fn func(tx pgx.Tx) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	if ws := projections.TenantOf(ctx); ws != "" || workspaceID != "" {
		if ws == "" {
			ws = workspaceID
		}
		return projections.ReadTx(ctx, p.Pool, ws, opts, fn)
	}
	tx, err := p.Pool.BeginTx(ctx, opts)
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
	err = p.readOnly(ctx, workspaceID, func(tx pgx.Tx) error {
		var charges int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(amount_microusd), 0)::bigint, count(*),
  coalesce(sum(input_tokens), 0)::bigint, coalesce(sum(output_tokens), 0)::bigint
FROM billing_charges WHERE workspace_id = $1 AND day BETWEEN $2::date AND $3::date AND mode = $4`,
			workspaceID, q.From.String(), q.To.String(), q.mode()).
			Scan(&page.Total.AmountMicroUSD, &charges, &page.Total.InputTokens, &page.Total.OutputTokens); err != nil {
			return err
		}
		page.Total.Charges = int(charges)
		rows, err := tx.Query(ctx, `SELECT grp, sum(amount_microusd)::bigint, count(*), sum(input_tokens)::bigint,
  sum(output_tokens)::bigint
FROM (SELECT `+groupExpr(q.GroupBy)+` COLLATE "C" AS grp, amount_microusd, input_tokens, output_tokens
      FROM billing_charges WHERE workspace_id = $1 AND day BETWEEN $2::date AND $3::date AND mode = $7) AS c
WHERE NOT $4::boolean OR grp > $5::text COLLATE "C"
GROUP BY grp ORDER BY grp LIMIT $6`,
			workspaceID, q.From.String(), q.To.String(), paged, after, limit+1, q.mode())
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

const chargeColumns = `mode, event_id, log_tx, log_seq, reservation_id, workspace_id, api_key_id, user_id, conversation_id,
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
	rows, err := projections.Query(ctx, p.Pool, workspaceID, `SELECT `+chargeColumns+` FROM billing_charges
WHERE workspace_id = $1 AND day BETWEEN $2::date AND $3::date AND (log_tx, log_seq) > ($4::bigint, $5::bigint)
ORDER BY log_tx, log_seq LIMIT $6`, workspaceID, from.String(), to.String(), int64(pos.Tx), int64(pos.Seq), limit+1)
	if err != nil {
		return ChargePage{}, fmt.Errorf("billing charges: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Charge, error) {
		var c Charge
		var tx, seq int64
		var day time.Time
		err := row.Scan(&c.Mode, &c.EventID, &tx, &seq, &c.ReservationID, &c.WorkspaceID, &c.APIKeyID, &c.UserID, &c.ConversationID,
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
	rows, err := p.Pool.Query(ctx, `SELECT DISTINCT workspace_id COLLATE "C" AS ws FROM billing_charges
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
