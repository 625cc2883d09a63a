package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestListsPageWithStableCursors: a list paged with limit=2 while rows are
// added neither skips nor repeats a row that was there at the start; a
// cursor from another list, or altered, and a bad limit are 422.
func TestListsPageWithStableCursors(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		auth := bearerOf(owner.Token)
		get := func(path string) (map[string]any, response) {
			r := h.do(req{Method: "GET", Path: path, Auth: auth})
			var body map[string]any
			_ = json.Unmarshal(r.Raw, &body)
			return body, r
		}
		lists := []struct{ path, field, create string }{
			{"/api/departments", "departments", "/api/departments"},
			{"/api/teams", "teams", "/api/teams"},
			{"/api/api-keys", "api_keys", "/api/api-keys"},
			{"/api/users", "users", "/api/users"},
			{"/api/documents", "documents", "/api/documents"},
		}
		for _, l := range lists {
			made := func(i int) {
				body := map[string]any{"name": fmt.Sprintf("%s %d", l.field, i)}
				switch l.field {
				case "api_keys":
					body = map[string]any{"label": fmt.Sprintf("key %d", i)}
				case "users":
					body = map[string]any{"email": fmt.Sprintf("person%d@acme.test", i), "role": "member"}
				case "documents":
					body = map[string]any{"title": fmt.Sprintf("Memo %d", i), "folder": "/Memos", "body": "Text."}
				}
				r := h.do(req{Method: "POST", Path: l.create, Auth: auth, Body: body})
				if r.Status != http.StatusCreated {
					t.Fatalf("create %s: %d %s", l.field, r.Status, r.Raw)
				}
			}
			for i := range 5 {
				made(i)
			}
			first, _ := get(l.path + "?limit=100")
			original := map[string]bool{}
			rowID := func(row any) string {
				m := row.(map[string]any)
				if id, ok := m["id"].(string); ok {
					return id
				}
				return m["user_id"].(string)
			}
			for _, row := range first[l.field].([]any) {
				original[rowID(row)] = true
			}
			seen := map[string]int{}
			path := l.path + "?limit=2"
			for pages := 0; ; pages++ {
				body, r := get(path)
				if r.Status != http.StatusOK {
					t.Fatalf("%s: %d %s", path, r.Status, r.Raw)
				}
				rows := body[l.field].([]any)
				if len(rows) > 2 {
					t.Fatalf("%s: %d rows on a page of 2", path, len(rows))
				}
				for _, row := range rows {
					seen[rowID(row)]++
				}
				if pages == 0 {
					made(100) // added while paging
					made(101)
				}
				next, _ := body["next_cursor"].(string)
				if next == "" {
					break
				}
				path = l.path + "?limit=2&cursor=" + next
			}
			for id := range original {
				if seen[id] != 1 {
					t.Errorf("%s: row %s seen %d times while paging, want once", l.field, id, seen[id])
				}
			}
			for id, n := range seen {
				if n > 1 {
					t.Errorf("%s: row %s repeated", l.field, id)
				}
			}
		}

		// A folder's documents only, and no bodies in a list.
		h.quiesce()
		if body, _ := get("/api/documents?folder=Memos/&limit=100"); len(body["documents"].([]any)) != 7 ||
			body["documents"].([]any)[0].(map[string]any)["body"] != nil {
			t.Errorf("documents of /Memos: %v", body)
		}
		if body, _ := get("/api/documents?folder=/Elsewhere"); len(body["documents"].([]any)) != 0 {
			t.Errorf("documents of an empty folder: %v", body)
		}

		// The caller's conversations, newest first.
		c := h.principal(owner)
		var sent []string
		for i := range 5 {
			sent = append(sent, h.send(c, fmt.Sprintf("List my open tasks, please (%d)", i)))
			h.await(c, sent[i]) // and in the read model the list reads
			h.Clock.Advance(time.Second)
		}
		h.quiesce()
		seen := map[string]int{}
		var order []string
		path := "/api/agent?limit=2"
		for pages := 0; ; pages++ {
			body, r := get(path)
			if r.Status != http.StatusOK {
				t.Fatalf("%s: %d %s", path, r.Status, r.Raw)
			}
			for _, row := range body["conversations"].([]any) {
				id := row.(map[string]any)["conversation_uuid"].(string)
				seen[id]++
				order = append(order, id)
			}
			if pages == 0 {
				h.send(c, "What tasks do I have? (sent while paging)")
			}
			next, _ := body["next_cursor"].(string)
			if next == "" {
				break
			}
			path = "/api/agent?limit=2&cursor=" + next
		}
		for i, id := range sent {
			if seen[id] != 1 {
				t.Errorf("conversation %d seen %d times while paging, want once", i, seen[id])
			}
		}
		if len(order) >= 2 && order[0] != sent[len(sent)-1] {
			t.Errorf("the first row is %s, want the newest conversation %s", order[0], sent[len(sent)-1])
		}
		for _, bad := range []string{"/api/agent?status=done", "/api/agent?since=yesterday", "/api/agent?limit=0"} {
			_, r := get(bad)
			expectError(t, r, http.StatusUnprocessableEntity, "VALIDATION_ERROR")
		}

		// Cursors belong to their list and cannot be altered; limits are bounded.
		body, _ := get("/api/departments?limit=1")
		cursor, _ := body["next_cursor"].(string)
		if cursor == "" {
			t.Fatal("no next_cursor on a page of 1")
		}
		for _, bad := range []string{
			"/api/teams?cursor=" + cursor,
			"/api/departments?cursor=" + cursor[:len(cursor)-2] + "AA",
			"/api/departments?cursor=not-a-cursor",
			"/api/departments?limit=0", "/api/departments?limit=101", "/api/departments?limit=ten",
			"/api/documents?cursor=" + cursor, "/api/documents?folder=Memos/../Secret",
		} {
			_, r := get(bad)
			expectError(t, r, http.StatusUnprocessableEntity, "VALIDATION_ERROR")
		}
	})
}
