// Package eventstoretest is the contract every eventstore.Store adapter is
// held to. Each adapter's tests call Run with a constructor for an empty
// store; the suite then checks appends, optimistic concurrency, duplicate
// detection, the global log, checkpoints, hash chains, reads by correlation
// id and, above all, that a catch-up subscriber racing many appenders sees
// every event exactly once. Adapters
// differ in how they get there (a single counter in bbolt, transaction ids
// in Postgres), which is why one suite, not one test file per adapter, has
// to say what "right" means.
package eventstoretest

import (
	"context"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// SlowAppend appends events to a new stream like Store.Append with
// es.NoStream, except that once the events have taken their place in the
// global order, and before they are committed, it calls hold and does not
// commit until hold returns. hold may be called more than once if the
// adapter retries internally; it returns an error only when ctx ends. The
// race test uses it to make one append commit after appends that came later
// in the log, which is exactly what a careless reader skips.
type SlowAppend func(ctx context.Context, s eventstore.Store, stream string, events []es.Event, hold func(context.Context) error) (es.AppendResult, error)

// Option tunes the suite for what an adapter can do.
type Option func(*config)

type config struct {
	reopen     func(t *testing.T, old eventstore.Store) eventstore.Store
	slowAppend SlowAppend
	tamper     Tamper
}

// Tamper changes the stored data of the event at version of stream behind
// the store's back, as someone with access to the storage (a database
// superuser, the data file) could, and returns the store to read from
// afterwards: st itself, or st reopened if the storage cannot be changed
// while st has it open.
type Tamper func(t *testing.T, st eventstore.Store, stream string, version int64) eventstore.Store

// WithTamper enables the test that a changed event breaks its stream's
// hash chain where it was changed.
func WithTamper(f Tamper) Option {
	return func(c *config) { c.tamper = f }
}

// WithReopen enables the durability test: reopen must close old and return
// a store over the same storage, as a restarted process would see it.
func WithReopen(reopen func(t *testing.T, old eventstore.Store) eventstore.Store) Option {
	return func(c *config) { c.reopen = reopen }
}

// WithSlowAppend makes the catch-up race include one append whose
// transaction stays open while the other appenders commit after it. Only
// adapters where appends can overlap in time (Postgres) can offer it.
func WithSlowAppend(f SlowAppend) Option {
	return func(c *config) { c.slowAppend = f }
}

// Run runs the contract against stores made by newStore. newStore must
// return an empty store and register cleanup of whatever it created (files,
// databases) with t.Cleanup; the suite closes the store itself.
func Run(t *testing.T, newStore func(t *testing.T) eventstore.Store, opts ...Option) {
	s := &suite{newStore: newStore}
	for _, o := range opts {
		o(&s.cfg)
	}
	t.Run("AppendToNewStreamAndReadBack", s.testAppendAndReadBack)
	t.Run("ReadStreamAfterVersion", s.testReadStreamAfterVersion)
	t.Run("ExpectedVersionConflicts", s.testExpectedVersionConflicts)
	t.Run("ConcurrentExactAppendsToOneStream", s.testConcurrentExactAppends)
	t.Run("DuplicateEventID", s.testDuplicateEventID)
	t.Run("InvalidAppend", s.testInvalidAppend)
	t.Run("GuardedAppends", s.testGuardedAppends)
	t.Run("ManyWritersAtOnce", s.testManyWritersAtOnce)
	t.Run("ReadAllPagesInOrder", s.testReadAllPages)
	t.Run("HeadIsLastEvent", s.testHead)
	t.Run("ChangedClosesAfterAppend", s.testChanged)
	t.Run("Checkpoints", s.testCheckpoints)
	t.Run("CatchUpSubscriberRace", s.testCatchUpRace)
	if s.cfg.reopen != nil {
		t.Run("SurvivesReopen", s.testSurvivesReopen)
	}
	t.Run("HashChainOnEveryEvent", s.testHashChainOnEveryEvent)
	t.Run("HashChainSurvivesStorage", s.testHashChainSurvivesStorage)
	t.Run("HashChainUnderConcurrentAppends", s.testHashChainUnderConcurrentAppends)
	if s.cfg.tamper != nil {
		t.Run("TamperedEventBreaksTheChain", s.testTamperedEventBreaksTheChain)
	}
	t.Run("ReadCorrelated", s.testReadCorrelated)
	if s.cfg.slowAppend != nil {
		t.Run("ReadCorrelatedWaitsForSlowCommits", s.testReadCorrelatedWaitsForSlowCommits)
	}
}

type suite struct {
	newStore func(t *testing.T) eventstore.Store
	cfg      config
}

// open makes a fresh store that is closed when t ends.
func (s *suite) open(t *testing.T) eventstore.Store {
	t.Helper()
	st := s.newStore(t)
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return st
}
