package agent

import (
	"encoding/json"
	"strings"
)

// maxCandidates bounds the records a clarification lists.
const maxCandidates = 10

// candidateLists are the result keys of the list tools whose records a
// caller may be asked to choose from, with the kind each holds.
var candidateLists = []struct{ key, kind string }{
	{"contacts", "contact"}, {"tasks", "task"}, {"documents", "document"}, {"teams", "team"},
}

// CandidatesFrom lists the records of the latest tool result of the
// current request that named several: when a model asks "which one?",
// those are what the caller chooses from. Any model's transcript works,
// because it reads the tools' results, not the model's words.
func CandidatesFrom(messages []Message) []Candidate {
	for i := len(messages) - 1; i >= 0 && messages[i].Role != RoleUser; i-- {
		if messages[i].Role != RoleTool {
			continue
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal([]byte(messages[i].Content), &obj) != nil {
			continue
		}
		for _, l := range candidateLists {
			var records []map[string]any
			if json.Unmarshal(obj[l.key], &records) != nil || len(records) < 2 {
				continue
			}
			out := make([]Candidate, 0, min(len(records), maxCandidates))
			for _, r := range records[:min(len(records), maxCandidates)] {
				c := Candidate{Kind: l.kind, ID: text(r["id"]), Name: text(r["name"]), Company: text(r["company"]), Email: text(r["email"])}
				if c.Name == "" {
					c.Name = text(r["title"])
				}
				out = append(out, c)
			}
			return out
		}
	}
	return nil
}

func text(v any) string {
	s, _ := v.(string)
	return strings.TrimSpace(s)
}
