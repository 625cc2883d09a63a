package offline

import (
	"strings"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// answerTo reads a follow-up as the answer to the previous turn's
// question. When that turn ended asking which of several records was
// meant, and this message is not a request of its own but names exactly
// one of them (by full name, e-mail, company, id or "the first"), the
// previous request goes on from the step that asked, with that record.
func answerTo(req agent.Request, t transcript, text string) (rest []clause, pick agent.Candidate, ok bool) {
	last := -1
	for i, m := range req.Messages {
		if m.Role == agent.RoleUser {
			last = i
		}
	}
	if last <= 0 {
		return nil, agent.Candidate{}, false
	}
	hasEarlier := false
	for _, m := range req.Messages[:last] {
		if m.Role == agent.RoleUser {
			hasEarlier = true
		}
	}
	if !hasEarlier {
		return nil, agent.Candidate{}, false
	}
	// A message that is a request of its own is one, even if it names a
	// candidate: "Create a contact for Priya Shah" never deletes her.
	parse := newParser(text, t.context)
	parse.prior = t.prior
	if in := parse.classify(); in.kind != intentUnknown {
		return nil, agent.Candidate{}, false
	}
	prev := planTurn(agent.Request{Messages: req.Messages[:last], Tools: req.Tools, Now: req.Now}, false)
	if prev.done() || len(prev.candidates) == 0 || len(prev.rest) == 0 {
		return nil, agent.Candidate{}, false
	}
	pick, ok = selectCandidate(text, prev.candidates)
	return prev.rest, pick, ok
}

// selectCandidate finds the one candidate an answer names.
func selectCandidate(text string, cands []agent.Candidate) (agent.Candidate, bool) {
	var words []string
	for _, w := range strings.Fields(strings.ToLower(text)) {
		if w = strings.Trim(w, ".,!?;:()\"'"); w != "" {
			words = append(words, w)
		}
	}
	low := " " + strings.Join(words, " ") + " "
	has := func(phrase string) bool {
		phrase = strings.ToLower(strings.Join(strings.Fields(phrase), " "))
		return phrase != "" && strings.Contains(low, " "+phrase+" ")
	}
	for _, named := range []func(agent.Candidate) bool{
		func(c agent.Candidate) bool { return c.ID != "" && has(c.ID) },
		func(c agent.Candidate) bool { return c.Email != "" && has(c.Email) },
		func(c agent.Candidate) bool { return has(c.Name) },
		func(c agent.Candidate) bool { return c.Company != "" && has(c.Company) },
	} {
		var found []agent.Candidate
		for _, c := range cands {
			if named(c) {
				found = append(found, c)
			}
		}
		if len(found) == 1 {
			return found[0], true
		}
	}
	ordinals := map[string]int{"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2}
	for word, i := range ordinals {
		if has("the "+word) || has(word+" one") || strings.TrimSpace(low) == word {
			if i < len(cands) {
				return cands[i], true
			}
		}
	}
	return agent.Candidate{}, false
}
