// Package apikey is the API key aggregate: who owns a key, where its replies
// go, what it may spend, and whether it still works. The key itself and its
// signing secret never appear here in plaintext: the key as a hash, the
// secret sealed with the server key.
package apikey

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/invalid"
)

// Stream names a key's stream.
func Stream(id string) string { return "apikey-" + id }

// Period is how often a budget resets.
type Period string

const (
	Daily   Period = "daily"
	Monthly Period = "monthly"
	Total   Period = "total"
)

// DefaultPeriod applies when a key is created without one.
const DefaultPeriod = Monthly

// Settings are the fields a caller controls.
type Settings struct {
	Label          string `json:"label"`
	ResponseURL    string `json:"response_url,omitempty"`
	BudgetUSDCents *int64 `json:"budget_usd_cents"` // nil = unlimited
	BudgetPeriod   Period `json:"budget_period"`
	// Tools are the only tools the key may use, over MCP and in the
	// conversations it opens (nil: every tool).
	// Stored as given: null and [] (no tool at all) stay apart.
	Tools []string `json:"tools"`
}

// Allows reports whether the key may use the tool.
func (s Settings) Allows(tool string) bool {
	return s.Tools == nil || slices.Contains(s.Tools, tool)
}

// Events.

// Created is the first fact of a key.
type Created struct {
	KeyID               string   `json:"key_id"`
	WorkspaceID         string   `json:"workspace_id"`
	UserID              string   `json:"user_id"`
	KeyHash             string   `json:"key_hash"`
	KeyPrefix           string   `json:"key_prefix"`
	SealedSigningSecret string   `json:"sealed_signing_secret"`
	Settings            Settings `json:"settings"`
	// Mode is "test" or "live"; keys made before modes existed have none
	// and are live.
	Mode      string    `json:"mode,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Updated records the key's settings after a change, in full.
type Updated struct {
	Settings  Settings  `json:"settings"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SigningSecretRotated replaces the signing secret. The previous one keeps
// signing deliveries (beside the new one) until PreviousValidUntil, so
// receivers can switch without losing a delivery.
type SigningSecretRotated struct {
	SealedSigningSecret string    `json:"sealed_signing_secret"`
	PreviousValidUntil  time.Time `json:"previous_valid_until"`
	RotatedAt           time.Time `json:"rotated_at"`
}

// Revoked ends a key's life.
type Revoked struct {
	RevokedAt time.Time `json:"revoked_at"`
}

func (Created) EventType() string              { return "ApiKeyCreated" }
func (Updated) EventType() string              { return "ApiKeyUpdated" }
func (Revoked) EventType() string              { return "ApiKeyRevoked" }
func (SigningSecretRotated) EventType() string { return "ApiKeySigningSecretRotated" }

// Events decodes this aggregate's facts.
var Events = es.Registered(es.Of[Created], es.Of[Updated], es.Of[Revoked], es.Of[SigningSecretRotated])

// RotationOverlap is how long the previous signing secret keeps signing.
const RotationOverlap = 24 * time.Hour

// Key is the state folded from its stream.
type Key struct {
	ID                  string
	WorkspaceID         string
	UserID              string
	KeyHash             string
	SealedSigningSecret string
	// Previous are earlier secrets that still sign beside the current one
	// until their own deadline, newest first: a second rotation within the
	// overlap keeps the promise the first one made.
	Previous []PreviousSecret
	Settings Settings
	Mode     string // ModeTest or ModeLive
	Revoked  bool
	Version  int64
}

// Apply folds one fact into the state.
func (k *Key) Apply(f es.Fact) {
	switch e := f.(type) {
	case *Created:
		k.ID, k.WorkspaceID, k.UserID, k.KeyHash = e.KeyID, e.WorkspaceID, e.UserID, e.KeyHash
		k.Mode = cmpOr(e.Mode, ModeLive)
		k.SealedSigningSecret = e.SealedSigningSecret
		k.Settings = e.Settings
	case *Updated:
		k.Settings = e.Settings
	case *Revoked:
		k.Revoked = true
	case *SigningSecretRotated:
		prev := []PreviousSecret{{Sealed: k.SealedSigningSecret, ValidUntil: e.PreviousValidUntil}}
		for _, p := range k.Previous {
			if e.RotatedAt.Before(p.ValidUntil) && len(prev) < maxPrevious {
				prev = append(prev, p)
			}
		}
		k.Previous = prev
		k.SealedSigningSecret = e.SealedSigningSecret
	}
}

// Exists reports whether the key has been created.
func (k *Key) Exists() bool { return k.ID != "" }

// Errors callers act on.
var (
	ErrNotFound      = errors.New("API key not found")
	ErrOwnerMismatch = errors.New("this API key belongs to another user")
	ErrRevoked       = errors.New("this API key has been revoked")
)

// ValidationError names the field that is wrong (shared by every aggregate).
type ValidationError = invalid.Error

// Limits on caller-controlled fields.
const (
	MaxLabel       = 200
	MaxResponseURL = 2048
)

// ValidateLabel checks a label.
func ValidateLabel(s string) (string, error) {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > MaxLabel {
		return "", &ValidationError{Field: "label", Reason: fmt.Sprintf("must be at most %d characters", MaxLabel)}
	}
	return s, nil
}

// ValidateResponseURL accepts an absolute http or https URL with a host, or "".
func ValidateResponseURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if len(s) > MaxResponseURL {
		return "", &ValidationError{Field: "response_url", Reason: fmt.Sprintf("must be at most %d characters", MaxResponseURL)}
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return "", &ValidationError{Field: "response_url", Reason: fmt.Sprintf("must be an absolute http or https URL, got %q", s)}
	}
	if u.User != nil {
		return "", &ValidationError{Field: "response_url", Reason: "must not carry a user name or password"}
	}
	if u.Fragment != "" {
		return "", &ValidationError{Field: "response_url", Reason: "must not have a #fragment"}
	}
	return u.String(), nil
}

