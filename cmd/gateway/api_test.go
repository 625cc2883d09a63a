package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/infra/llm/offline"
)

// ---- shared fixture ----

// fixture is a running gateway with two workspaces: alice (owner) and bob
// (member) in the first, carol (owner) in the second; each with a key,
// alice also with a revoked key, and one finished conversation each for
// alice and bob.
type fixture struct {
	h                    *harness
	alice, bob, carol    member
	aliceC, bobC, carolC creds
	revokedKey           string
	aliceConv, bobConv   string
}

func newFixture(t *testing.T, backend string) *fixture {
	t.Helper()
	h := newHarness(t, backend)
	f := &fixture{h: h}
	f.alice = h.createWorkspace("Acme", "alice@acme.test")
	f.bob = h.addUser(f.alice, "bob@acme.test", "member")
	f.carol = h.createWorkspace("Globex", "carol@globex.test")
	f.aliceC, f.bobC, f.carolC = h.principal(f.alice), h.principal(f.bob), h.principal(f.carol)
	rk := h.createKey(f.alice, map[string]any{"label": "to revoke"})
	expectStatus(t, h.do(req{Method: "DELETE", Path: "/api/api-keys/" + rk.ID, Auth: bearerOf(f.alice.Token)}), http.StatusOK)
	f.revokedKey = rk.Key
	f.aliceConv = h.send(f.aliceC, "List my tasks")
	f.bobConv = h.send(f.bobC, "List my tasks")
	h.await(f.aliceC, f.aliceConv)
	h.await(f.bobC, f.bobConv)
	h.quiesce()
	return f
}

// ---- the contract's error table ----

func TestErrorTable_Auth(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		f := newFixture(t, backend)
		h := f.h
		unknownToken := "tok_" + strings.Repeat("Z", 40)
		unknownKey := "sois_" + strings.Repeat("Z", 40)
		cases := []struct {
			name   string
			auth   string
			key    string
			status int
			code   string
		}{
			{"no Authorization header", "", f.aliceC.Key, 401, "UNAUTHENTICATED"},
			{"Basic scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:secret")), f.aliceC.Key, 401, "UNAUTHENTICATED"},
			{"token without scheme", f.alice.Token, f.aliceC.Key, 401, "UNAUTHENTICATED"},
			{"Token scheme", "Token " + f.alice.Token, f.aliceC.Key, 401, "UNAUTHENTICATED"},
			{"Bearer without token", "Bearer", f.aliceC.Key, 401, "UNAUTHENTICATED"},
			{"unknown token", bearerOf(unknownToken), f.aliceC.Key, 401, "UNAUTHENTICATED"},
			{"API key as bearer token", bearerOf(f.aliceC.Key), f.aliceC.Key, 401, "UNAUTHENTICATED"},
			{"unknown token and no key", bearerOf(unknownToken), "", 401, "UNAUTHENTICATED"},
			{"no X-Api-Key", bearerOf(f.alice.Token), "", 401, "INVALID_API_KEY"},
			{"unknown X-Api-Key", bearerOf(f.alice.Token), unknownKey, 401, "INVALID_API_KEY"},
			{"token as X-Api-Key", bearerOf(f.alice.Token), f.alice.Token, 401, "INVALID_API_KEY"},
			{"key of another user in the same workspace", bearerOf(f.alice.Token), f.bobC.Key, 403, "KEY_OWNER_MISMATCH"},
			{"key of a user in another workspace", bearerOf(f.alice.Token), f.carolC.Key, 403, "KEY_OWNER_MISMATCH"},
			{"revoked key", bearerOf(f.alice.Token), f.revokedKey, 403, "KEY_REVOKED"},
		}
		endpoints := []struct {
			name string
			r    req
		}{
			{"POST /api/agent", req{Method: "POST", Path: "/api/agent", Body: `{"message":"Find all contacts from London"}`}},
			{"GET /api/agent/{id}", req{Method: "GET", Path: "/api/agent/" + f.aliceConv}},
		}
		for _, ep := range endpoints {
			for _, tc := range cases {
				t.Run(ep.name+"/"+tc.name, func(t *testing.T) {
					h := h.on(t)
					r := ep.r
					r.Auth, r.APIKey = tc.auth, tc.key
					h.unchanged(t, func() { expectError(t, h.do(r), tc.status, tc.code) })
				})
			}
		}
		t.Run("auth is checked before the body", func(t *testing.T) {
			h := h.on(t)
			h.unchanged(t, func() {
				r := h.do(req{Method: "POST", Path: "/api/agent", Body: `{"message":`, Auth: bearerOf(unknownToken), APIKey: f.aliceC.Key})
				expectError(t, r, 401, "UNAUTHENTICATED")
			})
		})
		t.Run("the revoked key still works for nobody after a restart", func(t *testing.T) {
			h := h.on(t)
			h.restart()
			h.unchanged(t, func() {
				expectError(t, h.post(creds{f.alice.Token, f.revokedKey}, map[string]any{"message": "List my tasks"}), 403, "KEY_REVOKED")
				expectError(t, h.post(creds{f.alice.Token, f.bobC.Key}, map[string]any{"message": "List my tasks"}), 403, "KEY_OWNER_MISMATCH")
			})
		})
	})
}

func TestErrorTable_NotFound(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		f := newFixture(t, backend)
		h := f.h
		unknown := uuid.NewString()
		var unknownMsg string
		t.Run("unknown uuid", func(t *testing.T) {
			h := h.on(t)
			h.unchanged(t, func() { unknownMsg = expectError(t, h.get(f.aliceC, unknown), 404, "NOT_FOUND") })
		})
		t.Run("another user's conversation is 404, never 403", func(t *testing.T) {
			h := h.on(t)
			for _, c := range []struct {
				name string
				who  creds
				id   string
			}{
				{"bob polls alice's", f.bobC, f.aliceConv},
				{"alice polls bob's", f.aliceC, f.bobConv},
				{"carol (other workspace) polls alice's", f.carolC, f.aliceConv},
			} {
				h.unchanged(t, func() {
					msg := expectError(t, h.get(c.who, c.id), 404, "NOT_FOUND")
					// Indistinguishable from an id that does not exist.
					if strings.ReplaceAll(msg, c.id, "ID") != strings.ReplaceAll(unknownMsg, unknown, "ID") {
						t.Errorf("%s: message %q differs from the unknown-id message %q", c.name, msg, unknownMsg)
					}
				})
			}
			// The owners still see their own, with any of their live keys: a
			// conversation belongs to the person, the key only pays.
			expectStatus(t, h.get(f.aliceC, f.aliceConv), 200)
			expectStatus(t, h.get(f.bobC, f.bobConv), 200)
			expectStatus(t, h.get(h.principal(f.alice), f.aliceConv), 200)
		})
		for _, id := range []string{"not-a-uuid", "12345", strings.ReplaceAll(f.aliceConv, "-", ""),
			"urn:uuid:" + f.aliceConv, "{" + f.aliceConv + "}", f.aliceConv + "0", "%20" + f.aliceConv} {
			t.Run("non-UUID id "+id, func(t *testing.T) {
				h := h.on(t)
				h.unchanged(t, func() { expectError(t, h.get(f.aliceC, id), 404, "NOT_FOUND") })
			})
		}
		t.Run("unknown route", func(t *testing.T) {
			h := h.on(t)
			for _, p := range []string{"/api/nope", "/api/agent/" + f.aliceConv + "/turns", "/", "/api"} {
				h.unchanged(t, func() {
					expectError(t, h.do(req{Method: "GET", Path: p, Auth: bearerOf(f.alice.Token), APIKey: f.aliceC.Key}), 404, "NOT_FOUND")
				})
			}
		})
	})
}

