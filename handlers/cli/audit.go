package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	ucli "github.com/urfave/cli/v3"

	"github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/webhook"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
	"github.com/sois-ai/chat-agent-gateway/infra/stores"
	"github.com/sois-ai/chat-agent-gateway/projections"
	"github.com/sois-ai/chat-agent-gateway/projections/conversations"
)

// `gateway audit` reads the event log the way an auditor does: `replay`
// folds one conversation with the domain code alone, prints its timeline
// and compares the result with the read model the gateway serves; `verify`
// recomputes the hash chains of the log. Both are configured like `serve`
// (the same environment) and read the stores directly: Postgres and
// EventStoreDB while the gateway runs, the embedded store while it is
// stopped (bbolt lets one process open the file).

// Audit is `gateway audit`: replay a conversation, verify the hash chains.
func Audit(load Loader) *ucli.Command {
	return &ucli.Command{
		Name:  "audit",
		Usage: "check the event log: replay a conversation, verify the hash chains (configured like serve)",
		Commands: []*ucli.Command{
			{
				Name:      "replay",
				Usage:     "fold a conversation's events with the domain code, print its timeline and compare it with the read model",
				ArgsUsage: "<conversation-uuid>",
				Description: "Exit status: 0 when the read model matches the domain fold and the conversation's hash chains are intact,\n" +
					"1 when they differ (each difference is named), 2 when the check could not run.\n" +
					"The embedded store must be stopped first; Postgres can be checked while the gateway runs.",
				Flags: []ucli.Flag{&ucli.BoolFlag{Name: "json", Usage: "print a machine-readable report"}},
				Action: func(ctx context.Context, c *ucli.Command) error {
					if c.Args().Len() != 1 {
						return ucli.Exit("audit replay takes one conversation uuid", ExitTrouble)
					}
					cfg, err := load()
					if err != nil {
						return ucli.Exit(err, ExitTrouble)
					}
					rep, err := auditReplay(ctx, cfg, c.Args().First())
					if err != nil {
						return ucli.Exit(fmt.Sprintf("audit replay: %v", err), ExitTrouble)
					}
					return emit(c, rep, !rep.Equal)
				},
			},
			{
				Name:  "verify",
				Usage: "recompute hash chains and report the first broken link of each stream",
				Description: "Exit status: 0 when every chain checked is intact, 1 when one is broken (stream and version named),\n" +
					"2 when the check could not run.",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "stream", Usage: "verify one stream, e.g. conversation-<uuid>"},
					&ucli.BoolFlag{Name: "all", Usage: "verify every stream of the log"},
					&ucli.BoolFlag{Name: "json", Usage: "print a machine-readable report"},
				},
				Action: func(ctx context.Context, c *ucli.Command) error {
					stream, all := c.String("stream"), c.Bool("all")
					if (stream == "") == !all {
						return ucli.Exit("audit verify needs exactly one of --stream <name> or --all", ExitTrouble)
					}
					cfg, err := load()
					if err != nil {
						return ucli.Exit(err, ExitTrouble)
					}
					rep, err := auditVerify(ctx, cfg, stream)
					if err != nil {
						return ucli.Exit(fmt.Sprintf("audit verify: %v", err), ExitTrouble)
					}
					return emit(c, rep, len(rep.Broken) > 0)
				},
			},
		},
	}
}

func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ---- stores ----

// openAuditStores opens the stores of cfg as serve does. The embedded
// file must exist (a check never creates an empty store) and not be held
// by a running gateway.
func openAuditStores(ctx context.Context, cfg stores.Config) (*stores.Stores, error) {
	cfg.Existing = true
	return stores.Open(ctx, cfg)
}

