package conversation_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

func fold(facts ...es.Fact) *conversation.Conversation {
	c := &conversation.Conversation{}
	for _, f := range facts {
		c.Apply(f)
	}
	return c
}

func followUp(c *conversation.Conversation, t *testing.T, msg string, d time.Duration) *conversation.FollowUpReceived {
	t.Helper()
	facts, err := c.FollowUp(conversation.FollowUpParams{APIKeyID: "k-1", Message: msg, IdempotencyKey: "idem-" + msg, Now: at(d)})
	if err != nil {
		t.Fatalf("FollowUp(%q): %v", msg, err)
	}
	return facts[0].(*conversation.FollowUpReceived)
}

func TestFollowUpOnlyOnceTheTurnEnded(t *testing.T) {
	c := fold(opened())
	if _, err := c.FollowUp(conversation.FollowUpParams{Message: "and?", Now: at(time.Minute)}); !errors.Is(err, conversation.ErrBusy) {
		t.Fatalf("follow-up of an open conversation: %v, want ErrBusy", err)
	}
	c.Apply(step(1, "Ada lives in London.", 10, 5, time.Second))
	c.Apply(&conversation.Resolved{Reply: "Ada lives in London.", ResolvedAt: at(time.Second)})
	var gone *conversation.GoneError
	if _, err := c.FollowUp(conversation.FollowUpParams{Message: "and?", Now: at(25 * time.Hour)}); !errors.As(err, &gone) {
		t.Fatalf("follow-up after the expiry: %v, want a GoneError", err)
	}
	if _, err := c.FollowUp(conversation.FollowUpParams{Message: " ", Now: at(time.Hour)}); err == nil {
		t.Fatal("a blank follow-up was taken")
	}
	f := followUp(c, t, "Where does she work?", time.Hour)
	if f.Turn != 2 || f.FirstStep != 2 || !f.ExpiresAt.Equal(at(25*time.Hour)) {
		t.Fatalf("follow-up = %+v, want turn 2 from step 2, expiring 24h after it", f)
	}
	c.Apply(f)
	if c.Status != conversation.StatusOpen || c.Reply != "" || c.Next().ModelStep != 2 {
		t.Fatalf("after the follow-up: status %s, reply %q, next %+v", c.Status, c.Reply, c.Next())
	}
	msgs := c.ModelMessages()
	if last := msgs[len(msgs)-1]; last.Role != agent.RoleUser || last.Content != "Where does she work?" || len(msgs) != 3 {
		t.Fatalf("the model reads %+v, want the first message, the reply and the follow-up", msgs)
	}
	if _, found, same := c.FollowUpFor("idem-Where does she work?", conversation.FollowUpParams{APIKeyID: "k-1", Message: "Where does she work?"}); !found || !same {
		t.Error("a resend of the follow-up was not recognised")
	}
	if _, found, same := c.FollowUpFor("idem-Where does she work?", conversation.FollowUpParams{APIKeyID: "k-1", Message: "Something else"}); !found || same {
		t.Error("another request under the same key was taken for a resend")
	}
}

