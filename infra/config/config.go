// Package config reads the gateway's settings from the environment, refuses
// a wrong one with a sentence that names it, and picks the adapters they
// name: the one place both serve and the command-line tools learn where
// the data is and what runs.
package config

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"

	"github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/infra/llm/openai"
	"github.com/sois-ai/chat-agent-gateway/infra/pg"
	"github.com/sois-ai/chat-agent-gateway/infra/secrets"
	"github.com/sois-ai/chat-agent-gateway/infra/stores"
	"github.com/sois-ai/chat-agent-gateway/infra/tracing"
	"github.com/sois-ai/chat-agent-gateway/infra/webhook"
)

// Config is read from the environment; the embedded default needs none.
type Config struct {
	Addr          string         // GATEWAY_ADDR
	MetricsAddr   string         // GATEWAY_METRICS_ADDR: /metrics on a listener of its own ("" = on Addr)
	Tracing       tracing.Config // OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_SERVICE_NAME
	DataDir       string         // GATEWAY_DATA_DIR
	DatabaseURL   string         // DATABASE_URL
	NATSURL       string         // NATS_URL
	NATSPrefix    string         // GATEWAY_NATS_PREFIX
	EventStoreURL string         // EVENTSTORE_URL
	AdminToken    string         // GATEWAY_ADMIN_TOKEN
	SecretKey     string         // GATEWAY_SECRET_KEY
	MaxSteps      int            // GATEWAY_MAX_STEPS
	MaxToolCalls  int            // GATEWAY_MAX_TOOL_CALLS
	ModelTimeout  time.Duration  // GATEWAY_MODEL_TIMEOUT, per attempt
	// RetryBudget (GATEWAY_MODEL_RETRY_BUDGET) is how long after a model
	// call's start a failed attempt may still be tried again.
	RetryBudget   time.Duration
	Workers       int           // GATEWAY_WORKERS
	DBPool        int           // GATEWAY_DB_POOL (0: pg.DefaultMaxConns, or pool_max_conns in DATABASE_URL)
	StallAfter    time.Duration // GATEWAY_STALL_AFTER
	GiveUpAfter   time.Duration // GATEWAY_GIVE_UP_AFTER
	Poll          time.Duration // GATEWAY_POLL_INTERVAL
	WriteWait     time.Duration // GATEWAY_WRITE_WAIT
	KeepAlive     time.Duration // GATEWAY_STREAM_KEEPALIVE
	HistoryTokens int           // GATEWAY_HISTORY_TOKENS
	// Background runs command handlers, sagas and the reaper here
	// (GATEWAY_BACKGROUND, default true); false makes an API-only instance.
	Background bool
	LogLevel   string // GATEWAY_LOG_LEVEL
	LogFormat  string // GATEWAY_LOG_FORMAT

	MaxDuration time.Duration // GATEWAY_MAX_DURATION
	// Model is the OpenAI-compatible endpoint (OPENAI_BASE_URL,
	// OPENAI_API_KEY, GATEWAY_MODEL); ModelConfigured is false when none
	// is set and the offline model runs.
	Model           openai.Config
	ModelConfigured bool
	SMTPURL         string         // SMTP_URL
	Prices          billing.Prices // GATEWAY_PRICES (a JSON file)
	MailFrom        string         // GATEWAY_MAIL_FROM

	WebhookSchedule     []time.Duration // GATEWAY_WEBHOOK_RETRY_SCHEDULE
	WebhookTimeout      time.Duration   // GATEWAY_WEBHOOK_TIMEOUT
	WebhookAllowPrivate bool            // GATEWAY_WEBHOOK_ALLOW_PRIVATE
	WebhookWorkers      int             // GATEWAY_WEBHOOK_WORKERS
	WebhookPerHost      int             // GATEWAY_WEBHOOK_WORKERS_PER_HOST
}

// defaultPoll is how often readers of the log look for events nobody
// announced. With EventStoreDB other instances' appends are only found by
// looking, so it is short; otherwise every append wakes the readers of
// every instance (in process, or by a Postgres notification), and the
// poll is a safety net.
func defaultPoll(c Config) time.Duration {
	if c.EventStoreURL != "" {
		return 100 * time.Millisecond
	}
	return 2 * time.Second
}

