package main

// Throughput of POST /api/agent → 202 on both backends, against a baseline
// measured in the same run: an HTTP handler that does one bare pgx
// single-row INSERT per request, over the same client at the same
// concurrency. The ratio says what the gateway costs on top of the one
// durable write every accepted request needs anyway.
//
//	go test -run '^$' -bench 'Accept' -benchtime 3s ./cmd/gateway/

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
)

// benchParallelism × GOMAXPROCS goroutines send requests at once.
const benchParallelism = 8

var benchBody = []byte(`{"message": "Create a task: Research competitor pricing for Q1 2026", "context": {"entity_type": "task", "action": "create"}}`)

func benchClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
}

// BenchmarkAccept runs each backend twice: "accept-only" on an API-only
// instance (GATEWAY_BACKGROUND=false: the 202 path with its read-your-write
// wait, and nothing else), and "with-agent" with the agent working on every
// accepted message meanwhile (model steps, tool calls, budget reservations
// and charges, all competing for the same CPU and database).
func BenchmarkAccept(b *testing.B) {
	for _, run := range []struct{ backend, mode string }{
		{"embedded", "accept-only"}, {"embedded", "with-agent"}, {"postgres", "accept-only"}, {"postgres", "with-agent"},
	} {
		backend := run.backend
		b.Run(backend+"/"+run.mode, func(b *testing.B) {
			env := map[string]string{
				"GATEWAY_BACKGROUND":    fmt.Sprint(run.mode == "with-agent"),
				"GATEWAY_DATA_DIR":      b.TempDir(),
				"GATEWAY_ADMIN_TOKEN":   "bench-admin",
				"GATEWAY_SECRET_KEY":    "0000000000000000000000000000000000000000000000000000000000000000",
				"GATEWAY_POLL_INTERVAL": "20ms",
			}
			if backend == "postgres" {
				env["DATABASE_URL"] = pgtest.NewDatabase(b)
			}
			cfg, err := LoadConfig(func(k string) string { return env[k] })
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			app, err := Build(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(app.Close)
			if err := app.Start(ctx); err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(app.Handler)
			b.Cleanup(srv.Close)
			client := benchClient()
			token, key := benchCredentials(b, client, srv.URL)

			var failures atomic.Int64
			b.SetParallelism(benchParallelism)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/agent", bytes.NewReader(benchBody))
					req.Header.Set("Authorization", "Bearer "+token)
					req.Header.Set("X-Api-Key", key)
					req.Header.Set("Content-Type", "application/json")
					if !send(client, req, http.StatusAccepted) {
						failures.Add(1)
					}
				}
			})
			b.StopTimer()
			if n := failures.Load(); n > 0 {
				b.Fatalf("%d requests did not get 202", n)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
	b.Run("baseline-pgx-insert", func(b *testing.B) {
		ctx := context.Background()
		pool, err := pgxpool.New(ctx, pgtest.NewDatabase(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(pool.Close)
		if _, err := pool.Exec(ctx, `CREATE TABLE accepted (id uuid PRIMARY KEY, body jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			id := uuid.NewString()
			if _, err := pool.Exec(r.Context(), `INSERT INTO accepted (id, body) VALUES ($1, $2)`, id, body); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			_ = json.NewEncoder(w).Encode(map[string]string{"conversation_uuid": id, "status": "accepted"})
		}))
		b.Cleanup(srv.Close)
		client := benchClient()
		var failures atomic.Int64
		b.SetParallelism(benchParallelism)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/agent", bytes.NewReader(benchBody))
				req.Header.Set("Content-Type", "application/json")
				if !send(client, req, http.StatusAccepted) {
					failures.Add(1)
				}
			}
		})
		b.StopTimer()
		if n := failures.Load(); n > 0 {
			b.Fatalf("%d requests did not get 202", n)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})
}

func send(client *http.Client, req *http.Request, want int) bool {
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == want
}

// benchCredentials creates a workspace and a key through the API.
func benchCredentials(b *testing.B, client *http.Client, base string) (token, key string) {
	b.Helper()
	// Retried for a while: with a short GATEWAY_WRITE_WAIT a fresh token
	// may not be readable yet.
	post := func(path, auth string, body any, out any) {
		raw, _ := json.Marshal(body)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(raw))
			req.Header.Set("Authorization", "Bearer "+auth)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusCreated {
				if err := json.Unmarshal(msg, out); err != nil {
					b.Fatal(err)
				}
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("POST %s: %s %s", path, resp.Status, msg)
			}
		}
	}
	var ws struct{ Token string }
	post("/api/admin/workspaces", "bench-admin", map[string]string{"name": "Bench", "owner_email": "bench@example.com"}, &ws)
	var k struct{ Key string }
	post("/api/api-keys", ws.Token, map[string]string{"label": fmt.Sprintf("bench-%d", time.Now().UnixNano())}, &k)
	return ws.Token, k.Key
}
