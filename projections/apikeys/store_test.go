package apikeys

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sois-ai/chat-agent-gateway/projections/projectiontest"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/apikey"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

func TestStores(t *testing.T) {
	projectiontest.OverStores(t, func() Store { return NewMemory() }, func(p *pgxpool.Pool) Store { return NewPostgres(p) }, runStoreSuite)
}

var t0 = projectiontest.T0

func at(d time.Duration) time.Time { return t0.Add(d) }

func normalized(v View) View {
	v.CreatedAt, v.UpdatedAt = projectiontest.US(v.CreatedAt), projectiontest.US(v.UpdatedAt)
	if v.RevokedAt != nil {
		r := projectiontest.US(*v.RevokedAt)
		v.RevokedAt = &r
	}
	return v
}

func cents(n int64) *int64 { return &n }

// eventLog is the shared log; a key's events are the user's.
type eventLog struct{ projectiontest.Log }

func (l *eventLog) rec(t *testing.T, stream string, version int64, f es.Fact) es.Recorded {
	t.Helper()
	return l.RecBy(t, "user", stream, version, f)
}

type owner struct{ ws, user string }

func newOwner() owner { return owner{uuid.NewString(), uuid.NewString()} }

func (o owner) created(id, hash string, s apikey.Settings, createdAt time.Time) *apikey.Created {
	return &apikey.Created{KeyID: id, WorkspaceID: o.ws, UserID: o.user, KeyHash: hash, KeyPrefix: "cag_" + hash[:4],
		SealedSigningSecret: "sealed", Settings: s, CreatedAt: createdAt}
}

func mustGet(t testing.TB, s Store, id string) (View, bool) {
	t.Helper()
	v, ok, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	return normalized(v), ok
}

func mustByHash(t *testing.T, s Store, hash string) (View, bool) {
	t.Helper()
	v, ok, err := s.ByHash(context.Background(), hash)
	if err != nil {
		t.Fatalf("by hash: %v", err)
	}
	return normalized(v), ok
}

func mustList(t *testing.T, s Store, user string) []View {
	t.Helper()
	vs, err := s.ListByUser(context.Background(), user)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	for i := range vs {
		vs[i] = normalized(vs[i])
	}
	return vs
}

func keyIDs(vs []View) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.ID)
	}
	return out
}

func sameView(t *testing.T, got View, ok bool, want View) {
	t.Helper()
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("view (found %v)\n got %+v\nwant %+v", ok, got, want)
	}
}

// contract is this read model to the suite every read model passes.
var contract = projectiontest.Contract[View]{
	Name: Name,
	Open: func(l *projectiontest.Log, t testing.TB, id, ws string, v int64) es.Recorded {
		o := owner{ws: ws, user: ws}
		return l.Rec(t, apikey.Stream(id), v, o.created(id, id+"-hash", apikey.Settings{Label: "ci"}, t0))
	},
	Change: func(l *projectiontest.Log, t testing.TB, id string, v int64) es.Recorded {
		return l.Rec(t, apikey.Stream(id), v, &apikey.Updated{Settings: apikey.Settings{Label: fmt.Sprintf("ci %d", v)}, UpdatedAt: t0})
	},
	Read: func(t testing.TB, s projections.Projection, _, id string) (View, bool) {
		return mustGet(t, s.(Store), id)
	},
}

