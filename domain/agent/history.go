package agent

import "fmt"

// DefaultHistoryTokens bounds what a conversation's history may take of a
// model's context when nothing else is configured: room for many turns,
// well inside the context of the models the gateway is used with.
const DefaultHistoryTokens = 24_000

// EstimateTokens is a cautious guess of what a message costs in tokens:
// three bytes each (English runs near four, scripts such as Chinese or
// Japanese near one character of three bytes), plus the message's
// framing. It only decides what to trim; budgets are reserved by the
// model's own bounds.
func EstimateTokens(m Message) int {
	n := len(m.Content) + len(m.Name) + len(m.ToolCallID)
	for _, tc := range m.ToolCalls {
		n += len(tc.ID) + len(tc.Name) + len(tc.Arguments)
	}
	return n/3 + 4
}

// trimmedResult stands in for an earlier tool result left out.
const trimmedResult = `{"trimmed": "this earlier tool result (%d bytes) was left out to fit the model's context; call the tool again if you need it"}`

// FitHistory bounds a transcript to about budget tokens. The latest user
// turn (the caller's latest message and everything after it) is always
// kept whole. Before it, the oldest tool results go first, replaced by a
// note saying so; if that is not enough, the oldest whole turns go, and a
// note at the start says how many messages were left out. Nothing is
// dropped silently, and the transcript stays well formed: a tool result
// never loses the call it answers.
func FitHistory(msgs []Message, budget int) []Message {
	if budget <= 0 {
		return msgs
	}
	total := 0
	for _, m := range msgs {
		total += EstimateTokens(m)
	}
	if total <= budget {
		return msgs
	}
	latest := -1
	for i, m := range msgs {
		if m.Role == RoleUser {
			latest = i
		}
	}
	if latest <= 0 {
		return msgs
	}
	out := append([]Message(nil), msgs...)
	for i := 0; i < latest && total > budget; i++ {
		if out[i].Role != RoleTool || len(out[i].Content) < 256 {
			continue
		}
		before := EstimateTokens(out[i])
		out[i].Content = fmt.Sprintf(trimmedResult, len(out[i].Content))
		total += EstimateTokens(out[i]) - before
	}
	if total <= budget {
		return out
	}
	// Whole turns go from the oldest: a turn starts at a user message.
	cut := 0
	for i := 1; i <= latest && total > budget; i++ {
		if out[i].Role != RoleUser {
			continue
		}
		for _, m := range out[cut:i] {
			total -= EstimateTokens(m)
		}
		cut = i
	}
	note := Message{Role: RoleUser, Content: fmt.Sprintf(
		"(The %d oldest messages of this conversation were left out to fit the model's context.)", cut)}
	return append([]Message{note}, out[cut:]...)
}