func TestConversationExpiry(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c := h.principal(owner)
		id, p := h.ask(c, "List my tasks")
		created := parseTimestamp(t, "created_at", p.CreatedAt)
		if got := parseTimestamp(t, "expires_at", p.ExpiresAt); !got.Equal(created.Add(24 * time.Hour)) {
			t.Fatalf("expires_at = %s, want created_at + 24h = %s", got, created.Add(24*time.Hour))
		}
		h.Clock.Advance(24*time.Hour - time.Minute)
		expectStatus(t, h.get(c, id), 200)
		h.Clock.Advance(2 * time.Minute)
		h.quiesce()
		h.unchanged(t, func() {
			msg := expectError(t, h.get(c, id), 404, "NOT_FOUND")
			if !strings.Contains(strings.ToLower(msg), "expire") {
				t.Errorf("the 404 of an expired conversation should say it expired: %q", msg)
			}
		})
		// A new conversation after the jump lives for 24h from then.
		id2, _ := h.ask(c, "List my tasks")
		expectStatus(t, h.get(c, id2), 200)
		expectError(t, h.get(c, id), 404, "NOT_FOUND")
		// Still expired after a restart.
		h.restart()
		expectError(t, h.get(c, id), 404, "NOT_FOUND")
		expectStatus(t, h.get(c, id2), 200)
	})
}

// ---- validation (422) ----

func TestErrorTable_Validation(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		f := newFixture(t, backend)
		h := f.h
		long := func(s string, n int) string { return strings.Repeat(s, n) }
		js := func(v any) string {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		cases := []struct {
			name  string
			body  string
			field string // the 422 message must name it
		}{
			{"message missing", `{}`, "message"},
			{"message missing with context", `{"context":{"entity_type":"contact"}}`, "message"},
			{"message null", `{"message":null}`, "message"},
			{"message empty", `{"message":""}`, "message"},
			{"message whitespace only", js(map[string]any{"message": " \t\n\r  "}), "message"},
			{"message of 10,001 characters", js(map[string]any{"message": long("a", 10001)}), "message"},
			{"message of 10,001 é", js(map[string]any{"message": long("é", 10001)}), "message"},
			{"message of 10,001 emoji", js(map[string]any{"message": long("😀", 10001)}), "message"},
			{"message a number", `{"message":42}`, "message"},
			{"message a boolean", `{"message":true}`, "message"},
			{"message an array", `{"message":["hi"]}`, "message"},
			{"message an object", `{"message":{"text":"hi"}}`, "message"},
			{"context a string", `{"message":"hi","context":"contact"}`, "context"},
			{"context an array", `{"message":"hi","context":["contact"]}`, "context"},
			{"context a number", `{"message":"hi","context":1}`, "context"},
			{"context.entity_type a number", `{"message":"hi","context":{"entity_type":5}}`, "context.entity_type"},
			{"context.entity_type an object", `{"message":"hi","context":{"entity_type":{}}}`, "context.entity_type"},
			{"context.entity_id a number", `{"message":"hi","context":{"entity_id":123}}`, "context.entity_id"},
			{"context.action a boolean", `{"message":"hi","context":{"action":false}}`, "context.action"},
			{"context.entity_id too long", js(map[string]any{"message": "hi", "context": map[string]any{"entity_id": long("x", 201)}}), "context.entity_id"},
			{"unknown context hint", `{"message":"hi","context":{"entity":"contact"}}`, "context.entity"},
			{"metadata an array", `{"message":"hi","metadata":[1,2]}`, "metadata"},
			{"metadata a string", `{"message":"hi","metadata":"crm"}`, "metadata"},
			{"metadata a number", `{"message":"hi","metadata":7}`, "metadata"},
			{"unknown top-level field", `{"message":"hi","priority":"high"}`, "priority"},
			{"unknown top-level field only", `{"msg":"hi"}`, "msg"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				h := h.on(t)
				h.unchanged(t, func() {
					msg := expectError(t, h.post(f.aliceC, tc.body), 422, "")
					if !strings.Contains(msg, tc.field) {
						t.Errorf("422 message %q does not name the field %q", msg, tc.field)
					}
				})
			})
		}

		// Bodies at the limits are accepted.
		accepted := []struct {
			name string
			body string
		}{
			{"exactly 10,000 characters", js(map[string]any{"message": long("a", 10000)})},
			{"10,000 é (20,000 bytes)", js(map[string]any{"message": long("é", 10000)})},
			{"10,000 emoji (40,000 bytes)", js(map[string]any{"message": long("😀", 10000)})},
			{"all hints and metadata", `{"message":"List my tasks","context":{"entity_type":"task","entity_id":"abc-123","action":"search"},"metadata":{"source":"crm","n":1}}`},
			{"null context and metadata", `{"message":"List my tasks","context":null,"metadata":null}`},
			{"empty context and metadata", `{"message":"List my tasks","context":{},"metadata":{}}`},
			{"entity_type outside the examples", `{"message":"List my tasks","context":{"entity_type":"spaceship"}}`},
		}
		for _, tc := range accepted {
			t.Run("accepted/"+tc.name, func(t *testing.T) {
				h := h.on(t)
				r := h.post(f.aliceC, tc.body)
				expectStatus(t, r, 202)
				id := r.JSON(t)["conversation_uuid"].(string)
				h.await(f.aliceC, id)
			})
		}
	})
}

// ---- other bad input ----

