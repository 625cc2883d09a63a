package conversations

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sois-ai/chat-agent-gateway/projections/projectiontest"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/webhook"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

func TestStores(t *testing.T) {
	projectiontest.OverStores(t, func() Store { return NewMemory() }, func(p *pgxpool.Pool) Store { return NewPostgres(p) }, runStoreSuite)
}

var t0 = projectiontest.T0

func at(d time.Duration) time.Time { return t0.Add(d) }
func tp(t time.Time) *time.Time    { return &t }

// eventLog hands out global positions in order, like the event store does,
// and numbers each stream's events.
type eventLog struct {
	seq      uint64
	versions map[string]int64
}

func newLog() *eventLog { return &eventLog{versions: map[string]int64{}} }

// at records f as version v of stream.
func (l *eventLog) at(t *testing.T, stream string, v int64, f es.Fact) es.Recorded {
	t.Helper()
	ev, err := es.NewEvent(uuid.NewString(), f, es.Metadata{Actor: es.Actor{Kind: "system"}, OccurredAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	l.seq++
	if v > l.versions[stream] {
		l.versions[stream] = v
	}
	return es.Recorded{ID: ev.ID, Stream: stream, StreamVersion: v, Position: es.Position{Seq: l.seq},
		Type: ev.Type, Data: ev.Data, Metadata: ev.Metadata}
}

// next records f as the next version of conversation id.
func (l *eventLog) next(t *testing.T, id string, f es.Fact) es.Recorded {
	t.Helper()
	s := conversation.Stream(id)
	return l.at(t, s, l.versions[s]+1, f)
}

// hook records f as the next version of conversation id's webhook stream.
func (l *eventLog) hook(t *testing.T, id string, f es.Fact) es.Recorded {
	t.Helper()
	s := webhook.Stream(id)
	return l.at(t, s, l.versions[s]+1, f)
}

type ids struct{ ws, user, key string }

func newIDs() ids { return ids{uuid.NewString(), uuid.NewString(), uuid.NewString()} }

func (x ids) opened(id string, openedAt time.Time) *conversation.Opened {
	return &conversation.Opened{ConversationID: id, WorkspaceID: x.ws, UserID: x.user, APIKeyID: x.key,
		Message: "Where does Ada live?", OpenedAt: openedAt, ExpiresAt: openedAt.Add(conversation.Lifetime)}
}

func modelStep(n, in, out int, d time.Duration) *conversation.ModelStepCompleted {
	return &conversation.ModelStepCompleted{Step: n, Model: "m", Usage: agent.Usage{InputTokens: in, OutputTokens: out}, CompletedAt: at(d)}
}

func mustGet(t testing.TB, s Store, id string) (View, bool) {
	t.Helper()
	v, ok, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	return v, ok
}

// jsonOf is the view as the poll handler and operators read it; comparing
// it makes the memory store (typed payload values) and Postgres (a JSON
// document) comparable.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(j)
}

// decoded is the view's JSON read back as plain values, so key order
// (jsonb sorts keys, a struct does not) does not matter.
func decoded(t *testing.T, v any) any {
	t.Helper()
	var out any
	if err := json.Unmarshal([]byte(jsonOf(t, v)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func equalViews(t *testing.T, got, want View) bool {
	t.Helper()
	return reflect.DeepEqual(decoded(t, got), decoded(t, want))
}

func sameView(t *testing.T, s Store, want View) {
	t.Helper()
	got, ok := mustGet(t, s, want.ID)
	if !ok {
		t.Fatalf("conversation %s not found", want.ID)
	}
	if !equalViews(t, got, want) {
		t.Fatalf("view\n got %s\nwant %s", jsonOf(t, got), jsonOf(t, want))
	}
}

func viewIDs(vs []View) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.ID)
	}
	return out
}

// contract is this read model to the suite every read model passes.
var contract = projectiontest.Contract[View]{
	Name: Name,
	Open: func(l *projectiontest.Log, t testing.TB, id, ws string, v int64) es.Recorded {
		return l.Rec(t, conversation.Stream(id), v, ids{ws, ws, ws}.opened(id, t0))
	},
	Change: func(l *projectiontest.Log, t testing.TB, id string, v int64) es.Recorded {
		return l.Rec(t, conversation.Stream(id), v, modelStep(int(v), 10, 5, time.Second))
	},
	Read: func(t testing.TB, s projections.Projection, _, id string) (View, bool) {
		return mustGet(t, s.(Store), id)
	},
}

// runStoreSuite checks a conversations store: the contract, and its own
// rows.
func runStoreSuite(t *testing.T, newStore func(t *testing.T) Store) {
	contract.Run(t, func(t *testing.T) projections.Projection { return newStore(t) })
	ctx := context.Background()

	t.Run("a user's conversations, newest first, page by page", func(t *testing.T) {
		s := newStore(t)
		l := newLog()
		x, other := newIDs(), newIDs()
		var all []string
		for i := range 5 {
			id := uuid.NewString()
			all = append([]string{id}, all...) // newest first
			projectiontest.Apply(t, s, l.next(t, id, x.opened(id, at(time.Duration(i)*time.Minute))))
		}
		// Two at the same instant: the id breaks the tie.
		same := []string{uuid.NewString(), uuid.NewString()}
		for _, id := range same {
			projectiontest.Apply(t, s, l.next(t, id, x.opened(id, at(10*time.Minute))))
		}
		if same[0] < same[1] {
			same[0], same[1] = same[1], same[0]
		}
		all = append(same, all...)
		someoneElse := uuid.NewString()
		projectiontest.Apply(t, s, l.next(t, someoneElse, other.opened(someoneElse, at(3*time.Minute))))

		var got []string
		q := UserQuery{WorkspaceID: x.ws, UserID: x.user, Limit: 3}
		for range 10 {
			page, err := s.ByUser(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range page {
				got = append(got, v.ID)
			}
			if len(page) < q.Limit {
				break
			}
			last := page[len(page)-1]
			q.Before = &Place{CreatedAt: last.CreatedAt.Truncate(time.Microsecond), ID: last.ID}
		}
		if strings.Join(got, ",") != strings.Join(all, ",") {
			t.Errorf("pages gave\n%v\nwant\n%v", got, all)
		}
		since, err := s.ByUser(ctx, UserQuery{WorkspaceID: x.ws, UserID: x.user, Since: at(4 * time.Minute), Limit: 10})
		if err != nil || len(since) != 3 {
			t.Errorf("since 4 min: %d conversations (%v), want 3", len(since), err)
		}
		none, err := s.ByUser(ctx, UserQuery{WorkspaceID: x.ws, UserID: x.user, Status: "resolved", Limit: 10})
		if err != nil || len(none) != 0 {
			t.Errorf("status resolved: %d conversations (%v), want 0", len(none), err)
		}
		if mine, _ := s.ByUser(ctx, UserQuery{WorkspaceID: other.ws, UserID: x.user, Limit: 10}); len(mine) != 0 {
			t.Errorf("the user's conversations listed in another workspace")
		}
	})

	t.Run("a resolved conversation, event by event", func(t *testing.T) {
		s := newStore(t)
		l := newLog()
		x := newIDs()
		id := uuid.NewString()
		o := x.opened(id, t0)
		o.Context = &conversation.Context{EntityType: "contact", EntityID: "42"}
		o.Metadata = json.RawMessage(`{"ticket":7,"tags":["a"]}`)
		o.ResponseURL = "https://hooks.example/in"

		userTurn := Turn{Role: "user", Timestamp: t0, Payload: map[string]any{
			"message":  "Where does Ada live?",
			"context":  map[string]any{"entity_type": "contact", "entity_id": "42"},
			"metadata": map[string]any{"ticket": 7, "tags": []any{"a"}},
		}}
		want := View{ID: id, WorkspaceID: x.ws, UserID: x.user, APIKeyID: x.key, Status: "open", Turn: 1,
			Turns: []Turn{userTurn}, Webhook: &Webhook{Status: "pending"},
			CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), UpdatedAt: t0, Version: 1}

		rec := l.next(t, id, o)
		projectiontest.Apply(t, s, rec)
		sameView(t, s, want)
		if cp := projectiontest.Checkpoint(t, s); cp != rec.Position {
			t.Fatalf("checkpoint = %v, want %v", cp, rec.Position)
		}
		// The poll response shape: webhook block present, no error, null resolved_at.
		got, _ := mustGet(t, s, id)
		poll := decoded(t, got).(map[string]any)
		if poll["resolved_at"] != nil || poll["error"] != nil || poll["webhook"].(map[string]any)["status"] != "pending" {
			t.Fatalf("poll shape: %v", poll)
		}
		if _, has := poll["failed_at"]; has {
			t.Fatalf("failed_at shown on an unfailed conversation: %v", poll)
		}

		projectiontest.Apply(t, s, l.next(t, id, &conversation.ProcessingStarted{StartedAt: at(time.Second)}))
		want.Status, want.UpdatedAt, want.Version = "processing", at(time.Second), 2
		sameView(t, s, want)

		projectiontest.Apply(t, s,
			l.next(t, id, modelStep(1, 100, 20, 2*time.Second)),
			l.next(t, id, &conversation.ToolCallRequested{Key: "1.1", Step: 1, CallID: "c", Name: "search_contacts", Arguments: json.RawMessage(`{}`)}),
			l.next(t, id, &conversation.ToolCallRequested{Key: "1.2", Step: 1, CallID: "c", Name: "list_tasks", Arguments: json.RawMessage(`{}`)}))
		want.Steps, want.ToolCalls, want.InputTokens, want.OutputTokens = 1, 2, 100, 20
		want.UpdatedAt, want.Version = at(2*time.Second), 5
		sameView(t, s, want)

		projectiontest.Apply(t, s,
			l.next(t, id, &conversation.ToolCallCompleted{Key: "1.1", Name: "search_contacts", Result: "[]", CompletedAt: at(3 * time.Second)}),
			l.next(t, id, &conversation.ToolCallCompleted{Key: "1.2", Name: "list_tasks", Result: "[]", CompletedAt: at(4 * time.Second)}))
		want.UpdatedAt, want.Version = at(4*time.Second), 7
		sameView(t, s, want)

		step2 := l.next(t, id, modelStep(2, 150, 30, 5*time.Second))
		last := l.next(t, id, &conversation.Resolved{Reply: "Ada lives in London.", ResolvedAt: at(6 * time.Second)})
		projectiontest.Apply(t, s, step2, last)
		want.Status, want.Steps, want.InputTokens, want.OutputTokens = "resolved", 2, 250, 50
		want.ResolvedAt, want.UpdatedAt, want.Version = tp(at(6*time.Second)), at(6*time.Second), 9
		want.Turns = []Turn{userTurn, {Role: "agent", Timestamp: at(6 * time.Second), Payload: map[string]any{"content": "Ada lives in London."}}}
		sameView(t, s, want)
		if cp := projectiontest.Checkpoint(t, s); cp != last.Position {
			t.Fatalf("checkpoint = %v, want %v", cp, last.Position)
		}
		if got, _ := mustGet(t, s, id); !got.Terminal() || !got.ResolvedAt.Equal(at(6*time.Second)) || got.FailedAt != nil || got.Error != nil {
			t.Fatalf("resolved view: %+v", got)
		}
	})

	t.Run("a failed conversation", func(t *testing.T) {
		s := newStore(t)
		l := newLog()
		x := newIDs()
		id := uuid.NewString()
		o := x.opened(id, t0)
		o.Metadata = json.RawMessage(`null`)
		o.Context = &conversation.Context{Action: "follow_up"}
		projectiontest.Apply(t, s,
			l.next(t, id, o),
			l.next(t, id, &conversation.ProcessingStarted{StartedAt: at(time.Second)}),
			l.next(t, id, modelStep(1, 40, 0, 2*time.Second)),
			l.next(t, id, &conversation.Failed{Code: conversation.CodeEmptyReply, Reason: "The language model returned an empty answer.", FailedAt: at(3 * time.Second)}))
		want := View{ID: id, WorkspaceID: x.ws, UserID: x.user, APIKeyID: x.key, Status: "failed", Turn: 1,
			Turns: []Turn{{Role: "user", Timestamp: t0, Payload: map[string]any{"message": "Where does Ada live?",
				"context": map[string]any{"action": "follow_up"}}}},
			Error:     &Failure{Code: "EMPTY_REPLY", Message: "The language model returned an empty answer."},
			CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), FailedAt: tp(at(3 * time.Second)), UpdatedAt: at(3 * time.Second),
			Steps: 1, InputTokens: 40, Version: 4}
		sameView(t, s, want)
		got, _ := mustGet(t, s, id)
		poll := decoded(t, got).(map[string]any)
		if poll["webhook"] != nil || poll["resolved_at"] != nil || poll["failed_at"] == nil {
			t.Fatalf("poll shape of a failed conversation without a response URL: %v", poll)
		}
	})

	t.Run("unfinished: open or processing, least recently updated first", func(t *testing.T) {
		s := newStore(t)
		l := newLog()
		x := newIDs()
		// Fixed ids so the tie below has a known order.
		twinLow, twinHigh := "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
		late, mid, resolved, failed := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
		projectiontest.Apply(t, s,
			l.next(t, late, x.opened(late, at(3*time.Hour))),
			l.next(t, twinHigh, x.opened(twinHigh, t0)),
			l.next(t, twinHigh, &conversation.ProcessingStarted{StartedAt: at(time.Hour)}),
			l.next(t, mid, x.opened(mid, at(2*time.Hour))),
			l.next(t, twinLow, x.opened(twinLow, at(time.Hour))),
			l.next(t, resolved, x.opened(resolved, t0.Add(-time.Hour))),
			l.next(t, resolved, modelStep(1, 1, 1, -time.Hour)),
			l.next(t, resolved, &conversation.Resolved{Reply: "x", ResolvedAt: t0.Add(-time.Hour)}),
			l.next(t, failed, x.opened(failed, t0.Add(-time.Hour))),
			l.next(t, failed, &conversation.Failed{Code: conversation.CodeStalled, Reason: "x", FailedAt: t0.Add(-time.Hour)}),
		)
		all := []string{twinLow, twinHigh, mid, late}
		for _, limit := range []int{0, 4, 100} {
			vs, err := s.Unfinished(ctx, limit)
			if err != nil || !reflect.DeepEqual(viewIDs(vs), all) {
				t.Fatalf("Unfinished(%d) = %v, %v\nwant %v", limit, viewIDs(vs), err, all)
			}
		}
		vs, err := s.Unfinished(ctx, 2)
		if err != nil || !reflect.DeepEqual(viewIDs(vs), all[:2]) {
			t.Fatalf("Unfinished(2) = %v, %v", viewIDs(vs), err)
		}
		if vs[1].Status != "processing" || !vs[1].UpdatedAt.Equal(at(time.Hour)) {
			t.Fatalf("unfinished view: %+v", vs[1])
		}
		// Stalled cuts at a time: only what was last updated before it.
		if vs, err := s.Stalled(ctx, at(2*time.Hour), 0); err != nil || !reflect.DeepEqual(viewIDs(vs), all[:2]) {
			t.Fatalf("Stalled(before 2h) = %v, %v, want %v", viewIDs(vs), err, all[:2])
		}
		if vs, err := s.Stalled(ctx, at(2*time.Hour).Add(time.Microsecond), 0); err != nil || !reflect.DeepEqual(viewIDs(vs), all[:3]) {
			t.Fatalf("Stalled(just after 2h) = %v, %v, want %v", viewIDs(vs), err, all[:3])
		}
		if vs, err := s.Stalled(ctx, t0, 0); err != nil || len(vs) != 0 {
			t.Fatalf("Stalled(before anything) = %v, %v", viewIDs(vs), err)
		}
		// Progress moves a conversation to the back.
		projectiontest.Apply(t, s, l.next(t, twinLow, &conversation.ProcessingStarted{StartedAt: at(4 * time.Hour)}))
		vs, _ = s.Unfinished(ctx, 0)
		if want := []string{twinHigh, mid, late, twinLow}; !reflect.DeepEqual(viewIDs(vs), want) {
			t.Fatalf("after progress: %v, want %v", viewIDs(vs), want)
		}
	})

	t.Run("usage follows a conversation batch by batch", func(t *testing.T) {
		s := newStore(t)
		l := newLog()
		x := newIDs()
		c1, c2 := uuid.NewString(), uuid.NewString()
		withHook := x.opened(c2, t0)
		withHook.ResponseURL = "https://hooks.example/in"
		batches := [][]es.Recorded{
			{l.next(t, c1, x.opened(c1, t0)), l.next(t, c2, withHook)},
			{l.next(t, c1, modelStep(1, 100, 20, time.Second))},
			{l.next(t, c1, &conversation.ToolCallRequested{Key: "1.1", Step: 1, CallID: "a", Name: "n", Arguments: json.RawMessage(`{}`)})},
			{l.next(t, c1, &conversation.ToolCallCompleted{Key: "1.1", Name: "n", CompletedAt: at(2 * time.Second)}),
				l.next(t, c2, &conversation.Failed{Code: conversation.CodeBudget, Reason: "spent", FailedAt: at(time.Second)})},
			{l.next(t, c1, modelStep(2, 150, 30, 3*time.Second)), l.hook(t, c2, &webhook.Started{Delivery: 1, ConversationID: c2, StartedAt: at(2 * time.Second)})},
			{l.next(t, c1, &conversation.Resolved{Reply: "ok", ResolvedAt: at(3 * time.Second)})},
			{l.hook(t, c2, &webhook.Delivered{Delivery: 1, Attempt: 1, DeliveredAt: at(3 * time.Second)})},
		}
		for i, b := range batches {
			projectiontest.Apply(t, s, b...)
			if i == 3 {
				projectiontest.Apply(t, s, b...) // delivered again: counts once
			}
		}
		u, err := s.UsageByKey(ctx, x.key)
		want := Usage{Conversations: 2, ByStatus: map[string]int{"open": 0, "processing": 0, "resolved": 1, "failed": 1},
			Steps: 2, ToolCalls: 1, InputTokens: 250, OutputTokens: 50, FailedForBudget: 1,
			Webhooks: map[string]int{"pending": 0, "delivered": 1, "failed": 0}}
		if err != nil || !reflect.DeepEqual(u, want) {
			t.Fatalf("UsageByKey = %+v, %v\nwant %+v", u, err, want)
		}
	})

	t.Run("usage by key", func(t *testing.T) {
		s := newStore(t)
		l := newLog()
		x, other := newIDs(), newIDs()
		c1, c2, c3, c4, c5 := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
		projectiontest.Apply(t, s,
			// resolved: 2 steps, 2 tool calls, 250/50 tokens
			l.next(t, c1, x.opened(c1, t0)),
			l.next(t, c1, &conversation.ProcessingStarted{StartedAt: t0}),
			l.next(t, c1, modelStep(1, 100, 20, time.Second)),
			l.next(t, c1, &conversation.ToolCallRequested{Key: "1.1", Step: 1, CallID: "a", Name: "n", Arguments: json.RawMessage(`{}`)}),
			l.next(t, c1, &conversation.ToolCallRequested{Key: "1.2", Step: 1, CallID: "b", Name: "n", Arguments: json.RawMessage(`{}`)}),
			l.next(t, c1, &conversation.ToolCallCompleted{Key: "1.1", Name: "n", CompletedAt: at(2 * time.Second)}),
			l.next(t, c1, &conversation.ToolCallCompleted{Key: "1.2", Name: "n", CompletedAt: at(2 * time.Second)}),
			l.next(t, c1, modelStep(2, 150, 30, 3*time.Second)),
			l.next(t, c1, &conversation.Resolved{Reply: "ok", ResolvedAt: at(3 * time.Second)}),
			// failed: 1 step, 40/0
			l.next(t, c2, x.opened(c2, t0)),
			l.next(t, c2, modelStep(1, 40, 0, time.Second)),
			l.next(t, c2, &conversation.Failed{Code: conversation.CodeEmptyReply, Reason: "x", FailedAt: at(time.Second)}),
			// open
			l.next(t, c3, x.opened(c3, t0)),
			// processing: 1 step, 1 tool call, 10/5
			l.next(t, c4, x.opened(c4, t0)),
			l.next(t, c4, &conversation.ProcessingStarted{StartedAt: t0}),
			l.next(t, c4, modelStep(1, 10, 5, time.Second)),
			l.next(t, c4, &conversation.ToolCallRequested{Key: "1.1", Step: 1, CallID: "a", Name: "n", Arguments: json.RawMessage(`{}`)}),
			// another key's conversation
			l.next(t, c5, other.opened(c5, t0)),
			l.next(t, c5, modelStep(1, 1000, 1000, time.Second)),
		)
		// Stopped by the budget, with a webhook that was delivered; a
		// resolved one whose webhook was abandoned; one still delivering.
		c6, c7, c8 := uuid.NewString(), uuid.NewString(), uuid.NewString()
		withHook := func(id string) *conversation.Opened {
			o := x.opened(id, t0)
			o.ResponseURL = "https://hooks.example/in"
			return o
		}
		projectiontest.Apply(t, s,
			l.next(t, c6, withHook(c6)),
			l.next(t, c6, &conversation.Failed{Code: conversation.CodeBudget, Reason: "spent", FailedAt: at(time.Second)}),
			l.hook(t, c6, &webhook.Started{Delivery: 1, ConversationID: c6, StartedAt: at(2 * time.Second)}),
			l.hook(t, c6, &webhook.Delivered{Delivery: 1, Attempt: 1, DeliveredAt: at(3 * time.Second)}),
			l.next(t, c7, withHook(c7)),
			l.next(t, c7, &conversation.Resolved{Reply: "ok", ResolvedAt: at(time.Second)}),
			l.hook(t, c7, &webhook.Started{Delivery: 1, ConversationID: c7, StartedAt: at(2 * time.Second)}),
			l.hook(t, c7, &webhook.Abandoned{Delivery: 1, Reason: "410 Gone", AbandonedAt: at(3 * time.Second)}),
			l.next(t, c8, withHook(c8)),
		)
		u, err := s.UsageByKey(ctx, x.key)
		want := Usage{Conversations: 7, ByStatus: map[string]int{"open": 2, "processing": 1, "resolved": 2, "failed": 2},
			Steps: 4, ToolCalls: 3, InputTokens: 300, OutputTokens: 55, FailedForBudget: 1,
			Webhooks: map[string]int{"pending": 1, "delivered": 1, "failed": 1}}
		if err != nil || !reflect.DeepEqual(u, want) {
			t.Fatalf("UsageByKey = %+v, %v\nwant %+v", u, err, want)
		}
		u, err = s.UsageByKey(ctx, other.key)
		// A recorded step makes it processing, claimed or not.
		want = Usage{Conversations: 1, ByStatus: map[string]int{"open": 0, "processing": 1, "resolved": 0, "failed": 0},
			Steps: 1, InputTokens: 1000, OutputTokens: 1000, Webhooks: map[string]int{"pending": 0, "delivered": 0, "failed": 0}}
		if err != nil || !reflect.DeepEqual(u, want) {
			t.Fatalf("UsageByKey(other) = %+v, %v\nwant %+v", u, err, want)
		}
		u, err = s.UsageByKey(ctx, uuid.NewString())
		if err != nil || !reflect.DeepEqual(u, NewUsage()) {
			t.Fatalf("UsageByKey(unknown) = %+v, %v", u, err)
		}
	})
}

