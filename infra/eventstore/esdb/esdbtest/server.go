// Package esdbtest is a TEST STAND-IN, NOT EventStoreDB. It is an
// in-process gRPC server built from the EventStoreDB client module's own
// generated protobuf services (Streams, ServerFeatures, Gossip), holding
// events in memory, so that the esdb adapter can be tested over real gRPC
// with the real client library on a machine without EventStoreDB.
//
// It imitates what the adapter relies on:
//
//   - Streams.Append (client streaming): expected revisions any, no_stream,
//     stream_exists and an exact revision, with EventStoreDB's answers:
//     WrongExpectedVersion carrying the current and expected revisions (in
//     the current fields and in the 20.6.0 ones), and EventStoreDB's
//     idempotency for a repeated write of the same event ids at the same
//     place, which succeeds without writing again.
//   - Streams.Read (server streaming) of a stream or of $all, forwards or
//     backwards, from the start, the end, a revision or a position, with a
//     count, NoFilter or a stream-name / event-type filter (prefixes or a
//     regular expression), structured or string UUIDs, and StreamNotFound
//     for a stream without events.
//   - Positions: every event gets its offset in a simulated transaction
//     log (growing by the size of each record, so there are gaps) as both
//     its commit and its prepare position, on $all reads and stream reads
//     alike. That is what current servers report for events written through
//     gRPC, which are "self-committed" prepares: only events of the legacy
//     TCP API's explicit transactions have a commit position (that of their
//     commit record) different from their prepare position. $all is ordered
//     by (commit, prepare).
//   - The position in a successful append's answer is that of the last
//     event written; a write that was already there (idempotent) answers
//     without a position, as the server does.
//   - ServerFeatures.GetSupportedMethods, which the client calls on every
//     connect, and Gossip.Read (only used with esdb+discover://), which
//     names this server as the only, leading member.
//
// Where it is simpler than EventStoreDB (keep this list in sync with the
// code):
//
//   - Memory only: nothing survives Close. There is no chunk file, no index,
//     no scavenging; positions are made up, not byte offsets of real records.
//   - No authentication, authorization or TLS: it serves insecure gRPC on
//     127.0.0.1 only; credentials are ignored and ACLs do not exist.
//   - Stream metadata ($$stream events such as $maxCount, $maxAge, $tb, $acl)
//     is stored as an ordinary stream and never applied.
//   - No Delete, Tombstone, BatchAppend, subscriptions (catch-up or
//     persistent), projections, operations or users services: those calls
//     answer Unimplemented. Links are never resolved (there are none).
//   - Idempotency is checked against the whole stream, exactly; EventStoreDB
//     checks exact expected revisions the same way but for es.AnyVersion
//     only consults a bounded cache of recent writes. A write that repeats
//     only some of the ids at that place is answered WrongExpectedVersion
//     (EventStoreDB reports it as a corrupted idempotency failure).
//   - There is no maximum append size, no write timeout and no
//     not-leader redirect; every append is applied at once under one lock,
//     so there is no window in which a written event is invisible.
//   - The only system events are one "$epoch-information" record written at
//     start and whatever a test adds with AppendSystemEvent; the server does
//     not write $stats, $scavenges or projection streams on its own.
//   - Filter regular expressions are Go (RE2) syntax, not .NET: lookarounds
//     are refused with InvalidArgument.
//   - GetSupportedMethods reports the protocol it imitates as server version
//     24.10.0 and lists only streams.read and streams.append.
package esdbtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// ServerVersion is what GetSupportedMethods reports: the EventStoreDB
// protocol generation this stand-in imitates, not a real server.
const ServerVersion = "24.10.0"

// Event is a stored event as the stand-in holds it.
type Event struct {
	ID          uuid.UUID
	Stream      string
	Revision    uint64
	Commit      uint64
	Prepare     uint64
	Type        string
	ContentType string
	Created     time.Time
	Data        []byte
	Metadata    []byte // custom (user) metadata
}

// Server is the test stand-in. Start one with Start or New.
type Server struct {
	grpc *grpc.Server
	lis  net.Listener

	mu      sync.Mutex
	log     []*Event            // ordered by (Commit, Prepare)
	streams map[string][]*Event // by revision
	next    uint64              // next prepare position
	hook    func(stream string)
	appends int
}

// recordOverhead is the simulated size of a log record without its
// variable parts, so that positions have gaps as EventStoreDB's do.
const recordOverhead = 96