func TestBadInput(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		f := newFixture(t, backend)
		h := f.h
		auth, key := bearerOf(f.alice.Token), f.aliceC.Key
		big := `{"message":"` + strings.Repeat("a", 64*1024) + `"}`
		cases := []struct {
			name   string
			r      req
			status int
			code   string
		}{
			{"malformed JSON", req{Method: "POST", Path: "/api/agent", Body: `{"message":`}, 400, "MALFORMED_JSON"},
			{"trailing garbage", req{Method: "POST", Path: "/api/agent", Body: `{"message":"hi"} x`}, 400, "MALFORMED_JSON"},
			{"two objects", req{Method: "POST", Path: "/api/agent", Body: `{"message":"hi"}{"message":"hi"}`}, 400, "MALFORMED_JSON"},
			{"single quotes", req{Method: "POST", Path: "/api/agent", Body: `{'message':'hi'}`}, 400, "MALFORMED_JSON"},
			{"a JSON array", req{Method: "POST", Path: "/api/agent", Body: `[{"message":"hi"}]`}, 400, "MALFORMED_JSON"},
			{"a JSON string", req{Method: "POST", Path: "/api/agent", Body: `"hi"`}, 400, "MALFORMED_JSON"},
			{"JSON null", req{Method: "POST", Path: "/api/agent", Body: `null`}, 400, "MALFORMED_JSON"},
			{"empty body", req{Method: "POST", Path: "/api/agent", Body: ``}, 400, "MALFORMED_JSON"},
			{"missing Content-Type", req{Method: "POST", Path: "/api/agent", Body: `{"message":"hi"}`, NoContentType: true}, 415, "UNSUPPORTED_MEDIA_TYPE"},
			{"text/plain", req{Method: "POST", Path: "/api/agent", Body: `{"message":"hi"}`, ContentType: "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"},
			{"form", req{Method: "POST", Path: "/api/agent", Body: `message=hi`, ContentType: "application/x-www-form-urlencoded"}, 415, "UNSUPPORTED_MEDIA_TYPE"},
			{"garbage Content-Type", req{Method: "POST", Path: "/api/agent", Body: `{"message":"hi"}`, ContentType: ";;;"}, 415, "UNSUPPORTED_MEDIA_TYPE"},
			{"body over 64 KiB", req{Method: "POST", Path: "/api/agent", Body: big}, 413, "PAYLOAD_TOO_LARGE"},
			{"body over 64 KiB as text/plain", req{Method: "POST", Path: "/api/agent", Body: big, ContentType: "text/plain"}, 413, "PAYLOAD_TOO_LARGE"},
			{"unknown route", req{Method: "GET", Path: "/api/unknown"}, 404, "NOT_FOUND"},
			{"unknown route POST", req{Method: "POST", Path: "/api/agnet", Body: `{"message":"hi"}`}, 404, "NOT_FOUND"},
			{"DELETE /api/agent", req{Method: "DELETE", Path: "/api/agent"}, 405, "METHOD_NOT_ALLOWED"},
			{"PATCH /api/agent", req{Method: "PATCH", Path: "/api/agent"}, 405, "METHOD_NOT_ALLOWED"},
			{"PUT /api/agent", req{Method: "PUT", Path: "/api/agent", Body: `{"message":"hi"}`}, 405, "METHOD_NOT_ALLOWED"},
			{"DELETE /api/agent/{id}", req{Method: "DELETE", Path: "/api/agent/" + f.aliceConv}, 405, "METHOD_NOT_ALLOWED"},
			{"POST /api/agent/{id}", req{Method: "POST", Path: "/api/agent/" + f.aliceConv, Body: `{"message":"hi"}`}, 405, "METHOD_NOT_ALLOWED"},
			{"PATCH /api/api-keys", req{Method: "PATCH", Path: "/api/api-keys", Body: `{}`}, 405, "METHOD_NOT_ALLOWED"},
			{"key API: malformed JSON", req{Method: "POST", Path: "/api/api-keys", Body: `{"label":`}, 400, "MALFORMED_JSON"},
			{"key API: text/plain", req{Method: "POST", Path: "/api/api-keys", Body: `{"label":"x"}`, ContentType: "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"},
			{"key API: over 64 KiB", req{Method: "POST", Path: "/api/api-keys", Body: `{"label":"` + strings.Repeat("a", 64*1024) + `"}`}, 413, "PAYLOAD_TOO_LARGE"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				h := h.on(t)
				r := tc.r
				r.Auth, r.APIKey = auth, key
				h.unchanged(t, func() { expectError(t, h.do(r), tc.status, tc.code) })
			})
		}
		t.Run("application/json; charset=utf-8 is accepted", func(t *testing.T) {
			h := h.on(t)
			for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"} {
				r := h.do(req{Method: "POST", Path: "/api/agent", Body: `{"message":"List my tasks"}`, ContentType: ct, Auth: auth, APIKey: key})
				expectStatus(t, r, 202)
				h.await(f.aliceC, r.JSON(t)["conversation_uuid"].(string))
			}
		})
		t.Run("a body of exactly 64 KiB is not too large", func(t *testing.T) {
			h := h.on(t)
			// 64 KiB of JSON whose message is too long: the size check passes and
			// validation answers.
			body := `{"message":"` + strings.Repeat("a", 64*1024-len(`{"message":""}`)) + `"}`
			if len(body) != 64*1024 {
				t.Fatalf("body is %d bytes", len(body))
			}
			h.unchanged(t, func() { expectError(t, h.post(f.aliceC, body), 422, "VALIDATION_ERROR") })
		})
	})
}

// ---- 202 and the poll body ----

func TestAcceptAndPoll(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c := h.principal(owner)
		const msg = "Create a task: Research competitor pricing for Q1 2026"

		r := h.post(c, map[string]any{"message": msg, "context": map[string]any{"entity_type": "task", "action": "create"}})
		expectStatus(t, r, 202)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type = %q", ct)
		}
		var accepted map[string]any
		if err := json.Unmarshal(r.Raw, &accepted); err != nil {
			t.Fatal(err)
		}
		id, _ := accepted["conversation_uuid"].(string)
		if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
			t.Fatalf("conversation_uuid %q is not a UUID", id)
		}
		want := map[string]any{"conversation_uuid": id, "status": "accepted", "message": "Your request has been queued."}
		if len(accepted) != len(want) {
			t.Errorf("202 body has fields %v, want exactly %v", keys(accepted), keys(want))
		}
		for k, v := range want {
			if accepted[k] != v {
				t.Errorf("202 body %s = %v, want %v", k, accepted[k], v)
			}
		}

		// Read-your-writes: the very next request finds it.
		first := h.get(c, id)
		expectStatus(t, first, 200)
		body := first.JSON(t)
		wantKeys := []string{"conversation_uuid", "created_at", "expires_at", "resolved_at", "status", "turns", "usage", "webhook"}
		if got := keys(body); strings.Join(got, ",") != strings.Join(wantKeys, ",") {
			t.Errorf("poll fields = %v, want %v", got, wantKeys)
		}
		if body["conversation_uuid"] != id {
			t.Errorf("conversation_uuid = %v", body["conversation_uuid"])
		}
		switch body["status"] {
		case "open", "processing", "resolved":
		default:
			t.Errorf("status right after the 202 = %v", body["status"])
		}
		if body["webhook"] != nil {
			t.Errorf("webhook = %v, want null for a key without response_url", body["webhook"])
		}

		p := h.await(c, id)
		if p.Status != "resolved" {
			t.Fatalf("status = %s: %s", p.Status, p.Raw)
		}
		created := parseTimestamp(t, "created_at", p.CreatedAt)
		expires := parseTimestamp(t, "expires_at", p.ExpiresAt)
		if !expires.Equal(created.Add(24 * time.Hour)) {
			t.Errorf("expires_at %s != created_at %s + 24h", p.ExpiresAt, p.CreatedAt)
		}
		if now := time.Now(); created.Before(now.Add(-time.Minute)) || created.After(now.Add(time.Minute)) {
			t.Errorf("created_at %s is not now", p.CreatedAt)
		}
		if p.ResolvedAt == nil {
			t.Fatalf("resolved_at is null on a resolved conversation: %s", p.Raw)
		}
		resolved := parseTimestamp(t, "resolved_at", *p.ResolvedAt)
		if resolved.Before(created) {
			t.Errorf("resolved_at %s before created_at %s", *p.ResolvedAt, p.CreatedAt)
		}
		if len(p.Turns) != 2 {
			t.Fatalf("turns = %d, want user + agent: %s", len(p.Turns), p.Raw)
		}
		u, a := p.Turns[0], p.Turns[1]
		if u.Role != "user" || u.Payload["message"] != msg {
			t.Errorf("first turn = %+v", u)
		}
		if u.Timestamp != p.CreatedAt {
			t.Errorf("user turn timestamp %s != created_at %s", u.Timestamp, p.CreatedAt)
		}
		if a.Role != "agent" {
			t.Errorf("last turn role = %q", a.Role)
		}
		if reply, _ := a.Payload["content"].(string); !strings.Contains(reply, "Research competitor pricing") {
			t.Errorf("agent reply %q does not name the task", reply)
		}
		if a.Timestamp != *p.ResolvedAt {
			t.Errorf("agent turn timestamp %s != resolved_at %s", a.Timestamp, *p.ResolvedAt)
		}
		for i, tr := range p.Turns {
			parseTimestamp(t, "turns["+string(rune('0'+i))+"].timestamp", tr.Timestamp)
		}
		var final map[string]any
		_ = json.Unmarshal(p.Raw, &final)
		// A reply comes with its outcome.
		wantKeys = []string{"conversation_uuid", "created_at", "expires_at", "outcome", "resolved_at", "status", "turns", "usage", "webhook"}
		if got := keys(final); strings.Join(got, ",") != strings.Join(wantKeys, ",") {
			t.Errorf("resolved poll fields = %v, want %v", got, wantKeys)
		}

		t.Run("read-your-writes for a burst", func(t *testing.T) {
			h := h.on(t)
			var ids []string
			for range 5 {
				r := h.post(c, map[string]any{"message": "List my tasks"})
				expectStatus(t, r, 202)
				id := r.JSON(t)["conversation_uuid"].(string)
				expectStatus(t, h.get(c, id), 200)
				ids = append(ids, id)
			}
			for _, id := range ids {
				h.await(c, id)
			}
		})

		t.Run("a key with a response_url shows a webhook", func(t *testing.T) {
			h := h.on(t)
			k := h.createKey(owner, map[string]any{"response_url": "https://hooks.example.com/sois"})
			r := h.post(creds{owner.Token, k.Key}, map[string]any{"message": "List my tasks"})
			expectStatus(t, r, 202)
			got := h.get(creds{owner.Token, k.Key}, r.JSON(t)["conversation_uuid"].(string)).JSON(t)
			wh, ok := got["webhook"].(map[string]any)
			if !ok {
				t.Fatalf("webhook = %v, want an object", got["webhook"])
			}
			if s, _ := wh["status"].(string); s == "" {
				t.Errorf("webhook.status missing: %v", wh)
			}
		})
	})
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ---- the "done when" walkthrough ----

