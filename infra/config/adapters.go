package config

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/infra/llm/offline"
	"github.com/sois-ai/chat-agent-gateway/infra/llm/openai"
	"github.com/sois-ai/chat-agent-gateway/infra/mail"
	"github.com/sois-ai/chat-agent-gateway/infra/secrets"
)

// The model, the mailer and the sealer the configuration picks.

// OpenModel picks the OpenAI-compatible endpoint when one is configured, the
// offline model otherwise, and says which it is for the start-up log.
func (c Config) OpenModel() (commands.Model, string, error) {
	if !c.ModelConfigured {
		return offline.New(), offline.Name, nil
	}
	m, err := openai.New(c.Model)
	if err != nil {
		return nil, "", err
	}
	return m, m.Name() + " at " + c.Model.BaseURL, nil
}

// OpenMailer picks SMTP when SMTP_URL is set, the outbox otherwise, and says
// which it is.
func (c Config) OpenMailer() (commands.Mailer, string, error) {
	if c.SMTPURL == "" {
		return mail.Port{Mailer: mail.Outbox{From: c.MailFrom}}, mail.TransportOutbox, nil
	}
	m, err := mail.FromURL(c.SMTPURL)
	if err != nil {
		return nil, "", fmt.Errorf("SMTP_URL: %w", err)
	}
	return mail.Port{Mailer: m}, m.String(), nil
}

// Sealer seals signing secrets with GATEWAY_SECRET_KEY, or with the key file
// in the data dir (made on first use).
func (c Config) Sealer(logger *slog.Logger) (*secrets.Sealer, error) {
	var key []byte
	var err error
	if c.SecretKey != "" {
		key, err = secrets.ParseKey(c.SecretKey)
	} else {
		path := filepath.Join(c.DataDir, "secret.key")
		var created bool
		key, created, err = secrets.LoadOrCreateKeyFile(path)
		if created {
			logger.Info("generated a server key for sealing signing secrets", "path", path)
		}
		if !c.Embedded() && err == nil {
			logger.Warn("GATEWAY_SECRET_KEY is not set: using the key file in the data dir; every instance sharing the database needs the same key")
		}
	}
	if err != nil {
		return nil, err
	}
	return secrets.New(key)
}
