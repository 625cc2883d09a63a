package commands

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The trace context travels with the work (see infra/tracing): appends
// record ctx's traceparent in the events' metadata, and whoever reacts to
// an event goes on in its trace. W3C Trace Context is the one format.
var propagator = propagation.TraceContext{}

// TraceParent is the traceparent of ctx's span ("" when it has none).
func TraceParent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c["traceparent"]
}

// WithTraceParent is ctx continuing the trace a traceparent names (ctx as
// it is for "" or a malformed one).
func WithTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// InjectTrace sets traceparent on outgoing HTTP headers.
func InjectTrace(ctx context.Context, h propagation.HeaderCarrier) { propagator.Inject(ctx, h) }

// ExtractTrace continues the trace an incoming request's headers name.
func ExtractTrace(ctx context.Context, h propagation.HeaderCarrier) context.Context {
	return propagator.Extract(ctx, h)
}

// Traced is a command with the trace context it continues: a saga names
// the trace of the event it reacted to (the bus's SendAll reads it).
type Traced struct {
	Command     any
	TraceParent string
}

// noTracer is the tracer of a Handler without one.
var noTracer = noop.NewTracerProvider().Tracer("")

// tracer is h's tracer, a no-op without one.
func (h *Handler) tracer() trace.Tracer {
	if h.Tracer != nil {
		return h.Tracer
	}
	return noTracer
}
