// Package tracing sends OpenTelemetry traces over OTLP when an endpoint is
// configured (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
// OTEL_EXPORTER_OTLP_PROTOCOL http/protobuf or grpc), and costs nothing
// when none is: the tracer is then a no-op.
//
// The gateway's work is asynchronous (request → events → sagas →
// commands → model, tools → webhook), so a trace context travels with
// the work: in each event's metadata (es.Metadata.TraceParent), in each
// command's message metadata, and in the traceparent header of webhook
// deliveries. One trace then runs from POST /api/agent to the webhook.
package tracing

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Name is the tracer's instrumentation name.
const Name = "github.com/sois-ai/chat-agent-gateway"

// Config is what the standard variables say.
type Config struct {
	Endpoint string // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT
	Protocol string // OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf (default) or grpc
	Service  string // OTEL_SERVICE_NAME (default chat-agent-gateway)
}

// FromEnv reads the standard variables through getenv.
func FromEnv(getenv func(string) string) Config {
	c := Config{Endpoint: strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")),
		Protocol: strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")), Service: strings.TrimSpace(getenv("OTEL_SERVICE_NAME"))}
	if c.Endpoint == "" {
		c.Endpoint = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	}
	if c.Protocol == "" {
		c.Protocol = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	if c.Service == "" {
		c.Service = "chat-agent-gateway"
	}
	return c
}

// Tracing is the gateway's tracer and what flushes it at the end.
type Tracing struct {
	Tracer   trace.Tracer
	provider *sdktrace.TracerProvider
}

// Off is no tracing at all.
func Off() *Tracing { return &Tracing{Tracer: noop.NewTracerProvider().Tracer(Name)} }

// New starts exporting to the configured endpoint; without one it is Off.
func New(ctx context.Context, c Config) (*Tracing, error) {
	if c.Endpoint == "" {
		return Off(), nil
	}
	var client otlptrace.Client
	switch c.Protocol {
	case "", "http/protobuf":
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(traceURL(c.Endpoint))}
		client = otlptracehttp.NewClient(opts...)
	case "grpc":
		client = otlptracegrpc.NewClient(otlptracegrpc.WithEndpointURL(c.Endpoint))
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or grpc, not %q", c.Protocol)
	}
	exp, err := otlptrace.New(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter for %s: %w", c.Endpoint, err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(c.Service))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{Tracer: tp.Tracer(Name), provider: tp}, nil
}

// traceURL is the traces URL of an OTLP/HTTP endpoint: the standard says
// OTEL_EXPORTER_OTLP_ENDPOINT is a base to which /v1/traces is added.
func traceURL(endpoint string) string {
	if strings.HasSuffix(endpoint, "/v1/traces") {
		return endpoint
	}
	return strings.TrimSuffix(endpoint, "/") + "/v1/traces"
}

// On reports whether spans are exported (an endpoint is configured).
func (t *Tracing) On() bool { return t != nil && t.provider != nil }

// Shutdown flushes what is buffered.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.provider == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}
