package agent

import (
	"strings"
	"testing"
)

func turn(user string, result int) []Message {
	return []Message{
		{Role: RoleUser, Content: user},
		{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: "c-" + user, Name: "search_contacts", Arguments: []byte(`{}`)}}},
		{Role: RoleTool, ToolCallID: "c-" + user, Name: "search_contacts", Content: strings.Repeat("x", result)},
		{Role: RoleAssistant, Content: "done with " + user},
	}
}

func tokens(msgs []Message) int {
	n := 0
	for _, m := range msgs {
		n += EstimateTokens(m)
	}
	return n
}

func TestFitHistoryKeepsWhatFits(t *testing.T) {
	msgs := append(turn("one", 400), turn("two", 400)...)
	if got := FitHistory(msgs, 10_000); len(got) != len(msgs) || got[2].Content != msgs[2].Content {
		t.Fatalf("a history within budget was changed: %+v", got)
	}
}

func TestFitHistoryTrimsOldestToolResultsFirst(t *testing.T) {
	var msgs []Message
	for _, u := range []string{"one", "two", "three"} {
		msgs = append(msgs, turn(u, 4000)...)
	}
	// Room for everything but one old tool result.
	got := FitHistory(msgs, tokens(msgs)-500)
	if len(got) != len(msgs) {
		t.Fatalf("turns were dropped when trimming a tool result was enough: %d of %d", len(got), len(msgs))
	}
	if !strings.Contains(got[2].Content, "left out") {
		t.Fatalf("the oldest tool result was not the one trimmed: %.60q", got[2].Content)
	}
	if got[6].Content != msgs[6].Content || got[10].Content != msgs[10].Content {
		t.Fatal("a newer tool result was trimmed before it was needed")
	}
}

func TestFitHistoryNeverDropsTheLatestTurn(t *testing.T) {
	var msgs []Message
	for _, u := range []string{"one", "two", "three"} {
		msgs = append(msgs, turn(u, 100)...)
	}
	latest := turn("four", 40_000)
	msgs = append(msgs, latest...)
	got := FitHistory(msgs, 1000)
	tail := got[len(got)-len(latest):]
	for i := range latest {
		if tail[i].Content != latest[i].Content {
			t.Fatalf("the latest turn was changed at %d", i)
		}
	}
	if got[0].Role != RoleUser || !strings.Contains(got[0].Content, "12 oldest messages") {
		t.Fatalf("dropped turns were not said to be dropped: %q", got[0].Content)
	}
	for i, m := range got {
		if m.Role == RoleTool && (i == 0 || len(got[i-1].ToolCalls) == 0) {
			t.Fatalf("tool result at %d lost the call it answers", i)
		}
	}
}
