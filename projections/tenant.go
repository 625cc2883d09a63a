package projections

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TenantRole is the Postgres role every read on a caller's behalf runs
// as (migration 00014). Its row-level security policies let it see one
// workspace's rows, the one in app.workspace_id, and none without it: a
// query that forgets its WHERE still cannot reach another tenant.
const TenantRole = "gateway_tenant"

type tenantKey struct{}

// WithTenant marks ctx as work on behalf of one workspace: every read
// model read under it runs as TenantRole for that workspace. The HTTP
// and MCP front doors set it once a caller is known, and the tool catalog
// for each call the agent makes.
func WithTenant(ctx context.Context, workspaceID string) context.Context {
	return context.WithValue(ctx, tenantKey{}, workspaceID)
}

type sandboxKey struct{}

// WithSandbox marks ctx as work for a test API key: reads see the
// workspace's sandbox (the records test keys made) instead of its live
// data. Only the tool catalog sets it, from the conversation's mode.
func WithSandbox(ctx context.Context, sandbox bool) context.Context {
	return context.WithValue(ctx, sandboxKey{}, sandbox)
}

// Sandboxed reports whether ctx reads the sandbox (see WithSandbox).
func Sandboxed(ctx context.Context) bool {
	sb, _ := ctx.Value(sandboxKey{}).(bool)
	return sb
}

// sandboxSetting is app.sandbox for ctx, which the policies of tables
// holding sandbox rows compare with their sandbox column.
func sandboxSetting(ctx context.Context) string {
	if Sandboxed(ctx) {
		return "on"
	}
	return "off"
}

// TenantOf is the workspace ctx works for, "" when none (projectors and
// sweeps, which read every tenant as the owner role).
func TenantOf(ctx context.Context) string {
	ws, _ := ctx.Value(tenantKey{}).(string)
	return ws
}

// ReadTx runs fn in a transaction of opts as TenantRole for workspaceID
// (one that is not a uuid sees nothing). SET LOCAL ends with the
// transaction, so the pooled connection goes back as the owner.
func ReadTx(ctx context.Context, pool *pgxpool.Pool, workspaceID string, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	if !IsUUID(workspaceID) {
		workspaceID = ""
	}
	tx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, setTenant, TenantRole, workspaceID, sandboxSetting(ctx)); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Query is pool.Query read as the tenant ctx works for (WithTenant) or,
// when ctx names none, as workspaceID's (a store method scoped to one).
// With neither it reads as the owner role, across tenants: that is for
// background work only. It costs one round trip, as pool.Query does:
// the setting and the query go out as one pipelined batch, which Postgres
// runs as one implicit transaction, so the role and workspace hold for
// the query and end with it. The rows end the batch when closed.
func Query(ctx context.Context, pool *pgxpool.Pool, workspaceID, sql string, args ...any) (pgx.Rows, error) {
	ws := TenantOf(ctx)
	if ws == "" {
		ws = workspaceID
	}
	if ws == "" {
		return pool.Query(ctx, sql, args...)
	}
	if !IsUUID(ws) {
		ws = ""
	}
	b := &pgx.Batch{}
	b.Queue(setTenant, TenantRole, ws, sandboxSetting(ctx))
	b.Queue(sql, args...)
	br := pool.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &tenantRows{Rows: rows, end: func() { _ = br.Close() }}, nil
}

// setTenant takes the role and the workspace for the current transaction
// only (set_config's is_local).
const setTenant = `SELECT set_config('role', $1, true), set_config('app.workspace_id', $2, true),
  set_config('app.sandbox', $3, true)`

// QueryRow is pool.QueryRow read as the tenant (see Query).
func QueryRow(ctx context.Context, pool *pgxpool.Pool, workspaceID, sql string, args ...any) pgx.Row {
	return rowFunc(func(dest ...any) error {
		rows, err := Query(ctx, pool, workspaceID, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			return pgx.ErrNoRows
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		rows.Close()
		return rows.Err()
	})
}

type rowFunc func(dest ...any) error

func (f rowFunc) Scan(dest ...any) error { return f(dest...) }

// tenantRows ends their read-only transaction (a rollback: it wrote
// nothing) once closed.
type tenantRows struct {
	pgx.Rows
	end  func()
	done bool
}

func (r *tenantRows) Close() {
	r.Rows.Close()
	if !r.done {
		r.done = true
		r.end()
	}
}

func (r *tenantRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

// Unscoped is ctx without a tenant, for the one kind of read a request
// makes across tenants: finding whose a token or an API key is, which
// must happen before the tenant is known (and say "someone else's key"
// rather than "no such key" when it belongs elsewhere).
func Unscoped(ctx context.Context) context.Context {
	if TenantOf(ctx) == "" {
		return ctx
	}
	return WithTenant(ctx, "")
}
