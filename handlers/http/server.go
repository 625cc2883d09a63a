// Package httpapi is the REST face of the gateway: the task interface
// (POST /api/agent, polling), key management, identity and health. Handlers
// turn requests into commands and answer reads from projections; every
// error uses the contract's {"error":{"code","message"}} shape.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections/agents"
	"github.com/sois-ai/chat-agent-gateway/projections/apikeys"
	billingview "github.com/sois-ai/chat-agent-gateway/projections/billing"
	"github.com/sois-ai/chat-agent-gateway/projections/conversations"
	"github.com/sois-ai/chat-agent-gateway/projections/documents"
	"github.com/sois-ai/chat-agent-gateway/projections/identity"
	"github.com/sois-ai/chat-agent-gateway/projections/mcpusage"
	"github.com/sois-ai/chat-agent-gateway/projections/org"
)

// Waiter lets a handler answer only after its write is readable.
type Waiter interface {
	WaitFor(ctx context.Context, pos es.Position) error
	WaitForHead(ctx context.Context) error
}

// Deps are what the HTTP layer talks to.
type Deps struct {
	Commands      *commands.Handler
	Identity      identity.Store
	Keys          apikeys.Store
	Conversations conversations.Store
	Org           org.Store
	Documents     documents.Store
	Agents        agents.Store
	Billing       billingview.Store
	Projections   Waiter
	// Endings tells a sync reply when its conversation ends (nil: replies
	// never wait).
	Endings interface {
		Watch(id string) (ended <-chan es.Position, stop func())
		Follow(id string) (wake <-chan struct{}, stop func())
	}
	// Relay brings the text of a model step as it is written (nil: event
	// streams show the reply once it is recorded).
	Relay interface {
		Subscribe(id string) (<-chan commands.Delta, func())
	}
	// Metrics counts answered requests (nil: not counted); MetricsHandler,
	// when set, is served at /metrics.
	Metrics interface {
		HTTP(route, method string, status int, took time.Duration)
	}
	MetricsHandler http.Handler
	// Tracer makes a span of each request (nil: none).
	Tracer trace.Tracer
	// MCP is the MCP server (nil: /mcp answers 404); it runs behind the
	// REST door's credentials.
	MCP http.Handler
	// McpUsage counts each key's MCP tool calls (nil: not shown).
	McpUsage interface {
		ByKey(ctx context.Context, keyID string) (mcpusage.Usage, error)
		Calls(ctx context.Context, keyID, after string, limit int) ([]mcpusage.Call, error)
	}
	// KeepAlive is how often a quiet event stream sends a comment, so
	// proxies keep it open (default 15s).
	KeepAlive time.Duration
	Clock     commands.Clock
	// Ready reports whether stores are reachable and projections current.
	Ready func(ctx context.Context) (any, error)
	// AdminToken enables the admin API; empty turns it off (404).
	AdminToken string
	// WriteWait bounds how long a write waits to become readable.
	WriteWait time.Duration
	// WebhookRefusal says why the gateway would never deliver to a
	// response_url (nil: it would try); a key created or changed with such
	// a URL is accepted, with a warning. Nil skips the check.
	WebhookRefusal func(url string) error
	Logger         *slog.Logger
	// Cursors seals the cursors of list pages (the server's key), so a
	// client cannot forge or alter one (nil: plain, for tests).
	Cursors interface {
		Seal(plaintext string) (string, error)
		Open(sealed string) (string, error)
	}
}

// Server holds the routes.
type Server struct {
	d     Deps
	creds credentials
}