// Start listens on a random port of 127.0.0.1 and serves until Close.
func Start() (*Server, error) { return StartAt("127.0.0.1:0") }

// StartAt listens on addr, which must be a loopback address (a restarted
// server takes the address of the one before it), and serves until Close.
func StartAt(addr string) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("esdbtest: %s is not a loopback address", addr)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("esdbtest: listen: %w", err)
	}
	s := &Server{lis: lis, streams: map[string][]*Event{}}
	// The client pings every 10s without streams; gRPC's default policy
	// (5 minutes, not without streams) would close its connection.
	s.grpc = grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		MinTime:             time.Second,
		PermitWithoutStream: true,
	}))
	streams.RegisterStreamsServer(s.grpc, &streamsService{s: s})
	serverfeatures.RegisterServerFeaturesServer(s.grpc, &featuresService{})
	gossip.RegisterGossipServer(s.grpc, &gossipService{s: s})
	// EventStoreDB's log never starts with a user event.
	s.AppendSystemEvent("$epoch-information", "$epoch-information", []byte(`{"epochNumber":0}`))
	go func() { _ = s.grpc.Serve(lis) }()
	return s, nil
}

// New starts a server that is closed when t ends.
func New(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// URL is the connection string for the esdb adapter and the client:
// insecure (tls=false), single node.
func (s *Server) URL() string { return "esdb://" + s.Addr() + "?tls=false" }

// Close stops the server at once, ending open calls.
func (s *Server) Close() { s.grpc.Stop() }

// SetAppendHook makes every Append call run hook(stream) after the request
// has arrived and before it is applied, outside the server's lock, so a
// test can slip another write in between (hook may call AppendDirect).
// nil removes the hook.
func (s *Server) SetAppendHook(hook func(stream string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = hook
}

// Appends is the number of writes (transactions) the log holds: client
// appends that wrote events, AppendDirect and AppendSystemEvent calls.
func (s *Server) Appends() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appends
}

// AppendSystemEvent writes one event as the server itself would (a
// $-prefixed stream or type), at the end of the log.
func (s *Server) AppendSystemEvent(stream, eventType string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.write(stream, []proposed{{id: uuid.New(), typ: eventType, contentType: "application/json", data: data}})
}

// AppendDirect writes events to the end of stream behind every client's
// back, without an expected-revision check, and returns their revisions.
func (s *Server) AppendDirect(stream, eventType string, data ...[]byte) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := make([]proposed, len(data))
	for i, d := range data {
		ps[i] = proposed{id: uuid.New(), typ: eventType, contentType: "application/json", data: d}
	}
	var out []uint64
	for _, e := range s.write(stream, ps) {
		out = append(out, e.Revision)
	}
	return out
}

// Tamper replaces the data of the event at revision of stream, as someone
// with access to the database files could, leaving everything else as it
// was.
func (s *Server) Tamper(stream string, revision uint64, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs := s.streams[stream]
	if revision >= uint64(len(evs)) {
		return fmt.Errorf("esdbtest: stream %s has no revision %d", stream, revision)
	}
	old := evs[revision]
	changed := *old
	changed.Data = slices.Clone(data)
	// Copy on write: readers may still hold the old pointer.
	evs[revision] = &changed
	i := sort.Search(len(s.log), func(i int) bool { return !s.log[i].before(old.Commit, old.Prepare) })
	s.log[i] = &changed
	return nil
}

// Events returns the stored events of the whole log, system events
// included, in log order.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Event, len(s.log))
	for i, e := range s.log {
		out[i] = *e
	}
	return out
}

func (e *Event) before(commit, prepare uint64) bool {
	if e.Commit != commit {
		return e.Commit < commit
	}
	return e.Prepare < prepare
}

type proposed struct {
	id          uuid.UUID
	typ         string
	contentType string
	data, meta  []byte
}

// write appends events to stream as one transaction. s.mu is held.
func (s *Server) write(stream string, ps []proposed) []*Event {
	if len(ps) == 0 {
		return nil
	}
	s.appends++
	now := time.Now().UTC()
	out := make([]*Event, len(ps))
	for i, p := range ps {
		e := &Event{
			ID:          p.id,
			Stream:      stream,
			Revision:    uint64(len(s.streams[stream])),
			Commit:      s.next, // self-committed: commit = prepare
			Prepare:     s.next,
			Type:        p.typ,
			ContentType: p.contentType,
			Created:     now,
			Data:        p.data,
			Metadata:    p.meta,
		}
		s.next += recordOverhead + uint64(len(stream)+len(p.typ)+len(p.data)+len(p.meta))
		s.streams[stream] = append(s.streams[stream], e)
		s.log = append(s.log, e)
		out[i] = e
	}
	return out
}

