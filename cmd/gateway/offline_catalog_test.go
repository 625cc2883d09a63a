package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// outcomePoll is the poll body's outcome and candidates.
type outcomePoll struct {
	poll
	Outcome    string `json:"outcome"`
	Candidates []struct {
		Kind, ID, Name, Company, Email string
	} `json:"candidates"`
}

// TestOfflineModelAcrossTheCatalog runs the contract's example requests,
// as the README walkthrough shows them, on the built-in model against the
// real tool catalog: search, create, e-mail, a task with a due date, a
// summary by context.entity_id, and the three-step "find the Q1 report,
// summarise it, and email the summary to the sales team". Each reply says
// how it ended (outcome); an ambiguous e-mail sends nothing and lists the
// candidates.
func TestOfflineModelAcrossTheCatalog(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		dana := h.addUser(owner, "dana@acme.test", "member")
		marco := h.addUser(owner, "marco@acme.test", "member")
		sales := h.setupTeam(owner, "Sales")
		h.setupTeamMember(owner, sales, dana.UserID)
		h.setupTeamMember(owner, sales, marco.UserID)
		h.setupDocument(owner, "Q1 2026 Sales Report", "/Reports",
			"Revenue grew 18% against the same quarter last year. New business was slower than planned. Churn stayed under 2%.")
		c := h.principal(owner)
		ask := func(message string, context map[string]any) outcomePoll {
			t.Helper()
			body := map[string]any{"message": message}
			if context != nil {
				body["context"] = context
			}
			r := h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key,
				Header: map[string]string{"Prefer": "wait=20"}, Body: body})
			var p outcomePoll
			if err := json.Unmarshal(r.Raw, &p); err != nil || p.Status != "resolved" {
				t.Fatalf("%q: %s", message, r.Raw)
			}
			return p
		}
		expect := func(p outcomePoll, outcome string, parts ...string) {
			t.Helper()
			if p.Outcome != outcome || !hasAll(p.reply(), parts...) {
				t.Errorf("outcome %q, reply %q; want %q with %q", p.Outcome, p.reply(), outcome, parts)
			}
		}

		expect(ask("Create a contact for John Smith at Acme Corp, john@acme.com, +44 7700 900000", nil), "completed", "Contact created: John Smith")
		expect(ask("Create a contact for Ann Lee at Initech in London, ann@initech.com", nil), "completed", "Ann Lee")
		expect(ask("Find all contacts from London", nil), "completed", "Ann Lee")

		expect(ask("Send an email to Ann Lee introducing our new product line", nil), "completed", "the email 'Introducing our new product line' to ann@initech.com", "outbox")
		p := ask("Create a task to follow up with John Smith by Friday", nil)
		expect(p, "completed", "Follow up with John Smith")
		created := h.logEventsOfType("TaskCreated")
		if len(created) != 1 {
			t.Fatalf("%d tasks created", len(created))
		}
		at, _ := time.Parse(time.RFC3339, p.CreatedAt)
		friday := at.UTC().AddDate(0, 0, (int(time.Friday)-int(at.UTC().Weekday())+6)%7+1)
		if due := jstr(evData(t, created[0]), "due_date"); due != friday.Format(time.DateOnly) {
			t.Errorf("due date %s, want the next Friday after %s: %s", due, at.Format(time.DateOnly), friday.Format(time.DateOnly))
		}
		contacts := h.logEventsOfType("ContactCreated")
		john := jstr(evData(t, contacts[0]), "contact_id")
		expect(ask("Give me a full summary of this contact", map[string]any{"entity_type": "contact", "entity_id": john}),
			"completed", "John Smith", "Acme Corp", "Follow up with John Smith")

		p = ask("Find the Q1 report, summarise it, and email the summary to the sales team", nil)
		expect(p, "completed", "1. I found 1 document", "2. Summary of 'Q1 2026 Sales Report'", "3. I wrote the email 'Summary of Q1 2026 Sales Report' to dana@acme.test and marco@acme.test")
		mails := h.logEventsOfType("EmailQueued")
		if len(mails) != 2 {
			t.Fatalf("%d emails queued, want 2", len(mails))
		}
		last := evData(t, mails[1])
		var to []string
		for _, a := range last["to"].([]any) {
			to = append(to, a.(string))
		}
		if strings.Join(to, ",") != "dana@acme.test,marco@acme.test" || !strings.Contains(jstr(last, "body"), "Revenue grew 18%") {
			t.Errorf("the summary went to %v with body %q", to, jstr(last, "body"))
		}

		// A second Ann Lee: an e-mail "to Ann Lee" must not guess.
		ask("Create a contact for Ann Lee at Globex, ann.lee@globex.example", nil)
		p = ask("Email Ann Lee about the renewal", nil)
		expect(p, "needs_clarification", "Initech", "Globex")
		if len(p.Candidates) != 2 || p.Candidates[0].Kind != "contact" || p.Candidates[0].ID == "" {
			t.Errorf("candidates %+v", p.Candidates)
		}
		if n := len(h.logEventsOfType("EmailQueued")); n != 2 {
			t.Errorf("%d emails queued after the ambiguous request, want still 2", n)
		}
		expect(ask("What are your business hours?", nil), "not_understood")
	})
}
