package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The two benchmarks post the same body to the same kind of local receiver
// at the same concurrency (RunParallel with SetParallelism(benchParallelism)),
// one through Client (signing, both signatures, guard-aware dialer, bounded
// reads), one through a bare http.Client, so their ratio is what the
// webhook machinery costs per delivery.
const benchParallelism = 4

func benchReceiver(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func benchBody(b *testing.B) []byte {
	body, err := json.Marshal(map[string]string{
		"conversation_uuid": "6cafd8ba-dd51-4411-808e-671d1dd59561",
		"status":            "resolved",
		"response":          strings.Repeat("Contact created: John Smith, Acme Corp, john@acme.com. ", 16),
	})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func BenchmarkDeliver(b *testing.B) {
	srv := benchReceiver(b)
	body := benchBody(b)
	c := New(Options{AllowPrivate: true})
	b.Cleanup(c.Close)
	secrets := []string{newSecret(b), newSecret(b)} // mid-rotation: two signatures
	b.SetBytes(int64(len(body)))
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a := c.Deliver(context.Background(), Request{
				URL: srv.URL + "/hook", ID: "msg_bench", ConversationID: "6cafd8ba-dd51-4411-808e-671d1dd59561",
				Body: body, Secrets: secrets,
			})
			if a.Outcome != Delivered {
				b.Errorf("delivery failed: %+v", a)
				return
			}
		}
	})
}

func BenchmarkBareHTTPClient(b *testing.B) {
	srv := benchReceiver(b)
	body := benchBody(b)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost // the same pool size as Client
	hc := &http.Client{Transport: tr}
	b.Cleanup(tr.CloseIdleConnections)
	b.SetBytes(int64(len(body)))
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/hook", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkHeaders is the signing share of BenchmarkDeliver: three
// HMAC-SHA256 passes over the body (X-Signature and two rotation
// signatures) and the header map.
func BenchmarkHeaders(b *testing.B) {
	body := benchBody(b)
	secrets := []string{newSecret(b), newSecret(b)}
	now := time.Now()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Headers(secrets, "msg_bench", "6cafd8ba-dd51-4411-808e-671d1dd59561", now, body); err != nil {
			b.Fatal(err)
		}
	}
}