type streamsService struct {
	streams.UnimplementedStreamsServer
	s *Server
}

func (svc *streamsService) Append(srv streams.Streams_AppendServer) error {
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "the first append message must carry the options")
	}
	stream := string(opts.GetStreamIdentifier().GetStreamName())
	if stream == "" {
		return status.Error(codes.InvalidArgument, "empty stream name")
	}
	var ps []proposed
	for {
		m, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		pm := m.GetProposedMessage()
		if pm == nil {
			return status.Error(codes.InvalidArgument, "append messages after the first must be proposed messages")
		}
		id, err := fromProtoUUID(pm.GetId())
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "event id: %v", err)
		}
		typ, ok1 := pm.GetMetadata()["type"]
		ct, ok2 := pm.GetMetadata()["content-type"]
		if !ok1 || !ok2 || typ == "" {
			return status.Error(codes.InvalidArgument, "required metadata properties type and content-type missing")
		}
		ps = append(ps, proposed{id: id, typ: typ, contentType: ct, data: slices.Clone(pm.GetData()), meta: slices.Clone(pm.GetCustomMetadata())})
	}

	svc.s.mu.Lock()
	hook := svc.s.hook
	svc.s.mu.Unlock()
	if hook != nil {
		hook(stream)
	}

	svc.s.mu.Lock()
	resp, err := svc.s.appendChecked(stream, opts, ps)
	svc.s.mu.Unlock()
	if err != nil {
		return err
	}
	return srv.SendAndClose(resp)
}

// appendChecked applies EventStoreDB's expected-revision rules. s.mu is
// held.
func (s *Server) appendChecked(stream string, opts *streams.AppendReq_Options, ps []proposed) (*streams.AppendResp, error) {
	evs := s.streams[stream]
	current := int64(len(evs)) - 1 // -1: no stream
	var expected int64             // an exact revision, or -1 for no_stream
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Any:
		return s.appendAny(stream, ps, opts), nil
	case *streams.AppendReq_Options_StreamExists:
		if current < 0 {
			return wrongExpectedVersion(current, opts), nil
		}
		return s.appendAny(stream, ps, opts), nil
	case *streams.AppendReq_Options_NoStream:
		expected = -1
	case *streams.AppendReq_Options_Revision:
		expected = int64(e.Revision)
	default:
		return nil, status.Error(codes.InvalidArgument, "no expected stream revision")
	}
	switch {
	case current == expected:
		return s.success(s.write(stream, ps), current, true), nil
	case current > expected:
		// A retried write of events that are already there, right after
		// the expected revision, succeeds without writing them again.
		if matched, ok := idempotent(evs, int(expected+1), ps); ok {
			return s.success(matched, current, false), nil
		}
	}
	return wrongExpectedVersion(current, opts), nil
}

// appendAny writes without a revision check, unless the events are
// already the stream's events from the place of the first one on.
func (s *Server) appendAny(stream string, ps []proposed, opts *streams.AppendReq_Options) *streams.AppendResp {
	evs := s.streams[stream]
	current := int64(len(evs)) - 1
	if len(ps) > 0 {
		for i, e := range evs {
			if e.ID != ps[0].id {
				continue
			}
			if matched, ok := idempotent(evs, i, ps); ok {
				return s.success(matched, current, false)
			}
			return wrongExpectedVersion(current, opts)
		}
	}
	return s.success(s.write(stream, ps), current, true)
}

// idempotent reports whether ps are exactly the stored events from index
// from on, and returns those.
func idempotent(evs []*Event, from int, ps []proposed) ([]*Event, bool) {
	if len(ps) == 0 || from < 0 || from+len(ps) > len(evs) {
		return nil, false
	}
	for i, p := range ps {
		if evs[from+i].ID != p.id {
			return nil, false
		}
	}
	return evs[from : from+len(ps)], true
}

// success answers a write: written are the events the write stands for,
// new ones or (fresh false) ones that were already there; before is the
// stream's revision before it.
func (s *Server) success(written []*Event, before int64, fresh bool) *streams.AppendResp {
	ok := &streams.AppendResp_Success{}
	if len(written) > 0 {
		last := written[len(written)-1]
		ok.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: last.Revision}
		if fresh {
			ok.PositionOption = &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{
				CommitPosition: last.Commit, PreparePosition: last.Prepare,
			}}
		} else {
			ok.PositionOption = &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
		}
	} else if before < 0 {
		ok.CurrentRevisionOption = &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
		ok.PositionOption = &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	} else {
		ok.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(before)}
		ok.PositionOption = &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: ok}}
}

