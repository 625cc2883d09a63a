package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5/middleware"
)

// Every response names its request: the caller's sane id or a new one, in
// X-Request-Id (an error too), and where the log finds it.
func TestRequestIDs(t *testing.T) {
	var seen string
	h := requestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = middleware.GetReqID(r.Context())
		writeError(w, errorf(http.StatusNotFound, CodeNotFound, "No such thing."))
	}))
	for sent, kept := range map[string]bool{
		"": false, "req-42.a:b_c": true, "0190f3c2-5a1e-7c4b-9f00-aa11bb22cc33": true,
		"has space": false, "evil\r\nX-Injected: 1": false, strings.Repeat("a", 129): false,
	} {
		req := httptest.NewRequest("GET", "/x", nil)
		if sent != "" {
			req.Header["X-Request-Id"] = []string{sent}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get(HeaderRequestID)
		var body errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != CodeNotFound {
			t.Errorf("error body %s", rec.Body)
		}
		if got == "" || seen != got || (got == sent) != kept {
			t.Errorf("sent %q: header %q, context %q; kept %v", sent, got, seen, kept)
		}
	}
}
