package main

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP traces endpoint on loopback that keeps
// every span it is sent.
type otlpReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []otlpSpan
}

type otlpSpan struct{ Name, TraceID, SpanID, Parent string }

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	o := &otlpReceiver{}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "not an OTLP traces export", http.StatusBadRequest)
			return
		}
		o.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					o.spans = append(o.spans, otlpSpan{Name: s.Name, TraceID: hex.EncodeToString(s.TraceId),
						SpanID: hex.EncodeToString(s.SpanId), Parent: hex.EncodeToString(s.ParentSpanId)})
				}
			}
		}
		o.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *otlpReceiver) all() []otlpSpan {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]otlpSpan(nil), o.spans...)
}

// TestOneTraceFromRequestToWebhook: with an OTLP endpoint configured, the
// POST /api/agent that starts a conversation, the commands the sagas send
// (over the bus, through the events' metadata), the model call, the tool
// call and the webhook delivery are one trace, and the webhook request's
// traceparent names it.
func TestOneTraceFromRequestToWebhook(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		otlp := newOTLPReceiver(t)
		h, _ := newWebhookHarness(t, backend, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.srv.URL,
			"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"})
		recv := newReceiver(t, h.Clock, http.StatusOK)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c, _ := h.hookCreds(owner, recv.URL)
		id, p := h.ask(c, "Create a contact for Iris Vale at Northwind, iris@northwind.example")
		if p.Status != "resolved" {
			t.Fatalf("%s: %+v", id, p)
		}
		var traceparent string
		for deadline := time.Now().Add(hookBudget); time.Now().Before(deadline) && traceparent == ""; time.Sleep(20 * time.Millisecond) {
			for _, rq := range recv.requests() {
				traceparent = rq.Header.Get("Traceparent")
			}
		}
		h.stop() // flushes the spans still buffered
		parts := strings.Split(traceparent, "-")
		if len(parts) != 4 {
			t.Fatalf("the webhook came with traceparent %q", traceparent)
		}
		traceID := parts[1]
		spans := otlp.all()
		var post *otlpSpan
		for i, s := range spans {
			if s.Name == "POST /api/agent" {
				post = &spans[i]
			}
		}
		if post == nil || post.TraceID != traceID {
			var all []string
			for _, s := range spans {
				all = append(all, s.TraceID[:6]+" "+s.Name)
			}
			t.Fatalf("the webhook's trace %s is not the POST's: %+v\n%s", traceID, post, strings.Join(all, "\n"))
		}
		inTrace := map[string]bool{}
		for _, s := range spans {
			if s.TraceID == traceID {
				inTrace[s.Name] = true
			}
		}
		for _, name := range []string{"POST /api/agent", "command StartConversation", "chat offline", "execute_tool create_contact",
			"command RunModelStep", "command AttemptWebhookDelivery", "webhook POST"} {
			if !inTrace[name] {
				t.Errorf("no span %q in the trace; it has %v", name, spanNames(inTrace))
			}
		}
	})
}

func spanNames(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
