package mail

import (
	"context"

	"github.com/sois-ai/chat-agent-gateway/commands"
)

// Port adapts a Mailer to the commands' Mailer port.
type Port struct{ Mailer Mailer }

// Send converts and sends.
func (p Port) Send(ctx context.Context, m commands.MailMessage) (commands.MailReceipt, error) {
	r, err := p.Mailer.Send(ctx, Message{ID: m.ID, From: m.From, To: m.To, Subject: m.Subject, Body: m.Body})
	return commands.MailReceipt{Transport: r.Transport, MessageID: r.MessageID}, err
}
