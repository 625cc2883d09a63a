package es_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

func chainEvent() es.Event {
	return es.Event{
		ID:   "0b7e8d6c-3f1a-4c2e-9d4b-5a6f7e8d9c0b",
		Type: "MessageSent",
		Data: json.RawMessage(`{"text": "hi", "n": 1.50}`),
		Metadata: es.Metadata{
			CorrelationID: "conv-1", CausationID: "req-1",
			Actor:      es.Actor{Kind: "user", ID: "u-1"},
			Schema:     1,
			OccurredAt: time.Date(2025, 3, 14, 15, 9, 26, 5e8, time.FixedZone("CET", 3600)),
			Hash:       "whatever the caller put here",
		},
	}
}

// Known answers, computed outside Go (Python's hashlib over the preimages
// spelled out in the package documentation), pin the format:
//
//	digest = sha256(`["es.event/v1","0b7e8d6c-…","MessageSent",{"n":15e-1,"text":"hi"},{"actor":{"id":"u-1","kind":"user"},"causation_id":"req-1","correlation_id":"conv-1","occurred_at":"2025-03-14T15:09:26.5+01:00","schema":1}]`)
//	v1     = sha256(`["es.chain/v1","","conversation-1",1,"<digest>"]`)
//	v2     = sha256(`["es.chain/v1","<v1>","conversation-1",2,"<digest>"]`)
func TestChainHashKnownAnswers(t *testing.T) {
	const (
		digest = "76c8e1f2a763ade645387d73d2db23def183a2875c83396d08bb35a91561831f"
		v1     = "356a907e65034e8360229d168972eeedbc45a1553fca587c9a0c9d5f0ab4c853"
		v2     = "c6172052f6cecb41b19db9317c8a5d21fbf4fefb7ca9d936a071c1c916702e8e"
	)
	ev := chainEvent()
	if d, err := es.EventDigest(ev); err != nil || d != digest {
		t.Fatalf("EventDigest = %s, %v; want %s", d, err, digest)
	}
	if h, err := es.ChainHash("", "conversation-1", 1, ev); err != nil || h != v1 {
		t.Fatalf("ChainHash v1 = %s, %v; want %s", h, err, v1)
	}
	if h := es.LinkHash(v1, "conversation-1", 2, digest); h != v2 {
		t.Fatalf("LinkHash v2 = %s; want %s", h, v2)
	}
}

// What a store may do to the bytes must not change the hash; what a
// tamperer does must.
func TestChainHashCoversValuesNotBytes(t *testing.T) {
	base := chainEvent()
	want, err := es.ChainHash("p", "s", 3, base)
	if err != nil {
		t.Fatal(err)
	}
	same := map[string]func(*es.Event){
		"keys reordered, whitespace, escapes, number spelling": func(e *es.Event) {
			e.Data = json.RawMessage("{\n \"n\" : 15e-1 ,\"text\":\"\\u0068i\"}")
		},
		"caller's hash":          func(e *es.Event) { e.Metadata.Hash = "" },
		"same instant same zone": func(e *es.Event) { e.Metadata.OccurredAt = e.Metadata.OccurredAt.Add(0) },
	}
	for name, mut := range same {
		ev := chainEvent()
		mut(&ev)
		if got, err := es.ChainHash("p", "s", 3, ev); err != nil || got != want {
			t.Errorf("%s: hash changed (%v)", name, err)
		}
	}
	differ := map[string]func(*es.Event){
		"id":          func(e *es.Event) { e.ID = strings.Replace(e.ID, "0", "1", 1) },
		"type":        func(e *es.Event) { e.Type = "MessageSend" },
		"data value":  func(e *es.Event) { e.Data = json.RawMessage(`{"text": "hi", "n": 1.51}`) },
		"data key":    func(e *es.Event) { e.Data = json.RawMessage(`{"Text": "hi", "n": 1.5}`) },
		"data type":   func(e *es.Event) { e.Data = json.RawMessage(`{"text": "hi", "n": "1.5"}`) },
		"correlation": func(e *es.Event) { e.Metadata.CorrelationID = "conv-2" },
		"causation":   func(e *es.Event) { e.Metadata.CausationID = "" },
		"actor":       func(e *es.Event) { e.Metadata.Actor.ID = "u-2" },
		"schema":      func(e *es.Event) { e.Metadata.Schema = 2 },
		"occurred at": func(e *es.Event) { e.Metadata.OccurredAt = e.Metadata.OccurredAt.Add(time.Microsecond) },
		"zone":        func(e *es.Event) { e.Metadata.OccurredAt = e.Metadata.OccurredAt.UTC() },
	}
	for name, mut := range differ {
		ev := chainEvent()
		mut(&ev)
		if got, err := es.ChainHash("p", "s", 3, ev); err != nil || got == want {
			t.Errorf("%s: hash did not change (%v)", name, err)
		}
	}
	for name, got := range map[string]string{
		"prev":    mustHash(t, "q", "s", 3, base),
		"stream":  mustHash(t, "p", "t", 3, base),
		"version": mustHash(t, "p", "s", 4, base),
		// The framing keeps parts apart: moving a character from one part
		// to the next is a different hash.
		"framing": mustHash(t, "", "ps", 3, base),
	} {
		if got == want {
			t.Errorf("%s: hash did not change", name)
		}
	}
	if _, err := es.ChainHash("", "s", 1, es.Event{ID: "x", Type: "T", Data: json.RawMessage(`{"a":`)}); err == nil {
		t.Errorf("hashing data that is not JSON succeeded")
	}
}

