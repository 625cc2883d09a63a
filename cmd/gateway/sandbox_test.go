package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTestKeysWorkInASandbox: a test key's conversation makes records
// only test keys see (by the agent's tools and by MCP), its e-mail is
// recorded and never reaches the SMTP server, its webhook says "test" in
// the body and a header, and its spend shows in the test report only;
// live keys go on as before and never see the sandbox, and a test key
// cannot reach a live record even by its id.
func TestTestKeysWorkInASandbox(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		mail := newTestSMTP(t)
		h, _ := newWebhookHarness(t, backend, map[string]string{"SMTP_URL": mail.url()})
		recv := newReceiver(t, h.Clock, http.StatusOK)
		owner := h.createWorkspace("Acme", "owner@acme.test")

		liveKey := h.createKey(owner, map[string]any{"response_url": recv.URL})
		testKey := h.createKey(owner, map[string]any{"mode": "test", "response_url": recv.URL})
		if !strings.HasPrefix(liveKey.Key, "sois_live_") || !strings.HasPrefix(testKey.Key, "sois_test_") {
			t.Fatalf("keys %s… and %s…, want sois_live_ and sois_test_", liveKey.Key[:10], testKey.Key[:10])
		}
		var shown struct {
			Mode      string `json:"mode"`
			KeyPrefix string `json:"key_prefix"`
		}
		r := h.do(req{Method: "GET", Path: "/api/api-keys/" + testKey.ID, Auth: bearerOf(owner.Token)})
		if err := json.Unmarshal(r.Raw, &shown); err != nil || shown.Mode != "test" || !strings.HasPrefix(shown.KeyPrefix, "sois_test_") {
			t.Fatalf("test key as read back: %s", r.Raw)
		}
		expectError(t, h.do(req{Method: "POST", Path: "/api/api-keys", Auth: bearerOf(owner.Token), Body: map[string]any{"mode": "staging"}}),
			http.StatusUnprocessableEntity, "VALIDATION_ERROR")
		live := creds{Token: owner.Token, Key: liveKey.Key}
		test := creds{Token: owner.Token, Key: testKey.Key}

		ask := func(c creds, message string) outcomePoll {
			t.Helper()
			r := h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key,
				Header: map[string]string{"Prefer": "wait=20"}, Body: map[string]any{"message": message}})
			var p outcomePoll
			if err := json.Unmarshal(r.Raw, &p); err != nil || p.Status != "resolved" {
				t.Fatalf("%q: %s\n%s", message, r.Raw, h.diagnose(p.ConversationUUID))
			}
			return p
		}
		// The sandbox and the live data keep apart, both ways.
		p := ask(test, "Create a contact for Zoe Park at Pilot Labs, zoe.park@pilot.example")
		if !strings.Contains(p.reply(), "Zoe Park") {
			t.Fatalf("test key could not create: %q", p.reply())
		}
		var polled struct{ Mode string }
		_ = json.Unmarshal(h.get(test, p.ConversationUUID).Raw, &polled)
		if polled.Mode != "test" {
			t.Errorf("a test key's conversation polls with mode %q, want test", polled.Mode)
		}
		ask(live, "Create a contact for Yara Lind at Northwind, yara@northwind.example")
		if got := ask(live, "Find the contact Zoe Park").reply(); strings.Contains(got, "zoe.park@") {
			t.Errorf("a live key found the sandbox's contact: %q", got)
		}
		if got := ask(test, "Find the contact Zoe Park").reply(); !strings.Contains(got, "zoe.park@pilot.example") {
			t.Errorf("the test key lost its own contact: %q", got)
		}
		if got := ask(test, "Find the contact Yara Lind").reply(); strings.Contains(got, "yara@") {
			t.Errorf("a test key found a live contact: %q", got)
		}
		for _, ev := range h.logEventsOfType("ContactCreated") {
			d := evData(t, ev)
			name := jstr(d["fields"].(map[string]any), "name")
			if sandbox, _ := d["sandbox"].(bool); sandbox != (name == "Zoe Park") {
				t.Errorf("ContactCreated %s: sandbox %v", name, sandbox)
			}
		}

		// By MCP too, and a live record's id gets a test key nowhere.
		var yara string
		for _, ev := range h.logEventsOfType("ContactCreated") {
			if d := evData(t, ev); jstr(d["fields"].(map[string]any), "name") == "Yara Lind" {
				yara = jstr(d, "contact_id")
			}
		}
		s, err := h.mcpSession(test)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, text := mcpCall(t, s, "search_contacts", map[string]any{"query": "Yara"}); strings.Contains(text, "Yara") {
			t.Errorf("MCP with a test key found a live contact: %s", text)
		}
		if _, text := mcpCall(t, s, "search_contacts", map[string]any{"query": "Zoe"}); !strings.Contains(text, "Zoe Park") {
			t.Errorf("MCP with a test key misses the sandbox: %s", text)
		}
		res, text := mcpCall(t, s, "update_contact", map[string]any{"id": yara, "city": "Sandbox City"})
		if !res.IsError || len(h.logEventsOfType("ContactUpdated")) != 0 {
			t.Errorf("a test key changed a live contact by its id: %s", text)
		}

		// Mail: the sandbox's is recorded, never sent; the live one is.
		if got := ask(test, "Send an email to Zoe Park about the pilot").reply(); !hasAll(got, "zoe.park@pilot.example", "not sent") {
			t.Fatalf("test key's mail: %q", got)
		}
		ask(live, "Send an email to Yara Lind about the renewal")
		h.quiesce()
		var sandboxMail, liveMail int
		for _, ev := range h.logEventsOfType("EmailSent") {
			switch jstr(evData(t, ev), "transport") {
			case "sandbox":
				sandboxMail++
			case "smtp":
				liveMail++
			}
		}
		got := mail.received()
		if sandboxMail != 1 || liveMail != 1 || len(got) != 1 || strings.Join(got[0].To, ",") != "yara@northwind.example" {
			t.Errorf("EmailSent: %d sandbox, %d smtp; the SMTP server received %+v; want only Yara's mail", sandboxMail, liveMail, got)
		}

		// Webhooks: marked test in the body and a header, live unmarked.
		deadline := time.Now().Add(hookBudget)
		var marked, unmarked int
		for time.Now().Before(deadline) {
			marked, unmarked = 0, 0
			for _, rq := range recv.requests() {
				var body struct{ Mode string }
				_ = json.Unmarshal(rq.Body, &body)
				switch {
				case body.Mode == "test" && rq.Header.Get("X-Sois-Mode") == "test":
					marked++
				case body.Mode == "" && rq.Header.Get("X-Sois-Mode") == "":
					unmarked++
				default:
					t.Fatalf("a delivery with body mode %q and header %q", body.Mode, rq.Header.Get("X-Sois-Mode"))
				}
			}
			if marked == 4 && unmarked == 3 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if marked != 4 || unmarked != 3 {
			t.Errorf("%d deliveries marked test and %d live, want 4 and 3 (one per conversation)", marked, unmarked)
		}

		// Spend: the test key's in the test report only.
		day := h.Clock.Now().UTC().Format(time.DateOnly)
		report := func(mode string) map[string]any {
			r := h.do(req{Method: "GET", Path: "/api/billing/report?from=" + day + "&to=" + day + "&group_by=key&mode=" + mode, Auth: bearerOf(owner.Token)})
			expectStatus(t, r, http.StatusOK)
			return r.JSON(t)
		}
		for mode, key := range map[string]string{"live": liveKey.ID, "test": testKey.ID} {
			body := report(mode)
			rows, _ := body["rows"].([]any)
			if body["mode"] != mode || len(rows) != 1 || rows[0].(map[string]any)["group"] != key {
				t.Errorf("report of %s spend: %v, want one row, of the %s key", mode, body, mode)
			}
		}
		expectError(t, h.do(req{Method: "GET", Path: "/api/billing/report?from=" + day + "&to=" + day + "&group_by=key&mode=both", Auth: bearerOf(owner.Token)}),
			http.StatusUnprocessableEntity, "VALIDATION_ERROR")
	})
}
