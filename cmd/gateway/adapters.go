package main

import (
	"fmt"
	"path/filepath"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/infra/llm/offline"
	"github.com/sois-ai/chat-agent-gateway/infra/llm/openai"
	"github.com/sois-ai/chat-agent-gateway/infra/mail"
	"github.com/sois-ai/chat-agent-gateway/infra/secrets"
)

// The model, the mailer and the sealer the configuration picks.

// model picks the OpenAI-compatible endpoint when one is configured, the
// offline model otherwise.
func (a *App) model() (commands.Model, error) {
	if !a.cfg.ModelConfigured {
		a.ModelName = offline.Name
		return offline.New(), nil
	}
	m, err := openai.New(a.cfg.Model)
	if err != nil {
		return nil, err
	}
	a.ModelName = m.Name() + " at " + a.cfg.Model.BaseURL
	return m, nil
}

func (a *App) mailer() (commands.Mailer, error) {
	if a.cfg.SMTPURL == "" {
		a.MailerName = mail.TransportOutbox
		return mail.Port{Mailer: mail.Outbox{From: a.cfg.MailFrom}}, nil
	}
	m, err := mail.FromURL(a.cfg.SMTPURL)
	if err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	a.MailerName = m.String()
	return mail.Port{Mailer: m}, nil
}

func (a *App) sealer() (*secrets.Sealer, error) {
	var key []byte
	var err error
	if a.cfg.SecretKey != "" {
		key, err = secrets.ParseKey(a.cfg.SecretKey)
	} else {
		path := filepath.Join(a.cfg.DataDir, "secret.key")
		var created bool
		key, created, err = secrets.LoadOrCreateKeyFile(path)
		if created {
			a.logger.Info("generated a server key for sealing signing secrets", "path", path)
		}
		if !a.cfg.Embedded() && err == nil {
			a.logger.Warn("GATEWAY_SECRET_KEY is not set: using the key file in the data dir; every instance sharing the database needs the same key")
		}
	}
	if err != nil {
		return nil, err
	}
	return secrets.New(key)
}
