// Package metrics exposes the gateway's Prometheus metrics at /metrics.
// Most of them are counted from the facts the commands record, once, on
// the instance that recorded them (commands.Observer), so an operator
// sums them over instances; the lags and roles are read when scraped.
// No label holds a workspace, user, key or conversation id: they would
// grow without bound and say who uses the gateway.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/mcpcall"
	"github.com/sois-ai/chat-agent-gateway/domain/webhook"
)

// Metrics holds the gateway's metric families on a registry of its own.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	opened    *prometheus.CounterVec
	ended     *prometheus.CounterVec
	steps     *prometheus.CounterVec
	stepTime  *prometheus.HistogramVec
	tokens    *prometheus.CounterVec
	toolCalls *prometheus.CounterVec
	toolTime  *prometheus.HistogramVec
	spend     *prometheus.CounterVec
	webhooks  *prometheus.CounterVec
	hookTime  *prometheus.HistogramVec

	appendTime   *prometheus.HistogramVec
	appendEvents prometheus.Histogram
}

// Buckets for the agent's steps and calls: models and tools take from
// milliseconds (the offline model) to minutes.
var slowBuckets = []float64{.005, .025, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// New makes the families, with Go's runtime and the process's collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{reg: reg}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_http_requests_total",
		Help: "HTTP requests answered, by route pattern, method and status."}, []string{"route", "method", "status"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gateway_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route pattern and method (a stream counts until it closes).",
		Buckets: prometheus.DefBuckets}, []string{"route", "method"})
	m.opened = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_conversations_opened_total",
		Help: "Conversations opened, by key mode (live or test)."}, []string{"mode"})
	m.ended = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_conversation_turns_ended_total",
		Help: "Conversation turns ended, by status (resolved, failed) and failure code."}, []string{"status", "code"})
	m.steps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_model_steps_total",
		Help: "Model steps completed, by model and finish reason."}, []string{"model", "finish_reason"})
	m.stepTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gateway_model_step_duration_seconds",
		Help: "How long the model took to answer a step, by model.", Buckets: slowBuckets}, []string{"model"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_model_tokens_total",
		Help: "Tokens the model read (input) and wrote (output), by model."}, []string{"model", "direction"})
	m.toolCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_tool_calls_total",
		Help: "Tool calls completed, by door (agent or mcp), tool and result (ok or error)."}, []string{"door", "tool", "result"})
	m.toolTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gateway_tool_call_duration_seconds",
		Help: "How long a tool call ran, by door and tool.", Buckets: slowBuckets}, []string{"door", "tool"})
	m.spend = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_spend_microusd_total",
		Help: "Money charged to API keys' budgets, in micro-dollars, by cause (model_step, tool_call, mcp_tool_call), model and key mode."},
		[]string{"cause", "model", "mode"})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_webhook_attempts_total",
		Help: "Webhook delivery attempts, by outcome (delivered, failed, gone)."}, []string{"outcome"})
	m.hookTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gateway_webhook_attempt_duration_seconds",
		Help: "How long a webhook attempt took, by outcome.", Buckets: prometheus.DefBuckets}, []string{"outcome"})
	m.appendTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gateway_event_append_duration_seconds",
		Help:    "Time to append to the event store (the group commit included), by result (ok, conflict, error).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}}, []string{"result"})
	m.appendEvents = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gateway_event_append_events",
		Help: "Events per append.", Buckets: []float64{1, 2, 3, 5, 8, 13, 21, 50, 100}})
	for _, c := range []prometheus.Collector{m.httpRequests, m.httpDuration, m.opened, m.ended, m.steps, m.stepTime, m.tokens,
		m.toolCalls, m.toolTime, m.spend, m.webhooks, m.hookTime, m.appendTime, m.appendEvents} {
		f(c)
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// HTTP counts one answered request. route is chi's pattern
// ("/api/agent/{id}"), "unmatched" for a path no route has.
func (m *Metrics) HTTP(route, method string, status int, took time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(took.Seconds())
}

// Appended counts one append to the event store.
func (m *Metrics) Appended(events int, took time.Duration, err error) {
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, es.ErrConcurrency):
		result = "conflict"
	default:
		result = "error"
	}
	m.appendTime.WithLabelValues(result).Observe(took.Seconds())
	if err == nil {
		m.appendEvents.Observe(float64(events))
	}
}

// Recorded counts what facts the commands just recorded say.
func (m *Metrics) Recorded(_ string, facts []es.Fact) {
	for _, f := range facts {
		switch e := f.(type) {
		case *conversation.Opened:
			m.opened.WithLabelValues(modeOf(e.Mode)).Inc()
		case *conversation.Resolved:
			m.ended.WithLabelValues("resolved", "").Inc()
		case *conversation.Failed:
			m.ended.WithLabelValues("failed", e.Code).Inc()
		case *conversation.ModelStepCompleted:
			m.steps.WithLabelValues(e.Model, e.FinishReason).Inc()
			m.stepTime.WithLabelValues(e.Model).Observe(float64(e.LatencyMS) / 1000)
			m.tokens.WithLabelValues(e.Model, "input").Add(float64(e.Usage.InputTokens))
			m.tokens.WithLabelValues(e.Model, "output").Add(float64(e.Usage.OutputTokens))
		case *conversation.ToolCallCompleted:
			m.toolCalls.WithLabelValues("agent", e.Name, result(e.IsError)).Inc()
			m.toolTime.WithLabelValues("agent", e.Name).Observe(float64(e.DurationMS) / 1000)
		case *mcpcall.Completed:
			// The call's record names its tool in its first fact, not here.
			m.toolCalls.WithLabelValues("mcp", "-", result(e.IsError)).Inc()
			m.toolTime.WithLabelValues("mcp", "-").Observe(float64(e.DurationMS) / 1000)
		case *billing.Charged:
			m.spend.WithLabelValues(e.CauseKind, e.Model, modeOf(e.Mode)).Add(float64(e.Amount))
		case *webhook.AttemptCompleted:
			m.webhooks.WithLabelValues(string(e.Outcome)).Inc()
			m.hookTime.WithLabelValues(string(e.Outcome)).Observe(float64(e.DurationMS) / 1000)
		}
	}
}

func result(isErr bool) string {
	if isErr {
		return "error"
	}
	return "ok"
}

func modeOf(m string) string {
	if m == "" {
		return "live"
	}
	return m
}

// Lags reports, when scraped, how many events of the log each projection
// and saga has still to apply (head minus its position).
func (m *Metrics) Lags(lags func(ctx context.Context) (map[string]int64, error)) {
	m.reg.MustRegister(&lagCollector{read: lags, desc: prometheus.NewDesc("gateway_subscription_lag_events",
		"Events of the log a projection or saga has not applied yet, by subscription.", []string{"subscription"}, nil)})
}

// Roles reports, when scraped, which singleton roles (sagas, reaper) this
// instance holds: 1 held, 0 standing by.
func (m *Metrics) Roles(held, waiting func() []string) {
	m.reg.MustRegister(&roleCollector{held: held, waiting: waiting, desc: prometheus.NewDesc("gateway_leader_role_held",
		"1 when this instance holds the role, 0 when it stands by for it.", []string{"role"}, nil)})
}

type lagCollector struct {
	read func(ctx context.Context) (map[string]int64, error)
	desc *prometheus.Desc
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lags, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for name, n := range lags {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), name)
	}
}

type roleCollector struct {
	held, waiting func() []string
	desc          *prometheus.Desc
}

func (c *roleCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *roleCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.held() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1, r)
	}
	for _, r := range c.waiting() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 0, r)
	}
}
