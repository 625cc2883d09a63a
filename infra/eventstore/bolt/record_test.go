package bolt

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// The binary record writes es.Metadata field by field. A field added to
// Metadata must be added to encodeRecord and decodeRecord too, or it would
// be lost (and every hash chain would break): this test says so.
func TestRecordCodecKnowsEveryMetadataField(t *testing.T) {
	want := []string{"CorrelationID", "CausationID", "Actor", "Schema", "OccurredAt", "TraceParent", "Hash"}
	typ := reflect.TypeOf(es.Metadata{})
	var got []string
	for i := range typ.NumField() {
		got = append(got, typ.Field(i).Name)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("es.Metadata has fields %v; the binary record knows %v: teach encodeRecord and decodeRecord the new ones", got, want)
	}
}

// A trace context is kept when set; records without one end after the hash.
func TestRecordTraceParent(t *testing.T) {
	md := es.Metadata{CorrelationID: "c", Actor: es.Actor{Kind: "user"}, OccurredAt: time.Unix(1, 0).UTC(), Hash: "h",
		TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	bin, err := encodeRecord("id", "s", 1, "T", json.RawMessage(`{}`), md)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := decodeRecord(1, bin)
	if err != nil || rec.Metadata != md {
		t.Fatalf("read back %+v, %v; want %+v", rec.Metadata, err, md)
	}
}

// Both layouts read back to the same event: JSON records written before
// binary ones stay readable.
func TestRecordLayouts(t *testing.T) {
	md := es.Metadata{CorrelationID: "conv-1", CausationID: "req-1", Actor: es.Actor{Kind: "user", ID: "u-1"}, Schema: 2,
		OccurredAt: time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.FixedZone("CET", 3600)), Hash: "abc"}
	data := json.RawMessage(`{"n": 1, "text": "héllo"}`)
	bin, err := encodeRecord("id-1", "s-1", 7, "Happened", data, md)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(record{ID: "id-1", Stream: "s-1", Version: 7, Type: "Happened", Data: data, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	a, err := decodeRecord(9, bin)
	if err != nil {
		t.Fatal(err)
	}
	b, err := decodeRecord(9, js)
	if err != nil {
		t.Fatal(err)
	}
	// JSON records hold their data compacted; binary ones as appended.
	if !reflect.DeepEqual(a.Metadata, b.Metadata) || a.ID != b.ID || a.Stream != b.Stream || a.StreamVersion != b.StreamVersion ||
		a.Type != b.Type || a.Position != b.Position || !jsonEqual(a.Data, b.Data) {
		t.Fatalf("binary %+v\nJSON   %+v", a, b)
	}
	// What the hash covers encodes the same from both.
	ja, _ := json.Marshal(a.Metadata)
	jb, _ := json.Marshal(b.Metadata)
	if string(ja) != string(jb) || string(a.Data) != string(data) {
		t.Fatalf("metadata %s vs %s, data %s", ja, jb, a.Data)
	}
	for cut := 1; cut < len(bin); cut += 7 {
		if _, err := decodeRecord(9, bin[:cut]); err == nil {
			t.Fatalf("a record cut at %d of %d bytes decoded", cut, len(bin))
		}
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
