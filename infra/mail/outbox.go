package mail

import "context"

// Outbox is the Mailer used when no SMTP server is configured. It sends
// nothing: it checks the message exactly as SMTP does and returns an
// "outbox" receipt, and the gateway records the mail in its events as sent
// to the outbox. That keeps tools that send mail usable, and their results
// truthful, on a gateway without a mail server (development, demos, tests).
//
// The zero value is ready to use.
type Outbox struct {
	// From is the sender used when a message has none; may be empty.
	From string
}

// Send checks msg and returns its outbox receipt.
func (o Outbox) Send(ctx context.Context, msg Message) (Receipt, error) {
	if err := ctx.Err(); err != nil {
		return Receipt{}, err
	}
	p, err := prepare(msg, o.From)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Transport: TransportOutbox, MessageID: p.messageID, Accepted: p.accepted()}, nil
}
