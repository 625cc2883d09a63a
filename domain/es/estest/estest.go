// Package estest is how the domain's tests read: given past facts folded
// into a fresh aggregate, when one decision is called on it, then exactly
// these facts (or this error). Every aggregate's tests share it, so a
// failure reads the same whichever aggregate it is about.
package estest

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/invalid"
)

// Given folds facts into a fresh S.
func Given[S any, P interface {
	*S
	Apply(es.Fact)
}](facts ...es.Fact) P {
	p := P(new(S))
	for _, f := range facts {
		p.Apply(f)
	}
	return p
}

// Render lists facts with their JSON, one a line.
func Render(facts []es.Fact) string {
	var b strings.Builder
	for _, f := range facts {
		j, _ := json.Marshal(f)
		b.WriteString("\n  " + f.EventType() + " " + string(j))
	}
	if b.Len() == 0 {
		return " (none)"
	}
	return b.String()
}

// ThenFacts expects a decision to succeed with exactly want.
func ThenFacts(t testing.TB, got []es.Fact, err error, want ...es.Fact) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		t.Fatalf("facts:%s\nwant:%s", Render(got), Render(want))
	}
}

// ThenError expects a decision to fail with want and decide nothing.
func ThenError(t testing.TB, got []es.Fact, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if got != nil {
		t.Fatalf("facts with an error:%s", Render(got))
	}
}

// ThenInvalid expects a decision to refuse the caller's field and decide
// nothing.
func ThenInvalid(t testing.TB, got []es.Fact, err error, field string) {
	t.Helper()
	if f := InvalidField(t, err); f != field {
		t.Fatalf("invalid field = %q (%v), want %q", f, err, field)
	}
	if got != nil {
		t.Fatalf("facts with an error:%s", Render(got))
	}
}

// InvalidField is the field an *invalid.Error names.
func InvalidField(t testing.TB, err error) string {
	t.Helper()
	var v *invalid.Error
	if !errors.As(err, &v) {
		t.Fatalf("err = %v, want a validation error", err)
	}
	return v.Field
}