// New builds the HTTP handler.
func New(d Deps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.WriteWait <= 0 {
		d.WriteWait = 3 * time.Second
	}
	if d.KeepAlive <= 0 {
		d.KeepAlive = 15 * time.Second
	}
	s := &Server{d: d}
	r := chi.NewRouter()
	r.Use(requestID, s.traced, s.logRequests, s.recoverer)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, CodeNotFound, "There is no route %s %s.", r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "The route %s does not accept %s.", r.URL.Path, r.Method))
	})
	r.Get("/healthz", s.healthz)
	if d.MetricsHandler != nil {
		r.Handle("/metrics", d.MetricsHandler)
	}
	r.Handle("/mcp", http.HandlerFunc(s.mcp))
	r.Get("/readyz", s.readyz)
	r.Route("/api", func(r chi.Router) {
		r.Use(s.tenantScope, s.idempotent)
		r.Post("/agent", s.as(s.authenticate, s.postAgent))
		r.Get("/agent", s.as(s.authenticate, s.listConversations))
		r.Get("/agent/{id}", s.getAgent)
		r.Get("/agent/{id}/events", s.conversationEvents)
		r.Get("/agent/{id}/webhook/attempts", s.webhookAttempts)
		r.Post("/agent/{id}/webhook/redeliver", s.redeliverWebhook)
		r.Post("/agent/{id}/cancel", s.cancelConversation)
		r.Get("/agent/{id}/stream", s.streamConversation)
		r.Post("/api-keys", s.as(s.keyManager, s.createKey))
		r.Get("/api-keys", s.as(s.authenticate, s.listKeys))
		r.Get("/api-keys/{id}", s.as(s.authenticate, s.getKey))
		r.Put("/api-keys/{id}", s.updateKey)
		r.Delete("/api-keys/{id}", s.revokeKey)
		r.Post("/api-keys/{id}/rotate-secret", s.rotateSecret)
		r.Get("/api-keys/{id}/mcp-calls", s.as(s.authenticate, s.mcpCalls))
		r.Post("/users", s.as(s.authenticate, s.createUser))
		r.Get("/users", s.as(s.authenticate, s.listUsers))
		r.Post("/departments", s.as(s.owner, s.createDepartment))
		r.Get("/departments", s.as(s.authenticate, s.listDepartments))
		r.Post("/teams", s.as(s.owner, s.createTeam))
		r.Get("/teams", s.as(s.authenticate, s.listTeams))
		r.Post("/teams/{id}/members", s.as(s.owner, s.addTeamMember))
		r.Post("/agents", s.as(s.agentOwner, s.createAgent))
		r.Get("/agents", s.as(s.authenticate, s.listAgents))
		r.Get("/agents/{slug}", s.as(s.authenticate, s.getNamedAgent))
		r.Put("/agents/{slug}", s.as(s.agentOwner, s.updateAgent))
		r.Delete("/agents/{slug}", s.as(s.agentOwner, s.deleteAgent))
		r.Post("/documents", s.as(s.authenticate, s.createDocument))
		r.Get("/documents", s.as(s.authenticate, s.listDocuments))
		r.Post("/admin/workspaces", s.createWorkspace)
		r.Get("/billing/report", s.billingReport(d.Billing))
	})
	return r
}

// internal logs an unexpected error and hides its details from the client.
func (s *Server) internal(r *http.Request, err error) *apiError {
	s.d.Logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path,
		"request_id", middleware.GetReqID(r.Context()), "err", err)
	return errorf(http.StatusInternalServerError, CodeInternal,
		"Something went wrong on our side; the request may be retried. Request id: %s.", middleware.GetReqID(r.Context()))
}

// settle waits (bounded) until a write is visible to reads, so a client
// that polls right after a 201 or 202 finds what it created.
func (s *Server) settle(r *http.Request, pos es.Position) {
	ctx, cancel := context.WithTimeout(r.Context(), s.d.WriteWait)
	defer cancel()
	if err := s.d.Projections.WaitFor(ctx, pos); err != nil && !errors.Is(err, context.Canceled) {
		s.d.Logger.WarnContext(r.Context(), "write not yet readable; answering anyway", "position", pos.String(), "err", err)
	}
}

// current waits (up to WriteWait) until the read models hold everything in
// the log now, for reads that must show the caller's latest writes, such
// as a key's usage right after a message: accepting a message does not
// wait for the read models, so the reads that add them up do.
func (s *Server) current(r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.d.WriteWait)
	defer cancel()
	if err := s.d.Projections.WaitForHead(ctx); err != nil && !errors.Is(err, context.Canceled) {
		s.d.Logger.WarnContext(r.Context(), "read models behind the log; answering anyway", "err", err)
	}
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.d.Logger.ErrorContext(r.Context(), "panic in handler", "panic", v, "path", r.URL.Path)
				writeError(w, errorf(http.StatusInternalServerError, CodeInternal, "Something went wrong on our side."))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		if s.d.Metrics != nil {
			route := ""
			if rc := chi.RouteContext(r.Context()); rc != nil {
				route = rc.RoutePattern()
			}
			s.d.Metrics.HTTP(route, r.Method, ww.Status(), time.Since(began))
		}
		attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", ww.Status()),
			slog.Duration("took", time.Since(began)), slog.String("request_id", middleware.GetReqID(r.Context()))}
		if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
			attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
		}
		s.d.Logger.LogAttrs(r.Context(), slog.LevelInfo, "http request", attrs...)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	detail, err := s.d.Ready(ctx)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{
			"status": "not_ready", "error": map[string]string{"code": CodeNotReady, "message": err.Error()}, "detail": detail})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "detail": detail})
}

// traced makes a server span of the request, in the trace its
// traceparent names (a new one otherwise), named by its route once routed.
// Everything the request records carries that trace (event metadata), so
// the work it causes continues it.
func (s *Server) traced(next http.Handler) http.Handler {
	if s.d.Tracer == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := commands.ExtractTrace(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := s.d.Tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path),
				attribute.String("gateway.request_id", middleware.GetReqID(r.Context()))))
		defer span.End()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r.WithContext(ctx))
		if rc := chi.RouteContext(ctx); rc != nil && rc.RoutePattern() != "" {
			span.SetName(r.Method + " " + rc.RoutePattern())
			span.SetAttributes(attribute.String("http.route", rc.RoutePattern()))
		}
		span.SetAttributes(attribute.Int("http.response.status_code", ww.Status()))
		if ww.Status() >= 500 {
			span.SetStatus(codes.Error, http.StatusText(ww.Status()))
		}
	})
}
