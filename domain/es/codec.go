package es

import (
	"fmt"

	fastjson "github.com/segmentio/encoding/json"
)

// Fact is implemented by every domain event struct: it names its own type.
//
// Each aggregate declares its own facts even where two look alike (an id,
// a name, a time): a fact is the versioned contract of one stream, and a
// struct shared by two would tie the evolution of one to the other. A
// scan for repeated code lists these declarations; they stay apart on
// purpose.
type Fact interface {
	EventType() string
}

// Registry maps event type names to constructors, so a stream can be decoded
// back into typed facts without a global registry.
type Registry map[string]func() Fact

// Of is the constructor of fact type T, for Registered: es.Of[Created].
func Of[T any, P interface {
	*T
	Fact
}]() Fact {
	return P(new(T))
}

// Registered builds a package's registry from the constructors of its
// fact types (Of), under the name each fact gives itself, so a type's name
// is written once (in its EventType) and cannot drift from the registry.
// Constructors rather than values keep decoding as cheap as a hand-written
// map (see BenchmarkDecode). Two facts of one name are a programming error.
func Registered(makers ...func() Fact) Registry {
	r := make(Registry, len(makers))
	for _, mk := range makers {
		name := mk().EventType()
		if _, dup := r[name]; dup {
			panic("es: two fact types named " + name)
		}
		r[name] = mk
	}
	return r
}

// Decode turns a recorded event into its typed fact.
func (r Registry) Decode(rec Recorded) (Fact, error) {
	mk, ok := r[rec.Type]
	if !ok {
		return nil, fmt.Errorf("unknown event type %q in stream %s", rec.Type, rec.Stream)
	}
	f := mk()
	// Every reader of the log decodes the events it folds (each read
	// model, each saga, each command): a decoder that does it several
	// times faster than encoding/json, with the same results, pays.
	if err := fastjson.Unmarshal(rec.Data, f); err != nil {
		return nil, fmt.Errorf("decode %s (stream %s version %d): %w", rec.Type, rec.Stream, rec.StreamVersion, err)
	}
	return f, nil
}

// Knows reports whether the registry can decode this type.
func (r Registry) Knows(eventType string) bool { _, ok := r[eventType]; return ok }

// NewEvent encodes a fact with the given id and metadata.
func NewEvent(id string, f Fact, md Metadata) (Event, error) {
	data, err := fastjson.Marshal(f) // byte for byte what encoding/json writes
	if err != nil {
		return Event{}, fmt.Errorf("encode %s: %w", f.EventType(), err)
	}
	if md.Schema == 0 {
		md.Schema = 1
	}
	return Event{ID: id, Type: f.EventType(), Data: data, Metadata: md}, nil
}