func TestWalkthrough(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c := h.principal(owner)

		johnID, john := h.ask(c, "Create a contact for John Smith at Acme Corp, john@acme.com, +44 7700 900000")
		if r := john.reply(); !strings.Contains(r, "John Smith") {
			t.Errorf("create reply %q does not name John Smith", r)
		}
		annID, ann := h.ask(c, "Create a contact for Ann Lee at Initech in London, ann@initech.com")
		if r := ann.reply(); !strings.Contains(r, "Ann Lee") {
			t.Errorf("create reply %q does not name Ann Lee", r)
		}
		londonID, london := h.ask(c, "Find all contacts from London")
		if r := london.reply(); !strings.Contains(r, "Ann Lee") || strings.Contains(r, "John Smith") {
			t.Errorf("London search reply %q: want Ann Lee and not John Smith", r)
		}

		// Another workspace sees none of it.
		other := h.createWorkspace("Globex", "owner@globex.test")
		oc := h.principal(other)
		if _, p := h.ask(oc, "Find all contacts from London"); strings.Contains(p.reply(), "Ann Lee") {
			t.Errorf("another workspace found Ann Lee: %q", p.reply())
		}

		before := map[string][]byte{}
		for _, id := range []string{johnID, annID, londonID} {
			r := h.get(c, id)
			expectStatus(t, r, 200)
			before[id] = r.Raw
		}
		h.restart()
		for id, raw := range before {
			r := h.get(c, id)
			expectStatus(t, r, 200)
			if string(r.Raw) != string(raw) {
				t.Errorf("conversation %s polls differently after a restart:\nbefore: %s\nafter:  %s", id, raw, r.Raw)
			}
		}
		if _, p := h.ask(c, "Find all contacts from London"); !strings.Contains(p.reply(), "Ann Lee") {
			t.Errorf("after restart, London search reply %q lacks Ann Lee", p.reply())
		}

		t.Run("unsupported request", func(t *testing.T) {
			h := h.on(t)
			_, p := h.ask(c, "Book a meeting room for Tuesday afternoon")
			if r := p.reply(); r != offline.UnsupportedReply || !strings.Contains(r, "needs a language model") {
				t.Errorf("reply = %q, want the offline model's unsupported reply", r)
			}
		})
		t.Run("tasks", func(t *testing.T) {
			h := h.on(t)
			_, p := h.ask(c, "Create a task: Research competitor pricing for Q1 2026")
			if r := p.reply(); !strings.Contains(r, "Research competitor pricing for Q1 2026") {
				t.Errorf("create task reply = %q", r)
			}
			_, p = h.ask(c, "List my tasks")
			if r := p.reply(); !strings.Contains(r, "Research competitor pricing for Q1 2026") {
				t.Errorf("list tasks reply = %q", r)
			}
			// Another user's tasks are not listed.
			if _, p := h.ask(oc, "List my tasks"); strings.Contains(p.reply(), "Research competitor pricing") {
				t.Errorf("another workspace lists the task: %q", p.reply())
			}
		})
		t.Run("update and delete a contact", func(t *testing.T) {
			h := h.on(t)
			_, p := h.ask(c, "Update John Smith's phone to +44 7700 900001")
			if r := p.reply(); !strings.Contains(r, "Contact updated") || !strings.Contains(r, "+44 7700 900001") {
				t.Errorf("update reply = %q", r)
			}
			_, p = h.ask(c, "Find John Smith")
			if r := p.reply(); !strings.Contains(r, "John Smith") {
				t.Errorf("find reply after update = %q", r)
			}
			_, p = h.ask(c, "Delete the contact John Smith")
			if r := p.reply(); !strings.Contains(r, "Contact deleted") || !strings.Contains(r, "John Smith") {
				t.Errorf("delete reply = %q", r)
			}
			_, p = h.ask(c, "List all contacts")
			if r := p.reply(); strings.Contains(r, "John Smith") || !strings.Contains(r, "Ann Lee") {
				t.Errorf("after delete, list reply = %q; want Ann Lee only", r)
			}
			_, p = h.ask(c, "Delete the contact John Smith")
			if r := p.reply(); strings.Contains(r, "Contact deleted") {
				t.Errorf("deleting twice claims success: %q", r)
			}
		})
		t.Run("state survives a second restart", func(t *testing.T) {
			h := h.on(t)
			h.restart()
			_, p := h.ask(c, "List all contacts")
			if r := p.reply(); strings.Contains(r, "John Smith") || !strings.Contains(r, "Ann Lee") {
				t.Errorf("after restart, list reply = %q", r)
			}
			_, p = h.ask(c, "List my tasks")
			if r := p.reply(); !strings.Contains(r, "Research competitor pricing") {
				t.Errorf("after restart, tasks reply = %q", r)
			}
		})
	})
}

// ---- key API ----

var keyRE = regexp.MustCompile(`^sois_live_[0-9A-Za-z]{32,}$`)

