package main

// Helpers of the load benchmark (load_bench_test.go): an HTTP client for
// many concurrent requests, and credentials made through the API.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
)

func benchClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
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
	_, key = benchKey(b, client, base, ws.Token)
	return ws.Token, key
}

// benchKey creates one more key through the API.
func benchKey(b *testing.B, client *http.Client, base, token string) (id, key string) {
	b.Helper()
	raw, _ := json.Marshal(map[string]string{"label": fmt.Sprintf("bench-%d", time.Now().UnixNano())})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/api-keys", bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			var k struct{ ID, Key string }
			if err := json.Unmarshal(msg, &k); err != nil {
				b.Fatal(err)
			}
			return k.ID, k.Key
		}
		if time.Now().After(deadline) {
			b.Fatalf("POST /api/api-keys: %s %s", resp.Status, msg)
		}
	}
}

// benchGatewayOn starts a gateway on backend (embedded, or a fresh
// Postgres database) behind an httptest server, stopped when the
// benchmark ends, with a workspace and a key made through the API.
func benchGatewayOn(b *testing.B, backend string) (srv *httptest.Server, client *http.Client, token, key string) {
	b.Helper()
	env := map[string]string{"GATEWAY_DATA_DIR": b.TempDir(), "GATEWAY_ADMIN_TOKEN": "bench-admin",
		"GATEWAY_SECRET_KEY": "0000000000000000000000000000000000000000000000000000000000000000", "GATEWAY_LOG_LEVEL": "error"}
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
	if err := app.Start(ctx); err != nil {
		b.Fatal(err)
	}
	srv = httptest.NewServer(app.Handler)
	b.Cleanup(func() { srv.Close(); app.Close() })
	client = benchClient()
	token, key = benchCredentials(b, client, srv.URL)
	return srv, client, token, key
}
