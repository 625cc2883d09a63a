package sagas

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// AgentLoopName keys the agent loop's checkpoint.
const AgentLoopName = "saga.agent_loop"

// AgentLoop drives conversations: one command per model step and per
// tool call, so each piece of slow work can run on any instance.
type AgentLoop struct {
	Log    Log
	Bus    Sender
	Poll   time.Duration
	Logger *slog.Logger
}

// Run follows the log until ctx ends.
func (a *AgentLoop) Run(ctx context.Context) {
	if a.Poll <= 0 {
		a.Poll = 200 * time.Millisecond
	}
	if a.Logger == nil {
		a.Logger = slog.Default()
	}
	follow(ctx, a.Log, a.Bus, AgentLoopName, a.Poll, a.Logger, a.react)
}

func (a *AgentLoop) react(_ context.Context, rec es.Recorded, emit Emit) error {
	if !strings.HasPrefix(rec.Stream, "conversation-") {
		return nil
	}
	id := strings.TrimPrefix(rec.Stream, "conversation-")
	switch rec.Type {
	case "ConversationOpened":
		// Starting is its own command: workers take a running
		// conversation's next step before they start a new one.
		emit(&commands.StartConversation{ConversationID: id})
	case "ConversationFollowUpReceived":
		f, err := conversation.Events.Decode(rec)
		if err != nil {
			return err
		}
		emit(&commands.RunModelStep{ConversationID: id, Step: f.(*conversation.FollowUpReceived).FirstStep})
	case "ToolCallRequested", "ToolCallCompleted":
		f, err := conversation.Events.Decode(rec)
		if err != nil {
			return err
		}
		if req, ok := f.(*conversation.ToolCallRequested); ok {
			emit(&commands.ExecuteToolCall{ConversationID: id, Key: req.Key})
			return nil
		}
		step, err := stepOfKey(f.(*conversation.ToolCallCompleted).Key)
		if err != nil {
			return err
		}
		// The handler does nothing while other calls of the step are
		// still pending; the last result to arrive moves the loop on.
		emit(&commands.RunModelStep{ConversationID: id, Step: step + 1})
	}
	return nil
}

func stepOfKey(key string) (int, error) {
	s, _, ok := strings.Cut(key, ".")
	n, err := strconv.Atoi(s)
	if !ok || err != nil {
		return 0, fmt.Errorf("tool call key %q is not <step>.<index>", key)
	}
	return n, nil
}
