// Package postgres is the event store for deployments with Postgres (13 or
// later). Its one hard problem is the global order: an identity column hands
// out positions when rows are inserted, but rows appear when their
// transaction commits, so a reader that trusts positions alone can pass a
// hole that a slow transaction fills in later, and miss that event forever.
//
// The log is therefore ordered by (transaction id, position), and a reader
// only returns events whose transaction is older than every transaction
// still running (the xmin of its snapshot). Any transaction that could still
// add events has an id at or above that horizon, so nothing can ever land
// behind a position a reader has been given. The price is that one long
// transaction anywhere in the cluster holds back readers (not writers) until
// it ends; appends are kept short for that reason.
package postgres

import (
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// Store is an eventstore.Store over the tables of migration 00001, with
// the hash chain column and correlation index of 00006.
type Store struct {
	pool    *pgxpool.Pool
	changed eventstore.Tail
	commits committer
	reads   reader
	// OnAppend, when set, hears of every append of this store value (the
	// gateway tells its other processes with it, see pg.Wakeups).
	OnAppend func(es.Position)
}

var _ eventstore.Store = (*Store)(nil)

// New returns a store on pool, whose schema must be migrated (pg.Connect
// does that).
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool}
}

// Changed returns a channel closed after the next append through this
// Store. Appends by other processes are only seen by polling.
func (s *Store) Changed() <-chan struct{} { return s.changed.Wait() }

// Known is the furthest position this store value has seen appended.
func (s *Store) Known() es.Position { return s.changed.Known() }

func (s *Store) appended(p es.Position) {
	s.changed.Advance(p)
	if s.OnAppend != nil {
		s.OnAppend(p)
	}
}

// Observe records an append another process made (a wake-up told of it),
// so readers here look for it at once.
func (s *Store) Observe(p es.Position) { s.changed.Advance(p) }

// Close does nothing: the pool belongs to whoever created it and may serve
// read models too.
func (s *Store) Close() error { return nil }
