package main

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestIdempotencyOnEveryWrite: every write route answers a resend of the
// same request with the same Idempotency-Key, by the same user, with the
// first answer (and header Idempotent-Replayed), and makes nothing twice;
// secrets a first answer showed are not shown again. The same key with
// another body is 409 IDEMPOTENCY_KEY_REUSED; after 24 h the key is new.
// Concurrent resends resolve to one answer.
func TestIdempotencyOnEveryWrite(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		auth := bearerOf(owner.Token)
		send := func(method, path, key string, body any) response {
			t.Helper()
			return h.do(req{Method: method, Path: path, Auth: auth, Header: map[string]string{"Idempotency-Key": key}, Body: body})
		}
		twice := func(method, path, key string, body any, created string) map[string]any {
			t.Helper()
			before := len(h.logEventsOfType(created))
			first := send(method, path, key, body)
			if first.Status >= 300 {
				t.Fatalf("%s %s: %d %s", method, path, first.Status, first.Raw)
			}
			again := send(method, path, key, body)
			if again.Status != first.Status || again.Header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("%s %s resent: %d (replayed %q), want %d replayed", method, path, again.Status, again.Header.Get("Idempotent-Replayed"), first.Status)
			}
			var a, b map[string]any
			_ = json.Unmarshal(first.Raw, &a)
			_ = json.Unmarshal(again.Raw, &b)
			for k, v := range a {
				if k == "key" || k == "signing_secret" || k == "token" {
					if b[k] != nil || b["secret_already_shown"] != true {
						t.Errorf("%s %s resent: %s = %v, secret_already_shown %v; the secret must not be shown twice", method, path, k, b[k], b["secret_already_shown"])
					}
					continue
				}
				if vb, _ := json.Marshal(b[k]); string(vb) != mustJSON(v) {
					t.Errorf("%s %s resent: %s = %s, first %s", method, path, k, vb, mustJSON(v))
				}
			}
			if created != "" {
				billingEventually(t, created+" in the log", func() bool { return len(h.logEventsOfType(created)) >= before+1 })
				if n := len(h.logEventsOfType(created)) - before; n != 1 {
					t.Errorf("%s %s twice made %d %s, want 1", method, path, n, created)
				}
			}
			return a
		}

		user := twice("POST", "/api/users", "u-1", map[string]string{"email": "dana@acme.test", "role": "member"}, "WorkspaceMemberAdded")
		dept := twice("POST", "/api/departments", "d-1", map[string]string{"name": "Sales"}, "DepartmentCreated")
		team := twice("POST", "/api/teams", "t-1", map[string]string{"name": "EMEA", "department_id": dept["id"].(string)}, "TeamCreated")
		twice("POST", "/api/teams/"+team["id"].(string)+"/members", "m-1", map[string]string{"user_id": user["user_id"].(string)}, "TeamMemberAdded")
		twice("POST", "/api/documents", "doc-1", map[string]string{"title": "Q1", "folder": "/Reports", "body": "Up 18%."}, "DocumentCreated")
		key := twice("POST", "/api/api-keys", "k-1", map[string]any{"label": "CRM"}, "ApiKeyCreated")
		keyID := key["id"].(string)
		twice("POST", "/api/api-keys/"+keyID+"/rotate-secret", "r-1", nil, "ApiKeySigningSecretRotated")
		twice("PUT", "/api/api-keys/"+keyID, "p-1", map[string]any{"label": "CRM v2"}, "ApiKeyUpdated")
		twice("DELETE", "/api/api-keys/"+keyID, "x-1", nil, "ApiKeyRevoked")

		// The same key with another request.
		r := send("POST", "/api/departments", "d-1", map[string]string{"name": "Marketing"})
		expectError(t, r, http.StatusConflict, "IDEMPOTENCY_KEY_REUSED")
		// A resend with the body's keys in another order is the same request.
		if r := send("POST", "/api/teams", "t-1", map[string]string{"department_id": dept["id"].(string), "name": "EMEA"}); r.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("the same body in another key order was not taken for a resend: %d %s", r.Status, r.Raw)
		}

		// Concurrent resends: one department.
		before := len(h.logEventsOfType("DepartmentCreated"))
		var wg sync.WaitGroup
		ids := make([]string, 6)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := send("POST", "/api/departments", "d-burst", map[string]string{"name": "Ops"})
				var v map[string]any
				_ = json.Unmarshal(r.Raw, &v)
				ids[i], _ = v["id"].(string)
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if id == "" || id != ids[0] {
				t.Errorf("concurrent resends answered ids %v, want one", ids)
				break
			}
		}
		billingEventually(t, "the department in the log", func() bool { return len(h.logEventsOfType("DepartmentCreated")) > before })
		if n := len(h.logEventsOfType("DepartmentCreated")) - before; n != 1 {
			t.Errorf("concurrent resends made %d departments, want 1", n)
		}

		// After 24 h the key is new: a resend makes a new department.
		h.Clock.Advance(25 * time.Hour)
		r = send("POST", "/api/departments", "d-1", map[string]string{"name": "Sales 2027"})
		if r.Status != http.StatusCreated || r.Header.Get("Idempotent-Replayed") == "true" {
			t.Errorf("a key 25 h old: %d (replayed %q) %s, want a new department", r.Status, r.Header.Get("Idempotent-Replayed"), r.Raw)
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
