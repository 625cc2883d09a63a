package offline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// Name is the model name the offline model reports in every response.
const Name = "offline"

// Finish reasons, as an OpenAI-compatible endpoint reports them.
const (
	FinishToolCalls = "tool_calls"
	FinishStop      = "stop"
	FinishLength    = "length"
)

// defaultMaxOutput bounds an answer when the request sets no limit.
const defaultMaxOutput = 1024

func maxOutput(req agent.Request) int {
	if req.MaxTokens > 0 {
		return req.MaxTokens
	}
	return defaultMaxOutput
}

// Instant marks the model as answering in process, at once: the gateway
// does not claim its steps before they run (see commands.Instant).
func (m *Model) Instant() {}

// TokenBounds says what a request can cost before it runs: its input is
// counted exactly as Complete will count it, and its answer stops at the
// output limit. The gateway reserves budget by these bounds.
func (m *Model) TokenBounds(req agent.Request) (input, output int) {
	return inputTokens(req), maxOutput(req)
}

// Model is the offline model. It has no state and no configuration, so one
// value can serve any number of concurrent runs.
type Model struct{}

// New returns the offline model.
func New() *Model { return &Model{} }

// Complete reads the transcript and returns the next step: tool calls from
// req.Tools, or a final text reply. Only a cancelled or expired ctx yields an
// error; odd transcripts and tool results get an honest reply instead.
func (m *Model) Complete(ctx context.Context, req agent.Request) (agent.Response, error) {
	if err := ctx.Err(); err != nil {
		return agent.Response{}, fmt.Errorf("offline model: %w", err)
	}
	d := plan(req)
	resp := agent.Response{Model: Name}
	if len(d.calls) > 0 {
		resp.FinishReason = FinishToolCalls
		seed := transcriptSeed(req.Messages)
		for i, c := range d.calls {
			args, err := json.Marshal(c.args)
			if err != nil {
				// A map of strings always encodes; this is belt and braces.
				return agent.Response{}, fmt.Errorf("offline model: encode %s arguments: %w", c.name, err)
			}
			resp.ToolCalls = append(resp.ToolCalls, agent.ToolCall{
				ID:        callID(seed, c.name, i),
				Name:      c.name,
				Arguments: args,
			})
		}
	} else {
		resp.Content = d.reply
		resp.FinishReason = FinishStop
		resp.Outcome, resp.Candidates = d.outcome, d.candidates
		if resp.Outcome == "" {
			resp.Outcome = agent.OutcomeCompleted
		}
		if limit := maxOutput(req); tokens(utf8.RuneCountInString(resp.Content)) > limit {
			// Like any model, it stops at the request's output limit.
			resp.Content = string([]rune(resp.Content)[:limit*4])
			resp.FinishReason = FinishLength
		}
	}
	resp.Usage = agent.Usage{InputTokens: inputTokens(req), OutputTokens: outputTokens(resp)}
	if err := ctx.Err(); err != nil {
		return agent.Response{}, fmt.Errorf("offline model: %w", err)
	}
	return resp, nil
}

// transcriptSeed is the canonical JSON of the transcript so far; encoding
// a slice of structs is deterministic, so equal transcripts give equal ids.
func transcriptSeed(messages []agent.Message) []byte {
	seed, err := json.Marshal(messages)
	if err != nil {
		// Only invalid json.RawMessage arguments can fail to encode; fall
		// back to a rendering that is still a function of the transcript.
		return fmt.Appendf(nil, "%#v", messages)
	}
	return seed
}

// callID is "call_" plus the first 24 hex digits of
// sha256(transcript, tool name, index): unique within a response, stable
// across replays of the same transcript.
func callID(seed []byte, tool string, index int) string {
	h := sha256.New()
	h.Write(seed)
	h.Write([]byte{0})
	h.Write([]byte(tool))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(index)))
	return "call_" + hex.EncodeToString(h.Sum(nil))[:24]
}

// inputTokens estimates the prompt size as one token per four characters
// of the system prompt, the messages and the tool specs.
func inputTokens(req agent.Request) int {
	chars := utf8.RuneCountInString(req.System)
	for _, m := range req.Messages {
		chars += utf8.RuneCountInString(string(m.Role)) + utf8.RuneCountInString(m.Content) +
			utf8.RuneCountInString(m.ToolCallID) + utf8.RuneCountInString(m.Name)
		for _, c := range m.ToolCalls {
			chars += utf8.RuneCountInString(c.ID) + utf8.RuneCountInString(c.Name) + utf8.RuneCount(c.Arguments)
		}
	}
	for _, t := range req.Tools {
		chars += utf8.RuneCountInString(t.Name) + utf8.RuneCountInString(t.Description) + utf8.RuneCount(t.Parameters)
	}
	return tokens(chars)
}

// outputTokens estimates the completion size the same way.
func outputTokens(resp agent.Response) int {
	chars := utf8.RuneCountInString(resp.Content)
	for _, c := range resp.ToolCalls {
		chars += utf8.RuneCountInString(c.Name) + utf8.RuneCount(c.Arguments)
	}
	return tokens(chars)
}

// tokens is ceil(chars/4), and never zero: every call costs something.
func tokens(chars int) int {
	return max(1, (chars+3)/4)
}
