package tools

import (
	"errors"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/contact"
	"github.com/sois-ai/chat-agent-gateway/domain/document"
	"github.com/sois-ai/chat-agent-gateway/domain/email"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/invalid"
	"github.com/sois-ai/chat-agent-gateway/domain/org"
	"github.com/sois-ai/chat-agent-gateway/domain/task"
)

// isDomainError reports failures whose message is meant for the model.
func isDomainError(err error) bool {
	var iv *invalid.Error
	return errors.As(err, &iv) ||
		errors.Is(err, contact.ErrNotFound) || errors.Is(err, task.ErrNotFound) || errors.Is(err, document.ErrNotFound) ||
		errors.Is(err, org.ErrNotFound) || errors.Is(err, email.ErrNoRecipients)
}

func agentActor(call commands.ToolCall) es.Actor {
	return es.Actor{Kind: "agent", ID: call.UserID}
}
