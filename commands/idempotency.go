package commands

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/idempotency"
)

// IdempotentRequest is a write sent with an Idempotency-Key.
type IdempotentRequest struct {
	UserID, Key, Method, Path string
	Body                      []byte
}

// BeginIdempotent decides, on the key's own events, whether the request
// runs (version is the key stream's version after its Started fact, for
// FinishIdempotent), is answered as before (replay), or is refused
// (idempotency.ErrReused, ErrInProgress). A request that began a moment
// ago on another instance is waited for, briefly, so that concurrent
// resends resolve to one answer.
func (h *Handler) BeginIdempotent(ctx context.Context, req IdempotentRequest) (version int64, replay *idempotency.Answered, err error) {
	stream := idempotency.Stream(req.UserID, req.Key)
	fp := idempotency.Fingerprint(req.Method, req.Path, req.Body)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var k idempotency.Key
		v, err := h.foldIdempotency(ctx, stream, &k)
		if err != nil {
			return 0, nil, err
		}
		facts, replay, err := k.Begin(fp, req.Method, req.Path, h.now())
		if errors.Is(err, idempotency.ErrInProgress) && time.Now().Before(deadline) {
			sleepCtx(ctx, 50*time.Millisecond)
			if err := ctx.Err(); err != nil {
				return 0, nil, err
			}
			continue
		}
		if err != nil || replay != nil {
			return 0, replay, err
		}
		res, err := h.append(ctx, stream, v, es.Metadata{CorrelationID: stream, Actor: es.Actor{Kind: "user", ID: req.UserID}}, facts...)
		if errors.Is(err, es.ErrConcurrency) {
			continue // a resend raced this one: decide again on what it recorded
		}
		if err != nil {
			return 0, nil, err
		}
		return res.Version, nil, nil
	}
}

// FinishIdempotent records the answer of a request begun.
func (h *Handler) FinishIdempotent(ctx context.Context, userID, key string, version int64, status int, body json.RawMessage, redacted bool) error {
	stream := idempotency.Stream(userID, key)
	_, err := h.append(ctx, stream, version, es.Metadata{CorrelationID: stream, Actor: es.Actor{Kind: "user", ID: userID}},
		idempotency.Finish(status, body, redacted, h.now()))
	return err
}

func (h *Handler) foldIdempotency(ctx context.Context, stream string, k *idempotency.Key) (int64, error) {
	recs, err := h.Store.ReadStream(ctx, stream, 0)
	if err != nil {
		return 0, err
	}
	v := es.NoStream
	for _, rec := range recs {
		f, err := idempotency.Events.Decode(rec)
		if err != nil {
			return 0, err
		}
		k.Apply(f)
		v = rec.StreamVersion
	}
	return v, nil
}
