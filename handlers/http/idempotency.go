package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/idempotency"
)

// maxIdempotentBody bounds the request body the idempotency record
// fingerprints, and maxAnswer the answer it keeps; the routes' own limits
// are lower.
const (
	maxIdempotentBody = 1 << 20
	maxAnswer         = 64 << 10
)

// secretFields are fields of an answer shown only once: a resend of the
// request gets them as null, with secret_already_shown true.
var secretFields = []string{"key", "signing_secret", "token", "secret"}

// idempotent makes every write of the API (POST, PUT, DELETE) safe to
// retry with an Idempotency-Key: the same request again by the same user
// within 24 h gets the first answer (status and body, header
// Idempotent-Replayed: true) and changes nothing; the same key with
// another request is 409 IDEMPOTENCY_KEY_REUSED; after 24 h the key is
// new again. POST /api/agent keeps its own rule (the key names the
// conversation), and the admin API (no user) is left as it is.
func (s *Server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Idempotency-Key") == "" || s.d.Commands == nil || !isWrite(r.Method) ||
			(r.Method == http.MethodPost && r.URL.Path == "/api/agent") {
			next.ServeHTTP(w, r)
			return
		}
		key, e := idempotencyKey(r)
		if e != nil {
			writeError(w, e)
			return
		}
		c, e := s.authenticate(r)
		if e != nil {
			next.ServeHTTP(w, r) // the route answers the missing or bad token
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxIdempotentBody+1))
		if err != nil {
			writeError(w, validation("The request body could not be read: %v.", err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if len(body) > maxIdempotentBody {
			next.ServeHTTP(w, r) // the route refuses it for its size
			return
		}
		req := commands.IdempotentRequest{UserID: c.UserID, Key: key, Method: r.Method, Path: r.URL.Path, Body: body}
		version, replay, err := s.d.Commands.BeginIdempotent(r.Context(), req)
		switch {
		case errors.Is(err, idempotency.ErrReused):
			writeError(w, errorf(http.StatusConflict, CodeIdempotencyKeyReused,
				"This Idempotency-Key was already used for a different request in the last 24 hours; a resend must repeat the method, route and body exactly, and a new request needs a new key."))
			return
		case errors.Is(err, idempotency.ErrInProgress):
			writeError(w, errorf(http.StatusConflict, CodeIdempotencyKeyInUse,
				"The first request with this Idempotency-Key is still running; send it again in a moment to get its answer."))
			return
		case err != nil:
			writeError(w, s.internal(r, err))
			return
		case replay != nil:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(replay.Status)
			_, _ = w.Write(replay.Body)
			return
		}
		rec := &recordingWriter{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		answer, redacted := keepable(rec.body.Bytes())
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		if err := s.d.Commands.FinishIdempotent(r.Context(), c.UserID, key, version, status, answer, redacted); err != nil {
			s.d.Logger.Error("could not record the answer of an idempotent request; a resend will be refused as in use for 24 h",
				"path", r.URL.Path, "err", err)
		}
	})
}

func isWrite(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodDelete || method == http.MethodPatch
}

// keepable is the answer as the record keeps it: valid JSON (an empty or
// non-JSON body is kept as null), at most maxAnswer long, and without the
// secrets it showed, which a resend gets as null with
// secret_already_shown true.
func keepable(body []byte) (json.RawMessage, bool) {
	if len(body) == 0 || len(body) > maxAnswer || !json.Valid(body) {
		return json.RawMessage("null"), false
	}
	var obj map[string]any
	if json.Unmarshal(body, &obj) != nil {
		return json.RawMessage(body), false
	}
	redacted := false
	for _, f := range secretFields {
		if v, ok := obj[f].(string); ok && v != "" {
			obj[f] = nil
			redacted = true
		}
	}
	if !redacted {
		return json.RawMessage(body), false
	}
	obj["secret_already_shown"] = true
	out, err := json.Marshal(obj)
	if err != nil {
		return json.RawMessage("null"), false
	}
	return out, true
}

// recordingWriter passes an answer on and keeps a copy of it.
type recordingWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *recordingWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.body.Len() <= maxAnswer {
		w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes a flush on (an event stream answered to a write).
func (w *recordingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
