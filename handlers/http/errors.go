package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error codes of the contract, plus the few the contract leaves open
// (malformed bodies, unknown routes, roles).
const (
	CodeUnauthenticated  = "UNAUTHENTICATED"
	CodeInvalidAPIKey    = "INVALID_API_KEY"
	CodeKeyOwnerMismatch = "KEY_OWNER_MISMATCH"
	CodeKeyRevoked       = "KEY_REVOKED"
	CodeNotFound         = "NOT_FOUND"
	CodeValidation       = "VALIDATION_ERROR"
	CodeBudgetExceeded   = "BUDGET_EXCEEDED"
	CodeMalformedJSON    = "MALFORMED_JSON"
	CodeUnsupportedMedia = "UNSUPPORTED_MEDIA_TYPE"
	CodeTooLarge         = "PAYLOAD_TOO_LARGE"
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	CodeForbidden        = "FORBIDDEN"
	CodeConflict         = "CONFLICT"
	// CodeIdempotencyKeyReused: an Idempotency-Key sent again with another
	// request; CodeIdempotencyKeyInUse: sent again while its first request
	// still runs.
	CodeIdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"
	CodeIdempotencyKeyInUse  = "IDEMPOTENCY_KEY_IN_USE"
	CodeBusy                 = "CONVERSATION_BUSY"
	CodeInternal             = "INTERNAL_ERROR"
	CodeNotReady             = "NOT_READY"
)

// apiError is an error a client sees: a status, a code and a sentence.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func validation(format string, args ...any) *apiError {
	return errorf(http.StatusUnprocessableEntity, CodeValidation, format, args...)
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	var b errorBody
	// The body keeps the contract's two fields; the response's
	// X-Request-Id names the request (and an internal error's message
	// quotes it).
	b.Error.Code, b.Error.Message = e.Code, e.Message
	writeJSON(w, e.Status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
