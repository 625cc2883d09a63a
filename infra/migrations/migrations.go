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
	files, err := fs.Sub(embedded, "sql")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// Lock attempts are retried every second for up to five minutes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// Closing this *sql.DB does not close the pool it borrows from.
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, files,
		goose.WithSessionLocker(locker),
		// Go migrations registered globally by any imported package must
		// not sneak into this schema.
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("migrations: apply: %w", err)
	}
	return nil
}
