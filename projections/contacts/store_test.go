package contacts

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sois-ai/chat-agent-gateway/projections/projectiontest"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/contact"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

func TestStores(t *testing.T) {
	projectiontest.OverStores(t, func() Store { return NewMemory() }, func(p *pgxpool.Pool) Store { return NewPostgres(p) }, runStoreSuite)
}

var t0 = projectiontest.T0

// eventLog is the shared log, with this read model's events.
type eventLog struct{ projectiontest.Log }

func (l *eventLog) created(t testing.TB, id, ws string, f contact.Fields, at time.Time) es.Recorded {
	return l.Rec(t, contact.Stream(id), 1, &contact.Created{ContactID: id, WorkspaceID: ws, Fields: f, CreatedAt: at})
}

func mustGet(t testing.TB, s Store, ws, id string) (View, bool) {
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

// contract is this read model to the suite every read model passes.
var contract = projectiontest.Contract[View]{
	Name: Name, Strict: true,
	Open: func(l *projectiontest.Log, t testing.TB, id, ws string, v int64) es.Recorded {
		return l.Rec(t, contact.Stream(id), v, &contact.Created{ContactID: id, WorkspaceID: ws, Fields: contact.Fields{Name: "Ada"}, CreatedAt: t0})
	},
	Change: func(l *projectiontest.Log, t testing.TB, id string, v int64) es.Recorded {
		return l.Rec(t, contact.Stream(id), v, &contact.Updated{Fields: contact.Fields{Name: fmt.Sprintf("Ada %d", v)}, UpdatedAt: t0})
	},
	Read: func(t testing.TB, s projections.Projection, ws, id string) (View, bool) {
		return mustGet(t, s.(Store), ws, id)
	},
}

func runStoreSuite(t *testing.T, newStore func(t *testing.T) Store) {
	contract.Run(t, func(t *testing.T) projections.Projection { return newStore(t) })
	ws, otherWS := uuid.NewString(), uuid.NewString()

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
