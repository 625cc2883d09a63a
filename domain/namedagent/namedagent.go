// Package namedagent is a workspace's named agents: each gives the
// endpoint one behaviour (instructions, model, temperature, step limit,
// allowed tools) that a message asks for by the agent's slug. An agent is
// a stream of its own whose id derives from its workspace and slug, so a
// slug is unique in its workspace by the store's own check; a conversation
// records the agent's id, version and configuration when it opens, so
// editing or deleting the agent never changes what it ran with.
package namedagent

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/invalid"
)

// Limits of an agent's configuration.
const (
	MaxName         = 200
	MaxSlug         = 64
	MaxInstructions = 20_000
	MaxModel        = 200
	MaxTemperature  = 2.0
	// MaxSteps bounds max_steps; the gateway's own step limit still applies.
	MaxSteps = 100
	// MaxSystem bounds the "system" text a message adds for its conversation.
	MaxSystem = 2_000
)

// Config is what an agent does. Zero values mean "the gateway's default":
// no instructions, the configured model, the model's own temperature, the
// gateway's step limit, every tool (Tools nil; an empty list allows none).
type Config struct {
	Name         string   `json:"name"`
	Instructions string   `json:"instructions,omitempty"`
	Model        string   `json:"model,omitempty"`
	Temperature  *float64 `json:"temperature,omitempty"`
	MaxSteps     int      `json:"max_steps,omitempty"`
	Tools        []string `json:"tools"`
}

// Allows reports whether the agent may use the tool.
func (c Config) Allows(tool string) bool {
	if c.Tools == nil {
		return true
	}
	for _, t := range c.Tools {
		if t == tool {
			return true
		}
	}
	return false
}

// Created is an agent's first fact (and, after a deletion, the first of
// its slug's next life).
type Created struct {
	AgentID     string    `json:"agent_id"`
	WorkspaceID string    `json:"workspace_id"`
	Slug        string    `json:"slug"`
	Config      Config    `json:"config"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
}

// Updated records the agent's whole configuration after a change.
type Updated struct {
	Config    Config    `json:"config"`
	UpdatedBy string    `json:"updated_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Deleted ends the agent: its slug answers "not found" until it is made again.
type Deleted struct {
	DeletedBy string    `json:"deleted_by"`
	DeletedAt time.Time `json:"deleted_at"`
}

func (Created) EventType() string { return "AgentCreated" }
func (Updated) EventType() string { return "AgentUpdated" }
func (Deleted) EventType() string { return "AgentDeleted" }

// Events decodes this package's facts.
var Events = es.Registered(es.Of[Created], es.Of[Updated], es.Of[Deleted])

// Stream names an agent's stream.
func Stream(id string) string { return "namedagent-" + id }

// space namespaces agent ids (UUIDv5 of workspace and slug).
var space = uuid.MustParse("5d0f3c2a-8e61-4b9d-9c47-1a2b3c4d5e6f")

// ID is the agent id of a slug in a workspace.
func ID(workspaceID, slug string) string {
	return uuid.NewSHA1(space, []byte(workspaceID+"\x00"+slug)).String()
}

// Errors callers act on.
var (
	ErrNotFound = errors.New("no such agent")
	ErrExists   = errors.New("an agent with this slug already exists in the workspace")
)

// ValidationError names the field that is wrong (shared by every aggregate).
type ValidationError = invalid.Error

// Agent is the state folded from an agent's stream.
type Agent struct {
	ID, WorkspaceID, Slug string
	Config                Config
	Deleted               bool
	CreatedAt, UpdatedAt  time.Time
	Version               int64
}

// Exists reports whether the agent is there (made, and not deleted).
func (a *Agent) Exists() bool { return a.ID != "" && !a.Deleted }

// Apply folds one fact into the state.
func (a *Agent) Apply(f es.Fact) {
	switch e := f.(type) {
	case *Created:
		a.ID, a.WorkspaceID, a.Slug, a.Config = e.AgentID, e.WorkspaceID, e.Slug, e.Config
		a.Deleted, a.CreatedAt, a.UpdatedAt = false, e.CreatedAt, e.CreatedAt
	case *Updated:
		a.Config, a.UpdatedAt = e.Config, e.UpdatedAt
	case *Deleted:
		a.Deleted, a.UpdatedAt = true, e.DeletedAt
	}
	a.Version++
}

var slugRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Slugify derives a slug from a name: lowercase letters and digits, runs
// of anything else one hyphen ("Customer Support" → "customer-support").
// Letters outside ASCII are dropped, so a name of those alone has none.
func Slugify(name string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			hyphen = false
		default:
			hyphen = true
		}
	}
	s := b.String()
	if len(s) > MaxSlug {
		s = strings.TrimRight(s[:MaxSlug], "-")
	}
	return s
}

