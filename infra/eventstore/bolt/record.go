package bolt

import (
	"encoding/json"
	"fmt"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// record is how an event is stored. It carries its stream and version so
// that a read of the global log needs no second lookup.
type record struct {
	ID       string          `json:"id"`
	Stream   string          `json:"stream"`
	Version  int64           `json:"version"`
	Type     string          `json:"type"`
	Data     json.RawMessage `json:"data"`
	Metadata es.Metadata     `json:"metadata"`
}

func decodeRecord(seq uint64, v []byte) (es.Recorded, error) {
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
