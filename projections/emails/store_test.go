package emails

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sois-ai/chat-agent-gateway/projections/projectiontest"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/email"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

func TestStores(t *testing.T) {
	projectiontest.OverStores(t, func() Store { return NewMemory() }, func(p *pgxpool.Pool) Store { return NewPostgres(p) }, runStoreSuite)
}

var t0 = projectiontest.T0

func ptr(t time.Time) *time.Time { return &t }

// eventLog is the shared log, with this read model's events.
type eventLog struct{ projectiontest.Log }

func (l *eventLog) queued(t *testing.T, id, ws, subject string, to ...string) es.Recorded {
	return l.Rec(t, email.Stream(id), 1, &email.Queued{EmailID: id, WorkspaceID: ws, From: "agent@gw.example", To: to,
		Subject: subject, Body: "Body of " + subject, QueuedAt: t0})
}

func (l *eventLog) sent(t *testing.T, id string, version int64, transport string, at time.Time) es.Recorded {
	return l.Rec(t, email.Stream(id), version, &email.Sent{Transport: transport, MessageID: "<" + id + "@gw.example>", SentAt: at})
}

func (l *eventLog) failed(t *testing.T, id string, version int64, reason string) es.Recorded {
	return l.Rec(t, email.Stream(id), version, &email.Failed{Reason: reason, FailedAt: t0})
}

func mustGet(t testing.TB, s Store, ws, id string) (View, bool) {
	t.Helper()
	v, ok, err := s.Get(context.Background(), ws, id)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	return v, ok
}

func mustList(t *testing.T, s Store, ws string, f Filter) ([]View, int) {
	t.Helper()
	vs, total, err := s.List(context.Background(), ws, f)
	if err != nil {
		t.Fatalf("list %+v: %v", f, err)
	}
	return vs, total
}

func subjects(vs []View) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.Subject)
	}
	return out
}

// contract is this read model to the suite every read model passes.
var contract = projectiontest.Contract[View]{
	Name: Name, Strict: true,
	Open: func(l *projectiontest.Log, t testing.TB, id, ws string, v int64) es.Recorded {
		return l.Rec(t, email.Stream(id), v, &email.Queued{EmailID: id, WorkspaceID: ws, From: "agent@gw.example",
			To: []string{"ada@example.com"}, Subject: "Offer", QueuedAt: t0})
	},
	Change: func(l *projectiontest.Log, t testing.TB, id string, v int64) es.Recorded {
		return l.Rec(t, email.Stream(id), v, &email.Failed{Reason: fmt.Sprintf("attempt %d refused", v), FailedAt: t0})
	},
	Read: func(t testing.TB, s projections.Projection, ws, id string) (View, bool) {
		return mustGet(t, s.(Store), ws, id)
	},
}