// ValidateBudget accepts nil (unlimited) or a whole number of cents ≥ 0.
func ValidateBudget(cents *int64) error {
	if cents != nil && *cents < 0 {
		return &ValidationError{Field: "budget_usd_cents", Reason: "must be a whole number of cents, 0 or more, or null for no limit"}
	}
	return nil
}

// ParsePeriod accepts daily, monthly or total.
func ParsePeriod(s string) (Period, error) {
	switch Period(s) {
	case Daily, Monthly, Total:
		return Period(s), nil
	}
	return "", &ValidationError{Field: "budget_period", Reason: fmt.Sprintf("must be one of daily, monthly or total, not %q", s)}
}

// Create decides a new key.
func Create(keyID, workspaceID, userID, keyHash, keyPrefix, sealedSecret string, s Settings, mode string, now time.Time) ([]es.Fact, error) {
	if s.BudgetPeriod == "" {
		s.BudgetPeriod = DefaultPeriod
	}
	if mode != ModeTest && mode != ModeLive {
		return nil, &ValidationError{Field: "mode", Reason: `must be "test" or "live"`}
	}
	return []es.Fact{&Created{
		KeyID: keyID, WorkspaceID: workspaceID, UserID: userID, KeyHash: keyHash, KeyPrefix: keyPrefix,
		SealedSigningSecret: sealedSecret, Settings: s, Mode: mode, CreatedAt: now,
	}}, nil
}

// Key modes. A test key works in its workspace's sandbox: what its
// conversations make only test keys see, its mail is never sent, its
// webhooks say "test", and its spend is reported apart.
const (
	ModeLive = "live"
	ModeTest = "test"
)

// Test reports whether k is a test key.
func (k *Key) Test() bool { return k.Mode == ModeTest }

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// CheckOwner decides whether userID may act on the key.
func (k *Key) CheckOwner(userID string) error {
	if !k.Exists() {
		return ErrNotFound
	}
	if k.UserID != userID {
		return ErrOwnerMismatch
	}
	return nil
}

// Update decides a settings change by the key's owner.
func (k *Key) Update(userID string, s Settings, now time.Time) ([]es.Fact, error) {
	if err := k.CheckOwner(userID); err != nil {
		return nil, err
	}
	if k.Revoked {
		return nil, ErrRevoked
	}
	if settingsEqual(s, k.Settings) {
		return nil, nil
	}
	return []es.Fact{&Updated{Settings: s, UpdatedAt: now}}, nil
}

// Revoke decides a revocation; revoking twice changes nothing.
func (k *Key) Revoke(userID string, now time.Time) ([]es.Fact, error) {
	if err := k.CheckOwner(userID); err != nil {
		return nil, err
	}
	if k.Revoked {
		return nil, nil
	}
	return []es.Fact{&Revoked{RevokedAt: now}}, nil
}

// Usable decides whether userID may send messages with the key.
func (k *Key) Usable(userID string) error {
	if err := k.CheckOwner(userID); err != nil {
		return err
	}
	if k.Revoked {
		return ErrRevoked
	}
	return nil
}

func settingsEqual(a, b Settings) bool {
	if a.Label != b.Label || a.ResponseURL != b.ResponseURL || a.BudgetPeriod != b.BudgetPeriod {
		return false
	}
	if (a.Tools == nil) != (b.Tools == nil) || !slices.Equal(a.Tools, b.Tools) {
		return false
	}
	if (a.BudgetUSDCents == nil) != (b.BudgetUSDCents == nil) {
		return false
	}
	return a.BudgetUSDCents == nil || *a.BudgetUSDCents == *b.BudgetUSDCents
}

// RotateSecret decides a new signing secret for the key's owner.
func (k *Key) RotateSecret(userID, sealed string, now time.Time) ([]es.Fact, error) {
	if err := k.CheckOwner(userID); err != nil {
		return nil, err
	}
	if k.Revoked {
		return nil, ErrRevoked
	}
	return []es.Fact{&SigningSecretRotated{SealedSigningSecret: sealed, PreviousValidUntil: now.Add(RotationOverlap), RotatedAt: now}}, nil
}

// PreviousSecret is a rotated-out secret and until when it still signs.
type PreviousSecret struct {
	Sealed     string
	ValidUntil time.Time
}

// maxPrevious bounds how many old secrets sign at once.
const maxPrevious = 3

// SealedSecrets lists the sealed secrets that sign a delivery at now,
// newest first.
func (k *Key) SealedSecrets(now time.Time) []string {
	out := []string{k.SealedSigningSecret}
	for _, p := range k.Previous {
		if now.Before(p.ValidUntil) {
			out = append(out, p.Sealed)
		}
	}
	return out
}