// readCorrelated reads every event of a correlation id.
func readCorrelated(ctx context.Context, log eventstore.Store, id string) ([]es.Recorded, error) {
	var out []es.Recorded
	after := es.Start
	for {
		b, err := log.ReadCorrelated(ctx, id, after, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
		if len(b) < 1000 {
			return out, nil
		}
		after = b[len(b)-1].Position
	}
}

// ---- replay ----

// webhookState is a conversation's webhook delivery as compared.
type webhookState struct {
	Status   string `json:"status"` // pending | delivered | failed
	Delivery int    `json:"delivery"`
	Attempts int    `json:"attempts"`
}

// conversationState is what replay compares: the domain fold on one
// side, the read model on the other.
type conversationState struct {
	Status       string        `json:"status"`
	Message      string        `json:"message"`
	Reply        string        `json:"reply,omitempty"`
	ErrorCode    string        `json:"error_code,omitempty"`
	ErrorMessage string        `json:"error_message,omitempty"`
	Steps        int           `json:"steps"`
	ToolCalls    int           `json:"tool_calls"`
	InputTokens  int           `json:"input_tokens"`
	OutputTokens int           `json:"output_tokens"`
	CreatedAt    time.Time     `json:"created_at"`
	ExpiresAt    time.Time     `json:"expires_at"`
	ResolvedAt   *time.Time    `json:"resolved_at"`
	FailedAt     *time.Time    `json:"failed_at"`
	Version      int64         `json:"version"`
	Webhook      *webhookState `json:"webhook"`
}

// Difference is one field on which the read model disagrees with the
// domain fold.
type Difference struct {
	Field     string `json:"field"`
	Domain    string `json:"domain"`
	ReadModel string `json:"read_model"`
}

func (d Difference) String() string {
	return fmt.Sprintf("%s: domain fold %s, read model %s", d.Field, d.Domain, d.ReadModel)
}

// TimelineEntry is one event as the timeline shows it.
type TimelineEntry struct {
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	Stream   string    `json:"stream"`
	Version  int64     `json:"stream_version"`
	Position string    `json:"position"`
	Type     string    `json:"type"`
	What     string    `json:"what"`
}

// ChainCheck is the hash chain of one of the conversation's streams.
type ChainCheck struct {
	Stream  string `json:"stream"`
	Events  int    `json:"events"`
	Intact  bool   `json:"intact"`
	Version int64  `json:"broken_at_version,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// ReplayReport is what `audit replay` found.
type ReplayReport struct {
	ConversationID string `json:"conversation_uuid"`
	Backend        string `json:"backend"`
	// ReadModel says what the domain fold was compared with.
	ReadModel   string             `json:"read_model"`
	Timeline    []TimelineEntry    `json:"timeline"`
	Domain      conversationState  `json:"domain"`
	Projected   *conversationState `json:"read_model_state"`
	Chains      []ChainCheck       `json:"chains"`
	Differences []Difference       `json:"differences"`
	// Note explains differences that may be lag rather than a wrong fold.
	Note string `json:"note,omitempty"`
	// Equal is true when there are no differences and every chain is
	// intact.
	Equal bool `json:"equal"`
}

// auditReplay is `gateway audit replay`: it opens the stores of cfg and
// replays conversation id.
func auditReplay(ctx context.Context, cfg stores.Config, id string) (ReplayReport, error) {
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return ReplayReport{}, fmt.Errorf("%q is not a conversation uuid", id)
	}
	st, err := openAuditStores(ctx, cfg)
	if err != nil {
		return ReplayReport{}, err
	}
	defer st.Close()
	return replayConversation(ctx, st, u.String())
}

// settleWait bounds how long replay waits for the gateway's read model to
// take in the conversation's latest events before it compares.
const settleWait = 3 * time.Second

// replayConversation folds the conversation's streams with the domain code
// and compares the fold with the read model: with Postgres the row of the
// conversations table the gateway serves; without (the embedded store, or
// EventStoreDB alone), whose read models live in memory and are folded
// from the log at every start, a conversations projection folded here the
// same way.
func replayConversation(ctx context.Context, st *stores.Stores, id string) (ReplayReport, error) {
	rep := ReplayReport{ConversationID: id, Backend: st.Backend, Differences: []Difference{}}
	var (
		dom      domainFold
		view     conversations.View
		found    bool
		row      *conversationRow
		err      error
		memModel *conversations.Memory
		runner   *projections.Runner
	)
	if st.Pool == nil {
		rep.ReadModel = "conversations projection folded in memory from the log, as the gateway without Postgres does at start"
		memModel = conversations.NewMemory()
		runner = projections.NewRunner(st.Log, projections.Options{Logger: slog.New(slog.DiscardHandler)}, memModel)
	} else {
		rep.ReadModel = "conversations table"
	}
	// While the gateway runs, the read model may trail the log by a few
	// events, or the log may grow between the two reads: read both again
	// until they agree on the versions, for a bounded time, then compare
	// what there is.
	deadline := time.Now().Add(settleWait)
	for {
		if dom, err = foldDomain(ctx, st.Log, id); err != nil {
			return rep, err
		}
		if memModel != nil {
			if err := runner.CatchUp(ctx); err != nil {
				return rep, fmt.Errorf("fold the conversations read model: %w", err)
			}
			view, found, err = memModel.Get(ctx, id)
		} else {
			view, found, err = conversations.NewPostgres(st.Pool).Get(ctx, id)
			if err == nil && found {
				row, err = readConversationRow(ctx, st.Pool, id)
			}
		}
		if err != nil {
			return rep, fmt.Errorf("read the read model: %w", err)
		}
		settled := found && view.Version == dom.state.Version &&
			(view.Webhook == nil || view.Webhook.Version == dom.webhookVersion)
		if settled || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	rep.Domain = dom.state
	rep.Chains = dom.chains
	corr, err := readCorrelated(ctx, st.Log, id)
	if err != nil {
		return rep, fmt.Errorf("read the events correlated with %s: %w", id, err)
	}
	rep.Timeline = timeline(corr)
	if !found {
		rep.Differences = append(rep.Differences, Difference{Field: "conversation", Domain: "exists", ReadModel: "missing"})
	} else {
		p := stateFromView(view)
		rep.Projected = &p
		rep.Differences = append(rep.Differences, compareStates(dom.state, p)...)
		if row != nil {
			rep.Differences = append(rep.Differences, row.compare(dom.state)...)
		}
	}
	if found && view.Version < dom.state.Version {
		rep.Note = fmt.Sprintf("the read model holds version %d of the conversation's stream, the log %d: it has not applied the latest events "+
			"(a projection behind the log, or stopped); run the replay again to tell lag from a wrong fold", view.Version, dom.state.Version)
	}
	rep.Equal = len(rep.Differences) == 0
	for _, c := range rep.Chains {
		rep.Equal = rep.Equal && c.Intact
	}
	return rep, nil
}

// domainFold is the conversation folded by the domain code alone.
type domainFold struct {
	state          conversationState
	webhookVersion int64
	chains         []ChainCheck
}

func foldDomain(ctx context.Context, log eventstore.Store, id string) (domainFold, error) {
	var out domainFold
	recs, err := log.ReadStream(ctx, conversation.Stream(id), 0)
	if err != nil {
		return out, fmt.Errorf("read %s: %w", conversation.Stream(id), err)
	}
	if len(recs) == 0 {
		return out, fmt.Errorf("the log holds no conversation %s", id)
	}
	var c conversation.Conversation
	for _, r := range recs {
		f, err := conversation.Events.Decode(r)
		if err != nil {
			return out, err
		}
		c.Apply(f)
	}
	hooks, err := log.ReadStream(ctx, webhook.Stream(id), 0)
	if err != nil {
		return out, fmt.Errorf("read %s: %w", webhook.Stream(id), err)
	}
	var (
		d        webhook.Deliveries
		outcome  string
		attempts int
	)
	for _, r := range hooks {
		f, err := webhook.Events.Decode(r)
		if err != nil {
			return out, err
		}
		d.Apply(f)
		switch e := f.(type) {
		case *webhook.Started:
			outcome, attempts = "pending", 0
		case *webhook.AttemptCompleted:
			attempts = e.Attempt
		case *webhook.Delivered:
			outcome = "delivered"
		case *webhook.Abandoned:
			outcome = "failed"
		}
	}
	s := conversationState{Status: string(c.Status), Message: c.Message, Reply: c.Reply, Steps: c.Steps, ToolCalls: c.ToolCalls,
		InputTokens: c.Usage.InputTokens, OutputTokens: c.Usage.OutputTokens, CreatedAt: c.OpenedAt, ExpiresAt: c.ExpiresAt,
		Version: recs[len(recs)-1].StreamVersion}
	if c.Failure != nil {
		s.ErrorCode, s.ErrorMessage = c.Failure.Code, c.Failure.Reason
	}
	switch c.Status {
	case conversation.StatusResolved:
		t := c.EndedAt
		s.ResolvedAt = &t
	case conversation.StatusFailed:
		t := c.EndedAt
		s.FailedAt = &t
	}
	if c.ResponseURL != "" || len(hooks) > 0 {
		s.Webhook = &webhookState{Status: "pending"}
		if d.Count > 0 {
			s.Webhook = &webhookState{Status: outcome, Delivery: d.Count, Attempts: attempts}
		}
		out.webhookVersion = int64(len(hooks))
		if len(hooks) > 0 {
			out.webhookVersion = hooks[len(hooks)-1].StreamVersion
		}
	}
	out.state = s
	out.chains = append(out.chains, chainCheck(conversation.Stream(id), recs))
	if len(hooks) > 0 {
		out.chains = append(out.chains, chainCheck(webhook.Stream(id), hooks))
	}
	return out, nil
}

func chainCheck(stream string, recs []es.Recorded) ChainCheck {
	c := ChainCheck{Stream: stream, Events: len(recs), Intact: true}
	if v, err := es.VerifyChain(recs); err != nil {
		c.Intact, c.Version, c.Reason = false, v, err.Error()
	}
	return c
}

func stateFromView(v conversations.View) conversationState {
	s := conversationState{Status: v.Status, Steps: v.Steps, ToolCalls: v.ToolCalls, InputTokens: v.InputTokens,
		OutputTokens: v.OutputTokens, CreatedAt: v.CreatedAt, ExpiresAt: v.ExpiresAt, ResolvedAt: v.ResolvedAt,
		FailedAt: v.FailedAt, Version: v.Version}
	for _, t := range v.Turns {
		switch t.Role {
		case "user":
			if m, ok := t.Payload["message"].(string); ok && s.Message == "" {
				s.Message = m
			}
		case "agent":
			if r, ok := t.Payload["content"].(string); ok {
				s.Reply = r
			}
		}
	}
	if v.Error != nil {
		s.ErrorCode, s.ErrorMessage = v.Error.Code, v.Error.Message
	}
	if w := v.Webhook; w != nil {
		s.Webhook = &webhookState{Status: w.Status, Delivery: w.Delivery, Attempts: w.Attempts}
	}
	return s
}

func compareStates(d, p conversationState) []Difference {
	var out []Difference
	add := func(field string, a, b any) {
		as, bs := render(a), render(b)
		if as != bs {
			out = append(out, Difference{Field: field, Domain: as, ReadModel: bs})
		}
	}
	add("status", d.Status, p.Status)
	add("message", d.Message, p.Message)
	add("reply", d.Reply, p.Reply)
	add("error.code", d.ErrorCode, p.ErrorCode)
	add("error.message", d.ErrorMessage, p.ErrorMessage)
	add("steps", d.Steps, p.Steps)
	add("tool_calls", d.ToolCalls, p.ToolCalls)
	add("input_tokens", d.InputTokens, p.InputTokens)
	add("output_tokens", d.OutputTokens, p.OutputTokens)
	add("created_at", d.CreatedAt, p.CreatedAt)
	add("expires_at", d.ExpiresAt, p.ExpiresAt)
	add("resolved_at", d.ResolvedAt, p.ResolvedAt)
	add("failed_at", d.FailedAt, p.FailedAt)
	add("version", d.Version, p.Version)
	switch {
	case d.Webhook == nil && p.Webhook == nil:
	case d.Webhook == nil || p.Webhook == nil:
		add("webhook", d.Webhook != nil, p.Webhook != nil)
	default:
		add("webhook.status", d.Webhook.Status, p.Webhook.Status)
		add("webhook.delivery", d.Webhook.Delivery, p.Webhook.Delivery)
		add("webhook.attempts", d.Webhook.Attempts, p.Webhook.Attempts)
	}
	return out
}

// render shows a compared value: strings quoted, times in UTC at full
// precision, absent times as "none".
func render(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case *time.Time:
		if x == nil || x.IsZero() {
			return "none"
		}
		return x.UTC().Format(time.RFC3339Nano)
	case bool:
		if x {
			return "present"
		}
		return "absent"
	}
	return fmt.Sprint(v)
}

// conversationRow is the columns of a conversations row beside its view
// document; queries (unfinished, due webhooks, usage) read them, so they
// must agree with the domain too.
type conversationRow struct {
	Status        string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	Version       int64
	WebhookStatus *string
}

func readConversationRow(ctx context.Context, pool *pgxpool.Pool, id string) (*conversationRow, error) {
	var r conversationRow
	err := pool.QueryRow(ctx, `SELECT status, created_at, expires_at, version, webhook_status FROM conversations WHERE id = $1`, id).
		Scan(&r.Status, &r.CreatedAt, &r.ExpiresAt, &r.Version, &r.WebhookStatus)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return &r, err
}

func (r *conversationRow) compare(d conversationState) []Difference {
	var out []Difference
	add := func(field string, a, b any) {
		if as, bs := render(a), render(b); as != bs {
			out = append(out, Difference{Field: field, Domain: as, ReadModel: bs})
		}
	}
	add("conversations.status column", d.Status, r.Status)
	add("conversations.created_at column", d.CreatedAt, r.CreatedAt)
	add("conversations.expires_at column", d.ExpiresAt, r.ExpiresAt)
	add("conversations.version column", d.Version, r.Version)
	want := "none"
	if d.Webhook != nil && d.Webhook.Delivery > 0 {
		want = d.Webhook.Status
	}
	got := "none"
	if r.WebhookStatus != nil {
		got = *r.WebhookStatus
	}
	add("conversations.webhook_status column", want, got)
	return out
}

func (r ReplayReport) failure() string {
	var parts []string
	for _, d := range r.Differences {
		parts = append(parts, d.String())
	}
	for _, c := range r.Chains {
		if !c.Intact {
			parts = append(parts, fmt.Sprintf("hash chain of %s broken at version %d", c.Stream, c.Version))
		}
	}
	return fmt.Sprintf("conversation %s: the %s does not match the event log: %s", r.ConversationID, r.ReadModel, strings.Join(parts, "; "))
}

func (r ReplayReport) print(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Conversation %s (%s store)\n\n", r.ConversationID, r.Backend)
	for _, e := range r.Timeline {
		fmt.Fprintf(&b, "%s  %-22s %s\n", e.At.UTC().Format("2006-01-02 15:04:05.000"), e.Actor, e.What)
	}
	d := r.Domain
	fmt.Fprintf(&b, "\nDomain fold: %s after %d events; %d model steps, %d tool calls, %d in / %d out tokens",
		d.Status, d.Version, d.Steps, d.ToolCalls, d.InputTokens, d.OutputTokens)
	if d.Webhook != nil {
		fmt.Fprintf(&b, "; webhook %s (delivery %d, %d attempts)", d.Webhook.Status, d.Webhook.Delivery, d.Webhook.Attempts)
	}
	b.WriteString("\n")
	for _, c := range r.Chains {
		if c.Intact {
			fmt.Fprintf(&b, "Hash chain of %s: intact (%d events)\n", c.Stream, c.Events)
		} else {
			fmt.Fprintf(&b, "Hash chain of %s: BROKEN at version %d: %s\n", c.Stream, c.Version, c.Reason)
		}
	}
	if len(r.Differences) == 0 {
		fmt.Fprintf(&b, "Read model (%s): matches the domain fold.\n", r.ReadModel)
	} else {
		fmt.Fprintf(&b, "Read model (%s): %d difference(s):\n", r.ReadModel, len(r.Differences))
		for _, diff := range r.Differences {
			fmt.Fprintf(&b, "  - %s\n", diff)
		}
		if r.Note != "" {
			fmt.Fprintf(&b, "Note: %s.\n", r.Note)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ---- timeline ----

func timeline(recs []es.Recorded) []TimelineEntry {
	out := make([]TimelineEntry, 0, len(recs))
	for _, r := range recs {
		actor := r.Metadata.Actor.Kind
		if r.Metadata.Actor.ID != "" {
			actor += ":" + shortID(r.Metadata.Actor.ID)
		}
		out = append(out, TimelineEntry{At: r.Metadata.OccurredAt, Actor: actor, Stream: r.Stream, Version: r.StreamVersion,
			Position: r.Position.String(), Type: r.Type, What: describe(r)})
	}
	return out
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// describe says in a line what one event means.
func describe(r es.Recorded) string {
	var reg es.Registry
	switch {
	case conversation.Events.Knows(r.Type) && strings.HasPrefix(r.Stream, "conversation-"):
		reg = conversation.Events
	case webhook.Events.Knows(r.Type):
		reg = webhook.Events
	case billing.Events.Knows(r.Type):
		reg = billing.Events
	}
	if reg == nil {
		return fmt.Sprintf("%s (%s v%d)%s", r.Type, r.Stream, r.StreamVersion, dataSummary(r.Data))
	}
	f, err := reg.Decode(r)
	if err != nil {
		return fmt.Sprintf("%s (%s v%d): cannot be decoded: %v", r.Type, r.Stream, r.StreamVersion, err)
	}
	switch e := f.(type) {
	case *conversation.Opened:
		s := fmt.Sprintf("opened by user %s with key %s: %q", shortID(e.UserID), shortID(e.APIKeyID), clip(e.Message, 120))
		if e.ResponseURL != "" {
			s += ", reply to " + e.ResponseURL
		}
		if a := e.Agent; a != nil {
			s += fmt.Sprintf(", agent %s version %d", a.Slug, a.Version)
		}
		if e.Mode != "" {
			s += ", " + e.Mode + " mode"
		}
		return s + ", pollable until " + e.ExpiresAt.UTC().Format(time.RFC3339)
	case *conversation.FollowUpReceived:
		return fmt.Sprintf("follow-up (turn %d, from step %d) with key %s: %q, pollable until %s", e.Turn, e.FirstStep,
			shortID(e.APIKeyID), clip(e.Message, 120), e.ExpiresAt.UTC().Format(time.RFC3339))
	case *conversation.ModelStepDiscarded:
		return fmt.Sprintf("model step %d discarded (%s, %d in / %d out tokens): the conversation was cancelled", e.Step, e.Model,
			e.Usage.InputTokens, e.Usage.OutputTokens)
	case *conversation.ProcessingStarted:
		return "processing started"
	case *conversation.ModelStepStarted:
		return fmt.Sprintf("model step %d started", e.Step)
	case *conversation.ModelStepCompleted:
		s := fmt.Sprintf("model step %d (%s, %d in / %d out tokens, %s)", e.Step, e.Model, e.Usage.InputTokens, e.Usage.OutputTokens, seconds(e.LatencyMS))
		if e.FinishReason != "" {
			s += ": " + e.FinishReason
		}
		return s
	case *conversation.ToolCallRequested:
		return fmt.Sprintf("tool call %s %s requested %s", e.Key, e.Name, clip(string(e.Arguments), 100))
	case *conversation.ToolCallCompleted:
		s := fmt.Sprintf("tool call %s %s → %s (%s)", e.Key, e.Name, toolResult(e.Result, e.IsError), seconds(e.DurationMS))
		if e.Truncated {
			s += ", result truncated"
		}
		return s
	case *conversation.Resolved:
		return fmt.Sprintf("resolved: %q", clip(e.Reply, 160))
	case *conversation.Failed:
		return fmt.Sprintf("failed (%s): %s", e.Code, e.Reason)
	case *billing.Reserved:
		return fmt.Sprintf("reserved %s for %s", exactDollars(e.Amount), e.CauseRef)
	case *billing.Charged:
		return fmt.Sprintf("charge %s for %s", exactDollars(e.Amount), e.CauseRef)
	case *billing.Released:
		return fmt.Sprintf("released reservation %s: %s", e.ReservationID, e.Reason)
	case *webhook.Started:
		return fmt.Sprintf("webhook delivery %d of turn %d started (%s) → %s", e.Delivery, max(e.Turn, 1), e.Reason, e.URL)
	case *webhook.AttemptStarted:
		return fmt.Sprintf("webhook attempt %d of delivery %d started", e.Attempt, e.Delivery)
	case *webhook.AttemptCompleted:
		s := fmt.Sprintf("webhook attempt %d → ", e.Attempt)
		if e.StatusCode != 0 {
			s += fmt.Sprint(e.StatusCode)
		} else {
			s += "no response"
		}
		if e.Error != "" {
			s += ": " + clip(e.Error, 100)
		}
		s += fmt.Sprintf(" (%s)", seconds(e.DurationMS))
		if e.NextAttemptAt != nil {
			s += ", next attempt at " + e.NextAttemptAt.UTC().Format("2006-01-02 15:04:05.000")
		}
		return s
	case *webhook.Delivered:
		return fmt.Sprintf("webhook delivered (delivery %d, attempt %d)", e.Delivery, e.Attempt)
	case *webhook.Abandoned:
		return fmt.Sprintf("webhook delivery %d abandoned: %s", e.Delivery, e.Reason)
	}
	return fmt.Sprintf("%s (%s v%d)", r.Type, r.Stream, r.StreamVersion)
}

// toolResult summarises a tool's result as the model read it: "3
// contacts" for a listing, the message of an error, a prefix otherwise.
func toolResult(result string, isError bool) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(result), &obj) == nil {
		if raw, ok := obj["error"]; ok {
			var msg string
			if json.Unmarshal(raw, &msg) == nil {
				return "error: " + clip(msg, 100)
			}
		}
		var keys []string
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var items []json.RawMessage
			if json.Unmarshal(obj[k], &items) == nil {
				n := len(items)
				var count int
				if raw, ok := obj["count"]; ok && json.Unmarshal(raw, &count) == nil {
					n = count
				}
				return fmt.Sprintf("%d %s", n, k)
			}
		}
	}
	if isError {
		return "error: " + clip(result, 100)
	}
	return clip(result, 100)
}

func dataSummary(data json.RawMessage) string {
	if len(data) == 0 {
		return ""
	}
	return ": " + clip(string(data), 120)
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func seconds(ms int64) string {
	if ms < 1000 {
		return fmt.Sprintf("%dms", ms)
	}
	return fmt.Sprintf("%.1fs", float64(ms)/1000)
}

// exactDollars renders micro-dollars without rounding: $0.0012.
func exactDollars(m billing.MicroUSD) string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	frac := strings.TrimRight(fmt.Sprintf("%06d", int64(m)%1_000_000), "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return fmt.Sprintf("%s$%d.%s", sign, int64(m)/1_000_000, frac)
}

// ---- verify ----

// BrokenLink is the first event of a stream whose hash does not verify,
// or a stream whose recorded head disagrees with its events.
type BrokenLink struct {
	Stream  string `json:"stream"`
	Version int64  `json:"version"`
	Reason  string `json:"reason"`
}

// VerifyReport is what `audit verify` found.
type VerifyReport struct {
	Backend string       `json:"backend"`
	Streams int          `json:"streams"`
	Events  int          `json:"events"`
	Broken  []BrokenLink `json:"broken"`
}

func (r VerifyReport) failure() string {
	var parts []string
	for _, b := range r.Broken {
		parts = append(parts, fmt.Sprintf("stream %s at version %d", b.Stream, b.Version))
	}
	return fmt.Sprintf("%d broken hash chain(s): %s", len(r.Broken), strings.Join(parts, ", "))
}

func (r VerifyReport) print(w io.Writer) error {
	var b strings.Builder
	for _, l := range r.Broken {
		fmt.Fprintf(&b, "BROKEN  stream %s at version %d: %s\n", l.Stream, l.Version, l.Reason)
	}
	if len(r.Broken) == 0 {
		fmt.Fprintf(&b, "ok: %d stream(s), %d event(s): every hash chain is intact\n", r.Streams, r.Events)
	} else {
		fmt.Fprintf(&b, "%d of %d stream(s) broken (%d event(s) read)\n", len(r.Broken), r.Streams, r.Events)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// auditVerify is `gateway audit verify`: one stream, or (stream "") all.
func auditVerify(ctx context.Context, cfg stores.Config, stream string) (VerifyReport, error) {
	st, err := openAuditStores(ctx, cfg)
	if err != nil {
		return VerifyReport{}, err
	}
	defer st.Close()
	return verifyChains(ctx, st, stream)
}

// streamHead is what the store records as a stream's end: its version and
// the hash of its last event (Postgres keeps it in the streams table).
type streamHead struct {
	version int64
	hash    *string
}

// verifyChains checks the hash chain of one stream (stream != "") or of
// every stream. With the events in Postgres every stream the streams
// table or the events table names is read on its own, and its events are
// also held against the head the streams table records, which catches a
// removed last event; other stores are read whole, in log order, and
// grouped by stream.
func verifyChains(ctx context.Context, st *stores.Stores, stream string) (VerifyReport, error) {
	rep := VerifyReport{Backend: st.Backend, Broken: []BrokenLink{}}
	heads := map[string]streamHead{}
	var names []string
	switch {
	case (st.PgLog != nil):
		q := `SELECT s.stream_id, s.version, s.last_hash FROM streams s WHERE s.stream_id = $1
			UNION ALL SELECT DISTINCT e.stream_id, NULL::bigint, NULL::text FROM events e
			WHERE e.stream_id = $1 AND NOT EXISTS (SELECT 1 FROM streams s WHERE s.stream_id = e.stream_id)`
		args := []any{stream}
		if stream == "" {
			q = `SELECT s.stream_id, s.version, s.last_hash FROM streams s
				UNION ALL SELECT DISTINCT e.stream_id, NULL::bigint, NULL::text FROM events e
				WHERE NOT EXISTS (SELECT 1 FROM streams s WHERE s.stream_id = e.stream_id)
				ORDER BY 1`
			args = nil
		}
		rows, err := st.Pool.Query(ctx, q, args...)
		if err != nil {
			return rep, err
		}
		var (
			name    string
			version *int64
			hash    *string
		)
		if _, err := pgx.ForEachRow(rows, []any{&name, &version, &hash}, func() error {
			names = append(names, name)
			h := streamHead{version: -1, hash: hash}
			if version != nil {
				h.version = *version
			}
			heads[name] = h
			return nil
		}); err != nil {
			return rep, err
		}
	case stream != "":
		names = []string{stream}
	default:
		return verifyWholeLog(ctx, st, rep)
	}
	if stream != "" && len(names) == 0 {
		return rep, fmt.Errorf("the log has no stream %q", stream)
	}
	for _, name := range names {
		recs, err := st.Log.ReadStream(ctx, name, 0)
		if err != nil {
			return rep, fmt.Errorf("read %s: %w", name, err)
		}
		if len(recs) == 0 && !(st.PgLog != nil) {
			return rep, fmt.Errorf("the log has no stream %q", name)
		}
		rep.Streams++
		rep.Events += len(recs)
		if l, broken := verifyStream(name, recs, heads[name], (st.PgLog != nil)); broken {
			rep.Broken = append(rep.Broken, l)
		}
	}
	return rep, nil
}

// verifyStream checks one stream's chain, and on Postgres its recorded
// head: the streams row is read before the events, and appends only add
// events, so the events read must reach the row's version with its hash.
func verifyStream(name string, recs []es.Recorded, head streamHead, checkHead bool) (BrokenLink, bool) {
	if v, err := es.VerifyChain(recs); err != nil {
		return BrokenLink{Stream: name, Version: v, Reason: err.Error()}, true
	}
	if !checkHead {
		return BrokenLink{}, false
	}
	if head.version < 0 {
		return BrokenLink{Stream: name, Version: 1, Reason: "the events table holds events of a stream the streams table does not know"}, true
	}
	if int64(len(recs)) < head.version {
		return BrokenLink{Stream: name, Version: int64(len(recs)) + 1,
			Reason: fmt.Sprintf("the stream's head says version %d, but its events end at version %d: events were removed", head.version, len(recs))}, true
	}
	if last := recs[head.version-1]; head.hash != nil && last.Metadata.Hash != *head.hash {
		return BrokenLink{Stream: name, Version: head.version,
			Reason: fmt.Sprintf("the stream's head records hash %s for version %d, the event holds %s", *head.hash, head.version, last.Metadata.Hash)}, true
	}
	return BrokenLink{}, false
}

func verifyWholeLog(ctx context.Context, st *stores.Stores, rep VerifyReport) (VerifyReport, error) {
	byStream := map[string][]es.Recorded{}
	var order []string
	after := es.Start
	for {
		b, err := st.Log.ReadAll(ctx, after, 1000)
		if err != nil {
			return rep, err
		}
		if len(b) == 0 {
			break
		}
		for _, r := range b {
			if _, ok := byStream[r.Stream]; !ok {
				order = append(order, r.Stream)
			}
			byStream[r.Stream] = append(byStream[r.Stream], r)
		}
		rep.Events += len(b)
		after = b[len(b)-1].Position
	}
	sort.Strings(order)
	for _, name := range order {
		rep.Streams++
		if l, broken := verifyStream(name, byStream[name], streamHead{}, false); broken {
			rep.Broken = append(rep.Broken, l)
		}
	}
	return rep, nil
}

// report is what audit replay and verify find.
type report interface {
	print(w io.Writer) error
	failure() string
}

// emit prints rep (as JSON with --json) and exits ExitDifferent with its
// failure when failed.
func emit(c *ucli.Command, rep report, failed bool) error {
	var err error
	if out := c.Root().Writer; c.Bool("json") {
		err = writeJSONTo(out, rep)
	} else {
		err = rep.print(out)
	}
	if err != nil {
		return ucli.Exit(err, ExitTrouble)
	}
	if failed {
		return ucli.Exit(rep.failure(), ExitDifferent)
	}
	return nil
}
