package es_test

import (
	"strings"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

type opened struct {
	Name string `json:"name"`
}

func (opened) EventType() string { return "ThingOpened" }

type closed struct {
	Why string `json:"why"`
}

func (*closed) EventType() string { return "ThingClosed" }

// A registry built from its facts decodes each under the name the type
// gives itself, into a fresh value every time.
func TestRegisteredDecodesEachFactByItsOwnName(t *testing.T) {
	reg := es.Registered(es.Of[opened], es.Of[closed])
	for _, tc := range []struct {
		f    es.Fact
		want string
	}{{&opened{Name: "door"}, "door"}, {&closed{Why: "wind"}, "wind"}} {
		ev, err := es.NewEvent("id-1", tc.f, es.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := reg.Decode(es.Recorded{Type: ev.Type, Data: ev.Data, Stream: "thing-1"})
		if err != nil {
			t.Fatalf("decode %s: %v", ev.Type, err)
		}
		switch g := got.(type) {
		case *opened:
			if g.Name != tc.want {
				t.Fatalf("decoded %+v", g)
			}
		case *closed:
			if g.Why != tc.want {
				t.Fatalf("decoded %+v", g)
			}
		default:
			t.Fatalf("decoded %T", got)
		}
	}
	a, _ := reg.Decode(es.Recorded{Type: "ThingOpened", Data: []byte(`{"name":"a"}`)})
	b, _ := reg.Decode(es.Recorded{Type: "ThingOpened", Data: []byte(`{"name":"b"}`)})
	if a.(*opened).Name != "a" || b.(*opened).Name != "b" {
		t.Fatalf("decodes share a value: %+v %+v", a, b)
	}
	if _, err := reg.Decode(es.Recorded{Type: "ThingVanished", Stream: "thing-1"}); err == nil || !strings.Contains(err.Error(), "ThingVanished") {
		t.Fatalf("unknown type: err = %v", err)
	}
}

func TestRegisteredRefusesTwoFactsOfOneName(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("two facts named ThingOpened were registered")
		}
	}()
	es.Registered(es.Of[opened], func() es.Fact { return opened{} })
}

// Decoding through a registry built by Registered against the
// hand-written map it replaced, in the same run: every reader of the log
// decodes each event it folds, so the two must cost the same.
func BenchmarkDecode(b *testing.B) {
	ev, err := es.NewEvent("id-1", &opened{Name: "a door of some length"}, es.Metadata{})
	if err != nil {
		b.Fatal(err)
	}
	rec := es.Recorded{Type: ev.Type, Data: ev.Data, Stream: "thing-1"}
	for _, c := range []struct {
		name string
		reg  es.Registry
	}{
		{"closures", es.Registry{"ThingOpened": func() es.Fact { return &opened{} }}},
		{"registered", es.Registered(es.Of[opened])},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.reg.Decode(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
