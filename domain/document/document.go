// Package document is the document aggregate: a titled text body filed in a
// folder of the workspace.
package document

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/invalid"
)

// Stream names a document's stream.
func Stream(id string) string { return "document-" + id }

// Limits on a document.
const (
	MaxTitle  = 300
	MaxFolder = 300
	MaxBody   = 256 * 1024
)

// Created is the first fact of a document.
type Created struct {
	DocumentID  string `json:"document_id"`
	WorkspaceID string `json:"workspace_id"`
	Title       string `json:"title"`
	Folder      string `json:"folder"`
	Body        string `json:"body"`
	CreatedBy   string `json:"created_by,omitempty"`
	// Sandbox marks a record made under a test API key: only test keys
	// of the workspace see it (the workspace's live data never holds it).
	Sandbox   bool      `json:"sandbox,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Moved files the document in another folder.
type Moved struct {
	From    string    `json:"from"`
	To      string    `json:"to"`
	MovedAt time.Time `json:"moved_at"`
}

func (Created) EventType() string { return "DocumentCreated" }
func (Moved) EventType() string   { return "DocumentMoved" }

// Events decodes this aggregate's facts.
var Events = es.Registered(es.Of[Created], es.Of[Moved])

// Document is the state folded from its stream.
type Document struct {
	ID, WorkspaceID, Title, Folder, Body string
	Sandbox                              bool
	CreatedAt                            time.Time
}

// Apply folds one fact.
func (d *Document) Apply(f es.Fact) {
	switch e := f.(type) {
	case *Created:
		d.ID, d.WorkspaceID, d.Title, d.Folder, d.Body, d.CreatedAt = e.DocumentID, e.WorkspaceID, e.Title, e.Folder, e.Body, e.CreatedAt
		d.Sandbox = e.Sandbox
	case *Moved:
		d.Folder = e.To
	}
}

// ErrNotFound is returned for documents outside the caller's workspace too.
var ErrNotFound = errors.New("document not found")

// ValidationError names the field that is wrong (shared by every aggregate).
type ValidationError = invalid.Error

// NormalizeFolder turns "Reports/ Q1 /" into "/Reports/Q1": folders are
// slash-separated paths from the root "/".
func NormalizeFolder(s string) (string, error) {
	var parts []string
	for _, p := range strings.Split(s, "/") {
		if p = strings.TrimSpace(p); p != "" {
			if p == "." || p == ".." {
				return "", &ValidationError{Field: "folder", Reason: "must not contain . or .. segments"}
			}
			parts = append(parts, p)
		}
	}
	f := "/" + strings.Join(parts, "/")
	if utf8.RuneCountInString(f) > MaxFolder {
		return "", &ValidationError{Field: "folder", Reason: fmt.Sprintf("must be at most %d characters", MaxFolder)}
	}
	return f, nil
}

// Create decides a new document.
func Create(id, workspaceID, title, folder, body, createdBy string, now time.Time) ([]es.Fact, error) {
	title = strings.TrimSpace(title)
	if title == "" {
		return nil, &ValidationError{Field: "title", Reason: "is required"}
	}
	if utf8.RuneCountInString(title) > MaxTitle {
		return nil, &ValidationError{Field: "title", Reason: fmt.Sprintf("must be at most %d characters", MaxTitle)}
	}
	if len(body) > MaxBody {
		return nil, &ValidationError{Field: "body", Reason: fmt.Sprintf("must be at most %d KiB", MaxBody/1024)}
	}
	f, err := NormalizeFolder(folder)
	if err != nil {
		return nil, err
	}
	return []es.Fact{&Created{DocumentID: id, WorkspaceID: workspaceID, Title: title, Folder: f, Body: body,
		CreatedBy: createdBy, CreatedAt: now}}, nil
}

// Move decides filing the document elsewhere; moving to where it is changes nothing.
func (d *Document) Move(workspaceID, to string, now time.Time) ([]es.Fact, error) {
	if d.ID == "" || d.WorkspaceID != workspaceID {
		return nil, ErrNotFound
	}
	f, err := NormalizeFolder(to)
	if err != nil {
		return nil, err
	}
	if f == d.Folder {
		return nil, nil
	}
	return []es.Fact{&Moved{From: d.Folder, To: f, MovedAt: now}}, nil
}
