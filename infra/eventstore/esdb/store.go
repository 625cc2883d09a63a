// Package esdb is the event store on EventStoreDB (KurrentDB), through the
// official gRPC client EventStore-Client-Go v4. The gateway selects it with
// EVENTSTORE_URL, a connection string such as esdb://host:2113?tls=false or
// esdb+discover://cluster:2113.
//
// How the port maps onto EventStoreDB:
//
//   - A stream is an EventStoreDB stream of the same name (prefixed by the
//     namespace, see WithNamespace). Our version n is EventStoreDB revision
//     n-1: the first event has version 1 and revision 0.
//   - Positions in the global log are $all positions: Tx is the commit
//     position and Seq the prepare position, and ordering by (commit,
//     prepare) is the server's log order. Events written through gRPC are
//     self-committed, so both are the event's own log position; they only
//     differ for events of the legacy TCP API's explicit transactions, which
//     carry the position of their commit record. Positions are assigned by
//     the single writer as events are written, and $all is only ever read up
//     to what has been written, so no event can turn up before a position
//     already handed out: ReadAll needs no waiting (unlike Postgres).
//   - System events ($-prefixed streams or types) and this adapter's own
//     bookkeeping streams (prefix "_gateway-", see below) never appear in
//     ReadAll, ReadCorrelated or Head.
//   - Appends check the expected version on the server: es.NoStream is
//     EventStoreDB's NoStream, version n ≥ 1 is revision n-1, and
//     es.AnyVersion reads the stream's last event (to link the hash chain)
//     and appends at exactly that revision, retrying when someone else got
//     there first, so that the chain stays linear.
//   - Every event carries our es.Metadata (with the chain hash) as its
//     custom metadata JSON, plus "$correlationId" and "$causationId" so
//     EventStoreDB's own $by_correlation_id projection works on it.
//
// Event ids are unique across the store, as the port requires, which
// EventStoreDB itself does not enforce (it only makes a repeated write of
// the same ids at the same place idempotent). The adapter claims each id in
// a stream "_gateway-eventid-<id>" before appending; see claim.go for the
// protocol and its limits. Checkpoints live in "_gateway-checkpoint-<name>"
// streams, the last event winning (with $maxCount 1 so old ones are
// scavenged). ReadCorrelated is a scan of $all.
package esdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

const (
	// internalPrefix starts the names of the adapter's own streams. User
	// streams may not start with it (nor with "$", EventStoreDB's system
	// prefix).
	internalPrefix   = "_gateway-"
	claimPrefix      = internalPrefix + "eventid-"
	checkpointPrefix = internalPrefix + "checkpoint-"

	// pageSize bounds each read request.
	pageSize = 512
	// defaultClaimTTL is how long an unreleased claim whose event did not
	// land blocks its id (see claim.go).
	defaultClaimTTL = 2 * time.Minute
	// appendTimeout bounds one append request, so that a claim's owner is
	// long done with it before the claim can expire.
	appendTimeout = 20 * time.Second
	// closeWait bounds how long Close waits for running calls.
	closeWait = 5 * time.Second
)

// Store is an eventstore.Store on EventStoreDB.
type Store struct {
	cfg   *esdbclient.Configuration
	where string // the server, for errors: scheme and hosts, never credentials
	ns    string // namespace prefix of every stream name, "" for none

	mu     sync.Mutex
	client *esdbclient.Client
	closed bool
	ops    sync.WaitGroup

	changed eventstore.Tail

	// claimTTL and now are fields so tests can change them.
	claimTTL time.Duration
	now      func() time.Time
}

var _ eventstore.Store = (*Store)(nil)

// Option changes how Open sets up the store.
type Option func(*Store) error

// WithNamespace keeps the store's streams apart from everything else on
// the server: every stream name gets the prefix ns+"/", and ReadAll,
// ReadCorrelated and Head only see the namespace's events. Several
// gateways (or test runs) can so share one EventStoreDB, much like
// Postgres schemas. Event-id uniqueness and checkpoints are per namespace.
func WithNamespace(ns string) Option {
	return func(s *Store) error {
		if ns == "" || !utf8.ValidString(ns) || strings.ContainsAny(ns, "\x00/") || strings.HasPrefix(ns, "$") {
			return fmt.Errorf("namespace %q must be non-empty UTF-8 without NUL or '/' and must not start with '$'", ns)
		}
		s.ns = ns + "/"
		return nil
	}
}