// runStoreSuite checks a keys store: the contract, and its own rows.
func runStoreSuite(t *testing.T, newStore func(t *testing.T) Store) {
	contract.Run(t, func(t *testing.T) projections.Projection { return newStore(t) })

	t.Run("created, updated, revoked", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		o := newOwner()
		id := uuid.NewString()
		settings := apikey.Settings{Label: "CRM sync", ResponseURL: "https://hooks.example/in", BudgetUSDCents: cents(500), BudgetPeriod: apikey.Daily}
		projectiontest.Apply(t, s, l.rec(t, apikey.Stream(id), 1, o.created(id, "hash-one", settings, t0)))
		want := View{ID: id, WorkspaceID: o.ws, UserID: o.user, KeyHash: "hash-one", KeyPrefix: "cag_hash",
			Label: "CRM sync", ResponseURL: "https://hooks.example/in", BudgetUSDCents: cents(500), BudgetPeriod: "daily",
			CreatedAt: projectiontest.US(t0), UpdatedAt: projectiontest.US(t0), Version: 1, Mode: apikey.ModeLive}
		v, ok := mustGet(t, s, id)
		sameView(t, v, ok, want)
		v, ok = mustByHash(t, s, "hash-one")
		sameView(t, v, ok, want)

		// An update replaces every setting, including clearing the budget.
		upd := l.rec(t, apikey.Stream(id), 2, &apikey.Updated{Settings: apikey.Settings{Label: "renamed", BudgetPeriod: apikey.Total}, UpdatedAt: at(time.Hour)})
		projectiontest.Apply(t, s, upd)
		want.Label, want.ResponseURL, want.BudgetUSDCents, want.BudgetPeriod = "renamed", "", nil, "total"
		want.UpdatedAt, want.Version = projectiontest.US(at(time.Hour)), 2
		v, ok = mustGet(t, s, id)
		sameView(t, v, ok, want)

		projectiontest.Apply(t, s, l.rec(t, apikey.Stream(id), 3, &apikey.Updated{Settings: apikey.Settings{Label: "renamed", BudgetUSDCents: cents(0), BudgetPeriod: apikey.Monthly}, UpdatedAt: at(2 * time.Hour)}))
		want.BudgetUSDCents, want.BudgetPeriod, want.UpdatedAt, want.Version = cents(0), "monthly", projectiontest.US(at(2*time.Hour)), 3
		v, ok = mustGet(t, s, id)
		sameView(t, v, ok, want)

		rev := l.rec(t, apikey.Stream(id), 4, &apikey.Revoked{RevokedAt: at(3 * time.Hour)})
		projectiontest.Apply(t, s, rev)
		r := projectiontest.US(at(3 * time.Hour))
		want.Revoked, want.RevokedAt, want.UpdatedAt, want.Version = true, &r, r, 4
		v, ok = mustGet(t, s, id)
		sameView(t, v, ok, want)
		// A revoked key is still found by its hash; callers check Revoked.
		v, ok = mustByHash(t, s, "hash-one")
		sameView(t, v, ok, want)
		if cp := projectiontest.Checkpoint(t, s); cp != rev.Position {
			t.Fatalf("checkpoint = %v, want %v", cp, rev.Position)
		}
	})

	t.Run("list by user: newest first, ties by id", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		o, other := newOwner(), newOwner()
		oldest, newest := uuid.NewString(), uuid.NewString()
		tieLow, tieHigh := "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
		mine := apikey.Settings{Label: "mine", BudgetPeriod: apikey.Monthly}
		theirs := uuid.NewString()
		projectiontest.Apply(t, s,
			l.rec(t, apikey.Stream(oldest), 1, o.created(oldest, "hash-oldest", mine, t0)),
			l.rec(t, apikey.Stream(tieLow), 1, o.created(tieLow, "hash-tie-low", mine, at(time.Hour))),
			l.rec(t, apikey.Stream(newest), 1, o.created(newest, "hash-newest", mine, at(2*time.Hour))),
			l.rec(t, apikey.Stream(theirs), 1, other.created(theirs, "hash-theirs", mine, at(3*time.Hour))),
			l.rec(t, apikey.Stream(tieHigh), 1, o.created(tieHigh, "hash-tie-high", mine, at(time.Hour))),
			// Updating or revoking does not reorder.
			l.rec(t, apikey.Stream(oldest), 2, &apikey.Revoked{RevokedAt: at(4 * time.Hour)}),
		)
		vs := mustList(t, s, o.user)
		if want := []string{newest, tieHigh, tieLow, oldest}; !reflect.DeepEqual(keyIDs(vs), want) {
			t.Fatalf("ListByUser = %v\nwant %v", keyIDs(vs), want)
		}
		if !vs[3].Revoked || vs[0].KeyHash != "hash-newest" || vs[0].UserID != o.user {
			t.Fatalf("listed views: %+v", vs)
		}
		if vs := mustList(t, s, other.user); !reflect.DeepEqual(keyIDs(vs), []string{theirs}) {
			t.Fatalf("other user's keys = %v", keyIDs(vs))
		}
		// A colleague in o's workspace: the workspace lists both people's
		// keys, newest first; the other workspace only its own.
		colleague := owner{ws: o.ws, user: uuid.NewString()}
		hers := uuid.NewString()
		projectiontest.Apply(t, s, l.rec(t, apikey.Stream(hers), 1, colleague.created(hers, "hash-hers", mine, at(5*time.Hour))))
		ws, err := s.ListByWorkspace(context.Background(), o.ws)
		if want := []string{hers, newest, tieHigh, tieLow, oldest}; err != nil || !reflect.DeepEqual(keyIDs(ws), want) {
			t.Fatalf("ListByWorkspace = %v, %v\nwant %v", keyIDs(ws), err, want)
		}
		if ws, err := s.ListByWorkspace(context.Background(), other.ws); err != nil || !reflect.DeepEqual(keyIDs(ws), []string{theirs}) {
			t.Fatalf("other workspace's keys = %v, %v", keyIDs(ws), err)
		}
		if vs := mustList(t, s, uuid.NewString()); len(vs) != 0 {
			t.Fatalf("unknown user's keys = %v", keyIDs(vs))
		}
	})

}
