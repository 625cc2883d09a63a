package httpapi

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/google/uuid"
)

// HeaderRequestID names a request on both sides: a caller may send its
// own, and every response carries the one the gateway used, which its log
// lines and error bodies quote too.
const HeaderRequestID = "X-Request-Id"

// maxRequestID bounds a caller's request id.
const maxRequestID = 128

// saneRequestID accepts a caller's id of 1 to 128 letters, digits and
// - _ . : characters (a UUID, a ULID, a trace id); anything else is
// replaced, so a log line never carries what a caller smuggled in.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestID {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// requestID gives every request an id (the caller's when sane, a fresh
// UUID otherwise), puts it where chi's middleware.GetReqID finds it, and
// sets it on the response before anything is written.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if !saneRequestID(id) {
			id = uuid.NewString()
		}
		w.Header().Set(HeaderRequestID, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), middleware.RequestIDKey, id)))
	})
}
