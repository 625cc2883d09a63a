package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// LoadCheckpoint returns where the named subscriber got to, or es.Start.
func (s *Store) LoadCheckpoint(ctx context.Context, name string) (es.Position, error) {
	var tx, seq int64
	err := s.pool.QueryRow(ctx, `SELECT tx, seq FROM subscription_checkpoints WHERE name = $1`, name).Scan(&tx, &seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return es.Start, nil
	}
	if err != nil {
		return es.Position{}, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	return es.Position{Tx: uint64(tx), Seq: uint64(seq)}, nil
}

// SaveCheckpoint records where the named subscriber got to. Positions are
// stored as bigint: an xid8 is epoch<<32 | xid and stays far below 2^63.
func (s *Store) SaveCheckpoint(ctx context.Context, name string, pos es.Position) error {
	if name == "" {
		return errors.New("save checkpoint: empty name")
	}
	if pos.Tx > math.MaxInt64 || pos.Seq > math.MaxInt64 {
		return fmt.Errorf("save checkpoint %s: position %s does not fit in bigint", name, pos)
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO subscription_checkpoints (name, tx, seq) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET tx = excluded.tx, seq = excluded.seq, updated_at = now()`,
		name, int64(pos.Tx), int64(pos.Seq))
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	return nil
}