func TestKeyAPI(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		alice := h.createWorkspace("Acme", "alice@acme.test")
		bob := h.addUser(alice, "bob@acme.test", "member")
		carol := h.createWorkspace("Globex", "carol@globex.test")
		auth := bearerOf(alice.Token)

		var k keyView
		t.Run("create", func(t *testing.T) {
			h := h.on(t)
			r := h.do(req{Method: "POST", Path: "/api/api-keys", Auth: auth, Body: map[string]any{
				"label": "My CRM Integration", "response_url": "https://your-app.com/webhook",
				"budget_usd_cents": 5000, "budget_period": "monthly"}})
			expectStatus(t, r, 201)
			k = decodeKey(t, r)
			h.remember(k.Key, k.SigningSecret)
			if !keyRE.MatchString(k.Key) {
				t.Errorf("key %q is not sois_live_ + at least 32 base62 characters (a live key, the default)", k.Key)
			}
			if k.SigningSecret == "" {
				t.Errorf("signing_secret missing")
			}
			if k.KeyPrefix == "" || !strings.HasPrefix(k.Key, k.KeyPrefix) || len(k.KeyPrefix) >= len(k.Key)/2 {
				t.Errorf("key_prefix %q is not a short prefix of the key", k.KeyPrefix)
			}
			if k.Label != "My CRM Integration" || k.ResponseURL == nil || *k.ResponseURL != "https://your-app.com/webhook" ||
				k.BudgetUSDCents == nil || *k.BudgetUSDCents != 5000 || k.BudgetPeriod != "monthly" || k.Status != "active" || k.RevokedAt != nil {
				t.Errorf("created key = %s", r.Raw)
			}
			if _, err := uuid.Parse(k.ID); err != nil {
				t.Errorf("id %q is not a UUID", k.ID)
			}
			parseTimestamp(t, "created_at", k.CreatedAt)
		})
		t.Run("keys are unique", func(t *testing.T) {
			h := h.on(t)
			a, b := h.createKey(alice, nil), h.createKey(alice, nil)
			if a.Key == b.Key || a.SigningSecret == b.SigningSecret || a.ID == b.ID {
				t.Errorf("two keys share a value")
			}
		})
		t.Run("defaults: null budget is unlimited", func(t *testing.T) {
			h := h.on(t)
			for _, body := range []any{nil, map[string]any{"budget_usd_cents": nil}, map[string]any{"label": nil, "response_url": nil}} {
				d := h.createKey(alice, body)
				if d.BudgetUSDCents != nil || d.ResponseURL != nil || d.Status != "active" {
					t.Errorf("key created from %v = %+v", body, d)
				}
			}
			// An empty body (no Content-Type) is fine too.
			r := h.do(req{Method: "POST", Path: "/api/api-keys", Auth: auth})
			expectStatus(t, r, 201)
			e := decodeKey(t, r)
			h.remember(e.Key, e.SigningSecret)
			// Every budget period is accepted, as is a zero budget.
			for _, p := range []string{"daily", "monthly", "total"} {
				if got := h.createKey(alice, map[string]any{"budget_period": p, "budget_usd_cents": 0}); got.BudgetPeriod != p ||
					got.BudgetUSDCents == nil || *got.BudgetUSDCents != 0 {
					t.Errorf("period %s: %+v", p, got)
				}
			}
		})
		t.Run("shown once", func(t *testing.T) {
			h := h.on(t)
			g := h.do(req{Method: "GET", Path: "/api/api-keys/" + k.ID, Auth: auth})
			expectStatus(t, g, 200)
			l := h.do(req{Method: "GET", Path: "/api/api-keys", Auth: auth})
			expectStatus(t, l, 200)
			for name, raw := range map[string][]byte{"GET": g.Raw, "list": l.Raw} {
				if strings.Contains(string(raw), k.Key) || strings.Contains(string(raw), k.SigningSecret) {
					t.Errorf("%s shows the key or the signing secret: %s", name, raw)
				}
				if strings.Contains(string(raw), `"key":`) || strings.Contains(string(raw), `"signing_secret"`) {
					t.Errorf("%s has a key or signing_secret field: %s", name, raw)
				}
			}
			got := decodeKey(t, g)
			if got.KeyPrefix != k.KeyPrefix || got.Label != k.Label {
				t.Errorf("GET = %s", g.Raw)
			}
			var list struct {
				APIKeys []map[string]any `json:"api_keys"`
			}
			if err := json.Unmarshal(l.Raw, &list); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range list.APIKeys {
				if e["id"] == k.ID {
					found = e["key_prefix"] == k.KeyPrefix
				}
			}
			if !found {
				t.Errorf("list lacks the key with its prefix: %s", l.Raw)
			}
		})
		t.Run("validation", func(t *testing.T) {
			h := h.on(t)
			cases := []struct {
				name, body, field string
			}{
				{"label a number", `{"label":5}`, "label"},
				{"label an object", `{"label":{}}`, "label"},
				{"label too long", `{"label":"` + strings.Repeat("x", 201) + `"}`, "label"},
				{"response_url relative", `{"response_url":"/webhook"}`, "response_url"},
				{"response_url no scheme", `{"response_url":"your-app.com/webhook"}`, "response_url"},
				{"response_url ftp", `{"response_url":"ftp://your-app.com/webhook"}`, "response_url"},
				{"response_url javascript", `{"response_url":"javascript:alert(1)"}`, "response_url"},
				{"response_url a number", `{"response_url":42}`, "response_url"},
				{"response_url blank", `{"response_url":"  "}`, "response_url"},
				{"response_url with credentials", `{"response_url":"https://u:p@your-app.com/webhook"}`, "response_url"},
				{"budget negative", `{"budget_usd_cents":-1}`, "budget_usd_cents"},
				{"budget fractional", `{"budget_usd_cents":12.5}`, "budget_usd_cents"},
				// Regression: json.Number also decodes a JSON string holding a
				// number, so "100" used to be taken as 100.
				{"budget a string", `{"budget_usd_cents":"100"}`, "budget_usd_cents"},
				{"budget a boolean", `{"budget_usd_cents":true}`, "budget_usd_cents"},
				{"budget too big", `{"budget_usd_cents":1e30}`, "budget_usd_cents"},
				{"budget_period weekly", `{"budget_period":"weekly"}`, "budget_period"},
				{"budget_period a number", `{"budget_period":30}`, "budget_period"},
				{"unknown field", `{"label":"x","scopes":["all"]}`, "scopes"},
				{"key not settable", `{"key":"sois_mine"}`, "key"},
			}
			h.quiesce()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					h := h.on(t)
					h.unchanged(t, func() {
						r := h.do(req{Method: "POST", Path: "/api/api-keys", Auth: auth, Body: tc.body})
						if r.Status == 201 {
							nk := decodeKey(t, r)
							h.remember(nk.Key, nk.SigningSecret)
						}
						msg := expectError(t, r, 422, "VALIDATION_ERROR")
						if !strings.Contains(msg, tc.field) {
							t.Errorf("422 message %q does not name %q", msg, tc.field)
						}
						// The same rules hold on PUT.
						r = h.do(req{Method: "PUT", Path: "/api/api-keys/" + k.ID, Auth: auth, Body: tc.body})
						msg = expectError(t, r, 422, "VALIDATION_ERROR")
						if !strings.Contains(msg, tc.field) {
							t.Errorf("PUT 422 message %q does not name %q", msg, tc.field)
						}
					})
				})
			}
			t.Run("PUT with nothing to change", func(t *testing.T) {
				h := h.on(t)
				h.unchanged(t, func() {
					expectError(t, h.do(req{Method: "PUT", Path: "/api/api-keys/" + k.ID, Auth: auth, Body: `{}`}), 422, "VALIDATION_ERROR")
				})
			})
		})
		t.Run("partial update", func(t *testing.T) {
			h := h.on(t)
			r := h.do(req{Method: "PUT", Path: "/api/api-keys/" + k.ID, Auth: auth, Body: `{"label":"Renamed"}`})
			expectStatus(t, r, 200)
			u := decodeKey(t, r)
			if u.Label != "Renamed" || u.ResponseURL == nil || *u.ResponseURL != "https://your-app.com/webhook" ||
				u.BudgetUSDCents == nil || *u.BudgetUSDCents != 5000 || u.BudgetPeriod != "monthly" || u.KeyPrefix != k.KeyPrefix {
				t.Errorf("after label change: %s", r.Raw)
			}
			if u.Key != "" || u.SigningSecret != "" {
				t.Errorf("PUT shows the key or secret: %s", r.Raw)
			}
			if parseTimestamp(t, "updated_at", u.UpdatedAt).Before(parseTimestamp(t, "created_at", u.CreatedAt)) || u.CreatedAt != k.CreatedAt {
				t.Errorf("after PUT: created_at %s (was %s), updated_at %s", u.CreatedAt, k.CreatedAt, u.UpdatedAt)
			}
			r = h.do(req{Method: "PUT", Path: "/api/api-keys/" + k.ID, Auth: auth, Body: `{"budget_usd_cents":null}`})
			expectStatus(t, r, 200)
			u = decodeKey(t, r)
			if u.BudgetUSDCents != nil || u.Label != "Renamed" || u.ResponseURL == nil || u.BudgetPeriod != "monthly" {
				t.Errorf("after clearing the budget: %s", r.Raw)
			}
			r = h.do(req{Method: "PUT", Path: "/api/api-keys/" + k.ID, Auth: auth, Body: `{"budget_usd_cents":250,"budget_period":"daily","response_url":null}`})
			expectStatus(t, r, 200)
			u = decodeKey(t, r)
			if u.BudgetUSDCents == nil || *u.BudgetUSDCents != 250 || u.BudgetPeriod != "daily" || u.ResponseURL != nil || u.Label != "Renamed" {
				t.Errorf("after setting budget and removing the webhook: %s", r.Raw)
			}
			// GET agrees with the PUT answer.
			g := decodeKey(t, h.do(req{Method: "GET", Path: "/api/api-keys/" + k.ID, Auth: auth}))
			if g.Label != u.Label || g.BudgetPeriod != u.BudgetPeriod || (g.BudgetUSDCents == nil) != (u.BudgetUSDCents == nil) {
				t.Errorf("GET %+v disagrees with PUT %+v", g, u)
			}
			// The same settings again change nothing.
			h.quiesce()
			h.unchanged(t, func() {
				expectStatus(t, h.do(req{Method: "PUT", Path: "/api/api-keys/" + k.ID, Auth: auth, Body: `{"label":"Renamed"}`}), 200)
			})
		})
		t.Run("usage counters", func(t *testing.T) {
			h := h.on(t)
			u := h.createKey(alice, map[string]any{"label": "usage"})
			get := func() map[string]any {
				r := h.do(req{Method: "GET", Path: "/api/api-keys/" + u.ID, Auth: auth})
				expectStatus(t, r, 200)
				usage, ok := r.JSON(t)["usage"].(map[string]any)
				if !ok {
					t.Fatalf("no usage in %s", r.Raw)
				}
				return usage
			}
			if n := get()["messages_accepted"]; n != float64(0) {
				t.Errorf("messages_accepted = %v before any message", n)
			}
			id := h.send(creds{alice.Token, u.Key}, "List my tasks")
			if n := get()["messages_accepted"]; n != float64(1) {
				t.Errorf("messages_accepted = %v right after one message", n)
			}
			h.await(creds{alice.Token, u.Key}, id)
			h.send(creds{alice.Token, u.Key}, "List my tasks")
			if n := get()["messages_accepted"]; n != float64(2) {
				t.Errorf("messages_accepted = %v after two messages", n)
			}
			// Another key's counters do not move.
			if n := decodeKey(t, h.do(req{Method: "GET", Path: "/api/api-keys/" + k.ID, Auth: auth})).Usage["messages_accepted"]; n != float64(0) {
				t.Errorf("an unused key counts %v messages", n)
			}
		})
		t.Run("another user's key is not found", func(t *testing.T) {
			h := h.on(t)
			for _, who := range []member{bob, carol} {
				h.quiesce()
				h.unchanged(t, func() {
					a := bearerOf(who.Token)
					expectError(t, h.do(req{Method: "GET", Path: "/api/api-keys/" + k.ID, Auth: a}), 404, "NOT_FOUND")
					expectError(t, h.do(req{Method: "PUT", Path: "/api/api-keys/" + k.ID, Auth: a, Body: `{"label":"mine"}`}), 404, "NOT_FOUND")
					expectError(t, h.do(req{Method: "DELETE", Path: "/api/api-keys/" + k.ID, Auth: a}), 404, "NOT_FOUND")
					l := h.do(req{Method: "GET", Path: "/api/api-keys", Auth: a})
					expectStatus(t, l, 200)
					if strings.Contains(string(l.Raw), k.ID) {
						t.Errorf("%s lists alice's key", who.Email)
					}
				})
			}
			for _, id := range []string{uuid.NewString(), "nope"} {
				expectError(t, h.do(req{Method: "GET", Path: "/api/api-keys/" + id, Auth: auth}), 404, "NOT_FOUND")
				expectError(t, h.do(req{Method: "DELETE", Path: "/api/api-keys/" + id, Auth: auth}), 404, "NOT_FOUND")
			}
		})
		t.Run("owners and auditors read the workspace's keys", func(t *testing.T) {
			h := h.on(t)
			dave := h.addUser(alice, "dave@acme.test", "auditor")
			bk := h.createKey(bob, map[string]any{"label": "bob's"})
			ids := func(r response) []string {
				t.Helper()
				expectStatus(t, r, 200)
				var l struct {
					Keys []keyView `json:"api_keys"`
				}
				if err := json.Unmarshal(r.Raw, &l); err != nil {
					t.Fatalf("decode %s: %v", r.Raw, err)
				}
				var out []string
				for _, k := range l.Keys {
					out = append(out, k.ID+"@"+k.UserID)
				}
				return out
			}
			has := func(list []string, k keyView, owner member) bool { return slices.Contains(list, k.ID+"@"+owner.UserID) }
			// The auditor, holding no keys, lists the workspace's and reads
			// any of them with its usage; it changes none.
			dl := ids(h.do(req{Method: "GET", Path: "/api/api-keys", Auth: bearerOf(dave.Token)}))
			if !has(dl, k, alice) || !has(dl, bk, bob) {
				t.Errorf("the auditor lists %v, want alice's %s and bob's %s", dl, k.ID, bk.ID)
			}
			for _, key := range []keyView{k, bk} {
				if g := decodeKey(t, h.do(req{Method: "GET", Path: "/api/api-keys/" + key.ID, Auth: bearerOf(dave.Token)})); g.ID != key.ID || g.Usage == nil || g.Key != "" {
					t.Errorf("the auditor reads %s as %+v, want it with usage and without the key", key.ID, g)
				}
			}
			h.quiesce()
			h.unchanged(t, func() {
				expectError(t, h.do(req{Method: "PUT", Path: "/api/api-keys/" + bk.ID, Auth: bearerOf(dave.Token), Body: `{"label":"x"}`}), 403, "FORBIDDEN")
				expectError(t, h.do(req{Method: "DELETE", Path: "/api/api-keys/" + bk.ID, Auth: bearerOf(dave.Token)}), 403, "FORBIDDEN")
				// The owner reads bob's key, lists it on asking, and changes it not.
				if g := decodeKey(t, h.do(req{Method: "GET", Path: "/api/api-keys/" + bk.ID, Auth: auth})); g.ID != bk.ID || g.UserID != bob.UserID {
					t.Errorf("the owner reads bob's key as %+v", g)
				}
				if mine := ids(h.do(req{Method: "GET", Path: "/api/api-keys", Auth: auth})); has(mine, bk, bob) {
					t.Errorf("the owner's own list %v holds bob's key", mine)
				}
				if all := ids(h.do(req{Method: "GET", Path: "/api/api-keys?scope=workspace", Auth: auth})); !has(all, k, alice) || !has(all, bk, bob) {
					t.Errorf("scope=workspace lists %v for the owner", all)
				}
				expectError(t, h.do(req{Method: "PUT", Path: "/api/api-keys/" + bk.ID, Auth: auth, Body: `{"label":"x"}`}), 404, "NOT_FOUND")
				// A member reads only their own; nobody reads another workspace's.
				expectError(t, h.do(req{Method: "GET", Path: "/api/api-keys?scope=workspace", Auth: bearerOf(bob.Token)}), 403, "FORBIDDEN")
				expectError(t, h.do(req{Method: "GET", Path: "/api/api-keys?scope=everyone", Auth: auth}), 422, "VALIDATION_ERROR")
				expectError(t, h.do(req{Method: "GET", Path: "/api/api-keys/" + bk.ID, Auth: bearerOf(carol.Token)}), 404, "NOT_FOUND")
				if cl := ids(h.do(req{Method: "GET", Path: "/api/api-keys?scope=workspace", Auth: bearerOf(carol.Token)})); has(cl, k, alice) || has(cl, bk, bob) {
					t.Errorf("another workspace's owner lists %v", cl)
				}
			})
		})
		t.Run("bearer only", func(t *testing.T) {
			h := h.on(t)
			h.quiesce()
			h.unchanged(t, func() {
				for _, r := range []req{
					{Method: "GET", Path: "/api/api-keys"},
					{Method: "POST", Path: "/api/api-keys", Body: `{}`},
					{Method: "GET", Path: "/api/api-keys/" + k.ID},
					{Method: "PUT", Path: "/api/api-keys/" + k.ID, Body: `{"label":"x"}`},
					{Method: "DELETE", Path: "/api/api-keys/" + k.ID},
				} {
					r.APIKey = k.Key // a key is not a substitute for the token
					expectError(t, h.do(r), 401, "UNAUTHENTICATED")
					r.Auth = bearerOf(k.Key)
					expectError(t, h.do(r), 401, "UNAUTHENTICATED")
				}
			})
		})
		t.Run("revoke", func(t *testing.T) {
			h := h.on(t)
			r := h.do(req{Method: "DELETE", Path: "/api/api-keys/" + k.ID, Auth: auth})
			expectStatus(t, r, 200)
			v := decodeKey(t, r)
			if v.Status != "revoked" || v.RevokedAt == nil {
				t.Fatalf("after DELETE: %s", r.Raw)
			}
			parseTimestamp(t, "revoked_at", *v.RevokedAt)
			h.quiesce()
			h.unchanged(t, func() {
				r2 := h.do(req{Method: "DELETE", Path: "/api/api-keys/" + k.ID, Auth: auth})
				expectStatus(t, r2, 200)
				v2 := decodeKey(t, r2)
				if v2.Status != "revoked" || v2.RevokedAt == nil || *v2.RevokedAt != *v.RevokedAt {
					t.Errorf("second DELETE: %s (first: %s)", r2.Raw, r.Raw)
				}
				expectError(t, h.do(req{Method: "PUT", Path: "/api/api-keys/" + k.ID, Auth: auth, Body: `{"label":"again"}`}), 403, "KEY_REVOKED")
				expectError(t, h.post(creds{alice.Token, k.Key}, map[string]any{"message": "List my tasks"}), 403, "KEY_REVOKED")
			})
			g := decodeKey(t, h.do(req{Method: "GET", Path: "/api/api-keys/" + k.ID, Auth: auth}))
			if g.Status != "revoked" || g.RevokedAt == nil {
				t.Errorf("GET after revoke: %+v", g)
			}
			// Still revoked after a restart.
			h.restart()
			g = decodeKey(t, h.do(req{Method: "GET", Path: "/api/api-keys/" + k.ID, Auth: auth}))
			if g.Status != "revoked" {
				t.Errorf("GET after restart: %+v", g)
			}
			expectError(t, h.post(creds{alice.Token, k.Key}, map[string]any{"message": "List my tasks"}), 403, "KEY_REVOKED")
		})
	})
}

