// Package stores opens what the gateway keeps its data in: the event log
// (the embedded file, Postgres or EventStoreDB) and the read models'
// database (Postgres, or none when they live in memory). The server and
// every command-line tool open them here, so they always agree on where
// the data is.
package stores

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore/bolt"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore/esdb"
	pgstore "github.com/sois-ai/chat-agent-gateway/infra/eventstore/postgres"
	"github.com/sois-ai/chat-agent-gateway/infra/pg"
)

// Config says where the data is, as the gateway's environment does.
type Config struct {
	DataDir       string // GATEWAY_DATA_DIR: the embedded store's directory
	DatabaseURL   string // DATABASE_URL: read models (and events, without EventStoreURL)
	EventStoreURL string // EVENTSTORE_URL: events in EventStoreDB
	Pool          pg.Options
	// Existing is for tools that read what a gateway wrote: they never
	// create an empty embedded store, and say so when there is none.
	Existing bool
}

// Embedded reports whether no database is configured.
func (c Config) Embedded() bool { return c.DatabaseURL == "" }

// Stores are the opened stores.
type Stores struct {
	// Log is the event log.
	Log eventstore.Store
	// Pool is the read models' database; nil when they live in memory.
	Pool *pgxpool.Pool
	// PgLog is Log when the events are in Pool's events table.
	PgLog *pgstore.Store
	// Backend names where the events are: embedded, postgres or
	// eventstoredb.
	Backend string
}

// Open opens the stores cfg names. Errors say which setting to look at.
func Open(ctx context.Context, cfg Config) (*Stores, error) {
	s := &Stores{}
	if !cfg.Embedded() {
		pool, err := pg.Connect(ctx, cfg.DatabaseURL, cfg.Pool)
		if err != nil {
			return nil, err
		}
		s.Pool = pool
	}
	switch {
	case cfg.EventStoreURL != "":
		st, err := esdb.Open(ctx, cfg.EventStoreURL)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("EVENTSTORE_URL: %w", err)
		}
		s.Log, s.Backend = st, "eventstoredb"
	case cfg.Embedded():
		path := filepath.Join(cfg.DataDir, "events.db")
		if cfg.Existing {
			if _, err := os.Stat(path); err != nil {
				return nil, fmt.Errorf("no embedded event store at %s (set GATEWAY_DATA_DIR to the gateway's data directory, or DATABASE_URL for Postgres): %w", path, err)
			}
		}
		st, err := bolt.Open(path)
		switch {
		case err != nil && cfg.Existing:
			return nil, fmt.Errorf("%w (the embedded store admits one process: stop the gateway, then run this again)", err)
		case err != nil:
			return nil, fmt.Errorf("open the embedded event store in %s: %w", cfg.DataDir, err)
		}
		s.Log, s.Backend = st, "embedded"
	default:
		s.PgLog = pgstore.New(s.Pool)
		s.Log, s.Backend = s.PgLog, "postgres"
	}
	return s, nil
}

// Close closes what Open opened.
func (s *Stores) Close() {
	if s == nil {
		return
	}
	if s.Log != nil {
		_ = s.Log.Close()
	}
	if s.Pool != nil {
		s.Pool.Close()
	}
}
