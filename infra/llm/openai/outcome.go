package openai

import (
	"regexp"
	"strings"
	"unicode"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// The system prompt asks the model to end a final reply with a line
// "OUTCOME: <outcome>", so a script can tell done from "I could not"
// without reading prose. The line is taken off the reply the caller sees,
// in the complete answer and in the streamed text alike.
const outcomeMarker = "outcome:"

var outcomeLineRe = regexp.MustCompile(`(?i)(?:^|\n)[ \t]*outcome[ \t]*:[ \t]*([a-z_]+)[ \t.]*\s*$`)

// splitOutcome takes the outcome line off the end of a reply. A reply
// without one (or with an unknown word) keeps its text and has no outcome:
// the gateway then records it as completed.
func splitOutcome(content string) (string, string) {
	m := outcomeLineRe.FindStringSubmatchIndex(content)
	if m == nil {
		return content, ""
	}
	outcome := strings.ToLower(content[m[2]:m[3]])
	if !agent.ValidOutcome(outcome) {
		return content, ""
	}
	return strings.TrimRightFunc(content[:m[0]], unicode.IsSpace), outcome
}

// withOutcome sets a final reply's outcome from its marker line and, when
// the model asks the caller to choose, the records it chose between.
func withOutcome(out agent.Response, messages []agent.Message) agent.Response {
	if len(out.ToolCalls) > 0 {
		return out
	}
	out.Content, out.Outcome = splitOutcome(out.Content)
	if out.Outcome == agent.OutcomeNeedsClarification {
		out.Candidates = agent.CandidatesFrom(messages)
	}
	return out
}

// outcomeFilter passes streamed text on as it comes, except a trailing
// line that may be the outcome marker: that is held until it is known not
// to be one (then passed on) or the answer ends (then dropped if it is).
type outcomeFilter struct {
	emit func(string)
	held string
}

func (f *outcomeFilter) write(text string) {
	buf := f.held + text
	starts := []int{0}
	for i := 0; i < len(buf); i++ {
		if buf[i] == '\n' {
			starts = append(starts, i+1)
		}
	}
	// Hold the trailing lines that are blank or may be the marker, and the
	// newlines before them; pass on the rest.
	hold := len(buf)
	for k := len(starts) - 1; k >= 0; k-- {
		end := len(buf)
		if k+1 < len(starts) {
			end = starts[k+1] - 1
		}
		if !mayBeMarker(strings.TrimRight(buf[starts[k]:end], "\r")) {
			break
		}
		hold = starts[k]
	}
	for hold > 0 && (buf[hold-1] == '\n' || buf[hold-1] == '\r') {
		hold--
	}
	if hold > 0 {
		f.emit(buf[:hold])
	}
	f.held = buf[hold:]
}

// flush ends the answer: held text that is not a marker line is passed on.
func (f *outcomeFilter) flush() {
	if f.held == "" {
		return
	}
	if _, outcome := splitOutcome(f.held); outcome == "" && strings.TrimSpace(f.held) != "" {
		f.emit(f.held)
	}
	f.held = ""
}

// mayBeMarker reports whether a line so far is, or may grow into, the
// outcome line.
func mayBeMarker(line string) bool {
	compact := strings.ToLower(strings.Join(strings.Fields(line), ""))
	if len(compact) <= len(outcomeMarker) {
		return strings.HasPrefix(outcomeMarker, compact)
	}
	rest, ok := strings.CutPrefix(compact, outcomeMarker)
	return ok && strings.Trim(rest, "abcdefghijklmnopqrstuvwxyz_.") == ""
}
