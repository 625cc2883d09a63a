package tools

import (
	"errors"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/contact"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/task"
)

// isDomainError reports failures whose message is meant for the model.
func isDomainError(err error) bool {
	var cv *contact.ValidationError
	var tv *task.ValidationError
	return errors.As(err, &cv) || errors.As(err, &tv) ||
		errors.Is(err, contact.ErrNotFound) || errors.Is(err, task.ErrNotFound)
}

func agentActor(call commands.ToolCall) es.Actor {
	return es.Actor{Kind: "agent", ID: call.UserID}
}