// Embedded reports whether no database is configured.
func (c Config) Embedded() bool { return c.DatabaseURL == "" }

// Stores says where the data is, for stores.Open.
func (c Config) Stores(pool pg.Options) stores.Config {
	return stores.Config{DataDir: c.DataDir, DatabaseURL: c.DatabaseURL, EventStoreURL: c.EventStoreURL, Pool: pool}
}

// Load reads the environment and says precisely what is wrong.
func Load(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := Config{
		Addr:          or(getenv("GATEWAY_ADDR"), ":8080"),
		MetricsAddr:   strings.TrimSpace(getenv("GATEWAY_METRICS_ADDR")),
		Tracing:       tracing.FromEnv(getenv),
		DataDir:       or(getenv("GATEWAY_DATA_DIR"), "./data"),
		DatabaseURL:   getenv("DATABASE_URL"),
		NATSURL:       getenv("NATS_URL"),
		NATSPrefix:    or(getenv("GATEWAY_NATS_PREFIX"), "gateway"),
		EventStoreURL: getenv("EVENTSTORE_URL"),
		AdminToken:    getenv("GATEWAY_ADMIN_TOKEN"),
		SecretKey:     getenv("GATEWAY_SECRET_KEY"),
		LogLevel:      or(getenv("GATEWAY_LOG_LEVEL"), "info"),
		LogFormat:     or(getenv("GATEWAY_LOG_FORMAT"), "text"),
	}
	var err error
	ints := []struct {
		name string
		dst  *int
		def  int
	}{
		{"GATEWAY_MAX_STEPS", &c.MaxSteps, 16},
		{"GATEWAY_MAX_TOOL_CALLS", &c.MaxToolCalls, 32},
		{"GATEWAY_WORKERS", &c.Workers, 32},
		{"GATEWAY_WEBHOOK_WORKERS", &c.WebhookWorkers, 64},
		{"GATEWAY_DB_POOL", &c.DBPool, 0},
		{"GATEWAY_WEBHOOK_WORKERS_PER_HOST", &c.WebhookPerHost, 8},
		{"GATEWAY_HISTORY_TOKENS", &c.HistoryTokens, agent.DefaultHistoryTokens},
	}
	for _, i := range ints {
		if *i.dst, err = intVar(getenv, i.name, i.def); err != nil {
			return c, err
		}
	}
	durs := []struct {
		name string
		dst  *time.Duration
		def  time.Duration
	}{
		{"GATEWAY_MODEL_TIMEOUT", &c.ModelTimeout, 60 * time.Second},
		{"GATEWAY_MODEL_RETRY_BUDGET", &c.RetryBudget, openai.DefaultMaxElapsed},
		{"GATEWAY_STALL_AFTER", &c.StallAfter, 0}, // see ModelCallBudget
		{"GATEWAY_GIVE_UP_AFTER", &c.GiveUpAfter, 15 * time.Minute},
		{"GATEWAY_POLL_INTERVAL", &c.Poll, 0}, // see defaultPoll
		{"GATEWAY_WRITE_WAIT", &c.WriteWait, 3 * time.Second},
		{"GATEWAY_STREAM_KEEPALIVE", &c.KeepAlive, 15 * time.Second},
		{"GATEWAY_WEBHOOK_TIMEOUT", &c.WebhookTimeout, webhook.DefaultTimeout},
		{"GATEWAY_MAX_DURATION", &c.MaxDuration, 10 * time.Minute},
	}
	for _, d := range durs {
		if *d.dst, err = durationVar(getenv, d.name, d.def); err != nil {
			return c, err
		}
	}
	if c.DBPool != 0 && c.DBPool < 3 {
		return c, fmt.Errorf("GATEWAY_DB_POOL must be at least 3 (the group committer, stream reads and the read models each need one), not %d", c.DBPool)
	}
	if c.Poll == 0 {
		c.Poll = defaultPoll(c)
	}
	if c.Model, c.ModelConfigured, err = openai.ConfigFromEnv(getenv); err != nil {
		return c, err
	}
	c.SMTPURL = getenv("SMTP_URL")
	c.Prices = billing.DefaultPrices()
	if path := getenv("GATEWAY_PRICES"); path != "" {
		if c.Prices, err = billing.LoadPrices(path); err != nil {
			return c, fmt.Errorf("GATEWAY_PRICES: %w", err)
		}
	}
	c.MailFrom = getenv("GATEWAY_MAIL_FROM")
	c.WebhookSchedule = webhook.DefaultSchedule
	if v := getenv("GATEWAY_WEBHOOK_RETRY_SCHEDULE"); v != "" {
		if c.WebhookSchedule, err = webhook.ParseSchedule(v); err != nil {
			return c, fmt.Errorf("GATEWAY_WEBHOOK_RETRY_SCHEDULE: %w", err)
		}
	}
	switch v := getenv("GATEWAY_BACKGROUND"); v {
	case "", "true", "1":
		c.Background = true
	case "false", "0":
	default:
		return c, fmt.Errorf("GATEWAY_BACKGROUND must be true or false, not %q", v)
	}
	switch v := getenv("GATEWAY_WEBHOOK_ALLOW_PRIVATE"); v {
	case "", "false", "0":
	case "true", "1":
		c.WebhookAllowPrivate = true
	default:
		return c, fmt.Errorf("GATEWAY_WEBHOOK_ALLOW_PRIVATE must be true or false, not %q", v)
	}
	c.Model.AttemptTimeout, c.Model.MaxElapsed = c.ModelTimeout, c.RetryBudget
	if c.StallAfter == 0 {
		// Long enough that a model call still retrying is never taken for
		// stalled work: 2m, or a minute more than a call may take.
		c.StallAfter = max(2*time.Minute, c.ModelCallBudget()+time.Minute)
	}
	if c.StallAfter <= c.ModelCallBudget()+30*time.Second {
		what := fmt.Sprintf("GATEWAY_MODEL_TIMEOUT (%s)", c.ModelTimeout)
		if c.ModelConfigured {
			what = fmt.Sprintf("a model call's whole time, GATEWAY_MODEL_RETRY_BUDGET (%s) plus one more attempt of GATEWAY_MODEL_TIMEOUT (%s),", c.RetryBudget, c.ModelTimeout)
		}
		return c, fmt.Errorf("GATEWAY_STALL_AFTER (%s) must be longer than %s plus 30s, or the reaper would restart model steps that are still running",
			c.StallAfter, what)
	}
	if c.GiveUpAfter <= c.StallAfter {
		return c, fmt.Errorf("GATEWAY_GIVE_UP_AFTER (%s) must be longer than GATEWAY_STALL_AFTER (%s)", c.GiveUpAfter, c.StallAfter)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return c, fmt.Errorf("GATEWAY_LOG_FORMAT must be text or json, not %q", c.LogFormat)
	}
	if c.SecretKey != "" {
		if _, err := secrets.ParseKey(c.SecretKey); err != nil {
			return c, err
		}
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return c, fmt.Errorf("GATEWAY_LOG_LEVEL must be debug, info, warn or error, not %q", c.LogLevel)
	}
	return c, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func intVar(getenv func(string) string, name string, def int) (int, error) {
	return positiveVar(getenv, name, def, strconv.Atoi, "a positive whole number")
}

func durationVar(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	return positiveVar(getenv, name, def, time.ParseDuration, "a positive Go duration such as 30s or 2m")
}

// positiveVar reads a setting that must parse to more than zero, def when
// unset; what describes what it must be, for the error.
func positiveVar[T int | time.Duration](getenv func(string) string, name string, def T, parse func(string) (T, error), what string) (T, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := parse(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s must be %s, not %q", name, what, v)
	}
	return n, nil
}

// StoreKind names the event store the settings pick.
func (c Config) StoreKind() string {
	switch {
	case c.EventStoreURL != "":
		return "eventstoredb"
	case c.Embedded():
		return "embedded"
	}
	return "postgres"
}

// Logger is the logger GATEWAY_LOG_LEVEL and GATEWAY_LOG_FORMAT ask for,
// writing to stderr.
func (c Config) Logger() *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// ModelCallBudget is the longest one model step's call may take: with a
// language model configured, attempts may start until the retry budget is
// spent, and each runs up to GATEWAY_MODEL_TIMEOUT; the offline model
// answers in one go.
func (c Config) ModelCallBudget() time.Duration {
	if !c.ModelConfigured {
		return c.ModelTimeout
	}
	return c.RetryBudget + c.ModelTimeout
}
