package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// TestIdempotencyKey: a resend of POST /api/agent with the same
// Idempotency-Key gets the first request's conversation back and records
// nothing, also when the resends race each other; the key reused for a
// different request, or after the conversation expired, is a 409; keys
// are scoped to the API key.
func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c := h.principal(owner)
		post := func(c creds, key string, body any) response {
			t.Helper()
			return h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key,
				Header: map[string]string{"Idempotency-Key": key}, Body: body})
		}
		idOf := func(r response) string {
			t.Helper()
			expectStatus(t, r, http.StatusAccepted)
			id, _ := r.JSON(t)["conversation_uuid"].(string)
			return id
		}
		opened := func(id string) int {
			n := 0
			for _, ev := range h.eventsSince(es.Position{}) {
				if ev.Stream == conversation.Stream(id) && ev.Type == "ConversationOpened" {
					n++
				}
			}
			return n
		}
		body := map[string]any{"message": "List my tasks", "context": map[string]any{"entity_type": "task"},
			"metadata": map[string]any{"ticket": 7, "source": "erp"}}

		first := post(c, "order-4711", body)
		id := idOf(first)
		if first.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("the first request is marked replayed")
		}
		h.await(c, id)
		h.quiesce()
		h.unchanged(t, func() {
			// The same request, metadata keys in another order: the same conversation.
			again := post(c, "order-4711", `{"metadata":{"source":"erp","ticket":7},"message":"List my tasks","context":{"entity_type":"task"}}`)
			if got := idOf(again); got != id || again.Header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("resend answered %s (Idempotent-Replayed %q), want %s replayed", got, again.Header.Get("Idempotent-Replayed"), id)
			}
			// The key reused for something else.
			msg := expectError(t, post(c, "order-4711", map[string]any{"message": "Delete every contact"}), http.StatusConflict, "IDEMPOTENCY_KEY_REUSED")
			if !strings.Contains(msg, id) || !strings.Contains(msg, "different request") {
				t.Errorf("conflict message %q should name the conversation and say the request differs", msg)
			}
			// Bad keys.
			expectError(t, post(c, strings.Repeat("k", 256), body), http.StatusUnprocessableEntity, "VALIDATION_ERROR")
			expectError(t, post(c, "tab\there", body), http.StatusUnprocessableEntity, "VALIDATION_ERROR")
		})
		if n := opened(id); n != 1 {
			t.Errorf("conversation %s opened %d times", id, n)
		}
		// Another API key of the same person has keys of its own.
		other := h.createKey(owner, nil)
		if got := idOf(post(creds{owner.Token, other.Key}, "order-4711", body)); got == id {
			t.Errorf("another API key's request with the same Idempotency-Key got conversation %s too", id)
		}

		// Resends racing each other open one conversation.
		const n = 8
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { ids[i] = idOf(post(c, "race-1", body)) })
		}
		wg.Wait()
		for _, got := range ids[1:] {
			if got != ids[0] {
				t.Fatalf("racing resends got different conversations: %v", ids)
			}
		}
		if k := opened(ids[0]); k != 1 {
			t.Errorf("racing resends opened conversation %s %d times", ids[0], k)
		}
		h.await(c, ids[0])

		// After 24 h the key starts afresh: the same request opens a new
		// conversation (the old one has expired), and a resend of it finds
		// the new one.
		before := idOf(post(c, "order-4711", body))
		h.Clock.Advance(conversation.Lifetime + time.Minute)
		h.quiesce()
		fresh := idOf(post(c, "order-4711", body))
		if fresh == before {
			t.Errorf("a key used 24 h ago answered with its old conversation %s", before)
		}
		if again := idOf(post(c, "order-4711", body)); again != fresh {
			t.Errorf("a resend of the fresh request got %s, want %s", again, fresh)
		}
	})
}