// ValidSlug checks a slug a caller gave.
func ValidSlug(slug string) error {
	if !slugRE.MatchString(slug) || len(slug) > MaxSlug {
		return &ValidationError{Field: "slug", Reason: fmt.Sprintf(
			"must be lowercase letters and digits in words joined by single hyphens (like customer-support), at most %d characters", MaxSlug)}
	}
	return nil
}

// Check validates a configuration and returns it tidied (names trimmed).
func Check(c Config) (Config, error) {
	c.Name = strings.TrimSpace(c.Name)
	switch {
	case c.Name == "":
		return c, &ValidationError{Field: "name", Reason: "is required"}
	case utf8.RuneCountInString(c.Name) > MaxName:
		return c, &ValidationError{Field: "name", Reason: fmt.Sprintf("must be at most %d characters", MaxName)}
	case utf8.RuneCountInString(c.Instructions) > MaxInstructions:
		return c, &ValidationError{Field: "instructions", Reason: fmt.Sprintf("must be at most %d characters", MaxInstructions)}
	}
	c.Model = strings.TrimSpace(c.Model)
	if len(c.Model) > MaxModel {
		return c, &ValidationError{Field: "model", Reason: fmt.Sprintf("must be at most %d characters", MaxModel)}
	}
	if t := c.Temperature; t != nil && (math.IsNaN(*t) || *t < 0 || *t > MaxTemperature) {
		return c, &ValidationError{Field: "temperature", Reason: "must be a number from 0 to 2"}
	}
	if c.MaxSteps < 0 || c.MaxSteps > MaxSteps {
		return c, &ValidationError{Field: "max_steps", Reason: fmt.Sprintf("must be a whole number from 1 to %d", MaxSteps)}
	}
	return c, nil
}

// Create decides a new agent with slug in the workspace; a slug in use
// is ErrExists. A deleted agent's slug may be used again.
func (a *Agent) Create(workspaceID, slug string, c Config, by string, now time.Time) ([]es.Fact, error) {
	if err := ValidSlug(slug); err != nil {
		return nil, err
	}
	c, err := Check(c)
	if err != nil {
		return nil, err
	}
	if a.Exists() {
		return nil, ErrExists
	}
	return []es.Fact{&Created{AgentID: ID(workspaceID, slug), WorkspaceID: workspaceID, Slug: slug, Config: c,
		CreatedBy: by, CreatedAt: now}}, nil
}

// Update decides a new configuration of an agent of the workspace.
func (a *Agent) Update(workspaceID string, c Config, by string, now time.Time) ([]es.Fact, error) {
	if !a.Exists() || a.WorkspaceID != workspaceID {
		return nil, ErrNotFound
	}
	c, err := Check(c)
	if err != nil {
		return nil, err
	}
	return []es.Fact{&Updated{Config: c, UpdatedBy: by, UpdatedAt: now}}, nil
}

// Delete decides an agent's end.
func (a *Agent) Delete(workspaceID, by string, now time.Time) ([]es.Fact, error) {
	if !a.Exists() || a.WorkspaceID != workspaceID {
		return nil, ErrNotFound
	}
	return []es.Fact{&Deleted{DeletedBy: by, DeletedAt: now}}, nil
}