func runStoreSuite(t *testing.T, newStore func(t *testing.T) Store) {
	contract.Run(t, func(t *testing.T) projections.Projection { return newStore(t) })
	ws, otherWS := uuid.NewString(), uuid.NewString()

	t.Run("queued then sent", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		id, contact, team := uuid.NewString(), uuid.NewString(), uuid.NewString()
		projectiontest.Apply(t, s, l.Rec(t, email.Stream(id), 1, &email.Queued{EmailID: id, WorkspaceID: ws, From: "agent@gw.example",
			To: []string{"ada@example.com", "bob@example.com"}, Subject: "Offer", Body: "Dear Ada,\nhere is the offer.",
			ContactIDs: []string{contact}, TeamID: team, QueuedAt: t0}))
		want := View{ID: id, WorkspaceID: ws, From: "agent@gw.example", To: []string{"ada@example.com", "bob@example.com"},
			Subject: "Offer", Body: "Dear Ada,\nhere is the offer.", ContactIDs: []string{contact}, TeamID: team,
			Status: "queued", QueuedAt: projectiontest.US(t0), Version: 1}
		if v, ok := mustGet(t, s, ws, id); !ok || !reflect.DeepEqual(v, want) {
			t.Fatalf("after queue: %+v %v\nwant %+v", v, ok, want)
		}

		t1 := t0.Add(time.Minute)
		projectiontest.Apply(t, s, l.sent(t, id, 2, "smtp", t1))
		want.Status, want.Transport, want.MessageID, want.SentAt, want.Version = "sent", "smtp", "<"+id+"@gw.example>", ptr(projectiontest.US(t1)), 2
		if v, ok := mustGet(t, s, ws, id); !ok || !reflect.DeepEqual(v, want) {
			t.Fatalf("after send: %+v %v\nwant %+v", v, ok, want)
		}
		if vs, total := mustList(t, s, ws, Filter{}); total != 1 || !reflect.DeepEqual(vs, []View{want}) {
			t.Fatalf("list = %+v, %d", vs, total)
		}
		if cp := projectiontest.Checkpoint(t, s); cp != (es.Position{Seq: 2}) {
			t.Fatalf("checkpoint = %v, want 0:2", cp)
		}
	})

	t.Run("outbox failure and retry", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		outbox, failing := uuid.NewString(), uuid.NewString()
		projectiontest.Apply(t, s,
			l.queued(t, outbox, ws, "Recorded", "ada@example.com"),
			l.sent(t, outbox, 2, "outbox", t0),
			l.queued(t, failing, ws, "Bounced", "bob@example.com"),
			l.failed(t, failing, 2, "550 mailbox unavailable"))
		if v, _ := mustGet(t, s, ws, outbox); v.Status != "outbox" || v.Transport != "outbox" || v.SentAt == nil || !v.SentAt.Equal(projectiontest.US(t0)) {
			t.Fatalf("outbox mail = %+v", v)
		}
		v, _ := mustGet(t, s, ws, failing)
		if v.Status != "failed" || v.FailureReason != "550 mailbox unavailable" || v.SentAt != nil || v.Transport != "" {
			t.Fatalf("failed mail = %+v", v)
		}
		// Lists without contacts are empty, not nil.
		if v.To == nil || v.ContactIDs == nil || len(v.ContactIDs) != 0 {
			t.Fatalf("lists of a mail without contacts: %#v %#v", v.To, v.ContactIDs)
		}
		projectiontest.Apply(t, s, l.sent(t, failing, 3, "smtp", t0.Add(time.Hour)))
		if v, _ := mustGet(t, s, ws, failing); v.Status != "sent" || v.FailureReason != "" || v.SentAt == nil || v.Version != 3 {
			t.Fatalf("mail sent after a failure = %+v", v)
		}
	})

	t.Run("returned lists are copies", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		id := uuid.NewString()
		projectiontest.Apply(t, s, l.Rec(t, email.Stream(id), 1, &email.Queued{EmailID: id, WorkspaceID: ws, To: []string{"a@x.example"},
			ContactIDs: []string{"c1"}, Subject: "S", Body: "B", QueuedAt: t0}))
		v, _ := mustGet(t, s, ws, id)
		v.To[0], v.ContactIDs[0] = "changed", "changed"
		vs, _ := mustList(t, s, ws, Filter{})
		vs[0].To[0] = "changed too"
		if v, _ := mustGet(t, s, ws, id); v.To[0] != "a@x.example" || v.ContactIDs[0] != "c1" {
			t.Fatalf("store changed through a returned slice: %+v", v)
		}
	})

	t.Run("workspace scoping", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		mine, theirs := uuid.NewString(), uuid.NewString()
		projectiontest.Apply(t, s, l.queued(t, mine, ws, "Mine", "ada@example.com"), l.queued(t, theirs, otherWS, "Theirs", "ada@example.com"))
		if _, ok := mustGet(t, s, otherWS, mine); ok {
			t.Fatalf("Get crossed workspaces")
		}
		if _, ok := mustGet(t, s, ws, theirs); ok {
			t.Fatalf("Get crossed workspaces")
		}
		if v, ok := mustGet(t, s, otherWS, theirs); !ok || v.Subject != "Theirs" {
			t.Fatalf("Get in own workspace: %+v %v", v, ok)
		}
		if vs, total := mustList(t, s, ws, Filter{To: "ada"}); total != 1 || !reflect.DeepEqual(subjects(vs), []string{"Mine"}) {
			t.Fatalf("list crossed workspaces: %v, %d", subjects(vs), total)
		}
		for _, bad := range []string{"", "not-a-uuid", uuid.NewString()} {
			if vs, total := mustList(t, s, bad, Filter{}); len(vs) != 0 || total != 0 {
				t.Fatalf("list in workspace %q = %v", bad, subjects(vs))
			}
			if _, ok := mustGet(t, s, bad, mine); ok {
				t.Fatalf("get in workspace %q found an email", bad)
			}
		}
		if _, ok := mustGet(t, s, ws, "not-a-uuid"); ok {
			t.Fatalf("get of a malformed id found an email")
		}
	})

	t.Run("list filters", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		ada, bob := uuid.NewString(), uuid.NewString()
		var batch []es.Recorded
		for i, m := range []struct {
			subject, body string
			to            []string
			contacts      []string
		}{
			{"Offer", "Dear Ada, 100% discount", []string{"Ada@Example.com"}, []string{ada}},
			{"Invoice", "1000 units", []string{"bob@example.com", "carol@other.example"}, []string{bob}},
			{"Both", "to both of you", []string{"ada@example.com", "bob@example.com"}, []string{ada, bob}},
			{"Snake", "snake_case body", []string{"dev_ops@corp.example"}, nil},
			{"Dash", "snake-case body", []string{"devXops@corp.example"}, nil},
			{"Path", `see C:\reports`, []string{`odd\user@corp.example`}, nil},
			{"Follow-up OFFER", "as discussed", []string{"zed@example.com"}, nil},
		} {
			id := uuid.NewString()
			batch = append(batch, l.Rec(t, email.Stream(id), 1, &email.Queued{EmailID: id, WorkspaceID: ws, From: "agent@gw.example",
				To: m.to, Subject: m.subject, Body: m.body, ContactIDs: m.contacts, QueuedAt: t0.Add(time.Duration(i) * time.Minute)}))
		}
		projectiontest.Apply(t, s, batch...)

		// Newest first.
		all := []string{"Follow-up OFFER", "Path", "Dash", "Snake", "Both", "Invoice", "Offer"}
		cases := []struct {
			name string
			f    Filter
			want []string
		}{
			{"no filter", Filter{}, all},
			{"to ignores case", Filter{To: "ADA@example"}, []string{"Both", "Offer"}},
			{"to matches any recipient", Filter{To: "carol"}, []string{"Invoice"}},
			{"to domain", Filter{To: "@example.com"}, []string{"Follow-up OFFER", "Both", "Invoice", "Offer"}},
			{"contact", Filter{ContactID: ada}, []string{"Both", "Offer"}},
			{"contact is trimmed", Filter{ContactID: " " + bob + " "}, []string{"Both", "Invoice"}},
			{"contact is exact", Filter{ContactID: ada[:8]}, nil},
			{"unknown contact", Filter{ContactID: uuid.NewString()}, nil},
			{"query on subject ignores case", Filter{Query: "offer"}, []string{"Follow-up OFFER", "Offer"}},
			{"query on body", Filter{Query: "UNITS"}, []string{"Invoice"}},
			{"query and contact", Filter{Query: "both", ContactID: bob}, []string{"Both"}},
			{"to and contact", Filter{To: "bob", ContactID: ada}, []string{"Both"}},
			{"to and query, none", Filter{To: "carol", Query: "offer"}, nil},
			{"percent is literal", Filter{Query: "100%"}, []string{"Offer"}},
			{"lone percent is literal", Filter{Query: "%"}, []string{"Offer"}},
			{"underscore is literal", Filter{Query: "e_c"}, []string{"Snake"}},
			{"underscore in recipient is literal", Filter{To: "dev_ops"}, []string{"Snake"}},
			{"lone underscore in recipient is literal", Filter{To: "_"}, []string{"Snake"}},
			{"backslash is literal", Filter{Query: `\r`}, []string{"Path"}},
			{"backslash in recipient is literal", Filter{To: `d\u`}, []string{"Path"}},
			{"blank terms are no terms", Filter{To: "  ", Query: " offer "}, []string{"Follow-up OFFER", "Offer"}},
			{"no match", Filter{Query: "nothing"}, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				vs, total := mustList(t, s, ws, c.f)
				if got := subjects(vs); !reflect.DeepEqual(got, append([]string{}, c.want...)) {
					t.Fatalf("list %+v = %v, want %v", c.f, got, c.want)
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
			// Applied oldest first so the order must come from the query.
			id := uuid.NewString()
			batch = append(batch, l.Rec(t, email.Stream(id), 1, &email.Queued{EmailID: id, WorkspaceID: ws,
				To: []string{"a@x.example"}, Subject: fmt.Sprintf("Mail %03d", i), Body: "b",
				QueuedAt: t0.Add(time.Duration(i) * time.Second)}))
		}
		late, early := "00000000-0000-4000-8000-00000000000b", "00000000-0000-4000-8000-00000000000a"
		batch = append(batch,
			l.queued(t, uuid.NewString(), otherWS, "Earliest", "a@x.example"),
			l.Rec(t, email.Stream(late), 1, &email.Queued{EmailID: late, WorkspaceID: otherWS, Subject: "Same time b", QueuedAt: t0.Add(time.Hour)}),
			l.Rec(t, email.Stream(early), 1, &email.Queued{EmailID: early, WorkspaceID: otherWS, Subject: "Same time a", QueuedAt: t0.Add(time.Hour)}),
			// Microseconds apart: the order must survive Postgres' precision.
			l.Rec(t, email.Stream(uuid.NewString()), 1, &email.Queued{WorkspaceID: otherWS, Subject: "Latest", QueuedAt: t0.Add(time.Hour + time.Microsecond)}))
		projectiontest.Apply(t, s, batch...)

		vs, total := mustList(t, s, ws, Filter{})
		if total != 105 || len(vs) != 20 || vs[0].Subject != "Mail 104" || vs[19].Subject != "Mail 085" {
			t.Fatalf("default limit: %d results (%v), total %d", len(vs), subjects(vs), total)
		}
		vs, total = mustList(t, s, ws, Filter{Limit: 3, To: "x.example"})
		if total != 105 || !reflect.DeepEqual(subjects(vs), []string{"Mail 104", "Mail 103", "Mail 102"}) {
			t.Fatalf("limit 3: %v, total %d", subjects(vs), total)
		}
		vs, total = mustList(t, s, ws, Filter{Limit: 500})
		if total != 105 || len(vs) != 100 || vs[99].Subject != "Mail 005" {
			t.Fatalf("limit above max: %d results, total %d", len(vs), total)
		}
		vs, total = mustList(t, s, ws, Filter{Limit: -1, Query: "mail 10"})
		if total != 5 || len(vs) != 5 {
			t.Fatalf("negative limit: %v, total %d", subjects(vs), total)
		}
		vs, _ = mustList(t, s, otherWS, Filter{})
		if got := subjects(vs); !reflect.DeepEqual(got, []string{"Latest", "Same time b", "Same time a", "Earliest"}) {
			t.Fatalf("order = %v", got)
		}
	})
}