// TestFollowUpAfterACancelledTurn: what the cancelled turn left open is
// closed in the transcript, its step number is never used again (its late
// answer cannot pass for the new turn's), and the limits start afresh.
func TestFollowUpAfterACancelledTurn(t *testing.T) {
	c := fold(opened(), step(1, "", 10, 5, time.Second), requested("1.1", 1, "call_a", "search_contacts", `{"name":"Ada"}`),
		&conversation.ToolCallCompleted{Key: "1.1", Name: "search_contacts", Result: `[]`, CompletedAt: at(2 * time.Second)},
		step(2, "", 10, 5, 3*time.Second), requested("2.1", 2, "call_b", "get_contact", `{"id":"1"}`),
		&conversation.ModelStepStarted{Step: 3, StartedAt: at(4 * time.Second)})
	cancel, err := c.Cancel(at(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	c.Apply(cancel[0])
	c.Apply(&conversation.ModelStepDiscarded{Step: 3, DiscardedAt: at(6 * time.Second)})
	f := followUp(c, t, "Try again", time.Minute)
	if f.FirstStep != 4 {
		t.Fatalf("FirstStep = %d, want 4: step 3 was claimed by the cancelled turn", f.FirstStep)
	}
	c.Apply(f)
	msgs := c.ModelMessages()
	var closed, note bool
	for i, m := range msgs {
		if m.Role == agent.RoleTool && m.ToolCallID == "call_b" && strings.Contains(m.Content, "not run") {
			closed = true
		}
		if m.Role == agent.RoleAssistant && strings.Contains(m.Content, "cancelled") && i == len(msgs)-2 {
			note = true
		}
	}
	if !closed || !note || len(c.Pending) != 0 {
		t.Fatalf("transcript after the cancel: tool call closed %v, cancel noted %v, pending %v\n%+v", closed, note, c.Pending, msgs)
	}
	if _, err := c.RecordModelStep(3, agent.Response{Content: "late"}, 0, nil, lim, at(time.Minute)); !errors.Is(err, conversation.ErrNothingToDo) {
		t.Errorf("the cancelled turn's step 3 was recorded in the new turn: %v", err)
	}
	tight := conversation.Limits{MaxSteps: 2, MaxToolCalls: 1}
	if facts, err := c.CheckModelStep(4, tight, at(time.Minute)); err != nil || facts != nil {
		t.Errorf("the new turn was stopped by the old turn's counts: %v %v", facts, err)
	}
}

// TestFollowUpAfterAnEmptyAnswer: the empty assistant message of a turn
// that failed with EMPTY_REPLY is not sent again (chat APIs refuse it).
func TestFollowUpAfterAnEmptyAnswer(t *testing.T) {
	c := fold(opened())
	facts, err := c.RecordModelStep(1, agent.Response{Content: "  "}, 0, nil, lim, at(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range facts {
		c.Apply(f)
	}
	if c.Status != conversation.StatusFailed {
		t.Fatalf("status %s", c.Status)
	}
	c.Apply(followUp(c, t, "Try once more", time.Minute))
	for _, m := range c.ModelMessages() {
		if m.Role == agent.RoleAssistant && strings.TrimSpace(m.Content) == "" && len(m.ToolCalls) == 0 {
			t.Fatalf("an empty assistant message is still sent: %+v", c.ModelMessages())
		}
	}
}

// TestToolResultsInCallOrder: parallel tool calls finish in any order; the
// model reads their results in the order it asked for them.
func TestToolResultsInCallOrder(t *testing.T) {
	c := fold(opened(), step(1, "", 10, 5, time.Second),
		requested("1.1", 1, "call_a", "search_contacts", `{}`), requested("1.2", 1, "call_b", "list_tasks", `{}`),
		requested("1.3", 1, "call_c", "list_folders", `{}`),
		completed("1.3", "list_folders", `{"c":1}`, 2*time.Second), completed("1.1", "search_contacts", `{"a":1}`, 3*time.Second),
		completed("1.2", "list_tasks", `{"b":1}`, 4*time.Second))
	var order []string
	for _, m := range c.ModelMessages() {
		if m.Role == agent.RoleTool {
			order = append(order, m.ToolCallID)
		}
	}
	if strings.Join(order, ",") != "call_a,call_b,call_c" {
		t.Errorf("tool results in the order %v, want the calls' order", order)
	}
}

// TestSameFailingCallStopsTheTurn: the third failure in a row of the same
// call stops the turn; a success in between, or other arguments, does not.
func TestSameFailingCallStopsTheTurn(t *testing.T) {
	c := fold(opened())
	fail := func(n int, args string) {
		key := stepKey(n)
		c.Apply(step(n, "", 10, 5, time.Duration(n)*time.Second))
		c.Apply(requested(key, n, "call", "get_contact", args))
		c.Apply(&conversation.ToolCallCompleted{Key: key, Name: "get_contact", Result: `{"error":"no such contact"}`, IsError: true})
	}
	fail(1, `{"id":"1"}`)
	fail(2, `{"id":"2"}`)
	fail(3, `{"id":"2"}`)
	if facts, _ := c.CheckModelStep(4, conversation.DefaultLimits, at(time.Minute)); facts != nil {
		t.Fatalf("stopped after two failures of the same call: %+v", facts[0])
	}
	fail(4, `{"id":"2"}`)
	facts, _ := c.CheckModelStep(5, conversation.DefaultLimits, at(time.Minute))
	if len(facts) != 1 || facts[0].(*conversation.Failed).Code != conversation.CodeRepeatedFailure ||
		!strings.Contains(facts[0].(*conversation.Failed).Reason, "no such contact") {
		t.Fatalf("after three failures of the same call: %+v", facts)
	}
}