func wrongExpectedVersion(current int64, opts *streams.AppendReq_Options) *streams.AppendResp {
	w := &streams.AppendResp_WrongExpectedVersion{}
	if current < 0 {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	} else {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(current)}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(current)}
	}
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Revision:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: e.Revision}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: e.Revision}
	case *streams.AppendReq_Options_NoStream:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case *streams.AppendReq_Options_StreamExists:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	case *streams.AppendReq_Options_Any:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

func (svc *streamsService) Read(req *streams.ReadReq, srv streams.Streams_ReadServer) error {
	opts := req.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "read without options")
	}
	if opts.GetSubscription() != nil {
		return status.Error(codes.Unimplemented, "esdbtest (a test stand-in, not EventStoreDB) does not implement subscriptions")
	}
	count := opts.GetCount()
	backwards := opts.GetReadDirection() == streams.ReadReq_Options_Backwards
	stringIDs := opts.GetUuidOption().GetString_() != nil

	var (
		page     []*Event
		notFound string
		err      error
	)
	svc.s.mu.Lock()
	switch so := opts.GetStreamOption().(type) {
	case *streams.ReadReq_Options_Stream:
		page, notFound = svc.s.readStream(so.Stream, backwards, count)
	case *streams.ReadReq_Options_All:
		var keep func(*Event) bool
		if keep, err = filterOf(opts); err == nil {
			page = svc.s.readAll(so.All, backwards, count, keep)
		}
	default:
		err = status.Error(codes.InvalidArgument, "read of neither a stream nor $all")
	}
	svc.s.mu.Unlock()
	if err != nil {
		return err
	}

	if notFound != "" {
		return srv.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{StreamNotFound: &streams.ReadResp_StreamNotFound{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(notFound)},
		}}})
	}
	for _, e := range page {
		if err := srv.Send(toReadResp(e, stringIDs)); err != nil {
			return err
		}
	}
	return nil
}

// readStream returns up to count events of one stream, or the stream's
// name when it has no events. s.mu is held.
func (s *Server) readStream(so *streams.ReadReq_Options_StreamOptions, backwards bool, count uint64) ([]*Event, string) {
	name := string(so.GetStreamIdentifier().GetStreamName())
	evs := s.streams[name]
	if len(evs) == 0 {
		return nil, name
	}
	last := uint64(len(evs) - 1)
	var out []*Event
	if !backwards {
		var from uint64
		switch r := so.GetRevisionOption().(type) {
		case *streams.ReadReq_Options_StreamOptions_Revision:
			from = r.Revision
		case *streams.ReadReq_Options_StreamOptions_End:
			from = last + 1
		}
		for i := from; i <= last && uint64(len(out)) < count; i++ {
			out = append(out, evs[i])
		}
		return out, ""
	}
	from := last
	switch r := so.GetRevisionOption().(type) {
	case *streams.ReadReq_Options_StreamOptions_Revision:
		from = min(r.Revision, last)
	case *streams.ReadReq_Options_StreamOptions_Start:
		from = 0
	}
	for i := int64(from); i >= 0 && uint64(len(out)) < count; i-- {
		out = append(out, evs[i])
	}
	return out, ""
}

// readAll returns up to count events of $all that keep accepts. Forwards
// from a position includes the event at it; backwards from a position
// starts at the event before it, as EventStoreDB does. s.mu is held.
func (s *Server) readAll(ao *streams.ReadReq_Options_AllOptions, backwards bool, count uint64, keep func(*Event) bool) []*Event {
	// at is the index of the first event at or after the position.
	at := 0
	switch p := ao.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Position:
		c, pr := p.Position.GetCommitPosition(), p.Position.GetPreparePosition()
		at = sort.Search(len(s.log), func(i int) bool { return !s.log[i].before(c, pr) })
	case *streams.ReadReq_Options_AllOptions_End:
		at = len(s.log)
	case *streams.ReadReq_Options_AllOptions_Start:
		if backwards {
			return nil
		}
	}
	var out []*Event
	if !backwards {
		for i := at; i < len(s.log) && uint64(len(out)) < count; i++ {
			if keep(s.log[i]) {
				out = append(out, s.log[i])
			}
		}
		return out
	}
	for i := at - 1; i >= 0 && uint64(len(out)) < count; i-- {
		if keep(s.log[i]) {
			out = append(out, s.log[i])
		}
	}
	return out
}