func mustHash(t *testing.T, prev, stream string, version int64, ev es.Event) string {
	t.Helper()
	h, err := es.ChainHash(prev, stream, version, ev)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// chain builds the records a store would return for n events in stream.
func chain(t *testing.T, stream string, n int) []es.Recorded {
	var out []es.Recorded
	prev := ""
	for i := range n {
		ev := chainEvent()
		ev.ID = strings.Replace(ev.ID, "0b7e", stream[:1]+"b7"+string(rune('a'+i)), 1)
		ev.Metadata.Hash = mustHash(t, prev, stream, int64(i+1), ev)
		prev = ev.Metadata.Hash
		out = append(out, es.Recorded{ID: ev.ID, Stream: stream, StreamVersion: int64(i + 1),
			Position: es.Position{Seq: uint64(i + 1)}, Type: ev.Type, Data: ev.Data, Metadata: ev.Metadata})
	}
	return out
}

func TestVerifyChain(t *testing.T) {
	if at, err := es.VerifyChain(nil); at != 0 || err != nil {
		t.Fatalf("empty = %d, %v", at, err)
	}
	a, b := chain(t, "alpha", 4), chain(t, "beta", 3)
	// Interleaved as in the global log.
	log := []es.Recorded{a[0], b[0], a[1], a[2], b[1], b[2], a[3]}
	if at, err := es.VerifyChain(log); at != 0 || err != nil {
		t.Fatalf("intact log = %d, %v", at, err)
	}

	wantBroken := func(name string, recs []es.Recorded, stream string, version int64, reason string) {
		t.Helper()
		at, err := es.VerifyChain(recs)
		var ce *es.ChainError
		if at != version || !errors.Is(err, es.ErrChainBroken) || !errors.As(err, &ce) || ce.Stream != stream || ce.Version != version {
			t.Errorf("%s: VerifyChain = %d, %v; want version %d of %s", name, at, err, version, stream)
			return
		}
		msg := err.Error()
		if !strings.Contains(msg, "stream "+stream) || !strings.Contains(msg, "version ") || !strings.Contains(msg, reason) {
			t.Errorf("%s: error %q does not name stream, version and %q", name, msg, reason)
		}
	}
	edit := func(i int, mut func(*es.Recorded)) []es.Recorded {
		c := append([]es.Recorded(nil), log...)
		mut(&c[i])
		return c
	}
	wantBroken("data changed", edit(2, func(r *es.Recorded) { r.Data = json.RawMessage(`{"text":"bye","n":1.5}`) }), "alpha", 2, "was changed")
	wantBroken("metadata changed", edit(4, func(r *es.Recorded) { r.Metadata.Actor.ID = "admin" }), "beta", 2, "was changed")
	wantBroken("hash missing", edit(1, func(r *es.Recorded) { r.Metadata.Hash = "" }), "beta", 1, "no stored hash")
	wantBroken("not JSON", edit(0, func(r *es.Recorded) { r.Data = json.RawMessage(`{`) }), "alpha", 1, "cannot be hashed")
	// An event whose hash was recomputed after changing it still breaks
	// the chain at its successor.
	rehashed := edit(2, func(r *es.Recorded) {
		r.Type = "Forged"
		r.Metadata.Hash = mustHash(t, a[0].Metadata.Hash, "alpha", 2, es.Event{ID: r.ID, Type: r.Type, Data: r.Data, Metadata: r.Metadata})
	})
	wantBroken("rehashed forgery", rehashed, "alpha", 3, "was changed")
	wantBroken("gap", []es.Recorded{a[0], a[2]}, "alpha", 3, "follows version 1")
	wantBroken("starts late", []es.Recorded{a[1], a[2]}, "alpha", 2, "start at version 2")
	wantBroken("swapped", []es.Recorded{a[0], a[2], a[1]}, "alpha", 3, "follows version 1")
	// A stream's events copied under another name do not verify there.
	moved := chain(t, "alpha", 1)
	moved[0].Stream = "gamma"
	wantBroken("moved", moved, "gamma", 1, "was changed")
}

func BenchmarkChainHash(b *testing.B) {
	ev := chainEvent()
	ev.Data = json.RawMessage(`{"conversation_id":"1f0c7c3e-8d2b-4a51-9a7e-2b1c0d9e8f7a","message":{"role":"user","text":"Please create a task to call Ada tomorrow at 10 and email her the agenda."},"context":{"ticket":7,"tags":["a","b"]},"response_url":"https://example.com/hook"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := es.ChainHash("356a907e65034e8360229d168972eeedbc45a1553fca587c9a0c9d5f0ab4c853", "conversation-1", 7, ev); err != nil {
			b.Fatal(err)
		}
	}
}