// ---- identity ----

func TestIdentity(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		t.Run("admin token", func(t *testing.T) {
			h := h.on(t)
			body := `{"name":"Acme","owner_email":"owner@acme.test"}`
			for _, auth := range []string{"", "Bearer wrong", bearerOf(testAdminToken + "x"), "Basic " + testAdminToken, testAdminToken} {
				h.unchanged(t, func() {
					expectError(t, h.do(req{Method: "POST", Path: "/api/admin/workspaces", Auth: auth, Body: body}), 401, "UNAUTHENTICATED")
				})
			}
		})
		t.Run("workspace validation", func(t *testing.T) {
			h := h.on(t)
			for _, tc := range []struct{ body, field string }{
				{`{"name":"Acme","owner_email":"not-an-email"}`, "owner_email"},
				{`{"name":"Acme","owner_email":""}`, "owner_email"},
				{`{"name":"Acme"}`, "owner_email"},
				{`{"name":"Acme","owner_email":"Owner <owner@acme.test>"}`, "owner_email"},
				{`{"name":"Acme","owner_email":5}`, "owner_email"},
				{`{"name":"","owner_email":"owner@acme.test"}`, "name"},
				{`{"owner_email":"owner@acme.test"}`, "name"},
				{`{"name":"Acme","owner_email":"owner@acme.test","plan":"pro"}`, "plan"},
			} {
				h.unchanged(t, func() {
					r := h.do(req{Method: "POST", Path: "/api/admin/workspaces", Auth: bearerOf(testAdminToken), Body: tc.body})
					if !strings.Contains(expectError(t, r, 422, "VALIDATION_ERROR"), tc.field) {
						t.Errorf("%s: message does not name %q: %s", tc.body, tc.field, r.Raw)
					}
				})
			}
		})

		owner := h.createWorkspace("Acme", "owner@acme.test")
		var mem, aud member
		t.Run("owner adds users", func(t *testing.T) {
			h := h.on(t)
			mem = h.addUser(owner, "member@acme.test", "member")
			aud = h.addUser(owner, "auditor@acme.test", "auditor")
			// role defaults to member
			r := h.do(req{Method: "POST", Path: "/api/users", Auth: bearerOf(owner.Token), Body: `{"email":"plain@acme.test"}`})
			expectStatus(t, r, 201)
			var got map[string]any
			_ = json.Unmarshal(r.Raw, &got)
			if got["role"] != "member" || got["user_id"] == "" || got["token"] == "" {
				t.Errorf("default role: %s", r.Raw)
			}
			if tok, _ := got["token"].(string); tok != "" {
				h.remember(tok)
			}
			if keys := keys(got); strings.Join(keys, ",") != "role,token,user_id" {
				t.Errorf("POST /api/users fields = %v", keys)
			}
			co := h.addUser(owner, "co-owner@acme.test", "owner")
			// A second owner may add people too.
			h.addUser(co, "added-by-co@acme.test", "member")
			if mem.Token == owner.Token || mem.UserID == owner.UserID {
				t.Errorf("new user shares the owner's credentials")
			}
		})
		t.Run("new token works immediately", func(t *testing.T) {
			h := h.on(t)
			n := h.addUser(owner, "fresh@acme.test", "member")
			k := h.createKey(n, nil) // the very next request
			id := h.send(creds{n.Token, k.Key}, "List my tasks")
			h.await(creds{n.Token, k.Key}, id)
		})
		t.Run("only owners add users", func(t *testing.T) {
			h := h.on(t)
			for _, who := range []member{mem, aud} {
				h.unchanged(t, func() {
					r := h.do(req{Method: "POST", Path: "/api/users", Auth: bearerOf(who.Token), Body: `{"email":"x@acme.test","role":"owner"}`})
					expectError(t, r, 403, "FORBIDDEN")
				})
			}
			h.unchanged(t, func() {
				expectError(t, h.do(req{Method: "POST", Path: "/api/users", Body: `{"email":"x@acme.test"}`}), 401, "UNAUTHENTICATED")
				// The admin token is not a user token.
				expectError(t, h.do(req{Method: "POST", Path: "/api/users", Auth: bearerOf(testAdminToken), Body: `{"email":"x@acme.test"}`}), 401, "UNAUTHENTICATED")
			})
		})
		t.Run("user validation", func(t *testing.T) {
			h := h.on(t)
			for _, tc := range []struct {
				body   string
				status int
				code   string
				field  string
			}{
				{`{"email":"member@acme.test","role":"member"}`, 409, "CONFLICT", ""},
				{`{"email":"MEMBER@acme.test"}`, 409, "CONFLICT", ""},
				{`{"email":"owner@acme.test","role":"auditor"}`, 409, "CONFLICT", ""},
				{`{"email":"new@acme.test","role":"admin"}`, 422, "VALIDATION_ERROR", "role"},
				{`{"email":"new@acme.test","role":""}`, 422, "VALIDATION_ERROR", "role"},
				{`{"email":"new@acme.test","role":1}`, 422, "VALIDATION_ERROR", "role"},
				{`{"email":"nope","role":"member"}`, 422, "VALIDATION_ERROR", "email"},
				{`{"role":"member"}`, 422, "VALIDATION_ERROR", "email"},
				{`{"email":"new@acme.test","name":"New"}`, 422, "VALIDATION_ERROR", "name"},
			} {
				h.unchanged(t, func() {
					r := h.do(req{Method: "POST", Path: "/api/users", Auth: bearerOf(owner.Token), Body: tc.body})
					msg := expectError(t, r, tc.status, tc.code)
					if tc.field != "" && !strings.Contains(msg, tc.field) {
						t.Errorf("%s: message %q does not name %q", tc.body, msg, tc.field)
					}
				})
			}
		})
		t.Run("the same email may be in another workspace", func(t *testing.T) {
			h := h.on(t)
			other := h.createWorkspace("Globex", "owner@globex.test")
			h.addUser(other, "member@acme.test", "member")
		})
		t.Run("auditors hold no keys", func(t *testing.T) {
			h := h.on(t)
			h.unchanged(t, func() {
				expectError(t, h.do(req{Method: "POST", Path: "/api/api-keys", Auth: bearerOf(aud.Token), Body: `{}`}), 403, "FORBIDDEN")
			})
			l := h.do(req{Method: "GET", Path: "/api/api-keys", Auth: bearerOf(aud.Token)})
			expectStatus(t, l, 200)
			// Members may create keys.
			h.createKey(mem, nil)
		})
		t.Run("tokens survive a restart", func(t *testing.T) {
			h := h.on(t)
			h.restart()
			for _, m := range []member{owner, mem, aud} {
				expectStatus(t, h.do(req{Method: "GET", Path: "/api/api-keys", Auth: bearerOf(m.Token)}), 200)
			}
		})
	})
}

