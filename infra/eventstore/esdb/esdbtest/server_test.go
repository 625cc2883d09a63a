package esdbtest_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sois-ai/chat-agent-gateway/infra/eventstore/esdb/esdbtest"
)

// These tests hold the stand-in to the EventStoreDB behaviour the adapter
// relies on, through the real client library.

func client(t *testing.T, srv *esdbtest.Server) *esdbclient.Client {
	t.Helper()
	cfg, err := esdbclient.ParseConnectionString(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = esdbclient.NoopLogging()
	c, err := esdbclient.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func event(id uuid.UUID, typ string) esdbclient.EventData {
	return esdbclient.EventData{EventID: id, EventType: typ, ContentType: esdbclient.ContentTypeJson, Data: []byte(`{}`)}
}

func read(rs *esdbclient.ReadStream, err error) ([]*esdbclient.RecordedEvent, error) {
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []*esdbclient.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev.Event)
	}
}

func TestExpectedRevisions(t *testing.T) {
	srv := esdbtest.New(t)
	c := client(t, srv)
	ctx := t.Context()
	a, b := uuid.New(), uuid.New()
	wr, err := c.AppendToStream(ctx, "s", esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.NoStream{}}, event(a, "A"), event(b, "B"))
	if err != nil || wr.NextExpectedVersion != 1 || wr.CommitPosition == 0 {
		t.Fatalf("first append = %+v, %v", wr, err)
	}
	// The same ids at the same place again: idempotent, nothing written.
	wr2, err := c.AppendToStream(ctx, "s", esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.NoStream{}}, event(a, "A"), event(b, "B"))
	if err != nil || wr2.NextExpectedVersion != 1 || wr2.CommitPosition != 0 {
		t.Fatalf("idempotent append = %+v, %v; want revision 1 without a position", wr2, err)
	}
	if n := srv.Appends(); n != 2 { // the epoch record and the first append
		t.Fatalf("the server wrote %d times, want 2", n)
	}
	for _, c2 := range []struct {
		exp  esdbclient.ExpectedRevision
		want string
	}{
		{esdbclient.NoStream{}, "expecting 'no_stream' but got '1'"},
		{esdbclient.StreamRevision{Value: 0}, "expecting '0' but got '1'"},
		{esdbclient.StreamRevision{Value: 5}, "expecting '5' but got '1'"},
	} {
		_, err := c.AppendToStream(ctx, "s", esdbclient.AppendToStreamOptions{ExpectedRevision: c2.exp}, event(uuid.New(), "C"))
		var e *esdbclient.Error
		if !errors.As(err, &e) || e.Code() != esdbclient.ErrorCodeWrongExpectedVersion || !strings.Contains(err.Error(), c2.want) {
			t.Errorf("append at %T%v: err = %v, want WrongExpectedVersion %q", c2.exp, c2.exp, err, c2.want)
		}
	}
	_, err = c.AppendToStream(ctx, "missing", esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.StreamRevision{Value: 0}}, event(uuid.New(), "C"))
	if err == nil || !strings.Contains(err.Error(), "but got 'no_stream'") {
		t.Errorf("exact append to a missing stream: err = %v", err)
	}
	_, err = c.AppendToStream(ctx, "missing", esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.StreamExists{}}, event(uuid.New(), "C"))
	if err == nil {
		t.Errorf("stream-exists append to a missing stream succeeded")
	}
	if wr, err := c.AppendToStream(ctx, "s", esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.Any{}}, event(uuid.New(), "C")); err != nil || wr.NextExpectedVersion != 2 {
		t.Fatalf("any append = %+v, %v", wr, err)
	}
}