// Open connects to the EventStoreDB that url names (esdb:// or
// esdb+discover://) and checks it answers with a cheap read of $all, which
// the store needs anyway. Errors name the server, never its credentials.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	where := describe(url)
	cfg, err := esdbclient.ParseConnectionString(url)
	if err != nil {
		// url.Parse errors quote the whole URL, password included.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("eventstore: the EventStoreDB connection string for %s is invalid: %v", where, err)
	}
	cfg.Logger = clientLog
	s := &Store{cfg: cfg, where: where, claimTTL: defaultClaimTTL, now: time.Now}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("eventstore: %w", err)
		}
	}
	if s.client, err = esdbclient.NewClient(cfg); err != nil {
		return nil, fmt.Errorf("eventstore: EventStoreDB client for %s: %w", where, err)
	}
	if err := s.ping(ctx); err != nil {
		return nil, fmt.Errorf("eventstore: cannot reach EventStoreDB at %s: %w", where, err)
	}
	return s, nil
}

// ping reads the last event of $all and closes the client if that fails.
// The client discovers the node without looking at ctx, so the read runs
// aside and ctx is honoured here; the client is then only closed once the
// read has given up (closing it under a running call can panic in the
// client library).
func (s *Store) ping(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		_, err := s.readAllRaw(ctx, esdbclient.Backwards, esdbclient.End{}, 1)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			_ = s.client.Close()
		}
		return err
	case <-ctx.Done():
		go func() {
			<-done
			_ = s.client.Close()
		}()
		return ctx.Err()
	}
}

// describe names the server of a connection string for messages: its
// scheme and hosts, without user info or settings.
func describe(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return "(connection string without scheme)"
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	return scheme + "://" + rest
}

// clientLog sends the client library's own log lines to slog at debug
// level: everything it reports as an error also reaches the caller.
func clientLog(level esdbclient.LogLevel, format string, args ...any) {
	slog.Debug("eventstoredb client: "+fmt.Sprintf(format, args...), "level", level)
}

// Changed returns a channel closed after the next append through s.
func (s *Store) Changed() <-chan struct{} { return s.changed.Wait() }

// Known is the furthest position this store value has seen appended.
func (s *Store) Known() es.Position { return s.changed.Known() }

// Close waits (briefly) for running calls and closes the connection.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.ops.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeWait):
		// Closing the client under a running call can make the client
		// library panic (it reports errors on a channel Close closes).
		return fmt.Errorf("eventstore: close: calls to %s still running after %s; connection left to the process exit", s.where, closeWait)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client.Close()
}

// begin registers a running call and returns the client to use.
func (s *Store) begin() (*esdbclient.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("eventstore: store is closed")
	}
	s.ops.Add(1)
	return s.client, nil
}

func (s *Store) end() { s.ops.Done() }

// check looks at an error of the client. After a failed discovery the
// client closes itself for good and answers everything with
// ErrorCodeConnectionClosed; the store then replaces it, so that it
// recovers once the server is back instead of needing a restart.
func (s *Store) check(c *esdbclient.Client, err error) error {
	var e *esdbclient.Error
	if !errors.As(err, &e) || e.Code() != esdbclient.ErrorCodeConnectionClosed {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.client != c {
		return err
	}
	fresh, nerr := esdbclient.NewClient(s.cfg)
	if nerr != nil {
		return err
	}
	// The dead client is dropped, not closed: its connection is already
	// gone, and closing it could panic a call of it that is still stuck
	// reporting an error to its stopped connection loop.
	s.client = fresh
	return fmt.Errorf("EventStoreDB at %s was unreachable, reconnecting: %w", s.where, err)
}

// raw is the EventStoreDB name of one of our streams.
func (s *Store) raw(stream string) string { return s.ns + stream }

// checkNames refuses what EventStoreDB would treat as system data, or what
// the adapter uses itself, so that every appended event shows in ReadAll.
func checkNames(stream string, events []es.Event) error {
	if strings.HasPrefix(stream, "$") || internal(stream) {
		return fmt.Errorf("%w: stream name %q: names starting with $ are EventStoreDB system streams, %s is reserved for the adapter", eventstore.ErrInvalidAppend, stream, internalPrefix)
	}
	for _, ev := range events {
		if strings.HasPrefix(ev.Type, "$") {
			return fmt.Errorf("%w: stream %s event %s: types starting with $ are EventStoreDB system events", eventstore.ErrInvalidAppend, stream, ev.ID)
		}
	}
	return nil
}

// errorCode is the client's code of err, or -1.
func errorCode(err error) esdbclient.ErrorCode {
	var e *esdbclient.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return -1
}

func toPosition(p esdbclient.Position) es.Position {
	return es.Position{Tx: p.Commit, Seq: p.Prepare}
}
