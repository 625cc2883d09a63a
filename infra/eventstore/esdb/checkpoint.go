package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// checkpointType is the type of the events of a checkpoint stream.
const checkpointType = "CheckpointSaved"

// LoadCheckpoint returns where the named subscriber got to: the last event
// of its stream "_gateway-checkpoint-<name>", or es.Start.
func (s *Store) LoadCheckpoint(ctx context.Context, name string) (es.Position, error) {
	if !storable(name) {
		return es.Start, nil // no such checkpoint can have been saved
	}
	page, err := s.readStreamRaw(ctx, s.raw(checkpointPrefix+name), esdbclient.Backwards, esdbclient.End{}, 1)
	if err != nil {
		return es.Position{}, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	if len(page) == 0 {
		return es.Start, nil
	}
	var pos es.Position
	if err := json.Unmarshal(page[0].Data, &pos); err != nil {
		return es.Position{}, fmt.Errorf("load checkpoint %s: corrupt: %w", name, err)
	}
	return pos, nil
}

// SaveCheckpoint appends the position to the subscriber's stream (expected
// revision Any: the last save wins). The first save sets the stream's
// $maxCount to 1 so that EventStoreDB's scavenge keeps only the newest; a
// server that does not let this user set stream metadata just keeps them
// all.
func (s *Store) SaveCheckpoint(ctx context.Context, name string, pos es.Position) error {
	if name == "" {
		return errors.New("save checkpoint: empty name")
	}
	if !storable(name) {
		return fmt.Errorf("save checkpoint %.40q: name must be UTF-8 without NUL", name)
	}
	stream := s.raw(checkpointPrefix + name)
	rev, err := s.appendInternal(ctx, stream, esdbclient.Any{}, checkpointType, pos)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	if rev == 0 {
		s.limitToOne(ctx, stream)
	}
	return nil
}

func (s *Store) limitToOne(ctx context.Context, stream string) {
	c, err := s.begin()
	if err != nil {
		return
	}
	defer s.end()
	var md esdbclient.StreamMetadata
	md.SetMaxCount(1)
	if _, err := c.SetStreamMetadata(ctx, stream, esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.Any{}}, md); err != nil {
		slog.Debug("eventstore: cannot set $maxCount on a checkpoint stream; old checkpoints stay", "stream", stream, "err", s.check(c, err))
	}
}

// storable is what a stream name can hold and read back unchanged.
func storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }
