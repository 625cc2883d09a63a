package offline

import (
	"context"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// BenchmarkOfflineStep: what one model step of the built-in model costs,
// for a one-step request (the baseline) against the three-step Q1 request
// at its last step (the transcript holds four tool results), and against
// an answer to "which one?" (the previous turn is planned again).
func BenchmarkOfflineStep(b *testing.B) {
	run := func(b *testing.B, earlier []agent.Message, message string) {
		crm := &fakeCRM{}
		corpusSeed(crm)
		conv := converseAt(b, crm, catalogToolNames, corpusNow, earlier, message)
		req := agent.Request{Messages: conv.messages, Tools: specs(catalogToolNames...), Now: corpusNow}
		m := New()
		b.ResetTimer()
		for b.Loop() {
			if _, err := m.Complete(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("one step (baseline)", func(b *testing.B) { run(b, nil, "Find all contacts from London") })
	b.Run("three steps, last step", func(b *testing.B) {
		run(b, nil, "Find the Q1 report, summarise it, and email the summary to the sales team")
	})
	b.Run("answer to which one", func(b *testing.B) {
		crm := &fakeCRM{}
		corpusSeed(crm)
		first := converseAt(b, crm, catalogToolNames, corpusNow, nil, "Delete Priya")
		earlier := append(first.messages, agent.Message{Role: agent.RoleAssistant, Content: first.reply})
		run(b, earlier, "Priya Shah")
	})
}