func TestReads(t *testing.T) {
	srv := esdbtest.New(t)
	c := client(t, srv)
	ctx := t.Context()
	for i := range 3 {
		if _, err := c.AppendToStream(ctx, "s", esdbclient.AppendToStreamOptions{}, event(uuid.New(), "E"), event(uuid.New(), "E")); err != nil {
			t.Fatal(err)
		}
		srv.AppendSystemEvent("$stats", "$statsCollected", []byte(`{"i":`+string(rune('0'+i))+`}`))
	}
	_, err := read(c.ReadStream(ctx, "missing", esdbclient.ReadStreamOptions{}, 10))
	var e *esdbclient.Error
	if !errors.As(err, &e) || e.Code() != esdbclient.ErrorCodeResourceNotFound {
		t.Fatalf("read of a missing stream: err = %v, want ResourceNotFound", err)
	}
	evs, err := read(c.ReadStream(ctx, "s", esdbclient.ReadStreamOptions{From: esdbclient.Revision(4)}, 10))
	if err != nil || len(evs) != 2 || evs[0].EventNumber != 4 {
		t.Fatalf("forwards from revision 4 = %d events, %v", len(evs), err)
	}
	evs, err = read(c.ReadStream(ctx, "s", esdbclient.ReadStreamOptions{Direction: esdbclient.Backwards, From: esdbclient.End{}}, 2))
	if err != nil || len(evs) != 2 || evs[0].EventNumber != 5 || evs[1].EventNumber != 4 {
		t.Fatalf("backwards from the end = %v, %v", evs, err)
	}

	all, err := read(c.ReadAll(ctx, esdbclient.ReadAllOptions{}, 100))
	if err != nil || len(all) != 10 { // epoch, 6 events, 3 stats
		t.Fatalf("read all = %d events, %v; want 10", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		p, q := all[i-1].Position, all[i].Position
		if p.Commit >= q.Commit || q.Commit != q.Prepare {
			t.Fatalf("positions %v then %v: want increasing, commit = prepare", p, q)
		}
	}
	// Forwards from a position includes its event; backwards excludes it.
	from := all[3].Position
	fw, err := read(c.ReadAll(ctx, esdbclient.ReadAllOptions{From: from}, 2))
	if err != nil || len(fw) != 2 || fw[0].EventID != all[3].EventID {
		t.Fatalf("forwards from %v = %d events, %v", from, len(fw), err)
	}
	bw, err := read(c.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: esdbclient.Backwards, From: from}, 2))
	if err != nil || len(bw) != 2 || bw[0].EventID != all[2].EventID || bw[1].EventID != all[1].EventID {
		t.Fatalf("backwards from %v = %d events, %v", from, len(bw), err)
	}
	if created := all[1].CreatedDate; time.Since(created) > time.Minute || time.Since(created) < 0 {
		t.Errorf("created %s is not now", created)
	}
}

// TestFilters sends filtered $all reads as the protocol allows (the v4
// client only sends filters with subscriptions).
func TestFilters(t *testing.T) {
	srv := esdbtest.New(t)
	srv.AppendDirect("orders-1", "OrderPlaced", []byte(`{}`), []byte(`{}`))
	srv.AppendDirect("users-1", "UserJoined", []byte(`{}`))
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	count := func(filter *streams.ReadReq_Options_FilterOptions) (int, error) {
		req := &streams.ReadReq{Options: &streams.ReadReq_Options{
			StreamOption: &streams.ReadReq_Options_All{All: &streams.ReadReq_Options_AllOptions{
				AllOption: &streams.ReadReq_Options_AllOptions_Start{Start: &shared.Empty{}},
			}},
			CountOption:  &streams.ReadReq_Options_Count{Count: 100},
			FilterOption: &streams.ReadReq_Options_Filter{Filter: filter},
			UuidOption:   &streams.ReadReq_Options_UUIDOption{Content: &streams.ReadReq_Options_UUIDOption_String_{String_: &shared.Empty{}}},
		}}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		rc, err := streams.NewStreamsClient(conn).Read(ctx, req)
		if err != nil {
			return 0, err
		}
		n := 0
		for {
			m, err := rc.Recv()
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			if _, perr := uuid.Parse(m.GetEvent().GetEvent().GetId().GetString_()); perr != nil {
				return n, perr
			}
			n++
		}
	}
	for _, c := range []struct {
		name   string
		filter *streams.ReadReq_Options_FilterOptions
		want   int
	}{
		{"stream prefix", &streams.ReadReq_Options_FilterOptions{Filter: &streams.ReadReq_Options_FilterOptions_StreamIdentifier{
			StreamIdentifier: &streams.ReadReq_Options_FilterOptions_Expression{Prefix: []string{"orders-"}}}}, 2},
		{"type regex", &streams.ReadReq_Options_FilterOptions{Filter: &streams.ReadReq_Options_FilterOptions_EventType{
			EventType: &streams.ReadReq_Options_FilterOptions_Expression{Regex: `^[^$]`}}}, 3},
	} {
		if n, err := count(c.filter); err != nil || n != c.want {
			t.Errorf("%s: %d events, %v; want %d", c.name, n, err, c.want)
		}
	}
}

func TestTamper(t *testing.T) {
	srv := esdbtest.New(t)
	c := client(t, srv)
	srv.AppendDirect("s", "E", []byte(`{"a":1}`), []byte(`{"a":2}`))
	if err := srv.Tamper("s", 1, []byte(`{"a":3}`)); err != nil {
		t.Fatal(err)
	}
	for _, rs := range []func() (*esdbclient.ReadStream, error){
		func() (*esdbclient.ReadStream, error) {
			return c.ReadStream(t.Context(), "s", esdbclient.ReadStreamOptions{From: esdbclient.Revision(1)}, 1)
		},
		func() (*esdbclient.ReadStream, error) {
			return c.ReadAll(t.Context(), esdbclient.ReadAllOptions{Direction: esdbclient.Backwards, From: esdbclient.End{}}, 1)
		},
	} {
		evs, err := read(rs())
		if err != nil || len(evs) != 1 || string(evs[0].Data) != `{"a":3}` {
			t.Errorf("tampered event reads as %v, %v", evs, err)
		}
	}
	if err := srv.Tamper("s", 2, nil); err == nil {
		t.Errorf("tampering with a missing revision succeeded")
	}
}