// The fold on its own: the rules both stores share.
func TestFold(t *testing.T) {
	l := newLog()
	x := newIDs()
	id := uuid.NewString()
	var v View
	o := x.opened(id, t0)
	o.Metadata = json.RawMessage(`"just a string"`)
	changed, err := Fold(&v, l.next(t, id, o))
	if err != nil || !changed || v.Turns[0].Payload["metadata"] != "just a string" || v.Webhook != nil {
		t.Fatalf("Fold(opened) = %v, %v: %+v", changed, err, v)
	}
	if changed, err := Fold(&v, l.at(t, conversation.Stream(id), 1, o)); changed || err != nil {
		t.Fatalf("Fold of a held version = %v, %v", changed, err)
	}
	_, err = Fold(&v, l.at(t, conversation.Stream(id), 3, &conversation.ProcessingStarted{StartedAt: t0}))
	if !errors.Is(err, projections.ErrGap) || err.Error() != "stream version gap: stream conversation-"+id+" at version 1 received version 3" {
		t.Fatalf("gap: %v", err)
	}
	bad := l.at(t, conversation.Stream(id), 2, &conversation.ProcessingStarted{StartedAt: t0})
	bad.Type = "ConversationExploded"
	if changed, err := Fold(&v, bad); err == nil || changed || v.Version != 1 {
		t.Fatalf("unknown event type: %v, %v, version %d", changed, err, v.Version)
	}
}