// filterOf turns the read's filter into a predicate; no filter keeps all.
func filterOf(opts *streams.ReadReq_Options) (func(*Event) bool, error) {
	f := opts.GetFilter()
	if f == nil {
		return func(*Event) bool { return true }, nil
	}
	var (
		expr *streams.ReadReq_Options_FilterOptions_Expression
		of   func(*Event) string
	)
	switch x := f.GetFilter().(type) {
	case *streams.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr, of = x.StreamIdentifier, func(e *Event) string { return e.Stream }
	case *streams.ReadReq_Options_FilterOptions_EventType:
		expr, of = x.EventType, func(e *Event) string { return e.Type }
	default:
		return nil, status.Error(codes.InvalidArgument, "filter on neither stream identifier nor event type")
	}
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "esdbtest (a test stand-in, not EventStoreDB) only takes Go regular expressions: %v", err)
		}
		return func(e *Event) bool { return re.MatchString(of(e)) }, nil
	}
	prefixes := expr.GetPrefix()
	return func(e *Event) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(of(e), p) {
				return true
			}
		}
		return false
	}, nil
}

func toReadResp(e *Event, stringIDs bool) *streams.ReadResp {
	id := &shared.UUID{}
	if stringIDs {
		id.Value = &shared.UUID_String_{String_: e.ID.String()}
	} else {
		most, least := uuidBits(e.ID)
		id.Value = &shared.UUID_Structured_{Structured: &shared.UUID_Structured{MostSignificantBits: most, LeastSignificantBits: least}}
	}
	return &streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
		Event: &streams.ReadResp_ReadEvent_RecordedEvent{
			Id:               id,
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(e.Stream)},
			StreamRevision:   e.Revision,
			PreparePosition:  e.Prepare,
			CommitPosition:   e.Commit,
			Metadata: map[string]string{
				"type":         e.Type,
				"content-type": e.ContentType,
				// .NET ticks (100ns) since the Unix epoch, as the server sends.
				"created": strconv.FormatInt(e.Created.UnixNano()/100, 10),
			},
			CustomMetadata: e.Metadata,
			Data:           e.Data,
		},
		Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: e.Commit},
	}}}
}

func uuidBits(id uuid.UUID) (int64, int64) {
	var most, least uint64
	for i := range 8 {
		most = most<<8 | uint64(id[i])
		least = least<<8 | uint64(id[8+i])
	}
	return int64(most), int64(least)
}

func fromProtoUUID(u *shared.UUID) (uuid.UUID, error) {
	switch v := u.GetValue().(type) {
	case *shared.UUID_Structured_:
		var id uuid.UUID
		most, least := uint64(v.Structured.GetMostSignificantBits()), uint64(v.Structured.GetLeastSignificantBits())
		for i := range 8 {
			id[7-i] = byte(most >> (8 * i))
			id[15-i] = byte(least >> (8 * i))
		}
		return id, nil
	case *shared.UUID_String_:
		return uuid.Parse(v.String_)
	}
	return uuid.Nil, errors.New("missing")
}

type featuresService struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

func (featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	const svc = "event_store.client.streams.streams"
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: ServerVersion,
		Methods: []*serverfeatures.SupportedMethod{
			{MethodName: "read", ServiceName: svc},
			{MethodName: "append", ServiceName: svc},
		},
	}, nil
}

type gossipService struct {
	gossip.UnimplementedGossipServer
	s *Server
}

func (g *gossipService) Read(context.Context, *shared.Empty) (*gossip.ClusterInfo, error) {
	addr := g.s.lis.Addr().(*net.TCPAddr)
	most, least := uuidBits(uuid.NewSHA1(uuid.NameSpaceURL, []byte(g.s.Addr())))
	return &gossip.ClusterInfo{Members: []*gossip.MemberInfo{{
		InstanceId:   &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{MostSignificantBits: most, LeastSignificantBits: least}}},
		TimeStamp:    time.Now().UnixNano() / 100,
		State:        gossip.MemberInfo_Leader,
		IsAlive:      true,
		HttpEndPoint: &gossip.EndPoint{Address: addr.IP.String(), Port: uint32(addr.Port)},
	}}}, nil
}
