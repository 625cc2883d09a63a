package eventstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// ValidateAppend checks what every adapter must refuse before touching
// storage, so that all adapters refuse the same calls in the same way: the
// Postgres adapter's columns would reject some of these on their own, the
// bbolt adapter's would not.
func ValidateAppend(stream string, expected int64, events []es.Event) error {
	if stream == "" || !storableText(stream) {
		return fmt.Errorf("%w: stream name %q must be non-empty UTF-8 without NUL", ErrInvalidAppend, stream)
	}
	if expected < es.AnyVersion {
		return fmt.Errorf("%w: stream %s: expected version %d is neither a version nor es.AnyVersion", ErrInvalidAppend, stream, expected)
	}
	if len(events) == 0 {
		return fmt.Errorf("%w: stream %s: no events", ErrInvalidAppend, stream)
	}
	seen := make(map[uuid.UUID]bool, len(events))
	for i, ev := range events {
		// Only the canonical form is accepted, so that an ID reads back
		// exactly as it was written whatever the adapter stores it as.
		id, err := uuid.Parse(ev.ID)
		if err != nil || id.String() != ev.ID {
			return fmt.Errorf("%w: stream %s event %d: id %q is not a canonical lowercase UUID", ErrInvalidAppend, stream, i, ev.ID)
		}
		if seen[id] {
			return fmt.Errorf("%w: event %s appears twice in one append to %s", ErrDuplicateEvent, ev.ID, stream)
		}
		seen[id] = true
		if ev.Type == "" || !storableText(ev.Type) {
			return fmt.Errorf("%w: stream %s event %s: type %q must be non-empty UTF-8 without NUL", ErrInvalidAppend, stream, ev.ID, ev.Type)
		}
		// Correlation ids are index keys in every store (a bbolt key, a
		// Postgres btree entry), which bounds their size, and must read back
		// exactly as they were indexed.
		if id := ev.Metadata.CorrelationID; id != "" {
			if err := ValidateCorrelationID(id); err != nil {
				return fmt.Errorf("%w: stream %s event %s: %w", ErrInvalidAppend, stream, ev.ID, err)
			}
		}
		// Postgres jsonb refuses the \u0000 escape, so no store takes it.
		if !json.Valid(ev.Data) || holdsNULEscape(ev.Data) {
			return fmt.Errorf("%w: stream %s event %s (%s): data is not valid JSON (or holds \\u0000)", ErrInvalidAppend, stream, ev.ID, ev.Type)
		}
	}
	return nil
}

// holdsNULEscape reports a real \u0000 escape in JSON text: one preceded by
// an odd run of backslashes. The text \\u0000 (an escaped backslash, then
// "u0000") is ordinary and allowed.
func holdsNULEscape(data []byte) bool {
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte(`\u0000`))
		if j < 0 {
			return false
		}
		at := i + j
		run := 0
		for k := at; k >= 0 && data[k] == '\\'; k-- {
			run++
		}
		if run%2 == 1 {
			return true
		}
		i = at + 1
	}
}

// storableText is what a Postgres text column accepts.
func storableText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// ValidateLimit checks a ReadAll page size. A zero limit would make a
// catch-up loop spin without progress, so it is refused rather than guessed.
func ValidateLimit(limit int) error {
	if limit <= 0 {
		return fmt.Errorf("read all: limit must be positive, got %d", limit)
	}
	return nil
}

// MaxCorrelationIDLen bounds correlation ids in bytes. Conversation ids are
// UUIDs; the bound only keeps index entries within what every store takes.
const MaxCorrelationIDLen = 512

// ValidateCorrelationID checks a correlation id as ReadCorrelated takes it
// and Append stores it: non-empty UTF-8 without NUL, at most
// MaxCorrelationIDLen bytes.
func ValidateCorrelationID(id string) error {
	if id == "" || !storableText(id) || len(id) > MaxCorrelationIDLen {
		return fmt.Errorf("correlation id %.40q must be non-empty UTF-8 without NUL and at most %d bytes (has %d)", id, MaxCorrelationIDLen, len(id))
	}
	return nil
}

// ValidateGuards checks the guards of an append: each names another
// stream, once, at a version (0 for a stream that must not exist yet).
func ValidateGuards(stream string, guards []es.Guard) error {
	seen := make(map[string]bool, len(guards))
	for _, g := range guards {
		switch {
		case g.Stream == "" || !storableText(g.Stream):
			return fmt.Errorf("%w: guard stream name %q must be non-empty UTF-8 without NUL", ErrInvalidAppend, g.Stream)
		case g.Stream == stream:
			return fmt.Errorf("%w: stream %s guards itself; its expected version says that", ErrInvalidAppend, stream)
		case g.Version < 0:
			return fmt.Errorf("%w: guard on %s: version %d is not a version", ErrInvalidAppend, g.Stream, g.Version)
		case seen[g.Stream]:
			return fmt.Errorf("%w: stream %s is guarded twice", ErrInvalidAppend, g.Stream)
		}
		seen[g.Stream] = true
	}
	return nil
}
