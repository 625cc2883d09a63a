// Package migrations owns the Postgres schema. Migrations are SQL files
// embedded in the binary, so a deployed gateway upgrades its own database
// on start and no migration tool has to ship beside it. Files are named
// NNNNN_what.sql and applied in that order by goose.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed sql/*.sql
var embedded embed.FS

// Up applies every migration the database has not seen yet. Several
// gateway processes may start at once against one database: a session-level
// advisory lock makes the others wait until the first has finished, after
// which they find nothing to do. goose stays quiet unless it fails.
func Up(ctx context.Context, pool *pgxpool.Pool) error {
	provider, closeDB, err := newProvider(pool)
	if err != nil {
		return err
	}
	defer closeDB()
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("migrations: apply: %w", err)
	}
	return nil
}

// newProvider is goose over the embedded files, on a *sql.DB borrowed
// from pool (closing it does not close the pool).
func newProvider(pool *pgxpool.Pool) (*goose.Provider, func(), error) {
	files, err := fs.Sub(embedded, "sql")
	if err != nil {
		return nil, nil, fmt.Errorf("migrations: %w", err)
	}
	// Lock attempts are retried every second for up to five minutes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, nil, fmt.Errorf("migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	provider, err := goose.NewProvider(goose.DialectPostgres, db, files,
		goose.WithSessionLocker(locker),
		// Go migrations registered globally by any imported package must
		// not sneak into this schema.
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("migrations: %w", err)
	}
	return provider, func() { db.Close() }, nil
}
