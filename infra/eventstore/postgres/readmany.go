package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Stream reads are grouped like appends: the command handlers of a busy
// process read many streams at once (each model step and tool call reads
// its conversation), and the reads that queue up while one query runs are
// answered by the next query, for all of them. A lone read pays nothing
// extra.

// maxReaders bounds the grouped read queries running at once.
const maxReaders = 2

// maxReadStreams bounds the streams of one grouped read.
const maxReadStreams = 256

type readReq struct {
	ctx    context.Context
	stream string
	after  int64
	done   chan readOutcome
}

type readOutcome struct {
	recs []es.Recorded
	err  error
}

type reader struct {
	mu      sync.Mutex
	queue   []*readReq
	running int
}

// ReadStream returns the stream's events after afterVersion. A stream is
// read by its primary key; the global-order horizon does not apply, because
// committed events of one stream are already complete up to its version.
func (s *Store) ReadStream(ctx context.Context, stream string, afterVersion int64) ([]es.Recorded, error) {
	req := &readReq{ctx: ctx, stream: stream, after: afterVersion, done: make(chan readOutcome, 1)}
	s.reads.mu.Lock()
	s.reads.queue = append(s.reads.queue, req)
	if s.reads.running < maxReaders {
		s.reads.running++
		go s.readLoop()
	}
	s.reads.mu.Unlock()
	select {
	case out := <-req.done:
		return out.recs, out.err
	case <-ctx.Done():
		return nil, fmt.Errorf("read stream %s: %w", stream, ctx.Err())
	}
}

func (s *Store) readLoop() {
	for {
		s.reads.mu.Lock()
		n := min(len(s.reads.queue), maxReadStreams)
		if n == 0 {
			s.reads.running--
			s.reads.mu.Unlock()
			return
		}
		batch := s.reads.queue[:n:n]
		s.reads.queue = s.reads.queue[n:]
		s.reads.mu.Unlock()
		s.readBatch(batch)
	}
}

// readBatch answers a group of reads with one query. A stream asked for
// twice is read once, from the lower version.
func (s *Store) readBatch(batch []*readReq) {
	from := map[string]int64{}
	var streams []string
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			continue
		}
		if a, ok := from[r.stream]; !ok || r.after < a {
			if !ok {
				streams = append(streams, r.stream)
			}
			from[r.stream] = r.after
		}
	}
	if len(streams) == 0 {
		for _, r := range batch {
			r.done <- readOutcome{err: r.ctx.Err()}
		}
		return
	}
	afters := make([]int64, len(streams))
	for i, st := range streams {
		afters[i] = from[st]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// LATERAL keeps it one index range scan per stream, whatever the
	// planner guesses about the arrays' sizes.
	rows, err := s.pool.Query(ctx, `
		SELECT `+eventColumnsOf("e")+` FROM unnest($1::text[], $2::bigint[]) AS r(stream_id, after)
		CROSS JOIN LATERAL (
			SELECT * FROM events x WHERE x.stream_id = r.stream_id AND x.stream_version > r.after
			ORDER BY x.stream_version) e`, streams, afters)
	var recs []es.Recorded
	if err == nil {
		recs, err = scanEvents(rows)
	}
	byStream := map[string][]es.Recorded{}
	for _, rec := range recs {
		byStream[rec.Stream] = append(byStream[rec.Stream], rec)
	}
	for _, r := range batch {
		if err != nil {
			r.done <- readOutcome{err: fmt.Errorf("read stream %s: %w", r.stream, err)}
			continue
		}
		all := byStream[r.stream]
		i := 0
		for i < len(all) && all[i].StreamVersion <= r.after {
			i++
		}
		r.done <- readOutcome{recs: all[i:len(all):len(all)]}
	}
}
