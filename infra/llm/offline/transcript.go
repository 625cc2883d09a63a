package offline

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// requestContext is the optional `Context: {...}` line the gateway appends to
// the caller's message: which CRM entity the caller is looking at and what
// they were doing with it. Every field is optional.
type requestContext struct {
	EntityType string
	EntityID   string
	Action     string
}

// isContact reports whether the context points at one contact.
func (c requestContext) isContact() bool {
	t := strings.ToLower(c.EntityType)
	return (t == "contact" || t == "contacts" || t == "person") && c.EntityID != ""
}

// isTask reports whether the context points at one task.
func (c requestContext) isTask() bool {
	t := strings.ToLower(c.EntityType)
	return (t == "task" || t == "tasks") && c.EntityID != ""
}

// step is one tool call the model asked for earlier in the run, with the
// result the gateway fed back (if any).
type step struct {
	call     agent.ToolCall
	result   string
	answered bool
}

// transcript is what the offline model needs from a request: the caller's
// words, the context line, and the tool calls made since.
type transcript struct {
	// found is false when the transcript holds no user message at all.
	found   bool
	text    string
	context requestContext
	steps   []step
	// prior is what earlier turns acted on, for references back to them.
	prior referents
}

// readTranscript extracts the request and its steps from the messages.
//
// The request is the latest user message: in a single-request run that is the
// first and only one, and in a longer conversation it is the one being
// answered. Only the assistant tool calls and tool results after it belong
// to the current request.
func readTranscript(messages []agent.Message) transcript {
	last := -1
	for i, m := range messages {
		if m.Role == agent.RoleUser {
			last = i
		}
	}
	if last < 0 {
		return transcript{}
	}
	t := transcript{found: true, prior: readReferents(messages[:last])}
	t.text, t.context = splitRequest(messages[last].Content)
	for _, m := range messages[last+1:] {
		switch m.Role {
		case agent.RoleAssistant:
			for _, c := range m.ToolCalls {
				t.steps = append(t.steps, step{call: c})
			}
		case agent.RoleTool:
			t.attachResult(m)
		}
	}
	return t
}

// attachResult pairs a tool message with the call it answers: by call id
// when the id is known, otherwise with the oldest unanswered call of the same
// tool name. Results that answer nothing are ignored.
func (t *transcript) attachResult(m agent.Message) {
	match := -1
	for i, s := range t.steps {
		if !s.answered && m.ToolCallID != "" && s.call.ID == m.ToolCallID {
			match = i
			break
		}
	}
	if match < 0 {
		for i, s := range t.steps {
			if !s.answered && m.Name != "" && s.call.Name == m.Name {
				match = i
				break
			}
		}
	}
	if match < 0 {
		return
	}
	t.steps[match].result = m.Content
	t.steps[match].answered = true
}

// latest returns the most recent answered step that called the named tool.
func (t transcript) latest(tool string) (step, bool) {
	for i := len(t.steps) - 1; i >= 0; i-- {
		if t.steps[i].call.Name == tool && t.steps[i].answered {
			return t.steps[i], true
		}
	}
	return step{}, false
}

// labeledLineRe: a line that starts with a field label ("Company: …").
var labeledLineRe = regexp.MustCompile(`^[\p{L}][\p{L} ]{1,20}\s*[:=]\s*\S`)

// splitRequest separates the caller's words from the `Context:` and
// `Metadata:` lines the gateway may append. Metadata is not used by the
// offline model; a context line that is not valid JSON is ignored rather
// than guessed at.
func splitRequest(content string) (string, requestContext) {
	var ctx requestContext
	var words []string
	lastLine := ""
	for _, line := range strings.Split(content, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case hasPrefixFold(trimmed, "context:"):
			ctx = parseContext(strings.TrimSpace(trimmed[len("context:"):]))
		case hasPrefixFold(trimmed, "metadata:"):
			// Metadata carries caller bookkeeping, not instructions.
		case trimmed != "" && len(words) > 0 && (labeledLineRe.MatchString(trimmed) || labeledLineRe.MatchString(lastLine)):
			// "Name: Ann Lee" on a line of its own is one field of a list,
			// and a line after such a list is no part of its last field.
			words = append(words, ", "+trimmed)
		case trimmed != "":
			words = append(words, trimmed)
		}
		if trimmed != "" && !hasPrefixFold(trimmed, "context:") && !hasPrefixFold(trimmed, "metadata:") {
			lastLine = trimmed
		}
	}
	return strings.TrimSpace(strings.ReplaceAll(strings.Join(words, " "), " , ", ", ")), ctx
}

// parseContext decodes the context JSON tolerantly: ids may be numbers.
func parseContext(raw string) requestContext {
	var fields map[string]any
	if err := json.Unmarshal([]byte(raw), &fields); err != nil {
		return requestContext{}
	}
	return requestContext{
		EntityType: strings.TrimSpace(scalarString(fields["entity_type"])),
		EntityID:   strings.TrimSpace(scalarString(fields["entity_id"])),
		Action:     strings.ToLower(strings.TrimSpace(scalarString(fields["action"]))),
	}
}

// scalarString renders a decoded JSON scalar as text; anything else is "".
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return x.String()
	}
	return ""
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// nth returns the i-th (from 0) answered step that called the named tool.
func (t transcript) nth(tool string, i int) (step, bool) {
	for _, s := range t.steps {
		if s.call.Name == tool && s.answered {
			if i == 0 {
				return s, true
			}
			i--
		}
	}
	return step{}, false
}
