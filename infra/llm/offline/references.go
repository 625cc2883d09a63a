package offline

import (
	"regexp"
	"strings"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// referents are what the earlier turns of a conversation acted on, so that
// a follow-up can point back at them: "add her phone number", "mark it as
// done", "someone else at the same company". Only what a tool result (or
// the caller's own context line) named counts; the model's earlier words
// are never mined for facts.
type referents struct {
	// contact is the contact the latest contact result named, when it
	// named exactly one; contacts is how many it named (several make
	// "her" ambiguous, and the model asks rather than guesses).
	contact  *contactRecord
	contacts int
	task     *taskRecord
	document *documentRecord
	team     *teamRecord
	// last is the kind of record the latest result named ("contact",
	// "task", "document", "team"): what a bare "it" points at.
	last string
	// searched is the name the latest contact search looked for, found
	// how many records the latest search found (-1: no search yet); an
	// "if not, add her" step reads both.
	searched string
	found    int
	// text is the latest summary a step wrote, for "email the summary".
	text string
	// narrated is the person a background sentence named, for the next step.
	narrated string
}

// readReferents follows the earlier turns in order: a later result
// replaces what an earlier one named.
func readReferents(earlier []agent.Message) referents {
	r := referents{found: -1}
	for _, m := range earlier {
		switch m.Role {
		case agent.RoleUser:
			_, ctx := splitRequest(m.Content)
			if ctx.isContact() {
				r.contact, r.contacts = &contactRecord{ID: ctx.EntityID}, 1
			}
			if ctx.isTask() {
				r.task = &taskRecord{ID: ctx.EntityID}
			}
		case agent.RoleTool:
			r.read(m.Name, m.Content)
		}
	}
	return r
}

// read takes in one tool result of an earlier turn.
func (r *referents) read(tool, result string) {
	if _, failed := toolError(result); failed {
		return
	}
	switch tool {
	case toolCreateContact, toolGetContact, toolUpdateContact, toolDeleteContact, toolSummarize:
		if c, ok := contactResult(result); ok && c.ID != "" {
			r.contact, r.contacts, r.last = &c, 1, "contact"
		}
	case toolSearchContacts:
		if cs, total, ok := contactListResult(result); ok {
			r.found = max(total, len(cs))
			if len(cs) > 0 {
				r.contact, r.contacts, r.last = nil, max(total, len(cs)), "contact"
				if r.contacts == 1 && cs[0].ID != "" {
					r.contact = &cs[0]
				}
			}
		}
	case toolCreateTask, toolCompleteTask, toolAssignTask, toolSetDueDate:
		if t, ok := taskResult(result); ok && t.ID != "" {
			r.task, r.last = &t, "task"
		}
	case toolListTasks:
		if ts, total, ok := taskListResult(result); ok {
			r.found = max(total, len(ts))
			if r.found == 1 && ts[0].ID != "" {
				r.task, r.last = &ts[0], "task"
			}
		}
	case toolSearchDocuments:
		if ds, total, ok := documentListResult(result); ok {
			r.found = max(total, len(ds))
			if len(ds) > 0 && ds[0].ID != "" {
				// A read picks the best match (the tool ranks them).
				r.document, r.last = &ds[0], "document"
			}
		}
	case toolReadDocument, toolMoveDocument:
		if d, ok := documentResult(result); ok && d.ID != "" {
			r.document, r.last = &d, "document"
		}
	case toolListTeams:
		if ts, _, ok := teamListResult(result); ok && len(ts) == 1 {
			r.team, r.last = &ts[0], "team"
		}
	}
}

// contactProblem explains why a reference to "that contact" cannot be
// followed; verb is what was asked ("update").
func (r referents) contactProblem(verb string) string {
	if r.contacts > 1 {
		return "Which contact should I " + verb + "? Your earlier request found several, so please give the contact's name."
	}
	return "Which contact should I " + verb + "? No contact is selected, so please give the contact's name."
}

var (
	// sameCompanyRe: "the same company", "the same firm as her".
	sameCompanyRe = regexp.MustCompile(`(?i)\b(?:the\s+)?same\s+(?:company|firm|employer|organi[sz]ation|business|place)\b(?:\s+as\s+(?:him|her|them|that\s+contact|before))?`)
	// objectPronounRe: "call her", "email him", "meet them" in a task title.
	objectPronounRe = regexp.MustCompile(`(?i)\b(?:him|her|them|that\s+(?:contact|person)|this\s+(?:contact|person))\b`)
)

// sameCompany puts the company of the contact an earlier turn acted on in
// place of "the same company". ok is false when the words are there and
// no company is known: then nothing may be written on a guess.
func (r referents) sameCompany(text string) (string, bool) {
	if !sameCompanyRe.MatchString(text) {
		return text, true
	}
	if r.contact == nil || r.contact.Company == "" {
		return text, false
	}
	return sameCompanyRe.ReplaceAllLiteralString(text, r.contact.Company), true
}

// namePronouns writes the earlier contact's name for "her"/"him"/"them" in
// a new task's title, so "Call her tomorrow" becomes a task a person can
// read on its own. Without one named contact the title is left as said.
func (r referents) namePronouns(title string) string {
	if r.contact == nil || r.contact.Name == "" {
		return title
	}
	return objectPronounRe.ReplaceAllLiteralString(title, r.contact.Name)
}

// sameCompanyProblem is the reply when "the same company" has no referent.
const sameCompanyProblem = "Which company do you mean by \"the same company\"? I don't know one from earlier in this conversation, so please name it."

// followUpTailRe strips the words that tie a follow-up to what came
// before ("also", "and then", "great,", "actually,") from its start.
var followUpTailRe = regexp.MustCompile(`(?i)^(?:(?:(?:and\s+)?also|and\s+then|then|and|plus|additionally|actually|great|good|perfect|` +
	`cool|nice|right|alright|all\s+right|thanks|thank\s+you|ok|okay|fine|wait|oh|oops|sorry|one\s+more\s+thing)\b[\s,:;.!\-]*)+`)

// stripFollowUpWords removes the leading "also"/"and then" of a follow-up.
func stripFollowUpWords(text string) string {
	return strings.TrimSpace(followUpTailRe.ReplaceAllString(text, ""))
}
