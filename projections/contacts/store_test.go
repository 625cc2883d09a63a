package contacts

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/projections/projectiontest"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/contact"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/task"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

func TestMemoryStore(t *testing.T) {
	runStoreSuite(t, func(*testing.T) Store { return NewMemory() })
}

var t0 = projectiontest.T0

// eventLog is the shared log, with this read model's events.
type eventLog struct{ projectiontest.Log }

func (l *eventLog) created(t *testing.T, id, ws string, f contact.Fields, at time.Time) es.Recorded {
	return l.Rec(t, contact.Stream(id), 1, &contact.Created{ContactID: id, WorkspaceID: ws, Fields: f, CreatedAt: at})
}

func mustGet(t *testing.T, s Store, ws, id string) (View, bool) {
	t.Helper()
	v, ok, err := s.Get(context.Background(), ws, id)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	return v, ok
}

func mustSearch(t *testing.T, s Store, ws string, f Filter) ([]View, int) {
	t.Helper()
	vs, total, err := s.Search(context.Background(), ws, f)
	if err != nil {
		t.Fatalf("search %+v: %v", f, err)
	}
	return vs, total
}

func names(vs []View) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func runStoreSuite(t *testing.T, newStore func(t *testing.T) Store) {
	ws, otherWS := uuid.NewString(), uuid.NewString()

	t.Run("name", func(t *testing.T) {
		if got := newStore(t).Name(); got != "contacts" {
			t.Fatalf("Name() = %q", got)
		}
	})

	t.Run("empty store starts at the beginning", func(t *testing.T) {
		s := newStore(t)
		if cp := projectiontest.Checkpoint(t, s); cp != es.Start {
			t.Fatalf("checkpoint = %v, want start", cp)
		}
		if err := s.Apply(context.Background(), nil); err != nil {
			t.Fatalf("empty batch: %v", err)
		}
		if vs, total := mustSearch(t, s, ws, Filter{}); len(vs) != 0 || total != 0 {
			t.Fatalf("search on empty store = %v, %d", vs, total)
		}
	})

	t.Run("create update delete", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		id := uuid.NewString()
		fields := contact.Fields{Name: "Ada Lovelace", Company: "Analytical Engines", Title: "Countess",
			Email: "ada@engines.example", Phone: "+44 1", City: "London", Notes: "first programmer"}
		projectiontest.Apply(t, s, l.created(t, id, ws, fields, t0))
		want := View{ID: id, WorkspaceID: ws, Name: "Ada Lovelace", Company: "Analytical Engines", Title: "Countess",
			Email: "ada@engines.example", Phone: "+44 1", City: "London", Notes: "first programmer",
			CreatedAt: projectiontest.US(t0), UpdatedAt: projectiontest.US(t0), Version: 1}
		if v, ok := mustGet(t, s, ws, id); !ok || !reflect.DeepEqual(v, want) {
			t.Fatalf("after create: %+v %v\nwant %+v", v, ok, want)
		}
		if cp := projectiontest.Checkpoint(t, s); cp != (es.Position{Seq: 1}) {
			t.Fatalf("checkpoint = %v, want 0:1", cp)
		}

		t1 := t0.Add(time.Hour)
		fields.City, fields.Notes, fields.Phone = "Paris", "", ""
		projectiontest.Apply(t, s, l.Rec(t, contact.Stream(id), 2, &contact.Updated{Fields: fields, Changed: []string{"city", "notes", "phone"}, UpdatedAt: t1}))
		want.City, want.Notes, want.Phone, want.UpdatedAt, want.Version = "Paris", "", "", projectiontest.US(t1), 2
		if v, ok := mustGet(t, s, ws, id); !ok || !reflect.DeepEqual(v, want) {
			t.Fatalf("after update: %+v %v\nwant %+v", v, ok, want)
		}
		if vs, total := mustSearch(t, s, ws, Filter{City: "paris"}); total != 1 || len(vs) != 1 || !reflect.DeepEqual(vs[0], want) {
			t.Fatalf("search after update = %+v, %d", vs, total)
		}
		if vs, _ := mustSearch(t, s, ws, Filter{City: "london"}); len(vs) != 0 {
			t.Fatalf("old city still found: %+v", vs)
		}

		projectiontest.Apply(t, s, l.Rec(t, contact.Stream(id), 3, &contact.Deleted{DeletedAt: t1.Add(time.Hour)}))
		if v, ok := mustGet(t, s, ws, id); ok {
			t.Fatalf("deleted contact still returned: %+v", v)
		}
		if vs, total := mustSearch(t, s, ws, Filter{}); len(vs) != 0 || total != 0 {
			t.Fatalf("deleted contact still searchable: %+v, %d", vs, total)
		}
		if cp := projectiontest.Checkpoint(t, s); cp != (es.Position{Seq: 3}) {
			t.Fatalf("checkpoint = %v, want 0:3", cp)
		}
	})

	t.Run("checkpoint is the last event of the batch", func(t *testing.T) {
		s := newStore(t)
		a, b := uuid.NewString(), uuid.NewString()
		var l eventLog
		batch := []es.Recorded{
			l.created(t, a, ws, contact.Fields{Name: "A"}, t0),
			l.created(t, b, ws, contact.Fields{Name: "B"}, t0),
			l.Rec(t, contact.Stream(a), 2, &contact.Updated{Fields: contact.Fields{Name: "A2"}, UpdatedAt: t0}),
		}
		// Positions as the Postgres event store hands them out: Tx counts.
		for i := range batch {
			batch[i].Position = es.Position{Tx: 7, Seq: uint64(10 + i)}
		}
		projectiontest.Apply(t, s, batch...)
		if cp := projectiontest.Checkpoint(t, s); cp != (es.Position{Tx: 7, Seq: 12}) {
			t.Fatalf("checkpoint = %v, want 7:12", cp)
		}
		if vs, total := mustSearch(t, s, ws, Filter{}); total != 2 || !reflect.DeepEqual(names(vs), []string{"A2", "B"}) {
			t.Fatalf("search = %v, %d", names(vs), total)
		}
	})

	t.Run("idempotent", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		a, b := uuid.NewString(), uuid.NewString()
		batch := []es.Recorded{
			l.created(t, a, ws, contact.Fields{Name: "Alan", City: "Wilmslow"}, t0),
			l.created(t, b, ws, contact.Fields{Name: "Grace", City: "Arlington"}, t0),
			l.Rec(t, contact.Stream(a), 2, &contact.Updated{Fields: contact.Fields{Name: "Alan Turing", City: "Wilmslow"}, UpdatedAt: t0.Add(time.Minute)}),
			l.Rec(t, contact.Stream(b), 2, &contact.Deleted{DeletedAt: t0.Add(time.Minute)}),
		}
		projectiontest.Apply(t, s, batch...)
		before, total := mustSearch(t, s, ws, Filter{})
		cp := projectiontest.Checkpoint(t, s)

		projectiontest.Apply(t, s, batch...)
		projectiontest.Apply(t, s, batch[1:3]...)
		after, total2 := mustSearch(t, s, ws, Filter{})
		if !reflect.DeepEqual(before, after) || total != total2 {
			t.Fatalf("second apply changed the view:\n%+v\n%+v", before, after)
		}
		if got := projectiontest.Checkpoint(t, s); got != cp {
			t.Fatalf("checkpoint moved back: %v -> %v", cp, got)
		}

		// A stream version the view already holds, delivered again at a new
		// position, is skipped — but the checkpoint still moves past it.
		stale := l.Rec(t, contact.Stream(a), 1, &contact.Created{ContactID: a, WorkspaceID: ws,
			Fields: contact.Fields{Name: "Impostor"}, CreatedAt: t0})
		staleUpdate := l.Rec(t, contact.Stream(a), 2, &contact.Updated{Fields: contact.Fields{Name: "Impostor"}, UpdatedAt: t0})
		projectiontest.Apply(t, s, stale, staleUpdate)
		if v, ok := mustGet(t, s, ws, a); !ok || v.Name != "Alan Turing" || v.Version != 2 {
			t.Fatalf("stale events applied: %+v %v", v, ok)
		}
		if _, ok := mustGet(t, s, ws, b); ok {
			t.Fatalf("deleted contact came back")
		}
		if got := projectiontest.Checkpoint(t, s); got != staleUpdate.Position {
			t.Fatalf("checkpoint = %v, want %v", got, staleUpdate.Position)
		}
	})

	t.Run("version gap is refused", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		a, b := uuid.NewString(), uuid.NewString()
		projectiontest.Apply(t, s, l.created(t, a, ws, contact.Fields{Name: "Alan", City: "Wilmslow"}, t0))
		cp := projectiontest.Checkpoint(t, s)

		batch := []es.Recorded{
			l.created(t, b, ws, contact.Fields{Name: "Barbara"}, t0),
			l.Rec(t, contact.Stream(a), 2, &contact.Updated{Fields: contact.Fields{Name: "Alan", City: "Cambridge"}, UpdatedAt: t0}),
			l.Rec(t, contact.Stream(a), 4, &contact.Updated{Fields: contact.Fields{Name: "Alan", City: "Manchester"}, UpdatedAt: t0}),
		}
		err := s.Apply(context.Background(), batch)
		if !errors.Is(err, projections.ErrGap) {
			t.Fatalf("apply with gap: err = %v, want ErrGap", err)
		}
		// Nothing of the refused batch may stick: the runner retries it
		// from the unchanged checkpoint.
		if got := projectiontest.Checkpoint(t, s); got != cp {
			t.Fatalf("checkpoint moved to %v on a refused batch, want %v", got, cp)
		}
		if v, ok := mustGet(t, s, ws, a); !ok || v.City != "Wilmslow" || v.Version != 1 {
			t.Fatalf("contact changed by a refused batch: %+v", v)
		}
		if v, ok := mustGet(t, s, ws, b); ok {
			t.Fatalf("contact created by a refused batch: %+v", v)
		}

		// A stream whose first event is missing is a gap too.
		orphan := uuid.NewString()
		err = s.Apply(context.Background(), []es.Recorded{
			l.Rec(t, contact.Stream(orphan), 2, &contact.Updated{Fields: contact.Fields{Name: "Nobody"}, UpdatedAt: t0}),
		})
		if !errors.Is(err, projections.ErrGap) {
			t.Fatalf("update without create: err = %v, want ErrGap", err)
		}
		if _, ok := mustGet(t, s, ws, orphan); ok {
			t.Fatalf("contact without Created appeared")
		}

		// Once the missing event arrives in order, the stream goes on.
		projectiontest.Apply(t, s, batch[0], batch[1])
		if v, _ := mustGet(t, s, ws, a); v.City != "Cambridge" || v.Version != 2 {
			t.Fatalf("after in-order retry: %+v", v)
		}
	})

	t.Run("out of place events are refused", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		id := uuid.NewString()
		err := s.Apply(context.Background(), []es.Recorded{
			l.Rec(t, contact.Stream(id), 1, &contact.Deleted{DeletedAt: t0}),
		})
		if err == nil {
			t.Fatalf("a stream starting with ContactDeleted was accepted")
		}
		projectiontest.Apply(t, s, l.created(t, id, ws, contact.Fields{Name: "Ok"}, t0))
		err = s.Apply(context.Background(), []es.Recorded{
			l.Rec(t, contact.Stream(id), 2, &contact.Created{ContactID: id, WorkspaceID: otherWS, Fields: contact.Fields{Name: "Again"}, CreatedAt: t0}),
		})
		if err == nil {
			t.Fatalf("a second ContactCreated was accepted")
		}
		if v, ok := mustGet(t, s, ws, id); !ok || v.Name != "Ok" {
			t.Fatalf("contact changed: %+v %v", v, ok)
		}
	})

	t.Run("other streams are ignored and never move the checkpoint elsewhere", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		id := uuid.NewString()
		conv := l.Rec(t, "conversation-"+uuid.NewString(), 1, &contact.Created{ContactID: id, WorkspaceID: ws,
			Fields: contact.Fields{Name: "Not a contact"}, CreatedAt: t0})
		tk := uuid.NewString()
		taskRec := l.Rec(t, task.Stream(tk), 1, &task.Created{TaskID: tk, WorkspaceID: ws, Title: "Call Ada", CreatedAt: t0})
		projectiontest.Apply(t, s, conv, taskRec)
		// A batch with nothing for this read model may leave the stored
		// checkpoint where it was (the runner keeps its place in memory);
		// it must never point anywhere else.
		if cp := projectiontest.Checkpoint(t, s); cp != taskRec.Position && cp != es.Start {
			t.Fatalf("checkpoint = %v, want %v or the start", cp, taskRec.Position)
		}
		if vs, total := mustSearch(t, s, ws, Filter{}); len(vs) != 0 || total != 0 {
			t.Fatalf("foreign events made contacts: %+v", vs)
		}
		projectiontest.Apply(t, s, l.created(t, id, ws, contact.Fields{Name: "Real"}, t0))
		if v, ok := mustGet(t, s, ws, id); !ok || v.Name != "Real" {
			t.Fatalf("contact after foreign events: %+v %v", v, ok)
		}
	})

	t.Run("workspace scoping", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		mine, theirs := uuid.NewString(), uuid.NewString()
		projectiontest.Apply(t, s,
			l.created(t, mine, ws, contact.Fields{Name: "Mine", City: "Berlin"}, t0),
			l.created(t, theirs, otherWS, contact.Fields{Name: "Theirs", City: "Berlin"}, t0))
		if _, ok := mustGet(t, s, otherWS, mine); ok {
			t.Fatalf("Get crossed workspaces")
		}
		if _, ok := mustGet(t, s, ws, theirs); ok {
			t.Fatalf("Get crossed workspaces")
		}
		if v, ok := mustGet(t, s, otherWS, theirs); !ok || v.Name != "Theirs" {
			t.Fatalf("Get in own workspace: %+v %v", v, ok)
		}
		if vs, total := mustSearch(t, s, ws, Filter{City: "berlin"}); total != 1 || !reflect.DeepEqual(names(vs), []string{"Mine"}) {
			t.Fatalf("search crossed workspaces: %v, %d", names(vs), total)
		}
		for _, bad := range []string{"", "not-a-uuid", uuid.NewString()} {
			if vs, total := mustSearch(t, s, bad, Filter{}); len(vs) != 0 || total != 0 {
				t.Fatalf("search in workspace %q = %v", bad, names(vs))
			}
			if _, ok := mustGet(t, s, bad, mine); ok {
				t.Fatalf("get in workspace %q found a contact", bad)
			}
		}
		if _, ok := mustGet(t, s, ws, "not-a-uuid"); ok {
			t.Fatalf("get of a malformed id found a contact")
		}
	})

	t.Run("search filters", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		people := []contact.Fields{
			{Name: "Alice Smith", Company: "Acme GmbH", Title: "CTO", Email: "alice@acme.example", City: "Berlin", Notes: "met at the expo"},
			{Name: "Bob Jones", Company: "Acme GmbH", Title: "Buyer", Email: "bob@acme.example", City: "Munich"},
			{Name: "Carol White", Company: "100% Organic", City: "Berlin"},
			{Name: "Dan Brown", Company: "1000 Organic", City: "Hamburg", Notes: "prefers email"},
			{Name: "Erin Black", Company: "Fifty_Fifty", City: "Köln"},
			{Name: "Frank Green", Company: "Fifty-Fifty", City: "Bonn"},
			{Name: "Gus Grey", Company: `A\B Corp`, City: "Bremen"},
			{Name: "Hal Blue", Company: "AB Corp", City: "Bremen", Email: "hal@berlin.example"},
		}
		var batch []es.Recorded
		for _, f := range people {
			batch = append(batch, l.created(t, uuid.NewString(), ws, f, t0))
		}
		gone := uuid.NewString()
		batch = append(batch, l.created(t, gone, ws, contact.Fields{Name: "Zed Gone", Company: "Acme GmbH", City: "Berlin"}, t0),
			l.Rec(t, contact.Stream(gone), 2, &contact.Deleted{DeletedAt: t0}))
		projectiontest.Apply(t, s, batch...)

		cases := []struct {
			name string
			f    Filter
			want []string
		}{
			{"no filter", Filter{}, []string{"Alice Smith", "Bob Jones", "Carol White", "Dan Brown", "Erin Black", "Frank Green", "Gus Grey", "Hal Blue"}},
			{"city ignores case", Filter{City: "BERLIN"}, []string{"Alice Smith", "Carol White"}},
			{"city substring", Filter{City: "erl"}, []string{"Alice Smith", "Carol White"}},
			{"company", Filter{Company: "acme"}, []string{"Alice Smith", "Bob Jones"}},
			{"company and city", Filter{Company: "acme", City: "berlin"}, []string{"Alice Smith"}},
			{"company and city, none", Filter{Company: "acme", City: "hamburg"}, nil},
			{"name", Filter{Name: "smith"}, []string{"Alice Smith"}},
			{"email", Filter{Email: "@ACME."}, []string{"Alice Smith", "Bob Jones"}},
			{"query finds city and email", Filter{Query: "berlin"}, []string{"Alice Smith", "Carol White", "Hal Blue"}},
			{"query finds title", Filter{Query: "cto"}, []string{"Alice Smith"}},
			{"query finds notes", Filter{Query: "EXPO"}, []string{"Alice Smith"}},
			{"query finds company", Filter{Query: "organic"}, []string{"Carol White", "Dan Brown"}},
			{"query and city", Filter{Query: "acme", City: "munich"}, []string{"Bob Jones"}},
			{"query finds a word in notes", Filter{Query: "email"}, []string{"Dan Brown"}},
			{"percent is literal", Filter{Company: "100%"}, []string{"Carol White"}},
			{"lone percent is literal", Filter{Query: "%"}, []string{"Carol White"}},
			{"underscore is literal", Filter{Company: "y_f"}, []string{"Erin Black"}},
			{"lone underscore is literal", Filter{Query: "_"}, []string{"Erin Black"}},
			{"backslash is literal", Filter{Company: `a\b`}, []string{"Gus Grey"}},
			{"blank terms are no terms", Filter{City: "  ", Company: " acme "}, []string{"Alice Smith", "Bob Jones"}},
			{"no match", Filter{Query: "nobody"}, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				vs, total := mustSearch(t, s, ws, c.f)
				if got := names(vs); !reflect.DeepEqual(got, append([]string{}, c.want...)) {
					t.Fatalf("search %+v = %v, want %v", c.f, got, c.want)
				}
				if total != len(c.want) {
					t.Fatalf("total = %d, want %d", total, len(c.want))
				}
			})
		}
	})

	t.Run("order limit and total", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		var batch []es.Recorded
		for i := range 105 {
			// Created in reverse so the order must come from the query.
			batch = append(batch, l.created(t, uuid.NewString(), ws, contact.Fields{
				Name: fmt.Sprintf("Contact %03d", 104-i), City: "Berlin"}, t0))
		}
		twinA, twinB := "00000000-0000-4000-8000-00000000000b", "00000000-0000-4000-8000-00000000000a"
		batch = append(batch,
			l.created(t, twinA, otherWS, contact.Fields{Name: "Twin"}, t0),
			l.created(t, twinB, otherWS, contact.Fields{Name: "Twin"}, t0),
			l.created(t, uuid.NewString(), otherWS, contact.Fields{Name: "alpha"}, t0),
			l.created(t, uuid.NewString(), otherWS, contact.Fields{Name: "Zulu"}, t0))
		projectiontest.Apply(t, s, batch...)

		vs, total := mustSearch(t, s, ws, Filter{})
		if total != 105 || len(vs) != 20 || vs[0].Name != "Contact 000" || vs[19].Name != "Contact 019" {
			t.Fatalf("default limit: %d results (%v..), total %d", len(vs), names(vs[:1]), total)
		}
		vs, total = mustSearch(t, s, ws, Filter{Limit: 5, City: "berlin"})
		if total != 105 || !reflect.DeepEqual(names(vs), []string{"Contact 000", "Contact 001", "Contact 002", "Contact 003", "Contact 004"}) {
			t.Fatalf("limit 5: %v, total %d", names(vs), total)
		}
		vs, total = mustSearch(t, s, ws, Filter{Limit: 1000})
		if total != 105 || len(vs) != 100 || vs[99].Name != "Contact 099" {
			t.Fatalf("limit above max: %d results, total %d", len(vs), total)
		}
		vs, total = mustSearch(t, s, ws, Filter{Limit: -3, Query: "contact 10"})
		if total != 5 || len(vs) != 5 {
			t.Fatalf("negative limit: %v, total %d", names(vs), total)
		}

		// Names compare byte-wise, so upper case sorts before lower case
		// in both stores; equal names fall back to the id.
		vs, _ = mustSearch(t, s, otherWS, Filter{})
		if got := names(vs); !reflect.DeepEqual(got, []string{"Twin", "Twin", "Zulu", "alpha"}) {
			t.Fatalf("order = %v", got)
		}
		if vs[0].ID != twinB || vs[1].ID != twinA {
			t.Fatalf("equal names not ordered by id: %s, %s", vs[0].ID, vs[1].ID)
		}
	})
}