func TestAdminAPIOff(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend, withoutAdminToken())
		for _, auth := range []string{"", bearerOf(testAdminToken), "Bearer "} {
			h.unchanged(t, func() {
				r := h.do(req{Method: "POST", Path: "/api/admin/workspaces", Auth: auth, Body: `{"name":"Acme","owner_email":"owner@acme.test"}`})
				expectError(t, r, 404, "NOT_FOUND")
			})
		}
		expectStatus(t, h.do(req{Method: "GET", Path: "/healthz"}), 200)
	})
}

// ---- credentials at rest ----

func TestCredentialsNeverStoredInPlaintext(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		mem := h.addUser(owner, "member@acme.test", "member")
		aud := h.addUser(owner, "auditor@acme.test", "auditor")
		_ = aud
		k1 := h.createKey(owner, map[string]any{"label": "one", "response_url": "https://hooks.example.com/a", "budget_usd_cents": 100})
		k2 := h.createKey(mem, map[string]any{"label": "two"})
		h.do(req{Method: "PUT", Path: "/api/api-keys/" + k1.ID, Auth: bearerOf(owner.Token), Body: `{"label":"one!"}`})
		// Messages that quote the credentials are the caller's own words: not
		// used here, so any hit is a leak by the gateway.
		// k1 (with a webhook) stays unused for messages: no delivery attempts
		// to an unreachable host keep the log busy.
		k3 := h.createKey(owner, map[string]any{"label": "three"})
		h.ask(creds{owner.Token, k3.Key}, "Create a contact for John Smith at Acme Corp, john@acme.com, +44 7700 900000")
		h.ask(creds{mem.Token, k2.Key}, "Create a task: Research competitor pricing for Q1 2026")
		h.ask(creds{mem.Token, k2.Key}, "List my tasks")
		expectStatus(t, h.do(req{Method: "DELETE", Path: "/api/api-keys/" + k2.ID, Auth: bearerOf(mem.Token)}), 200)
		if n := len(h.issued()); n < 7 {
			t.Fatalf("only %d credentials recorded", n)
		}
		h.assertNoPlaintextSecrets()

		// The event log does hold what it needs: a hash of each token.
		found := 0
		for _, ev := range h.allEvents() {
			if strings.Contains(string(ev.Data), commands.HashSecret(owner.Token)) {
				found++
			}
		}
		if found == 0 {
			t.Errorf("no event holds the owner's token hash; is the token stored at all?")
		}
	})
}

