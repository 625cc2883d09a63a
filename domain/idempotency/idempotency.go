// Package idempotency is the record of a write sent with an
// Idempotency-Key: what was asked (a fingerprint of the method, route and
// canonical body) and what was answered. A resend of the same request with
// the same key, by the same user, within Lifetime, gets the first answer
// again and changes nothing; the same key with another request is refused;
// after Lifetime the key starts afresh. Each key is a stream of its own,
// so the decision holds across instances and restarts, and two resends
// racing each other meet in the store's expected-version check.
package idempotency

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Lifetime is how long a key holds its first answer.
const Lifetime = 24 * time.Hour

// space namespaces the keys' stream ids (UUIDv5).
var space = uuid.MustParse("7d4f2c9a-3b1e-4f6d-8a5c-9e0b1d2c3f4a")

// Stream names the record of a user's key.
func Stream(userID, key string) string {
	return "idempotency-" + uuid.NewSHA1(space, []byte(userID+"\x00"+key)).String()
}

// Fingerprint identifies a request: method, route and body. A JSON body
// counts by its canonical form (key order and spacing do not matter).
func Fingerprint(method, path string, body []byte) string {
	canon := body
	var v any
	if len(body) > 0 && json.Unmarshal(body, &v) == nil {
		if b, err := json.Marshal(v); err == nil {
			canon = b
		}
	}
	h := sha256.New()
	h.Write([]byte(method + " " + path + "\n"))
	h.Write(canon)
	return hex.EncodeToString(h.Sum(nil))
}

// Started records that a request began under the key.
type Started struct {
	Fingerprint string    `json:"fingerprint"`
	Method      string    `json:"method"`
	Path        string    `json:"path"`
	StartedAt   time.Time `json:"started_at"`
}

// Answered records what the request was answered. Secrets the answer
// held (a new key, a signing secret, a token) are not kept: a resend is
// told they were shown already.
type Answered struct {
	Status     int             `json:"status"`
	Body       json.RawMessage `json:"body,omitempty"`
	Redacted   bool            `json:"redacted,omitempty"`
	AnsweredAt time.Time       `json:"answered_at"`
}

// Abandoned records a request that failed on the gateway's side (5xx):
// the key may be used again at once.
type Abandoned struct {
	Status      int       `json:"status"`
	AbandonedAt time.Time `json:"abandoned_at"`
}

func (Started) EventType() string   { return "IdempotentRequestStarted" }
func (Answered) EventType() string  { return "IdempotentRequestAnswered" }
func (Abandoned) EventType() string { return "IdempotentRequestAbandoned" }

// Events decodes this aggregate's facts.
var Events = es.Registered(es.Of[Started], es.Of[Answered], es.Of[Abandoned])

// Key is a key's state: the latest request under it.
type Key struct {
	Started  *Started
	Answered *Answered
	Open     bool // started and neither answered nor abandoned
}

// Apply folds one fact.
func (k *Key) Apply(f es.Fact) {
	switch e := f.(type) {
	case *Started:
		k.Started, k.Answered, k.Open = e, nil, true
	case *Answered:
		k.Answered, k.Open = e, false
	case *Abandoned:
		k.Started, k.Answered, k.Open = nil, nil, false
	}
}

// Errors of Begin.
var (
	// ErrReused: the key holds another request.
	ErrReused = errors.New("idempotency key used for another request")
	// ErrInProgress: the same request runs under the key right now.
	ErrInProgress = errors.New("idempotency key in use by a request still running")
)

// Begin decides what a request with fingerprint fp does under the key at
// now: run (the facts to record first), answer as before (replay), or be
// refused (ErrReused, ErrInProgress).
func (k *Key) Begin(fp, method, path string, now time.Time) (facts []es.Fact, replay *Answered, err error) {
	live := k.Started != nil && now.Before(k.Started.StartedAt.Add(Lifetime))
	switch {
	case !live:
		return []es.Fact{&Started{Fingerprint: fp, Method: method, Path: path, StartedAt: now}}, nil, nil
	case k.Started.Fingerprint != fp:
		return nil, nil, ErrReused
	case k.Open:
		return nil, nil, ErrInProgress
	}
	return nil, k.Answered, nil
}

// Finish records the answer of the request begun: a gateway-side failure
// frees the key; anything else is what a resend gets.
func Finish(status int, body json.RawMessage, redacted bool, now time.Time) es.Fact {
	if status >= http.StatusInternalServerError {
		return &Abandoned{Status: status, AbandonedAt: now}
	}
	return &Answered{Status: status, Body: body, Redacted: redacted, AnsweredAt: now}
}
