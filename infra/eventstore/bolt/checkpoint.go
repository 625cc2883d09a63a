package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// LoadCheckpoint returns where the named subscriber got to, or es.Start.
func (s *Store) LoadCheckpoint(ctx context.Context, name string) (es.Position, error) {
	var pos es.Position
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketCheckpoints).Get([]byte(name))
		switch len(v) {
		case 0:
		case 16:
			pos = es.Position{Tx: binary.BigEndian.Uint64(v[:8]), Seq: binary.BigEndian.Uint64(v[8:])}
		default:
			return fmt.Errorf("checkpoint %s is corrupt (%d bytes)", name, len(v))
		}
		return nil
	})
	return pos, err
}

// SaveCheckpoint records where the named subscriber got to. Subscribers save
// often and independently, so saves share group commits like appends.
func (s *Store) SaveCheckpoint(ctx context.Context, name string, pos es.Position) error {
	if name == "" {
		return errors.New("save checkpoint: empty name")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	v := binary.BigEndian.AppendUint64(u64(pos.Tx), pos.Seq)
	return s.db.Batch(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketCheckpoints).Put([]byte(name), v)
	})
}