// ---- health ----

func TestHealth(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		r := h.do(req{Method: "GET", Path: "/healthz"})
		expectStatus(t, r, 200)
		r = h.do(req{Method: "GET", Path: "/readyz"})
		expectStatus(t, r, 200)
		body := r.JSON(t)
		if body["status"] != "ready" {
			t.Errorf("readyz = %s", r.Raw)
		}
		if d, ok := body["detail"].(map[string]any); !ok || d["event_store"] != backend {
			t.Errorf("readyz detail does not name the %s store: %s", backend, r.Raw)
		}
		// Health needs no credentials and does not touch the log.
		h.unchanged(t, func() { expectStatus(t, h.do(req{Method: "GET", Path: "/readyz"}), 200) })
	})
}

// TestOrgIDsAreCaseInsensitive: team and department ids, like every other
// id, are UUIDs in either case and are answered lower-case; the braced
// and urn: forms are not ids.
func TestOrgIDsAreCaseInsensitive(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		auth := bearerOf(owner.Token)
		d := h.do(req{Method: "POST", Path: "/api/departments", Auth: auth, Body: map[string]string{"name": "Sales"}})
		expectStatus(t, d, http.StatusCreated)
		deptID, _ := d.JSON(t)["id"].(string)
		tm := h.do(req{Method: "POST", Path: "/api/teams", Auth: auth,
			Body: map[string]string{"name": "EMEA", "department_id": strings.ToUpper(deptID)}})
		expectStatus(t, tm, http.StatusCreated)
		if got := tm.JSON(t)["department_id"]; got != deptID {
			t.Errorf("department_id answered as %v, want %s", got, deptID)
		}
		teamID, _ := tm.JSON(t)["id"].(string)
		m := h.do(req{Method: "POST", Path: "/api/teams/" + strings.ToUpper(teamID) + "/members", Auth: auth,
			Body: map[string]string{"user_id": owner.UserID}})
		expectStatus(t, m, http.StatusOK)
		if got := m.JSON(t)["team_id"]; got != teamID {
			t.Errorf("team_id answered as %v, want %s", got, teamID)
		}
		h.quiesce()
		h.unchanged(t, func() {
			expectError(t, h.do(req{Method: "POST", Path: "/api/teams/urn:uuid:" + teamID + "/members", Auth: auth,
				Body: map[string]string{"user_id": owner.UserID}}), http.StatusNotFound, "NOT_FOUND")
			expectError(t, h.do(req{Method: "POST", Path: "/api/teams", Auth: auth,
				Body: map[string]string{"name": "APAC", "department_id": "{" + deptID + "}"}}), http.StatusUnprocessableEntity, "VALIDATION_ERROR")
		})
	})
}
