package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkTurns measures what a follow-up costs as a conversation grows:
// the time of a sync follow-up (POST with conversation_uuid and Prefer:
// wait, answered when the turn has ended) and of attaching to the
// conversation's event stream (a full replay), for conversations of 1, 10
// and 40 earlier turns, on each backend, with the offline model. Figures
// are reported per size and as a ratio to the 1-turn figure of the same
// run. Run: go test ./cmd/gateway -run '^$' -bench Turns -benchtime 1x
func BenchmarkTurns(b *testing.B) {
	for _, backend := range []string{"embedded", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			srv, client, token, key := benchGatewayOn(b, backend)
			do := func(method, path string, body any) []byte {
				var rd io.Reader
				if body != nil {
					raw, _ := json.Marshal(body)
					rd = bytes.NewReader(raw)
				}
				req, _ := http.NewRequest(method, srv.URL+path, rd)
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("X-Api-Key", key)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Prefer", "wait=20")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				out, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
				}
				return out
			}
			const conversations = 5
			var base [2]float64
			for _, turns := range []int{1, 10, 40} {
				var follow, attach time.Duration
				for c := 0; c < conversations; c++ {
					var v struct {
						ConversationUUID string `json:"conversation_uuid"`
					}
					if err := json.Unmarshal(do("POST", "/api/agent", map[string]any{
						"message": fmt.Sprintf("Create a contact for Ada Byron %d at Analytical Engines, ada%d@engines.example", c, c)}), &v); err != nil {
						b.Fatal(err)
					}
					id := v.ConversationUUID
					for i := 1; i < turns; i++ {
						do("POST", "/api/agent", map[string]any{"conversation_uuid": id, "message": fmt.Sprintf("Change her city to Town %d", i)})
					}
					began := time.Now()
					do("POST", "/api/agent", map[string]any{"conversation_uuid": id, "message": "Add the phone number +44 7700 900123 to that contact"})
					follow += time.Since(began)
					began = time.Now()
					do("GET", "/api/agent/"+id+"/stream", nil)
					attach += time.Since(began)
				}
				f := float64(follow.Microseconds()) / conversations / 1000
				a := float64(attach.Microseconds()) / conversations / 1000
				if turns == 1 {
					base = [2]float64{f, a}
				}
				b.ReportMetric(f, fmt.Sprintf("followup_ms@%d", turns))
				b.ReportMetric(f/base[0], fmt.Sprintf("followup_x@%d", turns))
				b.ReportMetric(a, fmt.Sprintf("attach_ms@%d", turns))
				b.ReportMetric(a/base[1], fmt.Sprintf("attach_x@%d", turns))
			}
		})
	}
}
