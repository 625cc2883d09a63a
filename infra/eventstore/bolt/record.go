package bolt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// record is how an event was stored as JSON before binary records; files
// keep such records beside binary ones, and both are read. It carries its stream and version so that a read of the
// global log needs no second lookup.
type record struct {
	ID       string          `json:"id"`
	Stream   string          `json:"stream"`
	Version  int64           `json:"version"`
	Type     string          `json:"type"`
	Data     json.RawMessage `json:"data"`
	Metadata es.Metadata     `json:"metadata"`
}

// binaryRecord marks a record in the binary layout. A JSON record starts
// with '{', so the first byte tells the two apart.
const binaryRecord = 0x01

// encodeRecord lays an event out as the binary record: the marker, then
// each field as a length-prefixed string or a varint. The data is stored
// as the JSON it was appended as (Append validated it), so reading it back
// is a copy, not a parse: every read of the log, by every projection and
// saga, used to parse each event's envelope and scan its data again.
func encodeRecord(id, stream string, version int64, typ string, data []byte, md es.Metadata) ([]byte, error) {
	at, err := md.OccurredAt.MarshalText()
	if err != nil {
		return nil, fmt.Errorf("encode event %s: occurred_at: %w", id, err)
	}
	b := make([]byte, 0, 64+len(id)+len(stream)+len(typ)+len(data)+len(md.CorrelationID)+len(md.CausationID)+
		len(md.Actor.Kind)+len(md.Actor.ID)+len(at)+len(md.Hash)+len(md.TraceParent))
	b = append(b, binaryRecord)
	b = appendString(b, id)
	b = appendString(b, stream)
	b = binary.AppendUvarint(b, uint64(version))
	b = appendString(b, typ)
	b = appendString(b, string(data))
	b = appendString(b, md.CorrelationID)
	b = appendString(b, md.CausationID)
	b = appendString(b, md.Actor.Kind)
	b = appendString(b, md.Actor.ID)
	b = binary.AppendVarint(b, int64(md.Schema))
	b = appendString(b, string(at))
	b = appendString(b, md.Hash)
	// Added later, so last and only when set: records written before it
	// end after the hash, and read back as they were.
	if md.TraceParent != "" {
		b = appendString(b, md.TraceParent)
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errShortRecord = errors.New("record is cut short")

// reader walks a binary record.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShortRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShortRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes returns a copy: bbolt's memory is only valid in its transaction.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if uint64(len(r.b)) < n {
		r.err = errShortRecord
		return nil
	}
	out := append([]byte(nil), r.b[:n]...)
	r.b = r.b[n:]
	return out
}

func (r *reader) string() string { return string(r.bytes()) }

func decodeRecord(seq uint64, v []byte) (es.Recorded, error) {
	if len(v) == 0 || v[0] != binaryRecord {
		return decodeJSONRecord(seq, v)
	}
	r := &reader{b: v[1:]}
	rec := es.Recorded{Position: es.Position{Seq: seq}}
	rec.ID = r.string()
	rec.Stream = r.string()
	rec.StreamVersion = int64(r.uvarint())
	rec.Type = r.string()
	rec.Data = r.bytes()
	md := &rec.Metadata
	md.CorrelationID = r.string()
	md.CausationID = r.string()
	md.Actor.Kind = r.string()
	md.Actor.ID = r.string()
	md.Schema = int(r.varint())
	at := r.bytes()
	md.Hash = r.string()
	if r.err == nil && len(r.b) > 0 {
		md.TraceParent = r.string()
	}
	if r.err != nil {
		return es.Recorded{}, fmt.Errorf("decode event at position %d: %w", seq, r.err)
	}
	if err := md.OccurredAt.UnmarshalText(at); err != nil {
		return es.Recorded{}, fmt.Errorf("decode event at position %d: occurred_at: %w", seq, err)
	}
	return rec, nil
}

func decodeJSONRecord(seq uint64, v []byte) (es.Recorded, error) {
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return es.Recorded{}, fmt.Errorf("decode event at position %d: %w", seq, err)
	}
	return es.Recorded{
		ID:            r.ID,
		Stream:        r.Stream,
		StreamVersion: r.Version,
		Position:      es.Position{Seq: seq},
		Type:          r.Type,
		Data:          r.Data,
		Metadata:      r.Metadata,
	}, nil
}
