package main

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMetrics: after a conversation that creates a contact and delivers its
// webhook, /metrics has every family the operators' dashboards read, with
// the values that conversation made.
func TestMetrics(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h, _ := newWebhookHarness(t, backend, nil)
		recv := newReceiver(t, h.Clock, http.StatusOK)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c, _ := h.hookCreds(owner, recv.URL)
		id, p := h.ask(c, "Create a contact for Mina Park at Initech, mina@initech.example")
		if p.Status != "resolved" {
			t.Fatalf("%s: %+v", id, p)
		}
		h.get(c, id)
		scrape := func() string {
			resp, err := http.Get(h.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
			}
			return string(b)
		}
		// value adds up the samples of a family whose labels include all of
		// labels (in any order); -1 when there is none.
		value := func(text, family string, labels ...string) float64 {
			re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(family) + `(\{.*\})? (\S+)$`)
			sum, found := 0.0, false
			for _, m := range re.FindAllStringSubmatch(text, -1) {
				ok := true
				for _, l := range labels {
					ok = ok && strings.Contains(m[1], l)
				}
				if ok {
					v, _ := strconv.ParseFloat(m[2], 64)
					sum, found = sum+v, true
				}
			}
			if !found {
				return -1
			}
			return sum
		}
		var text string
		for deadline := time.Now().Add(hookBudget); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			text = scrape()
			if value(text, "gateway_webhook_attempts_total", `outcome="delivered"`) >= 1 {
				break
			}
		}
		for _, want := range []struct {
			family string
			labels []string
			min    float64
		}{
			{"gateway_http_requests_total", []string{`route="/api/agent"`, `method="POST"`}, 1},
			{"gateway_http_request_duration_seconds_count", []string{`route="/api/agent/{id}"`, `method="GET"`}, 1},
			{"gateway_conversations_opened_total", []string{`mode="live"`}, 1},
			{"gateway_conversation_turns_ended_total", []string{`status="resolved"`}, 1},
			{"gateway_model_steps_total", []string{`model="offline"`}, 2},
			{"gateway_model_tokens_total", []string{`model="offline"`, `direction="input"`}, 1},
			{"gateway_model_step_duration_seconds_count", []string{`model="offline"`}, 2},
			{"gateway_tool_calls_total", []string{`door="agent"`, `tool="create_contact"`, `result="ok"`}, 1},
			{"gateway_tool_call_duration_seconds_count", []string{`tool="create_contact"`}, 1},
			{"gateway_spend_microusd_total", []string{`cause="model_step"`, `mode="live"`}, 1},
			{"gateway_webhook_attempts_total", []string{`outcome="delivered"`}, 1},
			{"gateway_webhook_attempt_duration_seconds_count", []string{`outcome="delivered"`}, 1},
			{"gateway_event_append_duration_seconds_count", []string{`result="ok"`}, 3},
			{"gateway_event_append_events_count", nil, 3},
			{"gateway_subscription_lag_events", []string{`subscription="projection.contacts"`}, 0},
			{"gateway_subscription_lag_events", []string{`subscription="saga.agent_loop"`}, 0},
			{"gateway_leader_role_held", []string{`role="saga.webhooks"`}, 1},
			{"go_goroutines", nil, 1},
			{"process_resident_memory_bytes", nil, 1},
		} {
			if v := value(text, want.family, want.labels...); v < want.min {
				t.Errorf("%s%v = %v, want at least %v\n%s", want.family, want.labels, v, want.min, grepLines(text, want.family))
			}
		}
		// No label names a tenant: no id of this workspace, user, key or
		// conversation appears anywhere in the scrape.
		for _, secret := range []string{owner.WorkspaceID, owner.UserID, id} {
			if strings.Contains(text, secret) {
				t.Errorf("the scrape names %s", secret)
			}
		}
	})
}

// grepLines is the lines of text that mention s, for a failure message.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
