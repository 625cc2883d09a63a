package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBusDeliversEveryCommand sends a burst of messages with the production
// reaper timings (a stalled conversation is resumed only after 2 minutes)
// and requires every conversation to finish well before a stalled one would
// be resumed: within 90s of the burst, which a two-core CI machine under
// -race needs for 360 commands, and which a lost command (stalled for 2
// minutes) still exceeds.
//
// Regression: the bus used to lose a few percent of commands. InstantAck
// acknowledged the message; both transports (gochannel, watermill-sql)
// cancel a message's context on ack; watermill's Retry middleware, next in
// the chain, then saw the cancelled context and returned context.Canceled
// without calling the handler, which the router does not log. The
// conversation stayed "open" or "processing" until the reaper stepped in.
func TestBusDeliversEveryCommand(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c := h.principal(owner)
		// Each conversation is 3 commands (step 1, the tool call, step 2);
		// 120 conversations make a loss all but certain with the bug.
		var ids []string
		for range 120 {
			ids = append(ids, h.send(c, "List my tasks"))
		}
		deadline := time.Now().Add(90 * time.Second)
		for _, id := range ids {
			if p := h.awaitWithin(c, id, time.Until(deadline)); p.Status != "resolved" {
				t.Errorf("conversation %s ended %s", id, p.Status)
			}
		}
		expectStatus(t, h.get(c, ids[0]), http.StatusOK)
	})
}

// TestNULCharacter sends the NUL character, which no event store accepts
// (Postgres jsonb refuses \u0000, and eventstore.ValidateAppend refuses it
// for every adapter), and the literal six characters \u0000, which are
// ordinary text.
//
// Regressions: the HTTP layer did not check for NUL, so the append failed
// and the caller got 500 INTERNAL_ERROR instead of a 422 naming the field;
// and ValidateAppend looked for the bytes `\u0000` anywhere in an event's
// JSON, so a message merely quoting the text \u0000 (encoded `\\u0000`)
// got 500 too.
func TestNULCharacter(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c := h.principal(owner)
		h.quiesce()

		t.Run("the text \\u0000 is an ordinary message", func(t *testing.T) {
			h := h.on(t)
			r := h.post(c, map[string]any{"message": `In C, what does "\u0000" mean?`})
			expectStatus(t, r, 202)
			p := h.await(c, r.JSON(t)["conversation_uuid"].(string))
			if got := p.Turns[0].Payload["message"]; got != `In C, what does "\u0000" mean?` {
				t.Errorf("message reads back as %q", got)
			}
		})

		cases := []struct {
			name   string
			method string
			path   string
			auth   string
			key    string
			body   string
			field  string
		}{
			{"message", "POST", "/api/agent", bearerOf(c.Token), c.Key, `{"message":"List my tasks\u0000"}`, "message"},
			{"context hint", "POST", "/api/agent", bearerOf(c.Token), c.Key, `{"message":"List my tasks","context":{"entity_id":"a\u0000b"}}`, "context.entity_id"},
			{"metadata value", "POST", "/api/agent", bearerOf(c.Token), c.Key, `{"message":"List my tasks","metadata":{"source":"crm\u0000"}}`, "metadata"},
			{"metadata key", "POST", "/api/agent", bearerOf(c.Token), c.Key, `{"message":"List my tasks","metadata":{"a\u0000":1}}`, "metadata"},
			{"key label", "POST", "/api/api-keys", bearerOf(c.Token), "", `{"label":"CRM\u0000"}`, "label"},
			{"workspace name", "POST", "/api/admin/workspaces", bearerOf(testAdminToken), "", `{"name":"Acme\u0000","owner_email":"x@nul.test"}`, "name"},
			{"user email", "POST", "/api/users", bearerOf(owner.Token), "", `{"email":"nul\u0000@acme.test"}`, "email"},
		}
		for _, tc := range cases {
			t.Run("NUL in "+tc.name, func(t *testing.T) {
				h := h.on(t)
				h.unchanged(t, func() {
					r := h.do(req{Method: tc.method, Path: tc.path, Auth: tc.auth, APIKey: tc.key, Body: tc.body})
					if r.Status == http.StatusCreated {
						var created map[string]any
						_ = json.Unmarshal(r.Raw, &created)
						for _, k := range []string{"token", "key", "signing_secret"} {
							if s, _ := created[k].(string); s != "" {
								h.remember(s)
							}
						}
					}
					msg := expectError(t, r, 422, "VALIDATION_ERROR")
					if !strings.Contains(msg, tc.field) {
						t.Errorf("422 message %q does not name %q", msg, tc.field)
					}
				})
			})
		}
	})
}
