package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
)

// BenchmarkHistoryOfAnotherWorkspace: GET /api/agent/{id}/events for a
// conversation of another workspace must be turned away as fast as an id
// that does not exist, however long that conversation's history is
// (ownership is checked from the read model's index before any history
// is read, across row-level security). Reported: the time of each 404 and
// their ratio, on Postgres, with the foreign conversation 40 turns long.
// Run: go test ./cmd/gateway -run '^$' -bench HistoryOfAnotherWorkspace -benchtime 1x
func BenchmarkHistoryOfAnotherWorkspace(b *testing.B) {
	srv, client, token, _ := benchGatewayOn(b, "postgres")
	otherToken, otherKey := benchCredentials(b, client, srv.URL)
	do := func(method, path, tok, key string, body any) (int, []byte) {
		var rd io.Reader
		if body != nil {
			raw, _ := json.Marshal(body)
			rd = bytes.NewReader(raw)
		}
		req, _ := http.NewRequest(method, srv.URL+path, rd)
		req.Header.Set("Authorization", "Bearer "+tok)
		if key != "" {
			req.Header.Set("X-Api-Key", key)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Prefer", "wait=20")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	var v struct {
		ConversationUUID string `json:"conversation_uuid"`
	}
	_, out := do("POST", "/api/agent", otherToken, otherKey, map[string]any{"message": "Create a contact for Ada Byron at Analytical Engines, ada@engines.example"})
	if err := json.Unmarshal(out, &v); err != nil || v.ConversationUUID == "" {
		b.Fatalf("%s", out)
	}
	for i := 1; i < 40; i++ {
		if st, out := do("POST", "/api/agent", otherToken, otherKey, map[string]any{"conversation_uuid": v.ConversationUUID,
			"message": fmt.Sprintf("Change her city to Town %d", i)}); st != http.StatusOK {
			b.Fatalf("turn %d: %d %s", i, st, out)
		}
	}
	const n = 300
	measure := func(id string) float64 {
		began := time.Now()
		for range n {
			if st, out := do("GET", "/api/agent/"+id+"/events", token, "", nil); st != http.StatusNotFound {
				b.Fatalf("GET events of %s: %d %s", id, st, out)
			}
		}
		return float64(time.Since(began).Microseconds()) / n
	}
	for b.Loop() {
		random := measure(uuid.NewString())
		foreign := measure(v.ConversationUUID)
		b.ReportMetric(random, "random_id_us")
		b.ReportMetric(foreign, "foreign_id_us")
		b.ReportMetric(foreign/random, "foreign_x")
	}
}
