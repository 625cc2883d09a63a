package es_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

func TestPositionLess(t *testing.T) {
	cases := []struct {
		p, q es.Position
		want bool
	}{
		{es.Start, es.Start, false},
		{es.Start, es.Position{Seq: 1}, true},
		{es.Position{Seq: 1}, es.Start, false},
		{es.Position{Seq: 2}, es.Position{Seq: 10}, true},
		{es.Position{Seq: 10}, es.Position{Seq: 2}, false},
		{es.Position{Tx: 1, Seq: 99}, es.Position{Tx: 2, Seq: 1}, true},
		{es.Position{Tx: 2, Seq: 1}, es.Position{Tx: 1, Seq: 99}, false},
		{es.Position{Tx: 5, Seq: 3}, es.Position{Tx: 5, Seq: 4}, true},
		{es.Position{Tx: 5, Seq: 4}, es.Position{Tx: 5, Seq: 4}, false},
	}
	for _, c := range cases {
		if got := c.p.Less(c.q); got != c.want {
			t.Fatalf("%v.Less(%v) = %v, want %v", c.p, c.q, got, c.want)
		}
	}
}

func TestPositionString(t *testing.T) {
	for _, c := range []struct {
		p    es.Position
		want string
	}{
		{es.Start, "0:0"},
		{es.Position{Seq: 7}, "0:7"},
		{es.Position{Tx: 123, Seq: 45}, "123:45"},
		{es.Position{Tx: 1<<64 - 1, Seq: 1<<64 - 1}, "18446744073709551615:18446744073709551615"},
	} {
		if got := c.p.String(); got != c.want {
			t.Fatalf("String() = %q, want %q", got, c.want)
		}
		back, err := es.ParsePosition(c.want)
		if err != nil || back != c.p {
			t.Fatalf("ParsePosition(%q) = %v, %v", c.want, back, err)
		}
	}
}

func TestParsePositionRefusesOtherForms(t *testing.T) {
	for _, s := range []string{"", "7", "a:b", ":7", "7:", "-1:2", "1:-2", "1;2", "18446744073709551616:0"} {
		p, err := es.ParsePosition(s)
		if err == nil {
			t.Fatalf("ParsePosition(%q) = %v, want an error", s, p)
		}
		if p != es.Start || !strings.Contains(err.Error(), "tx:seq") {
			t.Fatalf("ParsePosition(%q) = %v, %v", s, p, err)
		}
	}
}

func TestConflictError(t *testing.T) {
	var err error = &es.ConflictError{Stream: "s-1", Expected: 3, Actual: 4}
	if !errors.Is(err, es.ErrConcurrency) {
		t.Fatal("ConflictError does not match ErrConcurrency")
	}
	wrapped := fmt.Errorf("append: %w", err)
	if !errors.Is(wrapped, es.ErrConcurrency) {
		t.Fatal("wrapped ConflictError does not match ErrConcurrency")
	}
	var ce *es.ConflictError
	if !errors.As(wrapped, &ce) || ce.Expected != 3 || ce.Actual != 4 || ce.Stream != "s-1" {
		t.Fatalf("errors.As = %+v", ce)
	}
	if err.Error() != "stream s-1: expected version 3, found 4" {
		t.Fatalf("Error() = %q", err.Error())
	}
	if errors.Is(err, errors.New("stream was changed by someone else")) {
		t.Fatal("matches any error with the same text")
	}
}

type pinged struct {
	Who string    `json:"who"`
	At  time.Time `json:"at"`
}

func (pinged) EventType() string { return "Pinged" }

var registry = es.Registry{"Pinged": func() es.Fact { return &pinged{} }}

func TestNewEventAndDecode(t *testing.T) {
	at := time.Date(2025, 3, 1, 10, 0, 0, 5, time.UTC)
	ev, err := es.NewEvent("id-1", &pinged{Who: "ada", At: at}, es.Metadata{CorrelationID: "c", Actor: es.Actor{Kind: "user", ID: "u"}})
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "id-1" || ev.Type != "Pinged" || string(ev.Data) != `{"who":"ada","at":"2025-03-01T10:00:00.000000005Z"}` {
		t.Fatalf("event = %+v (%s)", ev, ev.Data)
	}
	if ev.Metadata.Schema != 1 || ev.Metadata.CorrelationID != "c" || ev.Metadata.Actor != (es.Actor{Kind: "user", ID: "u"}) {
		t.Fatalf("metadata = %+v", ev.Metadata)
	}
	ev2, _ := es.NewEvent("id-2", &pinged{}, es.Metadata{Schema: 3})
	if ev2.Metadata.Schema != 3 {
		t.Fatalf("explicit schema overwritten: %d", ev2.Metadata.Schema)
	}

	f, err := registry.Decode(es.Recorded{Stream: "ping-1", StreamVersion: 1, Type: ev.Type, Data: ev.Data})
	if err != nil || !reflect.DeepEqual(f, &pinged{Who: "ada", At: at}) {
		t.Fatalf("Decode = %+v, %v", f, err)
	}
	if !registry.Knows("Pinged") || registry.Knows("Ponged") {
		t.Fatal("Knows")
	}
}

func TestDecodeErrors(t *testing.T) {
	_, err := registry.Decode(es.Recorded{Stream: "ping-1", StreamVersion: 2, Type: "Ponged", Data: json.RawMessage(`{}`)})
	if err == nil || err.Error() != `unknown event type "Ponged" in stream ping-1` {
		t.Fatalf("unknown type: %v", err)
	}
	_, err = registry.Decode(es.Recorded{Stream: "ping-1", StreamVersion: 2, Type: "Pinged", Data: json.RawMessage(`{"who":1}`)})
	var typeErr *json.UnmarshalTypeError
	if err == nil || !errors.As(err, &typeErr) || !strings.Contains(err.Error(), "decode Pinged (stream ping-1 version 2)") {
		t.Fatalf("bad data: %v", err)
	}
}

func TestNewEventRefusesUnencodableFacts(t *testing.T) {
	_, err := es.NewEvent("id", badFact{C: make(chan int)}, es.Metadata{})
	if err == nil || !strings.HasPrefix(err.Error(), "encode Bad: ") {
		t.Fatalf("err = %v", err)
	}
}

type badFact struct{ C chan int }

func (badFact) EventType() string { return "Bad" }
