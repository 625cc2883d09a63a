package main

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkMCPCall measures one MCP tools/call round trip over HTTP (the
// official Go SDK client; a read, search_contacts, and a write,
// create_contact, each recorded, reserved and charged) against a baseline
// measured in the same run: an authenticated REST read of the key
// (GET /api/api-keys/{id}), which checks the same two credentials.
// Run: go test ./cmd/gateway -run '^$' -bench MCPCall -benchtime 200x
func BenchmarkMCPCall(b *testing.B) {
	for _, backend := range []string{"embedded", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			ctx := context.Background()
			srv, client, token, key := benchGatewayOn(b, backend)
			keyID := keyIDOf(b, client, srv.URL, token, key)
			s, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil).Connect(ctx,
				&mcp.StreamableClientTransport{Endpoint: srv.URL + "/mcp",
					HTTPClient: &http.Client{Transport: headers{next: client.Transport, token: token, key: key}}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			time1 := func(n int, op func(i int)) float64 {
				began := time.Now()
				for i := 0; i < n; i++ {
					op(i)
				}
				return float64(time.Since(began).Microseconds()) / float64(n)
			}
			n := max(b.N, 50)
			b.ResetTimer()
			rest := time1(n, func(int) {
				req, _ := http.NewRequest("GET", srv.URL+"/api/api-keys/"+keyID, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("GET key: %v", err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
			call := func(tool string, args func(i int) map[string]any) func(int) {
				return func(i int) {
					res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args(i)})
					if err != nil || res.IsError {
						b.Fatalf("%s: %v %+v", tool, err, res)
					}
				}
			}
			read := time1(n, call("search_contacts", func(int) map[string]any { return map[string]any{"query": "Ada"} }))
			write := time1(n, call("create_contact", func(i int) map[string]any {
				return map[string]any{"name": "Ada Lovelace", "company": "Engines", "notes": time.Now().String()}
			}))
			b.ReportMetric(rest, "rest_µs")
			b.ReportMetric(read, "mcp_read_µs")
			b.ReportMetric(write, "mcp_write_µs")
			b.ReportMetric(read/rest, "read/rest")
			b.ReportMetric(write/rest, "write/rest")
		})
	}
}
